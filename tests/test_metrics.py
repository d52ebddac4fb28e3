"""Tests of rvs_jax.evaluation and rvs_jax.resize_np on hand-worked cases.

Expected values are derived in the comments from the definitions in docs/metrics.md, not
from running the code.
"""

import math

import numpy as np
import pytest

from rvs_jax.evaluation import davis, iou, protocols, report
from rvs_jax import resize_np

EPS = 1e-6


def _square(shape, top, left, size):
  mask = np.zeros(shape, dtype=bool)
  mask[top:top + size, left:left + size] = True
  return mask


# --------------------------------------------------------------------------------------
# Per-sample IoU and its aggregates
# --------------------------------------------------------------------------------------


def test_sample_iou_hand_cases():
  pred = np.array([[1, 1], [0, 0]], dtype=np.uint8)
  gt = np.array([[1, 0], [0, 0]], dtype=bool)
  assert iou.intersection_union(pred, gt) == (1, 2)
  assert iou.sample_iou(pred, gt) == pytest.approx((1 + EPS) / (2 + EPS), abs=0)
  # Empty prediction on empty GT: (0 + eps) / (0 + eps) = 1 exactly.
  empty = np.zeros((4, 4), bool)
  assert iou.sample_iou(empty, empty) == 1.0
  # Empty prediction on a 3-pixel GT: eps / (3 + eps), essentially 0.
  gt3 = np.zeros((4, 4), bool)
  gt3[0, :3] = True
  assert iou.sample_iou(empty, gt3) == pytest.approx(EPS / (3 + EPS), rel=1e-12)
  assert iou.sample_iou(empty, gt3) < 1e-6
  with pytest.raises(ValueError):
    iou.sample_iou(np.zeros((2, 3)), np.zeros((3, 2)))


def test_precision_at_uses_ge_at_exact_boundary():
  ious = [0.5, 0.4999999, 0.9]
  # >= (CSTM): 0.5 and 0.9 reach 0.5; only 0.9 reaches 0.9.
  np.testing.assert_allclose(iou.precision_at(ious, (0.5, 0.9)), [2 / 3, 1 / 3])
  # > (MTTR): IoU exactly 0.5 does not count at 0.5, exactly 0.9 not at 0.9.
  np.testing.assert_allclose(iou.precision_at(ious, (0.5, 0.9), strict=True),
                             [1 / 3, 0])
  # With eps, I/U = 1/2 gives (1 + eps) / (2 + eps) > 0.5: it counts under both conventions.
  assert iou.iou_from_counts(1, 2) > 0.5


def test_mp_map_hand_list():
  ious = [1.0, 0.5, 0.74, 0.96, 0.0]
  # Samples with IoU >= t for t = .50 .55 .60 .65 .70 .75 .80 .85 .90 .95:
  #                             4   3   3   3   3   2   2   2   2   2  -> sum 26.
  assert iou.mp_map(ious) == pytest.approx(26 / 50)
  # Strict: 0.5 no longer counts at t = .50 -> sum 25.
  assert iou.mp_map(ious, strict=True) == pytest.approx(25 / 50)
  # IoU exactly 0.6 counts at 0.50, 0.55 and 0.60 (thresholds are exact decimals, not
  # np.arange's 0.6000000000000001).
  assert iou.mp_map([0.6]) == pytest.approx(0.3)
  assert iou.MAP_THRESHOLDS == (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)


def test_aggregate_oiou_differs_from_miou():
  # Sample A: I = 1, U = 2 (IoU ~0.5); sample B: I = 90, U = 100 (IoU ~0.9).
  res = iou.aggregate_iou_metrics([1, 90], [2, 100])
  iou_a, iou_b = (1 + EPS) / (2 + EPS), (90 + EPS) / (100 + EPS)
  assert res['mIoU'] == pytest.approx((iou_a + iou_b) / 2)  # ~0.70
  assert res['oIoU'] == pytest.approx(91 / 102)  # ~0.892: dominated by the large sample.
  assert res['oIoU'] - res['mIoU'] > 0.19
  # Both are >= 0.5 (eps pushes A just above), only B reaches 0.6 ... 0.9.
  assert res['P@0.5'] == 1.0
  for key in ('P@0.6', 'P@0.7', 'P@0.8', 'P@0.9'):
    assert res[key] == 0.5
  # MP-mAP: 2 samples at 0.50..0.90 (9 thresholds, 0.5 with A), ... per threshold:
  # t = .50: 2/2; .55 ... .90: 1/2 (8 thresholds); .95: 0 -> (1 + 4) / 10.
  assert res['mAP'] == pytest.approx(0.5)
  assert res['num_samples'] == 2


