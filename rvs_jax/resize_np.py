"""NumPy resizing that matches the PyTorch resizes of the CSTM reference pipeline.

CSTM (RyanHTR/CSTM, `datasets/a2d_dataset.py`) brings every ground-truth mask to the model
resolution with `F.interpolate(mask, (320, 320), mode='bilinear', align_corners=True)` and
then sets every positive value to 1 (docs/benchmarks.md). Because of that `> 0` step the
result depends on exactly which source pixels get a non-zero weight, so the index and weight
arithmetic below follows PyTorch's CPU kernel in float32 (`area_pixel_compute_scale` with
align_corners, `guard_index_and_lambda`, and the "same size means copy" shortcut). The
binarised masks then agree with PyTorch bit for bit; the float values agree to float32
rounding (tests/test_metrics.py checks both against torch when it is installed).

Both the data pipeline (training targets) and the evaluation (`rvs_jax.evaluation`, CSTM
protocol) use these functions, which is why they live in this small dependency-free module.
"""

from typing import Tuple

import numpy as np

# Model input / output resolution of CSTM (`--resize 320`).
CSTM_SIZE = (320, 320)


def _axis_indices_weights(in_size: int, out_size: int):
  """Source indices and weights of a 1-D align_corners=True linear resize, as torch does.

  Args:
    in_size: Input length along the axis.
    out_size: Output length along the axis.

  Returns:
    (i0, i1, w0, w1): int64 index arrays and float32 weight arrays, each (out_size,), so
    that out[k] = w0[k] * x[i0[k]] + w1[k] * x[i1[k]].
  """
  idx = np.arange(out_size)
  if in_size == out_size:
    # PyTorch copies when the size is unchanged (compute_source_index_and_lambda).
    return (idx, idx, np.ones(out_size, np.float32), np.zeros(out_size, np.float32))
  # torch: scale = float(in - 1) / (out - 1) in the op-math type, float32 for float input;
  # src = scale * dst. Doing this in float32 reproduces which src are exact integers, which
  # decides whether the second neighbour gets a (tiny) non-zero weight.
  if out_size > 1:
    scale = np.float32(in_size - 1) / np.float32(out_size - 1)
  else:
    scale = np.float32(0.0)
  src = (scale * idx.astype(np.float32)).astype(np.float32)
  i0 = np.minimum(np.floor(src).astype(np.int64), in_size - 1)
  w1 = np.clip(src - i0.astype(np.float32), np.float32(0), np.float32(1))
  w1 = w1.astype(np.float32)
  i1 = i0 + (i0 < in_size - 1).astype(np.int64)
  w0 = (np.float32(1) - w1).astype(np.float32)
  return i0, i1, w0, w1


def resize_align_corners(x: np.ndarray, out_hw: Tuple[int, int]) -> np.ndarray:
  """Bilinear resize with align_corners=True, like `torch.nn.functional.interpolate`.

  Args:
    x: Array of shape (H, W) or (..., H, W); any real dtype (computed in float32, the
      dtype CSTM feeds to F.interpolate).
    out_hw: Output (height, width).

  Returns:
    float32 array of shape (..., out_h, out_w).
  """
  x = np.asarray(x, dtype=np.float32)
  in_h, in_w = x.shape[-2:]
  out_h, out_w = out_hw
  h0, h1, wh0, wh1 = _axis_indices_weights(in_h, out_h)
  v0, v1, wv0, wv1 = _axis_indices_weights(in_w, out_w)
  # Same nesting as torch's CPU kernel: interpolate along W inside each source row, then
  # combine the two rows with the H weights. Everything stays float32.
  def along_w(rows):  # rows: (..., out_h, in_w) -> (..., out_h, out_w)
    return rows[..., v0] * wv0 + rows[..., v1] * wv1

  top = along_w(x[..., h0, :])  # (..., out_h, out_w)
  bottom = along_w(x[..., h1, :])
  out = top * wh0[:, None] + bottom * wh1[:, None]
  return out.astype(np.float32)


def resize_mask_align_corners(
    mask: np.ndarray, out_hw: Tuple[int, int] = CSTM_SIZE) -> np.ndarray:
  """CSTM's ground-truth preparation: align_corners bilinear resize, then `> 0 -> 1`.

  Any output pixel that receives a non-zero weight from a foreground pixel becomes
  foreground, so the result is a slightly dilated mask (docs/benchmarks.md).

  Args:
    mask: (H, W) (or (..., H, W)) mask; any non-zero value counts as foreground, as the
      reference only ever sees 0/1 masks.
    out_hw: Output (height, width), (320, 320) in CSTM.

  Returns:
    uint8 array of shape (..., out_h, out_w) with values in {0, 1}.
  """
  binary = (np.asarray(mask) != 0).astype(np.float32)
  return (resize_align_corners(binary, out_hw) > 0).astype(np.uint8)
