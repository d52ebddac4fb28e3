"""A2D Sentences: the official layout, its reader, validator and writers.

Layout (paths relative to `root`):

  Release/videoset.csv            no header, 9 columns: vid, label, start_time, end_time,
                                  height, width, total_frames, annotated_frames, subset
                                  (subset 0 = train, 1 = test)
  Release/clips320H/<vid>.mp4     the videos (height 320)
  text_annotations/a2d_annotation.txt        header "video_id,instance_id,query"
  text_annotations/a2d_missed_videos.txt     videos without sentences (excluded)
  text_annotations/a2d_annotation_with_instances/<vid>/<frame:05d>.h5
                                  one file per annotated frame (1-based frame numbers)

The h5 files were written by MATLAB v7.3, i.e. column-major, so h5py sees every array
transposed: `reMask` is `(N, W, H)` (or `(W, H)` when the frame has a single mask),
`reBBox` `(4, N)`, `id` `(1, N)`, `instance` `(N,)` (or `(1, N)` / `(N, 1)`).

Sample rule (MTTR's `a2d_sentences` enumeration, the same idea as CSTM's `train.txt` /
`test.txt`): for every (video, instance, query) row of a video of the split, and every
annotated frame of that video whose `instance` list contains the instance id, one sample
with target = frame - 1 (0-based) and the mask at the *first* position of the instance id
in `instance`. Frames where the instance is absent are skipped.

Known anomalies of the real data, all handled here:
  * one annotation row has instance id `"1 (copy)"` (video T6bNPuKV-wY): dropped, as in
    MTTR (any non-integer instance id is dropped and counted in the log);
  * `EadxBPmQvtg/00025` lists instance 1 twice: the first matching mask is used and only
    one sample is produced;
  * `95Nq6fQoP2o/00032`, `I0MlLHTWCro/00020`, `IRrbHQjE4LQ/00016` have more masks than
    instance ids (extra masks at the end): masks are indexed by the instance position, so
    the extra masks are never used;
  * videos listed in `a2d_missed_videos.txt` are excluded even if they have rows.

Counts on the real data (from CSTM's sample lists and an independent enumeration, not
re-measured here because the data set is not on this machine): CSTM's lists have 15,691
train samples (3,017 videos, 9,477 frames) and 3,794 test samples (737 videos, 2,337
frames). An independent enumeration of the same rule gives 3,800 test samples, so this reader is
expected to produce about 15,7xx / 3,800: CSTM's lists are a few samples shorter for
undocumented reasons (probably empty masks). Treat the train count as approximate
(within a few tens) and the test count as 3,800 +- 6 until checked on the data.
"""

from __future__ import annotations

import collections
import csv
import json
import logging
import os
from typing import Any, Sequence

import h5py
import numpy as np

from rvs_jax.data.types import DataError, Sample
from rvs_jax.data.validate import Report, decode_lines
from rvs_jax.data import video_io
from rvs_jax.data.video_io import Mp4Video

SPLITS = {"train": 0, "test": 1}
CLIP_STRIDE = 2  # CSTM's A2D clips: 8 frames two apart around the target.
VIDEOSET_FILE = "Release/videoset.csv"
CLIPS_DIR = "Release/clips320H"
ANNOTATION_FILE = "text_annotations/a2d_annotation.txt"
MISSED_FILE = "text_annotations/a2d_missed_videos.txt"
ANNOTATION_DIR = "text_annotations/a2d_annotation_with_instances"
ANNOTATION_HEADER = ("video_id", "instance_id", "query")
META_FILE = "synthetic_meta.json"  # Only present in the synthetic benchmark.

log = logging.getLogger(__name__)


def _instances(f: h5py.File, path: str) -> np.ndarray:
  """The `instance` ids of an open h5 file as a flat int64 array."""
  if "instance" not in f:
    raise DataError(f"{path}: no 'instance' dataset")
  return np.asarray(f["instance"][()]).reshape(-1).astype(np.int64)


