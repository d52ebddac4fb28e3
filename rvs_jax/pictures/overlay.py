"""Pictures of results: the target frame with the prediction and the ground truth.

Pure PIL (no plotting library): the prediction is a translucent colour fill, the ground
truth a contour, the sentence and the IoU a caption strip above the frame.
"""

from __future__ import annotations

import textwrap

import numpy as np
from PIL import Image, ImageDraw

PRED_COLOUR = (255, 64, 32)
GT_COLOUR = (64, 255, 96)


def _contour(mask: np.ndarray) -> np.ndarray:
  """1-pixel inner boundary of a bool mask."""
  m = np.pad(mask, 1)
  interior = m[1:-1, 1:-1] & m[:-2, 1:-1] & m[2:, 1:-1] & m[1:-1, :-2] & m[1:-1, 2:]
  return mask & ~interior


def overlay(frame: np.ndarray, pred: np.ndarray, gt: np.ndarray | None = None,
            caption: str = "", scale: int = 1, colour=PRED_COLOUR,
            alpha: float = 0.5) -> Image.Image:
  """Draws a prediction (fill) and ground truth (contour) on a frame.

  Args:
    frame: uint8 `(H, W, 3)`.
    pred: bool `(H, W)` predicted mask.
    gt: optional bool `(H, W)` ground truth.
    caption: text written above the frame (wrapped).
    scale: integer upscaling for small frames (nearest, so pixels stay visible).
    colour, alpha: the prediction's fill.

  Returns:
    A PIL RGB image.
  """
  img = frame.astype(np.float32)
  img[pred] = (1 - alpha) * img[pred] + alpha * np.asarray(colour, np.float32)
  if gt is not None:
    img[_contour(gt)] = GT_COLOUR
  img = Image.fromarray(img.clip(0, 255).astype(np.uint8))
  if scale > 1:
    img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
  lines = textwrap.wrap(caption, width=max(16, img.width // 7)) if caption else []
  strip = 12 * len(lines) + (6 if lines else 0)
  canvas = Image.new("RGB", (img.width, img.height + strip), (0, 0, 0))
  canvas.paste(img, (0, strip))
  draw = ImageDraw.Draw(canvas)
  for k, line in enumerate(lines):
    draw.text((3, 3 + 12 * k), line, fill=(255, 255, 255))
  return canvas


def grid(images: list[Image.Image], columns: int = 4) -> Image.Image:
  """Tiles images (padded to the largest) into one picture."""
  w = max(i.width for i in images)
  h = max(i.height for i in images)
  rows = -(-len(images) // columns)
  out = Image.new("RGB", (w * min(columns, len(images)), h * rows), (24, 24, 24))
  for k, im in enumerate(images):
    out.paste(im, ((k % columns) * w, (k // columns) * h))
  return out
