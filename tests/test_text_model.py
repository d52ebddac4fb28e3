"""Token ids into the model: the text encoder chosen by `model.text_name`.

BERT / RoBERTa / XLNet come from tiny random `transformers` checkpoints converted with
`rvs_jax.convert.hf` (`rvs_jax.testing.hf_tiny`); GloVe + GRU reads its table.
"""

import functools
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

# pylint: disable=g-import-not-at-top,wrong-import-position
from configs import synthetic
from rvs_jax import checkpointing, models, text_features
from rvs_jax.convert import hf
from rvs_jax.data import synthetic as synthetic_data
from rvs_jax.models import text
from rvs_jax.testing import hf_tiny
from rvs_jax.testing.jit import jit_o0
from rvs_jax.train import trainer

SENTENCES = ["the red circle moving left", "a small blue square on the right side"]


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
  root = tmp_path_factory.mktemp("text_ckpts")
  out = {}
  for kind in text.TRANSFORMERS:
    hf_tiny.save_folder(kind, str(root / f"hf_{kind}"))
    out[kind] = str(root / kind)
    hf.convert_folder(kind, str(root / f"hf_{kind}"), out[kind])
  return out


def _config(kind, ckpt, data_root=""):
  config = synthetic.get_config("tiny")
  # The smallest network that still has a text encoder, CMAM+ and the decoder.
  config.model.update(use_temporal=False, cmam_stages=(5,), lasp_pairs=())
  if kind != "glove_gru":
    config.model.update(checkpointing.read_conversion(ckpt)["text"])
    config.pretrained.text = ckpt
  config.data.root = data_root
  return config


def _video(b):
  return jnp.asarray(np.random.default_rng(0).random((b, 8, 64, 64, 3)), jnp.float32)


def test_model_text_features_are_the_converted_encoders(converted):
  # BERT here; RoBERTa and XLNet run through the model in the training test below.
  ckpt = converted["bert"]
  config = _config("bert", ckpt)
  model = models.build_model(config.model)
  assert models.reads_token_ids(config.model)
  spec = models.input_spec(config.data, 2, model=config.model)
  assert spec[1].shape == (2, 20) and spec[1].dtype == jnp.int32
  ids, mask, _ = text_features.load_encoder(ckpt).tokenizer.encode(SENTENCES)
  variables = jit_o0(model.init)(jax.random.key(0), _video(2), ids, mask)
  variables = checkpointing.merge_into(
      variables, hf.load_text_encoder(ckpt, config.model))
  _, state = jax.jit(functools.partial(
      model.apply, capture_intermediates=lambda m, _: m.name == "text_encoder"))(
          variables, _video(2), ids, mask)
  got = np.asarray(state["intermediates"]["text_encoder"]["__call__"][0])
  want, want_mask = text_features.encode_sentences(ckpt, SENTENCES)
  np.testing.assert_array_equal(mask, want_mask)
  np.testing.assert_allclose(got[mask], want[mask], atol=1e-5)
  with pytest.raises(ValueError, match="reads int token ids"):
    model.apply(variables, _video(2), jnp.zeros((2, 20, 300)), mask)


def test_pretrained_text_must_fit_the_model_config(converted):
  config = _config("bert", converted["bert"])
  config.model.text_layer_norm_eps = 1e-5
  config.model.text_layers = 3
  with pytest.raises(hf.ConversionError) as e:
    hf.load_text_encoder(converted["bert"], config.model)
  assert "text_layers" in str(e.value) and "text_layer_norm_eps" in str(e.value)
  config.model.text_name = "roberta"
  with pytest.raises(hf.ConversionError, match="bert text encoder"):
    hf.load_text_encoder(converted["bert"], config.model)


def test_glove_table_lookup_equals_the_word_vectors():
  config = _config("glove_gru", "")
  config.model.text_glove_vocab = 5
  model = models.build_model(config.model)
  ids = jnp.asarray([[3, 1, 5, 0, 0], [2, 2, 4, 1, 0]], jnp.int32)
  mask = ids > 0
  variables = jit_o0(model.init)(jax.random.key(0), _video(2), ids, mask)
  # Its own collection: not a parameter (the optimizer never sees it), not BN state.
  assert "glove_table" not in variables["batch_stats"]
  assert variables["constants"]["text_encoder"]["glove_table"].shape == (
      6, models.WORD_DIM)
  table = jax.random.normal(jax.random.key(1), (6, models.WORD_DIM)).at[0].set(0.0)
  variables["constants"]["text_encoder"]["glove_table"] = table
  # CMAM starts as the identity (zero-initialised gamma): compare the text features.
  lang = jax.jit(lambda v, tok, emb: model.apply(  # pylint: disable=unnecessary-lambda-assignment
      v, _video(2), tok, mask, embeddings=emb,
      capture_intermediates=lambda m, _: m.name == "text_encoder",
  )[1]["intermediates"]["text_encoder"]["__call__"][0])
  by_ids = np.asarray(lang(variables, ids, None))
  by_vectors = np.asarray(lang(variables, None, table[ids]))
  np.testing.assert_array_equal(by_ids, by_vectors)
  assert not np.allclose(by_ids, np.asarray(lang(variables, None, table[ids] * 2)))
  # Without a table the vectors are required, with a clear message.
  config.model.text_glove_vocab = 0
  with pytest.raises(ValueError, match="embeddings="):
    jax.eval_shape(models.build_model(config.model).init, jax.random.key(0),
                   _video(2), ids, mask)


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
  root = str(tmp_path_factory.mktemp("synthetic_text"))
  synthetic_data.generate(root, num_videos=4, seed=5, workers=1)
  return root


# XLNet only in the suite (left padding, relative attention; ~3 min of compiles per
# encoder on 2 busy cores): bert and roberta pass the same test, measured when written.
@pytest.mark.parametrize("kind", ["xlnet"])
def test_tiny_model_trains_with_each_encoder(kind, converted, data_root, tmp_path):
  config = _config(kind, converted[kind], data_root)
  config.data.update(max_train_samples=4, max_eval_samples=4)
  config.train.update(batch_size=4, num_steps=2, log_every_steps=1,
                      checkpoint_every_steps=2, progress_bar=False)
  config.eval.update(batch_size=4, draw=0)
  workdir = str(tmp_path / "w")
  trainer.train_and_evaluate(config, workdir)
  assert os.path.isfile(os.path.join(workdir, "tokenizer.json"))
  loaded = checkpointing.load(workdir)
  got = loaded.variables["params"]["text_encoder"]
  want = hf.load_text_encoder(converted[kind], config.model)["params"]["text_encoder"]
  # Frozen (text_finetune False): the pretrained encoder is exactly what was loaded.
  for (path, a), b in zip(jax.tree_util.tree_leaves_with_path(got),
                          jax.tree_util.tree_leaves(want)):
    np.testing.assert_array_equal(a, b, err_msg=str(path))
  assert isinstance(loaded.vectors, text.SubwordTokenizer)
