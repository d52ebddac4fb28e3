"""Parity of the Flax network with PyTorch reference modules (random init, eval mode).

The references in `rvs_jax.convert.torch_reference` reproduce the CSTM PyTorch code's
layouts; their weights (with non-trivial BN statistics) are converted with
`rvs_jax.convert` and the outputs compared on the same random input. Tolerance: 1e-4 absolute per module on CPU.

Deep backbones (50 conv+BN layers) amplify float32 rounding past 1e-4 by themselves:
PyTorch's own float32 forward differs from its float64 forward by up to ~9e-4 at
ResNet stage 5. There the reference is PyTorch in float64, and the Flax output must be
within 1e-4 of it or no further from it than PyTorch float32 is (x1.5).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rvs_jax.convert import torch_layout
from rvs_jax.models import cmam, i3d, layers, resnet, text_encoder

torch = pytest.importorskip("torch")
# pylint: disable-next=g-import-not-at-top,wrong-import-position
from rvs_jax.convert import torch_reference as ref

ATOL = 1e-4


def _nchw_to_nhwc(t):
  return np.moveaxis(t.detach().numpy(), 1, -1)


def _calibrate(net, *inputs):
  """Random BN affine parameters, then running statistics measured on `inputs`.

  Purely random running statistics let activations grow to O(100) through 50 layers,
  where float32 rounding alone exceeds 1e-4; statistics measured on data (another draw
  than the test input) keep them O(1), as with pretrained weights, so the 1e-4 absolute
  tolerance stays meaningful.
  """
  ref.randomize_bn_stats(net, seed=7)
  for m in net.modules():
    if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):  # pylint: disable=protected-access
      m.reset_running_stats()
      m.momentum = 1.0  # Running statistics := those of the calibration batch.
  net.train()
  with torch.no_grad():
    net(*inputs) if not hasattr(net, "stages") else net.stages(*inputs)
  return net.eval()


def _assert_stage_parity(got, net, x, layout, label):
  """Compares Flax stage outputs with the torch module's, as the module docstring says."""
  with torch.no_grad():
    want32 = [layout(t.numpy()) for t in net.stages(x)]
    want64 = [layout(t.numpy()) for t in net.double().stages(x.double())]
  net.float()
  for k, (g, w32, w64) in enumerate(zip(got, want32, want64), 1):
    assert g.shape == w64.shape, (label, k, g.shape, w64.shape)
    err = np.abs(np.asarray(g, np.float64) - w64).max()
    torch_err = np.abs(w32 - w64).max()
    assert err <= max(ATOL, 1.5 * torch_err), (label, k, err, torch_err)


def _convert(module, key_fn, flax_model, *args, allow_unexpected=()):
  """torch module -> variables of `flax_model` (shapes from eval_shape)."""
  target = jax.eval_shape(flax_model.init, jax.random.key(0), *args)
  variables, _ = torch_layout.convert_state_dict(
      ref.state_dict_numpy(module), key_fn, target, allow_unexpected=allow_unexpected)
  return variables


def test_resnet50_stages_match_torchvision_layout():
  x = torch.rand(2, 3, 64, 96, generator=torch.Generator().manual_seed(0))
  net = _calibrate(ref.ResNet50(), torch.rand(4, 3, 64, 96))
  model = resnet.ResNet50()
  xj = jnp.asarray(_nchw_to_nhwc(x))
  variables = _convert(net, torch_layout.resnet_key, model, xj,
                       allow_unexpected=[r"fc\..*"])
  got = jax.jit(model.apply)(variables, xj)
  _assert_stage_parity(got, net, x, lambda a: np.moveaxis(a, 1, -1), "resnet")


@pytest.mark.parametrize("mode,shape", [("torch_port", (8, 64, 64)),
                                        ("tf_same", (8, 64, 64)),
                                        ("tf_same", (7, 50, 46))])
def test_i3d_stages_match_port(mode, shape):
  net = ref.InceptionI3d(with_logits=False, tf_same=mode == "tf_same")
  # Signed input: zero vs -inf pool padding only differ on negative values.
  x = torch.randn((1, 3) + shape, generator=torch.Generator().manual_seed(0))
  net = _calibrate(net, torch.randn((2, 3) + shape))
  model = i3d.I3D(pad_mode=mode)
  xj = jnp.asarray(np.moveaxis(x.numpy(), 1, -1))
  variables = _convert(net, torch_layout.i3d_key, model, xj)
  got = jax.jit(model.apply)(variables, xj)
  _assert_stage_parity(got, net, x, lambda a: np.moveaxis(a, 1, -1), mode)


def test_i3d_port_pads_and_pools():
  assert layers.port_same_pads((7, 7, 7), (2, 2, 2)) == ((2, 3),) * 3
  assert layers.port_same_pads((3, 3, 3), (1, 1, 1)) == ((1, 1),) * 3
  assert layers.port_same_pads((1, 3, 3), (1, 2, 2)) == ((0, 0), (0, 1), (0, 1))
  assert layers.tf_same_pads((7, 15), (3, 3), (2, 2)) == ((1, 1), (1, 1))
  assert layers.tf_same_pads((8, 16), (3, 3), (2, 2)) == ((0, 1), (0, 1))
  # Zero padding (the port) differs from -inf padding on negative inputs.
  x = -jnp.ones((1, 4, 4, 1))
  zero = layers.max_pool(x, (3, 3), (2, 2), ((0, 1), (0, 1)), pad_value=0.0)
  ninf = layers.max_pool(x, (3, 3), (2, 2), ((0, 1), (0, 1)))
  assert float(zero[0, -1, -1, 0]) == 0.0 and float(ninf[0, -1, -1, 0]) == -1.0


