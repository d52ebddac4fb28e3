"""Drawing on frames: mask fills, contours, heat maps, the font, captions and tiling.

Every picture of the project is drawn here (pure PIL and NumPy, no plotting library;
only matplotlib's font file is used when it is installed, see `font`):

* `mask_overlay` / `legend_overlay`: masks filled in translucent colours and outlined,
  with a legend of the sentences below, each with its mask's area and confidence, or
  "(empty)" (`rvs-predict`'s overlay video);
* `overlay`: a prediction (fill) and the ground truth (contour) with a caption and a key
  saying which is which (`rvs-eval`'s pictures);
* `heat_overlay`, `colormap`, `resize_map`, `with_colour_bar`: maps on a fixed scale
  over a greyed frame, and the scale (`rvs_jax.pictures.explain`);
* `font`, `contour`, `captioned`, `tile`, `grid`, `fit`: the parts they share.

Sizes are bounded (`picture_scale`, `fit`): a frame of extreme aspect ratio (2 x 2000)
is never blown up to a picture no encoder accepts.
"""

from __future__ import annotations

import functools
import importlib.util
import math
import os
from typing import Sequence

import chex
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
# The legend (a swatch, ~12 characters of sentence, "100.0% of frame, conf 0.91") stays
# readable under a frame 2 pixels wide.
LEGEND_MIN_WIDTH = 320
CAPTION_MIN_WIDTH = 240  # Likewise the caption and key of `overlay`.
TEXT_SIZE = 13  # Pillow's fallback font runs words together below this.
_LEGEND_LINE = 18
_SWATCH = 12
_BAR_TOP, _BAR_BOTTOM, _BAR_WIDTH = 22, 10, 12  # Colour bar geometry (`colour_bar`).


def _dejavu_path() -> str | None:
  """matplotlib's bundled DejaVu Sans, found without importing matplotlib."""
  spec = importlib.util.find_spec("matplotlib")
  for folder in (spec.submodule_search_locations or []) if spec else []:
    path = os.path.join(folder, "mpl-data", "fonts", "ttf", "DejaVuSans.ttf")
    if os.path.isfile(path):
      return path
  return None


@functools.lru_cache(maxsize=None)
def font(size: int = TEXT_SIZE) -> ImageFont.ImageFont:
  """A scalable font of `size` pixels, loaded once a size.

  DejaVu Sans when matplotlib (the `plots` extra) is installed: the widest spacing at
  small sizes. Otherwise Pillow's own FreeType font (Pillow >= 10.1), readable from
  `TEXT_SIZE` up; the 6-pixel bitmap font only where Pillow has no FreeType.
  """
  path = _dejavu_path()
  if path is not None:
    return ImageFont.truetype(path, size)
  try:
    return ImageFont.load_default(size=size)
  except (TypeError, OSError, ImportError):  # Pillow without FreeType.
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


def legend_entry(sentence: str, area: float,
                 confidence: float | None = None) -> tuple[str, str]:
  """The two texts of a legend entry: the quoted sentence and what was found.

  Args:
    sentence: the sentence.
    area: the mask's area as a fraction of the frame.
    confidence: the mean probability inside the mask, or None (not shown).

  Returns:
    `('"the red square"', '3.2% of frame, conf 0.91')`; `(..., '(empty)')` when
    `area` is 0 (an empty mask has no confidence to show). A non-empty mask below
    0.1% reads "<0.1%", never "0.0%".
  """
  if area <= 0:
    return f'"{sentence}"', "(empty)"
  percent = 100 * area
  found = (f"{percent:.1f}%" if percent >= 0.1 else "<0.1%") + " of frame"
  if confidence is not None:
    found += f", conf {confidence:.2f}"
  return f'"{sentence}"', found


def swatch(draw: ImageDraw.ImageDraw, x: int, y: int, colour, empty: bool) -> None:
  """A `_SWATCH`-pixel square at (x, y): filled, or outlined and struck through."""
  box = (x, y, x + _SWATCH, y + _SWATCH)
  if empty:
    draw.rectangle(box, outline=colour)
    draw.line((x, y + _SWATCH, x + _SWATCH, y), fill=colour, width=2)
  else:
    draw.rectangle(box, fill=colour)


def legend_overlay(frame: np.ndarray, masks: Sequence[np.ndarray],
                   colours: Sequence[tuple[int, int, int]], sentences: Sequence[str],
                   scale: float = 1.0, text: str = "", alpha: float = 0.45, *,
                   confidences: Sequence[float] | None = None) -> np.ndarray:
  """Every sentence's mask filled in its colour, outlined, with a legend below.

  The legend entry of a sentence gives its mask's area (computed here) and, when
  given, its confidence, or "(empty)" with an outlined swatch (`legend_entry`).

  Args:
    frame: uint8 `(H, W, 3)`.
    masks: bool `(H, W)` per sentence.
    colours: RGB per sentence.
    sentences: legend text per sentence.
    scale: see `mask_overlay`; `picture_scale(H, W)` keeps the picture bounded.
    text: a label at the top left (e.g. the frame number).
    alpha: fill opacity.
    confidences: the mean probability inside each mask, or None (not shown).

  Returns:
    uint8 `(H', W', 3)` with even H', W' (what yuv420p video needs); W' is at least
    `LEGEND_MIN_WIDTH`, the frame at the top left. The shape depends only on the
    frame's shape, `scale` and the number of sentences (the frames of one video go
    into one mp4), never on the masks.
  """
  chex.assert_rank(frame, 3)
  for mask in masks:
    chex.assert_shape(mask, frame.shape[:2])
  if confidences is not None and len(confidences) != len(sentences):
    raise ValueError(f"{len(confidences)} confidences for {len(sentences)} sentences")
  pairs = list(zip(masks, colours))
  pic = mask_overlay(frame, pairs, pairs, alpha, scale)
  fnt = font()
  width = max(pic.width, LEGEND_MIN_WIDTH)
  width += width % 2
  height = pic.height + _LEGEND_LINE * len(sentences) + 6
  height += height % 2
  canvas = Image.new("RGB", (width, height), (0, 0, 0))
  canvas.paste(pic, (0, 0))
  draw = ImageDraw.Draw(canvas)
  if text:
    label(draw, (4, 3), text, fnt)
  for k, (s, mask, colour) in enumerate(zip(sentences, masks, colours)):
    area = float(np.mean(mask))
    quoted, found = legend_entry(
        s, area, None if confidences is None else float(confidences[k]))
    y = pic.height + 4 + _LEGEND_LINE * k
    swatch(draw, 4, y + 2, colour, area == 0)
    # What was found is never shortened; the sentence gives way.
    found = fit_text(draw, found, fnt, width - 26)
    room = width - 26 - draw.textlength("  " + found, font=fnt)
    line = (fit_text(draw, quoted, fnt, room) + "  " + found).strip()
    draw.text((22, y), line, fill=(255, 255, 255), font=fnt)
  return np.asarray(canvas)


