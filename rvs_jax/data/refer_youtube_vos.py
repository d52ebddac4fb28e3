"""Refer-YouTube-VOS reader: the unpacked competition release -> `list[Sample]`.

Layout (the unpacked competition release)::

  <root>/train/JPEGImages/<vid>/<frame>.jpg
  <root>/train/Annotations/<vid>/<frame>.png      palette PNG, value = obj_id (0 = none)
  <root>/train/meta.json                          optional: which frames show each object
  <root>/valid/JPEGImages/<vid>/<frame>.jpg       no annotations
  <root>/test/JPEGImages/<vid>/<frame>.jpg        optional
  <root>/meta_expressions/{train,valid,test}/meta_expressions.json

Splits:

* `train`: every expression of every video. By default (`targets="present"`) a sample is
  made for every frame of the video's `frames` list on which the referred object is
  visible (training only on frames that show the object). With
  `targets="all"` every frame is a sample (local evaluation on a train hold-out, where
  frames without the object have an all-zero mask).
* `valid`: the **scored** validation videos = videos of `meta_expressions/valid` minus
  those of `meta_expressions/test` (202 in the real data; the valid file lists 507).
  Every frame of every expression is a sample, `mask` is None (no public ground truth).
* `test`: the 305 videos of `meta_expressions/test` (frames in `test/JPEGImages`),
  `mask` None.

Clips: a video's `VideoSource` holds exactly the frames of its `frames` list (the 6-fps
subset of the release), so clip offsets count in that list; the benchmark's clip stride
(`CLIP_STRIDE`, the default of `config.data.clip_stride`) is 1 (offsets -4..+3, ~1.3 s),
not A2D's 2.

Which frames show an object comes from `train/meta.json` when present (fast), otherwise
from reading every annotation PNG of the video once.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import os
from typing import Any, Sequence

import numpy as np
from PIL import Image

from rvs_jax import progress
from rvs_jax.data.checks import Report, Strict, read_image, read_json
from rvs_jax.data.types import Sample
from rvs_jax.data.video_io import FrameFolder

SPLITS = ("train", "valid", "test")
CLIP_STRIDE = 1
META_JSON = "train/meta.json"  # Optional: which frames show each object.


def meta_expressions_path(root: str, split: str) -> str:
  """`<root>/meta_expressions/<split>/meta_expressions.json`."""
  return os.path.join(root, "meta_expressions", split, "meta_expressions.json")


def frames_dir(root: str, split: str, vid: str) -> str:
  """`<root>/<split>/JPEGImages/<vid>`."""
  return os.path.join(root, split, "JPEGImages", vid)


def annotations_dir(root: str, vid: str) -> str:
  """`<root>/train/Annotations/<vid>` (only train has masks)."""
  return os.path.join(root, "train", "Annotations", vid)


def read_label_png(sink, path: str) -> np.ndarray | None:
  """The object-id map `(H, W)` of a palette ('P') annotation PNG; None after an error.

  An RGB (or any non-palette) PNG is an error: converting it to a palette would invent
  ids from colours, so its pixel values cannot be trusted as object ids.
  """
  if not os.path.isfile(path):
    sink.error(path, "missing annotation PNG")
    return None
  try:
    with Image.open(path) as im:
      if im.mode != "P":
        sink.error(path, f"not a palette PNG (mode {im.mode}): pixel values are not "
                         "object ids; re-save it as an indexed PNG")
        return None
      return np.array(im)
  except (OSError, ValueError, SyntaxError) as e:
    sink.error(path, f"unreadable annotation PNG, truncated? ({e})")
    return None


@functools.lru_cache(maxsize=16)
def read_index_png(path: str) -> np.ndarray:
  # Cached: all expressions of a video on one frame read the same PNG in a row.
  return read_label_png(Strict(), path)


@dataclasses.dataclass(frozen=True)
class PaletteMask:
  """One object of an indexed ('P') annotation PNG: `png == obj_id` (MaskSource)."""
  path: str
  obj_id: int

  def load(self) -> np.ndarray:
    return read_index_png(self.path) == self.obj_id


def read_meta_expressions(root: str, split: str, sink=None) -> dict[str, Any]:
  """`{vid: {"expressions": {...}, "frames": [...]}}` of one split's file, checked.

  Errors: missing, not UTF-8, empty, invalid (truncated) JSON, no `videos` dict, no
  video at all.
  """
  return read_videos(sink or Strict(), meta_expressions_path(root, split))


def read_videos(sink, path: str) -> dict[str, Any]:
  """The checked `videos` dict of the `meta_expressions.json` at `path` (also MeViS)."""
  meta = read_json(sink, path, "meta_expressions file")
  if meta is None:
    return {}
  if not isinstance(meta, dict) or not isinstance(meta.get("videos"), dict):
    sink.error(path, "expected {'videos': {...}}")
    return {}
  if not meta["videos"]:
    sink.error(path, "no videos (empty 'videos')")
  return meta["videos"]


def scored_valid_videos(root: str) -> list[str]:
  """The scored validation videos: valid meta minus test meta, sorted."""
  valid = read_meta_expressions(root, "valid")
  test = read_meta_expressions(root, "test")
  return sorted(set(valid) - set(test))


def check_expressions(sink, path: str, vid: str, entry: Any, need_obj_id: bool
                      ) -> tuple[list[str], dict[str, dict[str, Any]]]:
  """Checks one video's entry of `meta_expressions.json`.

  Errors: no `expressions` dict or no `frames` list, no expression at all, a sentence
  with replacement characters (mis-decoded text). Skipped (warning): an empty sentence,
  a missing or non-integer `obj_id` where masks are needed (train).

  Returns:
    (sorted frame names, {exp_id: {"exp", "obj_id" (int or None)}} of the usable
    expressions, in numeric id order).
  """
  if not isinstance(entry, dict) or not isinstance(entry.get("expressions"), dict):
    sink.error(path, f"video '{vid}': no 'expressions' dict")
    return [], {}
  frames = entry.get("frames")
  if not isinstance(frames, list) or not frames:
    sink.error(path, f"video '{vid}': no 'frames' list")
    frames = []
  if not entry["expressions"]:
    sink.error(path, f"video '{vid}': no expressions")
  usable = {}
  for exp_id in sorted(entry["expressions"], key=lambda k: (len(k), k)):
    exp = entry["expressions"][exp_id]
    text = exp.get("exp") if isinstance(exp, dict) else None
    obj = exp.get("obj_id") if isinstance(exp, dict) else None
    if not isinstance(text, str) or not text.strip():
      sink.skip(path, vid, f"expression '{exp_id}' skipped: empty sentence")
      continue
    if "\ufffd" in text:
      sink.error(path, f"video '{vid}' expression '{exp_id}': replacement character "
                       "(text was not UTF-8 before conversion)")
      continue
    if obj is not None and not str(obj).strip().isdigit():
      if need_obj_id:
        sink.skip(path, vid, f"expression '{exp_id}' skipped: obj_id {obj!r} is not an "
                             "integer")
        continue
      obj = None
    if need_obj_id and obj is None:
      sink.skip(path, vid, f"expression '{exp_id}' skipped: no obj_id")
      continue
    usable[exp_id] = {"exp": text, "obj_id": None if obj is None else int(obj)}
  return sorted(str(f) for f in frames), usable


def check_frames(sink, img_dir: str, frames: Sequence[str], split: str, vid: str
                 ) -> list[str]:
  """The JPEG paths of a video's frame list; a missing folder or frame is an error."""
  try:
    on_disk = set(os.listdir(img_dir))
  except OSError:
    sink.error(img_dir, f"missing frames folder ({split} video '{vid}')")
    return []
  for f in frames:
    if f + ".jpg" not in on_disk:
      sink.error(os.path.join(img_dir, f + ".jpg"), f"missing frame (listed for video "
                                                   f"'{vid}')")
  return [os.path.join(img_dir, f + ".jpg") for f in frames if f + ".jpg" in on_disk]


