"""DAVIS-2017 region similarity J and boundary F, per frame, sequence and benchmark.

Re-implemented from the definitions of davis2017-evaluation's `db_eval_iou` and
`db_eval_boundary` (docs/metrics.md), for Refer-YouTube-VOS and Refer-DAVIS: J and F
per (video, expression), averaged over the frames with ground truth, then over
expressions; J&F = (J + F) / 2. NumPy and cv2.
"""

import math
from typing import Any, Dict, Hashable, List, Mapping, Optional, Sequence, Tuple, Union

import cv2
import numpy as np

# DAVIS-2017 default boundary tolerance, as a fraction of the image diagonal.
BOUND_TH = 0.008

Mask = np.ndarray
FrameMasks = Union[np.ndarray, Sequence[np.ndarray], Mapping[Hashable, np.ndarray]]


# --------------------------------------------------------------------------------------
# DAVIS-2017 J and F (davis2017-evaluation, re-implemented from docs/metrics.md)
# --------------------------------------------------------------------------------------


def region_similarity(pred: Mask, gt: Mask, void: Optional[Mask] = None) -> float:
  """DAVIS J (`db_eval_iou`) of one frame: IoU of bool masks, 1 when the union is empty.

  No eps here, unlike the A2D per-sample IoU. DAVIS void pixels (GT label 255) must be
  stripped from `gt` by the caller and passed as `void`; they count for neither set.

  Args:
    pred: (H, W) predicted mask; non-zero = foreground.
    gt: (H, W) GT mask; non-zero = foreground.
    void: Optional (H, W) mask of pixels to ignore.

  Returns:
    J in [0, 1].
  """
  pred = np.asarray(pred).astype(bool)
  gt = np.asarray(gt).astype(bool)
  keep = np.ones_like(gt) if void is None else ~np.asarray(void).astype(bool)
  inter = np.count_nonzero(pred & gt & keep)
  union = np.count_nonzero((pred | gt) & keep)
  # Reference: j = inter / union, then j := 1 where union is 0 (np.isclose on counts).
  return 1.0 if union == 0 else inter / union


def boundary_tolerance_px(shape: Tuple[int, int], bound_th: float = BOUND_TH) -> float:
  """Dilation radius of the F measure: ceil(bound_th * ||(H, W)||), or bound_th if >= 1.

  480x854 gives 8 and 720x1280 gives 12.

  Args:
    shape: (H, W) of the frame.
    bound_th: Fraction of the diagonal if < 1, else a radius in pixels.

  Returns:
    The radius (a float, as in the reference, where it feeds `disk`).
  """
  if bound_th >= 1:
    return float(bound_th)
  return float(np.ceil(bound_th * np.linalg.norm(np.asarray(shape[:2], np.float64))))


def disk(radius: float) -> np.ndarray:
  """Disk structuring element, as `skimage.morphology.disk(radius)` (default arguments).

  Pixel (y, x) with offsets from -radius to radius (step 1) is set when x^2 + y^2 <= r^2.
  Written here so the F measure does not depend on scikit-image.

  Args:
    radius: Disk radius (the reference passes a float such as 8.0).

  Returns:
    uint8 array of shape (2r + 1, 2r + 1) for integer r.
  """
  # np.arange(-r, r + 1) as skimage does, so a float radius gives the same grid.
  offsets = np.arange(-radius, radius + 1)
  xx, yy = np.meshgrid(offsets, offsets)
  return (xx ** 2 + yy ** 2 <= radius ** 2).astype(np.uint8)


