"""Drawing on frames: mask fills, contours, heat maps, the font, captions and tiling.

Every picture of the project is drawn here (pure PIL and NumPy, no plotting library):

* `mask_overlay` / `legend_overlay`: masks filled in translucent colours and outlined,
  with a legend of the sentences below (`rvs-predict`'s overlay video);
* `overlay`: a prediction (fill) and the ground truth (contour) with a caption
  (`rvs-eval`'s pictures);
* `heat_overlay`, `colormap`, `resize_map`: maps in [0, 1] over a greyed frame
  (`rvs_jax.pictures.explain`);
* `font`, `contour`, `captioned`, `tile`, `grid`, `fit`: the parts they share.

Sizes are bounded (`picture_scale`, `fit`): a frame of extreme aspect ratio (2 x 2000)
is never blown up to a picture no encoder accepts.
"""

from __future__ import annotations

import functools
import math
from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

PRED_COLOUR = (255, 64, 32)
GT_COLOUR = (64, 255, 96)
# Distinct, saturated colours, one per sentence (cycled beyond eight).
PALETTE = ((255, 64, 32), (32, 160, 255), (255, 210, 0), (190, 80, 255),
           (0, 220, 120), (255, 120, 200), (0, 230, 230), (160, 255, 60))
# Inferno-like anchors: dark = 0, bright = 1.
_COLORMAP = np.asarray([(0, 0, 4), (87, 16, 110), (188, 55, 84), (249, 142, 9),
                        (252, 255, 164)], np.float32)
MIN_SIDE = 240        # Small frames are upscaled until their shorter side reaches this.
MAX_SIDE = 1920       # No drawn frame is longer than this (1080p passes unchanged).
LEGEND_MIN_WIDTH = 160  # The legend stays readable under a frame 2 pixels wide.
_LEGEND_LINE = 18


@functools.lru_cache(maxsize=None)
def font(size: int = 12) -> ImageFont.ImageFont:
  """Pillow's built-in font (scalable when FreeType is present), loaded once a size."""
  try:
    return ImageFont.load_default(size=size)
  except (TypeError, OSError):  # Pillow < 10.1 or no FreeType: the bitmap font.
    return ImageFont.load_default()


def contour(mask: np.ndarray) -> np.ndarray:
  """1-pixel inner boundary of a bool mask `(H, W)`."""
  m = np.pad(mask, 1)
  interior = m[1:-1, 1:-1] & m[:-2, 1:-1] & m[2:, 1:-1] & m[1:-1, :-2] & m[1:-1, 2:]
  return mask & ~interior


