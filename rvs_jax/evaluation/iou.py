"""Per-sample IoU, precision P@X, the MP-kind and COCO-kind mAP (docs/metrics.md).

The frame-level benchmarks (A2D Sentences, J-HMDB Sentences) report, from one IoU per
sample: P@0.5..0.9, the mAP of the MP / CSTM papers (mean of P@0.50:0.05:0.95), overall
IoU (summed intersections over summed unions) and mean IoU; the MTTR / ReferFormer family
reports a COCO-kind mAP through pycocotools instead. NumPy only.
"""

import contextlib
import io
import math
from typing import Any, Dict, Optional, Sequence, Tuple

import numpy as np
from pycocotools import coco as coco_lib
from pycocotools import cocoeval
from pycocotools import mask as mask_utils

# Smoothing term of the per-sample IoU; all repos (CSTM `SMOOTH`, LBDT, MTTR) use 1e-6, so an
# empty prediction on an empty GT scores 1.
IOU_EPS = 1e-6

# P@X thresholds reported by every paper of the field.
PRECISION_THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9)

# MP-kind mAP thresholds 0.50:0.05:0.95. Rounded to two decimals on purpose: np.arange(0.5,
# 1, 0.05) gives 0.6000000000000001 etc., which would make an IoU of exactly 0.6 fail `>=`.
# The reference code's exact float thresholds are not documented; with the eps-smoothed IoU
# no real sample lands within 1e-16 of a threshold, so both choices give the same numbers.
MAP_THRESHOLDS = tuple(round(0.5 + 0.05 * k, 2) for k in range(10))

# COCO category id of the single dummy class used for the COCO-kind mAP.
_COCO_CATEGORY = 1

Mask = np.ndarray


# --------------------------------------------------------------------------------------
# Per-sample IoU (A2D-Sentences / J-HMDB-Sentences)
# --------------------------------------------------------------------------------------


def intersection_union(pred: Mask, gt: Mask) -> Tuple[int, int]:
  """Pixel counts |P ∩ G| and |P ∪ G| of two masks.

  Args:
    pred: (H, W) mask; any non-zero value is foreground.
    gt: (H, W) mask; any non-zero value is foreground.

  Returns:
    (intersection, union) as Python ints.
  """
  pred = np.asarray(pred).astype(bool)
  gt = np.asarray(gt).astype(bool)
  if pred.shape != gt.shape:
    raise ValueError(f'pred {pred.shape} and gt {gt.shape} differ in shape')
  return int(np.count_nonzero(pred & gt)), int(np.count_nonzero(pred | gt))


def iou_from_counts(intersection, union, eps: float = IOU_EPS):
  """Smoothed IoU (I + eps) / (U + eps) from pixel counts (scalars or arrays).

  Args:
    intersection: Intersection pixel count(s).
    union: Union pixel count(s).
    eps: Smoothing term; 1e-6 as in CSTM/LBDT/MTTR, so 0/0 gives 1.

  Returns:
    float64 IoU, same shape as the inputs (a NumPy scalar for scalar inputs).
  """
  intersection = np.asarray(intersection, dtype=np.float64)
  union = np.asarray(union, dtype=np.float64)
  return (intersection + eps) / (union + eps)


def sample_iou(pred: Mask, gt: Mask, eps: float = IOU_EPS) -> float:
  """Per-sample IoU of the A2D / J-HMDB benchmarks, (I + eps) / (U + eps).

  Args:
    pred: (H, W) predicted mask, at the resolution of the GT it is scored against.
    gt: (H, W) ground-truth mask.
    eps: Smoothing term (1e-6 in all reference repos).

  Returns:
    The IoU; 1.0 when both masks are empty, ~0 when exactly one is empty.
  """
  inter, union = intersection_union(pred, gt)
  return float(iou_from_counts(inter, union, eps))


def precision_at(ious, thresholds: Sequence[float] = PRECISION_THRESHOLDS,
                 strict: bool = False) -> np.ndarray:
  """Fraction of samples whose IoU reaches each threshold.

  Args:
    ious: (N,) per-sample IoUs.
    thresholds: (T,) thresholds X of P@X.
    strict: False counts IoU >= X (CSTM, LBDT, the MP-mAP convention); True counts IoU > X
      (MTTR, ReferFormer and their copies).

  Returns:
    (T,) float64 fractions in [0, 1]; NaN if there are no samples.
  """
  ious = np.asarray(ious, dtype=np.float64).reshape(-1)
  thr = np.asarray(thresholds, dtype=np.float64).reshape(-1)
  if ious.size == 0:
    return np.full(thr.shape, np.nan)
  hits = ious[None, :] > thr[:, None] if strict else ious[None, :] >= thr[:, None]
  return hits.mean(axis=1)


def mp_map(ious, thresholds: Sequence[float] = MAP_THRESHOLDS,
           strict: bool = False) -> float:
  """MP-kind mAP (Gavrilyuk et al., CMPC-V, CSTM, LBDT): mean of P@0.50:0.05:0.95.

  One mask per sample, no scores involved; with `>=` as in CSTM unless `strict`.

  Args:
    ious: (N,) per-sample IoUs.
    thresholds: The IoU thresholds averaged over.
    strict: Use `>` instead of `>=` (see `precision_at`).

  Returns:
    The mean precision over the thresholds.
  """
  return float(np.mean(precision_at(ious, thresholds, strict)))


