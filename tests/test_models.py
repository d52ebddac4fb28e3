"""The network: sizes, shapes, variants, init behaviour, LASP mechanics, sharding."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import NamedSharding, PartitionSpec as P

from configs import a2d_sentences
from rvs_jax import models
from rvs_jax.models import cmam, cmam_plus, lasp, resnet, text_encoder, variants
from rvs_jax.testing.jit import jit_o0


def _inputs(batch=2, size=64, frames=8, words=20, dim=300, seed=0):
  k1, k2 = jax.random.split(jax.random.key(seed))
  video = jax.random.uniform(k1, (batch, frames, size, size, 3))
  vecs = jax.random.normal(k2, (batch, words, dim))
  mask = jnp.arange(words)[None] < jnp.array([5, 9, 3, 12][:batch])[:, None]
  return video, vecs * mask[..., None], mask


def _count(tree):
  return int(sum(np.prod(x.shape) for x in jax.tree.leaves(tree)))


@pytest.fixture(scope="module")
def tiny():
  """The tiny `lstc` model, its variables and a jitted eval forward (compiled once)."""
  config = a2d_sentences.get_config("tiny")
  model = models.build_model(config.model)
  video, words, mask = _inputs(batch=4)
  # Initialised as the trainer and the benchmarks do (one compiled program for all).
  variables = models.initialize(model, jax.random.key(1), *models.dummy_inputs(
      config.data, model=config.model))
  forward = jit_o0(lambda v, *x: model.apply(v, *x))
  return model, variables, forward, (video, words, mask)


def test_cstm_full_size_parameter_count_and_shapes():
  model = models.build_model(a2d_sentences.get_config("cstm").model)
  video, words, mask = _inputs(batch=1, size=320)
  variables = jax.eval_shape(model.init, jax.random.key(0), video, words, mask)
  p = variables["params"]
  total = _count(p)
  # docs/model.md: 184.4 M; parts 12.3 / 23.5 / 114.7 / 32.7 / 1.25 M.
  assert abs(total - 184.4e6) / 184.4e6 < 0.002, total
  assert round(_count(p["temporal_encoder"]) / 1e6, 1) == 12.3
  assert round(_count(p["spatial_encoder"]) / 1e6, 1) == 23.5
  assert round(sum(_count(v) for k, v in p.items() if k.startswith("cmam")) / 1e6, 1) == 114.7
  assert round(_count(p["decoder"]) / 1e6, 1) == 32.7
  assert round(_count(p["text_encoder"]) / 1e6, 2) == 1.25
  out = jax.eval_shape(model.apply, variables, video, words, mask)
  assert [o.shape for o in out["logits"]] == [(1, s, s) for s in (10, 20, 40, 80, 160, 320)]


def test_lstc_full_size_shapes():
  model = models.build_model(a2d_sentences.get_config().model)
  video, words, mask = _inputs(batch=1, size=320)
  variables = jax.eval_shape(model.init, jax.random.key(0), video, words, mask)
  out = jax.eval_shape(model.apply, variables, video, words, mask)
  assert [o.shape for o in out["logits"]] == [(1, s, s) for s in (10, 20, 40, 80, 160, 320)]
  assert "lasp_5_4" in variables["params"]["decoder"]
  assert "language_update" in variables["params"]["cmam_t_4"]


@pytest.mark.parametrize("name", sorted(variants.ABLATIONS))
def test_every_ablation_builds(name):
  config = a2d_sentences.get_config(f"{name},tiny")
  model = models.build_model(config.model)
  video, words, mask = _inputs()
  variables = jax.eval_shape(model.init, jax.random.key(0), video, words, mask)
  p = variables["params"]
  cfg = model.config
  assert ("spatial_encoder" in p) == cfg.use_spatial
  assert ("temporal_encoder" in p) == cfg.use_temporal
  n_cmam = sum(k.startswith("cmam_") for k in p)
  streams = cfg.use_spatial + cfg.use_temporal
  assert n_cmam == (0 if cfg.cmam == "none" else streams * len(cfg.cmam_stages))
  lasps = sorted(k for k in p["decoder"] if k.startswith("lasp_") and k != "lasp_sentence")
  assert lasps == sorted(f"lasp_{d}_{s}" for d, s in cfg.lasp_pairs)


def test_unknown_config_field_and_bad_input_are_refused():
  section = a2d_sentences.get_config("tiny").model
  section.unlock() if hasattr(section, "unlock") else None
  bad = dict(section.to_dict(), not_a_field=1)
  with pytest.raises(ValueError, match="not_a_field"):
    models.build_model(bad)
  with pytest.raises(ValueError, match="cmam"):
    models.ModelConfig(cmam="cmam++")
  model = models.build_model(section)
  video, words, mask = _inputs(size=48)
  with pytest.raises(ValueError, match="multiples of 32"):
    jax.eval_shape(model.init, jax.random.key(0), video, words, mask)


def test_tiny_forward_shapes_and_finite(tiny):
  _, variables, forward, inputs = tiny
  out = forward(variables, *inputs)
  assert [o.shape for o in out["logits"]] == [(4, s, s) for s in (2, 4, 8, 16, 32, 64)]
  assert all(bool(jnp.all(jnp.isfinite(o))) for o in out["logits"])


@pytest.mark.parametrize("nd", [2, 3])
def test_cmam_and_cmam_plus_are_identity_at_init(nd):
  v = jax.random.normal(jax.random.key(0), (2,) + (4,) * (nd - 2) + (6, 6, 16))
  words = jax.random.normal(jax.random.key(1), (2, 7, 12))
  mask = jnp.ones((2, 7), bool)
  for module in (cmam.CMAM(), cmam_plus.CMAMPlus()):
    variables = module.init(jax.random.key(2), v, words, mask)
    dv = module.apply(variables, v, words, mask)[0]
    assert dv.shape == v.shape
    assert float(jnp.abs(dv).max()) == 0.0


def test_whole_model_encoder_untouched_at_init(tiny):
  """At init the CMAM+ residuals are zero: the spatial stream equals a bare ResNet."""
  model, variables, _, (video, words, mask) = tiny
  _, state = jit_o0(lambda v: model.apply(v, video, words, mask, capture_intermediates=(
      lambda mdl, method: method == "stage" and mdl.name == "spatial_encoder")))(variables)
  inside = state["intermediates"]["spatial_encoder"]["stage"]
  cfg = model.config
  bare = resnet.ResNet50(width=cfg.resnet_width, stage_sizes=cfg.resnet_stage_sizes)
  enc_vars = {c: variables[c]["spatial_encoder"] for c in ("params", "batch_stats")}
  x = (video[:, 4] - jnp.asarray([0.485, 0.456, 0.406])) / jnp.asarray([0.229, 0.224, 0.225])
  want = bare.apply(enc_vars, x)
  for k, (got, ref) in enumerate(zip(inside, want)):
    np.testing.assert_allclose(got, ref, atol=1e-6, err_msg=f"stage {k + 1}")


def _np_word_softmax(y, mask):
  """CMAM's step 3 in NumPy, words on axis 1: masked L2 norm, then masked softmax."""
  y = np.where(mask, y, 0.0)
  y = y / np.maximum(np.linalg.norm(y, axis=1, keepdims=True), 1e-12)
  e = np.where(mask, np.exp(y - y.max(axis=1, keepdims=True)), 0.0)
  return e / e.sum(axis=1, keepdims=True)


