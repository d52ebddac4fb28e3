"""Segment your own video: `python -m rvs_jax.inference.predict`.

    python -m rvs_jax.inference.predict --video clip.mp4 --text "the red square" \
        --text "a blue circle moving left" --checkpoint workdir --out prediction \
        [--gif] [--explain [FRAME ...]] [--threshold 0.5] [--batch-size 8] [--fps 24]

`--video` is a video file PyAV can decode (.mp4, .avi, .webm, ...) or a folder of frame
images (sorted by name, numbers compared as numbers); sentences come from `--text`
(repeatable) and/or `--texts FILE` (one per line, blank lines and `#` lines skipped).
`--checkpoint` is a training workdir (best checkpoint, else latest) or a converted
checkpoint; the config and the word vectors stored with it are used (`--config`,
`--word-vectors` override them; see `rvs_jax.checkpointing`).

Every frame t is segmented from its own clip: the config's T frames at its stride
centred on t, clamped at the ends of the video (`pipeline.clip_indices`), resized like
the training input (`pipeline.resize_frames`). Clips of all sentences go through one
jit-compiled function in batches of a fixed size (the last batch padded), so there is
a single compilation; JAX runs it on the GPU when one is present, else on the CPU
(`--cpu` forces the CPU). The final response map is resized to the frame's own size
(bilinear, on the probabilities) and thresholded, as the `clean` evaluation protocol
does (`protocols.binarize_clean`).

Output (DIR = --out, refused if it exists and is not empty, unless `--overwrite`):

  DIR/predict.json                     what was run and what was written
  DIR/overlay.mp4 (overlay.gif, --gif) every sentence's mask in its own colour, legend
  DIR/overlay.png                      the middle frame of the overlay, as a picture
  DIR/<k>_<words>/masks/<t:05d>.png    0/255 mask at the frame's resolution
  DIR/<k>_<words>/masks.npz            masks bool (T, H, W), probs float16 (T, S, S)
  DIR/<k>_<words>/explain/frame_<t:05d>_{words,lasp}.png   with --explain (`explain`)

Mistakes a person will make (unreadable video, no frames, a sentence without a known
word, a checkpoint from another config, an existing output folder) end the program
with one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import re
import shutil
import sys
import time
from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw

from rvs_jax import app, checkpointing, files
from rvs_jax import text as text_lib
from rvs_jax.data.types import DataError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
MARKER = "predict.json"    # Written last; marks a folder --overwrite may replace.
DEFAULT_FPS = 24.0
# Distinct, saturated colours, one per sentence (cycled beyond eight).
PALETTE = ((255, 64, 32), (32, 160, 255), (255, 210, 0), (190, 80, 255),
           (0, 220, 120), (255, 120, 200), (0, 230, 230), (160, 255, 60))


class PredictError(ValueError):
  """A user error; the message is one line."""


@dataclasses.dataclass
class Video:
  """Decoded input frames: uint8 `(T, H, W, 3)` RGB, the frame rate, the source path."""
  frames: np.ndarray
  fps: float
  source: str


@dataclasses.dataclass
class Sentence:
  """An encoded sentence: vectors `(N, E)`, mask `(N,)`, real tokens, unknown words."""
  text: str
  vectors: np.ndarray
  mask: np.ndarray
  tokens: list[str]
  unknown: list[str]


# --------------------------------------------------------------------------------------
# Inputs.
# --------------------------------------------------------------------------------------


def _natural_key(name: str) -> list:
  return [int(p) if p.isdigit() else p.lower() for p in re.split(r"(\d+)", name)]


def read_video(path: str) -> Video:
  """Frames of a video file or a folder of images.

  Raises:
    PredictError: missing path, unreadable video or image, no frames.
  """
  # pylint: disable=g-import-not-at-top
  from rvs_jax.data import video_io
  if os.path.isdir(path):
    names = sorted((n for n in os.listdir(path) if n.lower().endswith(IMAGE_EXTENSIONS)),
                   key=_natural_key)
    if not names:
      raise PredictError(f"no frames: folder {path} holds no image files "
                         f"({' '.join(IMAGE_EXTENSIONS)})")
    source = video_io.FrameFolder([os.path.join(path, n) for n in names])
    try:
      frames = source.load(range(len(names)))
    except DataError as e:
      raise PredictError(str(e).splitlines()[0]) from None
    return Video(frames, DEFAULT_FPS, path)
  if not os.path.exists(path):
    raise PredictError(f"video not found: {path}")
  try:
    frames = video_io.decode_mp4(path)
  except DataError as e:
    message = str(e).splitlines()[0]
    if "no decodable frames" in message or "no video stream" in message:
      raise PredictError(f"no frames: {message}") from None
    raise PredictError(f"unreadable video: {message}") from None
  return Video(frames, _frame_rate(path), path)


def _frame_rate(path: str) -> float:
  """The stream's average frame rate (DEFAULT_FPS when the container does not say)."""
  import av  # pylint: disable=g-import-not-at-top
  try:
    with av.open(path) as container:
      rate = container.streams.video[0].average_rate
    return float(rate) if rate else DEFAULT_FPS
  except (av.FFmpegError, OSError, ValueError, IndexError, ZeroDivisionError):
    return DEFAULT_FPS


