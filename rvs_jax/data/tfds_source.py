"""The TFDS example schema of our benchmark builders, and reading built datasets back.

The builders in the top-level `data/` folder turn each `Sample` of a reader into one
TFDS example with `features()` / `encode_sample()` below; `load_records()` and
`record_to_sample()` turn a built dataset back into decoded records or `Sample`s for the
runtime pipeline, without importing the builder scripts (the schema is read from the
dataset's own `features.json`).

Example schema (every builder; benchmark extras are added per builder):

  frames        Sequence(Image(jpeg), length=8)  the clip at original resolution
  clip_indices  int32 [8]     0-based frame indices of the clip; the target is index 4
  num_frames    int32         frames in the video (clips are clamped to it)
  mask          Image(png) uint8 [H, W, 1]  0/255; all-zero where none
  has_mask      bool          False where the split has no ground truth
  sentence      Text
  sample_id, video_id  Text
  target        int32         0-based target frame index in the video
  height, width int32         original frame size
  info          Text          `Sample.info` as JSON

Clip rule: `rvs_jax.data.pipeline.clip_indices` -- 8 offsets `stride * (-4 .. +3)`
around the target (stride 2 -> -8..+6 for A2D / J-HMDB, stride 1 -> -4..+3 for
Refer-YouTube-VOS / Refer-DAVIS: the builder passes its benchmark's `clip_stride` from
`rvs_jax.data.registry`), clamped to the video, so clip index 4 is always the target. A
training run reading the stored clips back must use the same `config.data.clip_stride`:
other frames are not stored (`ClipVideo` says which are).
"""

from __future__ import annotations

import glob
import io
import json
import os
from typing import Any, Iterator, Mapping, Sequence

import numpy as np
from PIL import Image

from rvs_jax.data.pipeline import clip_indices
from rvs_jax.data.types import DataError, Sample

CLIP_LENGTH = 8
JPEG_QUALITY = 95


# ----------------------------------------------------------------------------------------
# Writing (used by the builders in data/)


def features(extras: Mapping[str, Any] | None = None):
  """The `tfds.features.FeaturesDict` of an example, plus benchmark `extras`."""
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  tf_features = tfds.features
  spec = {
      "frames": tf_features.Sequence(
          tf_features.Image(shape=(None, None, 3), encoding_format="jpeg"),
          length=CLIP_LENGTH),
      "clip_indices": tf_features.Tensor(shape=(CLIP_LENGTH,), dtype=np.int32),
      "num_frames": np.int32,
      "mask": tf_features.Image(shape=(None, None, 1), encoding_format="png"),
      "has_mask": np.bool_,
      "sentence": tf_features.Text(),
      "sample_id": tf_features.Text(),
      "video_id": tf_features.Text(),
      "target": np.int32,
      "height": np.int32,
      "width": np.int32,
      "info": tf_features.Text(),
  }
  spec.update(extras or {})
  return tf_features.FeaturesDict(spec)


def _jpeg_bytes(frame: np.ndarray) -> bytes:
  buf = io.BytesIO()
  Image.fromarray(frame).save(buf, format="JPEG", quality=JPEG_QUALITY)
  return buf.getvalue()


def encode_sample(sample: Sample, stride: int,
                  extras: Mapping[str, Any] | None = None) -> dict[str, Any]:
  """Loads a sample's clip (frame step `stride`) and mask; returns the TFDS example dict.

  Frames that are JPEG files already (Refer-YouTube-VOS, DAVIS) are stored byte for
  byte; others (mp4-decoded A2D, PNG J-HMDB) are encoded as JPEG at quality 95.

  Raises:
    DataError: unreadable frames/mask, or a mask whose size differs from the frames.
  """
  num_frames = sample.video.num_frames
  indices = [int(i) for i in clip_indices(sample.target, num_frames, CLIP_LENGTH, stride)]
  frames = sample.video.load(indices)
  height, width = frames.shape[1:3]
  paths = getattr(sample.video, "paths", None)
  if paths is not None and all(
      paths[i].lower().endswith((".jpg", ".jpeg")) for i in indices):
    encoded = []
    for i in indices:
      with open(paths[i], "rb") as f:
        encoded.append(f.read())
  else:
    encoded = [_jpeg_bytes(f) for f in frames]
  if sample.mask is not None:
    mask = np.asarray(sample.mask.load(), bool)
    if mask.shape != (height, width):
      raise DataError(f"sample {sample.sample_id}: mask {mask.shape} but frames "
                      f"{(height, width)} ({sample.mask})")
  else:
    mask = np.zeros((height, width), bool)
  example = {
      "frames": encoded,
      "clip_indices": np.asarray(indices, np.int32),
      "num_frames": num_frames,
      "mask": (mask.astype(np.uint8) * 255)[:, :, None],
      "has_mask": sample.mask is not None,
      "sentence": sample.sentence,
      "sample_id": sample.sample_id,
      "video_id": sample.video_id,
      "target": sample.target,
      "height": height,
      "width": width,
      "info": json.dumps(sample.info, sort_keys=True, ensure_ascii=False),
  }
  example.update(extras or {})
  return example


