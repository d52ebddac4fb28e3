"""MeViS reader and validator: the unpacked official release -> `list[Sample]`.

MeViS (Ding et al., ICCV 2023, "MeViS: A Large-scale Benchmark for Video Segmentation
with Motion Expressions"). Layout (the release's three folders)::

  <root>/train/JPEGImages/<vid>/<frame>.jpg
  <root>/train/meta_expressions.json
  <root>/train/mask_dict.json
  <root>/valid_u/{JPEGImages, meta_expressions.json, mask_dict.json}   offline, with GT
  <root>/valid/{JPEGImages, meta_expressions.json}                     server, no GT

`meta_expressions.json` is `{"videos": {vid: {"expressions": {exp_id: {"exp", "obj_id":
[...], "anno_id": [...]}}, "frames": [...]}}}`; `mask_dict.json` is `{anno_id: [RLE or
null per frame]}`, one COCO RLE (`{"size": [H, W], "counts"}`) per entry of the video's
`frames` list, in that list's order (as the official `eval_mevis.py` indexes it).

Targets: an expression may refer to several objects; its ground truth on a frame is the
union of its objects' masks there (`UnionMask`), empty where none of them is visible.

Frames where every referred object is absent:

* scoring (`valid_u`): every frame is a sample, as in `eval_mevis.py`; an empty target
  with an empty prediction scores J = F = 1 (`evaluation.davis`), a mask J = F = 0.
* training (`train`, default `targets="all"`): kept, as all-zero targets. The protocol
  scores those frames, and with the absolute 0.5 threshold of the video evaluator a
  model that never saw an empty target for a sentence puts a mask on them; MeViS's
  motion expressions ("the bird flying away") often refer to objects that leave the
  frame. `targets="present"` trains on the frames showing a referred object only (the
  Refer-YouTube-VOS default). An expression whose objects are in no mask of the video
  is skipped in `train` with a warning, and kept (scored against empty masks) in
  `valid_u`.

Clips: a video's `VideoSource` holds the frames of its `frames` list, so the clip stride
(`CLIP_STRIDE`, the default `config.data.clip_stride`) counts in that list: 1, as for
Refer-YouTube-VOS.

Submission (`valid`): `<video>/<exp_id>/<frame>.png` at the zip's root (the registry's
`submission_root=""`), written by `rvs_jax.evaluation.submission`.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

import numpy as np
from pycocotools import mask as coco_mask

from rvs_jax import progress
from rvs_jax.data.checks import Report, Strict, read_image, read_json
from rvs_jax.data.refer_youtube_vos import check_frames, read_videos
from rvs_jax.data.types import Sample
from rvs_jax.data.video_io import FrameFolder

SPLITS = ("train", "valid_u", "valid")
MASKED_SPLITS = ("train", "valid_u")
CLIP_STRIDE = 1
META_EXPRESSIONS = "meta_expressions.json"
MASK_DICT = "mask_dict.json"
TARGETS = ("all", "present")


def meta_expressions_path(root: str, split: str) -> str:
  """`<root>/<split>/meta_expressions.json`."""
  return os.path.join(root, split, META_EXPRESSIONS)


def mask_dict_path(root: str, split: str) -> str:
  """`<root>/<split>/mask_dict.json` (train and valid_u only)."""
  return os.path.join(root, split, MASK_DICT)


def frames_dir(root: str, split: str, vid: str) -> str:
  """`<root>/<split>/JPEGImages/<vid>`."""
  return os.path.join(root, split, "JPEGImages", vid)


# eq=False: the RLE dicts are unhashable, and a sample's mask is compared by identity.
@dataclasses.dataclass(frozen=True, eq=False)
class UnionMask:
  """The union of an expression's objects on one frame (MaskSource).

  Attributes:
    rles: one COCO RLE (or None: object absent) per referred object, as in
      `mask_dict.json` (the parsed dicts are shared, not copied).
    size: (H, W) of the frame: the target when every object is absent.
  """
  rles: tuple[dict[str, Any] | None, ...]
  size: tuple[int, int]

  def load(self) -> np.ndarray:
    out = np.zeros(self.size, bool)
    for rle in self.rles:
      if rle is not None:
        out |= coco_mask.decode(_compressed(rle)).astype(bool)
    return out

  @property
  def present(self) -> bool:
    """Some referred object covers at least one pixel (no decoding)."""
    return any(_visible(r) for r in self.rles)


def _compressed(rle: dict[str, Any]) -> dict[str, Any]:
  """The RLE in pycocotools' compressed form (converts an uncompressed `counts`)."""
  if isinstance(rle["counts"], list):
    return coco_mask.frPyObjects(rle, *rle["size"])
  return rle


