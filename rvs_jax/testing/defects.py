"""A corpus of one-defect copies of each benchmark layout, with the outcome each must get.

Every `Defect` starts from a clean tree of `rvs_jax.testing.fixtures` and plants exactly
one problem. Its `outcome` is the one verdict every path must reach -- the validator
(`python -m rvs_jax.data.validate`), the training loader (the registry's reader and the
input pipeline) and the TFDS builder in `data/`:

* "error": the data cannot be trusted. The validator reports an error, the loader and
  the builder raise `DataError`; all three name `path` (a part of the file's path) and
  say `message`.
* "warning": one sample is unusable. Nothing fails; the validator and the readers give
  the same warning (naming `path`, the video and `message`), and no sample id matches
  `absent` on any path.
* "ok": a harmless variant (e.g. a UTF-8 byte-order mark) that must read like the clean
  tree.

Usage::

  for defect in defects.DEFECTS:
    defect.write(root)   # clean fixture + the defect
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from typing import Any, Callable

from PIL import Image

from rvs_jax.testing import fixtures

WRITERS: dict[str, Callable[[str], Any]] = {
    "a2d_sentences": fixtures.write_a2d,
    "jhmdb_sentences": fixtures.write_jhmdb,
    "refer_youtube_vos": fixtures.write_refer_youtube_vos,
    "refer_davis": fixtures.write_refer_davis,
}
OUTCOMES = ("error", "warning", "ok")


@dataclasses.dataclass(frozen=True)
class Defect:
  """One planted problem and the verdict every path must give.

  Attributes:
    benchmark: the registry name.
    name: short unique id (the test's parameter id).
    plant: `plant(root)` changes a clean tree in place.
    outcome: "error", "warning" or "ok" (module docstring).
    path: a part of the path of the file the finding must name ("" for "ok").
    message: a part of the finding's message ("" for "ok").
    absent: regular expression of sample ids that must be absent ("warning").
  """
  benchmark: str
  name: str
  plant: Callable[[str], None]
  outcome: str
  path: str = ""
  message: str = ""
  absent: str | None = None

  def __post_init__(self):
    if self.outcome not in OUTCOMES:
      raise ValueError(f"{self.name}: outcome {self.outcome!r} not in {OUTCOMES}")

  def write(self, root: str, clean: str | None = None) -> None:
    """Writes the clean tree (or copies `clean`, one written before) plus the defect."""
    if clean is None:
      WRITERS[self.benchmark](root)
    else:
      shutil.copytree(clean, root)
    self.plant(root)


# ----------------------------------------------------------------------------------------
# File surgery


def _read(path: str) -> bytes:
  with open(path, "rb") as f:
    return f.read()


def _write(path: str, data: bytes) -> None:
  with open(path, "wb") as f:
    f.write(data)


def _replace(rel: str, old: str, new: str, encoding: str = "utf-8"):
  """Replaces `old` (which must occur) by `new` in a text file, saved as `encoding`."""
  def plant(root):
    path = os.path.join(root, rel)
    raw = _read(path)
    try:
      text = raw.decode("utf-8")
    except UnicodeDecodeError:  # The clean annot2 files of Refer-DAVIS are latin-1.
      text = raw.decode("latin-1")
    if old not in text:
      raise ValueError(f"{path}: {old!r} not found")
    _write(path, text.replace(old, new).encode(encoding))
  return plant


def _append(rel: str, line: str):
  def plant(root):
    path = os.path.join(root, rel)
    data = _read(path)
    _write(path, data + (b"" if data.endswith(b"\n") else b"\n") + line.encode() + b"\n")
  return plant


def _bom(rel: str):
  def plant(root):
    path = os.path.join(root, rel)
    _write(path, b"\xef\xbb\xbf" + _read(path))
  return plant


def _set_text(rel: str, data: bytes):
  def plant(root):
    _write(os.path.join(root, rel), data)
  return plant


def _cut(rel: str, keep: float | str):
  """Truncates a file to a fraction of its bytes, or just after the text `keep`."""
  def plant(root):
    path = os.path.join(root, rel)
    data = _read(path)
    if isinstance(keep, str):
      end = data.index(keep.encode()) + len(keep)
    else:
      end = int(len(data) * keep)
    _write(path, data[:end])
  return plant


def _remove(rel: str):
  def plant(root):
    os.remove(os.path.join(root, rel))
  return plant


def _to_rgb(rel: str):
  """Re-saves a palette PNG as RGB (its colours, no longer its ids)."""
  def plant(root):
    path = os.path.join(root, rel)
    with Image.open(path) as im:
      rgb = im.convert("RGB")
    rgb.save(path)
  return plant


def _edit_json(rel: str, edit: Callable[[dict], None], encoding: str = "utf-8"):
  def plant(root):
    path = os.path.join(root, rel)
    data = json.loads(_read(path).decode("utf-8"))
    edit(data)
    _write(path, json.dumps(data, ensure_ascii=False).encode(encoding))
  return plant


def _shorter_mp4(rel: str, num_frames: int):
  """Re-encodes a clip keeping only its first `num_frames` frames."""
  def plant(root):
    from rvs_jax.data import video_io  # pylint: disable=g-import-not-at-top
    path = os.path.join(root, rel)
    frames = video_io.decode_mp4(path)[:num_frames]
    os.remove(path)
    video_io.write_mp4(path, frames, pix_fmt="yuv444p")
  return plant


# ----------------------------------------------------------------------------------------
# A2D Sentences

_A2D_ANN = "text_annotations/a2d_annotation.txt"
_A2D_H5 = "text_annotations/a2d_annotation_with_instances"
_A2D = [
    Defect("a2d_sentences", "a2d_frame_count", _shorter_mp4(
        "Release/clips320H/vidTestA.mp4", 12), "error", "vidTestA/00015.h5",
           "frame-count mismatch: annotates frame 15"),
    Defect("a2d_sentences", "a2d_missing_h5", _remove(f"{_A2D_H5}/vidTrainA/00010.h5"),
           "warning", f"{_A2D_H5}/vidTrainA", "video 'vidTrainA': 1 of its 3 annotated "
           "frames", absent=r"^vidTrainA/00010/"),
    Defect("a2d_sentences", "a2d_empty_sentence", _replace(
        _A2D_ANN, "vidTestA,2,car driving", "vidTestA,2,"), "warning", _A2D_ANN,
           "video 'vidTestA': sentence of instance 2 skipped: empty sentence",
           absent=r"^vidTestA/\d+/2"),
    Defect("a2d_sentences", "a2d_non_integer_instance", _replace(
        _A2D_ANN, "vidTestA,2,car", "vidTestA,two,car"), "warning", _A2D_ANN,
           "video 'vidTestA': sentence skipped: instance id 'two' is not an integer",
           absent=r"^vidTestA/\d+/2"),
    Defect("a2d_sentences", "a2d_unknown_video", _append(
        _A2D_ANN, "vidGhost,1,a ghost walking"), "warning", _A2D_ANN,
           "video 'vidGhost': sentence skipped: no such video", absent=r"^vidGhost/"),
    Defect("a2d_sentences", "a2d_instance_in_no_frame", _append(
        _A2D_ANN, "vidTrainB,3,a third ball"), "warning", f"{_A2D_H5}/vidTrainB",
           "video 'vidTrainB': sentence(s) of instance 3 skipped",
           absent=r"^vidTrainB/\d+/3"),
    Defect("a2d_sentences", "a2d_latin1", _replace(
        _A2D_ANN, "adult walking left", "adult walking to the caf\u00e9", "latin-1"),
           "error", f"{_A2D_ANN}:6", "not UTF-8"),
    Defect("a2d_sentences", "a2d_bom", _bom(_A2D_ANN), "ok"),
    Defect("a2d_sentences", "a2d_empty_annotation_file", _set_text(_A2D_ANN, b""),
           "error", _A2D_ANN, "empty file"),
    Defect("a2d_sentences", "a2d_header_only", _set_text(
        _A2D_ANN, b"video_id,instance_id,query\r\n"), "error", _A2D_ANN,
           "no sentence rows (header only)"),
    Defect("a2d_sentences", "a2d_truncated_annotation", _cut(
        _A2D_ANN, "vidTrainB,1 (co"), "error", _A2D_ANN, "file truncated?"),
    Defect("a2d_sentences", "a2d_truncated_h5",
           _cut(f"{_A2D_H5}/vidTrainB/00010.h5", 0.5), "error", "vidTrainB/00010.h5",
           "unreadable h5 file"),
    Defect("a2d_sentences", "a2d_truncated_videoset", _cut(
        "Release/videoset.csv", "vidMissed,11,0.0,1.0"), "error", "videoset.csv:4",
           "expected 9 columns"),
]

# ----------------------------------------------------------------------------------------
# J-HMDB Sentences

_JH_ANN = "jhmdb_annotation.txt"
_JHMDB = [
    Defect("jhmdb_sentences", "jhmdb_truncated_mat", _cut(
        "puppet_mask/pullup/pullup_a/puppet_mask.mat", 0.5), "error",
           "pullup_a/puppet_mask.mat", "unreadable .mat file"),
    Defect("jhmdb_sentences", "jhmdb_missing_frame", _remove(
        "Rename_Images/walk/walk_b/00003.png"), "error", "walk_b/00003.png",
           "missing frame"),
    Defect("jhmdb_sentences", "jhmdb_frame_count", _remove(
        "Rename_Images/pullup/pullup_a/00010.png"), "error", "pullup_a/puppet_mask.mat",
           "frame-count mismatch: 10 masks but only 9 frames"),
    Defect("jhmdb_sentences", "jhmdb_missing_mat", _remove(
        "puppet_mask/walk/walk_a/puppet_mask.mat"), "error", "walk_a/puppet_mask.mat",
           "missing mask file"),
    Defect("jhmdb_sentences", "jhmdb_empty_sentence", _replace(
        _JH_ANN, "pullup_b,a boy, in red, pulling himself up", "pullup_b, "), "warning",
           f"{_JH_ANN}:3", "video 'pullup_b': sentence skipped: empty sentence",
           absent=r"^pullup_b/"),
    Defect("jhmdb_sentences", "jhmdb_unknown_video", _append(
        _JH_ANN, "ghost_video,a ghost floating"), "warning", f"{_JH_ANN}:6",
           "video 'ghost_video': sentence skipped: no frames folder",
           absent=r"^ghost_video/"),
    Defect("jhmdb_sentences", "jhmdb_latin1", _replace(
        _JH_ANN, "woman walking to the left", "woman walking to the caf\u00e9",
        "latin-1"), "error", f"{_JH_ANN}:4", "not UTF-8"),
    Defect("jhmdb_sentences", "jhmdb_bom", _bom(_JH_ANN), "ok"),
    Defect("jhmdb_sentences", "jhmdb_empty_annotation_file", _set_text(_JH_ANN, b""),
           "error", _JH_ANN, "empty file"),
    Defect("jhmdb_sentences", "jhmdb_header_only", _set_text(
        _JH_ANN, b"video_id,query\n"), "error", _JH_ANN, "no annotations (header only)"),
    Defect("jhmdb_sentences", "jhmdb_truncated_annotation", _cut(
        _JH_ANN, "pullup_b,a boy, in re"), "error", _JH_ANN, "file truncated?"),
]

# ----------------------------------------------------------------------------------------
# Refer-YouTube-VOS

_YT_TRAIN = "meta_expressions/train/meta_expressions.json"
_YT_VALID = "meta_expressions/valid/meta_expressions.json"


def _yt_exp(vid: str, exp_id: str, **fields):
  def edit(meta):
    meta["videos"][vid]["expressions"].setdefault(exp_id, {}).update(fields)
  return edit


def _yt_no_videos(meta):
  meta["videos"] = {}


_YTVOS = [
    Defect("refer_youtube_vos", "ytvos_rgb_png", _to_rgb(
        "train/Annotations/trainB/00005.png"), "error", "trainB/00005.png",
           "not a palette PNG (mode RGB)"),
    Defect("refer_youtube_vos", "ytvos_object_absent", _edit_json(
        _YT_TRAIN, _yt_exp("trainA", "12", exp="a ghost", obj_id="7")), "warning",
           _YT_TRAIN, "video 'trainA': expression '12' skipped: object 7 never occurs",
           absent=r"^trainA/12/"),
    Defect("refer_youtube_vos", "ytvos_empty_expression", _edit_json(
        _YT_TRAIN, _yt_exp("trainB", "0", exp=" ")), "warning", _YT_TRAIN,
           "video 'trainB': expression '0' skipped: empty sentence",
           absent=r"^trainB/0/"),
    Defect("refer_youtube_vos", "ytvos_non_integer_obj_id", _edit_json(
        _YT_TRAIN, _yt_exp("trainA", "3", obj_id="two")), "warning", _YT_TRAIN,
           "video 'trainA': expression '3' skipped: obj_id 'two' is not an integer",
           absent=r"^trainA/3/"),
    Defect("refer_youtube_vos", "ytvos_latin1", _edit_json(
        _YT_TRAIN, _yt_exp("trainB", "0", exp="a cat on the caf\u00e9 sofa"),
        "latin-1"), "error", _YT_TRAIN, "not UTF-8"),
    Defect("refer_youtube_vos", "ytvos_bom", _bom(_YT_TRAIN), "ok"),
    Defect("refer_youtube_vos", "ytvos_truncated_json", _cut(_YT_VALID, 0.6), "error",
           _YT_VALID, "invalid JSON"),
    Defect("refer_youtube_vos", "ytvos_empty_json", _set_text(_YT_TRAIN, b""), "error",
           _YT_TRAIN, "empty file"),
    Defect("refer_youtube_vos", "ytvos_no_videos", _edit_json(_YT_TRAIN, _yt_no_videos),
           "error", _YT_TRAIN, "no videos"),
    Defect("refer_youtube_vos", "ytvos_missing_png", _remove(
        "train/Annotations/trainA/00010.png"), "error", "trainA/00010.png",
           "missing annotation PNG"),
    Defect("refer_youtube_vos", "ytvos_missing_jpeg", _remove(
        "valid/JPEGImages/valB/00010.jpg"), "error", "valB/00010.jpg", "missing frame"),
    Defect("refer_youtube_vos", "ytvos_truncated_png", _cut(
        "train/Annotations/trainA/00005.png", 0.5), "error", "trainA/00005.png",
           "unreadable annotation PNG"),
]

# ----------------------------------------------------------------------------------------
# Refer-DAVIS17

_DV_TEXT = "davis_text_annotations"
_DV_A1 = f"{_DV_TEXT}/Davis17_annot1.txt"
_DV_A1F = f"{_DV_TEXT}/Davis17_annot1_full_video.txt"
_DV_UNSUP = "DAVIS/Annotations_unsupervised/480p"
_DAVIS = [
    Defect("refer_davis", "davis_rgb_png", _to_rgb(f"{_DV_UNSUP}/bear/00001.png"),
           "error", "bear/00001.png", "not a palette PNG (mode RGB)"),
    # Kept (the protocol scores every expression), but never silent.
    Defect("refer_davis", "davis_object_absent", _append(_DV_A1, 'bear 5 "a fish"'),
           "warning", f"{_DV_UNSUP}/bear", "video 'bear': object 5"),
    Defect("refer_davis", "davis_empty_expression", _replace(
        _DV_A1F, '"full video object 1 of bear by annotator 1"', '""'), "warning",
           _DV_A1F, "video 'bear': expression of object 1 skipped: empty expression",
           absent=r"^bear/1/"),
    Defect("refer_davis", "davis_non_integer_obj_id", _replace(
        _DV_A1, 'bear 1 "first', 'bear one "first'), "warning", _DV_A1,
           "video 'bear': expression skipped: object id 'one' is not an integer",
           absent=r"^bear/0/"),
    Defect("refer_davis", "davis_unknown_video", _append(_DV_A1, 'ghost 1 "a ghost"'),
           "warning", _DV_TEXT, "video 'ghost': expressions skipped: the video is in no "
           "ImageSets/2017 split", absent=r"^ghost/"),
    Defect("refer_davis", "davis_truncated_expressions", _cut(_DV_A1, 'motor-bike 1 "fi'),
           "error", f"{_DV_A1}:", "expected `<video> <obj_id>"),
    Defect("refer_davis", "davis_empty_expression_file", _set_text(_DV_A1F, b""),
           "error", _DV_A1F, "no expressions (empty file)"),
    Defect("refer_davis", "davis_bom", _bom(_DV_A1), "ok"),
    Defect("refer_davis", "davis_frame_count", _remove(
        "DAVIS/JPEGImages/480p/bear/00002.jpg"), "error", f"{_DV_UNSUP}/bear",
           "frame-count mismatch: 3 masks for 2 frames"),
    Defect("refer_davis", "davis_truncated_png", _cut(
        f"{_DV_UNSUP}/motorbike/00003.png", 0.5), "error", "motorbike/00003.png",
           "unreadable annotation PNG"),
    Defect("refer_davis", "davis_empty_split", _set_text(
        "DAVIS/ImageSets/2017/val.txt", b""), "error", "val.txt", "empty split file"),
]

DEFECTS: tuple[Defect, ...] = tuple(_A2D + _JHMDB + _YTVOS + _DAVIS)


def by_name(name: str) -> Defect:
  """The defect called `name`."""
  for d in DEFECTS:
    if d.name == name:
      return d
  raise KeyError(f"no defect {name!r}; known: {[d.name for d in DEFECTS]}")


def _check_unique() -> None:
  names = [d.name for d in DEFECTS]
  dup = sorted({n for n in names if names.count(n) > 1})
  if dup:
    raise ValueError(f"duplicate defect names {dup}")


_check_unique()
