"""J-HMDB Sentences reader: the unpacked official layout -> `list[Sample]`.

Layout (the unpacked official release)::

  <root>/Rename_Images/<action>/<video_id>/%05d.png        1-indexed frames
  <root>/puppet_mask/<action>/<video_id>/puppet_mask.mat   `part_mask` uint8 [H, W, T]
  <root>/jhmdb_annotation.txt                              header `video_id,query`

J-HMDB Sentences is an evaluation-only benchmark (models are trained on A2D). It has one
sentence per video; the protocol scores **3 frames per video**, i.e. 928 x 3 = 2,784
samples. The frames are drawn among the frames that have a mask: some videos have fewer
masks than frames, and then only the first `T` frames (`T` = number of masks) are usable.

The draw is fixed, so every user scores the same samples:

* `sample_frames` ranks the usable frames of a video by
  `sha256("<seed>/<video_id>/<frame>")` and keeps the 3 smallest (sorted). This depends
  only on the seed, the video id and its number of usable frames -- not on the file
  system's listing order, the Python/NumPy version or the other videos -- so it is
  reproducible without any shipped file.
* The TFDS builder (`data/jhmdb_sentences`) still writes the chosen list into the
  built dataset (its metadata and the examples' `target`), and `load_jhmdb` accepts
  such a list back (`samples_file`) -- in our JSON format (`write_samples_file`) or in
  MTTR's `jhmdb_sentences_samples_metadata.json` format -- so a published list can be
  used to match another paper's split exactly.

Videos with fewer than 3 usable frames give fewer samples (none in the official data, as
far as we know); a video with no usable frame is an error.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import hashlib
import io
import json
import os
import re
from typing import Any, Sequence

import numpy as np
from PIL import Image
import scipy.io

from rvs_jax.data.types import DataError, Sample
from rvs_jax.data.validate import Report, decode_lines, read_image
from rvs_jax.data.video_io import FrameFolder

ANNOTATION_FILE = "jhmdb_annotation.txt"
ANNOTATION_HEADER = ("video_id", "query")
FRAMES_DIR = "Rename_Images"
MASKS_DIR = "puppet_mask"
MASK_FILE = "puppet_mask.mat"
MASK_KEY = "part_mask"
SAMPLES_PER_VIDEO = 3
DEFAULT_SEED = 2019  # CSTM's `opts.seed`; any fixed value works, this one is documented.
# A2D-trained models are applied zero-shot, so J-HMDB clips use A2D's frame stride
# (the registry's default `config.data.clip_stride`).
CLIP_STRIDE = 2
_FRAME_RE = re.compile(r"^(\d{5})\.png$")


# ----------------------------------------------------------------------------------------
# Sources


@functools.lru_cache(maxsize=4)
def _load_part_mask(path: str) -> np.ndarray:
  # Cached: the 3 samples of a video read the same .mat one after the other.
  try:
    mat = scipy.io.loadmat(path)
  except (OSError, ValueError, TypeError, NotImplementedError,
          scipy.io.matlab.MatReadError) as e:
    raise DataError(f"{path}: unreadable .mat file ({e})") from e
  if MASK_KEY not in mat:
    raise DataError(f"{path}: no '{MASK_KEY}' variable (found {sorted(mat)})")
  masks = np.asarray(mat[MASK_KEY])
  if masks.ndim == 2:  # A one-frame video loses its trailing axis in MATLAB.
    masks = masks[:, :, None]
  if masks.ndim != 3:
    raise DataError(f"{path}: '{MASK_KEY}' has shape {masks.shape}, expected [H, W, T]")
  return masks


@dataclasses.dataclass(frozen=True)
class PuppetMask:
  """Mask of one frame in a `puppet_mask.mat` file (MaskSource)."""
  path: str
  index: int  # 0-based frame index == index into the mat's last axis.

  def load(self) -> np.ndarray:
    masks = _load_part_mask(self.path)
    if self.index >= masks.shape[2]:
      raise DataError(f"{self.path}: no mask for frame {self.index + 1} "
                      f"(file has {masks.shape[2]})")
    return masks[:, :, self.index] > 0


def num_mask_frames(path: str) -> int:
  """Number of masks `T` in a `puppet_mask.mat`, read from the header only."""
  try:
    for name, shape, _ in scipy.io.whosmat(path):
      if name == MASK_KEY:
        return 1 if len(shape) == 2 else int(shape[2])
  except (OSError, ValueError, TypeError, NotImplementedError,
          scipy.io.matlab.MatReadError) as e:
    raise DataError(f"{path}: unreadable .mat file ({e})") from e
  raise DataError(f"{path}: no '{MASK_KEY}' variable")


# ----------------------------------------------------------------------------------------
# Annotation and layout


def split_annotation_row(row: list[str]) -> tuple[str, str]:
  """`(video_id, query)` of a `jhmdb_annotation.txt` row, stripped.

  An unquoted comma inside the sentence splits it into more fields: they are joined back.
  """
  return row[0].strip(), ",".join(row[1:]).strip()


def read_annotations(path: str) -> list[tuple[str, str]]:
  """Reads `jhmdb_annotation.txt` into `(video_id, query)` rows, in file order.

  Raises:
    DataError: missing file, not UTF-8, wrong header, empty query or duplicate video.
  """
  try:
    with open(path, "rb") as f:
      raw = f.read()
  except OSError as e:
    raise DataError(f"{path}: cannot read annotation file ({e})") from e
  try:
    text = raw.decode("utf-8-sig")
  except UnicodeDecodeError as e:
    raise DataError(f"{path}: not UTF-8 ({e})") from e
  rows = list(csv.reader(io.StringIO(text)))
  if not rows or tuple(c.strip() for c in rows[0][:2]) != ANNOTATION_HEADER:
    raise DataError(f"{path}: expected header 'video_id,query'")
  out, seen = [], set()
  for line_no, row in enumerate(rows[1:], start=2):
    if not row or not "".join(row).strip():
      continue
    video_id, query = split_annotation_row(row)
    if not query:
      raise DataError(f"{path}:{line_no}: empty query for video '{video_id}'")
    if video_id in seen:
      raise DataError(f"{path}:{line_no}: duplicate video '{video_id}'")
    seen.add(video_id)
    out.append((video_id, query))
  if not out:
    raise DataError(f"{path}: no annotations")
  return out


def index_actions(root: str) -> dict[str, str]:
  """Maps video id -> action folder, from `Rename_Images/<action>/<video_id>`."""
  frames_root = os.path.join(root, FRAMES_DIR)
  if not os.path.isdir(frames_root):
    raise DataError(f"{frames_root}: missing frames folder")
  index: dict[str, str] = {}
  for action in sorted(os.listdir(frames_root)):
    action_dir = os.path.join(frames_root, action)
    if not os.path.isdir(action_dir):
      continue
    for video_id in sorted(os.listdir(action_dir)):
      if video_id in index:
        raise DataError(f"{action_dir}/{video_id}: video also in action "
                        f"'{index[video_id]}'")
      index[video_id] = action
  return index


def list_frames(video_dir: str) -> list[str]:
  """Returns the sorted frame paths `00001.png ...`; raises on gaps or no frames."""
  try:
    names = sorted(n for n in os.listdir(video_dir) if _FRAME_RE.match(n))
  except OSError as e:
    raise DataError(f"{video_dir}: missing frames folder ({e})") from e
  if not names:
    raise DataError(f"{video_dir}: no frames (expected 00001.png ...)")
  expected = [f"{i:05d}.png" for i in range(1, len(names) + 1)]
  if names != expected:
    missing = sorted(set(expected) - set(names))[:5]
    raise DataError(f"{video_dir}: frames are not numbered 00001..{len(names):05d} "
                    f"(e.g. missing {missing})")
  return [os.path.join(video_dir, n) for n in names]


# ----------------------------------------------------------------------------------------
# The fixed frame draw


def sample_frames(video_id: str, num_usable: int, *, seed: int = DEFAULT_SEED,
                  count: int = SAMPLES_PER_VIDEO) -> list[int]:
  """The protocol's frames of one video: 1-indexed, sorted, at most `count`.

  Args:
    video_id: the J-HMDB video id (part of the hash, so videos draw independently).
    num_usable: number of frames with a mask (`min(#frames, #masks)`).
    seed: the draw's seed.
    count: frames per video.

  Returns:
    The chosen 1-indexed frame numbers in increasing order.
  """
  def key(frame: int) -> str:
    return hashlib.sha256(f"{seed}/{video_id}/{frame}".encode()).hexdigest()
  return sorted(sorted(range(1, num_usable + 1), key=key)[:count])


def write_samples_file(samples: Sequence[Sample], path: str) -> None:
  """Writes the chosen frames as JSON: `[{"video_id", "frame", "query"}, ...]`."""
  rows = [{"video_id": s.video_id, "frame": s.target + 1, "query": s.sentence}
          for s in samples]
  with open(path, "w", encoding="utf-8") as f:
    json.dump(rows, f, indent=0, ensure_ascii=False)


def read_samples_file(path: str) -> dict[str, list[int]]:
  """Reads a frame list: ours or MTTR's `[video_id, frame_path, mask_path, n, query]`.

  Returns:
    video id -> sorted 1-indexed frames.
  """
  try:
    with open(path, encoding="utf-8") as f:
      rows = json.load(f)
  except (OSError, ValueError) as e:
    raise DataError(f"{path}: unreadable samples file ({e})") from e
  chosen: dict[str, list[int]] = {}
  for row in rows:
    if isinstance(row, dict):
      video_id, frame = row["video_id"], int(row["frame"])
    else:  # MTTR: the frame number is the image file's stem.
      video_id = row[0]
      frame = int(os.path.splitext(os.path.basename(row[1]))[0])
    chosen.setdefault(video_id, []).append(frame)
  return {k: sorted(v) for k, v in chosen.items()}


# ----------------------------------------------------------------------------------------
# Reader


def load_jhmdb(root: str, split: str = "test", *, seed: int = DEFAULT_SEED,
               samples_file: str | None = None,
               samples_per_video: int = SAMPLES_PER_VIDEO) -> list[Sample]:
  """Reads J-HMDB Sentences into the protocol's samples (3 fixed frames per video).

  Args:
    root: the unpacked dataset (holds `Rename_Images/`, `puppet_mask/` and
      `jhmdb_annotation.txt`).
    split: only "test" exists (J-HMDB is evaluation-only); "all" is accepted as alias.
    seed: seed of the frame draw (see module docstring).
    samples_file: optional frame list (ours or MTTR's JSON); replaces the draw.
    samples_per_video: frames per video for the draw.

  Returns:
    Samples in annotation-file order, frames increasing within a video. `sample_id` is
    `<video_id>/<frame:05d>`; `info` holds `action`, `frame` (1-indexed),
    `num_frames`, `num_mask_frames`, `height` and `width`.

  Raises:
    DataError: naming the file, on any missing or inconsistent input.
  """
  if split not in ("test", "all"):
    raise ValueError(f"J-HMDB Sentences has only a 'test' split, got {split!r}")
  annotations = read_annotations(os.path.join(root, ANNOTATION_FILE))
  actions = index_actions(root)
  chosen = read_samples_file(samples_file) if samples_file else None
  samples = []
  for video_id, query in annotations:
    if video_id not in actions:
      raise DataError(f"{os.path.join(root, FRAMES_DIR)}: no folder for video "
                      f"'{video_id}' of {ANNOTATION_FILE}")
    action = actions[video_id]
    frames = list_frames(os.path.join(root, FRAMES_DIR, action, video_id))
    mask_path = os.path.join(root, MASKS_DIR, action, video_id, MASK_FILE)
    if not os.path.isfile(mask_path):
      raise DataError(f"{mask_path}: missing mask file for video '{video_id}'")
    n_masks = num_mask_frames(mask_path)
    if n_masks > len(frames):
      raise DataError(f"{mask_path}: {n_masks} masks but only {len(frames)} frames "
                      f"in {os.path.dirname(frames[0])}")
    if n_masks == 0:
      raise DataError(f"{mask_path}: no masks")
    if chosen is None:
      picks = sample_frames(video_id, n_masks, seed=seed, count=samples_per_video)
    else:
      if video_id not in chosen:
        raise DataError(f"{samples_file}: no frames for video '{video_id}'")
      picks = chosen[video_id]
      bad = [f for f in picks if not 1 <= f <= n_masks]
      if bad:
        raise DataError(f"{samples_file}: frames {bad} of '{video_id}' have no mask "
                        f"({mask_path} has {n_masks})")
    with Image.open(frames[0]) as im:  # Header only: the size, for `info`.
      width, height = im.size
    video = FrameFolder(frames)
    for frame in picks:
      info: dict[str, Any] = {
          "action": action, "frame": frame, "num_frames": len(frames),
          "num_mask_frames": n_masks, "height": height, "width": width}
      samples.append(Sample(
          sample_id=f"{video_id}/{frame:05d}", video_id=video_id, video=video,
          target=frame - 1, sentence=query, mask=PuppetMask(mask_path, frame - 1),
          info=info))
  return samples


# ----------------------------------------------------------------------------------------
# Validator: J-HMDB Sentences


def validate(root: str, quick: bool = False) -> Report:
  """Checks `Rename_Images/`, `puppet_mask/` and `jhmdb_annotation.txt`."""
  report = Report()
  ann_path = os.path.join(root, ANNOTATION_FILE)
  lines = decode_lines(report, ann_path) or []
  rows: list[tuple[int, str, str]] = []
  if lines and tuple(c.strip() for c in lines[0].split(",")[:2]) != ANNOTATION_HEADER:
    report.error(f"{ann_path}:1", "expected header 'video_id,query'")
  seen: dict[str, int] = {}
  for line_no, line in enumerate(lines[1:], start=2):
    if not line.strip():
      continue
    row = next(csv.reader([line]))
    video_id, query = split_annotation_row(row)
    if not query:
      report.error(f"{ann_path}:{line_no}", f"empty query for video '{video_id}'")
    if video_id in seen:
      report.error(f"{ann_path}:{line_no}",
                   f"video '{video_id}' also on line {seen[video_id]}")
    seen[video_id] = line_no
    rows.append((line_no, video_id, query))
  if lines and not rows:
    report.error(ann_path, "no annotations")
  frames_root = os.path.join(root, FRAMES_DIR)
  actions: dict[str, str] = {}
  if not os.path.isdir(frames_root):
    report.error(frames_root, "missing frames folder")
  else:
    for action in sorted(os.listdir(frames_root)):
      action_dir = os.path.join(frames_root, action)
      if os.path.isdir(action_dir):
        for video_id in sorted(os.listdir(action_dir)):
          if video_id in actions:
            report.error(os.path.join(action_dir, video_id),
                         f"video also under action '{actions[video_id]}'")
          actions[video_id] = action
  for video_id in sorted(set(actions) - set(seen)):
    report.note(os.path.join(frames_root, actions[video_id], video_id),
                "video has no sentence (not used)")
  for line_no, video_id, _ in rows:
    if video_id not in actions:
      report.error(f"{ann_path}:{line_no}",
                   f"no frames folder {FRAMES_DIR}/*/{video_id}")
      continue
    action = actions[video_id]
    video_dir = os.path.join(frames_root, action, video_id)
    names = sorted(n for n in os.listdir(video_dir) if n.endswith(".png"))
    numbers = sorted(int(n[:-4]) for n in names if n[:-4].isdigit() and len(n) == 9)
    if not numbers:
      report.error(video_dir, "no frames (expected 00001.png ...)")
      continue
    for k in sorted(set(range(1, numbers[-1] + 1)) - set(numbers)):
      report.error(os.path.join(video_dir, f"{k:05d}.png"), "missing frame")
    for n in names:
      if not (n[:-4].isdigit() and len(n) == 9):
        report.error(os.path.join(video_dir, n), "unexpected file name (not %05d.png)")
    n_frames = numbers[-1]
    frame_size = None
    for k in numbers:
      img = read_image(report, os.path.join(video_dir, f"{k:05d}.png"), not quick,
                        "frame")
      if img is not None and frame_size is None:
        frame_size = img if isinstance(img, tuple) else img.shape[:2]
    mask_path = os.path.join(root, MASKS_DIR, action, video_id, MASK_FILE)
    if not os.path.isfile(mask_path):
      report.error(mask_path, f"missing mask file for video '{video_id}'")
      continue
    try:
      mat = scipy.io.loadmat(mask_path)
    except (OSError, ValueError, TypeError, NotImplementedError,
            scipy.io.matlab.MatReadError) as e:
      report.error(mask_path, f"unreadable .mat file ({e})")
      continue
    if MASK_KEY not in mat:
      report.error(mask_path, f"no '{MASK_KEY}' variable")
      continue
    masks = np.asarray(mat[MASK_KEY])
    if masks.ndim == 2:
      masks = masks[:, :, None]
    if masks.ndim != 3:
      report.error(mask_path, f"'{MASK_KEY}' has shape {masks.shape}")
      continue
    n_masks = masks.shape[2]
    if n_masks > n_frames:
      report.error(mask_path, f"frame-count mismatch: {n_masks} masks, {n_frames} "
                              f"frames in {video_dir}")
    elif n_masks < n_frames:
      report.note(mask_path, f"{n_masks} masks for {n_frames} frames: only frames "
                             f"1..{n_masks} are usable")
    if 0 < n_masks < SAMPLES_PER_VIDEO:
      report.note(mask_path, f"only {n_masks} usable frames: fewer than "
                             f"{SAMPLES_PER_VIDEO} samples")
    if frame_size is not None and tuple(masks.shape[:2]) != tuple(frame_size):
      report.error(mask_path, f"mask size {masks.shape[:2]} != frame size {frame_size}")
    empty = [t + 1 for t in range(min(n_masks, n_frames)) if not masks[:, :, t].any()]
    if empty:
      report.error(mask_path, f"empty mask on frames {empty}")
  return report
