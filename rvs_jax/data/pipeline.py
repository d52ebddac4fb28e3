"""Runtime input pipeline: `Sample`s -> deterministic, resumable, host-sharded batches.

Per sample (`ExampleLoader.load`), following CSTM's `datasets/a2d_dataset.py`:
  * an 8-frame clip at the pipeline's stride around the target (`clip_indices`), target
    at index 4; the stride is `config.data.clip_stride`, whose default is the
    benchmark's (`rvs_jax.data.registry`: 2 for A2D / J-HMDB, 1 for the video sets);
  * frames resized to (H, W) like `torchvision.transforms.Resize((H, W))` on a PIL image
    (PIL bilinear, which is antialiased when shrinking), then `ToTensor()` -> RGB float32
    in [0, 1]. No mean/std normalisation here: that is a model config field;
  * the ground-truth mask resized with bilinear `align_corners=True` and binarised with
    `> 0` (CSTM's `F.interpolate(...)` + `mask[mask > 0] = 1`);
  * the sentence tokenised like CSTM and embedded with a `WordVectors` table (zeros for
    pads and unknown words).

Batches are dicts of NumPy arrays (B = per-host batch size, T = clip length, N = words):

  video      float32 (B, T, H, W, 3)  RGB in [0, 1]
  words      float32 (B, N, E)        word vectors (zeros for pads / unknown words)
             or int32 (B, N)          token ids, for a subword tokenizer in the table's
                                      place (BERT / RoBERTa / XLNet models)
  word_mask  bool    (B, N)           True for real tokens
  mask       float32 (B, H, W)        0/1 ground truth of the target frame (zeros if none)
  has_mask   bool    (B,)             False where the sample has no ground truth
  valid      bool    (B,)             False for padding rows of a final eval batch
  index      int32   (B,)             position in the sample list (-1 for padding rows)

Order. Training: epoch e visits the samples in
`np.random.default_rng([seed, e]).permutation(N)` (reproducible for a given NumPy
version; NumPy does not promise the same stream across versions, so resume in the same
environment), cut into `N // B` global batches (the remainder is dropped; the next epoch
draws a new permutation); the stream is endless. Evaluation: one pass in sample order,
the last global batch padded with `valid = False` rows so shapes stay static and every
sample is scored exactly once. Host p of P takes rows [p B/P, (p+1) B/P) of every global
batch. The position is (epoch, step) = the next global batch to produce; it only counts
batches the consumer has received (prefetched ones are not counted), so
`iterator.state()` can be stored in a checkpoint and `pipeline.iterate(state)` continues
with exactly the next batch.

Backends (identical row order; both produce the compact transit format -- uint8 video
and mask, word ids -- which `ExampleLoader.finalize` turns into the format above in the
consumer's thread):
  * "numpy": a thread pool with bounded look-ahead over `ExampleLoader.load_raw`
    (PIL decoding and resizing); reads any `Sample`s: the raw official folders, or a
    built dataset's;
  * "tf": tf.data over a built TFDS dataset (`config.data.source="tfds"`,
    `rvs_jax.data.tf_reader`): records read, frames decoded and resized in TF ops,
    parallel and deterministic; GPUs are hidden from TensorFlow so it never grabs
    accelerator memory.
  "auto" picks the fastest installed path: "tf" for built samples when TensorFlow
  imports, else "numpy" (which never imports TensorFlow); `RVS_JAX_DATA_BACKEND=numpy`
  (or `tf`) overrides "auto".

Errors. Sentences are tokenised when the pipeline is built, so bad text fails early with
the sample ids. Per-sample load errors (corrupt video, missing mask, ...) are caught in
the worker, the row is flagged, and the consumer re-raises a `DataError` naming the sample
and the file from Python -- never as a trace from inside TensorFlow.
"""

from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import logging
import os
import threading
from typing import Any, Iterator, Sequence

import numpy as np
from PIL import Image

