"""`rvs_jax.pictures`: legend, key, font, fixed scales, the eval pictures' choice."""

import sys

import numpy as np
from PIL import ImageFont

from rvs_jax.pictures import explain, overlay, selection

H, W = 48, 64


def _frame(level=128):
  return np.full((H, W, 3), level, np.uint8)


def test_legend_entry_states_area_confidence_or_empty():
  assert overlay.legend_entry("the red square", 0.032, 0.912) == (
      '"the red square"', "3.2% of frame, conf 0.91")
  assert overlay.legend_entry("a cat", 0.5) == ('"a cat"', "50.0% of frame")
  assert overlay.legend_entry("a cat", 0.0, 0.3) == ('"a cat"', "(empty)")
  assert overlay.legend_entry("a cat", 1e-4)[1] == "<0.1% of frame"


def test_legend_swatch_is_outlined_when_nothing_was_found():
  full = np.zeros((H, W), bool)
  full[10:30, 10:30] = True
  empty = np.zeros((H, W), bool)
  colours = overlay.PALETTE[:2]
  pic = overlay.legend_overlay(_frame(), [full, empty], colours, ["a", "b"], 1.0, "0/1",
                               confidences=[0.9, 0.1])
  top = H + 4 + 2  # The first swatch's top row (`legend_overlay`).
  # Inside the swatch, away from its diagonal: filled for a mask, background for none.
  assert pic[top + 3, 4 + 3].tolist() == list(colours[0])
  assert pic[top + overlay._LEGEND_LINE + 3, 4 + 3].tolist() == [0, 0, 0]
  # The empty swatch is still drawn: its outline in the sentence's colour.
  assert pic[top + overlay._LEGEND_LINE, 4 + 3].tolist() == list(colours[1])


def test_legend_overlay_shape_depends_on_frame_and_sentences_only():
  rng = np.random.default_rng(0)
  shapes = set()
  for masks in ([np.zeros((H, W), bool)] * 2, [np.ones((H, W), bool)] * 2,
                list(rng.random((2, H, W)) > 0.5)):
    pic = overlay.legend_overlay(_frame(), masks, overlay.PALETTE[:2],
                                 ["a very long sentence " * 5, "b"], 4.0, "7/9",
                                 confidences=[0.99, 0.0])
    shapes.add(pic.shape)
  assert len(shapes) == 1
  height, width, _ = shapes.pop()
  assert width == overlay.LEGEND_MIN_WIDTH > W * 4
  assert height % 2 == 0 and width % 2 == 0
  # Positional call as before (no confidences) gives the same shape.
  assert overlay.legend_overlay(_frame(), [np.ones((H, W), bool)] * 2,
                                overlay.PALETTE[:2], ["a", "b"], 4.0, "x").shape == (
                                    height, width, 3)


def test_font_is_scalable_with_and_without_matplotlib(monkeypatch):
  overlay.font.cache_clear()
  try:
    assert isinstance(overlay.font(12), ImageFont.FreeTypeFont)
    assert overlay.font(12).size == 12
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # As if not installed.
    overlay.font.cache_clear()
    assert overlay._dejavu_path() is None
    fnt = overlay.font(12)
    assert isinstance(fnt, ImageFont.FreeTypeFont) and fnt.size == 12
  finally:
    monkeypatch.undo()
    overlay.font.cache_clear()


def test_eval_overlay_has_a_key_above_the_frame():
  pred = np.zeros((H, W), bool)
  pred[5:20, 5:20] = True
  plain = overlay.overlay(_frame(), pred, pred, caption="x", scale=4)
  keyed = overlay.overlay(_frame(), pred, pred, caption="x", scale=4, key=True)
  assert keyed.width == plain.width and keyed.height > plain.height
  key = np.asarray(overlay.prediction_key(300))
  colours = {tuple(c) for c in key.reshape(-1, 3)}
  assert overlay.PRED_COLOUR in colours and overlay.GT_COLOUR in colours
  # The frame is the bottom of the picture: its last row is the frame's.
  assert np.asarray(keyed)[-1, 0].tolist() == [128, 128, 128]


