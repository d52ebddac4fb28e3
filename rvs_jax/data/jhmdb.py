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
import json
import os
import re
from typing import Any, Collection, Sequence

import numpy as np
import scipy.io

from rvs_jax import progress
from rvs_jax.data.checks import Report, Strict, read_image, read_lines
from rvs_jax.data.types import DataError, Sample
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
  return read_part_mask(Strict(), path)


def read_part_mask(sink, path: str) -> np.ndarray | None:
  """The `part_mask` array `(H, W, T)` of a `puppet_mask.mat`; None after an error."""
  if not os.path.isfile(path):
    sink.error(path, "missing mask file")
    return None
  try:
    mat = scipy.io.loadmat(path)
  except Exception as e:  # pylint: disable=broad-except
    # scipy raises anything from OSError to IndexError on a truncated file; the file is
    # the only input here, so every failure is this file's problem.
    sink.error(path, f"unreadable .mat file, truncated? ({type(e).__name__}: {e})")
    return None
  if MASK_KEY not in mat:
    sink.error(path, f"no '{MASK_KEY}' variable (found "
                     f"{sorted(k for k in mat if not k.startswith('__'))})")
    return None
  masks = np.asarray(mat[MASK_KEY])
  if masks.ndim == 2:  # A one-frame video loses its trailing axis in MATLAB.
    masks = masks[:, :, None]
  if masks.ndim != 3:
    sink.error(path, f"'{MASK_KEY}' has shape {masks.shape}, expected [H, W, T]")
    return None
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


def num_mask_frames(sink, path: str) -> int | None:
  """Number of masks `T` in a `puppet_mask.mat`, read from the header only."""
  if not os.path.isfile(path):
    sink.error(path, "missing mask file")
    return None
  try:
    for name, shape, _ in scipy.io.whosmat(path):
      if name == MASK_KEY:
        return 1 if len(shape) == 2 else int(shape[2])
  except Exception as e:  # pylint: disable=broad-except
    sink.error(path, f"unreadable .mat file, truncated? ({type(e).__name__}: {e})")
    return None
  sink.error(path, f"no '{MASK_KEY}' variable")
  return None


def check_mask_count(sink, mask_path: str, n_masks: int, n_frames: int,
                     video_dir: str) -> bool:
  """Masks pair with frames 1..T; more masks than frames is an error. True if usable."""
  if n_masks > n_frames:
    sink.error(mask_path, f"frame-count mismatch: {n_masks} masks but only {n_frames} "
                          f"frames in {video_dir}")
    return False
  if n_masks == 0:
    sink.error(mask_path, "no masks")
    return False
  if n_masks < n_frames:
    sink.note(mask_path, f"{n_masks} masks for {n_frames} frames: only frames "
                         f"1..{n_masks} are usable")
  if n_masks < SAMPLES_PER_VIDEO:
    sink.note(mask_path, f"only {n_masks} usable frames: fewer than "
                         f"{SAMPLES_PER_VIDEO} samples")
  return True


# ----------------------------------------------------------------------------------------
# Annotation and layout


def split_annotation_row(row: list[str]) -> tuple[str, str]:
  """`(video_id, query)` of a `jhmdb_annotation.txt` row, stripped.

  An unquoted comma inside the sentence splits it into more fields: they are joined back.
  """
  return row[0].strip(), ",".join(row[1:]).strip()


def read_annotations(path: str, sink=None, videos: Collection[str] | None = None
                     ) -> list[tuple[str, str]]:
  """Reads and checks `jhmdb_annotation.txt`: `(video_id, query)` rows in file order.

  Errors: missing, not UTF-8, empty, wrong header, header only, duplicate video and --
  when `videos` (the folders of `Rename_Images`) is given -- a video without any row (a
  truncated file: every J-HMDB video has one sentence). Skipped (warning): an empty
  sentence, a sentence of a video that has no frames folder.
  """
  sink = sink or Strict()
  got = read_lines(sink, path, "annotation file")
  if got is None:
    return []
  body = [(n, line) for n, line in enumerate(got[0], start=1) if line.strip()]
  if not body:
    sink.error(path, "empty file (expected the header video_id,query and one row per "
                     "video)")
    return []
  header_no, header = body[0]
  if tuple(c.strip() for c in next(csv.reader([header]))[:2]) != ANNOTATION_HEADER:
    sink.error(f"{path}:{header_no}", f"expected header 'video_id,query', got "
                                      f"{header!r}")
  if len(body) == 1:
    sink.error(path, "no annotations (header only)")
  out, seen = [], {}
  for line_no, line in body[1:]:
    where = f"{path}:{line_no}"
    video_id, query = split_annotation_row(next(csv.reader([line])))
    if video_id in seen:
      sink.error(where, f"duplicate video '{video_id}' (also on line {seen[video_id]})")
      continue
    seen[video_id] = line_no
    if videos is not None and video_id not in videos:
      sink.skip(where, video_id, f"sentence skipped: no frames folder "
                                 f"{FRAMES_DIR}/*/{video_id}")
    elif not query:
      sink.skip(where, video_id, "sentence skipped: empty sentence")
    else:
      out.append((video_id, query))
  if videos is not None and len(body) > 1:
    lost = sorted(set(videos) - set(seen))
    if lost:
      sink.error(path, f"no sentence for {len(lost)} video(s) of {FRAMES_DIR} (e.g. "
                       f"{lost[:3]}): file truncated?")
  return out


