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
    MTTR (any non-integer instance id is dropped with a warning naming the video);
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
import os
import re
from typing import Any, Collection, Mapping, Sequence

import h5py
import numpy as np

from rvs_jax import progress
from rvs_jax.data import video_io
from rvs_jax.data.checks import Report, Strict, read_json, read_lines
from rvs_jax.data.types import DataError, Sample
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
    except (OSError, KeyError, ValueError, RuntimeError) as e:
      raise DataError(f"{self.path}: unreadable h5 file (instance "
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


def check_frame_count(sink, clip: str, num_frames: int,
                      annotated: Mapping[int, str]) -> None:
  """Every annotated frame (1-based, -> its h5 file) must exist in the decoded video.

  A video shorter than its annotations would pair masks with the wrong frames (clip
  indices are clamped to the video), so this is an error on every path.
  """
  for frame in sorted(annotated):
    if frame > num_frames:
      sink.error(annotated[frame], f"frame-count mismatch: annotates frame {frame} but "
                                   f"{clip} decodes {num_frames} frames")


class A2DVideo(Mp4Video):
  """An `Mp4Video` that refuses a decoded frame count its annotations contradict.

  The reader cannot know the decoded length without decoding, so the check runs on the
  first decode (the training loader and the TFDS builder both decode before use).
  """

  def __init__(self, path: str | os.PathLike, annotated: Mapping[int, str]):
    super().__init__(path)
    self.annotated = dict(annotated)

  def frames(self) -> np.ndarray:
    arr = super().frames()
    check_frame_count(Strict(), self.path, arr.shape[0], self.annotated)
    return arr


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


def read_videoset(root: str, sink=None) -> list[dict[str, Any]]:
  """Parses and checks `Release/videoset.csv` (no header, 9 columns).

  Args:
    root: the dataset folder.
    sink: where findings go (`checks.Strict()` by default: the first error raises).

  Returns:
    One dict per row: vid, label, height, width, total_frames, annotated_frames, subset.
  """
  sink = sink or Strict()
  path = os.path.join(root, VIDEOSET_FILE)
  got = read_lines(sink, path, "A2D video list")
  rows: list[dict[str, Any]] = []
  for line_no, line in enumerate(got[0] if got else [], start=1):
    if not line.strip():
      continue
    row = next(csv.reader([line]))
    if len(row) != 9:
      sink.error(f"{path}:{line_no}", f"expected 9 columns, got {len(row)}: {row} "
                                      "(file truncated?)")
      continue
    try:
      rows.append(parse_videoset_row(row))
    except ValueError:
      sink.error(f"{path}:{line_no}", f"non-integer size/subset: {row}")
  if got is not None and not rows:
    sink.error(path, "no videos (empty file)")
  return rows


def read_annotations(root: str, sink=None, videos: Collection[str] | None = None,
                     missed: Collection[str] = ()
                     ) -> tuple[dict[str, list[tuple[int, str]]], int]:
  """Parses and checks `a2d_annotation.txt`.

  Errors (the file cannot be trusted): missing, not UTF-8, empty, wrong header, header
  only, a row with fewer than 3 columns, and -- when `videos` is given -- a video of
  `videoset.csv` that has no row although `a2d_missed_videos.txt` does not list it (a
  truncated file). Skipped rows (warnings naming the video): non-integer instance id
  (the release's `"1 (copy)"` row), empty sentence, video not in `videoset.csv`.

  Args:
    root: the dataset folder.
    sink: where findings go (`checks.Strict()` by default).
    videos: the ids of `videoset.csv`, for the existence and coverage checks.
    missed: the ids of `a2d_missed_videos.txt`.

  Returns:
    ({video_id: [(instance_id, query), ...]} in file order, number of skipped rows).
  """
  sink = sink or Strict()
  path = os.path.join(root, ANNOTATION_FILE)
  got = read_lines(sink, path, "A2D annotation file")
  if got is None:
    return {}, 0
  body = [(n, line) for n, line in enumerate(got[0], start=1) if line.strip()]
  if not body:
    sink.error(path, "empty file (expected the header video_id,instance_id,query and "
                     "one row per sentence)")
    return {}, 0
  header_no, header = body[0]
  if tuple(c.strip() for c in next(csv.reader([header]))[:3]) != ANNOTATION_HEADER:
    sink.error(f"{path}:{header_no}", f"expected header 'video_id,instance_id,query', "
                                      f"got {header!r}")
  if len(body) == 1:
    sink.error(path, "no sentence rows (header only)")
  out: dict[str, list[tuple[int, str]]] = collections.defaultdict(list)
  mentioned: set[str] = set()
  skipped = 0
  for line_no, line in body[1:]:
    where = f"{path}:{line_no}"
    row = next(csv.reader([line]))
    if len(row) < 3:
      sink.error(where, f"expected 3 columns, got {row} (file truncated?)")
      continue
    vid, inst, query = split_annotation_row(row)
    mentioned.add(vid)
    if videos is not None and vid not in videos:
      sink.skip(where, vid, f"sentence skipped: no such video in {VIDEOSET_FILE}")
    elif not re.fullmatch(r"\d+", inst):
      sink.skip(where, vid, f"sentence skipped: instance id {inst!r} is not an integer")
    elif not query:
      sink.skip(where, vid, f"sentence of instance {inst} skipped: empty sentence")
    else:
      out[vid].append((int(inst), query))
      continue
    skipped += 1
  if videos is not None and len(body) > 1:
    lost = [v for v in videos if v not in mentioned and v not in missed]
    if lost:
      sink.error(path, f"no sentence for {len(lost)} video(s) of {VIDEOSET_FILE} that "
                       f"{MISSED_FILE} does not list (e.g. {sorted(lost)[:3]}): file "
                       "truncated?")
  return dict(out), skipped


def read_missed(root: str, sink=None) -> set[str]:
  """Video ids in `a2d_missed_videos.txt` (empty set, and a note, when it is absent)."""
  sink = sink or Strict()
  path = os.path.join(root, MISSED_FILE)
  if not os.path.isfile(path):
    sink.note(path, "missing: no video is excluded")
    return set()
  got = read_lines(sink, path, "missed-videos list")
  return {line.strip() for line in (got[0] if got else []) if line.strip()}


def read_instance_h5(sink, path: str, load_masks: bool = False) -> dict[str, Any] | None:
  """Opens and checks one annotated frame's h5 file; None (after an error) if unusable.

  Errors: unreadable / truncated file, missing `instance` or `reMask`, a `reMask` of
  the wrong rank, fewer masks than instances. Notes: extra masks, duplicate instances.

  Returns:
    `{"instances": int64 (N,), "labels": (N,) or None, "size": (H, W),
    "masks": the raw `reMask` if `load_masks` else None}`.
  """
  try:
    with h5py.File(path, "r") as f:
      missing = [k for k in ("instance", "reMask") if k not in f]
      if missing:
        sink.error(path, f"missing dataset(s) {missing}: has {sorted(f.keys())}, needs "
                         "'instance' and 'reMask'")
        return None
      instances = np.asarray(f["instance"][()]).reshape(-1)
      labels = np.asarray(f["id"][()]).reshape(-1) if "id" in f else None
      shape = tuple(f["reMask"].shape)
      masks = np.asarray(f["reMask"][()]) if load_masks else None
  except (OSError, KeyError, ValueError, RuntimeError) as e:
    sink.error(path, f"unreadable h5 file, truncated? ({e})")
    return None
  if len(shape) not in (2, 3):
    sink.error(path, f"reMask has shape {shape}, expected (N, W, H) or (W, H)")
    return None
  if not np.all(np.isfinite(instances)) or np.any(instances != np.round(instances)):
    sink.error(path, f"'instance' holds non-integer ids {instances.tolist()}")
    return None
  instances = instances.astype(np.int64)
  n_masks = 1 if len(shape) == 2 else shape[0]
  if n_masks < len(instances):
    sink.error(path, f"{n_masks} masks for {len(instances)} instances")
    return None
  if n_masks > len(instances):
    sink.note(path, f"{n_masks} masks for {len(instances)} instances: extra masks "
                    "ignored")
  dup = sorted({int(i) for i in instances if (instances == i).sum() > 1})
  if dup:
    sink.note(path, f"instance(s) {dup} listed twice: first mask used")
  size = shape[::-1] if len(shape) == 2 else shape[:0:-1]
  return dict(instances=instances, labels=labels, size=tuple(size), masks=masks)


def read_video_annotations(sink, root: str, video: Mapping[str, Any],
                           load_masks: bool = False
                           ) -> tuple[str, str, list[tuple[int, str, dict[str, Any]]]]:
  """Checks one video's clip and h5 folder; returns (clip, h5 folder, annotated frames).

  Errors: missing clip, missing or empty h5 folder, an h5 name that is not a frame
  number, and `read_instance_h5`'s. Skipped (warning): fewer h5 files than the
  `annotated_frames` of `videoset.csv` -- the samples of the missing frames.

  Returns:
    `(clip path, h5 folder, [(frame (1-based), h5 path, read_instance_h5(...))])`.
  """
  vid = video["vid"]
  clip = os.path.join(root, CLIPS_DIR, f"{vid}.mp4")
  if not os.path.isfile(clip):
    sink.error(clip, f"missing video file (video {vid})")
  ann_dir = os.path.join(root, ANNOTATION_DIR, vid)
  if not os.path.isdir(ann_dir):
    sink.error(ann_dir, f"missing annotation folder (video {vid})")
    return clip, ann_dir, []
  names = sorted(n for n in os.listdir(ann_dir) if n.endswith(".h5"))
  if not names:
    sink.error(ann_dir, f"no .h5 annotation (video {vid})")
  frames = []
  for name in names:
    path = os.path.join(ann_dir, name)
    stem = name[:-len(".h5")]
    if not stem.isdigit() or int(stem) < 1:
      sink.error(path, "file name is not a frame number (00001.h5, ...)")
      continue
    header = read_instance_h5(sink, path, load_masks)
    if header is not None:
      frames.append((int(stem), path, header))
  expected = video["annotated_frames"]
  if names and len(names) < expected:
    sink.skip(ann_dir, vid, f"{expected - len(names)} of its {expected} annotated "
                            f"frames ({VIDEOSET_FILE}) have no h5 file: the samples of "
                            "those frames are skipped")
  return clip, ann_dir, frames


def check_instances(sink, ann_dir: str, vid: str, rows: Sequence[tuple[int, str]],
                    frames: Sequence[tuple[int, str, dict[str, Any]]]) -> None:
  """A sentence whose instance is in no annotated frame gives no sample: say so."""
  seen = {int(i) for _, _, h in frames for i in h["instances"]}
  for inst in dict.fromkeys(i for i, _ in rows):
    if inst not in seen:
      sink.skip(ann_dir, vid, f"sentence(s) of instance {inst} skipped: the instance is "
                              "in no annotated frame")


def _read_kinds(root: str) -> dict[tuple[str, int], str]:
  path = os.path.join(root, META_FILE)
  if not os.path.isfile(path):
    return {}
  meta = read_json(Strict(), path, "synthetic meta file")
  kinds = {}
  for vid, v in meta.get("videos", {}).items():
    for inst, o in v.get("objects", {}).items():
      if o.get("kind"):
        kinds[(vid, int(inst))] = o["kind"]
  return kinds


def load_a2d(root: str | os.PathLike, split: str) -> list[Sample]:
  """Reads A2D Sentences (or the synthetic benchmark, which uses the same layout).

  Every annotated frame's h5 file is opened once to read its `instance` list (about
  12k files for the real data: a few seconds); masks are read lazily by `A2DMask`, and
  the clip's frame count is checked against the annotations when it is first decoded.
  The checks are those of the validator (`read_videoset`, `read_annotations`,
  `read_video_annotations`, `check_instances`, `check_frame_count`): an error raises,
  a skipped sentence or frame is a logged warning naming the video.

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
  sink = Strict()
  videos = read_videoset(root, sink)
  missed = read_missed(root, sink)
  annotations, _ = read_annotations(root, sink, {v["vid"] for v in videos}, missed)
  kinds = _read_kinds(root)
  samples: list[Sample] = []
  for v in videos:
    vid = v["vid"]
    if v["subset"] != SPLITS[split] or vid in missed or vid not in annotations:
      continue
    clip, ann_dir, frames = read_video_annotations(sink, root, v)
    # Rows of this video, exact duplicates removed. An instance with several distinct
    # queries gives one sample per query; its sample ids get a "#k" suffix (k >= 1) from
    # the second query on, so ids stay unique.
    rows = list(dict.fromkeys(annotations[vid]))
    check_instances(sink, ann_dir, vid, rows, frames)
    per_inst: dict[int, int] = collections.Counter()
    suffix = []
    for inst, _ in rows:
      suffix.append(per_inst[inst])
      per_inst[inst] += 1
    video = A2DVideo(clip, {frame: path for frame, path, _ in frames})
    for frame, path, header in frames:
      instances, labels = header["instances"], header["labels"]
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


def _probe_clip(report: Report, clip: str, quick: bool
                ) -> tuple[int | None, tuple[int, int] | None]:
  """(frame count, (H, W)) of a clip: decoded, or from the header with `quick`."""
  if not os.path.isfile(clip):
    return None, None
  if quick:
    try:
      import av  # pylint: disable=g-import-not-at-top
      with av.open(clip) as c:
        stream = c.streams.video[0]
        return (stream.frames or None,
                (stream.codec_context.height, stream.codec_context.width))
    except Exception as e:  # pylint: disable=broad-except
      report.error(clip, f"unreadable video ({type(e).__name__}: {e})")
      return None, None
  try:
    frames = video_io.decode_mp4(clip)
  except DataError as e:
    report.error(clip, f"unreadable video ({e})")
    return None, None
  return frames.shape[0], tuple(frames.shape[1:3])


def validate(root: str, quick: bool = False) -> Report:
  """Checks `Release/` (videoset.csv, clips320H) and `text_annotations/`.

  The reader's checks (`read_videoset`, `read_annotations`, `read_video_annotations`,
  `check_instances`, `check_frame_count`) with a collecting sink, plus what only a full
  pass can see: every clip decoded (or its header read with `quick`), mask sizes
  against the frames, empty masks of referred instances.
  """
  report = Report()
  videos = {v["vid"]: v for v in read_videoset(root, report)}
  missed = read_missed(root, report)
  annotations, _ = read_annotations(root, report, set(videos), missed)
  for vid in progress.track(sorted(annotations), "validating", "video"):
    if vid in missed:
      continue
    clip, ann_dir, frames = read_video_annotations(report, root, videos[vid],
                                                   load_masks=True)
    rows = annotations[vid]
    check_instances(report, ann_dir, vid, rows, frames)
    n_frames, size = _probe_clip(report, clip, quick)
    if n_frames is not None:
      check_frame_count(report, clip, n_frames, {f: p for f, p, _ in frames})
    for _, path, header in frames:
      if size is not None and header["size"] != size:
        report.error(path, f"mask size {header['size']} != video frame size {size} "
                           f"({clip})")
      masks, instances = header["masks"], header["instances"]
      for inst in dict.fromkeys(i for i, _ in rows):
        hits = np.flatnonzero(instances == inst)
        if hits.size == 0:
          continue
        mask = masks if masks.ndim == 2 else masks[hits[0]]
        if not mask.any():
          report.error(path, f"empty mask for instance {inst} of '{vid}'")
  return report