def _visible(rle: dict[str, Any] | None) -> bool:
  return rle is not None and coco_mask.area(_compressed(rle)) > 0


def encode_rle(mask: np.ndarray) -> dict[str, Any]:
  """bool `(H, W)` -> the JSON-able COCO RLE of `mask_dict.json` (`counts` as str)."""
  rle = coco_mask.encode(np.asfortranarray(mask.astype(np.uint8)))
  return {"size": [int(s) for s in rle["size"]],
          "counts": rle["counts"].decode("ascii")}


# ----------------------------------------------------------------------------------------
# Checks shared by the reader and the validator


def _ids(value: Any) -> list[str] | None:
  """A list of integer ids (ints or digit strings) as strings; None if malformed."""
  if not isinstance(value, list) or not value:
    return None
  out = [str(v).strip() for v in value]
  return out if all(v.isdigit() for v in out) else None


def check_expressions(sink, path: str, vid: str, entry: Any, need_anno_id: bool
                      ) -> tuple[list[str], dict[str, dict[str, Any]]]:
  """Checks one video's entry of a MeViS `meta_expressions.json`.

  Errors: no `expressions` dict, no `frames` list, no expression at all, a sentence
  with replacement characters. Skipped (warning): an empty sentence; where masks are
  needed, an `anno_id` that is missing, empty or not a list of integers.

  Returns:
    (frame names in the file's order -- `mask_dict.json` indexes that order --,
    {exp_id: {"exp", "obj_id" (list of int, or None), "anno_id" (list of str)}} of the
    usable expressions, in numeric id order).
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
    exp = exp if isinstance(exp, dict) else {}
    text = exp.get("exp")
    if not isinstance(text, str) or not text.strip():
      sink.skip(path, vid, f"expression '{exp_id}' skipped: empty sentence")
      continue
    if "\ufffd" in text:
      sink.error(path, f"video '{vid}' expression '{exp_id}': replacement character "
                       "(text was not UTF-8 before conversion)")
      continue
    anno_ids = _ids(exp.get("anno_id"))
    if need_anno_id and anno_ids is None:
      sink.skip(path, vid, f"expression '{exp_id}' skipped: anno_id "
                           f"{exp.get('anno_id')!r} is not a list of integer ids")
      continue
    obj_ids = _ids(exp.get("obj_id"))
    usable[exp_id] = {"exp": text, "obj_id": obj_ids and [int(o) for o in obj_ids],
                      "anno_id": anno_ids or []}
  return [str(f) for f in frames], usable


def check_masks(sink, path: str, vid: str, masks: dict[str, Any],
                expressions: dict[str, dict[str, Any]], num_frames: int,
                size: tuple[int, int] | None) -> dict[str, list]:
  """Checks the `mask_dict.json` entries of one video's expressions.

  Errors (naming `mask_dict.json` and the video): an `anno_id` absent from the file, an
  entry that is not one RLE-or-null per frame, an RLE without `size` / `counts`, an
  RLE size that disagrees with the frames.

  Args:
    sink: `Strict` or `Report`.
    path: `mask_dict.json`.
    vid: the video.
    masks: the parsed `mask_dict.json`.
    expressions: from `check_expressions`.
    num_frames: length of the video's `frames` list.
    size: (H, W) of the video's frames, or None if unknown.

  Returns:
    {anno_id: its per-frame list} of the entries that passed.
  """
  good: dict[str, list] = {}
  seen = set()  # Each anno_id is checked (and reported) once per video.
  for exp_id, exp in expressions.items():
    for anno in exp["anno_id"]:
      if anno in seen:
        continue
      seen.add(anno)
      where = f"video '{vid}' expression '{exp_id}': anno_id {anno}"
      entry = masks.get(anno)
      if entry is None:
        sink.error(path, f"{where} is not in the file")
        continue
      if not isinstance(entry, list) or len(entry) != num_frames:
        got = len(entry) if isinstance(entry, list) else type(entry).__name__
        sink.error(path, f"{where} has {got} masks for {num_frames} frames")
        continue
      bad = [t for t, r in enumerate(entry) if r is not None and not (
          isinstance(r, dict) and isinstance(r.get("counts"), (str, list))
          and isinstance(r.get("size"), list) and len(r["size"]) == 2)]
      if bad:
        sink.error(path, f"{where}: frame #{bad[0]} is not a COCO RLE "
                         f"({len(bad)} such frame(s))")
        continue
      wrong = [t for t, r in enumerate(entry)
               if r is not None and size is not None and tuple(r["size"]) != size]
      if wrong:
        sink.error(path, f"{where}: RLE size {tuple(entry[wrong[0]]['size'])} of frame "
                         f"#{wrong[0]} != frame size {size} ({len(wrong)} such "
                         "frame(s))")
        continue
      good[anno] = entry
  return good


def check_visible(sink, path: str, vid: str, expressions: dict[str, dict[str, Any]],
                  masks: dict[str, list]) -> dict[str, dict[str, Any]]:
  """Drops (warning) the expressions none of whose objects is in any mask (train)."""
  out = {}
  for exp_id, exp in expressions.items():
    if not any(_visible(r) for a in exp["anno_id"] for r in masks.get(a, ())):
      sink.skip(path, vid, f"expression '{exp_id}' skipped: its objects "
                           f"{exp['anno_id']} are in no mask of the video")
      continue
    out[exp_id] = exp
  return out


def _read_split(sink, root: str, split: str):
  """One split's (meta path, videos, mask path, mask dict).

  The mask dict is {} for `valid` and after an error.
  """
  meta_path = meta_expressions_path(root, split)
  videos = read_videos(sink, meta_path)
  mask_path = mask_dict_path(root, split)
  masks: Any = {}
  if split in MASKED_SPLITS:
    masks = read_json(sink, mask_path, "mask_dict file")
    if masks is not None and not isinstance(masks, dict):
      sink.error(mask_path, "expected {anno_id: [RLE or null per frame]}")
    masks = masks if isinstance(masks, dict) else {}
  return meta_path, videos, mask_path, masks


# ----------------------------------------------------------------------------------------
# Reader


def load_mevis(root: str, split: str = "train", *,
               targets: str = "all") -> list[Sample]:
  """Reads one split of MeViS: one sample per (video, expression, frame).

  The checks are the validator's (`check_expressions`, `check_frames`, `check_masks`,
  `check_visible`): an error raises `DataError` naming the file and the video, a skipped
  expression is a logged warning.

  Args:
    root: the unpacked release (holds `train/`, `valid_u/`, `valid/`).
    split: "train", "valid_u" (offline scoring, with masks) or "valid" (no masks).
    targets: "all" (every frame; frames without any referred object are empty targets)
      or "present" (frames where a referred object is visible; train only).

  Returns:
    Samples ordered by video, expression id (numeric), frame. `sample_id` is
    `<vid>/<exp_id>/<frame>`, `target` indexes the video's `frames` list, `mask` is a
    `UnionMask` on train / valid_u and None on valid. `info` holds `split`, `exp_id`,
    `obj_id` (list or None), `anno_id` (list), `frame`, `num_frames`, `height`, `width`
    and, with masks, `present`.

  Raises:
    DataError: missing or malformed files, frames, masks.
  """
  if split not in SPLITS:
    raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
  if targets not in TARGETS:
    raise ValueError(f"targets must be one of {TARGETS}, got {targets!r}")
  if targets == "present" and split != "train":
    raise ValueError("targets='present' is for training: the protocol scores every "
                     "frame")
  sink = Strict()
  masked = split in MASKED_SPLITS
  meta_path, videos, mask_path, masks = _read_split(sink, root, split)
  samples = []
  for vid in sorted(videos):
    frames, expressions = check_expressions(sink, meta_path, vid, videos[vid], masked)
    paths = check_frames(sink, frames_dir(root, split, vid), frames, split, vid)
    height, width = read_image(sink, paths[0], False, "frame")  # Header only.
    video = FrameFolder(paths)
    entries: dict[str, list] = {}
    if masked:
      entries = check_masks(sink, mask_path, vid, masks, expressions, len(frames),
                            (height, width))
      if split == "train":
        expressions = check_visible(sink, mask_path, vid, expressions, entries)
    for exp_id, exp in expressions.items():
      for t, frame in enumerate(frames):
        info: dict[str, Any] = {
            "split": split, "exp_id": exp_id, "obj_id": exp["obj_id"],
            "anno_id": exp["anno_id"], "frame": frame, "num_frames": len(frames),
            "height": height, "width": width}
        mask = None
        if masked:
          mask = UnionMask(tuple(entries[a][t] for a in exp["anno_id"]),
                           (height, width))
          info["present"] = mask.present
          if targets == "present" and not info["present"]:
            continue
        samples.append(Sample(
            sample_id=f"{vid}/{exp_id}/{frame}", video_id=vid, video=video, target=t,
            sentence=exp["exp"], mask=mask, info=info))
  return samples


# ----------------------------------------------------------------------------------------
# Validator


def validate(root: str, quick: bool = False) -> Report:
  """Checks train / valid_u / valid: the reader's checks, collected.

  Plus every JPEG decoded (headers only with `quick`), frame sizes within a video, and
  every RLE decoded (skipped with `quick`). A split folder that is missing is an error.
  """
  report = Report()
  for split in SPLITS:
    if not os.path.isdir(os.path.join(root, split)):
      report.error(os.path.join(root, split), f"missing split folder ({split})")
      continue
    masked = split in MASKED_SPLITS
    meta_path, videos, mask_path, masks = _read_split(report, root, split)
    for vid in progress.track(sorted(videos), f"validating {split}", "video"):
      frames, expressions = check_expressions(report, meta_path, vid, videos[vid],
                                              masked)
      paths = check_frames(report, frames_dir(root, split, vid), frames, split, vid)
      sizes = set()
      for p in paths:
        img = read_image(report, p, not quick, "frame")
        if img is not None:
          sizes.add(tuple(img) if isinstance(img, tuple) else img.shape[:2])
      if len(sizes) > 1:
        report.error(frames_dir(root, split, vid), f"video '{vid}': frames of "
                                                   f"different sizes {sorted(sizes)}")
      if not masked:
        continue
      size = next(iter(sizes)) if len(sizes) == 1 else None
      entries = check_masks(report, mask_path, vid, masks, expressions, len(frames),
                            size)
      if not quick:
        _decode_all(report, mask_path, vid, entries)
      if split == "train":
        check_visible(report, mask_path, vid, expressions, entries)
  return report


def _decode_all(report, path: str, vid: str, entries: dict[str, list]) -> None:
  """Every RLE of the video decodes (corrupt `counts` is an error per anno_id)."""
  for anno, entry in entries.items():
    for t, rle in enumerate(entry):
      if rle is None:
        continue
      try:
        coco_mask.decode(_compressed(rle))
      except (ValueError, TypeError) as e:
        report.error(path, f"video '{vid}': anno_id {anno} frame #{t}: undecodable "
                           f"RLE ({e})")
        break


# ----------------------------------------------------------------------------------------
# Writer (the test fixtures)


def write_split(root: str, split: str, videos: dict[str, Any],
                masks: dict[str, list] | None) -> None:
  """Writes a split's `meta_expressions.json` (and `mask_dict.json` if `masks`)."""
  os.makedirs(os.path.join(root, split), exist_ok=True)
  with open(meta_expressions_path(root, split), "w", encoding="utf-8") as f:
    json.dump({"videos": videos}, f)
  if masks is not None:
    with open(mask_dict_path(root, split), "w", encoding="utf-8") as f:
      json.dump(masks, f)

