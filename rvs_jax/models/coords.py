"""The 8-channel coordinate map concatenated to visual features before each CMAM(+).

CSTM `utils/tool.py:get_video_spatial_feature`, computed in float32 NumPy: at pixel
(h, w) of an H x W map, xmin = 2w/W - 1, xmax = 2(w+1)/W - 1, ymin/ymax likewise, centres
their means, then 1/W and 1/H. Channel order [xmin, ymin, xmax, ymax, xctr, yctr, 1/W, 1/H].
"""

from __future__ import annotations

import numpy as np


def coord_map(height: int, width: int) -> np.ndarray:
  """Returns the float32 `(H, W, 8)` coordinate map (channels last)."""
  w = np.arange(width, dtype=np.float32)
  h = np.arange(height, dtype=np.float32)
  xmin = np.broadcast_to(w / width * 2 - 1, (height, width))
  xmax = np.broadcast_to((w + 1) / width * 2 - 1, (height, width))
  ymin = np.broadcast_to((h / height * 2 - 1)[:, None], (height, width))
  ymax = np.broadcast_to(((h + 1) / height * 2 - 1)[:, None], (height, width))
  xctr = (xmin + xmax) / 2
  yctr = (ymin + ymax) / 2
  inv_w = np.full((height, width), 1.0 / width, np.float32)
  inv_h = np.full((height, width), 1.0 / height, np.float32)
  return np.stack([xmin, ymin, xmax, ymax, xctr, yctr, inv_w, inv_h], -1).astype(
      np.float32)