def picture_scale(height: int, width: int, target: int = MIN_SIDE,
                  max_side: int = MAX_SIDE) -> float:
  """How much to scale a frame for a picture: legible, yet bounded.

  Small frames get the integer upscaling (nearest, so mask pixels stay visible) that
  brings the shorter side to `target`, as long as the longer side stays within
  `max_side`; a frame longer than `max_side` is shrunk to it (a fraction < 1).
  """
  longest, shortest = max(1, height, width), max(1, min(height, width))
  if longest > max_side:
    return max_side / longest
  return float(max(1, min(math.ceil(target / shortest), max_side // longest)))


def _scaled_size(height: int, width: int, scale: float) -> tuple[int, int]:
  return max(1, round(height * scale)), max(1, round(width * scale))


def resize_mask(mask: np.ndarray, height: int, width: int) -> np.ndarray:
  """bool `(h, w)` -> bool `(height, width)`, nearest."""
  if mask.shape == (height, width):
    return mask
  img = Image.fromarray(mask.astype(np.uint8) * 255, "L")
  return np.asarray(img.resize((width, height), Image.NEAREST)) > 127


def mask_overlay(frame: np.ndarray, fills: Sequence[tuple[np.ndarray, tuple]],
                 outlines: Sequence[tuple[np.ndarray, tuple]] = (), alpha: float = 0.45,
                 scale: float = 1.0) -> Image.Image:
  """Masks filled in translucent colours, then outlines (last: overlaps stay readable).

  Args:
    frame: uint8 `(H, W, 3)`.
    fills: `(bool (H, W) mask, RGB)` pairs, blended in at `alpha`.
    outlines: `(bool (H, W) mask, RGB)` pairs whose `contour` is drawn.
    alpha: fill opacity.
    scale: > 1: integer nearest upscaling after drawing (mask pixels stay visible);
      < 1: the frame (bilinear) and masks (nearest) are shrunk before drawing, so the
      outlines stay 1 pixel wide.

  Returns:
    A PIL RGB image of `(round(H * scale), round(W * scale))`.
  """
  height, width = _scaled_size(*frame.shape[:2], scale)
  if scale < 1:
    frame = np.asarray(Image.fromarray(frame).resize((width, height), Image.BILINEAR))
    fills = [(resize_mask(m, height, width), c) for m, c in fills]
    outlines = [(resize_mask(m, height, width), c) for m, c in outlines]
  img = frame.astype(np.float32)
  for mask, colour in fills:
    img[mask] = (1 - alpha) * img[mask] + alpha * np.asarray(colour, np.float32)
  for mask, colour in outlines:
    img[contour(mask)] = colour
  pic = Image.fromarray(img.clip(0, 255).astype(np.uint8))
  if pic.size != (width, height):
    pic = pic.resize((width, height), Image.NEAREST)
  return pic


def fit_text(draw: ImageDraw.ImageDraw, text: str, fnt, width: float) -> str:
  """`text` shortened with an ellipsis until it is at most `width` pixels long."""
  while text and draw.textlength(text, font=fnt) > width:
    text = text[:-2] + "…" if len(text) > 2 else ""
  return text


def wrap(draw: ImageDraw.ImageDraw, text: str, fnt, width: float) -> list[str]:
  """Words of `text` in lines of at most `width` pixels (over-long words shortened)."""
  lines: list[str] = []
  for word in text.split():
    if lines and draw.textlength(lines[-1] + " " + word, font=fnt) <= width:
      lines[-1] += " " + word
    else:
      lines.append(fit_text(draw, word, fnt, width))
  return lines


def label(draw: ImageDraw.ImageDraw, xy: tuple[int, int], text: str, fnt) -> None:
  """White text on a black box: readable on any frame."""
  box = draw.textbbox(xy, text, font=fnt)
  draw.rectangle((box[0] - 2, box[1] - 2, box[2] + 2, box[3] + 2), fill=(0, 0, 0))
  draw.text(xy, text, fill=(255, 255, 255), font=fnt)


def legend_overlay(frame: np.ndarray, masks: Sequence[np.ndarray],
                   colours: Sequence[tuple[int, int, int]], sentences: Sequence[str],
                   scale: float = 1.0, text: str = "",
                   alpha: float = 0.45) -> np.ndarray:
  """Every sentence's mask filled in its colour, outlined, with a legend below.

  Args:
    frame: uint8 `(H, W, 3)`.
    masks: bool `(H, W)` per sentence.
    colours: RGB per sentence.
    sentences: legend text per sentence.
    scale: see `mask_overlay`; `picture_scale(H, W)` keeps the picture bounded.
    text: a label at the top left (e.g. the frame number).
    alpha: fill opacity.

  Returns:
    uint8 `(H', W', 3)` with even H', W' (what yuv420p video needs); W' is at least
    `LEGEND_MIN_WIDTH`, the frame at the top left.
  """
  pairs = list(zip(masks, colours))
  pic = mask_overlay(frame, pairs, pairs, alpha, scale)
  fnt = font(13)
  width = max(pic.width, LEGEND_MIN_WIDTH)
  width += width % 2
  height = pic.height + _LEGEND_LINE * len(sentences) + 6
  height += height % 2
  canvas = Image.new("RGB", (width, height), (0, 0, 0))
  canvas.paste(pic, (0, 0))
  draw = ImageDraw.Draw(canvas)
  if text:
    label(draw, (4, 3), text, fnt)
  for k, (s, colour) in enumerate(zip(sentences, colours)):
    y = pic.height + 4 + _LEGEND_LINE * k
    draw.rectangle((4, y + 2, 16, y + 14), fill=colour)
    draw.text((22, y), fit_text(draw, s, fnt, width - 26), fill=(255, 255, 255),
              font=fnt)
  return np.asarray(canvas)


def overlay(frame: np.ndarray, pred: np.ndarray, gt: np.ndarray | None = None,
            caption: str = "", scale: float = 1, colour=PRED_COLOUR,
            alpha: float = 0.5) -> Image.Image:
  """Draws a prediction (fill) and ground truth (contour) on a frame.

  Args:
    frame: uint8 `(H, W, 3)`.
    pred: bool `(H, W)` predicted mask.
    gt: optional bool `(H, W)` ground truth.
    caption: text written above the frame (wrapped).
    scale: see `mask_overlay`.
    colour, alpha: the prediction's fill.

  Returns:
    A PIL RGB image.
  """
  outlines = [] if gt is None else [(gt, GT_COLOUR)]
  pic = mask_overlay(frame, [(pred, colour)], outlines, alpha, scale)
  if not caption:
    return pic
  return captioned(np.asarray(pic), wrap_lines(caption, pic.width), size=11,
                   background=(0, 0, 0))


def wrap_lines(text: str, width: int, size: int = 11) -> list[str]:
  """`wrap` with the font of `size` on a scratch canvas."""
  draw = ImageDraw.Draw(Image.new("RGB", (1, 1)))
  return wrap(draw, text, font(size), width - 6)


def captioned(cell: np.ndarray, lines: Sequence[str], size: int = 12,
              background=(16, 16, 16), min_width: int = 0) -> Image.Image:
  """A picture with caption lines above it (at least `min_width` wide)."""
  fnt = font(size)
  strip = (size + 3) * len(lines) + 4 if lines else 0
  img = Image.new("RGB", (max(cell.shape[1], min_width), cell.shape[0] + strip),
                  background)
  img.paste(Image.fromarray(cell), (0, strip))
  draw = ImageDraw.Draw(img)
  for k, line in enumerate(lines):
    draw.text((3, 2 + (size + 3) * k), line, fill=(235, 235, 235), font=fnt)
  return img


def tile(rows: Sequence[Sequence[Image.Image]], title: str = "", gap: int = 4,
         background=(0, 0, 0)) -> Image.Image:
  """Cells in rows (each slot as large as the largest cell), under a title line."""
  cw = max(c.width for r in rows for c in r)
  ch = max(c.height for r in rows for c in r)
  ncol = max(len(r) for r in rows)
  top = 24 if title else 0
  out = Image.new("RGB", (ncol * (cw + gap) + gap, top + len(rows) * (ch + gap) + gap),
                  background)
  if title:
    ImageDraw.Draw(out).text((gap, 4), title, fill=(255, 255, 255), font=font(14))
  for i, row in enumerate(rows):
    for j, cell in enumerate(row):
      out.paste(cell, (gap + j * (cw + gap), top + gap + i * (ch + gap)))
  return out


def grid(images: Sequence[Image.Image], columns: int = 4) -> Image.Image:
  """Tiles images (each slot as large as the largest) into one picture, no gaps."""
  rows = [list(images[k:k + columns]) for k in range(0, len(images), columns)]
  return tile(rows, gap=0, background=(24, 24, 24))


def fit(frame: np.ndarray, height: int, max_width: int | None = None) -> np.ndarray:
  """A frame resized (bilinear) to `height` rows, aspect kept, at most `max_width` wide.

  The default `max_width` (4 x height) keeps a 2 x 2000 frame from becoming a picture
  100,000 pixels wide; such a frame comes out shorter than `height` instead.
  """
  max_width = 4 * height if max_width is None else max_width
  h, w = frame.shape[:2]
  scale = min(height / h, max_width / w)
  out_h, out_w = _scaled_size(h, w, scale)
  return np.asarray(Image.fromarray(frame).resize((out_w, out_h), Image.BILINEAR))


def colormap(values: np.ndarray) -> np.ndarray:
  """float `(...)` in [0, 1] -> uint8 `(..., 3)` (inferno-like)."""
  x = np.clip(np.asarray(values, np.float32), 0, 1) * (len(_COLORMAP) - 1)
  lo = np.minimum(np.floor(x).astype(int), len(_COLORMAP) - 2)
  t = (x - lo)[..., None]
  return ((1 - t) * _COLORMAP[lo] + t * _COLORMAP[lo + 1]).round().astype(np.uint8)


def resize_map(values: np.ndarray, size: tuple[int, int],
               resample=Image.BILINEAR) -> np.ndarray:
  """float `(h, w)` -> `(H, W)` (PIL, half-pixel centres); size is (W, H)."""
  return np.asarray(Image.fromarray(np.asarray(values, np.float32), "F").resize(
      size, resample))


def heat_overlay(frame: np.ndarray, values: np.ndarray, alpha: float = 0.65,
                 resample=Image.BILINEAR) -> np.ndarray:
  """A heat map `(h, w)` in [0, 1] over a uint8 frame `(H, W, 3)` (frame in grey)."""
  h, w = frame.shape[:2]
  grey = frame.astype(np.float32).mean(-1, keepdims=True)
  heat = colormap(resize_map(values, (w, h), resample)).astype(np.float32)
  return ((1 - alpha) * grey + alpha * heat).clip(0, 255).astype(np.uint8)
