"""Built TFDS datasets of our benchmarks: the video-example schema, writing, reading.

The builders in the top-level `data/` folder (schema 2.0.0) write ONE example per video:
every frame any of its samples needs, each encoded once, and the video's samples. Clips
are assembled at read time with the pipeline's clip rule (`pipeline.clip_indices`, the
stride and length of `config.data`), so nothing about the clip is baked into the data.

Example (one video; the record order is the generation order, `disable_shuffling`):

  video_id       Text
  num_frames     int32       frames in the video (clips are clamped to it)
  height, width  int32       original frame size
  frame_indices  int32 [F]   0-based video frame of each stored frame, ascending
  frames         Sequence(Image(jpeg)) [F]  the stored frames, original resolution
  samples        Sequence({sample_id: Text, mask: Image(png) uint8 [H, W, 1] 0/255})

The stored frames are the union of the samples' clips under the benchmark's clip rule
(`registry` stride, `CLIP_LENGTH` frames): Refer-YouTube-VOS / Refer-DAVIS samples cover
(nearly) every frame, so whole videos are stored; A2D / J-HMDB store the frames around
their annotated targets. A config asking for a frame that is not stored (another
`clip_stride`, longer clips) fails at pipeline construction naming the dataset.

Encoding (measured in data/README.md): frames that are JPEG files already
(Refer-YouTube-VOS, DAVIS) are stored byte for byte (no re-encoding); decoded frames
(A2D's mp4, J-HMDB's PNGs) as JPEG quality `JPEG_QUALITY`; masks as PNG (lossless).

The light part of every sample (id, video position, target, sentence, has_mask, info)
is also written to the dataset's `metadata.json` under "splits" -> split, so a reader
lists the samples and tokenises the sentences without touching the frames:

  {"videos": [video_id, ...],                    # record i is videos[i]
   "samples": [[sample_id, record, k, target, sentence, has_mask, info], ...]}

(k = the sample's position in the record's `samples`.) Reading: `load_samples` gives
`Sample`s whose video and mask decode from the records (PIL, for the NumPy pipeline and
the evaluators); `rvs_jax.data.tf_reader` streams the same records through tf.data.
"""

from __future__ import annotations

import collections
import glob
import io
import json
import os
import threading
from typing import Any, Iterable, Iterator, Sequence

import numpy as np
from PIL import Image

from rvs_jax.data.pipeline import clip_indices
from rvs_jax.data.types import DataError, Sample

SCHEMA_VERSION = "2.0.0"
CLIP_LENGTH = 8
# Measured on the A2D fixture and a synthetic 320x480 video (data/README.md): q95 keeps
# the decoded frames within a few levels (PSNR ~45 dB) at about a third of PNG's size.
JPEG_QUALITY = 95
FILE_FORMAT = "array_record"  # Random access by record: shuffled clips of a video.
METADATA_KEY = "splits"
RELEASE_NOTE = ("Schema 2.0.0: one example per video, each frame stored once (the "
                "union of the samples' clips), clips assembled at read time; "
                "ArrayRecord files; sample index in metadata.json.")


# ----------------------------------------------------------------------------------------
# Writing (used by the builders in data/)


def features():
  """The `tfds.features.FeaturesDict` of a video example."""
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  f = tfds.features
  return f.FeaturesDict({
      "video_id": f.Text(),
      "num_frames": np.int32,
      "height": np.int32,
      "width": np.int32,
      "frame_indices": f.Tensor(shape=(None,), dtype=np.int32),
      "frames": f.Sequence(f.Image(shape=(None, None, 3), encoding_format="jpeg")),
      "samples": f.Sequence({
          "sample_id": f.Text(),
          "mask": f.Image(shape=(None, None, 1), encoding_format="png"),
      }),
  })


def dataset_info(builder, **kwargs):
  """`tfds.core.DatasetInfo` of a benchmark builder (`kwargs`: description, ...)."""
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  return tfds.core.DatasetInfo(builder=builder, features=features(),
                               metadata=tfds.core.MetadataDict(),
                               disable_shuffling=True, **kwargs)


