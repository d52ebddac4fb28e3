"""No file inside a checkpoint is ever executed: a payload planted in each one stays inert.

For a training workdir and a converted checkpoint, every file the folder holds is, in
turn, replaced by a malicious pickle (binary files) or made to name a Python payload as
its config (JSON files); `load` must then either succeed or refuse with a
`CheckpointError`, and the payload's marker must never appear (`load` describes the
folder first, so both are exercised). (The export artifact's
files get the same treatment in tests/test_export.py.)

The workdir holds the tiny model's variables as zeros straight from `eval_shape`: no
compilation, and loading does not care what the weights are.
"""

import json
import os

import jax
import numpy as np
import pytest

from configs import synthetic
from rvs_jax import checkpointing, models, text
from rvs_jax.testing import payloads

VOCABULARY = ("the", "red", "square")


def _variables(config):
  model = models.build_model(config.model)
  shapes = jax.eval_shape(model.init, jax.random.key(0), *models.input_spec(
      checkpointing.InputConstants.from_config(config)))
  return jax.tree.map(lambda s: np.zeros(s.shape, s.dtype), shapes)


def _vectors():
  return text.WordVectors(VOCABULARY, np.ones((len(VOCABULARY), models.WORD_DIM)))


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
  """{"workdir": path, "converted": path}, both loadable as they are."""
  root = tmp_path_factory.mktemp("sources")
  config = synthetic.get_config("tiny")
  variables = _variables(config)
  workdir = str(root / "workdir")
  ckpts = checkpointing.Checkpoints(workdir, async_save=False)
  ckpts.save(2, {"step": np.int32(2), **variables},
             {"config": json.loads(config.to_json_best_effort()), "data_position": 0})
  ckpts.close()
  _vectors().save(os.path.join(workdir, checkpointing.WORD_VECTORS_FILE))
  converted = str(root / "converted")
  checkpointing.save_converted(
      converted, variables, {"kind": "test", "model_config": config.model.to_dict(),
                             "config": "configs/synthetic.py:tiny",
                             "input": dict(image_size=64, num_frames=8, clip_stride=2,
                                           max_words=20)},
      vectors=_vectors())
  for path in (workdir, converted):  # the untouched folders load
    assert checkpointing.load(path).vectors.words == list(VOCABULARY)
  return {"workdir": workdir, "converted": converted}


def test_payloads_run_when_loaded_unsafely(tmp_path):
  payloads.selftest(str(tmp_path))


@pytest.mark.parametrize("kind", ["workdir", "converted"])
def test_a_payload_in_any_checkpoint_file_never_runs(sources, tmp_path, kind):
  files = payloads.files_in(sources[kind])
  assert len(files) >= 3, files
  refused = []
  for n, name in enumerate(files):
    marker = str(tmp_path / f"payload_ran_{n}")
    copy = payloads.planted_copy(sources[kind], name, str(tmp_path / f"ckpt{n}"), marker)
    try:
      loaded = checkpointing.load(copy)
    except checkpointing.CheckpointError as e:
      assert "\n" not in str(e), f"{name}: a multi-line error: {e}"
      refused.append(name)
    else:
      assert loaded.vectors.words == list(VOCABULARY), name
    assert not os.path.exists(marker), f"a payload in {kind}/{name} ran"
  # The payloads reached the loaders: at least the vocabulary and the weights refuse.
  assert checkpointing.WORD_VECTORS_FILE in refused, refused
  assert any("ocdbt" in r or "/d/" in r for r in refused), refused