class A2DMask:
  """`MaskSource` for one instance of one annotated frame (an A2D `.h5` file)."""

  def __init__(self, path: str, instance_id: int):
    self.path = path
    self.instance_id = int(instance_id)

  def __repr__(self) -> str:
    return f"A2DMask({self.path!r}, instance={self.instance_id})"

  def load(self) -> np.ndarray:
    """Bool `(H, W)` mask of the instance (first match in `instance`)."""
    try:
      with h5py.File(self.path, "r") as f:
        instances = _instances(f, self.path)
        hits = np.flatnonzero(instances == self.instance_id)
        if hits.size == 0:
          raise DataError(f"{self.path}: instance {self.instance_id} not in {instances}")
        idx = int(hits[0])
        if "reMask" not in f:
          raise DataError(f"{self.path}: no 'reMask' dataset")
        masks = np.asarray(f["reMask"][()])
    except DataError:
      raise
    except (OSError, KeyError, ValueError) as e:
      raise DataError(f"cannot read mask file {self.path} (instance "
                      f"{self.instance_id}): {e}") from e
    if masks.ndim == 2:
      # MATLAB drops the trailing singleton dimension when the frame has one mask.
      if idx != 0:
        raise DataError(f"{self.path}: single mask but instance {self.instance_id} is at "
                        f"position {idx}")
      mask = masks.T
    elif masks.ndim == 3:
      if idx >= masks.shape[0]:
        raise DataError(f"{self.path}: {masks.shape[0]} masks, instance "
                        f"{self.instance_id} is at position {idx}")
      mask = masks[idx].T  # (W, H) column-major -> (H, W).
    else:
      raise DataError(f"{self.path}: reMask has shape {masks.shape}")
    return mask > 0


def parse_videoset_row(row: Sequence[str]) -> dict[str, Any]:
  """One 9-column `videoset.csv` row -> dict; raises ValueError on a non-integer."""
  return dict(vid=row[0].strip(), label=int(row[1]), height=int(row[4]),
              width=int(row[5]), total_frames=int(row[6]),
              annotated_frames=int(row[7]), subset=int(row[8]))


def split_annotation_row(row: Sequence[str]) -> tuple[str, str, str]:
  """`(video_id, instance_id, query)` of an `a2d_annotation.txt` row, stripped.

  A query with an unquoted comma splits into more fields: they are joined back.
  """
  return row[0].strip(), row[1].strip(), ",".join(row[2:]).strip()


def read_videoset(root: str) -> list[dict[str, Any]]:
  """Parses `Release/videoset.csv` (no header, 9 columns).

  Returns:
    One dict per row: vid, label, height, width, total_frames, annotated_frames, subset.
  """
  path = os.path.join(root, VIDEOSET_FILE)
  if not os.path.isfile(path):
    raise DataError(f"A2D video list not found: {path}")
  rows = []
  with open(path, newline="", encoding="utf-8") as f:
    for lineno, row in enumerate(csv.reader(f), 1):
      if not row or not "".join(row).strip():
        continue
      if len(row) != 9:
        raise DataError(f"{path}:{lineno}: expected 9 columns, got {len(row)}: {row}")
      try:
        rows.append(parse_videoset_row(row))
      except ValueError as e:
        raise DataError(f"{path}:{lineno}: bad row {row}: {e}") from e
  return rows


def read_annotations(root: str) -> tuple[dict[str, list[tuple[int, str]]], int]:
  """Parses `a2d_annotation.txt`.

  Returns:
    ({video_id: [(instance_id, query), ...]} in file order, number of dropped rows).
  """
  path = os.path.join(root, ANNOTATION_FILE)
  if not os.path.isfile(path):
    raise DataError(f"A2D annotation file not found: {path}")
  out: dict[str, list[tuple[int, str]]] = collections.defaultdict(list)
  dropped = 0
  with open(path, newline="", encoding="utf-8") as f:
    reader = csv.reader(f)
    header = next(reader, None)
    if header is None or tuple(h.strip() for h in header[:3]) != ANNOTATION_HEADER:
      raise DataError(f"{path}: expected header video_id,instance_id,query, got {header}")
    for lineno, row in enumerate(reader, 2):
      if not row:
        continue
      if len(row) < 3:
        raise DataError(f"{path}:{lineno}: expected 3 columns, got {row}")
      vid, inst, query = split_annotation_row(row)
      try:
        inst_id = int(inst)
      except ValueError:
        # The real file's "1 (copy)" row (T6bNPuKV-wY); MTTR drops it too.
        dropped += 1
        log.info("%s:%d: dropping row with instance id %r", path, lineno, inst)
        continue
      out[vid].append((inst_id, query))
  return dict(out), dropped


def read_missed(root: str) -> set[str]:
  """Video ids in `a2d_missed_videos.txt` (empty set when the file is absent)."""
  path = os.path.join(root, MISSED_FILE)
  if not os.path.isfile(path):
    return set()
  with open(path, encoding="utf-8") as f:
    return {line.strip() for line in f if line.strip()}


