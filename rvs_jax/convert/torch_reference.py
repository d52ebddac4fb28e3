"""PyTorch reference modules for the CSTM (CVPR'21) architecture.

Written from scratch from the description in `docs/model.md` (no code
was copied from any repository). The modules reproduce the public CSTM PyTorch code's
architecture, padding, BatchNorm epsilons and -- most importantly -- its `state_dict`
key names and shapes, so that they can serve as ground truth for

* JAX/Flax parity tests (same weights, same input, compare outputs in eval mode), and
* weight-conversion tests (torch `state_dict` <-> Flax variables).

Contents:

* `ResNet50`: torchvision ResNet-50 v1.5 layout and names (§1.2).
* `Unit3Dpy`, `MaxPool3dTFPadding`, `Mixed`, `InceptionI3d`: the hassony2 I3D port in
  its old revision used by CSTM (static TF-SAME pads, zero-padded max-pools, BN eps 1e-5;
  §1.1), plus a `tf_same=True` mode with the DeepMind / TF-Hub semantics (dynamic SAME
  padding, -inf padded pools, BN eps 1e-3 without scale; §5).
* `ConvBN`, `CMAM`: the cross-modal attention/modulation module (§1.4).
* `get_video_spatial_feature`: the 8-channel coordinate map (§1.4).
* `CSTMModel`: the full model with the CSTM checkpoint layout (§1.0, §1.3, §1.5).
* Helpers `randomize_bn_stats`, `randomize_cmam_gamma`, `state_dict_numpy`.

All tensors are channels-first: images `NCHW`, videos `NCTHW`, text features `[B, D, N]`.

This module needs PyTorch (the `torch` extra). It is for the tests and for
`bench/speed.py --torch`; no library module imports it.
"""

from __future__ import annotations

import math
from typing import Optional, Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

__all__ = [
    "Bottleneck",
    "ResNet50",
    "Unit3Dpy",
    "MaxPool3dTFPadding",
    "Mixed",
    "InceptionI3d",
    "I3D_MIXED_TABLE",
    "ConvBN",
    "CMAM",
    "get_video_spatial_feature",
    "CSTMModel",
    "randomize_bn_stats",
    "randomize_cmam_gamma",
    "state_dict_numpy",
    "count_params",
]


def _scaled(channels: int, width_mult: float) -> int:
  """Scales a channel count for the small test variants (identity at width_mult=1)."""
  if width_mult == 1.0:
    return channels
  return max(1, int(round(channels * width_mult)))


def _triple(v) -> tuple[int, int, int]:
  if isinstance(v, int):
    return (v, v, v)
  v = tuple(int(x) for x in v)
  assert len(v) == 3, v
  return v


def count_params(module: nn.Module, trainable_only: bool = False) -> int:
  """Number of parameters (buffers such as BN running stats are not counted)."""
  return sum(p.numel() for p in module.parameters()
             if p.requires_grad or not trainable_only)


# ----------------------------------------------------------------------------------------
# ResNet-50 (docs/model.md): unmodified torchvision v1.5 layout.
# ----------------------------------------------------------------------------------------


class Bottleneck(nn.Module):
  """torchvision `Bottleneck` (v1.5: the stride sits on the 3x3 `conv2`)."""

  expansion = 4

  def __init__(self, inplanes: int, planes: int, stride: int = 1,
               downsample: Optional[nn.Module] = None):
    super().__init__()
    self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
    self.bn1 = nn.BatchNorm2d(planes)
    self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
    self.bn2 = nn.BatchNorm2d(planes)
    self.conv3 = nn.Conv2d(planes, planes * self.expansion, 1, bias=False)
    self.bn3 = nn.BatchNorm2d(planes * self.expansion)
    self.relu = nn.ReLU(inplace=True)
    self.downsample = downsample
    self.stride = stride

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    identity = x
    out = self.relu(self.bn1(self.conv1(x)))
    out = self.relu(self.bn2(self.conv2(out)))
    out = self.bn3(self.conv3(out))
    if self.downsample is not None:
      identity = self.downsample(x)
    return self.relu(out + identity)