def read_sentences(texts: Sequence[str], texts_file: str | None) -> list[str]:
  """`--text` values then the lines of `--texts FILE` (blank and `#` lines skipped)."""
  sentences = list(texts or [])
  if texts_file:
    try:
      with open(texts_file, encoding="utf-8") as f:
        lines = f.read().splitlines()
    except (OSError, UnicodeDecodeError) as e:
      raise PredictError(f"cannot read --texts {texts_file}: {e}") from None
    sentences += [l.strip() for l in lines
                  if l.strip() and not l.lstrip().startswith("#")]
  if not sentences:
    raise PredictError("no sentence: give --text \"...\" (repeatable) or --texts FILE")
  return sentences


def encode_sentences(sentences: Sequence[str], vectors: text_lib.WordVectors,
                     max_words: int) -> list[Sentence]:
  """Word vectors of every sentence; unknown words are warned about on stderr.

  Raises:
    PredictError: an empty sentence, or one in which no word has a vector.
  """
  out = []
  for s in sentences:
    try:
      vecs, mask, unknown = vectors.encode(s, max_words, allow_all_unknown=True)
    except DataError as e:
      raise PredictError(f"sentence {s!r}: {str(e).splitlines()[0]}") from None
    tokens = list(text_lib.tokenize(s, max_words).tokens[:int(mask.sum())])
    if len(unknown) == len(tokens):
      raise PredictError(
          f"no word of the sentence {s!r} is in the checkpoint's vocabulary (unknown: "
          f"{', '.join(unknown)}); the model would see only zeros")
    if unknown:
      print(f"warning: {s!r}: unknown words {', '.join(unknown)} (read as zeros, as in "
            "training)", file=sys.stderr)
    out.append(Sentence(s, vecs, mask, tokens, unknown))
  return out


def check_output(out: str, overwrite: bool) -> None:
  """Refuses an existing non-empty `out` unless --overwrite, and unless it is ours."""
  if os.path.exists(out) and (not os.path.isdir(out) or os.listdir(out)):
    if not overwrite:
      raise PredictError(f"output folder {out} exists; pass --overwrite to replace it")
    if not os.path.isfile(os.path.join(out, MARKER)):
      raise PredictError(f"output folder {out} exists and was not written by "
                         f"rvs_jax.inference.predict (no {MARKER}); refusing to delete it")


# --------------------------------------------------------------------------------------
# The model.
# --------------------------------------------------------------------------------------


