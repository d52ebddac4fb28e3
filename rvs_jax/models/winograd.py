"""3x3 stride-1 convolutions by Winograd's minimal filtering F(2x2, 3x3), banded for CPUs.

Nearly all of the model's arithmetic is in 3x3 stride-1 convolutions (the 320x320 mask
head alone is 242 of 779 GFLOP per clip). F(2x2, 3x3) (Lavin & Gray, 2016) computes each
2x2 output tile from a 4x4 input tile with 16 multiplies per channel pair instead of 36,
i.e. 2.25x fewer: the input tiles and the kernel are transformed by small exact matrices
(entries 0, +-1, +-1/2), multiplied channel-wise as 16 independent matmuls, and
transformed back. XLA-CPU runs the direct convolution near the matmul peak, so the saving
only shows if the transforms stay in cache: the image is processed in bands of
`band_rows` output-tile rows inside a `lax.scan`, so each band's transformed input
(16x the band's tiles x channels) is reused while hot. Measured on the 2-core Zen 3 dev
machine (float32, forward, best of 3, `band_rows=1`):

  (B, H, W, C -> K)             direct     Winograd
  1, 320, 320, 256 -> 256       729 ms     405 ms    1.80x  (the mask head)
  1, 160, 160, 512 -> 256       370 ms     216 ms    1.72x
  8, 40, 40, 1464 -> 480        950 ms     573 ms    1.66x  (folded I3D 3x3x3)
  8, 20, 20, 2520 -> 832        669 ms     491 ms    1.36x
  1, 80, 80, 256 -> 256         43 ms      30 ms     1.42x
  4, 20, 20, 2520 -> 832        341 ms     333 ms    1.02x
  1, 40, 40, 384 -> 192         11.8 ms    13.5 ms   0.87x
  1, 80, 80, 128 -> 128         10.8 ms    13.2 ms   0.82x
  1, 20, 20, 1032 -> 1024       48.6 ms    89.8 ms   0.54x

The kernel transform is paid once per call and the tile transforms once per channel, so
`eligible` asks for >= `MIN_TILES` output tiles and >= `MIN_CHANNELS` channels in and
out. (Unbanded, the transformed input of the mask head is 420 MB and its 1.8x became
0.93x.)

Numerics: the transforms are exact in binary (halves), so the result differs from the
direct convolution by float32 rounding only (max |diff| ~4e-6 on outputs of magnitude ~5;
tests/test_winograd.py). The gradient with respect to the input is the same Winograd
convolution of the output gradient with the flipped, transposed kernel; the gradient with
respect to the kernel is XLA's (it sums over all positions and gains nothing here).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

# F(2x2, 3x3) transforms with interpolation points 0, 1, -1 (and infinity):
# output tile Y = A^T [(G g G^T) * (B^T d B)] A for a 4x4 input tile d, 3x3 kernel g.
_BT = np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], np.float32)
_G = np.array([[1, 0, 0], [.5, .5, .5], [.5, -.5, .5], [0, 0, 1]], np.float32)
_AT = np.array([[1, 1, 1, 0], [0, 1, -1, -1]], np.float32)
_TILE = 2   # Output tile side m.
_ALPHA = 4  # Input tile side m + 2.
# The 2-D transforms on row-major flattened tiles: vec(A^T m A) = (A^T kron A^T) vec(m).
_AA = np.kron(_AT, _AT)  # (4, 16)
_GG = np.kron(_G, _G)    # (16, 9)

# Fewest output tiles (B x H' x W' / 4) and channels at which `eligible` picks Winograd.
MIN_TILES = 800
MIN_CHANNELS = 192

Pads = tuple[tuple[int, int], tuple[int, int]]


def eligible(x_shape, kernel_shape, strides, padding, dtype, profitable: bool = True) -> bool:
  """Whether `conv3x3` can (and, if `profitable`, should on a CPU) replace `lax.conv`.

  It can for 3x3 stride-1 float32 convs with pads of at most 2 (bfloat16 stays direct:
  its 8-bit mantissa would round the transformed tiles); it should from `MIN_TILES`
  output tiles and `MIN_CHANNELS` channels in and out.
  """
  if tuple(kernel_shape[:2]) != (3, 3) or tuple(strides) != (1, 1):
    return False
  (pt, pb), (pl, pr) = padding
  if not all(0 <= p <= 2 for p in (pt, pb, pl, pr)) or jnp.dtype(dtype) != jnp.float32:
    return False
  # A symbolic batch (`rvs_jax.inference.export`) counts as 1: the choice cannot depend on it.
  batch = x_shape[0] if isinstance(x_shape[0], int) else 1
  tiles = (batch * -(-(x_shape[1] + pt + pb - 2) // _TILE)
           * -(-(x_shape[2] + pl + pr - 2) // _TILE))
  return not profitable or (tiles >= MIN_TILES and min(kernel_shape[2:]) >= MIN_CHANNELS)


def _combine(coeffs, terms):
  """sum_i coeffs[i] * terms[i] over the non-zero coefficients (all 1 or -1 here)."""
  return sum(float(a) * t for a, t in zip(coeffs, terms) if a)


def _input_transform(rows: jax.Array, band_rows: int, nw: int) -> jax.Array:
  """B^T d B for every 4x4 tile d of `rows (B, 2 * band_rows + 2, 2 * nw + 2, C)`.

  Separable: first over tile rows (whole image rows, contiguous), then over tile columns
  (stride-2 slices), so XLA fuses each pass into one loop; stacking the 16 strided tile
  elements first and multiplying by B^T kron B^T moved 1.3x more data.

  Returns:
    `(16 * B, band_rows, nw, C)`, tile element (p, q) major (index 4 p + q).
  """
  span = _TILE * (band_rows - 1) + 1
  span_w = _TILE * (nw - 1) + 1
  tile_rows = [rows[:, p:p + span:_TILE] for p in range(_ALPHA)]      # (B, R, W', C)
  t = [_combine(_BT[p], tile_rows) for p in range(_ALPHA)]
  out = []
  for tp in t:
    cols = [tp[:, :, q:q + span_w:_TILE] for q in range(_ALPHA)]      # (B, R, nw, C)
    out += [_combine(_BT[q], cols) for q in range(_ALPHA)]
  return jnp.concatenate(out, axis=0)


def _forward(x: jax.Array, kernel: jax.Array, padding: Pads, band_rows: int) -> jax.Array:
  """(B, H, W, C) * (3, 3, C, K) -> (B, H', W', K), zero `padding`, stride 1."""
  b, h, w, c = x.shape
  k = kernel.shape[-1]
  (pt, pb), (pl, pr) = padding
  ho, wo = h + pt + pb - 2, w + pl + pr - 2
  nw = -(-wo // _TILE)                                  # Tiles per row.
  num_bands = -(-ho // (_TILE * band_rows))
  band_in = _TILE * band_rows + 2                       # Input rows one band reads.
  n = b * band_rows * nw                                # Tiles per band.
  # G g G^T for all channel pairs: (16, 9) x (9, C * K), the kernel read in place.
  u = jnp.dot(_GG, kernel.reshape(9, c * k)).reshape(_ALPHA**2, c, k)

  def band(_, i):
    # Input rows i * 2 * band_rows - pt + [0, band_in): rows outside the image are the
    # zero pads. Padding per band instead of the whole input saves a full copy of it.
    r = i * _TILE * band_rows - pt + jnp.arange(band_in)
    rows = jnp.take(x, jnp.clip(r, 0, h - 1), axis=1)
    rows = jnp.where(((r >= 0) & (r < h))[:, None, None], rows, 0)
    # Extra zero columns past the PyTorch pads only feed output columns cropped below.
    rows = jnp.pad(rows, ((0, 0), (0, 0), (pl, nw * _TILE + 2 - w - pl), (0, 0)))
    v = _input_transform(rows, band_rows, nw).reshape(_ALPHA**2, n, c)
    m = jnp.einsum("tnc,tck->tnk", v, u)                # 16 matmuls (n, C) x (C, K).
    y = jnp.dot(_AA, m.reshape(_ALPHA**2, -1))          # A^T m A: (4, n * K).
    y = y.reshape(_TILE, _TILE, b, band_rows, nw, k).transpose(2, 3, 0, 4, 1, 5)
    return None, y.reshape(b, band_rows * _TILE, nw * _TILE, k)

  _, y = jax.lax.scan(band, None, jnp.arange(num_bands))  # (bands, B, rows, W', K)
  y = jnp.moveaxis(y, 0, 1).reshape(b, num_bands * band_rows * _TILE, nw * _TILE, k)
  return y[:, :ho, :wo]


def _direct(x, kernel, padding):
  return jax.lax.conv_general_dilated(x, kernel, (1, 1), padding,
                                      dimension_numbers=("NHWC", "HWIO", "NHWC"))


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def conv3x3(x: jax.Array, kernel: jax.Array, padding: Pads = ((1, 1), (1, 1)),
            band_rows: int = 1) -> jax.Array:
  """`lax.conv_general_dilated(x, kernel, (1, 1), padding)` in NHWC/HWIO by F(2x2, 3x3).

  Args:
    x: `(B, H, W, C)` input.
    kernel: `(3, 3, C, K)` kernel (cross-correlation, as `lax.conv` and PyTorch).
    padding: explicit zero pads `((top, bottom), (left, right))`.
    band_rows: output-tile rows (2 pixel rows each) transformed per loop step.

  Returns:
    `(B, H + top + bottom - 2, W + left + right - 2, K)`.
  """
  return _forward(x, kernel, padding, band_rows)


def _fwd(x, kernel, padding, band_rows):
  return _forward(x, kernel, padding, band_rows), (x, kernel)


def _bwd(padding, band_rows, res, dy):
  x, kernel = res
  (pt, pb), (pl, pr) = padding
  # d/dx of a stride-1 correlation is the full correlation of dy with the kernel rotated
  # by 180 degrees and its channel axes swapped; the pads mirror (2 - pad).
  flipped = jnp.swapaxes(kernel[::-1, ::-1], 2, 3)
  dx = _forward(dy, flipped, ((2 - pt, 2 - pb), (2 - pl, 2 - pr)), band_rows)
  _, kernel_vjp = jax.vjp(lambda k: _direct(x, k, padding), kernel)
  return dx, kernel_vjp(dy)[0]


conv3x3.defvjp(_fwd, _bwd)