def test_the_model_sows_what_the_pictures_need(tiny):
  """CMAM's two sown maps follow from its own key and query projections; LASP's too."""
  model, variables, _, inputs = tiny
  capture = lambda mdl, method: method == "__call__" and mdl.name in ("v_key", "l_query_bn")  # pylint: disable=unnecessary-lambda-assignment
  _, state = jit_o0(lambda v: model.apply(
      v, *inputs, mutable=["intermediates"], capture_intermediates=capture))(variables)
  mask = np.asarray(inputs[2])
  for name, hw in (("cmam_s_0", 32), ("cmam_t_2", 8)):
    core = state["intermediates"][name]["cmam"]
    key = np.asarray(core["v_key"]["__call__"][0], np.float64)     # (B, [T,] h, w, D)
    query = np.asarray(core["l_query_bn"]["__call__"][0], np.float64)  # (B, N, D)
    weights = np.asarray(core["word_attention"][0])
    maps = np.asarray(core["pixel_word_attention"][0])
    assert maps.shape == (4, 20, hw, hw), name
    flat = key.reshape(4, -1, key.shape[-1]).sum(1)
    np.testing.assert_allclose(
        weights, _np_word_softmax(np.einsum("bd,bnd->bn", flat, query), mask), atol=1e-5)
    middle = key[:, key.shape[1] // 2] if key.ndim == 5 else key
    want = _np_word_softmax(np.einsum("bhwd,bnd->bnhw", middle, query),
                            mask[:, :, None, None])
    np.testing.assert_allclose(maps, want, atol=1e-5, err_msg=name)
    np.testing.assert_allclose(maps.sum(1), 1.0, rtol=1e-5)
    assert float(maps[0, 5:].max()) == 0.0  # pads get no attention anywhere
  assert float(state["intermediates"]["cmam_s_0"]["cmam"]["word_attention"][0][0, 5:].max()
               ) == 0.0
  # LASP: the relevance map of the deep stage and the 64 sampled positions per branch.
  lasp_5_4 = state["intermediates"]["decoder"]["lasp_5_4"]
  assert lasp_5_4["relevance"][0].shape == (4, 2, 2)
  assert lasp_5_4["fg_attention_indices"][0].shape == (4, 64)
  assert lasp_5_4["bg_attention_indices"][0].shape == (4, 64)


def test_modules_take_keyword_arguments_only():
  with pytest.raises(TypeError):
    lasp.LASP(lasp.LASPConfig())  # pylint: disable=too-many-function-args
  with pytest.raises(TypeError):
    models.RVSModel(models.ModelConfig())  # pylint: disable=too-many-function-args


def test_sub_configs_follow_the_model_config():
  cfg = models.ModelConfig(**variants.model_fields(["cstm", "lasp_fg_only"]))
  assert cfg.text_config() == text_encoder.TextConfig(hidden=512, bias=False)
  assert cfg.cmam_config() == cmam.CMAMConfig(kind="cmam", mask_pads=False)
  assert cfg.lasp_config() == lasp.LASPConfig(pairs=(), fg_only=True)
  # Lists (a config read back from JSON) become the tuples the modules hash.
  cfg = models.ModelConfig(lasp_pairs=[[5, 4]], cmam_stages=[1, 2])
  assert cfg.lasp_config().pairs == ((5, 4),) and cfg.cmam_config().stages == (1, 2)


@pytest.mark.parametrize("size", [10, 20, 40, 80, 13])
def test_adaptive_max_pool_indices_match_torch(size):
  torch = pytest.importorskip("torch")
  rng = np.random.default_rng(size)
  # Quantised values create ties; PyTorch keeps the first in row-major order.
  a = np.round(rng.random((3, size, size)) * 8).astype(np.float32) / 8
  want_v, want_i = torch.nn.functional.adaptive_max_pool2d(
      torch.from_numpy(a), 8, return_indices=True)
  got_v, got_i = jax.jit(lasp.adaptive_max_pool_with_indices, static_argnums=1)(
      jnp.asarray(a), 8)
  np.testing.assert_array_equal(np.asarray(got_i), want_i.numpy().reshape(3, 64))
  np.testing.assert_array_equal(np.asarray(got_v), want_v.numpy())


def test_adaptive_bins_overlap_when_not_divisible():
  bins = lasp.adaptive_bins(10, 8)
  assert bins[0] == (0, 2) and bins[1] == (1, 3)  # overlapping
  assert lasp.adaptive_bins(16, 8)[1] == (2, 4)


def _lasp_inputs(h=10, c=8, seed=0):
  k = jax.random.split(jax.random.key(seed), 3)
  return (jax.random.normal(k[0], (2, h, h, c)), jax.random.normal(k[1], (2, 2 * h, 2 * h, c)),
          jax.random.normal(k[2], (2, c)))


def test_lasp_duplicate_indices_are_deterministic():
  """A single peak inside overlapping bins is picked by several bins: one result."""
  module = lasp.LASP()
  deep, shallow, sent = _lasp_inputs()
  variables = module.init(jax.random.key(3), deep, shallow, sent)
  a = jnp.zeros((2, 10, 10)).at[:, 1, 1].set(1.0)   # pixel (1, 1) is in bins 0 and 1
  _, idx = lasp.adaptive_max_pool_with_indices(a, 8)
  assert int((idx[0] == 11).sum()) >= 2
  kid = lasp.child_indices(idx, 10, "top_left")
  values = jax.random.normal(jax.random.key(4), (2, 64, 8))
  # Equal values at duplicate positions (as LASP produces) scatter to one answer.
  values = lasp.gather(jnp.broadcast_to(values.mean(1, keepdims=True), (2, 400, 8))
                       .reshape(2, 20, 20, 8), kid)
  out1 = jax.jit(lasp.scatter)(shallow, kid, values)
  out2 = lasp.scatter(shallow, kid[:, ::-1], values[:, ::-1])
  np.testing.assert_array_equal(np.asarray(out1), np.asarray(out2))
  f = jax.jit(lambda v, *x: module.apply(v, *x))
  np.testing.assert_array_equal(np.asarray(f(variables, deep, shallow, sent)),
                                np.asarray(f(variables, deep, shallow, sent)))


def test_lasp_gradient_reaches_relevance_map():
  module = lasp.LASP()
  deep, shallow, sent = _lasp_inputs(h=20)
  variables = module.init(jax.random.key(3), deep, shallow, sent)

  def loss(params):
    return jnp.sum(module.apply({**variables, "params": params}, deep, shallow, sent) ** 2)

  grads = jax.jit(jax.grad(loss))(variables["params"])
  for name in ("w8_sentence", "w9_visual"):  # only reachable through the relevance map
    assert float(jnp.abs(grads[name]["kernel"]).max()) > 0.0, name


def test_lasp_all4_children():
  idx = jnp.array([[0, 11]])
  kids = lasp.child_indices(idx, 10, "all4")
  assert kids.tolist() == [[0, 42, 1, 43, 20, 62, 21, 63]]  # (1, 1) -> (2..3, 2..3)


def test_sharded_forward_equals_single_device(tiny):
  assert jax.device_count() == 4
  _, variables, forward, (video, words, mask) = tiny
  single = forward(variables, video, words, mask)
  mesh = jax.sharding.Mesh(np.array(jax.devices()), ("data",),
                           axis_types=(jax.sharding.AxisType.Auto,))
  shard = lambda x: jax.device_put(x, NamedSharding(mesh, P("data")))  # pylint: disable=unnecessary-lambda-assignment
  repl = jax.device_put(variables, NamedSharding(mesh, P()))
  sharded = forward(repl, shard(video), shard(words), shard(mask))
  assert sharded["logits"][-1].sharding.spec == P("data")
  for a, b in zip(single["logits"], sharded["logits"]):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-5)