def boundary_map(mask: Mask) -> np.ndarray:
  """1-pixel boundary of a mask, as davis2017-evaluation's `_seg2bmap` at the same size.

  A pixel is a boundary pixel when it differs from its east, south or south-east
  neighbour (neighbours outside the image count as background). The last row only compares
  with the east neighbour, the last column only with the south neighbour, and the
  bottom-right pixel is never a boundary. (So a mask covering the whole frame has an empty
  boundary.) The resampling branch of `_seg2bmap` is never used by the evaluation and is
  not implemented.

  Args:
    mask: (H, W) mask; non-zero = foreground.

  Returns:
    (H, W) bool boundary map.
  """
  seg = np.asarray(mask).astype(bool)
  if seg.ndim != 2:
    raise ValueError(f'expected a (H, W) mask, got shape {seg.shape}')
  east = np.zeros_like(seg)
  south = np.zeros_like(seg)
  south_east = np.zeros_like(seg)
  east[:, :-1] = seg[:, 1:]
  south[:-1, :] = seg[1:, :]
  south_east[:-1, :-1] = seg[1:, 1:]
  bmap = (seg ^ east) | (seg ^ south) | (seg ^ south_east)
  # Border rules of the reference, applied in its order (row, then column, then corner).
  bmap[-1, :] = seg[-1, :] ^ east[-1, :]
  bmap[:, -1] = seg[:, -1] ^ south[:, -1]
  bmap[-1, -1] = False
  return bmap


def boundary_precision_recall(pred: Mask, gt: Mask, bound_th: float = BOUND_TH,
                              void: Optional[Mask] = None) -> Tuple[float, float]:
  """Boundary precision and recall of `boundary_f` (DAVIS `f_measure`).

  Args:
    pred: (H, W) predicted mask.
    gt: (H, W) GT mask.
    bound_th: Tolerance, fraction of the diagonal (< 1) or pixels (>= 1).
    void: Optional (H, W) mask of ignored pixels, removed from both masks before the
      boundaries are extracted.

  Returns:
    (precision, recall) with the reference's edge cases: no predicted boundary -> P = 1;
    no GT boundary -> R = 1; a missing boundary on one side only makes the other quantity 0.
  """
  pred = np.asarray(pred).astype(bool)
  gt = np.asarray(gt).astype(bool)
  if pred.shape != gt.shape:
    raise ValueError(f'pred {pred.shape} and gt {gt.shape} differ in shape')
  if void is not None:
    keep = ~np.asarray(void).astype(bool)
    pred, gt = pred & keep, gt & keep
  radius = boundary_tolerance_px(gt.shape, bound_th)
  pred_b = boundary_map(pred)
  gt_b = boundary_map(gt)
  # Reference: cv2.dilate with a skimage disk (uint8); cv2 also fixes the border handling.
  kernel = disk(radius)
  pred_dil = cv2.dilate(pred_b.astype(np.uint8), kernel) > 0
  gt_dil = cv2.dilate(gt_b.astype(np.uint8), kernel) > 0
  n_pred = int(np.count_nonzero(pred_b))
  n_gt = int(np.count_nonzero(gt_b))
  if n_pred == 0 and n_gt > 0:
    return 1.0, 0.0
  if n_pred > 0 and n_gt == 0:
    return 0.0, 1.0
  if n_pred == 0 and n_gt == 0:
    return 1.0, 1.0
  precision = np.count_nonzero(pred_b & gt_dil) / n_pred
  recall = np.count_nonzero(gt_b & pred_dil) / n_gt
  return float(precision), float(recall)


def boundary_f(pred: Mask, gt: Mask, bound_th: float = BOUND_TH,
               void: Optional[Mask] = None) -> float:
  """DAVIS F (`db_eval_boundary`) of one frame: F = 2PR / (P + R) of boundary matching.

  Boundaries come from `boundary_map`; a predicted boundary pixel is matched if a GT
  boundary pixel lies within the disk of radius `boundary_tolerance_px` (and vice versa).

  Args:
    pred: (H, W) predicted mask; non-zero = foreground.
    gt: (H, W) GT mask; non-zero = foreground.
    bound_th: Tolerance: fraction of the image diagonal if < 1 (default 0.008, i.e. 8 px at
      480x854), else pixels.
    void: Optional (H, W) mask of ignored pixels.

  Returns:
    F in [0, 1]; 1 when neither mask has a boundary, 0 when only one has.
  """
  precision, recall = boundary_precision_recall(pred, gt, bound_th, void)
  if precision + recall == 0:
    return 0.0
  return 2 * precision * recall / (precision + recall)


