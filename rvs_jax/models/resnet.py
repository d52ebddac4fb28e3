"""The spatial encoder: torchvision's ResNet-50 (v1.5) on the target frame.

Layout follows torchvision; each conv+BN pair is one `ConvBN` (children `conv`, `bn`):
`stem` = conv1/bn1, `layer{L}_{B}/conv{1,2,3}` = layerL.B.conv{k}/bn{k},
`layer{L}_0/conv_downsample` = layerL.0.downsample.{0,1}, so a torchvision `state_dict`
maps onto it by a fixed rule (rvs_jax/convert). Stride sits on the 3x3 conv (v1.5); every pad is
explicit and symmetric like PyTorch's (Flax `'SAME'` would pad (0, 1) on even inputs and
shift every window); the max-pool pads with -inf as PyTorch's implicit padding does.

The encoder is used stage by stage (`stage(i, x)`), because CMAM/CMAM+ modulate the
feature between stages. Stages (strides 2, 4, 8, 16, 32): 1 = conv1+bn1+relu,
2 = maxpool+layer1, 3..5 = layer2..4 (docs/model.md, "Encoders").
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from rvs_jax.models import layers


class Bottleneck(nn.Module, kw_only=True):
  """torchvision `Bottleneck` (expansion 4), stride on `conv2` (ResNet v1.5)."""
  width: int
  stride: int = 1
  downsample: bool = False
  conv_bn: layers.ModuleDef = layers.ConvBN

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:  # (B, H, W, C)
    def cbn(y, features, k, stride, idx, relu):
      return self.conv_bn(features=features, kernel_size=(k, k), strides=(stride, stride),
                          relu=relu, name=f"conv{idx}")(y, train)

    y = cbn(x, self.width, 1, 1, 1, True)
    y = cbn(y, self.width, 3, self.stride, 2, True)
    y = cbn(y, 4 * self.width, 1, 1, 3, False)
    if self.downsample:
      x = cbn(x, 4 * self.width, 1, self.stride, "_downsample", False)
    return nn.relu(x + y)


class ResNet50(nn.Module, kw_only=True):
  """torchvision ResNet-50 trunk (no avgpool/fc), callable stage by stage.

  Attributes:
    width: channels of the stem; 64 in ResNet-50, smaller in test configs.
    stage_sizes: bottleneck blocks per layer; (3, 4, 6, 3) in ResNet-50.
    conv_bn: the `layers.ConvBN` (partial) every conv+BN pair is built with; frozen BN
      and the conv implementation are bound there.
  """
  width: int = 64
  stage_sizes: tuple[int, ...] = (3, 4, 6, 3)
  conv_bn: layers.ModuleDef = layers.ConvBN

  def setup(self):
    self.stem = self.conv_bn(features=self.width, kernel_size=(7, 7), strides=(2, 2),
                             padding=((3, 3), (3, 3)))
    for li, blocks in enumerate(self.stage_sizes):
      for bi in range(blocks):
        setattr(self, f"layer{li + 1}_{bi}", Bottleneck(
            width=self.width * 2**li, stride=2 if (li > 0 and bi == 0) else 1,
            downsample=bi == 0, conv_bn=self.conv_bn))

  @property
  def channels(self) -> tuple[int, ...]:
    """Output channels of stages 1..5: (64, 256, 512, 1024, 2048) at full width."""
    return (self.width,) + tuple(4 * self.width * 2**i for i in range(len(self.stage_sizes)))

  def stage(self, i: int, x: jax.Array, train: bool = False) -> jax.Array:
    """Runs stage `i` (1..5). `(B, H, W, C_in)` -> `(B, H/2, W/2, C_i)`."""
    if i == 1:
      return self.stem(x, train)
    if i == 2:
      # torchvision `MaxPool2d(3, 2, padding=1)`: implicit -inf padding.
      x = layers.max_pool(x, (3, 3), (2, 2), ((1, 1), (1, 1)), pad_value=-jnp.inf)
    for bi in range(self.stage_sizes[i - 2]):
      x = getattr(self, f"layer{i - 1}_{bi}")(x, train)
    return x

  def __call__(self, x: jax.Array, train: bool = False) -> list[jax.Array]:
    """All five stage outputs for `(B, H, W, 3)` input, finest first."""
    return layers.run_stages(self.stage, x, train)
