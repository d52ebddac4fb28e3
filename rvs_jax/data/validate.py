"""Check an unpacked benchmark before building or training on it; list every problem.

Usage::

  python -m rvs_jax.data.validate {a2d,jhmdb,refer_youtube_vos,refer_davis} <root>
      [--quick] [--annotations {unsupervised,semi_supervised,both}]

The readers stop at the first bad file (a `DataError`); this tool keeps going and prints
one line per problem, naming the file, so a broken download is found in minutes instead
of an hour into a TFDS build. Two severities:

* `ERROR`: something a reader or builder would fail on, or that silently yields wrong
  samples -- missing or unreadable frames / videos / h5 / mat / png files, frame-count
  mismatches between frames and masks, masks of the wrong size, empty masks of a
  sentence's object, empty or non-UTF-8 sentences, malformed annotation lines.
* `NOTE`: known quirks of the official releases that the readers handle (J-HMDB videos
  with fewer masks than frames, A2D's `'1 (copy)'` row, duplicate instances and extra
  masks, DAVIS's latin-1 annot2 files and misspelt video names, ...).

The exit code is 1 if there is any error, else 0. `--quick` only checks that images and
videos exist and have readable headers instead of decoding every one of them.
"""

from __future__ import annotations

import argparse
import collections
import csv
import dataclasses
import io
import json
import os
import sys
from typing import Any, Callable

import numpy as np
from PIL import Image

from rvs_jax.data.types import DataError

# ----------------------------------------------------------------------------------------
# Report


@dataclasses.dataclass(frozen=True)
class Problem:
  """One finding: `severity` is "error" or "note"; `path` names the file."""
  severity: str
  path: str
  message: str

  def __str__(self) -> str:
    return f"{self.severity.upper()}: {self.path}: {self.message}"


class Report:
  """Collects problems in discovery order."""

  def __init__(self):
    self.problems: list[Problem] = []

  def error(self, path: str, message: str) -> None:
    self.problems.append(Problem("error", path, message))

  def note(self, path: str, message: str) -> None:
    self.problems.append(Problem("note", path, message))

  @property
  def errors(self) -> list[Problem]:
    return [p for p in self.problems if p.severity == "error"]


def _read_image(report: Report, path: str, decode: bool, what: str = "image",
                mode: str | None = None) -> np.ndarray | tuple[int, int] | None:
  """Decoded array (or `(H, W)` from the header if not `decode`); None on failure."""
  if not os.path.isfile(path):
    report.error(path, f"missing {what}")
    return None
  try:
    with Image.open(path) as im:
      if not decode:
        return im.size[1], im.size[0]
      return np.asarray(im.convert(mode) if mode else im)
  except (OSError, ValueError, SyntaxError) as e:
    report.error(path, f"unreadable {what} ({e})")
    return None


def _decode_lines(report: Report, path: str, encodings=("utf-8",)) -> list[str] | None:
  """Lines of a text file; each line that no encoding decodes is reported."""
  try:
    with open(path, "rb") as f:
      raw = f.read()
  except OSError:
    report.error(path, "missing file")
    return None
  lines = []
  for line_no, raw_line in enumerate(raw.splitlines(), start=1):
    for enc in encodings:
      try:
        lines.append(raw_line.decode(enc))
        break
      except UnicodeDecodeError:
        continue
    else:
      report.error(f"{path}:{line_no}", f"not {'/'.join(encodings)}: {raw_line!r}")
      lines.append(raw_line.decode("utf-8", "replace"))
  if lines and lines[0].startswith("\ufeff"):
    lines[0] = lines[0][1:]
  return lines


# ----------------------------------------------------------------------------------------
# J-HMDB Sentences


