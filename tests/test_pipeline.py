"""Tests of the runtime input pipeline (rvs_jax.data.pipeline)."""

import itertools

import numpy as np
import pytest
from PIL import Image

from rvs_jax import text
from rvs_jax.data import a2d
from rvs_jax.data import pipeline as P
from rvs_jax.data import synthetic
from rvs_jax.data.types import DataError, Sample

HW = (16, 24)  # Stored frame size of the in-memory videos.


class ArrayVideo:
  """In-memory VideoSource; frame t is filled with the value t (easy to check)."""

  def __init__(self, num_frames, fail=False):
    self.num_frames = num_frames
    self.fail = fail

  def load(self, indices):
    if self.fail:
      raise DataError("cannot decode video /data/broken.mp4")
    out = np.zeros((len(indices),) + HW + (3,), np.uint8)
    for k, i in enumerate(indices):
      out[k] = i
    return out


class ArrayMask:

  def __init__(self, mask):
    self.mask = mask

  def load(self):
    return self.mask


def _samples(n, num_frames=20, no_mask=(), broken=()):
  out = []
  for i in range(n):
    m = np.zeros(HW, bool)
    m[i % HW[0], (2 * i) % HW[1]] = True
    out.append(Sample(
        sample_id=f"v{i}/00001/1", video_id=f"v{i}",
        video=ArrayVideo(num_frames, fail=i in broken), target=i % num_frames,
        sentence=f"the red circle number {i}",
        mask=None if i in no_mask else ArrayMask(m), info={}))
  return out


@pytest.fixture(scope="module")
def wv():
  words = ["the", "red", "circle", "number"] + [str(i) for i in range(50)]
  vecs = np.stack([synthetic.word_vector(w, 8) for w in words])
  return text.WordVectors(words, vecs)


def _pipe(samples, wv, **kw):
  kw.setdefault("batch_size", 4)
  kw.setdefault("height", 8)
  kw.setdefault("width", 8)
  kw.setdefault("backend", "numpy")
  kw.setdefault("process_index", 0)
  kw.setdefault("process_count", 1)
  return P.InputPipeline(samples, wv, **kw)


# ----------------------------------------------------------------------------- clips


def test_clip_indices_centred_and_clamped():
  np.testing.assert_array_equal(P.clip_indices(10, 30), [2, 4, 6, 8, 10, 12, 14, 16])
  np.testing.assert_array_equal(P.clip_indices(0, 30), [0, 0, 0, 0, 0, 2, 4, 6])
  np.testing.assert_array_equal(P.clip_indices(29, 30), [21, 23, 25, 27, 29, 29, 29, 29])
  np.testing.assert_array_equal(P.clip_indices(0, 1), [0] * 8)
  np.testing.assert_array_equal(P.clip_indices(5, 9, stride=1), [1, 2, 3, 4, 5, 6, 7, 8])
  for t in range(12):  # The target is always at index 4.
    assert P.clip_indices(t, 12)[4] == t


def test_clip_indices_cstm_quirk():
  # CSTM: start = max(1, f - 8) (1-based), frames start, start+2, ..., start+14.
  # Target frame f = 4 (0-based 3): window starts at frame 1, index 4 is frame 9.
  q = P.clip_indices(3, 30, cstm_border_quirk=True)
  np.testing.assert_array_equal(q, [0, 2, 4, 6, 8, 10, 12, 14])
  assert q[4] == 8 != 3
  # Away from the start it equals the centred window.
  np.testing.assert_array_equal(P.clip_indices(20, 30, cstm_border_quirk=True),
                                P.clip_indices(20, 30))
  # No end clamp: indices past the last frame are returned as they are.
  np.testing.assert_array_equal(P.clip_indices(28, 30, cstm_border_quirk=True),
                                [20, 22, 24, 26, 28, 30, 32, 34])


def test_quirk_past_end_is_a_data_error(wv):
  s = _samples(4, num_frames=30)
  s[1] = Sample("late", "late", ArrayVideo(10), 9, "the red circle", None)
  pipe = _pipe(s, wv, cstm_border_quirk=True, train=False)
  with pytest.raises(DataError, match="late"):
    next(iter(pipe))


# ----------------------------------------------------------------------------- resizes


def test_frame_resize_is_pil_bilinear():
  # Hand values of PIL's bilinear (half-pixel centres; antialiased when shrinking).
  up = np.zeros((1, 1, 2, 3), np.uint8)
  up[..., 1, :] = 255
  np.testing.assert_array_equal(P.resize_frames(up, 1, 4)[0, 0, :, 0] * 255,
                                np.float32([0, 64, 191, 255]))
  down = np.zeros((1, 1, 4, 3), np.uint8)
  down[..., 2:, :] = 255
  # Antialiased: 0.25*255/1.75 -> 36, not the 0 / 255 of a plain 2-tap bilinear.
  np.testing.assert_array_equal(P.resize_frames(down, 1, 2)[0, 0, :, 0] * 255,
                                np.float32([36, 219]))
  rng = np.random.default_rng(0)
  frames = rng.integers(0, 256, (2, 20, 30, 3), dtype=np.uint8)
  got = P.resize_frames(frames, 12, 17)
  ref = np.stack([np.asarray(Image.fromarray(f).resize((17, 12), Image.BILINEAR))
                  for f in frames]).astype(np.float32) / np.float32(255)
  assert got.dtype == np.float32 and got.shape == (2, 12, 17, 3)
  np.testing.assert_array_equal(got, ref)
  assert 0.0 <= got.min() and got.max() <= 1.0