def _read_kinds(root: str) -> dict[tuple[str, int], str]:
  path = os.path.join(root, META_FILE)
  if not os.path.isfile(path):
    return {}
  with open(path, encoding="utf-8") as f:
    meta = json.load(f)
  kinds = {}
  for vid, v in meta.get("videos", {}).items():
    for inst, o in v.get("objects", {}).items():
      if o.get("kind"):
        kinds[(vid, int(inst))] = o["kind"]
  return kinds


def load_a2d(root: str | os.PathLike, split: str) -> list[Sample]:
  """Reads A2D Sentences (or the synthetic benchmark, which uses the same layout).

  Every annotated frame's h5 file is opened once to read its `instance` list (about
  12k files for the real data: a few seconds); masks are read lazily by `A2DMask`.

  Args:
    root: the folder holding `Release/` and `text_annotations/`.
    split: "train" or "test".

  Returns:
    Samples ordered by (video in videoset.csv order, frame, annotation row order).
    `sample_id` is `<vid>/<frame:05d>/<instance>`; `info` holds instance_id, frame
    (1-based), height, width, label (A2D actor-action id of the instance when the h5 has
    `id`, else the video label) and, for the synthetic benchmark, kind.

  Raises:
    DataError: missing or malformed files (the message names the file).
  """
  root = os.fspath(root)
  if split not in SPLITS:
    raise ValueError(f"split must be one of {sorted(SPLITS)}, got {split!r}")
  videos = read_videoset(root)
  annotations, _ = read_annotations(root)
  missed = read_missed(root)
  kinds = _read_kinds(root)
  samples: list[Sample] = []
  for v in videos:
    vid = v["vid"]
    if v["subset"] != SPLITS[split] or vid in missed or vid not in annotations:
      continue
    clip = os.path.join(root, CLIPS_DIR, f"{vid}.mp4")
    if not os.path.isfile(clip):
      raise DataError(f"video file not found: {clip} (video {vid})")
    video = Mp4Video(clip)
    ann_dir = os.path.join(root, ANNOTATION_DIR, vid)
    if not os.path.isdir(ann_dir):
      raise DataError(f"annotation folder not found: {ann_dir} (video {vid})")
    # Rows of this video, exact duplicates removed. An instance with several distinct
    # queries gives one sample per query; its sample ids get a "#k" suffix (k >= 1) from
    # the second query on, so ids stay unique.
    rows = list(dict.fromkeys(annotations[vid]))
    per_inst: dict[int, int] = collections.Counter()
    suffix = []
    for inst, _ in rows:
      suffix.append(per_inst[inst])
      per_inst[inst] += 1
    h5_files = sorted(n for n in os.listdir(ann_dir) if n.endswith(".h5"))
    if not h5_files:
      raise DataError(f"no .h5 annotation in {ann_dir} (video {vid})")
    for name in h5_files:
      path = os.path.join(ann_dir, name)
      try:
        frame = int(os.path.splitext(name)[0])
      except ValueError as e:
        raise DataError(f"annotation file name is not a frame number: {path}") from e
      try:
        with h5py.File(path, "r") as f:
          instances = _instances(f, path)
          labels = (np.asarray(f["id"][()]).reshape(-1) if "id" in f else None)
      except DataError:
        raise
      except (OSError, KeyError, ValueError) as e:
        raise DataError(f"cannot read annotation file {path}: {e}") from e
      for k, (inst, query) in enumerate(rows):
        hits = np.flatnonzero(instances == inst)
        if hits.size == 0:
          continue
        idx = int(hits[0])  # First match: EadxBPmQvtg/00025 lists instance 1 twice.
        label = (int(labels[idx]) if labels is not None and idx < labels.size
                 else v["label"])
        info = dict(instance_id=inst, frame=frame, height=v["height"],
                    width=v["width"], label=label)
        if (vid, inst) in kinds:
          info["kind"] = kinds[(vid, inst)]
        sid = f"{vid}/{frame:05d}/{inst}" + (f"#{suffix[k]}" if suffix[k] else "")
        samples.append(Sample(
            sample_id=sid, video_id=vid, video=video,
            target=frame - 1, sentence=query, mask=A2DMask(path, inst), info=info))
  return samples


# ----------------------------------------------------------------------------------------
# Writers (shared by the synthetic generator and the test fixtures)


