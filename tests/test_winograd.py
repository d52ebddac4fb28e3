"""Winograd F(2x2, 3x3) convolutions and the other CPU formulations equal XLA's originals.

Each speed formulation in `rvs_jax.models` (Winograd 3x3 convs, the folded / summed 3-D
convs, slice-max pooling) must be the same function as the straightforward one: equal
values up to float32 rounding, and gradients to match.
"""

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import a2d_sentences
from rvs_jax import models
from rvs_jax.models import layers, winograd


def _direct(x, kernel, padding):
  return jax.lax.conv_general_dilated(x, kernel, (1, 1), padding,
                                      dimension_numbers=("NHWC", "HWIO", "NHWC"))


def _rel_err(got, want) -> float:
  return float(jnp.max(jnp.abs(got - want)) / jnp.max(jnp.abs(want)))


@pytest.mark.parametrize("shape,features,padding,band_rows", [
    ((2, 9, 11, 5), 4, ((1, 1), (1, 1)), 1),     # odd sizes: partial tiles cropped
    ((1, 8, 8, 3), 6, ((0, 1), (2, 0)), 2),      # asymmetric pads, 2 tile rows per band
    ((3, 33, 34, 7), 5, ((1, 1), (1, 1)), 3),    # bands past the last row
    ((1, 6, 6, 4), 3, ((0, 0), (0, 0)), 1),      # no padding (VALID)
])
def test_winograd_equals_direct_conv_and_gradients(shape, features, padding, band_rows):
  kx, kk, kg = jax.random.split(jax.random.key(0), 3)
  x = jax.random.normal(kx, shape)
  kernel = jax.random.normal(kk, (3, 3, shape[-1], features)) / np.sqrt(9 * shape[-1])
  want = _direct(x, kernel, padding)
  got = winograd.conv3x3(x, kernel, padding, band_rows)
  assert got.shape == want.shape
  assert _rel_err(got, want) < 2e-6

  # Gradients through a non-linear loss: dx by the transposed Winograd conv, dk by XLA.
  g = jax.random.normal(kg, want.shape)
  loss = lambda conv: lambda x, k: jnp.sum(g * jnp.tanh(conv(x, k)))
  dx, dk = jax.grad(loss(lambda x, k: winograd.conv3x3(x, k, padding, band_rows)),
                    (0, 1))(x, kernel)
  rx, rk = jax.grad(loss(lambda x, k: _direct(x, k, padding)), (0, 1))(x, kernel)
  assert _rel_err(dx, rx) < 1e-5 and _rel_err(dk, rk) < 1e-5


def test_eligibility():
  f32 = jnp.float32
  big = ((1, 80, 80, 256), (3, 3, 256, 256), (1, 1), ((1, 1), (1, 1)), f32)
  assert winograd.eligible(*big)
  assert not winograd.eligible(big[0], big[1], (2, 2), big[3], f32)           # stride 2
  assert not winograd.eligible(big[0], (1, 1, 256, 256), *big[2:])            # 1x1
  assert not winograd.eligible(*big[:4], jnp.bfloat16)                        # bf16
  assert not winograd.eligible(big[0], big[1], big[2], ((3, 3), (1, 1)), f32)  # pad 3
  # Too small to gain: few tiles (20x20, batch 1) or few channels; still possible.
  small = ((1, 20, 20, 512), (3, 3, 512, 512), (1, 1), ((1, 1), (1, 1)), f32)
  assert not winograd.eligible(*small) and winograd.eligible(*small, profitable=False)
  assert not winograd.eligible((1, 80, 80, 64), (3, 3, 64, 64), *big[2:])
  # Batch counts: 8 frames of 20x20 are 800 tiles.
  assert winograd.eligible((8,) + small[0][1:], *small[1:])


def test_conv_impl_choice_and_errors():
  x = jax.random.normal(jax.random.key(0), (2, 64, 64, 192))
  conv = layers.Conv2D(features=192, kernel_size=(3, 3), padding=((1, 1), (1, 1)),
                       use_bias=True)
  params = conv.init(jax.random.key(1), x)
  outs = {impl: conv.clone(impl=impl).apply(params, x)
          for impl in layers.CONV2D_IMPLS}
  assert _rel_err(outs["winograd"], outs["xla"]) < 2e-6
  assert _rel_err(outs["auto"], outs["xla"]) < 2e-6
  # On this CPU, 'auto' takes the Winograd path for a conv this size: its jaxpr loops.
  jaxpr = str(jax.make_jaxpr(lambda p, x: conv.apply(p, x))(params, x))
  assert "scan" in jaxpr
  with pytest.raises(ValueError, match="conv2d impl"):
    conv.clone(impl="fft").apply(params, x)