def test_mask_resize_align_corners():
  m = np.array([[1, 0], [0, 0]], bool)
  # src = dst * (2-1)/(3-1): the middle row/column mixes both pixels 50/50 -> > 0.
  np.testing.assert_array_equal(P.resize_mask(m, 3, 3),
                                [[1, 1, 0], [1, 1, 0], [0, 0, 0]])
  # 1x4 -> 1x3: src = 0, 1.5, 3: the middle output half-covers pixel 1 -> 1.
  np.testing.assert_array_equal(P.resize_mask(np.array([[0, 1, 0, 0]]), 1, 3),
                                [[0, 1, 0]])
  # 1x3 -> 1x2: src = 0, 2: the corners are kept exactly, the middle pixel is lost.
  np.testing.assert_array_equal(P.resize_mask(np.array([[0, 1, 0]]), 1, 2), [[0, 0]])
  out = P.resize_mask(np.ones((5, 7), bool), 4, 4)
  assert out.dtype == np.float32 and out.shape == (4, 4) and out.all()


# ----------------------------------------------------------------------------- batches


def test_batch_shapes_and_values(wv):
  samples = _samples(10, no_mask={1})
  pipe = _pipe(samples, wv, train=False)
  b = next(iter(pipe))
  expected = dict(video=((4, 8, 8, 8, 3), np.float32), words=((4, 20, 8), np.float32),
                  word_mask=((4, 20), np.bool_), mask=((4, 8, 8), np.float32),
                  has_mask=((4,), np.bool_), valid=((4,), np.bool_),
                  index=((4,), np.int32))
  assert set(b) == set(expected)
  for k, (shape, dtype) in expected.items():
    assert b[k].shape == shape and b[k].dtype == dtype, k
  np.testing.assert_array_equal(b["index"], [0, 1, 2, 3])
  np.testing.assert_array_equal(b["has_mask"], [True, False, True, True])
  assert not b["mask"][1].any() and b["mask"][0].any()
  # Frame t of an ArrayVideo has value t: the clip of sample 3 (target 3) is clamped.
  np.testing.assert_allclose(b["video"][3, :, 0, 0, 0] * 255,
                             P.clip_indices(3, 20).astype(np.float32))
  # "the red circle number 3" -> 5 tokens, vectors from the table.
  assert b["word_mask"][3].sum() == 5
  np.testing.assert_array_equal(b["words"][3, 1], wv.table[wv.ids(["red"])[0][0]])
  assert not b["words"][3, 5:].any()


def test_partial_final_batch_is_padded(wv):
  pipe = _pipe(_samples(10), wv, train=False)
  batches = list(pipe.iterate())
  assert len(batches) == pipe.steps_per_epoch == 3
  last = batches[-1]
  np.testing.assert_array_equal(last["valid"], [True, True, False, False])
  np.testing.assert_array_equal(last["index"], [8, 9, -1, -1])
  assert not last["video"][2:].any() and not last["mask"][2:].any()
  idx = np.concatenate([b["index"][b["valid"]] for b in batches])
  np.testing.assert_array_equal(idx, np.arange(10))  # Every sample exactly once.


def test_deterministic_order_and_resume(wv):
  samples = _samples(10)
  pipe = _pipe(samples, wv, seed=5)
  assert pipe.steps_per_epoch == 2  # 10 // 4, remainder dropped.
  it = pipe.iterate()
  first = [next(it)["index"] for _ in range(7)]
  again = [next(pipe.iterate())["index"]]
  np.testing.assert_array_equal(first[0], again[0])
  # Epochs are permutations drawn from (seed, epoch).
  for e in range(3):
    order = np.concatenate(first[2 * e:2 * e + 2])
    perm = np.random.default_rng([5, e]).permutation(10)[:8]
    np.testing.assert_array_equal(order, perm)
  assert not np.array_equal(np.concatenate(first[0:2]), np.concatenate(first[2:4]))
  other = _pipe(samples, wv, seed=6)
  assert not np.array_equal(next(iter(other))["index"], first[0])
  # Resume from a saved state, including across an epoch boundary.
  for n in (1, 2, 3, 5):
    it = pipe.iterate()
    for _ in range(n):
      next(it)
    state = it.state()
    assert state["epoch"] == n // 2 and state["step"] == n % 2
    resumed = _pipe(samples, wv, seed=5).iterate(state)
    for k in range(n, 7):
      b = next(resumed)
      np.testing.assert_array_equal(b["index"], first[k])
  with pytest.raises(ValueError, match="seed"):
    _pipe(samples, wv, seed=6).iterate(state)


