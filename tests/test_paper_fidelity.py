"""Where the code follows the paper's text: eq. 7's mean, eq. 5 as printed, Table V's
concatenation baselines. The `cstm` variant keeps the code's forms (parity tests)."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import synthetic
from rvs_jax import models
from rvs_jax.models import cmam, layers, rvs_model
from rvs_jax.models import decoder as decoder_lib


def _inputs(batch=2, size=32, words=6, dim=300):
  k1, k2 = jax.random.split(jax.random.key(0))
  video = jax.random.uniform(k1, (batch, 8, size, size, 3))
  mask = jnp.arange(words)[None] < jnp.array([2, 5][:batch])[:, None]   # (B, N)
  vecs = jax.random.normal(k2, (batch, words, dim)) * mask[..., None]
  return video, vecs, mask


def _tree(name):
  """Parameter shapes of `synthetic.py:<name>,tiny` (no compile: eval_shape)."""
  model = models.build_model(synthetic.get_config(f"{name},tiny").model)
  variables = jax.eval_shape(model.init, jax.random.key(0), *_inputs())
  return model.config, variables["params"]


def test_eq7_pool_words_mean_is_sum_over_real_words():
  words = jnp.arange(2 * 4 * 3, dtype=jnp.float32).reshape(2, 4, 3)
  mask = jnp.array([[True, True, False, False], [True, True, True, False]])
  total = rvs_model.pool_words(words, mask, "sum")
  mean = rvs_model.pool_words(words, mask, "mean")
  np.testing.assert_allclose(total[0], words[0, 0] + words[0, 1])
  np.testing.assert_allclose(mean[1], words[1, :3].mean(0))
  # A row without words (padding row of an eval batch) is zeros, not NaN.
  empty = rvs_model.pool_words(words, jnp.zeros_like(mask), "mean")
  assert float(jnp.abs(empty).max()) == 0.0
  assert models.ModelConfig().sentence_pool == "mean"   # the paper's text by default
  with pytest.raises(ValueError, match="sentence_pool"):
    models.ModelConfig(sentence_pool="max")


@pytest.mark.parametrize("pool", ["mean", "sum"])
def test_eq7_the_model_pools_as_configured(pool, monkeypatch):
  """The model's eq. 7 goes through `pool_words` with `sentence_pool`, once per CMAM+
  stream (traced with eval_shape: no compile; the numbers are checked above)."""
  calls = []
  real = rvs_model.pool_words

  def spy(words, mask, how):
    calls.append((words.shape, how))
    return real(words, mask, how)

  monkeypatch.setattr(rvs_model, "pool_words", spy)
  config = synthetic.get_config("tiny").model
  model = models.build_model(dict(config.to_dict(), sentence_pool=pool))
  video, words, mask = _inputs()
  p = jax.eval_shape(model.init, jax.random.key(1), video, words, mask)["params"]
  assert calls == [((2, 6, config.text_hidden), pool)] * 2   # L_s and L_t
  assert p["decoder"]["lasp_sentence"]["kernel"].shape[0] == 2 * config.text_hidden


def test_eq5_paper_modulation_gates_the_stage_input():
  """'paper' is V + V*g (the input V); 'projected' V + V'*g; 'code' V + V'(g - 0.5).
  At init g = 0.5 exactly (zero Dense), which makes each form's residual known."""
  v = jax.random.normal(jax.random.key(0), (2, 6, 6, 16))
  words = jax.random.normal(jax.random.key(1), (2, 5, 12))
  mask = jnp.ones((2, 5), bool)
  got = {}
  for modulation in cmam.MODULATIONS:
    module = cmam.CMAM(config=cmam.CMAMConfig(modulation=modulation))
    variables = module.init(jax.random.key(2), v, words, mask)
    got[modulation], _ = module.apply(variables, v, words, mask)
  np.testing.assert_allclose(got["paper"], 0.5 * v, rtol=1e-6)
  assert float(jnp.abs(got["code"]).max()) == 0.0
  # V' = ReLU(BN(conv)) is not V: the 'projected' residual is 0.5 V', non-negative.
  assert float(got["projected"].min()) >= 0.0
  assert not np.allclose(got["projected"], got["paper"], atol=1e-3)


@pytest.mark.parametrize("name", ["temporal_only", "plus_spatial"])
def test_table_v_baselines_concatenate_and_fuse_in_the_decoder(name):
  cfg, p = _tree(name)
  assert cfg.language_fusion == "concat" and cfg.cmam == "none" and not cfg.lasp_pairs
  assert not any(k.startswith("cmam_") for k in p)
  decoder = p["decoder"]
  assert not any(k.startswith(("language_0", "lasp")) for k in decoder)
  for k in range(5):
    fuse = decoder[f"language_fuse_{k}"]
    # 1x1 conv over [D_k, tiled sentence]: C_d + C_l inputs (the GRU words pooled once,
    # also with two encoders: without CMAM+ their language streams are the same).
    assert fuse["conv"]["kernel"].shape == (1, 1, cfg.decoder_dim + cfg.text_hidden,
                                            cfg.decoder_dim)
    assert set(fuse) == {"conv", "bn"}
  assert ("spatial_encoder" in p) == (name == "plus_spatial")


def test_multiply_stays_an_option():
  config = synthetic.get_config("temporal_only,tiny")
  config.model.language_fusion = "multiply"
  model = models.build_model(config.model)
  p = jax.eval_shape(model.init, jax.random.key(0), *_inputs())["params"]["decoder"]
  assert p["language_0"]["kernel"].shape == (config.model.text_hidden,
                                             config.model.decoder_dim)
  assert not any(k.startswith("language_fuse") for k in p)


def test_concat_fusion_uses_the_sentence():
  """The decoder's maps change with the sentence alone (language reaches every map)."""
  decoder = decoder_lib.Decoder(
      dim=8, stage_fusion="sum", language_fusion="concat",
      conv_bn=functools.partial(layers.ConvBN, conv2d_impl="xla"),
      conv=functools.partial(layers.Conv2D, impl="xla"))
  temporal = [jax.random.normal(jax.random.key(k), (2, 32 >> k, 32 >> k, 4))
              for k in range(5)]                                  # (B, h_k, w_k, C)
  sentence = jax.random.normal(jax.random.key(9), (2, 6))          # (B, C_l)
  variables = decoder.init(jax.random.key(0), None, temporal, sentence)
  apply = jax.jit(lambda s: decoder.apply(variables, None, temporal, s))
  a, b = apply(sentence), apply(sentence[::-1])
  for x, y in zip(a, b):
    assert not np.allclose(x, y, atol=1e-6)


def test_a_config_stored_before_eq5_and_eq7_keeps_its_meaning():
  from rvs_jax import models  # pylint: disable=g-import-not-at-top
  old = {"cmam": "cmam_plus", "cmam_modulation": "paper"}
  assert models.upgrade_stored(old) == {"cmam": "cmam_plus", "sentence_pool": "sum",
                                        "cmam_modulation": "projected"}
  assert models.upgrade_stored({"cmam_modulation": "code"})["sentence_pool"] == "sum"
  new = {"cmam_modulation": "paper", "sentence_pool": "mean"}
  assert models.upgrade_stored(new) == new
  assert models.model_config(models.upgrade_stored(old)).sentence_pool == "sum"
