"""Refer-DAVIS17 reader: DAVIS-2017 480p + Khoreva et al.'s expressions -> `list[Sample]`.

Layout (the unpacked zips side by side)::

  <root>/DAVIS/JPEGImages/480p/<video>/%05d.jpg
  <root>/DAVIS/Annotations_unsupervised/480p/<video>/%05d.png   (and/or Annotations/480p)
  <root>/DAVIS/ImageSets/2017/{train,val}.txt                    60 / 30 videos
  <root>/davis_text_annotations/Davis17_annot1.txt               annotator 1, first frame
  <root>/davis_text_annotations/Davis17_annot1_full_video.txt    annotator 1, full video
  <root>/davis_text_annotations/Davis17_annot2.txt               annotator 2, first frame
  <root>/davis_text_annotations/Davis17_annot2_full_video.txt    annotator 2, full video

(`DAVIS/` and `davis_text_annotations/` may also be `<root>` itself.)

Expression files: one line `<video> <obj_id> "<expression>"` per object. The annotator-2
files are latin-1, so every file is decoded as UTF-8 and, if that fails, as latin-1.
Three video names are misspelt in them and fixed here: clasic-car -> classic-car,
dog-scale -> dogs-scale, motor-bike -> motorbike.

Expression ids follow ReferFormer's conversion to the Ref-YTVOS layout, so predictions
can be written under the same `<video>/<exp_id>/` names: objects of a video are sorted
by obj_id *as a string* (ReferFormer sorts the strings, so "10" comes before "2"), the
k-th object gets ids `4k+0` (annot1 first-frame), `4k+1` (annot1 full-video), `4k+2`
(annot2 first-frame), `4k+3` (annot2 full-video). Unlike ReferFormer, which zips the four
per-file lists, an object missing from one file only loses that slot instead of shifting
the others. `info` records `annotator` (1 or 2), `kind` ("first_frame" or "full_video")
and `slot` (= exp_id % 4, ReferFormer's `anno_<slot>` folder).

Masks and the id-space caveat: ReferFormer (and the Ref-DAVIS numbers in the papers that
follow it) take ground truth from `Annotations_unsupervised/480p` with `mask == obj_id`;
LBDT uses the semi-supervised `Annotations/` instead. The two annotation sets number
their objects independently (the unsupervised set re-segments the scene into its own
instances), and Khoreva et al.'s obj_ids were written against the semi-supervised
DAVIS-2017 objects, so the ids do not always mean the same object in the unsupervised
PNGs. `annotations` selects the set ("unsupervised" = ReferFormer protocol, default;
"semi_supervised" = the id space the expressions were written for).
The reader, the builder and `python -m rvs_jax.data.validate refer_davis <root>` warn
about expressions whose obj_id never occurs in the chosen PNGs; such expressions are kept
(the protocol scores them, against empty masks).

Every frame of every expression is a sample by default (the evaluation protocol scores
all frames); `targets="present"` keeps frames on which the object is visible (training).
"""

from __future__ import annotations

import collections
import dataclasses
import os
import re
from typing import Any

import numpy as np

from rvs_jax import progress
from rvs_jax.data.checks import Report, Strict, read_image, read_lines
from rvs_jax.data.refer_youtube_vos import PaletteMask, read_index_png, read_label_png
from rvs_jax.data.types import Sample
from rvs_jax.data.video_io import FrameFolder

SPLITS = ("train", "val")
CLIP_STRIDE = 1
ANNOTATION_DIRS = {"unsupervised": "Annotations_unsupervised",
                   "semi_supervised": "Annotations"}


@dataclasses.dataclass(frozen=True)
class ExpressionFile:
  """One of the four expression files and its place in the exp-id interleaving."""
  name: str
  annotator: int
  kind: str  # "first_frame" or "full_video"
  slot: int  # exp_id = 4 * object_rank + slot


EXPRESSION_FILES = (
    ExpressionFile("Davis17_annot1.txt", 1, "first_frame", 0),
    ExpressionFile("Davis17_annot1_full_video.txt", 1, "full_video", 1),
    ExpressionFile("Davis17_annot2.txt", 2, "first_frame", 2),
    ExpressionFile("Davis17_annot2_full_video.txt", 2, "full_video", 3),
)
NAME_FIXES = {"clasic-car": "classic-car", "dog-scale": "dogs-scale",
              "motor-bike": "motorbike"}
