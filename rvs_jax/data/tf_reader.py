"""The tf.data backend of `InputPipeline`: built datasets read, decoded and resized in TF.

Used when every sample comes from one built split (`tfds_source.BuiltSplit`, i.e.
`config.data.source="tfds"`); the raw folders go through the NumPy backend. The row
order is the pipeline's own (`InputPipeline.epoch_order`, host slice of every global
batch), so both backends and both sources see the same samples in the same order, and
a saved position resumes exactly:

  range(epochs) -> flat_map(this host's rows of the epoch) -> skip(rows already used)
    -> map(read record [ArrayRecord] -> parse [TFDS features] -> gather the clip's
           encoded frames -> decode_jpeg -> resize -> uint8; mask png -> resize),
           parallel, deterministic
    -> batch -> prefetch

Per sample everything is a TF op except two small `numpy_function`s: the record read
(ArrayRecord's reader, C++ underneath) and the mask resize (`resize_np`, whose `> 0`
binarisation must see exactly PyTorch's weights: one mask per clip, cheap).

Frame resize: torchvision's `Resize((H, W))` on a PIL image is PIL's bilinear filter,
antialiased when shrinking (its support grows with the scale). `tf.image.resize(...,
"bilinear", antialias=True)` is the same triangle filter with half-pixel centres; PIL
works in fixed point and rounds between its horizontal and vertical passes, TF in
float32, so outputs differ by at most a level or two (`tests/test_tfds_source.py`
measures it). A same-size frame is passed through unchanged, as PIL copies it.
"""

from __future__ import annotations

from typing import Any, Iterator, Sequence

import numpy as np

from rvs_jax import resize_np
from rvs_jax.data import tfds_source
from rvs_jax.data.types import DataError, Sample


def built_split(samples: Sequence[Sample]) -> tfds_source.BuiltSplit | None:
  """The one `BuiltSplit` all `samples` come from, or None (raw or mixed samples)."""
  splits = {id(getattr(s.video, "split", None)) for s in samples}
  if not samples or len(splits) != 1 or not isinstance(samples[0],
                                                       tfds_source.BuiltSample):
    return None
  if not all(isinstance(s, tfds_source.BuiltSample) for s in samples):
    return None
  return samples[0].video.split


def clip_table(samples: Sequence[Sample], clip_fn) -> np.ndarray:
  """int32 `(N, T)`: positions in its record's stored frames of each sample's clip.

  Args:
    samples: built samples.
    clip_fn: `clip_fn(target, num_frames) -> (T,) frame indices` (the pipeline's rule).

  Raises:
    DataError: a clip needs a frame the builder did not store, or leaves the video.
  """
  out = []
  for s in samples:
    n = s.video.num_frames
    idx = clip_fn(s.target, n)
    if idx.min() < 0 or idx.max() >= n:
      raise DataError(f"sample {s.sample_id}: clip frames {idx.tolist()} outside the "
                      f"video's {n} frames")
    out.append(s.video.positions(idx))
  return np.stack(out).astype(np.int32)