def aggregate_iou_metrics(intersections, unions, eps: float = IOU_EPS,
                          strict: bool = False) -> Dict[str, Any]:
  """All IoU-based A2D / J-HMDB aggregates from per-sample pixel counts.

  Args:
    intersections: (N,) per-sample |P ∩ G| in pixels.
    unions: (N,) per-sample |P ∪ G| in pixels.
    eps: IoU smoothing term.
    strict: P@X with `>` instead of `>=` (also applied to the MP-mAP).

  Returns:
    Dict with 'P@0.5' ... 'P@0.9', 'mAP' (MP kind), 'oIoU' (ΣI / ΣU, no eps, as CSTM's
    cumulative IoU; NaN if ΣU = 0), 'mIoU' (mean per-sample IoU) and 'num_samples'.
    Fractions are in [0, 1].
  """
  inter = np.asarray(intersections, dtype=np.float64).reshape(-1)
  union = np.asarray(unions, dtype=np.float64).reshape(-1)
  ious = iou_from_counts(inter, union, eps)
  results: Dict[str, Any] = {}
  precisions = precision_at(ious, PRECISION_THRESHOLDS, strict)
  for thr, p in zip(PRECISION_THRESHOLDS, precisions):
    results[f'P@{thr:.1f}'] = float(p)
  results['mAP'] = mp_map(ious, MAP_THRESHOLDS, strict) if ious.size else math.nan
  total_union = union.sum()
  results['oIoU'] = float(inter.sum() / total_union) if total_union > 0 else math.nan
  results['mIoU'] = float(ious.mean()) if ious.size else math.nan
  results['num_samples'] = int(ious.size)
  return results


# --------------------------------------------------------------------------------------
# COCO-kind mAP (MTTR / ReferFormer family)
# --------------------------------------------------------------------------------------


def encode_mask(mask: Mask) -> Dict[str, Any]:
  """COCO RLE of a (H, W) mask (pycocotools needs Fortran-ordered uint8)."""
  mask = np.asarray(mask).astype(bool).astype(np.uint8)
  return mask_utils.encode(np.asfortranarray(mask))


def _as_rle(mask_or_rle) -> Dict[str, Any]:
  if isinstance(mask_or_rle, dict):
    return mask_or_rle
  return encode_mask(mask_or_rle)


def coco_segm_ap(preds: Sequence[Any], gts: Sequence[Any],
                 scores: Optional[Sequence[float]] = None) -> Dict[str, float]:
  """COCO segmentation AP with one image, one GT and one prediction per sample.

  This is the "COCO kind" of A2D / J-HMDB mAP used by MTTR and its successors
  (docs/metrics.md): the GT becomes a COCO dataset with one image per sample (image_id =
  sample index + 1), a single annotation and one dummy category; each sample contributes
  its predicted mask with its score, and `COCOeval(iouType='segm')` computes AP@[.50:.95]
  with pycocotools' defaults (101-point interpolated precision, maxDets 100, a detection
  matches when IoU >= t, areaRng 'all').

  Differences from the per-sample IoU worth knowing:
    * pycocotools computes its own IoU without eps, so an empty prediction on an empty GT
      is IoU 0 there (a miss), not 1.
    * Detections are ranked by score across all samples (stable sort, so ties keep sample
      order). With one mask per sample the ranking is the only thing the scores do; MTTR
      feeds several query masks per sample, which this single-mask version does not.

  Args:
    preds: N predicted masks, (H_i, W_i) arrays or COCO RLE dicts.
    gts: N GT masks / RLE dicts, same sizes as the predictions.
    scores: N confidences; all 1.0 if None (ranking then follows sample order).

  Returns:
    {'mAP_coco': AP@[.50:.95], 'AP50_coco': AP@.50, 'AP75_coco': AP@.75}; NaN if N = 0.
  """
  if len(preds) != len(gts):
    raise ValueError(f'{len(preds)} predictions for {len(gts)} GT masks')
  if scores is None:
    scores = [1.0] * len(preds)
  if len(scores) != len(preds):
    raise ValueError(f'{len(scores)} scores for {len(preds)} predictions')
  if not preds:
    return {'mAP_coco': math.nan, 'AP50_coco': math.nan, 'AP75_coco': math.nan}

  images, annotations, detections = [], [], []
  for k, (pred, gt, score) in enumerate(zip(preds, gts, scores)):
    gt_rle, pred_rle = _as_rle(gt), _as_rle(pred)
    if list(gt_rle['size']) != list(pred_rle['size']):
      raise ValueError(f'sample {k}: pred size {pred_rle["size"]} != gt {gt_rle["size"]}')
    h, w = gt_rle['size']
    images.append({'id': k + 1, 'height': int(h), 'width': int(w)})
    annotations.append({
        'id': k + 1, 'image_id': k + 1, 'category_id': _COCO_CATEGORY, 'iscrowd': 0,
        'segmentation': gt_rle, 'area': float(mask_utils.area(gt_rle)),
        'bbox': [float(v) for v in mask_utils.toBbox(gt_rle)]})
    detections.append({'image_id': k + 1, 'category_id': _COCO_CATEGORY,
                       'segmentation': pred_rle, 'score': float(score)})

  # COCO() and COCOeval print progress; keep evaluation output clean.
  with contextlib.redirect_stdout(io.StringIO()):
    coco_gt = coco_lib.COCO()
    coco_gt.dataset = {'images': images, 'annotations': annotations,
                       'categories': [{'id': _COCO_CATEGORY, 'name': 'referred'}]}
    coco_gt.createIndex()
    coco_dt = coco_gt.loadRes(detections)
    evaluator = cocoeval.COCOeval(coco_gt, coco_dt, iouType='segm')
    evaluator.evaluate()
    evaluator.accumulate()
    evaluator.summarize()
  return {'mAP_coco': float(evaluator.stats[0]), 'AP50_coco': float(evaluator.stats[1]),
          'AP75_coco': float(evaluator.stats[2])}