_LINE_RE = re.compile(r'^(\S+)\s+(\d+)\s+"(.*)"\s*$')
_LOOSE_LINE_RE = re.compile(r'^(\S+)\s+(\S+)\s+"(.*)"\s*$')  # Any object id.


def davis_dir(root: str) -> str:
  """`<root>/DAVIS` if it exists, else `<root>`."""
  sub = os.path.join(root, "DAVIS")
  return sub if os.path.isdir(sub) else root


def split_file(root: str, split: str) -> str:
  """`ImageSets/2017/<split>.txt` of the DAVIS folder."""
  return os.path.join(davis_dir(root), "ImageSets", "2017", f"{split}.txt")


def frames_dir(root: str, video: str) -> str:
  """`JPEGImages/480p/<video>` of the DAVIS folder."""
  return os.path.join(davis_dir(root), "JPEGImages", "480p", video)


def masks_dir(root: str, video: str, annotations: str) -> str:
  """The 480p PNG folder of `video` in the annotation set `annotations`."""
  return os.path.join(davis_dir(root), ANNOTATION_DIRS[annotations], "480p", video)


def text_dir(root: str) -> str:
  """The folder holding the Davis17_annot*.txt files."""
  for cand in (os.path.join(root, "davis_text_annotations"), root, davis_dir(root)):
    if os.path.isfile(os.path.join(cand, EXPRESSION_FILES[0].name)):
      return cand
  return os.path.join(root, "davis_text_annotations")


def decode_text(raw: bytes) -> tuple[str, str]:
  """Decodes UTF-8, else latin-1 (the annot2 files). Returns (text, encoding)."""
  try:
    return raw.decode("utf-8-sig"), "utf-8"
  except UnicodeDecodeError:
    return raw.decode("latin-1"), "latin-1"


def parse_expression_line(line: str) -> tuple[str, int, str] | None:
  """`<video> <obj_id> "<expression>"` -> (fixed video name, obj_id, expression).

  Returns None for a line that does not have that form.
  """
  m = _LINE_RE.match(line.strip())
  if not m:
    return None
  video = NAME_FIXES.get(m.group(1), m.group(1))
  return video, int(m.group(2)), m.group(3).strip()


def read_expression_file(path: str, sink=None) -> dict[str, dict[int, str]]:
  """Reads and checks one expression file: `{video: {obj_id: expression}}`.

  Errors: missing, empty, a malformed line, a second expression for an object.
  Skipped (warning): an empty expression, a non-integer object id. Notes: decoded as
  latin-1 (the annot2 files), misspelt video names fixed.
  """
  sink = sink or Strict()
  got = read_lines(sink, path, "expression file", ("utf-8", "latin-1"))
  if got is None:
    return {}
  lines, enc = got
  if enc != "utf-8":
    sink.note(path, f"decoded as {enc} (expected for the annot2 files)")
  out: dict[str, dict[int, str]] = {}
  fixed: dict[tuple[str, str], int] = collections.Counter()
  for line_no, line in enumerate(lines, start=1):
    if not line.strip():
      continue
    where = f"{path}:{line_no}"
    parsed = parse_expression_line(line)
    if parsed is None:
      loose = _LOOSE_LINE_RE.match(line.strip())
      if loose:
        video = NAME_FIXES.get(loose.group(1), loose.group(1))
        sink.skip(where, video, f"expression skipped: object id {loose.group(2)!r} is "
                                "not an integer")
      else:
        sink.error(where, f'expected `<video> <obj_id> "<expression>"`, got {line!r}')
      continue
    video, obj_id, exp = parsed
    if video != line.split()[0]:
      fixed[(line.split()[0], video)] += 1
    if not exp:
      sink.skip(where, video, f"expression of object {obj_id} skipped: empty "
                              "expression")
      continue
    if obj_id in out.get(video, {}):
      sink.error(where, f"second expression for {video} object {obj_id}")
      continue
    out.setdefault(video, {})[obj_id] = exp
  for (wrong, right), count in sorted(fixed.items()):
    sink.note(path, f"video name '{wrong}' fixed to '{right}' ({count} lines)")
  if not any(line.strip() for line in lines):
    sink.error(path, "no expressions (empty file)")
  return out


def read_split(root: str, split: str, sink=None) -> list[str]:
  """Videos of `ImageSets/2017/<split>.txt`, in file order."""
  sink = sink or Strict()
  path = split_file(root, split)
  got = read_lines(sink, path, "split file")
  videos = [line.strip() for line in (got[0] if got else []) if line.strip()]
  if got is not None and not videos:
    sink.error(path, "empty split file")
  return videos


