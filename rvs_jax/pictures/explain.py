"""Pictures of what the model looked at: per-word CMAM(+) attention and LASP sampling.

`python -m rvs_jax.inference.predict --explain` draws, for each chosen frame and sentence:

* `frame_<t>_words.png` (the paper's Fig. 9): one row per CMAM(+) module (encoder and
  stage), one column per word. The caption of each cell is the word's weight exactly as
  the module used it (`word_attention`); the heat map is the module's
  `pixel_word_attention`, the same normalisation and softmax applied to each pixel's own
  term, so it shows where in the frame each word's weight comes from (probabilities
  over the words at that pixel, drawn on the fixed scale 0 .. 1 of the colour bar; the
  row label gives the module's range). Both are what `rvs_jax.models.cmam` sows; 3-D
  (temporal encoder) features show their middle time slice, the one the decoder uses.
* `frame_<t>_lasp.png` (Fig. 6): one row per LASP step: the frame with the predicted
  mask, the relevance map A of the deeper stage (a sigmoid, on the fixed scale 0 .. 1
  of the colour bar), and the 64 foreground and 64 background positions sampled by
  adaptive max-pooling of A and 1 - A (several samples can fall on one position of a
  small map; the caption counts distinct positions).

`make_explain_fn` runs the model with `mutable=["intermediates"]` and gathers what the
modules sow; it is a separate, separately compiled function, applied to the chosen frames
only.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Sequence

import jax
import numpy as np
from PIL import Image, ImageDraw

from rvs_jax.pictures import overlay

_CMAM_NAME = re.compile(r"cmam_([st])_(\d)")
_ENCODERS = {"s": "spatial", "t": "temporal"}
FG_COLOUR, BG_COLOUR = (60, 255, 60), (255, 60, 220)


def make_explain_fn(model) -> Callable:
  """jit: `(variables, video, words, word_mask) -> dict` of what the pictures need.

  Returns a function whose output is
    {"probs": (B, S, S) final-map probabilities,
     "cmam": {"cmam_s_0": {"weights": (B, N), "maps": (B, N, h, w)}, ...},
     "lasp": {"lasp_5_4": {"relevance": (B, h, w), "fg_attention_indices": (B, 64),
                           "bg_attention_indices": (B, 64)}, ...}}
  (empty dicts for models without CMAM or LASP).
  """

  def explain(variables, video, words, word_mask):
    out, state = model.apply(variables, video, words, word_mask, train=False,
                             all_maps=False, mutable=["intermediates"])
    inter = state.get("intermediates", {})  # Empty without CMAM and LASP.
    result: dict[str, Any] = {"probs": jax.nn.sigmoid(out["logits"][-1]), "cmam": {},
                              "lasp": {}}
    for name, sub in inter.items():
      if _CMAM_NAME.fullmatch(name):
        core = sub.get("cmam", sub)  # CMAM+ nests its CMAM under "cmam".
        result["cmam"][name] = {"weights": core["word_attention"][0],
                                "maps": core["pixel_word_attention"][0]}
    for name, sub in inter.get("decoder", {}).items():
      if name.startswith("lasp_"):
        result["lasp"][name] = {k: v[0] for k, v in sub.items()}
    return result

  return jax.jit(explain)


# --------------------------------------------------------------------------------------
# Drawing.
# --------------------------------------------------------------------------------------


def _cell(picture: np.ndarray, lines: Sequence[str]) -> Image.Image:
  # Wide enough for its caption even when the frame is 2 pixels wide.
  return overlay.captioned(picture, lines, min_width=160)


def _module_label(name: str, shape: tuple[int, ...]) -> str:
  m = _CMAM_NAME.fullmatch(name)
  return f"{_ENCODERS[m.group(1)]} stage {int(m.group(2)) + 1} ({shape[0]}x{shape[1]})"


def words_picture(frame: np.ndarray, tokens: Sequence[str], cmam: dict[str, Any],
                  title: str, cell_height: int = 112) -> Image.Image | None:
  """Fig. 9: per-word attention heat maps, one row per CMAM(+) module.

  Args:
    frame: uint8 `(H, W, 3)` the segmented frame.
    tokens: the real tokens of the sentence (N_real).
    cmam: `{name: {"weights": (N,), "maps": (N, h, w)}}` for one sample.
    title: the picture's title line.
    cell_height: rows of each cell.

  Returns:
    The picture, or None for a model without CMAM.
  """
  if not cmam:
    return None
  base = overlay.fit(frame, cell_height)
  order = sorted(cmam, key=lambda n: (n.split("_")[1] != "s", int(n.split("_")[2])))
  rows = []
  for name in order:
    weights, maps = np.asarray(cmam[name]["weights"]), np.asarray(cmam[name]["maps"])
    maps = maps[:len(tokens)]
    # A fixed scale (probabilities, 0 .. 1), the same in every row and picture: a
    # stretch to each row's range once drew a flat map bright.
    row = [_cell(base, [_module_label(name, maps.shape[1:]),
                        f"values {maps.min():.2f} .. {maps.max():.2f}"])]
    for n, token in enumerate(tokens):
      row.append(_cell(overlay.heat_overlay(base, maps[n]),
                       [repr(token) if not token.strip() else token,
                        f"weight {weights[n]:.2f}"]))
    rows.append(row)
  picture = overlay.tile(
      rows, title + "   (per-pixel word attention; caption: the word's weight)")
  return overlay.with_colour_bar(picture, "attention")


def _points(frame: np.ndarray, flat_idx: np.ndarray, map_hw: tuple[int, int],
            colour: tuple[int, int, int]) -> tuple[np.ndarray, int]:
  """Sampled deep-map positions as dots on a dimmed frame; returns (image, #unique)."""
  h, w = map_hw
  H, W = frame.shape[:2]  # pylint: disable=invalid-name
  img = Image.fromarray((frame.astype(np.float32) * 0.55).astype(np.uint8))
  draw = ImageDraw.Draw(img)
  unique = np.unique(np.asarray(flat_idx))
  r = max(2, min(H, W) // 40)
  for i in unique:
    y, x = divmod(int(i), w)
    # Centre of deep pixel (y, x) in frame coordinates: the deep map covers the frame.
    cy, cx = (y + 0.5) * H / h, (x + 0.5) * W / w
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=colour, outline=(0, 0, 0))
  return np.asarray(img), len(unique)


def lasp_picture(frame: np.ndarray, mask: np.ndarray, colour: tuple[int, int, int],
                 lasp: dict[str, Any], title: str,
                 cell_height: int = 160) -> Image.Image | None:
  """Fig. 6: relevance map and sampled foreground/background points per LASP step.

  Args:
    frame: uint8 `(H, W, 3)`.
    mask: bool `(H, W)` the predicted mask of this frame and sentence.
    colour: the sentence's colour.
    lasp: `{name: {"relevance": (h, w), "fg_attention_indices": (K,),
      "bg_attention_indices": (K,)}}` for one sample.
    title: the picture's title line.
    cell_height: rows of each cell.

  Returns:
    The picture, or None for a model without LASP.
  """
  if not lasp:
    return None
  base = overlay.fit(frame, cell_height)
  small_mask = overlay.resize_mask(mask, *base.shape[:2])
  with_mask = np.asarray(overlay.mask_overlay(base, [(small_mask, colour)],
                                              [(small_mask, colour)], alpha=0.5))
  rows = []
  for name in sorted(lasp, key=lambda n: -int(n.split("_")[1])):
    deep, shallow = name.split("_")[1:3]
    rel = np.asarray(lasp[name]["relevance"], np.float32)
    # A is a sigmoid: drawn on its own scale, 0 .. 1 (the colour bar), so a flat A
    # looks flat; the caption gives its range. Nearest upsampling shows the stage's
    # grid, on which the samples lie.
    row = [_cell(with_mask, [f"LASP {deep}->{shallow}", "prediction"]),
           _cell(overlay.heat_overlay(base, rel, resample=Image.NEAREST),
                 [f"relevance A of stage {deep} ({rel.shape[0]}x{rel.shape[1]})",
                  f"values {rel.min():.2f} .. {rel.max():.2f}"])]
    for key, label, col in (("fg_attention_indices", "foreground", FG_COLOUR),
                            ("bg_attention_indices", "background", BG_COLOUR)):
      if key in lasp[name]:
        idx = np.asarray(lasp[name][key])
        img, unique = _points(base, idx, rel.shape, col)
        row.append(_cell(img, [f"{label} samples",
                               f"{idx.size} at {unique} positions"]))
    rows.append(row)
  return overlay.with_colour_bar(overlay.tile(rows, title), "relevance")
