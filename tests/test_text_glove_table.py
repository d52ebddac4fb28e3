"""The GloVe table a glove_gru model carries: in every checkpoint, with its words.

Cheap by design: one O0 init of the smallest model with a text encoder, checkpoints
written by hand (no training compile), `checkpointing.load` traces shapes only.
"""

import json
import os

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import synthetic
from rvs_jax import checkpointing, datasets, glove_table, models
from rvs_jax import text as text_lib
from rvs_jax.inference import inputs as inference_inputs
from rvs_jax.testing.jit import jit_o0
from rvs_jax.train import trainer

WORDS = ["blue", "circle", "red", "square"]


def _vectors(words=WORDS, seed=0):
  rng = np.random.default_rng(seed)
  return text_lib.WordVectors(words, rng.standard_normal((len(words), 300)))


def _config(vocab=6):
  config = synthetic.get_config("tiny")
  # The smallest network that still has a text encoder, CMAM+ and the decoder.
  config.model.update(use_temporal=False, cmam_stages=(5,), lasp_pairs=(),
                      text_glove_vocab=vocab)
  config.data.update(image_size=64, max_words=5)
  return config


@pytest.fixture(scope="module")
def initialised():
  """`(config, variables)`: the tiny model with its table filled from `_vectors()`."""
  config = _config()
  model = models.build_model(config.model)
  variables = jit_o0(model.init)(
      jax.random.key(0), *models.dummy_inputs(config.data, model=config.model))
  variables = jax.device_get(variables)
  return config, glove_table.fill(variables, _vectors())


def _write_step(workdir, config, variables, meta_extra):
  state = trainer.TrainState(jnp.zeros((), jnp.int32), variables["params"],
                             variables["batch_stats"], {},
                             variables.get("constants", {}))
  ckpts = checkpointing.Checkpoints(workdir, async_save=False)
  ckpts.save(3, state, {"data_position": {"epoch": 0, "step": 3},
                        "config": json.loads(config.to_json_best_effort()),
                        **meta_extra})
  ckpts.close()
  return state


def test_the_table_is_a_constant_padded_with_zeros_and_fits_or_says_so(initialised):
  config, variables = initialised
  assert set(variables) == {"params", "batch_stats", "constants"}
  assert "glove_table" not in str(jax.tree_util.tree_structure(variables["params"]))
  table = glove_table.table(variables)
  assert table.shape == (7, models.WORD_DIM)
  np.testing.assert_array_equal(table[1:5], _vectors().table[1:])
  assert not table[0].any() and not table[5:].any()
  with pytest.raises(ValueError, match="text_glove_vocab"):
    glove_table.fill(variables, _vectors([f"w{i}" for i in range(7)]))
  auto = _config(-1)
  glove_table.resolve(auto, _vectors())
  assert auto.model.text_glove_vocab == len(WORDS)
  with pytest.raises(ValueError, match="training vocabulary's size"):
    jax.eval_shape(models.build_model(_config(-1).model).init, jax.random.key(0),
                   *models.dummy_inputs(config.data, model=_config(-1).model))