def validate_jhmdb(root: str, quick: bool = False) -> Report:
  """Checks `Rename_Images/`, `puppet_mask/` and `jhmdb_annotation.txt`."""
  import scipy.io  # pylint: disable=g-import-not-at-top
  from rvs_jax.data import jhmdb  # pylint: disable=g-import-not-at-top
  report = Report()
  ann_path = os.path.join(root, jhmdb.ANNOTATION_FILE)
  lines = _decode_lines(report, ann_path) or []
  rows: list[tuple[int, str, str]] = []
  if lines and [c.strip() for c in lines[0].split(",")[:2]] != ["video_id", "query"]:
    report.error(f"{ann_path}:1", "expected header 'video_id,query'")
  seen: dict[str, int] = {}
  for line_no, line in enumerate(lines[1:], start=2):
    if not line.strip():
      continue
    row = next(csv.reader([line]))
    video_id, query = row[0].strip(), ",".join(row[1:]).strip()
    if not query:
      report.error(f"{ann_path}:{line_no}", f"empty query for video '{video_id}'")
    if video_id in seen:
      report.error(f"{ann_path}:{line_no}",
                   f"video '{video_id}' also on line {seen[video_id]}")
    seen[video_id] = line_no
    rows.append((line_no, video_id, query))
  if lines and not rows:
    report.error(ann_path, "no annotations")
  frames_root = os.path.join(root, jhmdb.FRAMES_DIR)
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
                   f"no frames folder {jhmdb.FRAMES_DIR}/*/{video_id}")
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
      img = _read_image(report, os.path.join(video_dir, f"{k:05d}.png"), not quick,
                        "frame")
      if img is not None and frame_size is None:
        frame_size = img if isinstance(img, tuple) else img.shape[:2]
    mask_path = os.path.join(root, jhmdb.MASKS_DIR, action, video_id, jhmdb.MASK_FILE)
    if not os.path.isfile(mask_path):
      report.error(mask_path, f"missing mask file for video '{video_id}'")
      continue
    try:
      mat = scipy.io.loadmat(mask_path)
    except (OSError, ValueError, TypeError, NotImplementedError,
            scipy.io.matlab.MatReadError) as e:
      report.error(mask_path, f"unreadable .mat file ({e})")
      continue
    if jhmdb.MASK_KEY not in mat:
      report.error(mask_path, f"no '{jhmdb.MASK_KEY}' variable")
      continue
    masks = np.asarray(mat[jhmdb.MASK_KEY])
    if masks.ndim == 2:
      masks = masks[:, :, None]
    if masks.ndim != 3:
      report.error(mask_path, f"'{jhmdb.MASK_KEY}' has shape {masks.shape}")
      continue
    n_masks = masks.shape[2]
    if n_masks > n_frames:
      report.error(mask_path, f"frame-count mismatch: {n_masks} masks, {n_frames} "
                              f"frames in {video_dir}")
    elif n_masks < n_frames:
      report.note(mask_path, f"{n_masks} masks for {n_frames} frames: only frames "
                             f"1..{n_masks} are usable")
    if 0 < n_masks < jhmdb.SAMPLES_PER_VIDEO:
      report.note(mask_path, f"only {n_masks} usable frames: fewer than "
                             f"{jhmdb.SAMPLES_PER_VIDEO} samples")
    if frame_size is not None and tuple(masks.shape[:2]) != tuple(frame_size):
      report.error(mask_path, f"mask size {masks.shape[:2]} != frame size {frame_size}")
    empty = [t + 1 for t in range(min(n_masks, n_frames)) if not masks[:, :, t].any()]
    if empty:
      report.error(mask_path, f"empty mask on frames {empty}")
  return report


# ----------------------------------------------------------------------------------------
# A2D Sentences


def validate_a2d(root: str, quick: bool = False) -> Report:
  """Checks `Release/` (videoset.csv, clips320H) and `text_annotations/`."""
  import h5py  # pylint: disable=g-import-not-at-top
  from rvs_jax.data import a2d  # pylint: disable=g-import-not-at-top
  from rvs_jax.data import video_io  # pylint: disable=g-import-not-at-top
  report = Report()
  vs_path = os.path.join(root, "Release", "videoset.csv")
  videos: dict[str, dict[str, int]] = {}
  for line_no, line in enumerate(_decode_lines(report, vs_path) or [], start=1):
    if not line.strip():
      continue
    row = next(csv.reader([line]))
    if len(row) != 9:
      report.error(f"{vs_path}:{line_no}", f"expected 9 columns, got {len(row)}")
      continue
    try:
      videos[row[0].strip()] = {"height": int(row[4]), "width": int(row[5]),
                                "subset": int(row[8])}
    except ValueError:
      report.error(f"{vs_path}:{line_no}", f"non-integer size/subset: {row}")
  missed_path = os.path.join(root, "text_annotations", "a2d_missed_videos.txt")
  missed = set()
  if os.path.isfile(missed_path):
    missed = {l.strip() for l in _decode_lines(report, missed_path) or [] if l.strip()}
  else:
    report.note(missed_path, "missing: no video is excluded")
  ann_path = os.path.join(root, "text_annotations", "a2d_annotation.txt")
  lines = _decode_lines(report, ann_path) or []
  if lines and [c.strip() for c in lines[0].split(",")[:3]] != [
      "video_id", "instance_id", "query"]:
    report.error(f"{ann_path}:1", "expected header 'video_id,instance_id,query'")
  sentences: dict[str, dict[int, list[int]]] = collections.defaultdict(dict)
  for line_no, line in enumerate(lines[1:], start=2):
    if not line.strip():
      continue
    row = next(csv.reader([line]))
    if len(row) < 3:
      report.error(f"{ann_path}:{line_no}", f"expected 3 columns, got {row}")
      continue
    vid, inst, query = row[0].strip(), row[1].strip(), ",".join(row[2:]).strip()
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
  inst_root = os.path.join(root, a2d.ANNOTATION_DIR)
  for vid in sorted(sentences):
    clip = os.path.join(root, "Release", "clips320H", f"{vid}.mp4")
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