def tf_batches(pipe, start, safe) -> Iterator[tuple[dict[str, np.ndarray], np.ndarray,
                                                    np.ndarray]]:
  """`(raw batch, rows, failed)` from `start`, like the NumPy backend's generator."""
  del safe  # Failures surface as TF errors, turned into a DataError below.
  from rvs_jax.data import pipeline  # pylint: disable=g-import-not-at-top
  tf = pipeline._import_tf()  # pylint: disable=protected-access
  loader = pipe.loader
  split = built_split(loader.samples)
  samples = loader.samples
  t = loader.num_clip_frames
  h, w = loader.height, loader.width
  records = tf.constant(np.asarray([s.record for s in samples], np.int64))
  positions = tf.constant(np.asarray([s.position for s in samples], np.int32))
  has_mask = tf.constant(np.asarray([s.mask is not None for s in samples]))
  clips = tf.constant(pipe.clip_table)
  word_ids = tf.constant(loader.word_ids)
  word_mask = tf.constant(loader.word_mask)
  decoders = split.decoders()
  features = split.info.features
  local = pipe.local_batch_size

  def epoch_rows(epoch):
    order = pipe.epoch_order(int(epoch))
    steps = len(order) // pipe.global_batch_size
    lo = pipe.process_index * local
    return order.reshape(steps, pipe.global_batch_size)[:, lo:lo + local].reshape(-1)

  def read(record):
    return np.frombuffer(split.read_serialized(int(record)), np.uint8).tobytes()

  def mask_np(png_mask):
    return resize_np.resize_mask_align_corners(png_mask[:, :, 0], (h, w))

  # Not converted by AutoGraph (no Python control flow to convert): a converted function
  # is written to a temporary `__autograph_generated_file*.py` that only an orderly exit
  # removes, so every killed run would leave one behind.
  @tf.autograph.experimental.do_not_convert
  def load(row):
    valid = row >= 0
    i = tf.maximum(row, 0)
    serialized = tf.numpy_function(read, [records[i]], tf.string, stateful=False)
    ex = features.deserialize_example(tf.ensure_shape(serialized, ()),
                                      decoders=decoders)
    encoded = tf.gather(ex["frames"], clips[i])
    frames = tf.stack([tf.io.decode_jpeg(encoded[k], channels=3) for k in range(t)])
    same = tf.logical_and(tf.shape(frames)[1] == h, tf.shape(frames)[2] == w)
    video = tf.cond(
        same, lambda: frames,
        lambda: tf.cast(tf.clip_by_value(tf.round(tf.image.resize(
            frames, (h, w), method="bilinear", antialias=True)), 0, 255), tf.uint8))
    mask = tf.io.decode_png(ex["samples"]["mask"][positions[i]], channels=1)
    mask = tf.numpy_function(mask_np, [mask], tf.uint8, stateful=False)
    keep = tf.logical_and(valid, has_mask[i])
    return dict(
        video=tf.ensure_shape(video, (t, h, w, 3)) * tf.cast(valid, tf.uint8),
        word_ids=word_ids[i] * tf.cast(valid, tf.int32),
        word_mask=tf.logical_and(word_mask[i], valid),
        mask=tf.ensure_shape(mask, (h, w)) * tf.cast(keep, tf.uint8),
        has_mask=keep, valid=valid,
        index=tf.where(valid, tf.cast(row, tf.int32), -1), _row=row)

  @tf.autograph.experimental.do_not_convert
  def rows_of(epoch):
    return tf.data.Dataset.from_tensor_slices(
        tf.numpy_function(epoch_rows, [epoch], tf.int64, stateful=False))

  last = start.epoch + 1 if not pipe.train else np.iinfo(np.int64).max
  ds = tf.data.Dataset.range(start.epoch, last).flat_map(rows_of)
  ds = ds.skip(start.step * local)
  ds = ds.map(load, num_parallel_calls=pipe.num_workers, deterministic=True)
  ds = ds.batch(local, drop_remainder=False)
  ds = ds.prefetch(max(1, pipe.prefetch))
  opts = tf.data.Options()
  opts.deterministic = True
  opts.threading.private_threadpool_size = max(2, pipe.num_workers)
  ds = ds.with_options(opts)
  positions_it = pipe._positions(start)  # pylint: disable=protected-access
  it = ds.as_numpy_iterator()
  while True:
    pos = next(positions_it, None)
    try:
      b = next(it)
    except StopIteration:
      return
    except tf.errors.OpError as e:
      ids = [samples[int(r)].sample_id for r in pipe.local_indices(pos) if r >= 0] if (
          pos is not None) else []
      raise DataError(f"{split}: reading the batch at {pos} (samples {ids[:8]}) "
                      f"failed: {type(e).__name__}: {e.message}") from None
    rows = b.pop("_row")
    yield b, rows, np.zeros(len(rows), bool)


def check(pipe) -> Any:
  """The clip table of `pipe`'s built samples (see `clip_table`); errors name the set."""
  from rvs_jax.data import pipeline  # pylint: disable=g-import-not-at-top
  loader = pipe.loader
  return clip_table(loader.samples, lambda target, n: pipeline.clip_indices(
      target, n, loader.num_clip_frames, loader.stride, loader.cstm_border_quirk))