def group_by_video(samples: Iterable[Sample]) -> list[tuple[str, list[Sample]]]:
  """Samples grouped by `video_id`, videos and samples in first-appearance order."""
  groups: dict[str, list[Sample]] = collections.OrderedDict()
  for s in samples:
    groups.setdefault(s.video_id, []).append(s)
  return list(groups.items())


def stored_frames(samples: Sequence[Sample], num_frames: int, stride: int) -> np.ndarray:
  """The union of the samples' clips (`CLIP_LENGTH` frames at `stride`), ascending."""
  idx = set()
  for s in samples:
    idx.update(int(i) for i in clip_indices(s.target, num_frames, CLIP_LENGTH, stride))
  return np.asarray(sorted(idx), np.int32)


def split_generator(builder, split: str, samples: Sequence[Sample], stride: int
                    ) -> Iterator[tuple[str, dict[str, Any]]]:
  """Records the split's sample index in the builder's metadata; returns its examples.

  Args:
    builder: the `GeneratorBasedBuilder` (its `info.metadata` receives the index).
    split: split name.
    samples: the reader's samples of the split.
    stride: the benchmark's clip stride (`registry`), which decides the stored frames.

  Returns:
    A generator of `(key, example)`; keys sort in generation order.
  """
  groups = group_by_video(samples)
  rows = []
  for r, (_, group) in enumerate(groups):
    for k, s in enumerate(group):
      rows.append([s.sample_id, r, k, int(s.target), s.sentence, s.mask is not None,
                   s.info])
  meta = builder.info.metadata.setdefault(METADATA_KEY, {})
  meta[split] = {"videos": [v for v, _ in groups], "samples": rows}
  return ((f"{r:09d}", encode_video(group, stride)) for r, (_, group) in
          enumerate(groups))


def _jpeg_bytes(frame: np.ndarray) -> bytes:
  buf = io.BytesIO()
  Image.fromarray(frame).save(buf, format="JPEG", quality=JPEG_QUALITY)
  return buf.getvalue()


def encode_video(samples: Sequence[Sample], stride: int) -> dict[str, Any]:
  """The example of one video: its needed frames (each once) and its samples' masks.

  Raises:
    DataError: unreadable frames/mask, or a mask whose size differs from the frames.
  """
  video = samples[0].video
  num_frames = video.num_frames
  indices = stored_frames(samples, num_frames, stride)
  paths = getattr(video, "paths", None)
  if paths is not None and all(
      paths[i].lower().endswith((".jpg", ".jpeg")) for i in indices):
    # JPEG files already: stored byte for byte (no second lossy encoding).
    encoded = []
    for i in indices:
      with open(paths[i], "rb") as f:
        encoded.append(f.read())
    height, width = video.load(indices[:1]).shape[1:3]
  else:
    frames = video.load(indices)
    height, width = frames.shape[1:3]
    encoded = [_jpeg_bytes(f) for f in frames]
  masks = []
  for s in samples:
    if s.mask is not None:
      mask = np.asarray(s.mask.load(), bool)
      if mask.shape != (height, width):
        raise DataError(f"sample {s.sample_id}: mask {mask.shape} but frames "
                        f"{(height, width)} ({s.mask})")
    else:
      mask = np.zeros((height, width), bool)
    masks.append({"sample_id": s.sample_id,
                  "mask": (mask.astype(np.uint8) * 255)[:, :, None]})
  return {"video_id": samples[0].video_id, "num_frames": num_frames, "height": height,
          "width": width, "frame_indices": indices, "frames": encoded,
          "samples": masks}


# ----------------------------------------------------------------------------------------
# Reading back


def find_builder_dir(data_dir: str, name: str, config: str | None = None) -> str:
  """`<data_dir>/<name>[/<config>]/<highest version>` of a built dataset."""
  base = os.path.join(data_dir, name, *([config] if config else []))
  found = glob.glob(os.path.join(base, "*", "dataset_info.json"))
  if not found:
    raise DataError(f"{base}: no built dataset (no */dataset_info.json); build it with "
                    f"`python data/build_tfds.py data/{name} --manual_dir=<unpacked> "
                    f"--data_dir={data_dir}`")
  def version(path):
    return tuple(int(p) for p in os.path.basename(os.path.dirname(path)).split("."))
  return os.path.dirname(max(found, key=version))