@pytest.mark.parametrize("name", ["a2d_sentences", "jhmdb_sentences", "refer_youtube_vos",
                                  "refer_davis", "synthetic"])
def test_dataset_configs_build_their_model(name):
  import importlib  # pylint: disable=g-import-not-at-top
  config = importlib.import_module(f"configs.{name}").get_config("tiny")
  assert config.data.name == name
  model = models.build_model(config.model)
  video, words, mask = _inputs(size=config.data.image_size)
  variables = jax.eval_shape(model.init, jax.random.key(0), video, words, mask)
  assert "decoder" in variables["params"]


def test_bfloat16_compute_stays_close_to_float32(tiny):
  model, variables, forward, inputs = tiny
  cfg = model.config.__class__(**{**model.config.__dict__, "dtype": "bfloat16"})
  low = jax.jit(models.RVSModel(config=cfg).apply)(variables, *inputs)["logits"][-1]
  ref = forward(variables, *inputs)["logits"][-1]
  assert low.dtype == jnp.float32  # maps are returned in float32 whatever the compute
  scale = float(jnp.abs(ref).max())
  assert float(jnp.abs(low - ref).max()) < 0.05 * scale
  assert float(jnp.abs(low - ref).max()) > 0.0  # it really computed in bfloat16


def test_remat_gives_the_same_gradients():
  """`remat` recomputes encoder stages in the backward pass: same numbers, same tree."""
  cfg = a2d_sentences.get_config("tiny").model
  cfg.update(use_temporal=False, cmam="cmam", cmam_stages=(2,), lasp_pairs=())
  video, words, mask = _inputs(batch=2)
  grads = []
  for remat in (False, True):
    cfg.remat = remat
    model = models.build_model(cfg)
    variables = jit_o0(model.init)(jax.random.key(0), video, words, mask)

    def loss(params, model=model, variables=variables):
      out = model.apply({**variables, "params": params}, video, words, mask)
      return sum(jnp.sum(m ** 2) for m in out["logits"])

    grads.append(jax.jit(jax.grad(loss))(variables["params"]))
    jaxpr = str(jax.make_jaxpr(jax.grad(loss))(variables["params"]))
    assert ("remat" in jaxpr) == remat
  assert jax.tree.structure(grads[0]) == jax.tree.structure(grads[1])
  for a, b in zip(jax.tree.leaves(grads[0]), jax.tree.leaves(grads[1])):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)