def test_colour_bar_ends_are_the_colormap_ends():
  bar = np.asarray(overlay.colour_bar(200, title="attention"))
  x = 4 + overlay._BAR_WIDTH // 2
  assert bar[overlay._BAR_TOP, x].tolist() == overlay.colormap(1.0).tolist()
  bottom = 200 - overlay._BAR_BOTTOM - 1
  assert bar[bottom, x].tolist() == overlay.colormap(0.0).tolist()
  cell = overlay.overlay(_frame(), np.ones((H, W), bool))
  pic = overlay.with_colour_bar(cell, "attention")
  assert pic.height == H and pic.width == W + bar.shape[1]


def test_heat_maps_are_on_a_fixed_scale():
  zero = overlay.heat_overlay(_frame(200), np.zeros((4, 4)))
  one = overlay.heat_overlay(_frame(200), np.ones((4, 4)))
  assert zero.max() < 80 and one.min() > 150  # Zero is dark, whatever the range.


def _cmam(value):
  return {"cmam_s_0": {"weights": np.full(2, 0.5),
                       "maps": np.full((2, 4, 4), value, np.float32)}}


def test_words_picture_draws_a_flat_zero_map_dark():
  dark = np.asarray(explain.words_picture(_frame(200), ["a", "b"], _cmam(0.0), "t"))
  bright = np.asarray(explain.words_picture(_frame(200), ["a", "b"], _cmam(1.0), "t"))
  assert dark.shape == bright.shape
  # The word cells differ (the frame cell and the colour bar are the same in both):
  # 0.35 x grey 200 + 0.65 x colormap(0) where the map is 0.
  differ = np.abs(dark.astype(int) - bright).sum(-1) > 0
  assert differ.mean() > 0.2
  assert np.median(dark[differ]) < 80 and np.median(bright[differ]) > 150


def test_lasp_picture_draws_a_flat_zero_relevance_dark():
  def picture(value):
    lasp = {"lasp_5_4": {"relevance": np.full((4, 4), value, np.float32),
                         "fg_attention_indices": np.arange(4),
                         "bg_attention_indices": np.arange(4, 8)}}
    return np.asarray(explain.lasp_picture(_frame(200), np.zeros((H, W), bool),
                                           overlay.PALETTE[0], lasp, "t"))
  dark, bright = picture(0.0), picture(1.0)
  differ = np.abs(dark.astype(int) - bright).sum(-1) > 0
  assert differ.any()
  assert np.median(dark[differ]) < 80 and np.median(bright[differ]) > 150


def test_pick_best_median_worst_over_videos():
  #       0     1     2     3     4     5     6     7     8
  ious = [0.95, 0.90, 0.10, 0.50, 0.52, 0.05, 0.85, 0.48, 0.20]
  videos = ["a", "a", "b", "c", "c", "b", "d", "e", "f"]
  # 1 is the second best but of video "a" again, 2 the second worst but of "b" again;
  # the median IoU is 0.50: 3 itself, then 4 (of "c" again) gives way to 7.
  assert selection.pick(ious, videos, 6) == [
      ("best", 0), ("best", 6), ("median", 3), ("median", 7), ("worst", 5),
      ("worst", 8)]
  assert selection.pick(ious, videos, 3) == [("best", 0), ("median", 3), ("worst", 5)]


def test_pick_repeats_videos_only_when_needed_and_never_a_sample():
  # One video, more pictures than samples: the extremes first, each sample once.
  assert selection.pick([0.1, 0.9, 0.5, 0.7], ["v"] * 4, 6) == [
      ("best", 1), ("best", 3), ("worst", 0), ("worst", 2)]
  assert selection.pick([], [], 8) == []
  assert selection.group_sizes(8) == (3, 3, 2)