def test_a_workdir_carries_its_vocabulary_without_word_vectors_npz(initialised,
                                                                   tmp_path):
  config, variables = initialised
  workdir = str(tmp_path / "w")
  state = _write_step(workdir, config, variables, glove_table.meta(_vectors()))
  assert not os.path.exists(os.path.join(workdir, "word_vectors.npz"))
  loaded = checkpointing.load(workdir)
  assert loaded.vectors.passes_ids and loaded.vectors.words == WORDS
  np.testing.assert_array_equal(loaded.vectors.table, _vectors().table)
  np.testing.assert_array_equal(glove_table.table(loaded.variables),
                                glove_table.table(variables))
  # eval.py's vocabulary (`carried_vocabulary`): the same, from the workdir or a step.
  for path in (workdir, os.path.join(workdir, checkpointing.LATEST_DIR, "3")):
    carried = checkpointing.carried_vocabulary(path, config.model, loaded.variables)
    assert carried.passes_ids and carried.words == WORDS
  assert checkpointing.carried_vocabulary(workdir, _config(0).model, variables) is None
  # Training resumes the table with the rest of the state.
  ckpts = checkpointing.Checkpoints(workdir, async_save=False, read_only=True)
  restored, _ = ckpts.restore(jax.eval_shape(lambda: state))
  ckpts.close()
  np.testing.assert_array_equal(glove_table.table({"constants": restored.constants}),
                                glove_table.table(variables))
  # Sentences become row ids of the table; a sentence of unknown words still errors.
  sentence, = inference_inputs.encode_sentences(["the red square"], loaded.vectors, 5)
  np.testing.assert_array_equal(sentence.vectors, [0, 3, 4, 0, 0])
  assert sentence.unknown == ["the"]
  with pytest.raises(inference_inputs.InputError, match="vocabulary"):
    inference_inputs.encode_sentences(["a zebra"], loaded.vectors, 5)


def test_a_train_step_keeps_the_table_and_its_checkpoint_restores_it(initialised,
                                                                     tmp_path):
  import optax  # pylint: disable=g-import-not-at-top
  config, variables = initialised
  model = models.build_model(config.model)
  state = trainer.TrainState(jnp.zeros((), jnp.int32), variables["params"],
                             variables["batch_stats"], optax.sgd(1.0).init(None),
                             variables["constants"])
  video, _, _ = models.dummy_inputs(config.data, model=config.model)
  rng = np.random.default_rng(0)
  batch = dict(video=rng.random(video.shape, np.float32),
               words=np.array([[3, 4, 1, 0, 0]], np.int32),  # "red square blue"
               word_mask=np.arange(5)[None] < 3,
               mask=(rng.random((1, 64, 64)) > 0.7).astype(np.float32),
               has_mask=np.ones(1, bool), valid=np.ones(1, bool))
  step = jit_o0(trainer.make_train_step(model, config.train, optimizer=optax.sgd))
  new, metrics = step(state, batch, np.float32(1.0))
  assert np.isfinite(float(metrics["loss"]))
  changed = jax.tree.map(lambda a, b: bool(np.any(np.asarray(a) != b)), new.params,
                         variables["params"])
  assert any(jax.tree.leaves(changed))  # The step trained ...
  # ... and the table, not a parameter, came through it unchanged.
  np.testing.assert_array_equal(glove_table.table({"constants": new.constants}),
                                glove_table.table(variables))
  workdir = str(tmp_path / "w")
  _write_step(workdir, config, jax.device_get(new.variables()),
              glove_table.meta(_vectors()))
  loaded = checkpointing.load(workdir)
  np.testing.assert_array_equal(glove_table.table(loaded.variables),
                                glove_table.table(variables))
  chex.assert_trees_all_close(loaded.variables["params"],
                              jax.device_get(new.params))


def test_an_older_workdir_fills_the_table_from_its_word_vectors(initialised, tmp_path):
  config, variables = initialised
  workdir = str(tmp_path / "old")
  old = dict(variables)
  del old["constants"]  # Written before the table was carried: no constants at all.
  _write_step(workdir, config, old, {})
  with pytest.raises(checkpointing.CheckpointError, match="word_vectors.npz"):
    checkpointing.load(workdir)
  _vectors(seed=1).save(os.path.join(workdir, "word_vectors.npz"))
  loaded = checkpointing.load(workdir)
  np.testing.assert_array_equal(glove_table.table(loaded.variables)[1:5],
                                _vectors(seed=1).table[1:])
  assert loaded.vectors.passes_ids and loaded.vectors.words == WORDS