def test_accumulator_keeps_pixel_counts_and_aggregates():
  acc = protocols.IoUAccumulator()
  shape = (10, 10)
  gt = _square(shape, 2, 2, 4)  # 16 px
  pred = _square(shape, 2, 2, 2)  # 4 px inside the GT: I = 4, U = 16.
  acc.add(pred, gt, score=0.9, sample_id='a')
  acc.add(gt, gt, score=0.8, sample_id='b')  # I = U = 16.
  assert acc.intersections == [4, 16]
  assert acc.unions == [16, 16]
  res = acc.compute()
  assert res['oIoU'] == pytest.approx(20 / 32)
  assert res['mIoU'] == pytest.approx(((4 + EPS) / (16 + EPS) + 1) / 2)
  assert res['P@0.5'] == 0.5
  # COCO: two GTs; ranked a (IoU .25: FP at every t) then b (TP): recall (0, 1/2),
  # precision (0, 1/2), interpolated 1/2 up to recall 0.50 (51 of 101 points), then 0.
  assert res['mAP_coco'] == pytest.approx(51 * 0.5 / 101)
  records = acc.per_sample()
  assert records[0]['sample_id'] == 'a' and records[0]['union'] == 16
  # Aggregates recomputed from the stored counts alone agree.
  again = iou.aggregate_iou_metrics(acc.intersections, acc.unions)
  assert again['oIoU'] == res['oIoU'] and again['mIoU'] == res['mIoU']


# --------------------------------------------------------------------------------------
# COCO-kind mAP
# --------------------------------------------------------------------------------------


def _coco_cases(ious01, shape=(8, 8)):
  """Per-sample (pred, gt) with IoU exactly 1 (True) or 0 (False)."""
  gts, preds = [], []
  for k, hit in enumerate(ious01):
    gt = _square(shape, k % 4, 0, 3)
    gts.append(gt)
    preds.append(gt.copy() if hit else _square(shape, k % 4, 4, 3))
  return preds, gts


def test_coco_ap_perfect_and_zero():
  preds, gts = _coco_cases([True] * 4)
  assert iou.coco_segm_ap(preds, gts)['mAP_coco'] == pytest.approx(1.0)
  preds, gts = _coco_cases([False] * 4)
  assert iou.coco_segm_ap(preds, gts)['mAP_coco'] == pytest.approx(0.0)


def test_coco_ap_101_point_interpolation():
  preds, gts = _coco_cases([True, False, True])
  # Ranked TP, FP, TP: recall (1/3, 1/3, 2/3), precision (1, 1/2, 2/3) -> interpolated
  # (1, 2/3, 2/3). Recall points 0.00..0.33 (34) get 1, 0.34..0.66 (33) get 2/3, 0.67..1.00
  # (34) get 0: AP = (34 + 22) / 101 at every IoU threshold.
  ap = iou.coco_segm_ap(preds, gts, scores=[0.9, 0.8, 0.7])
  assert ap['mAP_coco'] == pytest.approx(56 / 101)
  # Same masks, the miss ranked first: FP, TP, TP: recall (0, 1/3, 2/3), precision
  # (0, 1/2, 2/3) -> interpolated 2/3 everywhere up to recall 2/3 (67 points): 44.67 / 101.
  ap = iou.coco_segm_ap(preds, gts, scores=[0.9, 0.95, 0.7])
  assert ap['mAP_coco'] == pytest.approx(67 * (2 / 3) / 101)


def test_coco_ap_iou_threshold_sweep_and_empty_masks():
  gt = _square((10, 10), 0, 0, 5)  # 25 px
  pred = gt.copy()
  pred.flat[np.flatnonzero(gt)[18:]] = False  # 18 px inside the GT: IoU = 18/25 = 0.72.
  assert iou.intersection_union(pred, gt) == (18, 25)
  ap = iou.coco_segm_ap([pred], [gt])
  # Matched at t = .50 ... .70 (5 of 10 thresholds), AP 1 there, 0 elsewhere.
  assert ap['mAP_coco'] == pytest.approx(0.5)
  assert ap['AP50_coco'] == pytest.approx(1.0)
  assert ap['AP75_coco'] == pytest.approx(0.0)
  assert iou.mp_map([iou.sample_iou(pred, gt)]) == pytest.approx(0.5)
  # pycocotools' IoU has no eps: empty on empty is a miss there, although IoU = 1 here.
  empty = np.zeros((6, 6), bool)
  assert iou.coco_segm_ap([empty], [empty])['mAP_coco'] == pytest.approx(0.0)
  assert iou.sample_iou(empty, empty) == 1.0