def test_host_sharding_partitions_global_batch(wv):
  samples = _samples(13)
  for train in (True, False):
    glob = _pipe(samples, wv, batch_size=4, train=train, seed=1)
    hosts = [_pipe(samples, wv, batch_size=4, train=train, seed=1, process_index=p,
                   process_count=2) for p in range(2)]
    its = [h.iterate() for h in hosts]
    for gb in itertools.islice(glob.iterate(), 4):  # Eval: 13 samples -> 4 batches.
      parts = [next(i) for i in its]
      assert all(p["index"].shape == (2,) for p in parts)
      for k in ("index", "valid", "video"):
        np.testing.assert_array_equal(np.concatenate([p[k] for p in parts]), gb[k])
  with pytest.raises(ValueError, match="divisible"):
    _pipe(samples, wv, batch_size=3, process_count=2)


def test_bad_sample_raises_data_error(wv):
  samples = _samples(8, broken={5})
  it = iter(_pipe(samples, wv, train=False, backend="numpy"))
  next(it)
  with pytest.raises(DataError, match=r"v5/00001/1.*broken\.mp4"):
    next(it)
  bad_text = _samples(4)
  bad_text[2] = Sample("zz", "zz", ArrayVideo(5), 0, "zebra unicorn", None)
  with pytest.raises(DataError, match="zz"):
    _pipe(bad_text, wv)


def test_tf_backend_reads_built_datasets_only(wv):
  # The raw folders go through NumPy; tf.data reads built datasets (test_tfds_source).
  with pytest.raises(ValueError, match="built TFDS datasets"):
    _pipe(_samples(4), wv, backend="tf")
  assert _pipe(_samples(4), wv, backend="auto").backend == "numpy"


def test_synthetic_end_to_end(tmp_path):
  truth = synthetic.generate(tmp_path, num_videos=4, seed=0, height=32, width=48,
                             frames=12, workers=1)
  samples = a2d.load_a2d(tmp_path, "train")
  wv = text.WordVectors.from_glove(tmp_path / synthetic.GLOVE_NAME,
                                   text.vocabulary(s.sentence for s in samples))
  pipe = _pipe(samples, wv, batch_size=2, height=32, width=32, train=False)
  b = next(iter(pipe))
  assert b["video"].shape == (2, 8, 32, 32, 3) and b["words"].shape == (2, 20, 300)
  assert b["has_mask"].all() and b["mask"].any()
  s = samples[int(b["index"][0])]
  np.testing.assert_array_equal(
      b["mask"][0], P.resize_mask(truth.samples["train"][s.sample_id], 32, 32))


def test_uint8_video_option(wv):
  samples = _samples(4)
  f = next(iter(_pipe(samples, wv, train=False)))
  u = next(iter(_pipe(samples, wv, train=False, video_dtype="uint8")))
  assert u["video"].dtype == np.uint8
  np.testing.assert_array_equal(P.to_unit_float(u["video"]), f["video"])
  one = _pipe(samples, wv, train=False).loader.load(2)
  np.testing.assert_array_equal(one["video"], f["video"][2])


def test_backend_env_override(monkeypatch, wv):
  monkeypatch.setenv(P.BACKEND_ENV, "numpy")
  assert _pipe(_samples(4), wv, backend="auto").backend == "numpy"
  monkeypatch.setenv(P.BACKEND_ENV, "bogus")
  with pytest.raises(ValueError):
    _pipe(_samples(4), wv, backend="auto")


def test_long_and_unknown_words_are_reported(wv):
  samples = _samples(4)
  samples[0] = Sample("long", "long", ArrayVideo(5), 0, "the red " * 15, None)
  samples[1] = Sample("unk", "unk", ArrayVideo(5), 0, "the zebra", None)
  loader = _pipe(samples, wv).loader
  assert loader.num_truncated == 1
  assert loader.unknown_words == {"zebra": 1}
  assert loader.word_mask[0].all()


def test_pipeline_stride_applies_to_every_sample(wv):
  # The stride is the pipeline's (config.data.clip_stride): a sample's info cannot
  # override it, so the user's --config.data.clip_stride always wins.
  samples = _samples(2)
  samples[0] = Sample(**{**samples[0].__dict__, "target": 10,
                         "info": {"clip_stride": 1}})
  samples[1] = Sample(**{**samples[1].__dict__, "target": 10})
  loader = _pipe(samples, wv, train=False, stride=2).loader
  got = [loader.load(i)["video"][:, 0, 0, 0] * 255 for i in range(2)]
  for g in got:
    np.testing.assert_allclose(g, P.clip_indices(10, 20, stride=2).astype(np.float32))
  loader = _pipe(samples, wv, train=False, stride=1).loader
  got = [loader.load(i)["video"][:, 0, 0, 0] * 255 for i in range(2)]
  for g in got:
    np.testing.assert_allclose(g, np.arange(6, 14, dtype=np.float32))
