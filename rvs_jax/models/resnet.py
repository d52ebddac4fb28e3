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


class Bottleneck(nn.Module):
  """torchvision `Bottleneck` (expansion 4), stride on `conv2` (ResNet v1.5)."""
  width: int
  stride: int = 1
  downsample: bool = False
  freeze_bn: bool = False
  conv2d_impl: str = "auto"
  dtype: jnp.dtype | None = None

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:  # (B, H, W, C)
    def cbn(y, feats, k, stride, idx, relu):
      return layers.ConvBN(feats, (k, k), (stride, stride), relu=relu,
                           freeze_bn=self.freeze_bn, conv2d_impl=self.conv2d_impl,
                           dtype=self.dtype, name=f"conv{idx}")(y, train)

    y = cbn(x, self.width, 1, 1, 1, True)
    y = cbn(y, self.width, 3, self.stride, 2, True)
    y = cbn(y, 4 * self.width, 1, 1, 3, False)
    if self.downsample:
      x = cbn(x, 4 * self.width, 1, self.stride, "_downsample", False)
    return nn.relu(x + y)


class ResNet50(nn.Module):
  """torchvision ResNet-50 trunk (no avgpool/fc), callable stage by stage.

  Attributes:
    width: channels of the stem; 64 in ResNet-50, smaller in test configs.
    stage_sizes: bottleneck blocks per layer; (3, 4, 6, 3) in ResNet-50.
    freeze_bn: always use the running statistics (also when `train=True`).
    conv2d_impl: see `layers.conv_nhwc`.
  """
  width: int = 64
  stage_sizes: tuple[int, ...] = (3, 4, 6, 3)
  freeze_bn: bool = False
  conv2d_impl: str = "auto"
  dtype: jnp.dtype | None = None

  def setup(self):
    self.stem = layers.ConvBN(self.width, (7, 7), (2, 2), padding=((3, 3), (3, 3)),
                              freeze_bn=self.freeze_bn, conv2d_impl=self.conv2d_impl,
                              dtype=self.dtype)
    for li, blocks in enumerate(self.stage_sizes):
      for bi in range(blocks):
        setattr(self, f"layer{li + 1}_{bi}", Bottleneck(
            self.width * 2**li, stride=2 if (li > 0 and bi == 0) else 1,
            downsample=bi == 0, freeze_bn=self.freeze_bn, conv2d_impl=self.conv2d_impl,
            dtype=self.dtype))

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