# --------------------------------------------------------------------------------------
# Protocols and the align_corners GT round trip
# --------------------------------------------------------------------------------------


def test_resize_align_corners_hand_case():
  x = np.array([[0, 1, 0]], np.float32)
  # align_corners: output k samples input position k * (3 - 1) / (5 - 1) = k / 2.
  np.testing.assert_allclose(resize_np.resize_align_corners(x, (1, 5)),
                             [[0, 0.5, 1, 0.5, 0]])
  # > 0 -> 1 dilates the single pixel to three.
  np.testing.assert_array_equal(resize_np.resize_mask_align_corners(x, (1, 5)),
                                [[0, 1, 1, 1, 0]])
  # float32 index arithmetic, as torch. 206 -> 320: output k samples k * 205 / 319, and
  # column 204 has a non-zero weight when that lies strictly between 203 and 205, i.e.
  # k = 316, 317, 318. But float32(205 / 319) * 319 = 204.99998, not 205, so column 204 also
  # leaks into k = 319 with a weight of ~1.5e-5, which > 0 keeps.
  col = np.zeros((1, 206), np.float32)
  col[0, 204] = 1
  small = resize_np.resize_mask_align_corners(col, (1, 320))
  np.testing.assert_array_equal(np.flatnonzero(small[0]), [316, 317, 318, 319])
  # Same size: copied.
  m = np.random.default_rng(0).random((6, 7)) > 0.5
  np.testing.assert_array_equal(resize_np.resize_mask_align_corners(m, (6, 7)), m)


def test_resize_align_corners_matches_torch():
  torch = pytest.importorskip('torch')
  functional = pytest.importorskip('torch.nn.functional')
  rng = np.random.default_rng(1)
  for h, w in ((320, 426), (240, 320), (13, 7), (320, 569)):
    mask = (rng.random((h, w)) < 0.03).astype(np.uint8)
    ref = functional.interpolate(torch.from_numpy(mask).float()[None, None], (320, 320),
                                 mode='bilinear', align_corners=True)[0, 0].numpy()
    np.testing.assert_allclose(resize_np.resize_align_corners(mask, (320, 320)), ref,
                               atol=1e-6)
    np.testing.assert_array_equal(resize_np.resize_mask_align_corners(mask),
                                  (ref > 0).astype(np.uint8))
  # Alternating columns expose every output whose source position float32 rounding moves
  # off (or onto) an integer; 206 and 221 are widths where float64 arithmetic would differ.
  for w in (206, 221):
    for parity in (0, 1):
      mask = np.zeros((4, w), np.float32)
      mask[:, parity::2] = 1
      ref = functional.interpolate(torch.from_numpy(mask)[None, None], (4, 320),
                                   mode='bilinear', align_corners=True)[0, 0].numpy()
      np.testing.assert_array_equal(resize_np.resize_mask_align_corners(mask, (4, 320)),
                                    (ref > 0).astype(np.uint8))


def test_relative_threshold_cstm_vs_clean():
  prob = np.full((320, 320), 0.05, np.float32)
  prob[100:140, 100:140] = 0.2  # A low-confidence response: max 0.2 < 0.5.
  gt = np.zeros((320, 426), bool)
  gt[100:140, 133:186] = True
  cstm = protocols.binarize_and_score(prob, gt, 'cstm')
  clean = protocols.binarize_and_score(prob, gt, 'clean')
  # CSTM keeps sigmoid*255 > 0.5 * max: the 0.2 block survives (0.05 < 0.1 does not).
  assert cstm.pred.shape == (320, 426) and cstm.pred.any()
  assert cstm.iou > 0.9
  # Clean thresholds at 0.5: nothing.
  assert not clean.pred.any()
  assert clean.iou < 1e-6
  # The relative threshold ignores the scale of the map.
  again = protocols.binarize_and_score(prob * 3, gt, 'cstm')
  np.testing.assert_array_equal(again.pred, cstm.pred)
  with pytest.raises(ValueError):
    protocols.binarize_and_score(prob, gt, 'nope')