def write_videoset(root: str, rows: Sequence[Sequence[Any]]) -> None:
  """Writes `Release/videoset.csv`: one 9-column row per video (module docstring)."""
  path = os.path.join(root, VIDEOSET_FILE)
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, "w", newline="") as f:
    csv.writer(f).writerows(rows)


def write_annotations(root: str, rows: Sequence[tuple[str, str, str]],
                      missed: Sequence[str] = ()) -> None:
  """Writes `a2d_annotation.txt` (rows `(video_id, instance_id, query)`) and the
  `a2d_missed_videos.txt` list."""
  path = os.path.join(root, ANNOTATION_FILE)
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, "w", newline="") as f:
    writer = csv.writer(f)
    writer.writerow(ANNOTATION_HEADER)
    writer.writerows(rows)
  with open(os.path.join(root, MISSED_FILE), "w") as f:
    f.writelines(m + "\n" for m in missed)


def write_instance_h5(path: str, masks: Sequence[np.ndarray], instances: Sequence[int],
                      labels: Sequence[int]) -> None:
  """Writes one annotated frame the way MATLAB v7.3 lays it out (column-major).

  Args:
    path: `<root>/<ANNOTATION_DIR>/<vid>/<frame:05d>.h5`.
    masks: bool `(H, W)` masks in h5 order (may be longer than `instances`).
    instances: the `instance` ids, one per mask position.
    labels: the A2D actor-action `id` of each mask.
  """
  n = len(masks)
  bboxes = np.zeros((4, n), np.float64)
  for i, m in enumerate(masks):
    ys, xs = np.nonzero(m)
    if ys.size:  # MATLAB 1-based inclusive x1, y1, x2, y2.
      bboxes[:, i] = [xs.min() + 1, ys.min() + 1, xs.max() + 1, ys.max() + 1]
  # MATLAB stores an (H, W, N) array column-major: h5py reads it as (N, W, H); with a
  # single mask MATLAB's array is (H, W), read as (W, H).
  re_mask = np.stack([np.asarray(m).T for m in masks]).astype(np.uint8)
  if n == 1:
    re_mask = re_mask[0]
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with h5py.File(path, "w", userblock_size=512) as f:
    for name, arr, cls in (("reMask", re_mask, "uint8"), ("reBBox", bboxes, "double"),
                           ("id", np.asarray([labels], np.float64), "double"),
                           ("instance", np.asarray(instances, np.float64), "double")):
      d = f.create_dataset(name, data=arr)
      d.attrs["MATLAB_class"] = np.bytes_(cls)
  with open(path, "r+b") as f:  # The MATLAB 7.3 text header lives in the userblock.
    header = (b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: synthetic "
              b"HDF5 schema 1.00 .")
    f.write(header.ljust(116, b" ") + b"\x00" * 8 + b"\x00\x02IM")


# ----------------------------------------------------------------------------------------
# Validator: A2D Sentences


