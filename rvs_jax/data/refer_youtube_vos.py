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
import json
import os
from typing import Any

import numpy as np
from PIL import Image

from rvs_jax.data.types import DataError, Sample
from rvs_jax.data.validate import Report, load_json, read_image
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


@functools.lru_cache(maxsize=16)
def read_index_png(path: str) -> np.ndarray:
  # Cached: all expressions of a video on one frame read the same PNG in a row.
  try:
    with Image.open(path) as im:
      return np.array(im.convert("P"))
  except FileNotFoundError as e:
    raise DataError(f"{path}: missing annotation PNG") from e
  except (OSError, ValueError) as e:
    raise DataError(f"{path}: unreadable annotation PNG ({e})") from e


@dataclasses.dataclass(frozen=True)
class PaletteMask:
  """One object of an indexed ('P') annotation PNG: `png == obj_id` (MaskSource)."""
  path: str
  obj_id: int

  def load(self) -> np.ndarray:
    return read_index_png(self.path) == self.obj_id


def read_json(path: str) -> Any:
  """Reads a UTF-8 JSON file; raises DataError naming it."""
  try:
    with open(path, "rb") as f:
      raw = f.read()
  except OSError as e:
    raise DataError(f"{path}: cannot read ({e})") from e
  try:
    return json.loads(raw.decode("utf-8"))
  except UnicodeDecodeError as e:
    raise DataError(f"{path}: not UTF-8 ({e})") from e
  except ValueError as e:
    raise DataError(f"{path}: invalid JSON ({e})") from e


def read_meta_expressions(root: str, split: str) -> dict[str, Any]:
  """Returns `{vid: {"expressions": {...}, "frames": [...]}}` of one split's file."""
  path = meta_expressions_path(root, split)
  meta = read_json(path)
  if not isinstance(meta, dict) or not isinstance(meta.get("videos"), dict):
    raise DataError(f"{path}: expected {{'videos': {{...}}}}")
  return meta["videos"]


def scored_valid_videos(root: str) -> list[str]:
  """The scored validation videos: valid meta minus test meta, sorted."""
  valid = read_meta_expressions(root, "valid")
  test = read_meta_expressions(root, "test")
  return sorted(set(valid) - set(test))


def _object_frames_from_pngs(ann_dir: str, frames: list[str]) -> dict[int, set[str]]:
  present: dict[int, set[str]] = {}
  for name in frames:
    for obj_id in np.unique(read_index_png(os.path.join(ann_dir, name + ".png"))):
      present.setdefault(int(obj_id), set()).add(name)
  return present


def load_refer_youtube_vos(root: str, split: str = "train", *,
                           targets: str | None = None,
                           use_meta_json: bool = True) -> list[Sample]:
  """Reads one split of Refer-YouTube-VOS.

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
      inconsistent metadata, or an empty expression.
  """
  if split not in SPLITS:
    raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
  targets = targets or ("present" if split == "train" else "all")
  if targets not in ("present", "all"):
    raise ValueError(f"targets must be 'present' or 'all', got {targets!r}")
  if targets == "present" and split != "train":
    raise ValueError("targets='present' needs masks: only the train split has them")
  meta_path = meta_expressions_path(root, split)
  videos = read_meta_expressions(root, split)
  if split == "valid":
    test = read_meta_expressions(root, "test")
    videos = {v: videos[v] for v in sorted(set(videos) - set(test))}
  objects_meta = {}
  meta_json = os.path.join(root, META_JSON)
  if split == "train" and use_meta_json and os.path.isfile(meta_json):
    objects_meta = read_json(meta_json).get("videos", {})
  samples = []
  for vid in sorted(videos):
    entry = videos[vid]
    frames = sorted(entry.get("frames") or [])
    expressions = entry.get("expressions") or {}
    if not frames:
      raise DataError(f"{meta_path}: video '{vid}' lists no frames")
    if not expressions:
      raise DataError(f"{meta_path}: video '{vid}' has no expressions")
    img_dir = frames_dir(root, split, vid)
    try:
      on_disk = set(os.listdir(img_dir))
    except OSError as e:
      raise DataError(f"{img_dir}: missing frames folder for video '{vid}'") from e
    missing = [f + ".jpg" for f in frames if f + ".jpg" not in on_disk]
    if missing:
      raise DataError(f"{img_dir}: missing frames {missing[:5]} "
                      f"({len(missing)} of {len(frames)} listed in {meta_path})")
    paths = [os.path.join(img_dir, f + ".jpg") for f in frames]
    with Image.open(paths[0]) as im:  # Header only: the size, for `info`.
      width, height = im.size
    video = FrameFolder(paths)
    ann_dir = annotations_dir(root, vid)
    present: dict[int, set[str]] = {}
    if split == "train":
      try:
        pngs = set(os.listdir(ann_dir))
      except OSError as e:
        raise DataError(f"{ann_dir}: missing annotation folder for video '{vid}'") from e
      missing = [f + ".png" for f in frames if f + ".png" not in pngs]
      if missing:
        raise DataError(f"{ann_dir}: missing annotation PNGs {missing[:5]} "
                        f"({len(missing)} of {len(frames)} frames)")
      if vid in objects_meta:
        present = {int(k): set(o.get("frames", []))
                   for k, o in objects_meta[vid].get("objects", {}).items()}
      elif targets == "present":
        present = _object_frames_from_pngs(ann_dir, frames)
    for exp_id in sorted(expressions, key=lambda k: (len(k), k)):
      exp = expressions[exp_id]
      sentence = exp.get("exp", "")
      if not isinstance(sentence, str) or not sentence.strip():
        raise DataError(f"{meta_path}: empty expression '{exp_id}' of video '{vid}'")
      obj_id = int(exp["obj_id"]) if "obj_id" in exp else None
      if split == "train" and obj_id is None:
        raise DataError(f"{meta_path}: expression '{exp_id}' of video '{vid}' has no "
                        f"obj_id")
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
          info["present"] = bool(is_present) if present or targets == "present" else None
        mask = (PaletteMask(os.path.join(ann_dir, frame + ".png"), obj_id)
                if split == "train" else None)
        samples.append(Sample(
            sample_id=f"{vid}/{exp_id}/{frame}", video_id=vid, video=video, target=t,
            sentence=sentence, mask=mask, info=info))
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