def read_expressions(root: str, sink=None) -> dict[str, list[dict[str, Any]]]:
  """All expressions, interleaved: `{video: [{"exp_id", "obj_id", "exp", ...}, ...]}`.

  Videos that no `ImageSets/2017` split lists are left out with a warning.
  """
  sink = sink or Strict()
  tdir = text_dir(root)
  per_file = [(spec, read_expression_file(os.path.join(tdir, spec.name), sink))
              for spec in EXPRESSION_FILES]
  in_splits = set()
  for split in SPLITS:
    if os.path.isfile(split_file(root, split)):
      in_splits |= set(read_split(root, split, sink))
  out: dict[str, list[dict[str, Any]]] = {}
  for video in sorted({v for _, exps in per_file for v in exps}):
    if in_splits and video not in in_splits:
      sink.skip(tdir, video, "expressions skipped: the video is in no ImageSets/2017 "
                             "split")
      continue
    obj_ids = sorted({o for _, exps in per_file for o in exps.get(video, {})}, key=str)
    rows = []
    for rank, obj_id in enumerate(obj_ids):
      missing = [spec.name for spec, exps in per_file
                 if obj_id not in exps.get(video, {})]
      if missing:
        sink.note(tdir, f"{video} object {obj_id} has no expression in {missing}")
      for spec, exps in per_file:
        if obj_id in exps.get(video, {}):
          rows.append({"exp_id": str(4 * rank + spec.slot), "obj_id": obj_id,
                       "exp": exps[video][obj_id], "annotator": spec.annotator,
                       "kind": spec.kind, "slot": spec.slot})
    out[video] = rows
  return out


def list_video(root: str, video: str, annotations: str, sink=None
               ) -> tuple[list[str], list[str]]:
  """(frame paths, mask paths) of a video; an error unless they pair up one to one."""
  sink = sink or Strict()
  img_dir = frames_dir(root, video)
  ann_dir = masks_dir(root, video, annotations)
  try:
    frames = sorted(n[:-4] for n in os.listdir(img_dir) if n.endswith(".jpg"))
  except OSError:
    sink.error(img_dir, f"missing frames folder (video '{video}')")
    return [], []
  try:
    masks = sorted(n[:-4] for n in os.listdir(ann_dir) if n.endswith(".png"))
  except OSError:
    sink.error(ann_dir, f"missing annotation folder (video '{video}')")
    masks = None
  if not frames:
    sink.error(img_dir, "no frames")
  if masks is not None and frames != masks:
    sink.error(ann_dir, f"frame-count mismatch: {len(masks)} masks for {len(frames)} "
                        f"frames in {img_dir} (first difference: "
                        f"{sorted(set(frames) ^ set(masks))[:3]})")
  return ([os.path.join(img_dir, f + ".jpg") for f in frames],
          [os.path.join(ann_dir, f + ".png") for f in (masks or [])])


def check_objects(sink, video: str, ann_dir: str, rows: list[dict[str, Any]],
                  present: set[int]) -> None:
  """Warns about objects of the expressions that occur in no mask of the video.

  They are kept: the evaluation protocol scores every expression on every frame, so
  such an expression is scored against empty masks (the id-space caveat of the module
  docstring is the usual cause).
  """
  absent: dict[int, list[str]] = {}
  for row in rows:
    if row["obj_id"] not in present:
      absent.setdefault(row["obj_id"], []).append(row["exp_id"])
  for obj, exp_ids in sorted(absent.items()):
    sink.skip(ann_dir, video, f"object {obj} (expressions {exp_ids}) never occurs in "
                              "these masks (id-space mismatch?): scored against empty "
                              "masks")