def validate(root: str, quick: bool = False) -> Report:
  """Checks `Release/` (videoset.csv, clips320H) and `text_annotations/`."""
  report = Report()
  vs_path = os.path.join(root, VIDEOSET_FILE)
  videos: dict[str, dict[str, int]] = {}
  for line_no, line in enumerate(decode_lines(report, vs_path) or [], start=1):
    if not line.strip():
      continue
    row = next(csv.reader([line]))
    if len(row) != 9:
      report.error(f"{vs_path}:{line_no}", f"expected 9 columns, got {len(row)}")
      continue
    try:
      v = parse_videoset_row(row)
      videos[v["vid"]] = v
    except ValueError:
      report.error(f"{vs_path}:{line_no}", f"non-integer size/subset: {row}")
  missed_path = os.path.join(root, MISSED_FILE)
  missed = set()
  if os.path.isfile(missed_path):
    missed = {l.strip() for l in decode_lines(report, missed_path) or [] if l.strip()}
  else:
    report.note(missed_path, "missing: no video is excluded")
  ann_path = os.path.join(root, ANNOTATION_FILE)
  lines = decode_lines(report, ann_path) or []
  if lines and tuple(c.strip() for c in lines[0].split(",")[:3]) != ANNOTATION_HEADER:
    report.error(f"{ann_path}:1", "expected header 'video_id,instance_id,query'")
  sentences: dict[str, dict[int, list[int]]] = collections.defaultdict(dict)
  for line_no, line in enumerate(lines[1:], start=2):
    if not line.strip():
      continue
    row = next(csv.reader([line]))
    if len(row) < 3:
      report.error(f"{ann_path}:{line_no}", f"expected 3 columns, got {row}")
      continue
    vid, inst, query = split_annotation_row(row)
    if not query:
      report.error(f"{ann_path}:{line_no}", f"empty query ({vid}, instance {inst})")
    if not inst.isdigit():
      report.note(f"{ann_path}:{line_no}", f"instance id {inst!r} is not an integer: "
                                           "row dropped")
      continue
    if vid not in videos:
      report.error(f"{ann_path}:{line_no}", f"video '{vid}' not in {vs_path}")
      continue
    if vid not in missed:
      sentences[vid].setdefault(int(inst), []).append(line_no)
  inst_root = os.path.join(root, ANNOTATION_DIR)
  for vid in sorted(sentences):
    clip = os.path.join(root, CLIPS_DIR, f"{vid}.mp4")
    n_frames, size = None, None
    if not os.path.isfile(clip):
      report.error(clip, f"missing video file ({vid})")
    elif quick:
      try:
        import av  # pylint: disable=g-import-not-at-top
        with av.open(clip) as c:
          stream = c.streams.video[0]
          n_frames = stream.frames or None
          size = (stream.codec_context.height, stream.codec_context.width)
      except Exception as e:  # pylint: disable=broad-except
        report.error(clip, f"unreadable video ({type(e).__name__}: {e})")
    else:
      try:
        frames = video_io.decode_mp4(clip)
        n_frames, size = frames.shape[0], frames.shape[1:3]
      except DataError as e:
        report.error(clip, f"unreadable video ({e})")
    ann_dir = os.path.join(inst_root, vid)
    if not os.path.isdir(ann_dir):
      report.error(ann_dir, f"missing annotation folder ({vid})")
      continue
    found: dict[int, int] = collections.Counter()
    for name in sorted(n for n in os.listdir(ann_dir) if n.endswith(".h5")):
      path = os.path.join(ann_dir, name)
      if not name[:-3].isdigit():
        report.error(path, "file name is not a frame number")
        continue
      frame = int(name[:-3])
      if n_frames is not None and not 1 <= frame <= n_frames:
        report.error(path, f"frame-count mismatch: annotated frame {frame}, video has "
                           f"{n_frames} frames ({clip})")
      try:
        with h5py.File(path, "r") as f:
          if "instance" not in f or "reMask" not in f:
            report.error(path, f"missing dataset(s): has {sorted(f.keys())}, needs "
                               "'instance' and 'reMask'")
            continue
          instances = np.asarray(f["instance"][()]).reshape(-1).astype(np.int64)
          masks = np.asarray(f["reMask"][()])
      except (OSError, KeyError, ValueError) as e:
        report.error(path, f"unreadable h5 file ({e})")
        continue
      n_masks = 1 if masks.ndim == 2 else masks.shape[0]
      if masks.ndim not in (2, 3):
        report.error(path, f"reMask has shape {masks.shape}")
        continue
      if n_masks < len(instances):
        report.error(path, f"{n_masks} masks for {len(instances)} instances")
      elif n_masks > len(instances):
        report.note(path, f"{n_masks} masks for {len(instances)} instances: extra "
                          "masks ignored")
      dup = sorted({int(i) for i in instances if (instances == i).sum() > 1})
      if dup:
        report.note(path, f"instance(s) {dup} listed twice: first mask used")
      mask_hw = masks.shape[::-1] if masks.ndim == 2 else masks.shape[:0:-1]
      if size is not None and tuple(mask_hw) != tuple(size):
        report.error(path, f"mask size {tuple(mask_hw)} != video frame size "
                           f"{tuple(size)} ({clip})")
      for inst in sentences[vid]:
        hits = np.flatnonzero(instances == inst)
        if hits.size == 0 or hits[0] >= n_masks:
          continue
        found[inst] += 1
        mask = masks if masks.ndim == 2 else masks[hits[0]]
        if not mask.any():
          report.error(path, f"empty mask for instance {inst} (sentence on "
                             f"{ann_path} line(s) {sentences[vid][inst]})")
    for inst, line_nos in sentences[vid].items():
      if not found[inst]:
        report.error(f"{ann_path}:{line_nos[0]}", f"instance {inst} of '{vid}' is in no "
                                                  f"annotated frame of {ann_dir}")
  return report