def test_cstm_scores_against_round_tripped_gt():
  gt = np.zeros((320, 426), np.uint8)
  gt[50:201, 77:300] = 1
  gt_small = resize_np.resize_mask_align_corners(gt)  # (320, 320) 0/1
  # Rows: 320 -> 320 is a copy (rows 50-200). Columns: output k samples k * 425 / 319 and is
  # set when that lies strictly between 76 and 300 (a non-zero weight on columns 77-299):
  # k = 58 (77.27) ... 225 (299.76), 168 columns where 223 * 319 / 425 = 167.4 would scale.
  assert gt_small.shape == (320, 320)
  np.testing.assert_array_equal(np.flatnonzero(gt_small.any(axis=0)), np.arange(58, 226))
  np.testing.assert_array_equal(np.flatnonzero(gt_small.any(axis=1)), np.arange(50, 201))
  assert gt_small.sum() == 151 * 168
  # A prediction equal to the pipeline's GT is perfect under 'cstm' (it is scored against
  # the same round trip), but not under 'clean' (scored against the raw GT).
  prob = gt_small.astype(np.float32) * 0.9 + 0.05
  cstm = protocols.binarize_and_score(prob, gt, 'cstm')
  assert cstm.intersection == cstm.union and cstm.iou == 1.0
  np.testing.assert_array_equal(cstm.gt, protocols.cstm_gt(gt))
  assert cstm.gt.sum() > gt.sum()  # The resampled GT is larger than the raw one.
  clean = protocols.binarize_and_score(prob, gt, 'clean')
  assert 0.95 < clean.iou < 1.0
  # Score used for COCO ranking: mean probability inside the 320x320 mask.
  assert cstm.score == pytest.approx(0.95)
  # Precomputed pipeline GT gives the same result.
  assert protocols.binarize_and_score(prob, gt, 'cstm', gt_small=gt_small).iou == 1.0


def test_accumulator_add_prob():
  acc = protocols.IoUAccumulator()
  gt = np.zeros((240, 320), np.uint8)
  gt[60:180, 80:240] = 1
  prob = resize_np.resize_align_corners(gt.astype(np.float32), (320, 320))
  for protocol in protocols.PROTOCOLS:
    acc.add_prob(prob, gt, protocol, sample_id=protocol)
  res = acc.compute()
  assert res['num_samples'] == 2 and res['mIoU'] > 0.95 and res['P@0.9'] == 1.0


# --------------------------------------------------------------------------------------
# DAVIS J and F
# --------------------------------------------------------------------------------------


def test_region_similarity():
  empty = np.zeros((4, 4), bool)
  assert davis.region_similarity(empty, empty) == 1.0  # Union 0 -> 1 (no eps).
  pred = _square((4, 4), 0, 0, 2)  # columns 0-1
  gt = _square((4, 4), 0, 1, 2)  # columns 1-2: I = 2, U = 6.
  assert davis.region_similarity(pred, gt) == pytest.approx(1 / 3)
  void = np.zeros((4, 4), bool)
  void[:, 0] = True  # Ignores pred's own column: I = 2, U = 4.
  assert davis.region_similarity(pred, gt, void) == pytest.approx(0.5)
  assert davis.region_similarity(empty, gt) == 0.0


def test_boundary_tolerance_and_disk():
  assert davis.boundary_tolerance_px((480, 854)) == 8  # ceil(7.84)
  assert davis.boundary_tolerance_px((720, 1280)) == 12  # ceil(11.75)
  assert davis.boundary_tolerance_px((480, 854), bound_th=3) == 3  # >= 1: pixels.
  assert davis.boundary_tolerance_px((100, 100)) == 2  # ceil(1.13), not round.
  np.testing.assert_array_equal(davis.disk(1), [[0, 1, 0], [1, 1, 1], [0, 1, 0]])
  np.testing.assert_array_equal(davis.disk(2), [[0, 0, 1, 0, 0],
                                                  [0, 1, 1, 1, 0],
                                                  [1, 1, 1, 1, 1],
                                                  [0, 1, 1, 1, 0],
                                                  [0, 0, 1, 0, 0]])
  d8 = davis.disk(8.0)  # the reference passes a float radius
  assert d8.dtype == np.uint8 and d8.shape == (17, 17)
  assert d8.sum() == 197  # Gauss circle count N(8).