# ----------------------------------------------------------------------------------------
# Refer-YouTube-VOS


def _load_json(report: Report, path: str) -> Any:
  try:
    with open(path, "rb") as f:
      return json.loads(f.read().decode("utf-8"))
  except OSError:
    report.error(path, "missing file")
  except UnicodeDecodeError as e:
    report.error(path, f"not UTF-8 ({e})")
  except ValueError as e:
    report.error(path, f"invalid JSON ({e})")
  return None


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


def validate_refer_youtube_vos(root: str, quick: bool = False) -> Report:
  """Checks train / valid (valid minus test) / test and their meta_expressions."""
  report = Report()
  meta = {}
  for split in ("train", "valid", "test"):
    path = os.path.join(root, "meta_expressions", split, "meta_expressions.json")
    data = _load_json(report, path)
    if data is not None and not isinstance(data.get("videos"), dict):
      report.error(path, "expected {'videos': {...}}")
      data = None
    meta[split] = (path, data["videos"] if data else {})
  meta_json_path = os.path.join(root, "train", "meta.json")
  objects_meta = {}
  if os.path.isfile(meta_json_path):
    objects_meta = (_load_json(report, meta_json_path) or {}).get("videos", {})
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
      img_dir = os.path.join(root, split, "JPEGImages", vid)
      if not os.path.isdir(img_dir):
        report.error(img_dir, f"missing frames folder ({split} video '{vid}')")
        continue
      sizes = {}
      for name in frames:
        img = _read_image(report, os.path.join(img_dir, name + ".jpg"), not quick,
                          "frame")
        if img is not None:
          sizes[name] = img if isinstance(img, tuple) else img.shape[:2]
      if split != "train":
        continue
      ann_dir = os.path.join(root, "train", "Annotations", vid)
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
        labels = _read_image(report, png, True, "annotation PNG")
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


# ----------------------------------------------------------------------------------------
# Refer-DAVIS17


def validate_refer_davis(root: str, quick: bool = False,
                         annotations: str = "unsupervised") -> Report:
  """Checks DAVIS 480p frames/masks, ImageSets and the four expression files."""
  from rvs_jax.data import refer_davis as rd  # pylint: disable=g-import-not-at-top
  report = Report()
  ann_sets = (list(rd.ANNOTATION_DIRS) if annotations == "both" else [annotations])
  tdir, ddir = rd.text_dir(root), rd.davis_dir(root)
  exps: dict[str, dict[int, list[str]]] = collections.defaultdict(dict)
  for spec in rd.EXPRESSION_FILES:
    path = os.path.join(tdir, spec.name)
    lines = _decode_lines(report, path, ("utf-8", "latin-1"))
    if lines is None:
      continue
    with open(path, "rb") as f:
      _, enc = rd.decode_text(f.read())
    if enc != "utf-8":
      report.note(path, f"decoded as {enc} (expected for the annot2 files)")
    seen = set()
    fixed: dict[tuple[str, str], int] = collections.Counter()
    for line_no, line in enumerate(lines, start=1):
      if not line.strip():
        continue
      parsed = rd.parse_expression_line(line)
      if parsed is None:
        report.error(f"{path}:{line_no}", f'expected `<video> <obj_id> "<expression>"`, '
                                          f"got {line!r}")
        continue
      video, obj, text = parsed
      if video != line.split()[0]:
        fixed[(line.split()[0], video)] += 1
      if not text:
        report.error(f"{path}:{line_no}", f"empty expression ({video} object {obj})")
      if (video, obj) in seen:
        report.error(f"{path}:{line_no}", f"second expression for {video} object {obj}")
      seen.add((video, obj))
      exps[video].setdefault(obj, []).append(spec.name)
    for (wrong, right), count in sorted(fixed.items()):
      report.note(path, f"video name '{wrong}' fixed to '{right}' ({count} lines)")
  for video in sorted(exps):
    for obj, files in sorted(exps[video].items()):
      if len(files) < len(rd.EXPRESSION_FILES):
        missing = sorted({s.name for s in rd.EXPRESSION_FILES} - set(files))
        report.note(tdir, f"{video} object {obj} has no expression in {missing}")
  split_videos = set()
  for split in rd.SPLITS:
    path = os.path.join(ddir, "ImageSets", "2017", f"{split}.txt")
    videos = [l.strip() for l in _decode_lines(report, path) or [] if l.strip()]
    if os.path.isfile(path) and not videos:
      report.error(path, "empty split file")
    for video in videos:
      split_videos.add(video)
      if video not in exps:
        report.error(path, f"video '{video}' has no expression in {tdir}")
      img_dir = os.path.join(ddir, "JPEGImages", "480p", video)
      if not os.path.isdir(img_dir):
        report.error(img_dir, f"missing frames folder ({split} video '{video}')")
        continue
      frames = sorted(n[:-4] for n in os.listdir(img_dir) if n.endswith(".jpg"))
      if not frames:
        report.error(img_dir, "no frames")
      sizes = {}
      for name in frames:
        img = _read_image(report, os.path.join(img_dir, name + ".jpg"), not quick,
                          "frame")
        if img is not None:
          sizes[name] = img if isinstance(img, tuple) else img.shape[:2]
      for ann in ann_sets:
        ann_dir = os.path.join(ddir, rd.ANNOTATION_DIRS[ann], "480p", video)
        if not os.path.isdir(ann_dir):
          report.error(ann_dir, f"missing annotation folder ({split} video '{video}')")
          continue
        masks = sorted(n[:-4] for n in os.listdir(ann_dir) if n.endswith(".png"))
        if masks != frames:
          report.error(ann_dir, f"frame-count mismatch: {len(masks)} PNGs for "
                                f"{len(frames)} frames in {img_dir}")
        present = set()
        for name in masks:
          png = os.path.join(ann_dir, name + ".png")
          labels = _read_image(report, png, True, "annotation PNG")
          if labels is None:
            continue
          if name in sizes and labels.shape[:2] != tuple(sizes[name]):
            report.error(png, f"mask size {labels.shape[:2]} != frame size "
                              f"{sizes[name]}")
          present |= set(np.unique(labels).tolist())
        for obj in sorted(exps.get(video, {})):
          if obj not in present:
            report.error(ann_dir, f"empty mask: object {obj} of the expressions never "
                                  f"occurs in these PNGs (id-space mismatch?)")
  for video in sorted(set(exps) - split_videos):
    report.note(tdir, f"video '{video}' is in no ImageSets/2017 split")
  return report