def check_annotations(sink, ann_dir: str, img_dir: str, frames: Sequence[str],
                      vid: str) -> bool:
  """A train video's PNG folder pairs one to one with its JPEGs; False if unusable."""
  try:
    pngs = set(os.listdir(ann_dir))
  except OSError:
    sink.error(ann_dir, f"missing annotation folder (video '{vid}')")
    return False
  for f in frames:
    if f + ".png" not in pngs:
      sink.error(os.path.join(ann_dir, f + ".png"), "missing annotation PNG")
  n_png = len([n for n in pngs if n.endswith(".png")])
  n_jpg = len([n for n in os.listdir(img_dir) if n.endswith(".jpg")])
  if n_png != n_jpg:
    sink.error(ann_dir, f"frame-count mismatch: {n_png} PNGs, {n_jpg} JPEGs in "
                        f"{img_dir}")
  return True


def object_frames(sink, ann_dir: str, frames: Sequence[str]) -> dict[int, set[str]]:
  """{object id: frames showing it}, from the annotation PNGs (each read once)."""
  present: dict[int, set[str]] = {}
  for name in frames:
    labels = read_label_png(sink, os.path.join(ann_dir, name + ".png"))
    if labels is None:
      continue
    for obj_id in np.unique(labels):
      present.setdefault(int(obj_id), set()).add(name)
  return present