from rvs_jax import resize_np
from rvs_jax import text as text_lib
from rvs_jax.data.types import DataError, Sample

BACKEND_ENV = "RVS_JAX_DATA_BACKEND"
log = logging.getLogger(__name__)
KEYS = ("video", "words", "word_mask", "mask", "has_mask", "valid", "index")
# What workers / tf.data carry (`ExampleLoader.load_raw`): uint8 video and mask, word ids.
RAW_KEYS = ("video", "word_ids", "word_mask", "mask", "has_mask", "valid", "index")


# --------------------------------------------------------------------------------------
# Per-sample transforms.
# --------------------------------------------------------------------------------------


def clip_indices(target: int, num_frames: int, num_clip_frames: int = 8, stride: int = 2,
                 cstm_border_quirk: bool = False) -> np.ndarray:
  """0-based frame indices of the clip of a target frame.

  Default: offsets `stride * (k - num_clip_frames // 2)` for k = 0..T-1 (-8, -6, ..., +6
  for T=8, stride 2) around the target, clamped to [0, num_frames - 1] (edge replication,
  as CMPC-V and MTTR do), so the target is always at index `num_clip_frames // 2`.

  `cstm_border_quirk=True` reproduces CSTM's `a2d_dataset.py` exactly: in 1-based frame
  numbers `start = max(1, f - stride * T // 2)` and frames `range(start, start + stride *
  T, stride)`. Near the start of a video the window is shifted, not re-centred, so index
  T // 2 is *not* the target (frame 9 for every target f <= 8 with T=8, stride 2), and
  there is no clamp at the end: indices past the last frame are returned as they are
  (CSTM would fail on the missing frame file; the pipeline raises a `DataError`).

  Args:
    target: 0-based target frame.
    num_frames: frames in the video.
    num_clip_frames: T.
    stride: frame step.
    cstm_border_quirk: reproduce CSTM's border behaviour.

  Returns:
    int64 `(T,)` indices.
  """
  half = num_clip_frames // 2
  if cstm_border_quirk:
    start = max(1, target + 1 - stride * half)  # 1-based, as in CSTM.
    return np.arange(start, start + stride * num_clip_frames, stride, dtype=np.int64) - 1
  idx = target + stride * (np.arange(num_clip_frames, dtype=np.int64) - half)
  return np.clip(idx, 0, num_frames - 1)


def resize_frames_uint8(frames: np.ndarray, height: int, width: int) -> np.ndarray:
  """uint8 `(T, h, w, 3)` -> uint8 `(T, height, width, 3)`, torchvision-Resize style.

  Same as torchvision `Resize((height, width))` on PIL images: it calls
  `img.resize((w, h), Image.BILINEAR)`, and PIL's bilinear filter widens its support when
  shrinking, i.e. it is antialiased; the result is rounded to uint8 by PIL.
  """
  out = np.empty((frames.shape[0], height, width, 3), np.uint8)
  for t, frame in enumerate(frames):
    if frame.shape[:2] == (height, width):
      out[t] = frame  # PIL returns an identical copy for a same-size resize.
    else:
      out[t] = np.asarray(Image.fromarray(frame).resize((width, height), Image.BILINEAR))
  return out


def to_unit_float(frames: np.ndarray) -> np.ndarray:
  """uint8 -> float32 in [0, 1] like torchvision `ToTensor()`: `img.float().div(255)`.

  A float32 division (not a multiplication by 1/255, which differs in the last bit).
  """
  return np.divide(frames, np.float32(255), dtype=np.float32)


def resize_frames(frames: np.ndarray, height: int, width: int) -> np.ndarray:
  """uint8 `(T, h, w, 3)` -> float32 `(T, height, width, 3)` in [0, 1].

  torchvision `Resize((height, width))` on PIL images followed by `ToTensor()`.
  """
  return to_unit_float(resize_frames_uint8(frames, height, width))


