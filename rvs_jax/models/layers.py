"""Building blocks shared by every part of the network, with PyTorch semantics.

Every choice here that differs from the Flax default was made to match the PyTorch code
the weights come from, and each says so:

* padding is always explicit (never Flax `'SAME'`, which pads (0, 1) where PyTorch pads
  (1, 1) on even inputs: same shapes, silently different values);
* BatchNorm uses PyTorch's momentum 0.1 (Flax `momentum=0.9`) and the eps of the source;
* weights are initialised like PyTorch's `nn.Conv*`/`nn.Linear` defaults
  (kaiming_uniform(a=sqrt(5)) = U(+-1/sqrt(fan_in)), bias likewise);
* bilinear upsampling is `align_corners=True`, which `jax.image.resize` cannot do.

Convolutions with the same parameters can be computed more than one way (`Conv3D.impl`,
`Conv2D.impl`); every way is the same convolution up to float32 rounding (tests).
"""

from __future__ import annotations

import functools
import math
from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from rvs_jax.models import winograd

Pads = tuple[tuple[int, int], ...]
# A Module class, or a `functools.partial` of one with some fields bound (flax's
# examples/imagenet convention). `RVSModel` binds the compute knobs (frozen BN, conv
# implementations, dtype) into one `ConvBN` partial, built once, which every module
# receives as `conv_bn`: no module declares those knobs itself.
ModuleDef = Any

# PyTorch's default Conv/Linear weight init, kaiming_uniform(a=sqrt(5)), is U(+-1/sqrt(fan_in))
# = variance_scaling(1/3, fan_in, uniform). Flax's lecun_normal would change the scale of
# every from-scratch layer (CMAM, decoder, LASP) relative to the paper's training.
torch_kernel_init = nn.initializers.variance_scaling(1.0 / 3.0, "fan_in", "uniform")


def torch_bias_init(fan_in: int):
  """PyTorch's default bias init U(+-1/sqrt(fan_in)) (fan_in of the layer's weight)."""
  bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0

  def init(key, shape, dtype=jnp.float32):
    return jax.random.uniform(key, shape, dtype, -bound, bound)

  return init