def check_objects(sink, path: str, vid: str, ann_dir: str,
                  expressions: dict[str, dict[str, Any]],
                  present: dict[int, set[str]]) -> dict[str, dict[str, Any]]:
  """Drops (with a warning) the expressions whose object is in no mask of the video."""
  out = {}
  for exp_id, exp in expressions.items():
    if not present.get(exp["obj_id"]):
      sink.skip(path, vid, f"expression '{exp_id}' skipped: object {exp['obj_id']} "
                           f"never occurs in the masks of {ann_dir}")
      continue
    out[exp_id] = exp
  return out


def load_refer_youtube_vos(root: str, split: str = "train", *,
                           targets: str | None = None,
                           use_meta_json: bool = True) -> list[Sample]:
  """Reads one split of Refer-YouTube-VOS.

  The checks are the validator's (`read_meta_expressions`, `check_expressions`,
  `check_frames`, `check_annotations`, `check_objects`): an error raises, a skipped
  expression is a logged warning naming the video. Annotation PNGs that are not palette
  PNGs are refused when read.

  Args:
    root: the unpacked release (holds `train/`, `valid/`, `meta_expressions/`).
    split: "train", "valid" (valid minus test: the scored videos) or "test".
    targets: "present" (frames showing the object; train only) or "all" (every frame).
      Default: "present" for train, "all" otherwise.
    use_meta_json: read object presence from `train/meta.json` if it exists (else the
      annotation PNGs are read once per video).

  Returns:
    Samples ordered by video, expression id (numeric), frame. `sample_id` is
    `<vid>/<exp_id>/<frame>`, `target` indexes the video's `frames` list, `mask` is
    `PaletteMask` on train and None on valid/test. `info` holds `split`, `exp_id`,
    `obj_id` (int or None), `frame` (name), `num_frames`, `height`, `width` and, on
    train, `category` and `present` (object visible).

  Raises:
    DataError: naming the file, on missing frames/annotations, unreadable or
      inconsistent metadata.
  """
  if split not in SPLITS:
    raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
  targets = targets or ("present" if split == "train" else "all")
  if targets not in ("present", "all"):
    raise ValueError(f"targets must be 'present' or 'all', got {targets!r}")
  if targets == "present" and split != "train":
    raise ValueError("targets='present' needs masks: only the train split has them")
  sink = Strict()
  meta_path = meta_expressions_path(root, split)
  videos = read_meta_expressions(root, split, sink)
  if split == "valid":
    test = read_meta_expressions(root, "test", sink)
    videos = {v: videos[v] for v in sorted(set(videos) - set(test))}
  objects_meta = {}
  meta_json = os.path.join(root, META_JSON)
  if split == "train" and use_meta_json and os.path.isfile(meta_json):
    objects_meta = (read_json(sink, meta_json, "meta.json") or {}).get("videos", {})
  samples = []
  for vid in sorted(videos):
    frames, expressions = check_expressions(sink, meta_path, vid, videos[vid],
                                            split == "train")
    img_dir = frames_dir(root, split, vid)
    paths = check_frames(sink, img_dir, frames, split, vid)
    height, width = read_image(sink, paths[0], False, "frame")  # Header: for `info`.
    video = FrameFolder(paths)
    ann_dir = annotations_dir(root, vid)
    present: dict[int, set[str]] = {}
    if split == "train":
      check_annotations(sink, ann_dir, img_dir, frames, vid)
      if vid in objects_meta:
        present = {int(k): set(o.get("frames", []))
                   for k, o in objects_meta[vid].get("objects", {}).items()}
      else:
        present = object_frames(sink, ann_dir, frames)
      expressions = check_objects(sink, meta_path, vid, ann_dir, expressions, present)
    for exp_id, exp in expressions.items():
      obj_id = exp["obj_id"]
      category = None
      if vid in objects_meta:
        category = objects_meta[vid].get("objects", {}).get(str(obj_id), {}).get(
            "category")
      for t, frame in enumerate(frames):
        is_present = frame in present.get(obj_id, ()) if split == "train" else None
        if targets == "present" and not is_present:
          continue
        info: dict[str, Any] = {
            "split": split, "exp_id": exp_id, "obj_id": obj_id, "frame": frame,
            "num_frames": len(frames), "height": height, "width": width}
        if split == "train":
          info["category"] = category
          info["present"] = bool(is_present)
        mask = (PaletteMask(os.path.join(ann_dir, frame + ".png"), obj_id)
                if split == "train" else None)
        samples.append(Sample(
            sample_id=f"{vid}/{exp_id}/{frame}", video_id=vid, video=video, target=t,
            sentence=exp["exp"], mask=mask, info=info))
  return samples