def index_actions(root: str, sink=None) -> dict[str, str]:
  """Maps video id -> action folder, from `Rename_Images/<action>/<video_id>`."""
  sink = sink or Strict()
  frames_root = os.path.join(root, FRAMES_DIR)
  if not os.path.isdir(frames_root):
    sink.error(frames_root, "missing frames folder")
    return {}
  index: dict[str, str] = {}
  for action in sorted(os.listdir(frames_root)):
    action_dir = os.path.join(frames_root, action)
    if not os.path.isdir(action_dir):
      continue
    for video_id in sorted(os.listdir(action_dir)):
      if video_id in index:
        sink.error(os.path.join(action_dir, video_id),
                   f"video also under action '{index[video_id]}'")
        continue
      index[video_id] = action
  return index


def list_frames(video_dir: str, sink=None) -> list[str]:
  """The frame paths `00001.png ...` in order; gaps and stray names are errors."""
  sink = sink or Strict()
  try:
    names = sorted(os.listdir(video_dir))
  except OSError:
    sink.error(video_dir, "missing frames folder")
    return []
  for n in names:
    if n.endswith(".png") and not _FRAME_RE.match(n):
      sink.error(os.path.join(video_dir, n), "unexpected file name (not %05d.png)")
  numbers = sorted(int(n[:5]) for n in names if _FRAME_RE.match(n))
  if not numbers:
    sink.error(video_dir, "no frames (expected 00001.png ...)")
    return []
  for k in sorted(set(range(1, numbers[-1] + 1)) - set(numbers)):
    # A gap would shift every later frame against its mask.
    sink.error(os.path.join(video_dir, f"{k:05d}.png"), "missing frame")
  return [os.path.join(video_dir, f"{k:05d}.png") for k in numbers]


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
  sink = Strict()
  actions = index_actions(root, sink)
  annotations = read_annotations(os.path.join(root, ANNOTATION_FILE), sink, actions)
  chosen = read_samples_file(samples_file) if samples_file else None
  samples = []
  for video_id, query in annotations:
    action = actions[video_id]
    video_dir = os.path.join(root, FRAMES_DIR, action, video_id)
    frames = list_frames(video_dir, sink)
    mask_path = os.path.join(root, MASKS_DIR, action, video_id, MASK_FILE)
    n_masks = num_mask_frames(sink, mask_path)
    check_mask_count(sink, mask_path, n_masks, len(frames), video_dir)
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
    height, width = read_image(sink, frames[0], False, "frame")  # Header: for `info`.
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
  """Checks `Rename_Images/`, `puppet_mask/` and `jhmdb_annotation.txt`.

  The reader's checks (`index_actions`, `read_annotations`, `list_frames`,
  `read_part_mask`, `check_mask_count`) with a collecting sink, plus every frame decoded
  (headers only with `quick`), mask sizes against the frames and empty masks.
  """
  report = Report()
  actions = index_actions(root, report)
  rows = read_annotations(os.path.join(root, ANNOTATION_FILE), report, actions)
  for video_id, _ in progress.track(rows, "validating", "video"):
    action = actions[video_id]
    video_dir = os.path.join(root, FRAMES_DIR, action, video_id)
    frames = list_frames(video_dir, report)
    if not frames:
      continue
    frame_size = None
    for path in frames:
      img = read_image(report, path, not quick, "frame")
      if img is not None and frame_size is None:
        frame_size = img if isinstance(img, tuple) else img.shape[:2]
    mask_path = os.path.join(root, MASKS_DIR, action, video_id, MASK_FILE)
    masks = read_part_mask(report, mask_path)
    if masks is None:
      continue
    n_masks = masks.shape[2]
    # The last frame's number: a gap is reported once (missing frame), not twice.
    n_frames = int(os.path.basename(frames[-1])[:5])
    check_mask_count(report, mask_path, n_masks, n_frames, video_dir)
    if frame_size is not None and tuple(masks.shape[:2]) != tuple(frame_size):
      report.error(mask_path, f"mask size {masks.shape[:2]} != frame size {frame_size}")
    empty = [t + 1 for t in range(min(n_masks, n_frames)) if not masks[:, :, t].any()]
    if empty:
      report.error(mask_path, f"empty mask on frames {empty}")
  return report