def prediction_key(width: int, size: int = TEXT_SIZE) -> Image.Image:
  """A strip saying which colour is the prediction (fill) and which the ground truth."""
  fnt = font(size)
  img = Image.new("RGB", (width, size + 8), (0, 0, 0))
  draw = ImageDraw.Draw(img)
  x = 3
  for name, colour, filled in (("prediction (fill)", PRED_COLOUR, True),
                               ("ground truth (contour)", GT_COLOUR, False)):
    if filled:
      swatch(draw, x, 3, colour, empty=False)
    else:
      draw.rectangle((x, 3, x + _SWATCH, 3 + _SWATCH), outline=colour, width=2)
    draw.text((x + _SWATCH + 5, 2), name, fill=(235, 235, 235), font=fnt)
    x += _SWATCH + 20 + int(draw.textlength(name, font=fnt))
  return img


def overlay(frame: np.ndarray, pred: np.ndarray, gt: np.ndarray | None = None,
            caption: str = "", scale: float = 1, colour=PRED_COLOUR,
            alpha: float = 0.5, key: bool = False) -> Image.Image:
  """Draws a prediction (fill) and ground truth (contour) on a frame.

  Args:
    frame: uint8 `(H, W, 3)`.
    pred: bool `(H, W)` predicted mask.
    gt: optional bool `(H, W)` ground truth.
    caption: text written above the frame (wrapped).
    scale: see `mask_overlay`.
    colour, alpha: the prediction's fill.
    key: also a `prediction_key` line above the frame.

  Returns:
    A PIL RGB image, the frame at the bottom left, at least `CAPTION_MIN_WIDTH` wide
    when it has a caption or key.
  """
  outlines = [] if gt is None else [(gt, GT_COLOUR)]
  pic = mask_overlay(frame, [(pred, colour)], outlines, alpha, scale)
  if not caption and not key:
    return pic
  width = max(pic.width, CAPTION_MIN_WIDTH)
  if key:
    top = prediction_key(width)
    body = Image.new("RGB", (width, top.height + pic.height), (0, 0, 0))
    body.paste(top, (0, 0))
    body.paste(pic, (0, top.height))
    pic = body
  return captioned(np.asarray(pic), wrap_lines(caption, width) if caption else [],
                   background=(0, 0, 0), min_width=width)


def wrap_lines(text: str, width: int, size: int = TEXT_SIZE) -> list[str]:
  """`wrap` with the font of `size` on a scratch canvas."""
  draw = ImageDraw.Draw(Image.new("RGB", (1, 1)))
  return wrap(draw, text, font(size), width - 6)


def captioned(cell: np.ndarray, lines: Sequence[str], size: int = TEXT_SIZE,
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


def colour_bar(height: int, title: str = "") -> Image.Image:
  """The scale of `colormap` / `heat_overlay`: a vertical bar, 1 at the top, 0 below.

  The gradient fills rows `_BAR_TOP .. height - _BAR_BOTTOM - 1` of columns
  `4 .. 4 + _BAR_WIDTH - 1`: its top row is `colormap(1)`, its bottom `colormap(0)`.
  """
  fnt = font()
  width = 80
  img = Image.new("RGB", (width, max(height, _BAR_TOP + _BAR_BOTTOM + 2)), (0, 0, 0))
  rows = img.height - _BAR_TOP - _BAR_BOTTOM
  ramp = colormap(np.linspace(1, 0, rows))
  img.paste(Image.fromarray(np.repeat(ramp[:, None], _BAR_WIDTH, 1)), (4, _BAR_TOP))
  draw = ImageDraw.Draw(img)
  if title:
    draw.text((2, 2), fit_text(draw, title, fnt, width - 4), fill=(235, 235, 235),
              font=fnt)
  x = 4 + _BAR_WIDTH + 4
  draw.text((x, _BAR_TOP - 2), "1", fill=(235, 235, 235), font=fnt)
  draw.text((x, img.height - _BAR_BOTTOM - TEXT_SIZE), "0", fill=(235, 235, 235),
            font=fnt)
  return img


def with_colour_bar(picture: Image.Image, title: str) -> Image.Image:
  """`picture` with a `colour_bar` of its height at its right."""
  bar = colour_bar(picture.height, title)
  out = Image.new("RGB", (picture.width + bar.width, picture.height), (0, 0, 0))
  out.paste(picture, (0, 0))
  out.paste(bar, (picture.width, 0))
  return out