def _check_expressions(report: Report, path: str, vid: str, entry: Any,
                       need_obj_id: bool) -> dict[str, Any]:
  if not isinstance(entry, dict) or not isinstance(entry.get("expressions"), dict):
    report.error(path, f"video '{vid}': no 'expressions' dict")
    return {}
  if not entry.get("frames"):
    report.error(path, f"video '{vid}': no 'frames' list")
  if not entry["expressions"]:
    report.error(path, f"video '{vid}': empty expressions")
  for exp_id, exp in entry["expressions"].items():
    text = exp.get("exp") if isinstance(exp, dict) else None
    if not isinstance(text, str) or not text.strip():
      report.error(path, f"video '{vid}' expression '{exp_id}': empty sentence")
    elif "\ufffd" in text:
      report.error(path, f"video '{vid}' expression '{exp_id}': replacement character "
                         "(text was not UTF-8 before conversion)")
    if need_obj_id and not str((exp or {}).get("obj_id", "")).isdigit():
      report.error(path, f"video '{vid}' expression '{exp_id}': missing/bad obj_id")
  return entry["expressions"]


def validate(root: str, quick: bool = False) -> Report:
  """Checks train / valid (valid minus test) / test and their meta_expressions."""
  report = Report()
  meta = {}
  for split in ("train", "valid", "test"):
    path = meta_expressions_path(root, split)
    data = load_json(report, path)
    if data is not None and not isinstance(data.get("videos"), dict):
      report.error(path, "expected {'videos': {...}}")
      data = None
    meta[split] = (path, data["videos"] if data else {})
  meta_json_path = os.path.join(root, META_JSON)
  objects_meta = {}
  if os.path.isfile(meta_json_path):
    objects_meta = (load_json(report, meta_json_path) or {}).get("videos", {})
  else:
    report.note(meta_json_path, "missing: the reader will scan the annotation PNGs")
  test_videos = set(meta["test"][1])
  scored = sorted(set(meta["valid"][1]) - test_videos)
  report.note(meta["valid"][0], f"{len(scored)} scored validation videos (valid minus "
                                f"test; 202 in the real release)")
  for split, videos in (("train", sorted(meta["train"][1])), ("valid", scored),
                        ("test", sorted(test_videos))):
    path, entries = meta[split]
    if split == "test" and not os.path.isdir(os.path.join(root, "test", "JPEGImages")):
      report.note(os.path.join(root, "test", "JPEGImages"), "missing (test split "
                                                            "unavailable)")
      continue
    for vid in videos:
      entry = entries[vid]
      exps = _check_expressions(report, path, vid, entry, split == "train")
      frames = sorted((entry or {}).get("frames") or [])
      img_dir = frames_dir(root, split, vid)
      if not os.path.isdir(img_dir):
        report.error(img_dir, f"missing frames folder ({split} video '{vid}')")
        continue
      sizes = {}
      for name in frames:
        img = read_image(report, os.path.join(img_dir, name + ".jpg"), not quick,
                          "frame")
        if img is not None:
          sizes[name] = img if isinstance(img, tuple) else img.shape[:2]
      if split != "train":
        continue
      ann_dir = annotations_dir(root, vid)
      if not os.path.isdir(ann_dir):
        report.error(ann_dir, f"missing annotation folder (video '{vid}')")
        continue
      n_jpg = len([n for n in os.listdir(img_dir) if n.endswith(".jpg")])
      n_png = len([n for n in os.listdir(ann_dir) if n.endswith(".png")])
      if n_jpg != n_png:
        report.error(ann_dir, f"frame-count mismatch: {n_png} PNGs, {n_jpg} JPEGs in "
                              f"{img_dir}")
      present: dict[int, set[str]] = collections.defaultdict(set)
      for name in frames:
        png = os.path.join(ann_dir, name + ".png")
        labels = read_image(report, png, True, "annotation PNG")
        if labels is None:
          continue
        with Image.open(png) as im:
          if im.mode != "P":
            report.error(png, f"not a palette PNG (mode {im.mode}): ids are unreliable")
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
      for exp_id, exp in exps.items():
        obj = str((exp or {}).get("obj_id", ""))
        if obj.isdigit() and not present.get(int(obj)):
          report.error(path, f"video '{vid}' expression '{exp_id}': object {obj} is "
                             f"empty in every frame of {ann_dir}")
  return report