def test_ceil_mode_pool_matches_torch():
  x = torch.randn(1, 1, 5, 7, 7, generator=torch.Generator().manual_seed(3))
  want = torch.nn.functional.max_pool3d(
      torch.nn.functional.pad(x, (0, 1, 0, 1, 0, 1)), 3, 2, ceil_mode=True)
  got = layers.max_pool(jnp.asarray(np.moveaxis(x.numpy(), 1, -1)), (3, 3, 3), (2, 2, 2),
                        ((0, 1),) * 3, pad_value=0.0, ceil_mode=True)
  np.testing.assert_allclose(np.moveaxis(np.asarray(got), -1, 1), want.numpy(), atol=1e-6)


@pytest.mark.parametrize("kernel,stride,pads", [((7, 7, 7), (2, 2, 2), ((2, 3),) * 3),
                                                ((3, 3, 3), (1, 1, 1), ((1, 1),) * 3)])
def test_conv3d_fold_equals_xla(kernel, stride, pads):
  x = jax.random.normal(jax.random.key(0), (2, 8, 20, 20, 3))
  conv = dict(features=5, kernel_size=kernel, strides=stride, padding=pads)
  fold = layers.Conv3D(impl="fold", **conv)
  xla = layers.Conv3D(impl="xla", **conv)
  params = fold.init(jax.random.key(1), x)
  np.testing.assert_allclose(fold.apply(params, x), xla.apply(params, x), atol=1e-4)


@pytest.mark.parametrize("bias", [False, True])
def test_gru_matches_torch(bias):
  gru = torch.nn.GRU(12, 10, bias=bias, batch_first=True)
  with torch.no_grad():  # Non-zero biases: a missing b_hn would show.
    for p in gru.parameters():
      p.uniform_(-0.5, 0.5)
  x = torch.randn(3, 7, 12, generator=torch.Generator().manual_seed(0))
  with torch.no_grad():
    want, _ = gru(x)
  params = {"weight_ih": gru.weight_ih_l0.detach().numpy().T,
            "weight_hh": gru.weight_hh_l0.detach().numpy().T}
  if bias:
    params.update(bias_ih=gru.bias_ih_l0.detach().numpy(),
                  bias_hh=gru.bias_hh_l0.detach().numpy())
  got = text_encoder.GRU(hidden=10, use_bias=bias).apply({"params": params}, jnp.asarray(x.numpy()))
  np.testing.assert_allclose(np.asarray(got), want.numpy(), atol=1e-5)


@pytest.mark.parametrize("num_dim", [2, 3])
def test_cmam_matches_torch(num_dim):
  c, d, n = 24, 16, 20
  net = ref.CMAM(c, d, num_dim=num_dim)
  net = ref.randomize_cmam_gamma(ref.randomize_bn_stats(net, seed=4), std=0.5).eval()
  g = torch.Generator().manual_seed(0)
  size = (4, 10, 10) if num_dim == 3 else (10, 10)
  visual = torch.randn((2, c) + size, generator=g)
  txt = torch.randn(2, d, n, generator=g)
  spatial = torch.from_numpy(ref.get_video_spatial_feature(10, 10))[None]
  if num_dim == 3:
    spatial = spatial[:, :, None].repeat(1, 1, 4, 1, 1)
  with torch.no_grad():
    want = net(visual, txt, spatial).numpy()
  stream = "t" if num_dim == 3 else "s"
  model = cmam.CMAM(config=cmam.CMAMConfig(mask_pads=False, modulation="code"))
  vj = jnp.asarray(np.moveaxis(visual.numpy(), 1, -1))
  wj = jnp.asarray(txt.numpy().transpose(0, 2, 1))
  mask = jnp.ones((2, n), bool)
  target = jax.eval_shape(model.init, jax.random.key(0), vj, wj, mask)
  sd = {f"cmam_{stream}.0.{k}": v for k, v in ref.state_dict_numpy(net).items()}
  fn = lambda k: (lambda h: h and (h[0], h[1][1:]))(torch_layout.cstm_key(k))  # pylint: disable=unnecessary-lambda-assignment
  variables, _ = torch_layout.convert_state_dict(sd, fn, target)
  got, _ = model.apply(variables, vj, wj, mask)
  np.testing.assert_allclose(np.moveaxis(np.asarray(got), -1, 1), want, atol=ATOL)


@pytest.mark.parametrize("size", [(5, 7), (10, 10), (1, 4)])
def test_align_corners_up2_matches_torch(size):
  x = torch.randn((2, 3) + size, generator=torch.Generator().manual_seed(0))
  want = torch.nn.functional.interpolate(x, scale_factor=2, mode="bilinear",
                                         align_corners=True)
  got = layers.up2(jnp.asarray(np.moveaxis(x.numpy(), 1, -1)))
  np.testing.assert_allclose(np.moveaxis(np.asarray(got), -1, 1), want.numpy(), atol=1e-5)