class ResNet50(nn.Module):
  """torchvision ResNet-50 (v1.5) with torchvision parameter names (§1.2).

  Keys: `conv1`, `bn1`, `layer{1..4}.{B}.{conv,bn}{1,2,3}`, `layerL.0.downsample.{0,1}`,
  `fc`. With `width_mult=1` and `num_classes=1000` it has 25,557,032 parameters.

  Args:
    num_classes: output size of `fc`.
    width_mult: scales all widths (stem 64, bottleneck widths 64/128/256/512); only for
      small test models, the default is the exact torchvision layout.
  """

  def __init__(self, num_classes: int = 1000, width_mult: float = 1.0):
    super().__init__()
    self.inplanes = _scaled(64, width_mult)
    self.conv1 = nn.Conv2d(3, self.inplanes, 7, stride=2, padding=3, bias=False)
    self.bn1 = nn.BatchNorm2d(self.inplanes)
    self.relu = nn.ReLU(inplace=True)
    self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
    widths = [_scaled(w, width_mult) for w in (64, 128, 256, 512)]
    self.layer1 = self._make_layer(widths[0], 3, stride=1)
    self.layer2 = self._make_layer(widths[1], 4, stride=2)
    self.layer3 = self._make_layer(widths[2], 6, stride=2)
    self.layer4 = self._make_layer(widths[3], 3, stride=2)
    self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
    self.fc = nn.Linear(widths[3] * Bottleneck.expansion, num_classes)
    # Stage output channels [stage1..stage5].
    self.stage_channels = [_scaled(64, width_mult)] + [
        w * Bottleneck.expansion for w in widths]
    # torchvision's init loop (overwritten by the pretrained weights in CSTM anyway).
    for m in self.modules():
      if isinstance(m, nn.Conv2d):
        nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
      elif isinstance(m, nn.BatchNorm2d):
        nn.init.constant_(m.weight, 1)
        nn.init.constant_(m.bias, 0)

  def _make_layer(self, planes: int, blocks: int, stride: int) -> nn.Sequential:
    downsample = None
    if stride != 1 or self.inplanes != planes * Bottleneck.expansion:
      downsample = nn.Sequential(
          nn.Conv2d(self.inplanes, planes * Bottleneck.expansion, 1, stride=stride,
                    bias=False),
          nn.BatchNorm2d(planes * Bottleneck.expansion))
    layers = [Bottleneck(self.inplanes, planes, stride, downsample)]
    self.inplanes = planes * Bottleneck.expansion
    for _ in range(1, blocks):
      layers.append(Bottleneck(self.inplanes, planes))
    return nn.Sequential(*layers)

  def stages(self, x: torch.Tensor) -> list[torch.Tensor]:
    """Returns the 5 CSTM stage outputs (NCHW), strides 2, 4, 8, 16, 32.

    stage1 = relu(bn1(conv1(x))) [64ch], stage2 = layer1(maxpool(stage1)) [256ch],
    stage3..5 = layer2..4 [512, 1024, 2048ch] (§1.2 CSTM slicing).
    """
    s1 = self.relu(self.bn1(self.conv1(x)))
    s2 = self.layer1(self.maxpool(s1))
    s3 = self.layer2(s2)
    s4 = self.layer3(s3)
    s5 = self.layer4(s4)
    return [s1, s2, s3, s4, s5]

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    """ImageNet classification logits `[B, num_classes]`."""
    s5 = self.stages(x)[-1]
    return self.fc(torch.flatten(self.avgpool(s5), 1))


# ----------------------------------------------------------------------------------------
# I3D (docs/model.md): hassony2 kinetics_i3d_pytorch port, old revision.
# ----------------------------------------------------------------------------------------


