"""A procedural referring-video-segmentation benchmark in the A2D Sentences layout.

Each video shows 2-4 coloured shapes on a textured, drifting background. Every object has
an appearance (colour, shape, size) and a motion (moving left/right/up/down, jumping,
rotating, still, growing). Scenes are built around confusable pairs so that each referred
object needs a specific cue:

  * "motion": another object looks identical (same colour, shape, size, even the same
    colour jitter) and only moves differently, so the target frame alone cannot tell
    them apart (a spatial-only model is at chance between the twins);
  * "appearance": another object moves identically and differs in ONE appearance
    attribute, chosen to be a small difference (red/orange, blue/purple, circle/square,
    triangle/diamond, small/large, ...), so fine spatial detail is needed;
  * "both": one twin shares the appearance, another shares the motion; only the two cues
    together single out the target.

The kind of an object is not chosen but computed from the scene: appearance unique and
motion shared -> "appearance"; motion unique and appearance shared -> "motion"; neither
unique alone -> "both". Objects unique in both cues are "filler" objects: they have masks
in the h5 files (like A2D actors without a sentence) but no sentence. Sentences always
name colour and shape, name the size when another object of that colour and shape exists
(otherwise sometimes), and name the motion when it is needed (otherwise half of the time,
so that the sentence form does not reveal the kind).

Output (`generate(out_dir, ...)` or `python -m rvs_jax.data.synthetic --out DIR`) is
exactly the A2D Sentences layout read by `rvs_jax.data.a2d.load_a2d`:

  Release/videoset.csv, Release/clips320H/<vid>.mp4,
  text_annotations/a2d_annotation.txt, text_annotations/a2d_missed_videos.txt,
  text_annotations/a2d_annotation_with_instances/<vid>/<frame:05d>.h5  (MATLAB v7.3 style:
      512-byte MATLAB userblock, column-major arrays: reMask (N, W, H) or (W, H),
      reBBox (4, N), id (1, N), instance (N,))

plus `synthetic_meta.json` (per video: split, frames, annotated frames, every object's
attributes, kind and sentence; the expected sample ids per split) and
`glove.synthetic.300d.txt`, a GloVe-format file (word + 300 floats per line) covering the
vocabulary, with a deterministic random vector per word (seeded by the word's SHA-256), so
related words ("red"/"orange") are unrelated vectors and the real GloVe loading path is
exercised. Components are N(0, 0.35^2), about the scale of GloVe 840B.

`--quirks` adds the A2D anomalies: a missed video (listed in a2d_missed_videos.txt, with
an annotation row but no h5 folder), a `"1 (copy)"` annotation row, an h5 listing an
instance twice (the second copy with a wrong mask), an h5 with one more mask than
instances (wrong extra mask at the end), a referred instance left out of one annotated
frame, and a frame where only one instance is annotated (so `reMask` is 2-D). Where each
went is recorded in the meta file (`quirks_applied`).

Default size: 400 videos of 24 frames at 64x96 (3 annotated frames each, 25% of the
videos in the test subset): about 15 s and 34 MB on 2 cores, ~2,150 train / ~710 test
samples (measured; about 40 ms of CPU per video, mostly rendering and H.264 encoding).
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import hashlib
import json
import math
import multiprocessing
import os
import sys
import time
from typing import Any

import numpy as np
from PIL import Image

from rvs_jax import app
from rvs_jax import text as text_lib
from rvs_jax.data import a2d
from rvs_jax.data.video_io import write_mp4

# RGB of each colour name; pairs in SIMILAR_COLOURS are the "small colour differences".
COLOURS = {
    "red": (210, 40, 40), "orange": (235, 125, 30), "yellow": (230, 210, 50),
    "green": (45, 165, 65), "blue": (45, 80, 210), "purple": (135, 60, 190),
    "white": (235, 235, 235), "pink": (235, 130, 175),
}
SIMILAR_COLOURS = {"red": ["orange", "pink"], "orange": ["red", "yellow"],
                   "yellow": ["orange", "green"], "green": ["yellow"],
                   "blue": ["purple"], "purple": ["blue", "pink"], "white": ["pink"],
                   "pink": ["white", "red", "purple"]}
SHAPES = ["circle", "square", "triangle", "diamond", "cross"]
SIMILAR_SHAPES = {"circle": ["square"], "square": ["circle", "diamond", "cross"],
                  "triangle": ["diamond"], "diamond": ["triangle", "square"],
                  "cross": ["square"]}
# Object "radius" as a fraction of the frame height.
SIZES = {"small": 0.075, "large": 0.13}
MOTIONS = ["left", "right", "up", "down", "jumping", "rotating", "still", "growing"]
KINDS = ("appearance", "motion", "both")

# Post-modifiers ("the red circle ___") and pre-modifiers ("the ___ red circle").
MOTION_POST = {
    "left": ["moving left", "moving to the left", "that moves left", "going left",
             "which is sliding to the left"],
    "right": ["moving right", "moving to the right", "that moves right", "going right",
              "which is sliding to the right"],
    "up": ["moving up", "going upwards", "that rises", "which is moving up"],
    "down": ["moving down", "going downwards", "that sinks", "which is falling down"],
    "jumping": ["jumping", "that jumps", "bouncing up and down", "which is hopping"],
    "rotating": ["rotating", "that spins", "spinning around",
                 "which is turning in place"],
    "still": ["standing still", "that does not move", "staying in place",
              "which is not moving"],
    "growing": ["growing", "that gets bigger", "getting larger", "which is expanding"],
}
MOTION_PRE = {
    "left": ["left-moving"], "right": ["right-moving"], "up": ["rising"],
    "down": ["falling", "sinking"], "jumping": ["jumping", "bouncing"],
    "rotating": ["rotating", "spinning"], "still": ["motionless", "still"],
    "growing": ["growing", "expanding"],
}
SIZE_WORDS = {"small": ["small", "little"], "large": ["large", "big"]}
APPEARANCE_TEMPLATES = ["{det} {app}", "{det} {app} in the video", "{det} {app} shape"]
MOTION_TEMPLATES = ["{det} {app} {post}", "{det} {app}, {post}", "{det} {pre} {app}",
                    "{det} {app} {post} in the video"]
ANNOTATED_PER_VIDEO = 3
# ~15 s on 2 cores, ~34 MB, ~2,150 train / ~710 test samples at the default 64x96x24.
DEFAULT_NUM_VIDEOS = 400
GLOVE_NAME = "glove.synthetic.300d.txt"
META_NAME = a2d.META_FILE  # The reader picks up the kinds from it.


@dataclasses.dataclass
class Obj:
  """One object of a synthetic video; positions in pixels, angles in radians."""
  inst: int
  colour: str
  shape: str
  size: str
  motion: str
  tint: tuple[int, int, int]          # Per-appearance colour jitter (shared by twins).
  scale: float = 1.0                  # Per-appearance size jitter (shared by twins).
  x0: float = 0.0
  y0: float = 0.0
  speed: float = 0.0                  # px / frame (left/right/up/down).
  amp: float = 0.0                    # Jump height, px.
  period: float = 8.0                 # Jump period, frames.
  phase: float = 0.0
  angle0: float = 0.0
  omega: float = 0.0                  # rad / frame (rotating).
  kind: str | None = None
  sentence: str | None = None

  @property
  def appearance(self) -> tuple[str, str, str]:
    return (self.colour, self.shape, self.size)

  def radius(self, h: int, t: int, num_frames: int) -> float:
    r = SIZES[self.size] * h * self.scale
    if self.motion == "growing":
      return r * (0.7 + 0.6 * t / max(num_frames - 1, 1))
    return r

  def max_radius(self, h: int) -> float:
    """Half-extent bound used for placement (triangles and diamonds reach 1.35-1.4 r)."""
    shape = 1.25 if self.shape in ("triangle", "diamond") else 1.0
    return (SIZES[self.size] * h * self.scale * shape
            * (1.3 if self.motion == "growing" else 1.0))

  def state(self, h: int, t: int, num_frames: int) -> tuple[float, float, float, float]:
    """(cx, cy, radius, angle) at frame t (0-based)."""
    cx, cy, ang = self.x0, self.y0, self.angle0
    if self.motion == "left":
      cx -= self.speed * t
    elif self.motion == "right":
      cx += self.speed * t
    elif self.motion == "up":
      cy -= self.speed * t
    elif self.motion == "down":
      cy += self.speed * t
    elif self.motion == "jumping":
      cy -= self.amp * abs(math.sin(math.pi * (t / self.period + self.phase)))
    elif self.motion == "rotating":
      ang += self.omega * t
    return cx, cy, self.radius(h, t, num_frames), ang


def shape_mask(shape: str, cx: float, cy: float, r: float, angle: float,
               h: int, w: int) -> np.ndarray:
  """Bool (h, w) mask of a shape, tested at pixel centres (hard edges, so exact GT)."""
  x0, x1 = max(int(cx - 1.5 * r) - 1, 0), min(int(cx + 1.5 * r) + 2, w)
  y0, y1 = max(int(cy - 1.5 * r) - 1, 0), min(int(cy + 1.5 * r) + 2, h)
  out = np.zeros((h, w), bool)
  if x0 >= x1 or y0 >= y1:
    return out
  yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32) + 0.5
  dx, dy = xx - cx, yy - cy
  c, s = math.cos(-angle), math.sin(-angle)
  u, v = c * dx - s * dy, s * dx + c * dy   # Object frame (un-rotated).
  if shape == "circle":
    m = u * u + v * v <= r * r
  elif shape == "square":
    m = (np.abs(u) <= 0.85 * r) & (np.abs(v) <= 0.85 * r)
  elif shape == "diamond":
    # An elongated rhombus, so a rotated square never looks like it.
    m = np.abs(u) / (0.8 * r) + np.abs(v) / (1.35 * r) <= 1.0
  elif shape == "triangle":
    # Equilateral, circumradius 1.4 r, apex up (image y points down). Inside = on the
    # same side of all three edges (vertices listed clockwise on screen).
    rr = 1.4 * r
    verts = [(rr * math.cos(a), rr * math.sin(a))
             for a in (-math.pi / 2, math.pi / 6, 5 * math.pi / 6)]
    m = np.ones_like(u, bool)
    for (ax, ay), (bx, by) in zip(verts, verts[1:] + verts[:1]):
      m &= (bx - ax) * (v - ay) - (by - ay) * (u - ax) >= 0
  elif shape == "cross":
    au, av = np.abs(u), np.abs(v)
    m = ((au <= 0.33 * r) & (av <= r)) | ((av <= 0.33 * r) & (au <= r))
  else:
    raise ValueError(f"unknown shape {shape}")
  out[y0:y1, x0:x1] = m
  return out


def _background(rng: np.random.Generator, h: int, w: int, margin: int) -> np.ndarray:
  """A smooth coloured texture (h + 2 margin, w + 2 margin, 3) float32 with stripes."""
  hh, ww = h + 2 * margin, w + 2 * margin
  base = rng.uniform(60, 150, size=3)
  gh, gw = rng.integers(3, 7), rng.integers(4, 9)
  grid = rng.normal(0, 25, size=(gh, gw, 3)).astype(np.float32)
  low = np.stack(
      [np.asarray(Image.fromarray(grid[..., c]).resize((ww, hh), Image.BICUBIC))
       for c in range(3)], -1)
  yy, xx = np.mgrid[0:hh, 0:ww].astype(np.float32)
  theta = rng.uniform(0, np.pi)
  freq = rng.uniform(0.15, 0.5) * 64.0 / h
  stripes = 12 * np.sin(freq * (xx * math.cos(theta) + yy * math.sin(theta)))
  speck = rng.normal(0, 6, size=(hh, ww, 1))
  return (base + low + stripes[..., None] + speck).astype(np.float32)


def _differ_one(rng: np.random.Generator, app: tuple[str, str, str]
                ) -> tuple[str, str, str]:
  """An appearance differing from `app` in exactly one attribute, by a small step."""
  colour, shape, size = app
  which = rng.choice(["colour", "shape", "size"], p=[0.4, 0.4, 0.2])
  if which == "colour":
    return (str(rng.choice(SIMILAR_COLOURS[colour])), shape, size)
  if which == "shape":
    return (colour, str(rng.choice(SIMILAR_SHAPES[shape])), size)
  return (colour, shape, "large" if size == "small" else "small")


def _random_app(rng: np.random.Generator, avoid: list[tuple[str, str, str]]
                ) -> tuple[str, str, str]:
  """An appearance differing from every `avoid` entry in at least colour and shape."""
  while True:
    app = (str(rng.choice(list(COLOURS))), str(rng.choice(SHAPES)),
           str(rng.choice(list(SIZES))))
    if all(app[0] != a[0] and app[1] != a[1] for a in avoid):
      return app


def _pick_motion(rng: np.random.Generator, shape: str, avoid: set[str]) -> str:
  # Rotation is invisible on a circle, so circles never get it.
  choices = [m for m in MOTIONS if m not in avoid and not (
      shape == "circle" and m == "rotating")]
  return str(rng.choice(choices))


def _tint(rng: np.random.Generator) -> tuple[int, int, int]:
  return tuple(int(x) for x in rng.integers(-12, 13, size=3))


def _scene(rng: np.random.Generator) -> list[Obj]:
  """Objects (appearance + motion only) of one video, built around a confusable pair."""
  scenario = rng.choice(["motion", "appearance", "both"], p=[0.45, 0.35, 0.20])
  apps: list[tuple[str, str, str]] = []
  motions: list[str] = []
  tints = {}
  if scenario == "motion":
    app = _random_app(rng, [])
    n = 3 if rng.random() < 0.25 else 2
    used: set[str] = set()
    for _ in range(n):
      m = _pick_motion(rng, app[1], used)
      used.add(m)
      apps.append(app)
      motions.append(m)
  elif scenario == "appearance":
    app = _random_app(rng, [])
    m = _pick_motion(rng, app[1], set())
    apps.append(app)
    n = 3 if rng.random() < 0.25 else 2
    while len(apps) < n:
      cand = _differ_one(rng, apps[0])
      if cand not in apps and not (cand[1] == "circle" and m == "rotating"):
        apps.append(cand)
    motions = [m] * len(apps)
  else:
    app = _random_app(rng, [])
    m1 = _pick_motion(rng, app[1], set())
    m2 = _pick_motion(rng, app[1], {m1})
    app2 = _differ_one(rng, app)
    while app2[1] == "circle" and m1 == "rotating":
      app2 = _differ_one(rng, app)
    apps += [app, app, app2]
    motions += [m1, m2, m1]
  # Fillers: distinct in appearance and in motion from everything else.
  for _ in range(int(rng.random() < 0.5)):
    fa = _random_app(rng, apps)
    apps.append(fa)
    motions.append(_pick_motion(rng, fa[1], set(motions)))
  order = rng.permutation(len(apps))  # Instance ids in random order of the roles.
  objs = []
  for inst, k in enumerate(order, 1):
    a = apps[k]
    # Colour and size jitter per appearance: twins stay pixel-identical in appearance,
    # and absolute size does not give away a growing object (its radius spans
    # 0.7-1.3x, the jitter 0.85-1.15x) while small and large never overlap.
    tint, scale = tints.setdefault(a, (_tint(rng), float(rng.uniform(0.85, 1.15))))
    objs.append(Obj(inst=inst, colour=a[0], shape=a[1], size=a[2], motion=motions[k],
                    tint=tint, scale=scale))
  return objs


def _kind(obj: Obj, objs: list[Obj]) -> str | None:
  others = [o for o in objs if o is not obj]
  app_unique = all(o.appearance != obj.appearance for o in others)
  mot_unique = all(o.motion != obj.motion for o in others)
  if app_unique and mot_unique:
    return None  # Filler: no sentence.
  if app_unique:
    return "appearance"
  if mot_unique:
    return "motion"
  if all((o.appearance, o.motion) != (obj.appearance, obj.motion) for o in others):
    return "both"
  raise AssertionError("two objects identical in appearance and motion")


def _sentence(rng: np.random.Generator, obj: Obj, objs: list[Obj]) -> str:
  same_cs = any(o is not obj and o.colour == obj.colour and o.shape == obj.shape
                and o.size != obj.size for o in objs)
  words = [obj.colour, obj.shape]
  if same_cs or rng.random() < 0.3:
    words.insert(0, str(rng.choice(SIZE_WORDS[obj.size])))
  app = " ".join(words)
  det = str(rng.choice(["the", "a"]))
  if obj.kind in ("motion", "both") or rng.random() < 0.5:
    tpl = str(rng.choice(MOTION_TEMPLATES))
    out = tpl.format(det=det, app=app, post=rng.choice(MOTION_POST[obj.motion]),
                     pre=rng.choice(MOTION_PRE[obj.motion]))
  else:
    out = str(rng.choice(APPEARANCE_TEMPLATES)).format(det=det, app=app)
  if out.startswith("a ") and out[2] in "aeiou":
    out = "an " + out[2:]  # "an orange circle", "an expanding ..."
  return out


def _place(rng: np.random.Generator, obj: Obj, h: int, w: int, num_frames: int) -> None:
  """Samples motion parameters and a start so the whole trajectory stays in the frame."""
  r = obj.max_radius(h) + 1
  span = num_frames - 1
  obj.speed = rng.uniform(0.018, 0.03) * h
  obj.amp = rng.uniform(0.15, 0.25) * h
  obj.period = rng.uniform(6, 10)
  obj.phase = rng.random()
  obj.angle0 = rng.uniform(0, 2 * np.pi)
  obj.omega = rng.uniform(0.15, 0.3) * rng.choice([-1, 1])
  xlo, xhi, ylo, yhi = r, w - r, r, h - r
  if obj.motion == "left":
    xlo += obj.speed * span
  elif obj.motion == "right":
    xhi -= obj.speed * span
  elif obj.motion == "up":
    ylo += obj.speed * span
  elif obj.motion == "down":
    yhi -= obj.speed * span
  elif obj.motion == "jumping":
    ylo += obj.amp
  if xlo > xhi or ylo > yhi:  # Only for tiny frames: shrink the motion to fit.
    obj.speed *= 0.5
    obj.amp *= 0.5
    xlo, xhi = min(xlo, w / 2), max(xhi, w / 2)
    ylo, yhi = min(ylo, h / 2), max(yhi, h / 2)
  obj.x0 = rng.uniform(xlo, xhi)
  obj.y0 = rng.uniform(ylo, yhi)


def _render(objs: list[Obj], bg: np.ndarray, drift: tuple[float, float], margin: int,
            h: int, w: int, num_frames: int
            ) -> tuple[np.ndarray, np.ndarray]:
  """Frames uint8 (T, h, w, 3) and visible instance masks bool (T, K, h, w)."""
  frames = np.empty((num_frames, h, w, 3), np.uint8)
  vis = np.zeros((num_frames, len(objs), h, w), bool)
  for t in range(num_frames):
    oy = int(round(margin + drift[1] * t))
    ox = int(round(margin + drift[0] * t))
    img = bg[oy:oy + h, ox:ox + w].copy()
    covered = np.zeros((h, w), bool)
    # Draw from the top object down so each object's visible part is known directly.
    for k in range(len(objs) - 1, -1, -1):
      o = objs[k]
      cx, cy, r, ang = o.state(h, t, num_frames)
      m = shape_mask(o.shape, cx, cy, r, ang, h, w)
      visible = m & ~covered
      vis[t, k] = visible
      colour = np.clip(np.asarray(COLOURS[o.colour]) + np.asarray(o.tint), 0, 255)
      img[visible] = colour
      covered |= m
    frames[t] = np.clip(img, 0, 255).astype(np.uint8)
  return frames, vis


def _label(o: Obj) -> int:
  # A2D-style 10 * actor + action, with shape as "actor" and motion as "action".
  return 10 * (SHAPES.index(o.shape) + 1) + MOTIONS.index(o.motion) + 1


def _video(args: tuple[int, int, int, int, int, str]) -> dict[str, Any]:
  """Generates one video (run in worker processes). Returns its meta and masks."""
  seed, index, h, w, num_frames, out = args
  rng = np.random.default_rng([seed, index])
  vid = f"syn{index:05d}"
  objs = _scene(rng)
  for o in objs:
    _place(rng, o, h, w, num_frames)
  k = min(ANNOTATED_PER_VIDEO, num_frames)
  annotated = sorted(int(f) for f in rng.choice(np.arange(1, num_frames + 1), k,
                                                replace=False))
  # Re-place objects a few times if a referred object is mostly hidden at an annotated
  # frame; occlusion itself is fine and kept when it is mild.
  margin = int(math.ceil(0.5 * num_frames)) + 2
  drift = tuple(rng.uniform(-0.5, 0.5, size=2))
  bg = _background(rng, h, w, margin)
  for attempt in range(8):
    frames, vis = _render(objs, bg, drift, margin, h, w, num_frames)
    ok = True
    for f in annotated:
      for ki, o in enumerate(objs):
        full = shape_mask(o.shape, *o.state(h, f - 1, num_frames), h, w).sum()
        if vis[f - 1, ki].sum() < 0.6 * full:
          ok = False
    if ok or attempt == 7:
      break
    for o in objs:
      _place(rng, o, h, w, num_frames)
  for o in objs:
    o.kind = _kind(o, objs)
    if o.kind is not None:
      o.sentence = _sentence(rng, o, objs)
  write_mp4(os.path.join(out, a2d.CLIPS_DIR, f"{vid}.mp4"), frames,
            pix_fmt="yuv444p", crf=10)
  return dict(vid=vid, index=index, objs=objs, annotated=annotated,
              masks={f: vis[f - 1] for f in annotated}, height=h, width=w,
              num_frames=num_frames)


def word_vector(word: str, dim: int = 300) -> np.ndarray:
  """The deterministic synthetic GloVe vector of a word (seeded by its SHA-256)."""
  seed = int.from_bytes(hashlib.sha256(word.encode("utf-8")).digest()[:8], "little")
  return (np.random.default_rng(seed).standard_normal(dim) * 0.35).astype(np.float32)


def template_vocabulary() -> list[str]:
  """Every token the sentence templates can produce."""
  phrases = list(COLOURS) + SHAPES + ["the", "a", "an", "in the video", "shape"]
  phrases += [p for v in MOTION_POST.values() for p in v]
  phrases += [p for v in MOTION_PRE.values() for p in v]
  phrases += [p for v in SIZE_WORDS.values() for p in v] + ["x, y"]
  return text_lib.vocabulary(phrases)


def write_glove(path: str, words: list[str], dim: int = 300) -> None:
  with open(path, "w", encoding="utf-8") as f:
    for wd in words:
      vec = word_vector(wd, dim)
      f.write(wd + " " + " ".join(f"{x:.5f}" for x in vec) + "\n")


@dataclasses.dataclass
class SyntheticTruth:
  """What the generator knows, for tests.

  Attributes:
    samples: {split: {sample_id: bool (H, W) mask}} of the samples `load_a2d` must
      produce (quirks already accounted for).
    kinds: {sample_id: kind}.
    sentences: {sample_id: sentence}.
    meta: the content of synthetic_meta.json.
  """
  samples: dict[str, dict[str, np.ndarray]]
  kinds: dict[str, str]
  sentences: dict[str, str]
  meta: dict[str, Any]


def generate(out: str | os.PathLike, num_videos: int = DEFAULT_NUM_VIDEOS,
             seed: int = 0, height: int = 64, width: int | None = None, frames: int = 24,
             quirks: bool = False, workers: int | None = None,
             test_every: int = 4) -> SyntheticTruth:
  """Generates the benchmark into `out` (created; existing files are overwritten).

  Args:
    out: output root (the folder holding Release/ and text_annotations/).
    num_videos: number of normal videos (the quirks add one more).
    seed: everything is a deterministic function of (seed, video index).
    height: frame height (A2D clips are 320 high; the tiny model trains at 64).
    width: frame width; default 1.5 x height rounded to even.
    frames: frames per video.
    quirks: add the A2D anomalies (module docstring).
    workers: processes for rendering/encoding; default min(cpu count, 4); 1 = inline.
      Workers are started with "spawn" (safe after JAX is imported), which re-imports
      the calling script: call from under `if __name__ == "__main__":` or use 1.
    test_every: every `test_every`-th video (index % test_every == test_every - 1) is in
      the test subset.

  Returns:
    The ground truth (`SyntheticTruth`).
  """
  out = os.fspath(out)
  width = width or 2 * int(round(0.75 * height))
  if height % 2 or width % 2:
    raise ValueError("height and width must be even (H.264 / chroma subsampling)")
  if frames < 2 or num_videos < 1:
    raise ValueError("need at least 1 video of 2 frames")
  for d in (a2d.CLIPS_DIR, a2d.ANNOTATION_DIR):
    os.makedirs(os.path.join(out, d), exist_ok=True)
  jobs = [(seed, i, height, width, frames, out) for i in range(num_videos)]
  extra = num_videos if quirks else None  # Index of the missed video.
  if quirks:
    jobs.append((seed, extra, height, width, frames, out))
  workers = workers or min(os.cpu_count() or 1, 4)
  if workers > 1 and len(jobs) > 1:
    # "spawn": the caller may have imported JAX (multithreaded), which fork must not copy.
    ctx = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=ctx) as ex:
      videos = list(ex.map(_video, jobs, chunksize=max(1, len(jobs) // (4 * workers))))
  else:
    videos = [_video(j) for j in jobs]

  ann_rows: list[tuple[str, str, str]] = []
  missed: list[str] = []
  meta_videos: dict[str, Any] = {}
  truth = SyntheticTruth({"train": {}, "test": {}}, {}, {}, {})
  # Where each quirk went ("<vid>" or "<vid>/<frame>"), recorded in the meta file.
  quirk_done: dict[str, str | None] = dict(missed=None, copy=None, dup=None, extra=None,
                                           absent=None, single=None)
  ann_root = os.path.join(out, a2d.ANNOTATION_DIR)
  videoset_rows: list[list[Any]] = []
  for v in videos:
    vid, objs, idx = v["vid"], v["objs"], v["index"]
    split = "test" if idx % test_every == test_every - 1 and idx != extra else "train"
    videoset_rows.append([vid, _label(objs[0]), 0, frames, height, width, frames,
                          len(v["annotated"]), 0 if split == "train" else 1])
    referred = [o for o in objs if o.sentence]
    for o in referred:
      ann_rows.append((vid, str(o.inst), o.sentence))
    meta_videos[vid] = dict(
        split=split, num_frames=frames, annotated_frames=v["annotated"],
        missed=idx == extra,
        objects={str(o.inst): dict(colour=o.colour, shape=o.shape, size=o.size,
                                   motion=o.motion, kind=o.kind, sentence=o.sentence)
                 for o in objs})
    if idx == extra:
      missed.append(vid)  # Sentences stay in the annotation file, no h5 folder.
      quirk_done["missed"] = vid
      continue
    if quirks and not quirk_done["copy"] and split == "train" and referred:
      ann_rows.append((vid, f"{referred[0].inst} (copy)", referred[0].sentence))
      quirk_done["copy"] = vid
    os.makedirs(os.path.join(ann_root, vid), exist_ok=True)
    for fi, f in enumerate(v["annotated"]):
      vis = v["masks"][f]  # (K, h, w)
      present = [(o, vis[k]) for k, o in enumerate(objs) if vis[k].any()]
      if (quirks and not quirk_done["absent"] and fi == 0 and len(present) > 1
          and split == "test" and referred
          and any(o.inst == referred[0].inst for o, _ in present)):
        # A referred instance not annotated in this frame: no sample here.
        present = [p for p in present if p[0].inst != referred[0].inst]
        quirk_done["absent"] = f"{vid}/{f:05d}/{referred[0].inst}"
      if (quirks and not quirk_done["single"] and fi == 0 and len(present) > 1
          and split == "train" and referred):
        # Only one actor annotated in this frame: MATLAB then stores reMask as (W, H).
        present = [p for p in present if p[0].inst == referred[0].inst][:1]
        quirk_done["single"] = f"{vid}/{f:05d}"
      masks = [m for _, m in present]
      insts = [o.inst for o, _ in present]
      labels = [_label(o) for o, _ in present]
      if quirks and not quirk_done["dup"] and len(present) >= 2 and fi == 1:
        # EadxBPmQvtg/00025-like: an instance listed twice; the copy's mask is wrong.
        masks.insert(1, ~masks[0])
        insts.insert(1, insts[0])
        labels.insert(1, labels[0])
        quirk_done["dup"] = f"{vid}/{f:05d}"
      elif quirks and not quirk_done["extra"] and fi == 2:
        # 95Nq6fQoP2o/00032-like: one more mask than instances, at the end.
        masks.append(np.ones_like(vis[0]))
        quirk_done["extra"] = f"{vid}/{f:05d}"
      if not masks:
        continue
      a2d.write_instance_h5(os.path.join(ann_root, vid, f"{f:05d}.h5"), masks, insts,
                            labels)
      for o, m in present:
        if o.sentence:
          sid = f"{vid}/{f:05d}/{o.inst}"
          truth.samples[split][sid] = m
          truth.kinds[sid] = o.kind
          truth.sentences[sid] = o.sentence
  a2d.write_videoset(out, videoset_rows)
  a2d.write_annotations(out, ann_rows, missed)
  sentences = [r[2] for r in ann_rows]
  vocab = sorted(set(text_lib.vocabulary(sentences)) | set(template_vocabulary()))
  write_glove(os.path.join(out, GLOVE_NAME), vocab)
  kind_counts = {s: {k: sum(1 for sid in truth.samples[s] if truth.kinds[sid] == k)
                     for k in KINDS} for s in ("train", "test")}
  meta = dict(
      generator="rvs_jax.data.synthetic", version=1, seed=seed, num_videos=num_videos,
      height=height, width=width, frames=frames, quirks=quirks,
      quirks_applied=quirk_done if quirks else {}, videos=meta_videos,
      samples={s: sorted(truth.samples[s]) for s in ("train", "test")},
      kind_counts=kind_counts, vocabulary=vocab)
  with open(os.path.join(out, META_NAME), "w") as f:
    json.dump(meta, f, indent=1)
  truth.meta = meta
  return truth


def main(argv: list[str] | None = None) -> None:
  p = app.ArgumentParser(
      prog="python -m rvs_jax.data.synthetic",
      description="Generate the synthetic referring-video benchmark (A2D layout).")
  p.add_argument("--out", required=True, help="output folder")
  p.add_argument("--num-videos", type=int, default=DEFAULT_NUM_VIDEOS)
  p.add_argument("--seed", type=int, default=0)
  p.add_argument("--height", type=int, default=64)
  p.add_argument("--width", type=int, default=None, help="default 1.5 x height")
  p.add_argument("--frames", type=int, default=24)
  p.add_argument("--quirks", action="store_true", help="add A2D anomalies")
  p.add_argument("--workers", type=int, default=None)
  a = p.parse_args(argv)
  t0 = time.time()
  truth = generate(a.out, a.num_videos, a.seed, a.height, a.width, a.frames, a.quirks,
                   a.workers)
  dt = time.time() - t0
  size = sum(os.path.getsize(os.path.join(d, f))
             for d, _, fs in os.walk(a.out) for f in fs)
  counts = truth.meta["kind_counts"]
  print(f"wrote {a.out}: {a.num_videos} videos, "
        f"train {len(truth.samples['train'])} / test {len(truth.samples['test'])} "
        f"samples, kinds {counts}, {size / 2**20:.1f} MB in {dt:.1f} s", file=sys.stderr)


if __name__ == "__main__":
  main()