# ----------------------------------------------------------------------------------------
# CLI

VALIDATORS: dict[str, Callable[..., Report]] = {
    "a2d": validate_a2d,
    "jhmdb": validate_jhmdb,
    "refer_youtube_vos": validate_refer_youtube_vos,
    "refer_davis": validate_refer_davis,
}
ALIASES = {"a2d_sentences": "a2d", "jhmdb_sentences": "jhmdb",
           "ytvos": "refer_youtube_vos", "davis": "refer_davis"}


def validate(benchmark: str, root: str, quick: bool = False, **kwargs: Any) -> Report:
  """Runs the validator of `benchmark` (a name of VALIDATORS or ALIASES) on `root`."""
  name = ALIASES.get(benchmark, benchmark)
  if name not in VALIDATORS:
    raise ValueError(f"unknown benchmark {benchmark!r}; one of {sorted(VALIDATORS)}")
  if not os.path.isdir(root):
    report = Report()
    report.error(root, "not a directory")
    return report
  return VALIDATORS[name](root, quick=quick, **kwargs)


def main(argv: list[str] | None = None) -> int:
  """CLI entry point; returns the exit code (1 if any error)."""
  parser = argparse.ArgumentParser(
      prog="python -m rvs_jax.data.validate", description=__doc__.split("\n\n")[0])
  parser.add_argument("benchmark", choices=sorted(VALIDATORS) + sorted(ALIASES))
  parser.add_argument("root", help="the unpacked dataset folder")
  parser.add_argument("--quick", action="store_true",
                      help="check image/video headers only, do not decode every frame")
  parser.add_argument("--annotations", default="unsupervised",
                      choices=["unsupervised", "semi_supervised", "both"],
                      help="Refer-DAVIS: which annotation set to check")
  args = parser.parse_args(argv)
  kwargs = ({"annotations": args.annotations}
            if ALIASES.get(args.benchmark, args.benchmark) == "refer_davis" else {})
  report = validate(args.benchmark, args.root, quick=args.quick, **kwargs)
  out = io.StringIO()
  for problem in report.problems:
    print(problem, file=out)
  n_err = len(report.errors)
  print(f"{n_err} error(s), {len(report.problems) - n_err} note(s) in {args.root}",
        file=out)
  sys.stdout.write(out.getvalue())
  return 1 if n_err else 0


if __name__ == "__main__":
  sys.exit(main())
