"""The benchmark registry: a new benchmark is one module plus one `register` call, and
`config.data.clip_stride` (default from the registry) is the stride every clip uses."""

import numpy as np
import pytest

from configs import refer_youtube_vos as ytvos_config
from configs import synthetic as synthetic_config
from rvs_jax import datasets, text
from rvs_jax.train import trainer
from rvs_jax.data import registry
from rvs_jax.data import synthetic
from rvs_jax.data import types
from rvs_jax.data.pipeline import clip_indices
from rvs_jax.testing import fixtures

import toy_benchmark  # tests/toy_benchmark.py  # pylint: disable=g-bad-import-order


@pytest.fixture
def toy(tmp_path):
  """The toy benchmark, registered for this test only, and a tree of it."""
  registry.register(registry.Benchmark(
      name="toy", reader=toy_benchmark.load_toy, validator=None, scoring="frame",
      clip_stride=toy_benchmark.CLIP_STRIDE, train_split="train", eval_split="test"))
  root = str(tmp_path / "toy")
  counts = toy_benchmark.write_toy(root)
  yield root, counts
  registry.unregister("toy")


def test_toy_benchmark_trains_and_evaluates_through_the_registry(toy, tmp_path):
  root, counts = toy
  config = synthetic_config.get_config("tiny")
  # The shapes of tests/test_train.py's model (a compile-cache hit when it has run).
  config.model.cmam_stages = (1, 5)
  config.model.lasp_pairs = ((5, 4),)
  config.data.update(name="toy", root=root, glove="")
  config.train.update(batch_size=4, num_steps=1, checkpoint_every_steps=1,
                      log_every_steps=1, progress_bar=False)
  config.eval.batch_size = 4
  summary = trainer.train_and_evaluate(config, str(tmp_path / "workdir"))
  assert summary["step"] == 1
  assert summary["num_samples"] == counts["test"]
  assert 0.0 <= summary["mIoU"] <= 1.0


def _vectors(samples):
  words = text.vocabulary(s.sentence for s in samples)
  return text.WordVectors(words, np.stack([synthetic.word_vector(w, 8) for w in words]))


def _red(video):
  """The red channel of the top-left pixel per clip frame, in grey levels."""
  return np.round(np.asarray(video)[:, 0, 0, 0] * 255)


@pytest.mark.parametrize("stride", [None, 3])
def test_config_clip_stride_is_honoured(tmp_path, stride):
  root = str(tmp_path / "ytvos")
  fixtures.write_refer_youtube_vos(root)
  config = ytvos_config.get_config()
  assert config.data.clip_stride == registry.get("refer_youtube_vos").clip_stride == 1
  if stride is not None:
    config.data.clip_stride = stride          # What --config.data.clip_stride=3 does.
  config.data.update(root=root, image_size=8)
  samples = datasets.load_samples(config.data, "train")
  pipe = datasets.make_pipeline(config, samples, _vectors(samples), train=False,
                                batch_size=1)
  want_stride = stride or 1
  assert pipe.loader.stride == want_stride
  # The frames of the fixture are flat colours whose red channel encodes the frame.
  sample = next(s for s in samples if s.video.num_frames == 5 and s.target == 2)
  got = _red(pipe.loader.load(samples.index(sample))["video"])
  idx = clip_indices(2, 5, config.data.num_frames, want_stride)
  want = [fixtures.frame_colour(0, int(t))[0] for t in idx]
  np.testing.assert_allclose(got, want, atol=4)       # JPEG round trip of flat colours.


def test_no_library_module_imports_the_test_fixtures():
  import os  # pylint: disable=g-import-not-at-top
  import re  # pylint: disable=g-import-not-at-top
  pkg = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                     "rvs_jax")
  offenders = []
  for folder, _, files in os.walk(pkg):
    if os.path.relpath(folder, pkg).split(os.sep)[0] == "testing":
      continue
    for name in files:
      if name.endswith(".py"):
        path = os.path.join(folder, name)
        with open(path, encoding="utf-8") as f:
          if re.search(r"^\s*(from|import) rvs_jax\.testing", f.read(), re.M):
            offenders.append(os.path.relpath(path, pkg))
  assert not offenders


def test_truncated_sentences_are_reported_not_silent(caplog, monkeypatch, tmp_path):
  def read(root, split):
    del root, split
    return [types.Sample(f"s{i}", f"v{i}", None, 0, sentence, None)
            for i, sentence in enumerate(["a cat", " ".join(["word"] * 25)])]

  monkeypatch.setattr(registry, "get", lambda name: registry.Benchmark(
      name=name, reader=read, validator=None, scoring="frame", clip_stride=1,
      train_split="train", eval_split="test"))
  config = synthetic_config.get_config("tiny")
  config.data.root = str(tmp_path)
  with caplog.at_level("WARNING"):
    samples = datasets.load_samples(config.data, "train")
  assert len(samples) == 2
  assert "1 of 2 sentences have more than 20 words" in caplog.text
  assert "of video v1" in caplog.text