def resize_mask(mask: np.ndarray, height: int, width: int) -> np.ndarray:
  """CSTM's GT preparation: bilinear align_corners=True resize, then `> 0 -> 1`.

  Uses `rvs_jax.resize_np` (PyTorch's CPU kernel arithmetic in float32), shared with the
  evaluation, because the `> 0` step depends on exactly which weights are non-zero.

  Args:
    mask: `(h, w)` mask (bool or 0/1).

  Returns:
    float32 `(height, width)` with values in {0, 1} (a slightly dilated mask).
  """
  return resize_np.resize_mask_align_corners(mask, (height, width)).astype(np.float32)


# --------------------------------------------------------------------------------------
# Sample loading (shared by both backends).
# --------------------------------------------------------------------------------------


class ExampleLoader:
  """Turns sample index i into one example (the batch dict without the batch axis)."""

  def __init__(self, samples: Sequence[Sample], word_vectors: text_lib.WordVectors,
               height: int, width: int, num_clip_frames: int = 8, stride: int = 2,
               max_words: int = text_lib.MAX_LEN, cstm_border_quirk: bool = False,
               allow_all_unknown: bool = False):
    self.samples = list(samples)
    self.word_vectors = word_vectors
    self.height, self.width = height, width
    self.num_clip_frames, self.stride = num_clip_frames, stride
    self.max_words = max_words
    self.cstm_border_quirk = cstm_border_quirk
    # A subword tokenizer (`rvs_jax.models.text.SubwordTokenizer`) in the table's place,
    # or a table the model carries (`WordVectors.in_model`): the batch's `words` are
    # token ids, which the model embeds itself.
    self.passes_ids = bool(getattr(word_vectors, "passes_ids", False))
    n = len(self.samples)
    # Tokenise everything now: text errors surface at construction, with sample ids.
    self.word_ids = np.zeros((n, max_words), np.int32)
    self.word_mask = np.zeros((n, max_words), bool)
    self.unknown_words: collections.Counter[str] = collections.Counter()
    self.num_truncated = 0
    errors = []
    for i, s in enumerate(self.samples):
      try:
        ids, mask, unknown = word_vectors.encode_ids(s.sentence, max_words,
                                                     allow_all_unknown)
      except DataError as e:
        errors.append(f"{s.sample_id}: {e}")
        continue
      self.word_ids[i], self.word_mask[i] = ids, mask
      self.unknown_words.update(unknown)
      if (isinstance(word_vectors, text_lib.WordVectors) and mask.all()
          and len(text_lib.split_words(s.sentence)) > max_words):
        self.num_truncated += 1
    if errors:
      more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
      raise DataError(f"{len(errors)} bad sentence(s): " + "; ".join(errors[:5]) + more)
    if self.num_truncated:
      # CSTM truncates silently; say so once per pipeline.
      log.warning("%d of %d sentences have more than %d tokens and were truncated",
                  self.num_truncated, n, max_words)
    if self.unknown_words:
      log.info("%d distinct words without a vector (zeros, as in CSTM), most common: %s",
               len(self.unknown_words), self.unknown_words.most_common(10))

  def raw_shapes(self) -> dict[str, tuple[tuple[int, ...], Any]]:
    """{key: (per-example shape, dtype)} of `load_raw`'s output (`RAW_KEYS`)."""
    t, h, w, n = self.num_clip_frames, self.height, self.width, self.max_words
    return dict(video=((t, h, w, 3), np.uint8), word_ids=((n,), np.int32),
                word_mask=((n,), np.bool_), mask=((h, w), np.uint8),
                has_mask=((), np.bool_), valid=((), np.bool_), index=((), np.int32))

  def padding_raw(self) -> dict[str, np.ndarray]:
    """A padding row: zeros, valid=False, index=-1."""
    out = {k: np.zeros(s, d) for k, (s, d) in self.raw_shapes().items()}
    out["index"] = np.int32(-1)
    return out

  def load_raw(self, i: int) -> dict[str, np.ndarray]:
    """Loads sample i (or a padding row for i = -1) in the compact transit format.

    Video and mask stay uint8 and words are row ids until `finalize`, so the workers and
    tf.data move 4x (video) and 75x (words) fewer bytes than the final batch has.

    Raises:
      DataError: naming the sample and the file.
    """
    if i < 0:
      return self.padding_raw()
    s = self.samples[i]
    try:
      n = s.video.num_frames
      if not 0 <= s.target < n:
        raise DataError(f"target frame {s.target} outside the video's {n} frames")
      idx = clip_indices(s.target, n, self.num_clip_frames, self.stride,
                         self.cstm_border_quirk)
      if idx.max() >= n:
        raise DataError(f"clip frames {idx.tolist()} run past the last frame ({n - 1}); "
                        "CSTM's border quirk has no end clamp")
      video = resize_frames_uint8(s.video.load(idx), self.height, self.width)
      if s.mask is not None:
        mask = resize_np.resize_mask_align_corners(s.mask.load(),
                                                   (self.height, self.width))
        has_mask = True
      else:
        mask = np.zeros((self.height, self.width), np.uint8)
        has_mask = False
    except DataError as e:
      raise DataError(f"sample {s.sample_id} (#{i}, video {s.video!r}): {e}") from e
    except Exception as e:  # Any other failure is still a data problem of this sample.
      raise DataError(f"sample {s.sample_id} (#{i}, video {s.video!r}, mask {s.mask!r}): "
                      f"{type(e).__name__}: {e}") from e
    return dict(video=video, word_ids=self.word_ids[i].copy(),
                word_mask=self.word_mask[i].copy(), mask=mask.astype(np.uint8),
                has_mask=np.bool_(has_mask), valid=np.bool_(True), index=np.int32(i))

  def finalize(self, raw: dict[str, np.ndarray], video_dtype: str = "float32"
               ) -> dict[str, np.ndarray]:
    """Transit format (one example or a batch) -> the documented batch format (`KEYS`).

    Args:
      raw: output of `load_raw`, optionally stacked along a leading batch axis.
      video_dtype: "float32" ([0, 1], ToTensor) or "uint8" (0..255, for models that
        convert on the accelerator; 4x less host work and transfer).
    """
    if video_dtype == "float32":
      video = to_unit_float(raw["video"])
    elif video_dtype == "uint8":
      video = raw["video"]
    else:
      raise ValueError(f"video_dtype must be float32 or uint8, got {video_dtype!r}")
    words = (raw["word_ids"] if self.passes_ids
             else self.word_vectors.table[raw["word_ids"]])
    return dict(video=video, words=words,
                word_mask=raw["word_mask"], mask=raw["mask"].astype(np.float32),
                has_mask=raw["has_mask"], valid=raw["valid"], index=raw["index"])

  def load(self, i: int, video_dtype: str = "float32") -> dict[str, np.ndarray]:
    """One example in the final format (no batch axis); see `load_raw`."""
    return self.finalize(self.load_raw(i), video_dtype)


