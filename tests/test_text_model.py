"""Token ids into the model: the text encoder chosen by `model.text_name`.

BERT / RoBERTa / XLNet come from tiny random `transformers` checkpoints converted with
`rvs_jax.convert.hf` (`rvs_jax.testing.hf_tiny`); GloVe + GRU reads its table.
"""

import functools
import os

import chex
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
# encoder on 2 busy cores): bert and roberta pass the same tests, measured when written.
@pytest.fixture(scope="module", params=["xlnet"])
def trained(request, converted, data_root, tmp_path_factory):
  """`(kind, config, workdir)` of a tiny model trained 2 steps with a subword encoder."""
  kind = request.param
  config = _config(kind, converted[kind], data_root)
  config.data.update(max_train_samples=4, max_eval_samples=4)
  config.train.update(batch_size=4, num_steps=2, log_every_steps=1,
                      checkpoint_every_steps=2, progress_bar=False)
  config.eval.update(batch_size=4, draw=0)
  workdir = str(tmp_path_factory.mktemp(f"trained_{kind}") / "w")
  trainer.train_and_evaluate(config, workdir)
  return kind, config, workdir


def test_tiny_model_trains_with_each_encoder(trained, converted):
  kind, config, workdir = trained
  assert os.path.isfile(os.path.join(workdir, "tokenizer.json"))
  loaded = checkpointing.load(workdir)
  got = loaded.variables["params"]["text_encoder"]
  want = hf.load_text_encoder(converted[kind], config.model)["params"]["text_encoder"]
  # Frozen (text_finetune False): the pretrained encoder is exactly what was loaded
  # (same tree, same values).
  chex.assert_trees_all_equal(got, want)
  assert isinstance(loaded.vectors, text.SubwordTokenizer)


# Fewer than 20 subword tokens with the tiny tokenizers: padding shows.
SHORT = hf_tiny.SENTENCES[-1]


def _frames(t=10, h=48, w=40):
  return np.random.default_rng(3).integers(0, 256, (t, h, w, 3), np.uint8)


def test_predict_and_export_with_a_subword_model(trained, tmp_path):
  from rvs_jax.inference import export, segmenter  # pylint: disable=g-import-not-at-top
  _, _, workdir = trained
  frames, sentence = _frames(), SHORT
  seg = segmenter.Segmenter.load(workdir, batch_size=4)
  want = seg.segment(frames, sentence)
  out = str(tmp_path / "m.stablehlo")
  paths = export.export_checkpoint(workdir, out)
  assert sorted(paths) == ["json", "model", "tokenizer"]
  assert not os.path.exists(export.artifact_paths(out)["vocab"])
  m = export.load(out)
  ids, mask, unknown = m.encode(sentence)
  encoded = want.sentences[0]
  # The artifact's tokenizer file encodes as the checkpoint's tokenizer does.
  np.testing.assert_array_equal(ids, encoded.vectors)
  np.testing.assert_array_equal(mask, encoded.mask)
  assert m.tokenize(sentence) == encoded.tokens and unknown == []
  assert not mask.all()
  if trained[0] == "xlnet":
    assert mask[-1] and not mask[0]  # XLNet pads on the left.
  got = m.segment(frames, sentence, batch_size=4)
  assert got.shape == want.masks[0].shape
  # Two programs of the same function (XLA may fuse them differently): masks agree
  # except where a probability sits at the threshold.
  assert np.mean(got != want.masks[0]) < 1e-3
  with pytest.raises(export.ExportError, match="only applies to GloVe"):
    export.load(out, glove=out)


def test_explain_pictures_show_the_subword_tokens_at_their_positions(
    trained, tmp_path, monkeypatch):
  from rvs_jax.inference import predict, segmenter  # pylint: disable=g-import-not-at-top
  from rvs_jax.pictures import explain  # pylint: disable=g-import-not-at-top
  _, _, workdir = trained
  seg = segmenter.Segmenter.load(workdir, batch_size=4)
  sentence = seg.encode([SHORT])[0]
  result = next(iter(seg.stream(_frames(), [sentence], explain=[0])))
  drawn = {}
  real_picture = explain.words_picture

  def words_picture(frame, tokens, cmam, title):
    drawn.update(tokens=list(tokens), cmam=cmam)
    return real_picture(frame, tokens, cmam, title)

  monkeypatch.setattr(explain, "words_picture", words_picture)
  written = predict._write_explanations(  # pylint: disable=protected-access
      result, [sentence], [(255, 0, 0)], ["s0"], str(tmp_path))
  assert "s0/explain/frame_00000_words.png" in written
  # Subword tokens, special ones included, each drawn with the weight of its own
  # position: XLNet's left padding puts the real tokens last.
  assert drawn["tokens"] == sentence.tokens
  real = np.flatnonzero(sentence.mask)
  if trained[0] == "xlnet":
    assert drawn["tokens"][-2:] == ["<sep>", "<cls>"] and real[0] > 0
  for name, v in result.explained[0]["cmam"].items():
    np.testing.assert_array_equal(drawn["cmam"][name]["weights"], v["weights"][real])