# ----------------------------------------------------------------------------------------
# Writers (the palette PNGs of YouTube-VOS and DAVIS; shared by the video evaluator's
# submission pictures and the test fixtures)


def palette() -> list[int]:
  """The 256-colour PASCAL-VOC/DAVIS palette as a flat `[r, g, b, ...]` list."""
  out = []
  for label in range(256):
    r = g = b = 0
    c = label
    for bit in range(8):  # Spread the label's bits over the colour's high bits.
      r |= ((c >> 0) & 1) << (7 - bit)
      g |= ((c >> 1) & 1) << (7 - bit)
      b |= ((c >> 2) & 1) << (7 - bit)
      c >>= 3
    out += [r, g, b]
  return out


def write_index_png(path: str, labels: np.ndarray) -> None:
  """Writes a uint8 label map as a palette ('P') PNG, as DAVIS / YouTube-VOS do."""
  os.makedirs(os.path.dirname(path), exist_ok=True)
  im = Image.fromarray(labels.astype(np.uint8))
  im.putpalette(palette())  # 'L' + palette -> 'P'.
  im.save(path)


# ----------------------------------------------------------------------------------------
# Validator: Refer-YouTube-VOS


def validate(root: str, quick: bool = False) -> Report:
  """Checks train / valid (valid minus test) / test and their meta_expressions.

  The reader's checks with a collecting sink, plus every JPEG decoded (headers only
  with `quick`), mask sizes against the frames and `train/meta.json` against the PNGs.
  """
  report = Report()
  meta = {split: read_meta_expressions(root, split, report) for split in SPLITS}
  meta_json_path = os.path.join(root, META_JSON)
  objects_meta = {}
  if os.path.isfile(meta_json_path):
    objects_meta = (read_json(report, meta_json_path, "meta.json") or {}).get(
        "videos", {})
  else:
    report.note(meta_json_path, "missing: the reader will scan the annotation PNGs")
  test_videos = set(meta["test"])
  scored = sorted(set(meta["valid"]) - test_videos)
  report.note(meta_expressions_path(root, "valid"),
              f"{len(scored)} scored validation videos (valid minus test; 202 in the "
              "real release)")
  for split, videos in (("train", sorted(meta["train"])), ("valid", scored),
                        ("test", sorted(test_videos))):
    path = meta_expressions_path(root, split)
    if split == "test" and not os.path.isdir(os.path.join(root, "test", "JPEGImages")):
      report.note(os.path.join(root, "test", "JPEGImages"), "missing (test split "
                                                            "unavailable)")
      continue
    for vid in progress.track(videos, f"validating {split}", "video"):
      frames, exps = check_expressions(report, path, vid, meta[split][vid],
                                       split == "train")
      img_dir = frames_dir(root, split, vid)
      paths = check_frames(report, img_dir, frames, split, vid)
      if not os.path.isdir(img_dir):
        continue
      sizes = {}
      for p in paths:
        img = read_image(report, p, not quick, "frame")
        if img is not None:
          sizes[os.path.basename(p)[:-4]] = img if isinstance(img, tuple) else (
              img.shape[:2])
      if split != "train":
        continue
      ann_dir = annotations_dir(root, vid)
      if not check_annotations(report, ann_dir, img_dir, frames, vid):
        continue
      present: dict[int, set[str]] = collections.defaultdict(set)
      for name in frames:
        png = os.path.join(ann_dir, name + ".png")
        if not os.path.isfile(png):
          continue  # Reported by check_annotations.
        labels = read_label_png(report, png)
        if labels is None:
          continue
        if name in sizes and labels.shape[:2] != tuple(sizes[name]):
          report.error(png, f"mask size {labels.shape[:2]} != frame size {sizes[name]}")
        for obj in np.unique(labels):
          present[int(obj)].add(name)
      if vid in objects_meta:
        for obj, o in objects_meta[vid].get("objects", {}).items():
          listed = set(o.get("frames", [])) & set(frames)
          if str(obj).isdigit() and listed != present.get(int(obj), set()) & set(frames):
            report.error(meta_json_path, f"video '{vid}' object {obj}: frames disagree "
                                         f"with the annotation PNGs")
      check_objects(report, path, vid, ann_dir, exps, present)
  return report