# --------------------------------------------------------------------------------------
# Order, position and sharding.
# --------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Position:
  """The next global batch to produce: batch `step` of epoch `epoch`."""
  epoch: int = 0
  step: int = 0


def _default_process(index: int | None, count: int | None) -> tuple[int, int]:
  if index is None or count is None:
    import jax  # pylint: disable=g-import-not-at-top
    index = jax.process_index() if index is None else index
    count = jax.process_count() if count is None else count
  if not 0 <= index < count:
    raise ValueError(f"process index {index} not in [0, {count})")
  return index, count


def _pick_backend(backend: str, samples: Sequence[Sample]) -> str:
  """The backend for `samples`: "tf" only reads built datasets (`tf_reader`)."""
  from rvs_jax.data import tf_reader  # pylint: disable=g-import-not-at-top
  built = tf_reader.built_split(samples) is not None
  if backend == "auto":
    backend = os.environ.get(BACKEND_ENV, "auto")
  if backend == "auto":
    # Raw folders: NumPy, without even trying to import TensorFlow.
    return "tf" if built and _import_tf() is not None else "numpy"
  if backend not in ("tf", "numpy"):
    raise ValueError(f"backend must be auto, tf or numpy, got {backend!r}")
  if backend == "tf" and not built:
    raise ValueError("backend='tf' reads built TFDS datasets (config.data.source="
                     "'tfds'); the raw folders are read by backend='numpy'")
  if backend == "tf" and _import_tf() is None:
    raise ImportError("backend='tf' but TensorFlow is not importable")
  return backend