def symmetric_pads(kernel: Sequence[int], padding: Sequence[int] | None = None) -> Pads:
  """PyTorch `padding=p` on each dim: (p, p); default p = (k - 1) // 2."""
  if padding is None:
    padding = [(k - 1) // 2 for k in kernel]
  return tuple((p, p) for p in padding)


def port_same_pads(kernel: Sequence[int], stride: Sequence[int]) -> Pads:
  """Static TF-SAME pads of the PyTorch I3D port (hassony2, as vendored by CSTM).

  `pad_along = max(k - s, 0)`, front = pad_along // 2, the rest at the back; independent
  of the input size. Equals true TF SAME whenever the input is divisible by the stride
  (T=8, 320x320). conv3d_1a_7x7 gets (2, 3) on T, H and W.
  """
  pads = []
  for k, s in zip(kernel, stride):
    along = max(k - s, 0)
    pads.append((along // 2, along - along // 2))
  return tuple(pads)


def tf_same_pads(sizes: Sequence[int], kernel: Sequence[int],
                 stride: Sequence[int]) -> Pads:
  """True TF/XLA SAME pads for the given input sizes (odd total: extra pad at the end)."""
  pads = []
  for n, k, s in zip(sizes, kernel, stride):
    out = -(-n // s)
    total = max((out - 1) * s + k - n, 0)
    pads.append((total // 2, total - total // 2))
  return tuple(pads)


def max_pool(x: jax.Array, window: Sequence[int], stride: Sequence[int], pads: Pads,
             pad_value: float = -jnp.inf, ceil_mode: bool = False) -> jax.Array:
  """Max-pool over the spatial dims of a channels-last array with explicit padding.

  Args:
    x: `(B, *spatial, C)`.
    window: window size per spatial dim.
    stride: stride per spatial dim.
    pads: explicit (lo, hi) pads per spatial dim.
    pad_value: value the explicit pads hold. PyTorch's implicit `padding=` is -inf
      (ResNet); the I3D port pads with `ConstantPad3d(0)` *before* its pool, so zero.
    ceil_mode: PyTorch `ceil_mode=True`: extra windows at the end, padded with -inf
      (not `pad_value`), keeping PyTorch's rule that the last window must start inside
      the (explicitly padded) input.

  Returns:
    `(B, *out_spatial, C)`.
  """
  nd = len(window)
  x = jnp.pad(x, ((0, 0),) + tuple(pads) + ((0, 0),), constant_values=pad_value)
  if ceil_mode:
    tails = []
    for n, k, s in zip(x.shape[1:1 + nd], window, stride):
      out = -(-(n - k) // s) + 1
      if (out - 1) * s >= n:  # The last window would start in the padding: drop it.
        out -= 1
      tails.append((0, max((out - 1) * s + k - n, 0)))
    x = jnp.pad(x, ((0, 0),) + tuple(tails) + ((0, 0),), constant_values=-jnp.inf)
  # A separable maximum of strided slices, one spatial dim at a time: the same values as
  # `nn.max_pool(..., 'VALID')`, but XLA-CPU fuses it into a few elementwise loops where
  # its reduce-window took 0.44 s of the 320x320 CSTM forward (27 compares per output in
  # the I3D 3x3x3 pools, 9 here). A gradient at tied maxima is split between them instead
  # of going to the first one.
  for d, (k, s) in enumerate(zip(window, stride), start=1):
    n_out = (x.shape[d] - k) // s + 1
    x = functools.reduce(jnp.maximum, [
        jax.lax.slice_in_dim(x, j, j + (n_out - 1) * s + 1, s, axis=d) for j in range(k)])
  return x


def _align_corners_matrix(n_in: int, n_out: int) -> np.ndarray:
  """(n_out, n_in) bilinear weights of PyTorch `align_corners=True`: src = i*(in-1)/(out-1)."""
  m = np.zeros((n_out, n_in), np.float32)
  if n_in == 1 or n_out == 1:
    m[:, 0] = 1.0  # PyTorch replicates the first sample (no division by out - 1 = 0).
    return m
  src = np.arange(n_out, dtype=np.float64) * (n_in - 1) / (n_out - 1)
  lo = np.clip(np.floor(src).astype(np.int64), 0, n_in - 1)
  hi = np.minimum(lo + 1, n_in - 1)
  frac = (src - lo).astype(np.float32)
  np.add.at(m, (np.arange(n_out), lo), 1.0 - frac)
  np.add.at(m, (np.arange(n_out), hi), frac)
  return m


def resize_align_corners(x: jax.Array, size: tuple[int, int]) -> jax.Array:
  """Bilinear resize of `(B, H, W, C)` (or `(B, H, W)`) with `align_corners=True`.

  `jax.image.resize` uses half-pixel centres, so it cannot reproduce the CSTM decoder's
  `F.interpolate(..., mode='bilinear', align_corners=True)`; two small interpolation
  matrices applied with einsum do, exactly, and stay differentiable.
  """
  mh = jnp.asarray(_align_corners_matrix(x.shape[1], size[0]), x.dtype)
  mw = jnp.asarray(_align_corners_matrix(x.shape[2], size[1]), x.dtype)
  if x.ndim == 3:
    return jnp.einsum("oh,bhw,pw->bop", mh, x, mw)
  return jnp.einsum("oh,bhwc,pw->bopc", mh, x, mw)


def up2(x: jax.Array) -> jax.Array:
  """The decoder's x2 bilinear upsampling (align_corners=True). `(B, H, W, C)` -> 2x."""
  return resize_align_corners(x, (2 * x.shape[1], 2 * x.shape[2]))


def batch_norm(eps: float = 1e-5, use_scale: bool = True, name: str | None = None,
               dtype=None) -> nn.BatchNorm:
  """BatchNorm with PyTorch's update rule (momentum 0.1 -> Flax momentum 0.9).

  Under `jax.jit` with a batch sharded over devices, the statistics are computed over the
  global batch (SyncBN semantics), unlike per-GPU statistics in PyTorch DDP.
  """
  return nn.BatchNorm(momentum=0.9, epsilon=eps, use_scale=use_scale, name=name,
                      dtype=dtype)


CONV2D_IMPLS = ("auto", "winograd", "xla")


def conv_nhwc(x: jax.Array, kernel: jax.Array, strides: Sequence[int], padding: Pads,
              impl: str = "auto") -> jax.Array:
  """`lax.conv_general_dilated` in NHWC/HWIO with explicit pads, by the chosen algorithm.

  `impl='auto'` computes 3x3 stride-1 float32 convs by Winograd F(2x2, 3x3) when running
  on a CPU and the conv is large enough to gain (`winograd.eligible`): 1.4-1.8x faster
  than XLA's direct convolution there. GPUs/TPUs keep XLA's own (cuDNN already picks
  Winograd where it pays). 'winograd' uses it for every 3x3 stride-1 float32 conv on any
  backend (tests use it on tiny models); 'xla' never does.
  """
  if impl not in CONV2D_IMPLS:
    raise ValueError(f"Unknown conv2d impl {impl!r}; expected one of {CONV2D_IMPLS}.")
  if impl == "winograd":
    use = winograd.eligible(x.shape, kernel.shape, strides, padding, x.dtype, False)
  else:
    use = (impl == "auto" and jax.default_backend() == "cpu"
           and winograd.eligible(x.shape, kernel.shape, strides, padding, x.dtype))
  if use:
    return winograd.conv3x3(x, kernel, tuple(tuple(p) for p in padding))
  return jax.lax.conv_general_dilated(x, kernel, tuple(strides), padding,
                                      dimension_numbers=("NHWC", "HWIO", "NHWC"))


class Conv2D(nn.Module, kw_only=True):
  """`nn.Conv` for NHWC with explicit pads and PyTorch init, computed by `conv_nhwc`.

  Parameters `kernel (kH, kW, I, O)` and `bias` are named and promoted like `nn.Conv`'s, so
  checkpoints and conversion tables do not depend on `impl`.
  """
  features: int
  kernel_size: tuple[int, int]
  strides: tuple[int, int] = (1, 1)
  padding: Pads = ((0, 0), (0, 0))
  use_bias: bool = False
  impl: str = "auto"
  dtype: jnp.dtype | None = None

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:  # (B, H, W, I) -> (B, H', W', O)
    cin = x.shape[-1]
    kernel = self.param("kernel", torch_kernel_init, tuple(self.kernel_size) + (cin,
                                                                             self.features))
    bias = (self.param("bias", torch_bias_init(int(np.prod(self.kernel_size)) * cin),
                       (self.features,)) if self.use_bias else None)
    x, kernel, bias = nn.dtypes.promote_dtype(x, kernel, bias, dtype=self.dtype)
    y = conv_nhwc(x, kernel, self.strides, self.padding, self.impl)
    return y + bias if self.use_bias else y


class Conv3D(nn.Module, kw_only=True):
  """A 3-D convolution whose parameter looks like `nn.Conv`'s: `kernel (kT, kH, kW, I, O)`.

  `impl='fold'` computes it as one 2-D convolution over the kT time-shifted frames
  stacked on the channel axis (kernel reshaped to `(kH, kW, kT*I, O)`), or, when the
  kernel is larger than the stacked frames, as the sum of kT 2-D convolutions. It is the
  same convolution, term for term, but XLA-CPU runs it far faster when few channels feed
  the conv (the 3-channel I3D stem was 7x slower than PyTorch as a 3-D conv, ~1.4x as a
  fold). `impl='xla'` uses `lax.conv_general_dilated` in 3-D.

  Attributes:
    features: output channels.
    kernel_size: (kT, kH, kW).
    strides: (sT, sH, sW).
    padding: explicit ((lo, hi),) * 3 zero pads.
    use_bias: add a bias (PyTorch-default init).
    impl: 'fold' or 'xla'.
    conv2d_impl: how the 2-D convs of 'fold' (and of kT = 1 kernels) run; see `conv_nhwc`.
  """
  features: int
  kernel_size: tuple[int, int, int]
  strides: tuple[int, int, int] = (1, 1, 1)
  padding: Pads = ((0, 0), (0, 0), (0, 0))
  use_bias: bool = False
  impl: str = "fold"
  conv2d_impl: str = "auto"
  dtype: jnp.dtype | None = None

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:  # (B, T, H, W, I) -> (B, T', H', W', O)
    kt, kh, kw = self.kernel_size
    cin = x.shape[-1]
    kernel = self.param("kernel", torch_kernel_init, (kt, kh, kw, cin, self.features))
    dtype = self.dtype or x.dtype
    x = x.astype(dtype)
    kernel = kernel.astype(dtype)
    dn = ("NDHWC", "DHWIO", "NDHWC")
    if self.impl == "xla" or kt == 1:
      if kt == 1:  # A (1, kh, kw) kernel is a 2-D conv on frames folded into the batch.
        b, t = x.shape[:2]
        xs = x[:, ::self.strides[0]] if self.strides[0] > 1 else x
        xs = jnp.pad(xs, ((0, 0),) + self.padding[:1] + ((0, 0),) * 3) \
            if self.padding[0] != (0, 0) else xs
        t2 = xs.shape[1]
        y = conv_nhwc(xs.reshape((b * t2,) + xs.shape[2:]), kernel[0], self.strides[1:],
                      self.padding[1:], self.conv2d_impl)
        y = y.reshape((b, t2) + y.shape[1:])
      else:
        y = jax.lax.conv_general_dilated(x, kernel, self.strides, self.padding,
                                         dimension_numbers=dn)
    elif self.impl == "fold":
      b = x.shape[0]
      xp = jnp.pad(x, ((0, 0), self.padding[0], (0, 0), (0, 0), (0, 0)))
      st = self.strides[0]
      t_out = (xp.shape[1] - kt) // st + 1
      # Frame t of tap j is padded frame t * sT + j.
      taps = [jax.lax.slice_in_dim(xp, j, j + (t_out - 1) * st + 1, st, 1).reshape(
          (b * t_out,) + xp.shape[2:]) for j in range(kt)]      # kT x (B * To, H, W, I)
      # (A symbolic batch, in `rvs_jax.inference.export`, counts as 1.)
      frames_size = kt * math.prod(d if isinstance(d, int) else 1 for d in taps[0].shape)
      if kernel.size > frames_size:
        # Weights larger than the stacked frames (the 10x10 / 20x20 stages): a sum of kT
        # 2-D convs reads each tap's kernel in place, where stacking would copy (transpose)
        # the whole kernel (114 MB in the last CMAM of the full model, ~70 ms).
        y = sum(conv_nhwc(tap, kernel[j], self.strides[1:], self.padding[1:],
                          self.conv2d_impl) for j, tap in enumerate(taps))
      else:
        frames = jnp.concatenate(taps, axis=-1)             # (B * To, H, W, kT * I)
        w2 = jnp.transpose(kernel, (1, 2, 0, 3, 4)).reshape(kh, kw, kt * cin, self.features)
        y = conv_nhwc(frames, w2, self.strides[1:], self.padding[1:], self.conv2d_impl)
      y = y.reshape((b, t_out) + y.shape[1:])
    else:
      raise ValueError(f"Unknown Conv3D impl {self.impl!r}; expected 'fold' or 'xla'.")
    if self.use_bias:
      fan_in = kt * kh * kw * cin
      y = y + self.param("bias", torch_bias_init(fan_in), (self.features,)).astype(dtype)
    return y


class Dense(nn.Module, kw_only=True):
  """A PyTorch-style `nn.Linear` with `nn.Dense`'s parameter names (`kernel`, `bias`).

  Flax's bias initialisers only see the bias shape; PyTorch's bias bound depends on the
  fan-in, which this module reads off its input. `zero_init` gives CMAM's `gamma`.
  """
  features: int
  use_bias: bool = True
  zero_init: bool = False
  dtype: jnp.dtype | None = None

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    fan_in = x.shape[-1]
    zeros = nn.initializers.zeros
    kernel = self.param("kernel", zeros if self.zero_init else torch_kernel_init,
                        (fan_in, self.features))
    dtype = self.dtype or x.dtype
    y = jnp.dot(x.astype(dtype), kernel.astype(dtype))
    if self.use_bias:
      bias = self.param("bias", zeros if self.zero_init else torch_bias_init(fan_in),
                        (self.features,))
      y = y + bias.astype(dtype)
    return y


class ConvBN(nn.Module, kw_only=True):
  """Conv (no bias unless asked) -> BatchNorm -> optional ReLU; children `conv`, `bn`.

  This is CSTM's `ConvBN`/`ires_trans`/`conv_fuse` and the I3D port's `Unit3Dpy` in one
  place: `ndim=3` makes the conv a `Conv3D`.
  """
  features: int
  kernel_size: tuple[int, ...]
  strides: tuple[int, ...] | None = None
  padding: Pads | str | None = None  # None: (k-1)//2 symmetric; "TF_SAME": from input.
  use_bias: bool = False
  relu: bool = True
  bn_eps: float = 1e-5
  bn_scale: bool = True
  freeze_bn: bool = False
  conv3d_impl: str = "fold"
  conv2d_impl: str = "auto"
  dtype: jnp.dtype | None = None

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    nd = len(self.kernel_size)
    strides = self.strides or (1,) * nd
    if self.padding is None:
      padding = symmetric_pads(self.kernel_size)
    elif self.padding == "TF_SAME":  # TF SAME depends on the input size (I3D tf_same).
      padding = tf_same_pads(x.shape[1:1 + nd], self.kernel_size, strides)
    else:
      padding = self.padding
    conv = dict(features=self.features, kernel_size=tuple(self.kernel_size),
                strides=tuple(strides), padding=padding, use_bias=self.use_bias,
                dtype=self.dtype, name="conv")
    if nd == 3:
      x = Conv3D(impl=self.conv3d_impl, conv2d_impl=self.conv2d_impl, **conv)(x)
    else:
      x = Conv2D(impl=self.conv2d_impl, **conv)(x)
    x = batch_norm(eps=self.bn_eps, use_scale=self.bn_scale, name="bn", dtype=self.dtype)(
        x, use_running_average=not train or self.freeze_bn)
    return nn.relu(x) if self.relu else x


def run_stages(stage, x: jax.Array, train: bool, num_stages: int = 5) -> list[jax.Array]:
  """Outputs of `stage(1..num_stages)` chained on `x`, finest first (an encoder alone)."""
  feats = []
  for i in range(1, num_stages + 1):
    x = stage(i, x, train)
    feats.append(x)
  return feats


__all__ = [
    "CONV2D_IMPLS", "Conv2D", "Conv3D", "ConvBN", "Dense", "ModuleDef", "batch_norm",
    "conv_nhwc", "max_pool", "port_same_pads", "resize_align_corners",
    "run_stages", "symmetric_pads", "tf_same_pads", "torch_bias_init", "torch_kernel_init",
    "up2",
]