def test_boundary_map_hand_square():
  # 3x3 square at rows 3-5, columns 3-5 of a 10x10 frame. Boundary pixels differ from an
  # E, S or SE neighbour: outside, row 2 columns 2-5 and column 2 rows 3-5; inside, the
  # last row and last column of the square. 12 pixels.
  b = davis.boundary_map(_square((10, 10), 3, 3, 3))
  expected = np.zeros((10, 10), bool)
  expected[2, 2:6] = True
  expected[5, 2:6] = True
  expected[3:5, 2] = True
  expected[3:5, 5] = True
  np.testing.assert_array_equal(b, expected)
  # A mask covering the whole frame has no boundary (last row / column rules).
  assert not davis.boundary_map(np.ones((5, 6), bool)).any()
  # Foreground in the last column: only the south comparison counts there.
  m = np.zeros((4, 4), bool)
  m[1:3, 3] = True
  exp = np.zeros((4, 4), bool)
  exp[0:3, 2] = True  # west of the object (E or SE neighbour inside)
  exp[0, 3] = True  # above it: S neighbour inside
  exp[2, 3] = True  # its last pixel: S neighbour outside
  np.testing.assert_array_equal(davis.boundary_map(m), exp)


def test_boundary_f_shifted_square():
  gt = _square((10, 10), 3, 3, 3)
  shifted = _square((10, 10), 3, 4, 3)
  # No tolerance (bound_th = 0 -> radius 0): boundaries overlap on row 2 and row 5 columns
  # 3-5, 6 of 12 pixels each way -> P = R = F = 0.5.
  assert davis.boundary_precision_recall(shifted, gt, bound_th=0) == (0.5, 0.5)
  assert davis.boundary_f(shifted, gt, bound_th=0) == pytest.approx(0.5)
  # Radius 1 (a cross) covers a 1-pixel shift entirely.
  assert davis.boundary_f(shifted, gt, bound_th=1) == pytest.approx(1.0)
  # Shift by 3 with radius 1: 6 of 12 pixels matched each way (columns 5-6 of the shifted
  # outline near column 5 of the original, and vice versa).
  far = _square((10, 10), 3, 6, 3)
  assert davis.boundary_precision_recall(far, gt, bound_th=1) == (0.5, 0.5)


def test_boundary_f_edge_cases():
  empty = np.zeros((12, 12), bool)
  sq = _square((12, 12), 4, 4, 3)
  assert davis.boundary_f(empty, empty) == 1.0  # P = R = 1.
  assert davis.boundary_precision_recall(empty, sq) == (1.0, 0.0)
  assert davis.boundary_f(empty, sq) == 0.0
  assert davis.boundary_precision_recall(sq, empty) == (0.0, 1.0)
  assert davis.boundary_f(sq, empty) == 0.0
  # Quirk of _seg2bmap: full-frame vs empty has no boundary on either side -> F = 1.
  assert davis.boundary_f(np.ones((12, 12), bool), empty) == 1.0
  # Void removes an extra blob of the prediction before boundaries are taken.
  pred = sq.copy()
  pred[0:2, 9:11] = True
  void = np.zeros_like(sq)
  void[0:3, 8:12] = True
  assert davis.boundary_f(pred, sq) < 1.0
  assert davis.boundary_f(pred, sq, void=void) == 1.0


def _brute_force_f(pred, gt, radius):
  """Independent F: loop-defined boundaries, Euclidean matching within the radius."""
  def bmap(m):
    h, w = m.shape
    out = np.zeros_like(m)
    for i in range(h):
      for j in range(w):
        nb = lambda a, b: m[a, b] if a < h and b < w else False  # noqa: E731
        if i == h - 1 and j == w - 1:
          continue
        if i == h - 1:
          out[i, j] = m[i, j] != nb(i, j + 1)
        elif j == w - 1:
          out[i, j] = m[i, j] != nb(i + 1, j)
        else:
          out[i, j] = any(m[i, j] != nb(a, b) for a, b in ((i, j + 1), (i + 1, j),
                                                          (i + 1, j + 1)))
    return out

  def matched(src, dst):
    ps, pd = np.argwhere(src), np.argwhere(dst)
    if len(pd) == 0:
      return 0
    d2 = ((ps[:, None, :] - pd[None, :, :]) ** 2).sum(-1)
    return int((d2.min(axis=1) <= radius ** 2).sum())

  bp, bg = bmap(pred), bmap(gt)
  p = matched(bp, bg) / bp.sum()
  r = matched(bg, bp) / bg.sum()
  return 0.0 if p + r == 0 else 2 * p * r / (p + r)