class Segmenter:
  """Runs a loaded checkpoint on clips in fixed-size batches (one compilation)."""

  def __init__(self, loaded: checkpointing.Loaded, batch_size: int = 8):
    # pylint: disable=g-import-not-at-top
    import jax
    from rvs_jax.evaluation import frame_eval
    self.loaded = loaded
    self.constants = loaded.constants
    self.batch_size = batch_size
    self.variables = jax.device_put(loaded.variables)
    self.device = jax.devices()[0]
    self._predict = frame_eval.make_predict_fn(loaded.model)
    self._explain = None

  def model_frames(self, frames: np.ndarray) -> np.ndarray:
    """uint8 `(T, H, W, 3)` -> uint8 `(T, S, S, 3)`, resized like the training input."""
    from rvs_jax.data import pipeline  # pylint: disable=g-import-not-at-top
    s = self.constants.image_size
    return pipeline.resize_frames_uint8(frames, s, s)

  def _batch(self, small: np.ndarray, sentences: Sequence[Sentence],
             items: Sequence[tuple[int, int]]) -> tuple[np.ndarray, ...]:
    """Model inputs for `(sentence, frame)` items, padded to the batch size."""
    from rvs_jax.data import pipeline  # pylint: disable=g-import-not-at-top
    c = self.constants
    items = list(items) + [items[-1]] * (self.batch_size - len(items))
    clips = [small[pipeline.clip_indices(t, len(small), c.num_frames, c.clip_stride)]
             for _, t in items]
    video = pipeline.to_unit_float(np.stack(clips))           # (B, T, S, S, 3)
    words = np.stack([sentences[k].vectors for k, _ in items])  # (B, N, E)
    mask = np.stack([sentences[k].mask for k, _ in items])      # (B, N)
    return video, words, mask

  def probabilities(self, small: np.ndarray, sentences: Sequence[Sentence],
                    progress: bool = True) -> np.ndarray:
    """Final-map probabilities of every frame and sentence.

    Args:
      small: uint8 `(T, S, S, 3)` frames at the model size (`model_frames`).
      sentences: the encoded sentences (K).
      progress: show a progress bar on a terminal.

    Returns:
      float32 `(K, T, S, S)`.
    """
    from tqdm import tqdm  # pylint: disable=g-import-not-at-top
    k_count, t_count, s = len(sentences), len(small), self.constants.image_size
    items = [(k, t) for k in range(k_count) for t in range(t_count)]
    out = np.empty((k_count, t_count, s, s), np.float32)
    bar = tqdm(total=len(items), unit="clip", disable=None if progress else True,
               dynamic_ncols=True, file=sys.stderr)

    def collect(pending):
      chunk, probs = pending
      probs = np.asarray(probs)
      for (k, t), p in zip(chunk, probs):
        out[k, t] = p
      bar.update(len(chunk))

    pending = None
    try:
      for start in range(0, len(items), self.batch_size):
        chunk = items[start:start + self.batch_size]
        # Dispatch is asynchronous: the next batch is prepared on the host while the
        # device runs this one; results are fetched one batch behind.
        probs = self._predict(self.variables, *self._batch(small, sentences, chunk))
        if pending is not None:
          collect(pending)
        pending = (chunk, probs)
      if pending is not None:
        collect(pending)
    finally:
      bar.close()
    bad = ~np.isfinite(out).all(axis=(2, 3))                    # (K, T)
    if bad.any():
      k, t = np.argwhere(bad)[0]
      raise PredictError(
          f"the model produced NaN/Inf probabilities for {int(bad.sum())} of {bad.size} "
          f"clips (first: sentence {k}, frame {t}); its weights are not usable, no masks "
          "were written")
    return out

  def explain(self, small: np.ndarray, sentences: Sequence[Sentence],
              items: Sequence[tuple[int, int]]) -> list[dict]:
    """`explain.make_explain_fn` outputs for `(sentence, frame)` items, one dict each."""
    import jax  # pylint: disable=g-import-not-at-top
    from rvs_jax.pictures import explain  # pylint: disable=g-import-not-at-top
    if self._explain is None:
      self._explain = explain.make_explain_fn(self.loaded.model)
    results = []
    for start in range(0, len(items), self.batch_size):
      chunk = items[start:start + self.batch_size]
      out = jax.device_get(self._explain(self.variables,
                                         *self._batch(small, sentences, chunk)))
      for b in range(len(chunk)):
        results.append(jax.tree.map(lambda x, b=b: np.asarray(x)[b], out))
    return results


def to_masks(probs: np.ndarray, height: int, width: int, threshold: float) -> np.ndarray:
  """float `(T, S, S)` probabilities -> bool `(T, height, width)` (clean protocol)."""
  from rvs_jax.evaluation import protocols  # pylint: disable=g-import-not-at-top
  return np.stack([protocols.binarize_clean(p, (height, width), threshold)[1]
                   for p in probs])


# --------------------------------------------------------------------------------------
# Pictures.
# --------------------------------------------------------------------------------------