class BuiltSplit:
  """One split of a built dataset: its sample index and random access to its records.

  Records are read from the ArrayRecord files (thread-safe) and parsed with the
  dataset's own TFDS features; frames and masks stay encoded until asked for.
  """

  def __init__(self, builder_dir: str, split: str):
    import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
    self.builder_dir, self.split = builder_dir, split
    meta_path = os.path.join(builder_dir, "metadata.json")
    try:
      with open(meta_path, encoding="utf-8") as f:
        meta = json.load(f)
    except OSError as e:
      raise DataError(f"{meta_path}: cannot read the sample index ({e})") from e
    splits = meta.get(METADATA_KEY)
    if splits is None:
      raise DataError(f"{meta_path}: no {METADATA_KEY!r} index; the dataset was built "
                      f"by a builder older than schema {SCHEMA_VERSION}: rebuild it")
    if split not in splits:
      raise DataError(f"{builder_dir}: no split {split!r} (built: {sorted(splits)})")
    self.videos: list[str] = splits[split]["videos"]
    self.rows: list[list[Any]] = splits[split]["samples"]
    self.info = tfds.builder_from_directory(builder_dir).info
    if str(self.info.file_format.value) != FILE_FORMAT:
      raise DataError(f"{builder_dir}: stored as {self.info.file_format.value}, the "
                      f"reader needs {FILE_FORMAT} (rebuild with the data/ builders)")
    self._source = None
    self._parse = None
    self._lock = threading.Lock()
    self._cache: collections.OrderedDict[int, dict[str, Any]] = (
        collections.OrderedDict())

  def __repr__(self) -> str:
    return f"BuiltSplit({self.builder_dir!r}, {self.split!r})"

  def read_serialized(self, record: int) -> bytes:
    """The serialized `tf.train.Example` of record `record`."""
    if self._source is None:
      # pylint: disable-next=g-import-not-at-top
      from array_record.python import array_record_data_source
      # pylint: disable-next=g-import-not-at-top
      from tensorflow_datasets.core.data_sources import base as tfds_sources
      instructions = tfds_sources.file_instructions(self.info, self.split)
      self._source = array_record_data_source.ArrayRecordDataSource(instructions)
      if len(self._source) != len(self.videos):
        raise DataError(f"{self}: {len(self._source)} records but the index lists "
                        f"{len(self.videos)} videos")
    return self._source[int(record)]

  def decoders(self):
    """TFDS decoders that leave frames and masks encoded (decoded where needed)."""
    import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
    skip = tfds.decode.SkipDecoding()
    return {"frames": skip, "samples": {"mask": skip}}

  def _parser(self):
    """The TFDS parse of one serialized record, traced once (eager parsing is slow)."""
    with self._lock:
      if self._parse is None:
        import tensorflow as tf  # pylint: disable=g-import-not-at-top
        features, decoders = self.info.features, self.decoders()
        self._parse = tf.function(
            lambda s: features.deserialize_example(s, decoders=decoders),
            input_signature=[tf.TensorSpec((), tf.string)], autograph=False)
      return self._parse

  def record(self, record: int) -> dict[str, Any]:
    """Record `record` as NumPy: encoded `frames` / `masks`, the rest decoded."""
    with self._lock:
      if record in self._cache:
        self._cache.move_to_end(record)
        return self._cache[record]
    ex = self._parser()(self.read_serialized(record))
    out = dict(video_id=ex["video_id"].numpy().decode("utf-8"),
               num_frames=int(ex["num_frames"]), height=int(ex["height"]),
               width=int(ex["width"]), frame_indices=ex["frame_indices"].numpy(),
               frames=list(ex["frames"].numpy()),
               sample_ids=[s.decode("utf-8") for s in ex["samples"]["sample_id"].numpy()],
               masks=list(ex["samples"]["mask"].numpy()))
    if out["video_id"] != self.videos[record]:
      raise DataError(f"{self}: record {record} holds video {out['video_id']!r}, the "
                      f"index says {self.videos[record]!r}")
    with self._lock:
      self._cache[record] = out
      while len(self._cache) > 4:  # A video's mask, then its frames: a short LRU.
        self._cache.popitem(last=False)
    return out

  def samples(self) -> list[Sample]:
    """The split's `Sample`s (index order), reading frames and masks from the records."""
    out = []
    videos: dict[int, BuiltVideo] = {}
    for sample_id, r, k, target, sentence, has_mask, info in self.rows:
      video = videos.setdefault(r, BuiltVideo(self, r))
      out.append(BuiltSample(
          sample_id=sample_id, video_id=self.videos[r], video=video, target=target,
          sentence=sentence, mask=BuiltMask(self, r, k, sample_id) if has_mask else None,
          info=info, record=r, position=k))
    return out