@pytest.mark.parametrize("shape,features", [((2, 8, 20, 20, 3), 5),   # frames stacked
                                            ((1, 3, 4, 4, 16), 32)])  # kernel > frames
def test_conv3d_fold_paths_equal_xla(shape, features):
  x = jax.random.normal(jax.random.key(0), shape)
  pads = ((1, 1),) * 3
  fold = layers.Conv3D(features=features, kernel_size=(3, 3, 3), padding=pads,
                       use_bias=True, impl="fold", conv2d_impl="winograd")
  params = fold.init(jax.random.key(1), x)
  want = fold.clone(impl="xla", conv2d_impl="xla").apply(params, x)
  assert _rel_err(fold.apply(params, x), want) < 1e-5


@pytest.mark.parametrize("window,stride,pads,ceil", [
    ((3, 3), (2, 2), ((1, 1), (1, 1)), False),           # ResNet stem pool
    ((1, 3, 3), (1, 2, 2), ((0, 0), (0, 1), (0, 1)), False),
    ((3, 3, 3), (1, 1, 1), ((1, 1),) * 3, False),        # Mixed branch 3
    ((3, 3, 3), (2, 2, 2), ((0, 1),) * 3, True),         # ceil mode (port Mixed_4a pool)
])
def test_slice_max_pool_equals_reduce_window(window, stride, pads, ceil):
  x = jax.random.normal(jax.random.key(0), (2, 5, 9, 11, 4)[:len(window) + 1] + (4,))
  got = layers.max_pool(x, window, stride, pads, pad_value=0.0, ceil_mode=ceil)
  xp = jnp.pad(x, ((0, 0),) + pads + ((0, 0),))
  if ceil:  # One extra -inf row at the end of each dim (5+1 and 9+1 are even; 11+1 too).
    xp = jnp.pad(xp, ((0, 0),) + ((0, 1),) * len(window) + ((0, 0),),
                 constant_values=-jnp.inf)
  want = nn.max_pool(xp, window, stride, padding="VALID")
  np.testing.assert_array_equal(got, want)


def _count_convs(jaxpr) -> dict[str, int]:
  """How many 3x3 stride-1 XLA convs and how many scans (Winograd loops) a jaxpr runs."""
  counts = {"conv3x3": 0, "scan": 0}
  for eqn in jaxpr.eqns:
    for sub in jax.core.jaxprs_in_params(eqn.params):
      for k, v in _count_convs(sub).items():
        counts[k] += v
    if eqn.primitive.name == "scan":
      counts["scan"] += 1
    elif (eqn.primitive.name == "conv_general_dilated"
          and eqn.params["window_strides"] == (1, 1)
          and eqn.invars[1].aval.shape[:2] == (3, 3)):
      counts["conv3x3"] += 1
  return counts


def test_conv2d_impl_reaches_every_3x3_conv_of_the_model():
  """With conv2d_impl='winograd', no 3x3 stride-1 conv of a tiny CSTM is left to XLA.

  The wiring check traces only (compiling the whole model twice cost ~2 min); the
  numerics of each path are the tests above.
  """
  config = a2d_sentences.get_config("cstm,tiny")
  base = models.model_config(config.model)
  video = jnp.zeros((1, 4, 64, 64, 3))
  words, mask = jnp.zeros((1, 6, 300)), jnp.ones((1, 6), bool)
  counts = {}
  for impl in ("xla", "winograd"):
    model = models.build_model(dataclasses.replace(base, conv2d_impl=impl))
    variables = jax.eval_shape(model.init, jax.random.key(0), video, words, mask)
    jaxpr = jax.make_jaxpr(model.apply)(variables, video, words, mask).jaxpr
    counts[impl] = _count_convs(jaxpr)
  assert counts["xla"]["conv3x3"] > 20
  # Each XLA 3x3 conv became one band loop (the text GRU's scan is in both).
  assert counts["winograd"] == {
      "conv3x3": 0, "scan": counts["xla"]["scan"] + counts["xla"]["conv3x3"]}