def overlay_scale(height: int, width: int, target: int = 240) -> int:
  """Integer upscaling that makes small frames legible (the shorter side >= target)."""
  return max(1, math.ceil(target / max(1, min(height, width))))


def draw_overlay(frame: np.ndarray, masks: Sequence[np.ndarray],
                 colours: Sequence[tuple[int, int, int]], sentences: Sequence[str],
                 scale: int = 1, label: str = "", alpha: float = 0.45) -> np.ndarray:
  """Every sentence's mask filled in its colour, outlined, with a legend below.

  Args:
    frame: uint8 `(H, W, 3)`.
    masks: bool `(H, W)` per sentence.
    colours: RGB per sentence.
    sentences: legend text per sentence.
    scale: integer nearest upscaling (mask pixels stay visible).
    label: text at the top left (e.g. the frame number).
    alpha: fill opacity.

  Returns:
    uint8 `(H', W', 3)` with even H', W' (what yuv420p video needs).
  """
  from rvs_jax.pictures import explain  # pylint: disable=g-import-not-at-top
  img = frame.astype(np.float32)
  for mask, colour in zip(masks, colours):
    img[mask] = (1 - alpha) * img[mask] + alpha * np.asarray(colour, np.float32)
  for mask, colour in zip(masks, colours):  # Outlines last: overlaps stay readable.
    img[explain.contour(mask)] = colour
  pic = Image.fromarray(img.clip(0, 255).astype(np.uint8))
  if scale > 1:
    pic = pic.resize((pic.width * scale, pic.height * scale), Image.NEAREST)
  fnt = explain.font(13)
  line = 18
  width = pic.width + pic.width % 2
  height = pic.height + line * len(sentences) + 6
  height += height % 2
  canvas = Image.new("RGB", (width, height), (0, 0, 0))
  canvas.paste(pic, (0, 0))
  draw = ImageDraw.Draw(canvas)
  if label:
    box = draw.textbbox((4, 3), label, font=fnt)
    draw.rectangle((box[0] - 2, box[1] - 2, box[2] + 2, box[3] + 2), fill=(0, 0, 0))
    draw.text((4, 3), label, fill=(255, 255, 255), font=fnt)
  for k, (s, colour) in enumerate(zip(sentences, colours)):
    y = pic.height + 4 + line * k
    draw.rectangle((4, y + 2, 16, y + 14), fill=colour)
    text = s
    while text and draw.textlength(text, font=fnt) > width - 26:
      text = text[:-2] + "…" if len(text) > 2 else ""
    draw.text((22, y), text, fill=(255, 255, 255), font=fnt)
  return np.asarray(canvas)


def write_gif(path: str, frames: Sequence[np.ndarray], fps: float,
              max_width: int = 480) -> None:
  """An animated GIF (looping), downscaled to `max_width` to stay small."""
  images = []
  for f in frames:
    img = Image.fromarray(f)
    if img.width > max_width:
      img = img.resize((max_width, round(img.height * max_width / img.width)),
                       Image.BILINEAR)
    images.append(img.convert("P", palette=Image.Palette.ADAPTIVE, colors=128))
  images[0].save(path, save_all=True, append_images=images[1:], loop=0,
                 duration=max(20, int(round(1000 / fps))), optimize=False)


def _slug(k: int, sentence: str) -> str:
  words = re.sub(r"[^a-z0-9]+", "_", sentence.lower()).strip("_")[:40].rstrip("_")
  return f"{k}_{words or 'sentence'}"