class BuiltVideo:
  """A VideoSource over the stored frames of one record; other frames raise DataError."""

  def __init__(self, split: BuiltSplit, record: int):
    self.split, self.record = split, record
    self._num_frames: int | None = None
    self._stored: np.ndarray | None = None

  def __repr__(self) -> str:
    return f"{self.split} record {self.record} ({self.split.videos[self.record]})"

  @property
  def num_frames(self) -> int:
    if self._num_frames is None:
      self._num_frames = self.split.record(self.record)["num_frames"]
    return self._num_frames

  def stored_indices(self) -> np.ndarray:
    """The video frames this record stores, ascending."""
    if self._stored is None:
      self._stored = self.split.record(self.record)["frame_indices"]
    return self._stored

  def positions(self, indices: Sequence[int]) -> np.ndarray:
    """Positions in the record's `frames` of video frames `indices`.

    Raises:
      DataError: a frame is not stored (another clip rule than the builder's).
    """
    stored = self.stored_indices()
    idx = np.asarray(indices, np.int64)
    pos = np.searchsorted(stored, idx)
    bad = (pos >= len(stored)) | (stored[np.minimum(pos, len(stored) - 1)] != idx)
    if bad.any():
      raise DataError(f"{self}: frames {idx[bad].tolist()} are not stored (the builder "
                      "kept the clips of its benchmark's clip stride; see "
                      "rvs_jax/data/tfds_source.py)")
    return pos.astype(np.int32)

  def load(self, indices: Sequence[int]) -> np.ndarray:
    rec = self.split.record(self.record)
    return np.stack([np.asarray(Image.open(io.BytesIO(rec["frames"][p])).convert("RGB"))
                     for p in self.positions(indices)])


class BuiltMask:
  """A MaskSource over one sample's stored PNG mask."""

  def __init__(self, split: BuiltSplit, record: int, position: int, sample_id: str):
    self.split, self.record, self.position = split, record, position
    self.sample_id = sample_id

  def __repr__(self) -> str:
    return f"{self.split} record {self.record} mask {self.position}"

  def load(self) -> np.ndarray:
    rec = self.split.record(self.record)
    if rec["sample_ids"][self.position] != self.sample_id:
      raise DataError(f"{self}: holds {rec['sample_ids'][self.position]!r}, expected "
                      f"{self.sample_id!r}")
    return np.asarray(Image.open(io.BytesIO(rec["masks"][self.position]))) > 0


class BuiltSample(Sample):
  """A `Sample` of a built dataset, knowing its record and position there."""

  def __init__(self, *, record: int, position: int, **fields):
    super().__init__(**fields)
    object.__setattr__(self, "record", record)
    object.__setattr__(self, "position", position)


# Benchmarks built by another benchmark's builder: the synthetic set is written in the
# A2D layout, so `data/a2d_sentences` builds it (as TFDS name `a2d_sentences`).
BUILDER_OF = {"synthetic": "a2d_sentences"}


def builder_config(data) -> str | None:
  """The builder config of `config.data` (Refer-DAVIS: its `annotations`)."""
  if data.name != "refer_davis":
    return None
  return data.get("annotations") or "unsupervised"  # The reader's default.


def load_samples(data, split: str) -> list[Sample]:
  """The `Sample`s of `split` of the built `data.name` under `data.tfds_dir`."""
  if not data.get("tfds_dir"):
    raise DataError("config.data.source='tfds' needs --config.data.tfds_dir=<the "
                    "--data_dir the dataset was built into>")
  name = BUILDER_OF.get(data.name, data.name)
  return BuiltSplit(find_builder_dir(data.tfds_dir, name, builder_config(data)),
                    split).samples()