# ----------------------------------------------------------------------------------------
# Reading back


def find_builder_dir(data_dir: str, name: str, config: str | None = None) -> str:
  """`<data_dir>/<name>[/<config>]/<highest version>` of a built dataset."""
  base = os.path.join(data_dir, name, *([config] if config else []))
  found = glob.glob(os.path.join(base, "*", "dataset_info.json"))
  if not found:
    raise DataError(f"{base}: no built dataset (no */dataset_info.json)")
  def version(path):
    return tuple(int(p) for p in os.path.basename(os.path.dirname(path)).split("."))
  return os.path.dirname(max(found, key=version))


def _py(value: Any) -> Any:
  if isinstance(value, bytes):
    return value.decode("utf-8")
  if isinstance(value, np.generic):
    return value.item()
  return value


def load_records(builder_dir: str, split: str) -> Iterator[dict[str, Any]]:
  """Yields the decoded examples of one split of a built dataset.

  Args:
    builder_dir: the versioned dataset folder (see `find_builder_dir`).
    split: split name, or any TFDS split expression (e.g. "test[:10]").

  Yields:
    dicts with `frames` uint8 (8, H, W, 3), `mask` bool (H, W), `clip_indices` int32
    (8,), `info` (dict), text fields as `str`, scalars as Python numbers, plus the
    builder's extras. Order is the stored (TFDS-shuffled, deterministic) order.
  """
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  builder = tfds.builder_from_directory(builder_dir)
  ds = builder.as_dataset(split=split, shuffle_files=False)
  for ex in tfds.as_numpy(ds):
    rec = {k: _py(v) for k, v in ex.items()}
    rec["mask"] = ex["mask"][:, :, 0] > 0
    rec["info"] = json.loads(rec["info"])
    yield rec


class ClipVideo:
  """A VideoSource holding only a stored clip; other frame indices raise DataError."""

  def __init__(self, frames: np.ndarray, indices: Sequence[int], num_frames: int,
               name: str = ""):
    self._frames = frames
    self._pos = {int(i): k for k, i in enumerate(indices)}
    self._num_frames = int(num_frames)
    self._name = name

  @property
  def num_frames(self) -> int:
    return self._num_frames

  def load(self, indices: Sequence[int]) -> np.ndarray:
    missing = [int(i) for i in indices if int(i) not in self._pos]
    if missing:
      raise DataError(f"{self._name}: frames {missing} are not in the stored clip "
                      f"{sorted(self._pos)}")
    return self._frames[[self._pos[int(i)] for i in indices]]


class ArrayMask:
  """A MaskSource over an in-memory bool mask."""

  def __init__(self, mask: np.ndarray):
    self._mask = mask

  def load(self) -> np.ndarray:
    return self._mask


def record_to_sample(record: Mapping[str, Any]) -> Sample:
  """A `Sample` over a decoded record; its video holds the stored clip frames only."""
  video = ClipVideo(record["frames"], record["clip_indices"], record["num_frames"],
                    record["sample_id"])
  return Sample(
      sample_id=record["sample_id"], video_id=record["video_id"], video=video,
      target=int(record["target"]), sentence=record["sentence"],
      mask=ArrayMask(record["mask"]) if record["has_mask"] else None,
      info=dict(record["info"]))