_TF = None
_TF_LOCK = threading.Lock()


def _import_tf():
  """Imports TensorFlow once with GPUs hidden; None when it is not installed."""
  global _TF
  with _TF_LOCK:
    if _TF is None:
      try:
        import tensorflow as tf  # pylint: disable=g-import-not-at-top
      except Exception:  # pylint: disable=broad-except
        # Not installed, or a broken install (e.g. a missing shared library): NumPy.
        _TF = False
        return None
      try:
        # The accelerators belong to JAX; TF only runs the CPU input pipeline.
        tf.config.set_visible_devices([], "GPU")
      except (RuntimeError, ValueError):
        pass  # Already initialised (e.g. by another pipeline): nothing more to do.
      _TF = tf
    return _TF or None


class InputPipeline:
  """Deterministic, resumable, host-sharded batches of `Sample`s.

  Train: `it = InputPipeline(samples, wv, batch_size=8, height=64, width=64, train=True,
  seed=0).iterate(saved_state_or_None)`; `batch = next(it)`; store `it.state()` (a
  JSON-able dict) with the checkpoint. Eval: `train=False`; iterate once; use `valid` and
  `index` to score every sample exactly once.
  """

  def __init__(self, samples: Sequence[Sample], word_vectors: text_lib.WordVectors, *,
               batch_size: int, height: int = 320, width: int = 320, train: bool = True,
               seed: int = 0, num_clip_frames: int = 8, stride: int = 2,
               max_words: int = text_lib.MAX_LEN, cstm_border_quirk: bool = False,
               backend: str = "auto", num_workers: int | None = None,
               prefetch: int = 2, process_index: int | None = None,
               process_count: int | None = None, allow_all_unknown: bool = False,
               video_dtype: str = "float32"):
    """Builds the pipeline.

    Args:
      samples: the data set.
      word_vectors: the word-vector table.
      batch_size: GLOBAL batch size (all hosts); must be divisible by process_count.
      height, width: model input size.
      train: endless shuffled epochs (True) or one ordered, padded pass (False).
      seed: shuffling seed (train).
      num_clip_frames, stride, cstm_border_quirk: see `clip_indices` (one stride for
        every sample: `config.data.clip_stride`).
      max_words: word slots N.
      backend: "auto", "tf" or "numpy".
      num_workers: parallel sample loads (default: CPU count).
      prefetch: batches prepared ahead of the consumer.
      process_index, process_count: this host and the number of hosts (default: JAX's).
      allow_all_unknown: accept sentences without any known word (CSTM silently does).
      video_dtype: "float32" (default, [0, 1]) or "uint8" (0..255; the model divides by
        255 on the accelerator, saving host time and transfer).
    """
    self.process_index, self.process_count = _default_process(process_index,
                                                              process_count)
    if batch_size % self.process_count:
      raise ValueError(f"global batch {batch_size} not divisible by "
                       f"{self.process_count} hosts")
    self.loader = ExampleLoader(samples, word_vectors, height, width, num_clip_frames,
                                stride, max_words, cstm_border_quirk, allow_all_unknown)
    self.num_samples = len(self.loader.samples)
    self.global_batch_size = batch_size
    self.local_batch_size = batch_size // self.process_count
    self.train = train
    self.seed = seed
    self.backend = _pick_backend(backend, self.loader.samples)
    self.num_workers = num_workers or os.cpu_count() or 1
    self.prefetch = prefetch
    if video_dtype not in ("float32", "uint8"):
      raise ValueError(f"video_dtype must be float32 or uint8, got {video_dtype!r}")
    self.video_dtype = video_dtype
    if self.num_samples == 0:
      raise DataError("no samples")
    if train and self.num_samples < batch_size:
      raise DataError(f"{self.num_samples} samples < global batch {batch_size}")
    if self.backend == "tf":
      from rvs_jax.data import tf_reader  # pylint: disable=g-import-not-at-top
      # (N, T) stored-frame positions of every clip: a clip rule the built dataset
      # cannot serve fails here, not mid-epoch.
      self.clip_table = tf_reader.check(self)

  @property
  def steps_per_epoch(self) -> int:
    """Global batches per epoch (train: remainder dropped; eval: last batch padded)."""
    if self.train:
      return self.num_samples // self.global_batch_size
    return -(-self.num_samples // self.global_batch_size)

  def epoch_order(self, epoch: int) -> np.ndarray:
    """Global sample order of an epoch, int64 `(steps_per_epoch * B,)`, -1 = padding."""
    b = self.global_batch_size
    if self.train:
      perm = np.random.default_rng([self.seed, epoch]).permutation(self.num_samples)
      return perm[:self.steps_per_epoch * b].astype(np.int64)
    order = np.full((self.steps_per_epoch * b,), -1, np.int64)
    order[:self.num_samples] = np.arange(self.num_samples)
    return order

  def local_indices(self, position: Position) -> np.ndarray:
    """This host's sample indices `(local B,)` of the global batch at `position`."""
    order = self.epoch_order(position.epoch)
    start = position.step * self.global_batch_size
    lo = start + self.process_index * self.local_batch_size
    return order[lo:lo + self.local_batch_size]

  def _positions(self, start: Position) -> Iterator[Position]:
    epoch, step = start.epoch, start.step
    while True:
      if step >= self.steps_per_epoch:
        if not self.train:
          return
        epoch, step = epoch + 1, 0
      yield Position(epoch, step)
      step += 1

  def _row_stream(self, start: Position) -> Iterator[int]:
    order, cached_epoch = None, None
    for pos in self._positions(start):
      if pos.epoch != cached_epoch:
        order, cached_epoch = self.epoch_order(pos.epoch), pos.epoch
      lo = pos.step * self.global_batch_size + self.process_index * self.local_batch_size
      yield from (int(i) for i in order[lo:lo + self.local_batch_size])

  def iterate(self, state: Position | dict[str, Any] | None = None) -> "BatchIterator":
    """Batches from `state` (a `Position`, a dict from `BatchIterator.state()`, or None).

    Raises:
      ValueError: the state was saved by a pipeline with another seed, sample count,
        batch size or mode (continuing would silently change the order).
    """
    if state is None:
      pos = Position()
    elif isinstance(state, Position):
      pos = state
    else:
      expected = self._fingerprint()
      for k, v in expected.items():
        if k in state and state[k] != v:
          raise ValueError(f"pipeline state has {k}={state[k]}, this pipeline {v}")
      pos = Position(int(state["epoch"]), int(state["step"]))
    if pos.step < 0 or pos.epoch < 0 or (pos.step > self.steps_per_epoch):
      raise ValueError(f"bad position {pos} ({self.steps_per_epoch} steps per epoch)")
    return BatchIterator(self, pos)

  def __iter__(self) -> "BatchIterator":
    return self.iterate()

  def _fingerprint(self) -> dict[str, Any]:
    return dict(seed=self.seed, num_samples=self.num_samples,
                global_batch_size=self.global_batch_size, train=self.train)


# --------------------------------------------------------------------------------------
# Backends.
# --------------------------------------------------------------------------------------


class _SafeLoader:
  """Wraps `ExampleLoader.load_raw`: a failure becomes a flagged padding row + error."""

  def __init__(self, loader: ExampleLoader):
    self.loader = loader
    self.errors: dict[int, DataError] = {}
    self._lock = threading.Lock()

  def __call__(self, i: int) -> tuple[dict[str, np.ndarray], bool]:
    try:
      return self.loader.load_raw(int(i)), False
    except Exception as e:  # pylint: disable=broad-except
      err = e if isinstance(e, DataError) else DataError(
          f"sample #{i}: {type(e).__name__}: {e}")
      with self._lock:
        self.errors[int(i)] = err
      return self.loader.padding_raw(), True


def _numpy_batches(pipe: InputPipeline, start: Position, safe: _SafeLoader
                   ) -> Iterator[tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]]:
  """Ordered thread-pool map over the row stream, `prefetch` batches ahead."""
  rows = pipe._row_stream(start)  # pylint: disable=protected-access
  bsz = pipe.local_batch_size
  ahead = max(1, pipe.prefetch) * bsz + pipe.num_workers
  with concurrent.futures.ThreadPoolExecutor(pipe.num_workers,
                                             thread_name_prefix="rvs_data") as ex:
    pending: collections.deque = collections.deque()
    exhausted = False
    try:
      while True:
        while not exhausted and len(pending) < ahead:
          i = next(rows, None)
          if i is None:
            exhausted = True
          else:
            pending.append((i, ex.submit(safe, i)))
        if not pending:
          return
        if len(pending) < bsz and not exhausted:
          continue
        items = [pending.popleft() for _ in range(min(bsz, len(pending)))]
        results = [f.result() for _, f in items]
        batch = {k: np.stack([r[0][k] for r in results]) for k in RAW_KEYS}
        failed = np.asarray([r[1] for r in results])
        yield batch, np.asarray([i for i, _ in items]), failed
    finally:
      for _, f in pending:
        f.cancel()