# --------------------------------------------------------------------------------------
# The program.
# --------------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
  p = app.ArgumentParser(
      prog="python -m rvs_jax.inference.predict", description=__doc__,
      formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--video", required=True, help="video file or folder of frame images")
  p.add_argument("--text", action="append", default=[], metavar="SENTENCE",
                 help="a referring expression (repeat for several)")
  p.add_argument("--texts", metavar="FILE", help="file with one sentence per line")
  p.add_argument("--checkpoint", required=True,
                 help="training workdir or converted checkpoint")
  p.add_argument("--out", required=True, help="output folder")
  p.add_argument("--config", help="configs/x.py[:args] replacing the stored config")
  p.add_argument("--word-vectors", help=".npz table replacing the checkpoint's")
  p.add_argument("--threshold", type=float, default=0.5,
                 help="probability above which a pixel is in the mask (default 0.5)")
  p.add_argument("--batch-size", type=int, default=8, help="clips per call (default 8)")
  p.add_argument("--fps", type=float,
                 help="frame rate of the overlay (default: the video's; 24 for folders)")
  p.add_argument("--gif", action="store_true", help="also write overlay.gif")
  p.add_argument("--explain", nargs="*", type=int, metavar="FRAME",
                 help="draw per-word CMAM attention and LASP sampling for these frames "
                 "(0-based; no number: the middle frame)")
  p.add_argument("--overwrite", action="store_true",
                 help="replace an existing output folder written by this program")
  p.add_argument("--cpu", action="store_true", help="run on the CPU even with a GPU")
  p.add_argument("--quiet", action="store_true", help="no progress bar")
  return p


def main(argv: Sequence[str] | None = None) -> int:
  """Runs the program; returns the exit status (user errors: one line, status 2)."""
  args = _parser().parse_args(argv)
  try:
    return _run(args)
  except app.USER_ERRORS as e:  # PredictError, checkpoint, config and data errors.
    print(f"error: {e}", file=sys.stderr)
    return 2


def _run(args: argparse.Namespace) -> int:
  t_start = time.time()
  if args.batch_size < 1:
    raise PredictError(f"--batch-size must be >= 1, got {args.batch_size}")
  if not 0.0 <= args.threshold < 1.0:
    raise PredictError(f"--threshold must be in [0, 1), got {args.threshold}")
  if args.cpu:  # Before anything initialises a JAX backend (Orbax does).
    import jax  # pylint: disable=g-import-not-at-top
    jax.config.update("jax_platforms", "cpu")
  out = os.path.abspath(args.out)
  # Cheap checks first, so a mistake costs no model loading or compilation.
  check_output(out, args.overwrite)
  try:
    # Made now, so an unwritable destination is found before inference, not after.
    stage = files.temporary_dir_beside(out)
  except OSError as e:
    raise PredictError(f"cannot write the output {out}: {e.strerror or e}") from None
  try:
    message = _predict_into(args, stage, t_start)
    # Replaced only now that the new output is complete, and only if it is ours.
    check_output(out, args.overwrite)
    files.replace_dir(stage, out)
  finally:
    shutil.rmtree(stage, ignore_errors=True)  # Left only after a failure.
  print(f"wrote {args.out}: {message}")
  return 0


def _predict_into(args: argparse.Namespace, out: str, t_start: float) -> str:
  """Segments and writes every output file into the (empty) folder `out`."""
  texts = read_sentences(args.text, args.texts)
  video = read_video(args.video)
  if args.fps is not None:
    if args.fps <= 0:
      raise PredictError(f"--fps must be positive, got {args.fps}")
    video.fps = args.fps
  frames = video.frames
  t_count, height, width = frames.shape[:3]
  explain_frames = None
  if args.explain is not None:
    explain_frames = sorted(set(args.explain)) or [t_count // 2]
    bad = [t for t in explain_frames if not 0 <= t < t_count]
    if bad:
      raise PredictError(f"--explain frame {bad[0]} outside the video's frames "
                         f"0..{t_count - 1}")
  replaced = app.load_config_file(args.config) if args.config else None
  config = (replaced if replaced is not None
            else checkpointing.describe(args.checkpoint).config)
  constants = checkpointing.InputConstants.from_config(config)
  vectors = checkpointing.word_vectors(args.checkpoint, args.word_vectors)
  sentences = encode_sentences(texts, vectors, constants.max_words)

  loaded = checkpointing.load(args.checkpoint, replaced, args.word_vectors)
  segmenter = Segmenter(loaded, args.batch_size)
  print(f"segmenting {t_count} frames ({width}x{height}) x {len(sentences)} sentences "
        f"on {segmenter.device.platform} in batches of {args.batch_size}",
        file=sys.stderr)
  small = segmenter.model_frames(frames)                          # (T, S, S, 3) uint8
  probs = segmenter.probabilities(small, sentences, progress=not args.quiet)

  colours = [PALETTE[k % len(PALETTE)] for k in range(len(sentences))]
  all_masks, records = [], []
  for k, sentence in enumerate(sentences):
    folder = os.path.join(out, _slug(k, sentence.text))
    os.makedirs(os.path.join(folder, "masks"))
    masks = to_masks(probs[k], height, width, args.threshold)   # (T, H, W) bool
    all_masks.append(masks)
    for t, mask in enumerate(masks):
      Image.fromarray(mask.astype(np.uint8) * 255, "L").save(
          os.path.join(folder, "masks", f"{t:05d}.png"))
    np.savez_compressed(os.path.join(folder, "masks.npz"), masks=masks,
                        probs=probs[k].astype(np.float16), sentence=sentence.text,
                        threshold=np.float32(args.threshold))
    records.append(dict(text=sentence.text, folder=os.path.basename(folder),
                        colour=list(colours[k]), tokens=sentence.tokens,
                        unknown_words=sentence.unknown,
                        mask_fraction=[round(float(m.mean()), 5) for m in masks]))

  scale = overlay_scale(height, width)
  overlays = [draw_overlay(frames[t], [m[t] for m in all_masks], colours,
                           [s.text for s in sentences], scale, f"{t}/{t_count - 1}")
              for t in range(t_count)]
  from rvs_jax.data import video_io  # pylint: disable=g-import-not-at-top
  video_io.write_mp4(os.path.join(out, "overlay.mp4"), np.stack(overlays),
                     fps=max(1, int(round(video.fps))))
  # A still of the middle frame, for a quick look without a video player.
  Image.fromarray(overlays[t_count // 2]).save(os.path.join(out, "overlay.png"))
  written = ["overlay.mp4", "overlay.png"]
  if args.gif:
    write_gif(os.path.join(out, "overlay.gif"), overlays, video.fps)
    written.append("overlay.gif")

  if explain_frames is not None:
    written += _write_explanations(segmenter, small, frames, sentences, all_masks, colours,
                                 explain_frames, out)

  summary = dict(
      video=os.path.abspath(video.source), frames=t_count, height=height, width=width,
      fps=video.fps, checkpoint=os.path.abspath(args.checkpoint),
      config=args.config or "stored with the checkpoint",
      model=loaded.config.model.to_dict(),
      input=dataclasses.asdict(constants), threshold=args.threshold,
      device=segmenter.device.platform, batch_size=args.batch_size,
      seconds=round(time.time() - t_start, 1), sentences=records, files=written)
  with open(os.path.join(out, MARKER), "w", encoding="utf-8") as f:
    json.dump(summary, f, indent=1)
  return f"{len(sentences)} x {t_count} masks, " + ", ".join(written)


def _write_explanations(segmenter: Segmenter, small: np.ndarray, frames: np.ndarray,
                        sentences: Sequence[Sentence], all_masks: Sequence[np.ndarray],
                        colours, explain_frames: Sequence[int], out: str) -> list[str]:
  """Fig. 9 / Fig. 6 pictures of the chosen frames (`rvs_jax.pictures.explain`)."""
  from rvs_jax.pictures import explain  # pylint: disable=g-import-not-at-top
  items = [(k, t) for k in range(len(sentences)) for t in explain_frames]
  written = []
  for (k, t), result in zip(items, segmenter.explain(small, sentences, items)):
    folder = os.path.join(out, _slug(k, sentences[k].text), "explain")
    os.makedirs(folder, exist_ok=True)
    title = f'"{sentences[k].text}"  frame {t}'
    n = len(sentences[k].tokens)
    cmam = {name: {"weights": v["weights"][:n], "maps": v["maps"][:n]}
            for name, v in result["cmam"].items()}
    pictures = {
        "words": explain.words_picture(frames[t], sentences[k].tokens, cmam, title),
        "lasp": explain.lasp_picture(frames[t], all_masks[k][t], colours[k],
                                     result["lasp"], title)}
    for kind, picture in pictures.items():
      if picture is not None:
        path = os.path.join(folder, f"frame_{t:05d}_{kind}.png")
        picture.save(path)
        written.append(os.path.relpath(path, out))
  if not written:
    print("note: this model has neither CMAM(+) nor LASP; --explain has nothing to draw",
          file=sys.stderr)
  return written


def run() -> None:
  """Console entry: process-level JAX settings, then `main`."""
  from rvs_jax import platform  # pylint: disable=g-import-not-at-top
  platform.configure()
  sys.exit(main())


if __name__ == "__main__":
  run()