def db_statistics(per_frame_values) -> Dict[str, float]:
  """DAVIS per-object statistics of a per-frame J or F sequence (`db_statistics`).

  Args:
    per_frame_values: (N,) per-frame values; NaN frames are skipped by the means.

  Returns:
    {'mean': nanmean, 'recall': fraction of frames > 0.5, 'decay': mean of the first
    quarter minus mean of the last quarter}. As in the reference: recall is the nanmean of
    the boolean `values > 0.5`, so NaN frames count as misses; the quarter boundaries are
    round(linspace(1, N, 5) + 1e-10) - 1 cast to uint8 (wrapping modulo 256 for N > 256,
    replicated deterministically here), and bin i spans [ids[i], ids[i+1]] inclusive, so
    neighbouring bins share a frame.
  """
  values = np.asarray(per_frame_values, dtype=np.float64).reshape(-1)
  if values.size == 0:
    return {'mean': math.nan, 'recall': math.nan, 'decay': math.nan}
  with np.errstate(invalid='ignore'):
    mean = _nanmean(values)
    recall = float(np.mean(values > 0.5))  # booleans: never NaN, NaN > 0.5 is False.
  ids = np.round(np.linspace(1, values.size, 5) + 1e-10) - 1
  # The reference casts the float ids straight to uint8; an out-of-range float-to-uint8 cast
  # is platform-dependent in NumPy, so wrap through int64 to get the x86 result reliably.
  ids = (ids.astype(np.int64) % 256).astype(np.int64)
  bins = [values[ids[i]:ids[i + 1] + 1] for i in range(4)]
  decay = _nanmean(bins[0]) - _nanmean(bins[3])
  return {'mean': mean, 'recall': recall, 'decay': float(decay)}


def _nanmean(values: np.ndarray) -> float:
  """np.nanmean without the all-NaN RuntimeWarning (returns NaN then, as the reference)."""
  finite = values[~np.isnan(values)]
  return float(finite.mean()) if finite.size else math.nan


def _frame_pairs(preds: FrameMasks,
                 gts: FrameMasks) -> List[Tuple[np.ndarray, np.ndarray]]:
  """Aligns predicted and GT frames; GT mappings select the frames that are scored."""
  if isinstance(gts, Mapping):
    if not isinstance(preds, Mapping):
      raise TypeError('GT frames are a mapping, so predictions must be one too')
    missing = [k for k in gts if k not in preds]
    if missing:
      raise KeyError(f'no prediction for GT frames {missing[:5]}')
    return [(np.asarray(preds[k]), np.asarray(gts[k])) for k in gts]
  preds_list = list(preds)
  gts_list = list(gts)
  if len(preds_list) != len(gts_list):
    raise ValueError(f'{len(preds_list)} predicted frames for {len(gts_list)} GT frames')
  return [(np.asarray(p), np.asarray(g)) for p, g in zip(preds_list, gts_list)]


def sequence_j_f(preds: FrameMasks, gts: FrameMasks, voids: Optional[FrameMasks] = None,
                 bound_th: float = BOUND_TH) -> Tuple[np.ndarray, np.ndarray]:
  """Per-frame J and F of one (video, expression) or (sequence, object).

  Args:
    preds: Predicted masks: a (T, H, W) array, a sequence of (H, W) arrays, or a mapping
      frame_id -> (H, W) mask.
    gts: GT masks in the same form. Only the GT frames are scored (Ref-YouTube-VOS has GT on
      every 5th frame): with mappings, every key of `gts` must be in `preds`.
    voids: Optional void masks in the same form as `gts`.
    bound_th: F tolerance (see `boundary_f`).

  Returns:
    (j, f): two (T_gt,) float64 arrays.
  """
  pairs = _frame_pairs(preds, gts)
  if voids is None:
    void_list = [None] * len(pairs)
  elif isinstance(voids, Mapping):
    void_list = [np.asarray(voids[k]) for k in gts]
  else:
    void_list = [np.asarray(v) for v in voids]
  j = np.array([region_similarity(p, g, v) for (p, g), v in zip(pairs, void_list)],
               dtype=np.float64)
  f = np.array([boundary_f(p, g, bound_th, v) for (p, g), v in zip(pairs, void_list)],
               dtype=np.float64)
  return j, f