def _static_same_pads(kernel_size, stride) -> tuple[tuple[int, int], ...]:
  """Static TF-SAME pads per (T, H, W) of the old hassony2 port (§1.1).

  pad_along = max(k - s, 0), front = pad_along // 2, back = the rest (input-size
  independent; equals true TF SAME whenever the input size is a multiple of the stride).
  """
  pads = []
  for k, s in zip(_triple(kernel_size), _triple(stride)):
    along = max(k - s, 0)
    pads.append((along // 2, along - along // 2))
  return tuple(pads)


def _dynamic_same_pads(sizes, kernel_size, stride) -> tuple[tuple[int, int], ...]:
  """True TF SAME pads per (T, H, W), computed from the input size (§5, i3d-jax / TF).

  pad_total = max((ceil(n / s) - 1) * s + k - n, 0); the extra pixel goes at the end.
  """
  pads = []
  for n, k, s in zip(sizes, _triple(kernel_size), _triple(stride)):
    total = max((math.ceil(n / s) - 1) * s + k - n, 0)
    pads.append((total // 2, total - total // 2))
  return tuple(pads)


def _torch_pad_arg(pads_thw) -> tuple[int, ...]:
  """(T, H, W) pairs -> (W_l, W_r, H_t, H_b, T_f, T_b), the F.pad/ConstantPad3d order."""
  (tf, tb), (hf, hb), (wf, wb) = pads_thw
  return (wf, wb, hf, hb, tf, tb)


class Unit3Dpy(nn.Module):
  """Conv3d -> BatchNorm3d -> ReLU unit of the hassony2 I3D port (§1.1).

  Attributes `conv3d` and `batch3d` give the keys `<prefix>.conv3d.weight`,
  `<prefix>.batch3d.{weight,bias,running_mean,running_var,num_batches_tracked}`.

  `torch_port` mode (default, `tf_same=False`) = the old hassony2 revision used by CSTM:
  static TF-SAME pads (`_static_same_pads`); if all six pads are equal the conv gets
  `padding=p`, otherwise an explicit zero `ConstantPad3d` (attribute `pad`) precedes a
  VALID conv (only `conv3d_1a_7x7`: pads (2, 3) on T, H, W); BN eps 1e-5, momentum 0.1.

  `tf_same=True` = DeepMind / TF-Hub / i3d-jax semantics (§5): true SAME pads computed
  from the input size in `forward`, BN eps 1e-3 (momentum 0.001 = TF decay 0.999) and
  no BN scale: `batch3d.weight` stays in the state_dict (frozen at one) but is not used.

  Args:
    in_channels, out_channels: channel counts.
    kernel_size, stride: int or (T, H, W) triple.
    activation: 'relu' or None.
    padding: 'SAME' or 'VALID'.
    use_bias: conv bias (only the logits unit has one).
    use_bn: whether to apply BatchNorm3d (the logits unit has none).
    tf_same: see above.
  """

  def __init__(self, in_channels: int, out_channels: int, kernel_size=(1, 1, 1),
               stride=(1, 1, 1), activation: Optional[str] = "relu",
               padding: str = "SAME", use_bias: bool = False, use_bn: bool = True,
               tf_same: bool = False):
    super().__init__()
    self.kernel_size = _triple(kernel_size)
    self.stride = _triple(stride)
    self.activation = activation
    self.padding = padding
    self.use_bn = use_bn
    self.tf_same = tf_same
    assert padding in ("SAME", "VALID"), padding
    assert activation in ("relu", None), activation
    conv_padding = 0
    if padding == "SAME" and not tf_same:
      pads = _static_same_pads(self.kernel_size, self.stride)
      flat = [p for pair in pads for p in pair]
      if all(p == flat[0] for p in flat):
        conv_padding = flat[0]
      else:
        self.pad = nn.ConstantPad3d(_torch_pad_arg(pads), 0)
    self.conv3d = nn.Conv3d(in_channels, out_channels, self.kernel_size,
                            stride=self.stride, padding=conv_padding, bias=use_bias)
    if use_bn:
      if tf_same:
        self.batch3d = nn.BatchNorm3d(out_channels, eps=1e-3, momentum=0.001)
        # TF BN has no scale (gamma): keep the key (ones) for the checkpoint layout.
        self.batch3d.weight.requires_grad_(False)
        self.batch3d.tf_no_scale = True
      else:
        self.batch3d = nn.BatchNorm3d(out_channels)  # eps 1e-5 (§1.1 old revision)

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    if self.tf_same and self.padding == "SAME":
      pads = _dynamic_same_pads(x.shape[2:], self.kernel_size, self.stride)
      x = F.pad(x, _torch_pad_arg(pads))
    elif hasattr(self, "pad"):
      x = self.pad(x)
    x = self.conv3d(x)
    if self.use_bn:
      if self.tf_same:
        bn = self.batch3d
        use_batch_stats = bn.training or bn.running_mean is None
        x = F.batch_norm(x, bn.running_mean, bn.running_var, None, bn.bias,
                         use_batch_stats, bn.momentum, bn.eps)
      else:
        x = self.batch3d(x)
    if self.activation == "relu":
      x = F.relu(x)
    return x


class MaxPool3dTFPadding(nn.Module):
  """Max-pool with TF-style SAME padding (§1.1).

  `torch_port` mode: explicit `ConstantPad3d(static pads, 0)` -- ZERO padding, not -inf
  (it matters because CMAM-modulated features can be negative) -- then
  `MaxPool3d(k, s, ceil_mode=True)` without implicit padding.
  `tf_same=True`: dynamic true-SAME pads with -inf, then `MaxPool3d(k, s)` (= TF SAME).
  """

  def __init__(self, kernel_size, stride=None, padding: str = "SAME",
               tf_same: bool = False):
    super().__init__()
    self.kernel_size = _triple(kernel_size)
    self.stride = _triple(stride if stride is not None else kernel_size)
    self.padding = padding
    self.tf_same = tf_same
    if padding == "SAME" and not tf_same:
      self.pad = nn.ConstantPad3d(
          _torch_pad_arg(_static_same_pads(self.kernel_size, self.stride)), 0)
    self.pool = nn.MaxPool3d(self.kernel_size, self.stride, ceil_mode=not tf_same)

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    if self.tf_same and self.padding == "SAME":
      pads = _dynamic_same_pads(x.shape[2:], self.kernel_size, self.stride)
      x = F.pad(x, _torch_pad_arg(pads), value=float("-inf"))
    elif hasattr(self, "pad"):
      x = self.pad(x)
    return self.pool(x)


class Mixed(nn.Module):
  """Inception block (§1.1): branches concatenated on channels in order 0, 1, 2, 3.

  `out_channels` = [b0, b1a, b1b, b2a, b2b, b3]; output width b0 + b1b + b2b + b3.
  Keys: `branch_0`, `branch_1.{0,1}`, `branch_2.{0,1}`, `branch_3.1` (`branch_3.0` is
  the parameter-free 3x3x3 stride-1 max-pool).
  """

  def __init__(self, in_channels: int, out_channels: Sequence[int],
               tf_same: bool = False):
    super().__init__()
    b0, b1a, b1b, b2a, b2b, b3 = out_channels
    self.out_channels = b0 + b1b + b2b + b3
    self.branch_0 = Unit3Dpy(in_channels, b0, (1, 1, 1), tf_same=tf_same)
    self.branch_1 = nn.Sequential(
        Unit3Dpy(in_channels, b1a, (1, 1, 1), tf_same=tf_same),
        Unit3Dpy(b1a, b1b, (3, 3, 3), tf_same=tf_same))
    self.branch_2 = nn.Sequential(
        Unit3Dpy(in_channels, b2a, (1, 1, 1), tf_same=tf_same),
        Unit3Dpy(b2a, b2b, (3, 3, 3), tf_same=tf_same))
    self.branch_3 = nn.Sequential(
        MaxPool3dTFPadding((3, 3, 3), (1, 1, 1), tf_same=tf_same),
        Unit3Dpy(in_channels, b3, (1, 1, 1), tf_same=tf_same))

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    return torch.cat([self.branch_0(x), self.branch_1(x), self.branch_2(x),
                      self.branch_3(x)], dim=1)


# Channel table of §1.1: name -> [b0, b1a, b1b, b2a, b2b, b3] (input width is chained).
I3D_MIXED_TABLE = {
    "mixed_3b": (64, 96, 128, 16, 32, 32),
    "mixed_3c": (128, 128, 192, 32, 96, 64),
    "mixed_4b": (192, 96, 208, 16, 48, 64),
    "mixed_4c": (160, 112, 224, 24, 64, 64),
    "mixed_4d": (128, 128, 256, 24, 64, 64),
    "mixed_4e": (112, 144, 288, 32, 64, 64),
    "mixed_4f": (256, 160, 320, 32, 128, 128),
    "mixed_5b": (256, 160, 320, 32, 128, 128),
    "mixed_5c": (384, 192, 384, 48, 128, 128),
}


class InceptionI3d(nn.Module):
  """I3D (RGB) in the hassony2 port naming (§1.1); input `[B, 3, T, H, W]` (NCTHW).

  Top-level attributes: `conv3d_1a_7x7, maxPool3d_2a_3x3, conv3d_2b_1x1, conv3d_2c_3x3,
  maxPool3d_3a_3x3, mixed_3b, mixed_3c, maxPool3d_4a_3x3, mixed_4b..4f,
  maxPool3d_5a_2x2, mixed_5b, mixed_5c` and, with `with_logits`, `avg_pool` and
  `conv3d_0c_1x1` (400 classes, conv bias, no BN). Full size with logits: 58 conv units,
  344 state_dict keys.

  Args:
    num_classes: logits width.
    with_logits: register the classification head (`conv3d_0c_1x1`). CSTM does not.
    tf_same: DeepMind/TF-Hub semantics instead of the old torch port (see `Unit3Dpy`).
    width_mult: scales every channel count (small test models only).
  """

  def __init__(self, num_classes: int = 400, with_logits: bool = True,
               tf_same: bool = False, width_mult: float = 1.0):
    super().__init__()
    self.tf_same = tf_same
    s = lambda c: _scaled(c, width_mult)  # pylint: disable=unnecessary-lambda-assignment
    kw = dict(tf_same=tf_same)
    self.conv3d_1a_7x7 = Unit3Dpy(3, s(64), (7, 7, 7), stride=(2, 2, 2), **kw)
    self.maxPool3d_2a_3x3 = MaxPool3dTFPadding((1, 3, 3), (1, 2, 2), **kw)
    self.conv3d_2b_1x1 = Unit3Dpy(s(64), s(64), (1, 1, 1), **kw)
    self.conv3d_2c_3x3 = Unit3Dpy(s(64), s(192), (3, 3, 3), **kw)
    self.maxPool3d_3a_3x3 = MaxPool3dTFPadding((1, 3, 3), (1, 2, 2), **kw)
    width = s(192)
    stage_channels = [s(64), s(192)]

    def mixed(name):
      nonlocal width
      block = Mixed(width, [s(c) for c in I3D_MIXED_TABLE[name]], **kw)
      width = block.out_channels
      return block

    self.mixed_3b = mixed("mixed_3b")
    self.mixed_3c = mixed("mixed_3c")
    stage_channels.append(width)
    self.maxPool3d_4a_3x3 = MaxPool3dTFPadding((3, 3, 3), (2, 2, 2), **kw)
    self.mixed_4b = mixed("mixed_4b")
    self.mixed_4c = mixed("mixed_4c")
    self.mixed_4d = mixed("mixed_4d")
    self.mixed_4e = mixed("mixed_4e")
    self.mixed_4f = mixed("mixed_4f")
    stage_channels.append(width)
    self.maxPool3d_5a_2x2 = MaxPool3dTFPadding((2, 2, 2), (2, 2, 2), **kw)
    self.mixed_5b = mixed("mixed_5b")
    self.mixed_5c = mixed("mixed_5c")
    stage_channels.append(width)
    self.stage_channels = stage_channels  # full size: [64, 192, 480, 832, 1024]
    self.with_logits = with_logits
    if with_logits:
      self.avg_pool = nn.AvgPool3d((2, 7, 7), (1, 1, 1))
      self.conv3d_0c_1x1 = Unit3Dpy(width, num_classes, (1, 1, 1), activation=None,
                                    use_bias=True, use_bn=False, **kw)

  def stage_modules(self) -> list[list[nn.Module]]:
    """The 5 CSTM slices `t_layer1..5` (§1.1), as lists of (shared) modules."""
    return [
        [self.conv3d_1a_7x7],
        [self.maxPool3d_2a_3x3, self.conv3d_2b_1x1, self.conv3d_2c_3x3],
        [self.maxPool3d_3a_3x3, self.mixed_3b, self.mixed_3c],
        [self.maxPool3d_4a_3x3, self.mixed_4b, self.mixed_4c, self.mixed_4d,
         self.mixed_4e, self.mixed_4f],
        [self.maxPool3d_5a_2x2, self.mixed_5b, self.mixed_5c],
    ]

  def stages(self, x: torch.Tensor) -> list[torch.Tensor]:
    """Returns the 5 stage outputs (NCTHW) of the CSTM `t_layer` slicing (§1.0/§1.1).

    For T=8, HxW: [64, T4, H/2], [192, T4, H/4], [480, T4, H/8], [832, T2, H/16],
    [1024, T1, H/32].
    """
    outs = []
    for modules in self.stage_modules():
      for m in modules:
        x = m(x)
      outs.append(x)
    return outs

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    """Kinetics logits `[B, num_classes]` (pre-softmax, averaged over time).

    avg-pool (2, 7, 7) stride 1 VALID -> logits conv -> squeeze H, W -> mean over T.
    For inputs smaller than 224 the pool window is clipped to the feature size (not in
    the original, where such inputs fail).
    """
    assert self.with_logits, "built without the logits head"
    x = self.stages(x)[-1]
    k = tuple(min(a, b) for a, b in zip(self.avg_pool.kernel_size, x.shape[2:]))
    x = F.avg_pool3d(x, k, stride=1)
    x = self.conv3d_0c_1x1(x)
    return x.mean(dim=(3, 4)).mean(dim=2)


# ----------------------------------------------------------------------------------------
# CMAM (docs/model.md).
# ----------------------------------------------------------------------------------------


class ConvBN(nn.Module):
  """CSTM `ConvBN`: Conv2d (no bias, pad (k-1)//2) -> BatchNorm2d -> optional ReLU."""

  def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3,
               relu: bool = True):
    super().__init__()
    self.conv = nn.Conv2d(in_channels, out_channels, kernel_size,
                          padding=(kernel_size - 1) // 2, bias=False)
    self.bn = nn.BatchNorm2d(out_channels)
    self.relu = relu

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    x = self.bn(self.conv(x))
    return F.relu(x) if self.relu else x


class CMAM(nn.Module):
  """Cross-modal attention/modulation module of CSTM (§1.4).

  Sub-modules (keys): `vt` ((C+8) -> C, 3x3[x3], BN, ReLU), `v_key` (C -> D, 1x1[x1],
  BN, no activation), `l_query` (Sequential(Conv1d(D, D, 1, bias=False),
  BatchNorm1d(D))), `gamma` (Sequential(Linear(D, C), Sigmoid)). 2D uses `ConvBN`
  (`conv`/`bn`), 3D uses `Unit3Dpy` (`conv3d`/`batch3d`, torch-port mode, eps 1e-5).

  Args:
    visual_channels: C (CSTM always uses in = out = C and no upsampling).
    txt_channels: D (dim_semantic).
    num_dim: 2 (spatial stream) or 3 (temporal stream).
    zero_init: zero-initialise `gamma.0` weight and bias (CSTM: True), so the module
      outputs exactly zero at init.
  """

  SPATIAL_CHANNELS = 8  # hard-coded "+8" coordinate channels (§1.4)

  def __init__(self, visual_channels: int, txt_channels: int, num_dim: int = 2,
               zero_init: bool = True):
    super().__init__()
    assert num_dim in (2, 3), num_dim
    c, d = visual_channels, txt_channels
    self.num_dim = num_dim
    if num_dim == 2:
      self.vt = ConvBN(c + self.SPATIAL_CHANNELS, c, 3, relu=True)
      self.v_key = ConvBN(c, d, 1, relu=False)
    else:
      self.vt = Unit3Dpy(c + self.SPATIAL_CHANNELS, c, (3, 3, 3))
      self.v_key = Unit3Dpy(c, d, (1, 1, 1), activation=None)
    self.l_query = nn.Sequential(nn.Conv1d(d, d, 1, bias=False), nn.BatchNorm1d(d))
    self.gamma = nn.Sequential(nn.Linear(d, c), nn.Sigmoid())
    if zero_init:
      nn.init.zeros_(self.gamma[0].weight)
      nn.init.zeros_(self.gamma[0].bias)

  def forward(self, visual: torch.Tensor, txt: torch.Tensor,
              spatial: torch.Tensor) -> torch.Tensor:
    """Returns the modulation term `V * (g - 0.5)` (the caller adds it residually).

    Args:
      visual: `[B, C, H, W]` (2D) or `[B, C, T, H, W]` (3D).
      txt: word features `[B, D, N]` (N = 20, pads included; no mask, §1.0).
      spatial: coordinate map `[B, 8, (T,) H, W]`; a map without the batch axis is
        broadcast over the batch.
    """
    b = visual.shape[0]
    if spatial.dim() == visual.dim() - 1:
      spatial = spatial.unsqueeze(0)
    spatial = spatial.to(visual.dtype).expand(b, *spatial.shape[1:])
    # 1. visual channels first, then the 8 coordinate channels.
    v = self.vt(torch.cat([visual, spatial], dim=1))
    # 2. keys [B, D, M] over all (T,) H, W positions.
    k = self.v_key(v).reshape(b, txt.shape[1], -1)
    # 3. queries [B, D, N].
    q = self.l_query(txt)
    # 4. [B, M, N] -> summed over all visual positions -> [B, 1, N].
    a = torch.einsum("bcn,bct->bnt", k, q).sum(dim=1, keepdim=True)
    # 5. L2-normalise over words (eps 1e-12), then softmax over words (no pad mask).
    a = F.softmax(F.normalize(a, p=2, dim=-1), dim=-1)
    # 6. recombine the RAW word features.
    l = (a * txt).sum(dim=-1)  # [B, D]
    # 7.-8. channel gate in (0, 1), centred: output = V * (g - 0.5).
    g = self.gamma(l).reshape(b, -1, *([1] * (visual.dim() - 2)))
    return v * (g - 0.5)


def get_video_spatial_feature(height: int, width: int) -> np.ndarray:
  """The 8-channel coordinate map of CSTM `utils/tool.py` (§1.4), `[8, H, W]` float32.

  At pixel (h, w): xmin = 2w/W - 1, xmax = 2(w+1)/W - 1, xctr = (xmin + xmax)/2, same
  for y with H; channel order [xmin, ymin, xmax, ymax, xctr, yctr, 1/W, 1/H]. Values are
  computed in float64 and stored as float32. For the 3D CMAM repeat it along a T axis.
  """
  w = np.arange(width, dtype=np.float64)
  h = np.arange(height, dtype=np.float64)
  xmin = w / width * 2 - 1
  xmax = (w + 1) / width * 2 - 1
  xctr = (xmin + xmax) / 2
  ymin = h / height * 2 - 1
  ymax = (h + 1) / height * 2 - 1
  yctr = (ymin + ymax) / 2
  out = np.zeros((8, height, width), dtype=np.float32)
  out[0] = xmin[None, :]
  out[1] = ymin[:, None]
  out[2] = xmax[None, :]
  out[3] = ymax[:, None]
  out[4] = xctr[None, :]
  out[5] = yctr[:, None]
  out[6] = 1.0 / width
  out[7] = 1.0 / height
  return out


# ----------------------------------------------------------------------------------------
# CSTM model (docs/model.md).
# ----------------------------------------------------------------------------------------


def _conv_bn_relu(in_channels: int, out_channels: int, bias: bool) -> nn.Sequential:
  """Sequential(Conv2d 3x3 pad 1, BatchNorm2d, ReLU) -> keys `.0.*`, `.1.*` (§1.5)."""
  return nn.Sequential(
      nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=bias),
      nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))


def _mask_head(dec_dim: int) -> nn.Sequential:
  """conv_mask[m] (§1.5): Conv3x3+bias, ReLU, Conv3x3+bias, ReLU, Conv1x1(->1)+bias."""
  return nn.Sequential(
      nn.Conv2d(dec_dim, dec_dim, 3, padding=1), nn.ReLU(inplace=True),
      nn.Conv2d(dec_dim, dec_dim, 3, padding=1), nn.ReLU(inplace=True),
      nn.Conv2d(dec_dim, 1, 1))


def _up2(x: torch.Tensor) -> torch.Tensor:
  """x2 bilinear upsampling with align_corners=True (§1.5)."""
  return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True)


class CSTMModel(nn.Module):
  """The CSTM (CVPR'21) model with the official checkpoint's state_dict layout.

  Registered modules (keys): `txt_encoder` (GRU, bias=False, batch_first), `txt_norm`
  (Sequential(LayerNorm)), `s_layer1..5` (ResNet-50 slices, §1.2), `t_layer1..5` (I3D
  slices, §1.1), `cmam_s`, `cmam_t` (ModuleList of 5 CMAMs each, §1.4), `ires_trans`,
  `vres_trans` (5 x Sequential(conv no bias, BN, ReLU)), `conv_fuse1` (5) and
  `conv_fuse2` (4) (Sequential(conv with bias, BN, ReLU)), `conv_mask` (6 mask heads).

  Args:
    dim_semantic: D, the GRU width (the released checkpoint uses 512).
    word_dim: GloVe dimension (300).
    dec_dim: decoder width; default 256 (scaled by `width_mult`).
    width_mult: scales the ResNet / I3D / decoder widths for small test models only;
      the default 1.0 is the exact full layout (~184.4M parameters with D=512).
    i3d_tf_same: build the I3D trunk in tf_same mode (not what CSTM does; default False).
  """

  def __init__(self, dim_semantic: int = 512, word_dim: int = 300,
               dec_dim: Optional[int] = None, width_mult: float = 1.0,
               i3d_tf_same: bool = False):
    super().__init__()
    d = dim_semantic
    dec = dec_dim if dec_dim is not None else _scaled(256, width_mult)
    self.dim_semantic = d
    self.dec_dim = dec
    # §1.3 text encoder.
    self.txt_encoder = nn.GRU(word_dim, d, num_layers=1, bias=False, batch_first=True)
    self.txt_norm = nn.Sequential(nn.LayerNorm(d))
    # §1.2 ResNet-50 slices (the ResNet object itself is not registered: no avgpool/fc).
    resnet = ResNet50(width_mult=width_mult)
    self.s_layer1 = nn.Sequential(resnet.conv1, resnet.bn1, resnet.relu)
    self.s_layer2 = nn.Sequential(resnet.maxpool, resnet.layer1)
    self.s_layer3 = resnet.layer2
    self.s_layer4 = resnet.layer3
    self.s_layer5 = resnet.layer4
    # §1.1 I3D slices (no logits / avg_pool / dropout registered).
    i3d = InceptionI3d(with_logits=False, tf_same=i3d_tf_same, width_mult=width_mult)
    for k, modules in enumerate(i3d.stage_modules(), start=1):
      setattr(self, f"t_layer{k}", nn.Sequential(*modules))
    # image_dims / video_dims of stages 1..5 (full: [64,256,512,1024,2048] and
    # [64,192,480,832,1024]).
    self.image_dims = list(resnet.stage_channels)
    self.video_dims = list(i3d.stage_channels)
    # §1.4: CMAM index k-1 sits after stage k.
    self.cmam_s = nn.ModuleList([CMAM(c, d, num_dim=2) for c in self.image_dims])
    self.cmam_t = nn.ModuleList([CMAM(c, d, num_dim=3) for c in self.video_dims])
    # §1.5 decoder.
    self.ires_trans = nn.ModuleList(
        [_conv_bn_relu(c, dec, bias=False) for c in self.image_dims])
    self.vres_trans = nn.ModuleList(
        [_conv_bn_relu(c, dec, bias=False) for c in self.video_dims])
    self.conv_fuse1 = nn.ModuleList([_conv_bn_relu(2 * dec, dec, bias=True)
                                     for _ in range(5)])
    self.conv_fuse2 = nn.ModuleList([_conv_bn_relu(2 * dec, dec, bias=True)
                                     for _ in range(4)])
    self.conv_mask = nn.ModuleList([_mask_head(dec) for _ in range(6)])

  @property
  def s_layers(self) -> list[nn.Module]:
    return [self.s_layer1, self.s_layer2, self.s_layer3, self.s_layer4, self.s_layer5]

  @property
  def t_layers(self) -> list[nn.Module]:
    return [self.t_layer1, self.t_layer2, self.t_layer3, self.t_layer4, self.t_layer5]

  def encode_text(self, txt: torch.Tensor) -> torch.Tensor:
    """GloVe `[B, N, 300]` -> GRU (h0 = 0, all N steps, no packing) -> LayerNorm -> tanh
    -> `[B, D, N]` (§1.3)."""
    out, _ = self.txt_encoder(txt)
    return torch.tanh(self.txt_norm(out)).transpose(1, 2)

  def forward(self, video: torch.Tensor, txt: torch.Tensor,
              txt_mask: Optional[torch.Tensor] = None,
              spatials: Optional[Sequence[torch.Tensor]] = None,
              return_features: bool = False):
    """Runs CSTM (§1.0 data flow, §1.5 decoder).

    Args:
      video: `[B, 3, 8, H, W]` RGB in [0, 1] (no normalisation, §2.3), H, W multiples
        of 32.
      txt: `[B, 20, 300]` word vectors (zeros for pads).
      txt_mask: accepted and ignored, as in the official code (§1.0).
      spatials: optional coordinate maps per stage 1..5 (`[B or 1, 8, h_k, w_k]`, finest
        first); by default built with `get_video_spatial_feature` from the feature
        sizes. The 3D CMAMs get them repeated along T.
      return_features: also return a dict of intermediate features.

    Returns:
      A list of 6 logit maps `[B, h, w]`, coarsest first (H/32, H/16, ..., H/2, H);
      with `return_features`, a tuple `(maps, feats)` where `feats` holds `txt`
      `[B, D, N]`, `t1..t5` (post-CMAM I3D stages, NCTHW), `s1..s5` (post-CMAM ResNet
      stages, NCHW), `T1..T5` / `S1..S5` (256-ch skip projections), `vf` (the 6 decoder
      features, coarsest first), plus `t_pre1..5` / `s_pre1..5` (stage outputs before the
      CMAM residual add).
    """
    del txt_mask  # never used by the official model (§1.0)
    words = self.encode_text(txt)
    # §1.0: the spatial stream sees the target frame, index 4 of 8 (= T // 2).
    s = video[:, :, video.shape[2] // 2]
    t = video
    feats = {"txt": words}
    skips_t, skips_s = [], []
    for k in range(1, 6):
      t = self.t_layers[k - 1](t)
      s = self.s_layers[k - 1](s)
      feats[f"t_pre{k}"], feats[f"s_pre{k}"] = t, s
      if spatials is not None:
        sp2 = spatials[k - 1].to(s)
      else:
        sp2 = torch.from_numpy(get_video_spatial_feature(*s.shape[2:])).to(s)[None]
      assert sp2.shape[-2:] == t.shape[-2:] == s.shape[-2:], (sp2.shape, t.shape)
      # 3D map: the 2D map repeated along the stage's T (§1.0 spatials_3d).
      sp3 = sp2.unsqueeze(2).expand(-1, -1, t.shape[2], -1, -1)
      # The same GRU word features go to every CMAM; residual add (§1.0 step 2).
      t = t + self.cmam_t[k - 1](t, words, sp3)
      s = s + self.cmam_s[k - 1](s, words, sp2)
      feats[f"t{k}"], feats[f"s{k}"] = t, s
      # Skip projections use the MIDDLE temporal slice T // 2 (§1.0 step 3).
      skips_t.append(self.vres_trans[k - 1](t[:, :, t.shape[2] // 2]))
      skips_s.append(self.ires_trans[k - 1](s))
      feats[f"T{k}"], feats[f"S{k}"] = skips_t[-1], skips_s[-1]
    # §1.5 decoder. Top: [S5, T5] (spatial first).
    vf = [self.conv_fuse1[4](torch.cat([skips_s[4], skips_t[4]], dim=1))]
    for i in range(5):
      if i >= 1:
        # Skips: [T_k, S_k] (temporal first); fusion: [up(deep), skip].
        g = self.conv_fuse1[4 - i](torch.cat([skips_t[4 - i], skips_s[4 - i]], dim=1))
        vf[i] = self.conv_fuse2[4 - i](torch.cat([vf[i], g], dim=1))
      vf.append(_up2(vf[i]))
    maps = [self.conv_mask[m](vf[m]).squeeze(1) for m in range(6)]
    if return_features:
      feats["vf"] = vf
      return maps, feats
    return maps


# ----------------------------------------------------------------------------------------
# Helpers for parity / conversion tests.
# ----------------------------------------------------------------------------------------


_BN_TYPES = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


@torch.no_grad()
def randomize_bn_stats(module: nn.Module, seed: int = 0,
                       layer_norm: bool = False) -> nn.Module:
  """Gives every BatchNorm non-trivial running stats and affine parameters (in place).

  running_mean ~ N(0, 0.5^2), running_var ~ U(0.5, 2.0) (positive), weight ~ U(0.5,
  1.5), bias ~ N(0, 0.2^2). TF-style no-scale BNs (`Unit3Dpy(tf_same=True)`) keep their
  unused weight at one. With `layer_norm=True` LayerNorm weight/bias are randomised
  too. Values are drawn from a `torch.Generator` seeded with `seed`, in module order,
  so the result is deterministic. Returns `module`.
  """
  gen = torch.Generator().manual_seed(seed)

  def rand(shape, low, high):
    return torch.rand(shape, generator=gen, dtype=torch.float64) * (high - low) + low

  def randn(shape, std):
    return torch.randn(shape, generator=gen, dtype=torch.float64) * std

  for m in module.modules():
    if isinstance(m, _BN_TYPES):
      n = m.num_features
      if m.track_running_stats:
        m.running_mean.copy_(randn(n, 0.5))
        m.running_var.copy_(rand(n, 0.5, 2.0))
      if m.affine:
        if not getattr(m, "tf_no_scale", False):
          m.weight.copy_(rand(n, 0.5, 1.5))
        m.bias.copy_(randn(n, 0.2))
    elif layer_norm and isinstance(m, nn.LayerNorm) and m.elementwise_affine:
      m.weight.copy_(rand(m.weight.shape, 0.5, 1.5))
      m.bias.copy_(randn(m.bias.shape, 0.2))
  return module


@torch.no_grad()
def randomize_cmam_gamma(module: nn.Module, seed: int = 0, std: float = 0.05
                         ) -> nn.Module:
  """Replaces the zero-initialised CMAM `gamma.0` Linear with N(0, std^2) values.

  At init every CMAM outputs exactly zero (§1.4 zero_init); call this so CMAM parity
  tests exercise the attention path. Returns `module` (modified in place).
  """
  gen = torch.Generator().manual_seed(seed)
  for m in module.modules():
    if isinstance(m, CMAM):
      lin = m.gamma[0]
      lin.weight.copy_(torch.randn(lin.weight.shape, generator=gen) * std)
      lin.bias.copy_(torch.randn(lin.bias.shape, generator=gen) * std)
  return module


def state_dict_numpy(module: nn.Module) -> dict[str, np.ndarray]:
  """`state_dict()` as numpy arrays (copies), without `num_batches_tracked` entries."""
  return {k: v.detach().cpu().numpy().copy() for k, v in module.state_dict().items()
          if not k.endswith("num_batches_tracked")}