def test_boundary_f_matches_brute_force_on_random_blobs():
  rng = np.random.default_rng(3)
  for _ in range(4):
    shape = (30, 41)
    gt = np.zeros(shape, bool)
    pred = np.zeros(shape, bool)
    for m in (gt, pred):
      for _ in range(3):
        r, c = rng.integers(0, 25), rng.integers(0, 36)
        m[r:r + rng.integers(2, 9), c:c + rng.integers(2, 9)] = True
    radius = davis.boundary_tolerance_px(shape, 0.05)  # ceil(0.05 * 50.8) = 3
    assert radius == 3
    assert davis.boundary_f(pred, gt, 0.05) == pytest.approx(
        _brute_force_f(pred, gt, radius))


# --------------------------------------------------------------------------------------
# Video benchmarks
# --------------------------------------------------------------------------------------


def test_db_statistics():
  values = [1.0, 0.8, 0.6, 0.4, 0.2, 0.0, 0.0, 0.0]
  stats = davis.db_statistics(values)
  assert stats['mean'] == pytest.approx(3.0 / 8)
  assert stats['recall'] == pytest.approx(3 / 8)  # 1.0, 0.8, 0.6
  # N = 8: ids = round(linspace(1, 8, 5) + 1e-10) - 1 = [0, 2, 4, 5, 7]; bins are inclusive
  # of their end: bin 1 = values[0:3] (mean 0.8), bin 4 = values[5:8] (mean 0).
  assert stats['decay'] == pytest.approx(0.8)
  # NaN frames: skipped by the mean, counted as misses by the recall.
  stats = davis.db_statistics([math.nan, 1.0, 0.2])
  assert stats['mean'] == pytest.approx(0.6)
  assert stats['recall'] == pytest.approx(1 / 3)
  # N = 300: the uint8 cast wraps the last id (299 -> 43), bin 4 is empty -> decay NaN.
  assert math.isnan(davis.db_statistics(np.linspace(1, 0, 300))['decay'])
  assert davis.db_statistics(np.linspace(1, 0, 256))['decay'] > 0.7


def test_video_evaluator_averages_over_expressions():
  shape = (16, 16)
  obj = _square(shape, 4, 4, 6)
  empty = np.zeros(shape, bool)
  ev = davis.VideoEvaluator()
  # Expression A: one GT frame, perfect (j = f = 1).
  assert ev.add('v1', 0, [obj], [obj]) == (1.0, 1.0)
  # Expression B: three GT frames, one perfect, two missed (j = f = 1/3).
  j, f = ev.add('v2', 0, np.stack([obj, empty, empty]), np.stack([obj, obj, obj]))
  assert j == pytest.approx(1 / 3) and f == pytest.approx(1 / 3)
  res = ev.compute(statistics=True)
  # Averaged over expressions (2/3), not over frames (2/4).
  assert res['J'] == pytest.approx(2 / 3)
  assert res['F'] == pytest.approx(2 / 3)
  assert res['J&F'] == pytest.approx(2 / 3)
  assert res['num_expressions'] == 2
  assert res['J-Recall'] == pytest.approx((1 + 1 / 3) / 2)
  with pytest.raises(ValueError):
    ev.add('v1', 0, [obj], [obj])


def test_sequence_j_f_scores_only_gt_frames():
  shape = (12, 12)
  obj = _square(shape, 2, 2, 5)
  preds = {'00000': obj, '00001': np.zeros(shape, bool), '00005': obj}
  gts = {'00000': obj, '00005': obj}  # GT every 5th frame; frame 1 is not scored.
  j, f = davis.sequence_j_f(preds, gts)
  np.testing.assert_array_equal(j, [1.0, 1.0])
  np.testing.assert_array_equal(f, [1.0, 1.0])
  with pytest.raises(KeyError):
    davis.sequence_j_f({'00000': obj}, gts)


def test_format_results():
  res = iou.aggregate_iou_metrics([1, 90], [2, 100])
  res['mAP_coco'] = math.nan
  table = report.format_results(res, title='A2D')
  lines = table.splitlines()
  assert lines[0] == 'A2D' and len(lines) == 4
  assert lines[1].index('P@0.5') < lines[1].index('mAP') < lines[1].index('num_samples')
  cells = [c.strip() for c in lines[3].strip('|').split('|')]
  header = [c.strip() for c in lines[1].strip('|').split('|')]
  row = dict(zip(header, cells))
  assert row['P@0.5'] == '100.00'
  assert row['oIoU'] == f'{91 / 102 * 100:.2f}'
  assert row['num_samples'] == '2'
  assert row['mAP_coco'] == 'nan'