def load_refer_davis(root: str, split: str = "val", *,
                     annotations: str = "unsupervised",
                     targets: str = "all") -> list[Sample]:
  """Reads one split of Refer-DAVIS17.

  The checks are the validator's (`read_expressions`, `read_split`, `list_video`,
  `read_label_png`, `check_objects`): an error raises, a skipped expression is a logged
  warning naming the video. Every annotation PNG is read once (a non-palette PNG is an
  error; objects that never occur are reported).

  Args:
    root: folder holding `DAVIS/` and `davis_text_annotations/` (see module docstring).
    split: "train" (60 videos) or "val" (30 videos).
    annotations: "unsupervised" (`Annotations_unsupervised/480p`, ReferFormer's
      protocol) or "semi_supervised" (`Annotations/480p`). See the id-space caveat.
    targets: "all" (every frame) or "present" (frames where `mask == obj_id` is
      non-empty).

  Returns:
    Samples ordered by video (split-file order), exp id, frame. `sample_id` is
    `<video>/<exp_id>/<frame>`; `info` holds `split`, `exp_id`, `obj_id`,
    `annotator`, `kind`, `slot`, `frame`, `num_frames`, `height`, `width`,
    and `annotations`.

  Raises:
    DataError: naming the file, on missing/unpaired frames and masks, malformed
      expression files, or a split video without expressions.
  """
  if split not in SPLITS:
    raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
  if annotations not in ANNOTATION_DIRS:
    raise ValueError(f"annotations must be one of {tuple(ANNOTATION_DIRS)}")
  if targets not in ("all", "present"):
    raise ValueError(f"targets must be 'all' or 'present', got {targets!r}")
  sink = Strict()
  expressions = read_expressions(root, sink)
  samples = []
  for video in read_split(root, split, sink):
    if video not in expressions:
      sink.error(split_file(root, split), f"video '{video}' has no expression in "
                                          f"{text_dir(root)}")
    frames, masks = list_video(root, video, annotations, sink)
    height, width = read_image(sink, frames[0], False, "frame")  # Header: for `info`.
    present = [set(np.unique(read_index_png(m)).tolist()) for m in masks]
    check_objects(sink, video, os.path.dirname(masks[0]), expressions[video],
                  set().union(*present))
    video_src = FrameFolder(frames)
    for row in expressions[video]:
      for t, (frame_path, mask_path) in enumerate(zip(frames, masks)):
        if targets == "present" and row["obj_id"] not in present[t]:
          continue
        frame = os.path.basename(frame_path)[:-4]
        info: dict[str, Any] = {
            "split": split, "exp_id": row["exp_id"], "obj_id": row["obj_id"],
            "annotator": row["annotator"], "kind": row["kind"], "slot": row["slot"],
            "frame": frame, "num_frames": len(frames), "height": height,
            "width": width, "annotations": annotations}
        samples.append(Sample(
            sample_id=f"{video}/{row['exp_id']}/{frame}", video_id=video,
            video=video_src, target=t, sentence=row["exp"],
            mask=PaletteMask(mask_path, row["obj_id"]), info=info))
  return samples


# ----------------------------------------------------------------------------------------
# Validator: Refer-DAVIS17


def validate(root: str, quick: bool = False,
             annotations: str = "unsupervised") -> Report:
  """Checks DAVIS 480p frames/masks, ImageSets and the four expression files.

  The reader's checks with a collecting sink, plus every JPEG decoded (headers only
  with `quick`) and mask sizes against the frames.
  """
  report = Report()
  ann_sets = (list(ANNOTATION_DIRS) if annotations == "both" else [annotations])
  exps = read_expressions(root, report)
  for split in SPLITS:
    path = split_file(root, split)
    for video in progress.track(read_split(root, split, report),
                                f"validating {split}", "video"):
      if video not in exps:
        report.error(path, f"video '{video}' has no expression in {text_dir(root)}")
      img_dir = frames_dir(root, video)
      if not os.path.isdir(img_dir):
        report.error(img_dir, f"missing frames folder ({split} video '{video}')")
        continue
      sizes = {}
      for name in sorted(n for n in os.listdir(img_dir) if n.endswith(".jpg")):
        img = read_image(report, os.path.join(img_dir, name), not quick, "frame")
        if img is not None:
          sizes[name[:-4]] = img if isinstance(img, tuple) else img.shape[:2]
      for ann in ann_sets:
        frames, masks = list_video(root, video, ann, report)
        present: set[int] = set()
        for png in masks:
          labels = read_label_png(report, png)
          if labels is None:
            continue
          name = os.path.basename(png)[:-4]
          if name in sizes and labels.shape[:2] != tuple(sizes[name]):
            report.error(png, f"mask size {labels.shape[:2]} != frame size "
                              f"{sizes[name]}")
          present |= set(np.unique(labels).tolist())
        if masks:
          check_objects(report, video, masks_dir(root, video, ann),
                        exps.get(video, []), present)
  return report