def average_expressions(per_expression: Mapping[Hashable, Tuple[float, float]]
                        ) -> Dict[str, Any]:
  """Offline Ref-YouTube-VOS / MeViS protocol: J, F and J&F averaged over expressions.

  Args:
    per_expression: (video, expression) -> (j, f), each already averaged over frames.

  Returns:
    {'J': mean j, 'F': mean f, 'J&F': (J + F) / 2, 'num_expressions': count}.
  """
  if not per_expression:
    return {'J': math.nan, 'F': math.nan, 'J&F': math.nan, 'num_expressions': 0}
  jf = np.asarray(list(per_expression.values()), dtype=np.float64)  # (E, 2)
  j_mean, f_mean = float(jf[:, 0].mean()), float(jf[:, 1].mean())
  return {'J': j_mean, 'F': f_mean, 'J&F': (j_mean + f_mean) / 2,
          'num_expressions': int(jf.shape[0])}


class VideoEvaluator:
  """Accumulates per-(video, expression) J and F for the video benchmarks.

  `add` scores every GT frame of one expression; `compute` averages over frames, then over
  expressions (docs/metrics.md, offline equivalent of the Ref-YouTube-VOS server), and can
  add DAVIS-style per-object recall and decay averages.
  """

  def __init__(self, bound_th: float = BOUND_TH):
    """Initialises an empty evaluator.

    Args:
      bound_th: F tolerance (see `boundary_f`).
    """
    self.bound_th = bound_th
    self.per_frame: Dict[Tuple[Hashable, Hashable], Tuple[np.ndarray, np.ndarray]] = {}

  def add(self, video_id: Hashable, exp_id: Hashable, preds: FrameMasks, gts: FrameMasks,
          voids: Optional[FrameMasks] = None) -> Tuple[float, float]:
    """Scores one (video, expression) and stores its per-frame J and F.

    Args:
      video_id: Video identifier.
      exp_id: Expression (or object) identifier within the video.
      preds: Predicted masks (see `sequence_j_f`).
      gts: GT masks of the frames that have GT.
      voids: Optional void masks.

    Returns:
      (j, f) of this expression, each the mean over its GT frames.
    """
    key = (video_id, exp_id)
    if key in self.per_frame:
      raise ValueError(f'{key} was already added')
    j, f = sequence_j_f(preds, gts, voids, self.bound_th)
    self.per_frame[key] = (j, f)
    return _nanmean(j), _nanmean(f)

  def per_expression(self) -> Dict[Tuple[Hashable, Hashable], Tuple[float, float]]:
    """(video, expression) -> (j, f) averaged over frames."""
    return {k: (_nanmean(j), _nanmean(f)) for k, (j, f) in self.per_frame.items()}

  def compute(self, statistics: bool = False) -> Dict[str, Any]:
    """J, F, J&F over expressions; optionally DAVIS recall / decay averages too.

    Args:
      statistics: Add 'J-Recall', 'J-Decay', 'F-Recall', 'F-Decay', each the mean over
        expressions of `db_statistics` of the per-frame values.

    Returns:
      Results dict (fractions in [0, 1] and 'num_expressions').
    """
    results = average_expressions(self.per_expression())
    if statistics and self.per_frame:
      for name, index in (('J', 0), ('F', 1)):
        stats = [db_statistics(v[index]) for v in self.per_frame.values()]
        results[f'{name}-Recall'] = float(np.mean([s['recall'] for s in stats]))
        results[f'{name}-Decay'] = float(np.mean([s['decay'] for s in stats]))
    return results