def test_the_pipeline_passes_row_ids_for_a_carried_table(tmp_path):
  config = _config()
  (tmp_path / "word_vectors.npz").parent.mkdir(exist_ok=True)
  _vectors().save(str(tmp_path / "word_vectors.npz"))
  lookup = datasets.sentence_lookup(config, str(tmp_path), [])
  assert lookup.passes_ids
  config.model.text_glove_vocab = 0
  assert not datasets.sentence_lookup(config, str(tmp_path), []).passes_ids


def test_glove_reading_keeps_the_most_frequent_lower_case_words(tmp_path):
  lines = ["the", "The", "of", "zebra", "red"]
  path = tmp_path / "glove.txt"
  path.write_text("".join(f"{w} " + " ".join([f"{i}.5"] * 300) + "\n"
                          for i, w in enumerate(lines)))
  table = text_lib.WordVectors.from_glove(str(path), ["red"], most_frequent=3)
  assert table.words == ["of", "red", "the"]
  base = text_lib.WordVectors.from_glove(str(path), ["red"])
  grown = base.extended(text_lib.WordVectors.from_glove(str(path), ["zebra", "red"]))
  # The words a model was trained with keep their rows; new ones come after.
  assert grown.words == ["red", "zebra"]
  np.testing.assert_array_equal(grown.table[2], 3.5)


def _glove_file(tmp_path, words=("the", "zebra", "red")):
  path = tmp_path / "glove.txt"
  path.write_text("".join(f"{w} " + " ".join([f"{i}.25"] * 300) + "\n"
                          for i, w in enumerate(words)))
  return str(path)


def test_a_glove_file_opens_the_vocabulary_of_a_loaded_checkpoint(initialised,
                                                                  tmp_path):
  from rvs_jax.inference import segmenter  # pylint: disable=g-import-not-at-top
  config, variables = initialised
  workdir = str(tmp_path / "w")
  _write_step(workdir, config, variables, glove_table.meta(_vectors()))
  seg = segmenter.load(workdir, glove=_glove_file(tmp_path))
  sentence, = seg.encode(["the red zebra"])
  # The checkpoint's words keep their rows ("red" 3, from the table, not the file);
  # the new ones come after them, past the table's zero padding if it is full.
  np.testing.assert_array_equal(sentence.vectors, [5, 3, 6, 0, 0])
  assert sentence.unknown == []
  grown = glove_table.table(seg.loaded.variables)
  assert grown.shape == (7, models.WORD_DIM)
  np.testing.assert_array_equal(grown[3], _vectors().table[3])
  np.testing.assert_array_equal(grown[5], 0.25)
  np.testing.assert_array_equal(grown[6], 1.25)
  # Unknown everywhere: the same clear error as without the file.
  with pytest.raises(inference_inputs.InputError, match="vocabulary"):
    seg.encode(["a giraffe"])
  with pytest.raises(inference_inputs.InputError, match="not found"):
    segmenter.load(workdir, glove=str(tmp_path / "missing.txt"))


def test_an_exported_model_looks_up_absent_words_in_glove(tmp_path):
  from rvs_jax.inference import export  # pylint: disable=g-import-not-at-top

  class Fake:  # Only `encode` runs: no artifact needed.
    call = staticmethod(lambda *args: None)
  meta = {"constants": {"max_words": 5, "word_dim": 300}}
  model = export.ExportedModel(Fake(), meta, ["red"], np.ones((1, 300)),
                               glove=_glove_file(tmp_path))
  vectors, mask, unknown = model.encode("the red giraffe")
  assert unknown == ["giraffe"] and mask.sum() == 3
  np.testing.assert_array_equal(vectors[0], 0.25)   # "the", from the file
  np.testing.assert_array_equal(vectors[1], 1.0)    # "red", the vocabulary's own
  assert not vectors[2].any()
  plain = export.ExportedModel(Fake(), meta, ["red"], np.ones((1, 300)))
  assert plain.encode("the red giraffe")[2] == ["the", "giraffe"]