class BatchIterator:
  """Iterator over batches; `position` / `state()` describe the next batch to produce."""

  def __init__(self, pipe: InputPipeline, start: Position):
    self._pipe = pipe
    self._pos = start
    self._positions = pipe._positions(start)  # pylint: disable=protected-access
    self._safe = _SafeLoader(pipe.loader)
    if pipe.backend == "tf":
      from rvs_jax.data import tf_reader  # pylint: disable=g-import-not-at-top
      make = tf_reader.tf_batches
    else:
      make = _numpy_batches
    self._batches = make(pipe, start, self._safe)

  @property
  def position(self) -> Position:
    return self._pos

  def state(self) -> dict[str, Any]:
    """JSON-able state to save with a checkpoint; restore: `pipeline.iterate(state)`."""
    return dict(epoch=self._pos.epoch, step=self._pos.step,
                **self._pipe._fingerprint())  # pylint: disable=protected-access

  def __iter__(self) -> "BatchIterator":
    return self

  def __next__(self) -> dict[str, np.ndarray]:
    pos = next(self._positions)  # StopIteration at the end of an eval pass.
    try:
      batch, rows, failed = next(self._batches)
    except StopIteration:
      raise RuntimeError("input stream ended before the expected batch "
                         f"{pos}") from None
    if np.any(failed):
      i = int(rows[np.flatnonzero(failed)[0]])
      err = self._safe.errors.get(i, DataError(f"sample #{i} failed to load"))
      self.close()
      raise DataError(str(err)) from err
    self._pos = self._next(pos)
    return self._pipe.loader.finalize(batch, self._pipe.video_dtype)

  def _next(self, pos: Position) -> Position:
    step = pos.step + 1
    if self._pipe.train and step >= self._pipe.steps_per_epoch:
      return Position(pos.epoch + 1, 0)
    return Position(pos.epoch, step)

  def close(self) -> None:
    """Stops the background work (also done when the iterator is garbage collected)."""
    gen = self._batches
    if hasattr(gen, "close"):
      gen.close()
