"""Evaluation metrics of referring video segmentation, in NumPy (+ cv2, pycocotools).

Definitions follow docs/metrics.md. Nothing
here needs JAX: predictions arrive as NumPy probability maps or masks.

Frame-level, per-sample benchmarks (A2D-Sentences, J-HMDB-Sentences):
  * `sample_iou` / `intersection_union`: IoU = (I + 1e-6) / (U + 1e-6), as in every repo.
  * `aggregate_iou_metrics`: P@0.5..0.9, MP-kind mAP (mean of P@0.50:0.05:0.95), oIoU, mIoU.
  * `coco_segm_ap`: COCO-kind mAP through pycocotools (MTTR / ReferFormer family).
  * `IoUAccumulator`: collects samples (per-sample I and U in pixels, score, RLE masks) and
    reports all of the above in one pass.
  * `binarize_and_score`: the two binarisation / scoring protocols, `'cstm'` (every quirk of
    the CSTM evaluation code) and `'clean'` (absolute threshold, original-resolution GT).

Video benchmarks (Ref-YouTube-VOS, Ref-DAVIS17, MeViS-style offline scoring):
  * `region_similarity` (J) and `boundary_f` (F): DAVIS-2017 `db_eval_iou` and
    `db_eval_boundary` for one frame, re-implemented from their definitions.
  * `sequence_j_f`, `VideoEvaluator`: J and F per (video, expression), averaged over frames
    with GT, then over expressions; J&F = (J + F) / 2.
  * `db_statistics`: DAVIS per-object mean / recall / decay.

`format_results` turns any results dict into a small table.

The GT round trip of the CSTM protocol uses `rvs_jax.resize_np.resize_mask_align_corners`
(re-exported here), which is also what the data pipeline uses to build training targets.
"""

import contextlib
import dataclasses
import io
import math
from typing import Any, Dict, Hashable, List, Mapping, Optional, Sequence, Tuple, Union

import cv2
import numpy as np
from pycocotools import coco as coco_lib
from pycocotools import cocoeval
from pycocotools import mask as mask_utils

from rvs_jax.resize_np import CSTM_SIZE
from rvs_jax.resize_np import resize_align_corners  # pylint: disable=unused-import
from rvs_jax.resize_np import resize_mask_align_corners

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

# DAVIS-2017 default boundary tolerance, as a fraction of the image diagonal.
BOUND_TH = 0.008

PROTOCOLS = ('cstm', 'clean')

# COCO category id of the single dummy class used for the COCO-kind mAP.
_COCO_CATEGORY = 1

Mask = np.ndarray
FrameMasks = Union[np.ndarray, Sequence[np.ndarray], Mapping[Hashable, np.ndarray]]


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


# --------------------------------------------------------------------------------------
# Binarisation / scoring protocols
# --------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ScoredSample:
  """One sample scored under a protocol, at the original frame resolution.

  Attributes:
    pred: (h, w) bool predicted mask.
    gt: (h, w) bool GT mask the protocol scores against (resampled under 'cstm').
    intersection: |pred ∩ gt| in pixels.
    union: |pred ∪ gt| in pixels.
    iou: (I + 1e-6) / (U + 1e-6).
    score: Confidence of the mask for the COCO-kind mAP (see `mask_confidence`).
  """
  pred: np.ndarray
  gt: np.ndarray
  intersection: int
  union: int
  iou: float
  score: float


def mask_confidence(prob: np.ndarray, mask: np.ndarray) -> float:
  """Confidence of a binarised prediction: mean probability inside the mask.

  CSTM outputs one map and no referred-score, so the COCO-kind mAP needs some score to rank
  samples; the mean foreground probability is ours (not a reference choice). An empty mask
  gets max(prob), which is below the threshold that produced it, so it ranks low.

  Args:
    prob: (S, S) probability map the mask was thresholded from.
    mask: (S, S) bool mask, same shape.

  Returns:
    A float in [0, 1].
  """
  prob = np.asarray(prob, dtype=np.float64)
  mask = np.asarray(mask, dtype=bool)
  if mask.any():
    return float(prob[mask].mean())
  return float(prob.max()) if prob.size else 0.0


def binarize_cstm(prob: np.ndarray,
                  out_hw: Tuple[int, int]) -> Tuple[np.ndarray, np.ndarray]:
  """CSTM's prediction binarisation (`utils/tool.py::report_evaluation_result`).

  Args:
    prob: (S, S) sigmoid probabilities of the finest response map (S = 320).
    out_hw: Original frame (h, w).

  Returns:
    (mask_small, mask): the (S, S) bool mask before resizing and the (h, w) bool mask.
  """
  # Reference: res = sigmoid(M5) * 255; pred = res > max(res) * 0.5, in float32 torch.
  # A relative threshold, so the mask is non-empty unless the map is constant. Same
  # float32 operations in the same order, so ties at the threshold resolve identically.
  res = np.asarray(prob, dtype=np.float32) * np.float32(255)
  small = res > res.max() * np.float32(0.5)  # (S, S)
  h, w = out_hw
  # Reference: cv2.resize(pred.astype(uint8), (w, h)) with the default INTER_LINEAR on a 0/1
  # uint8 image (cv2's fixed-point rounding decides the boundary pixels), so use cv2 too.
  big = cv2.resize(small.astype(np.uint8), (w, h), interpolation=cv2.INTER_LINEAR)
  return small, big.astype(bool)  # big: (h, w), values were 0/1


def cstm_gt(gt_orig: Mask, size: Tuple[int, int] = CSTM_SIZE,
            gt_small: Optional[np.ndarray] = None) -> np.ndarray:
  """The GT CSTM actually scores against: the original mask round-tripped through 320x320.

  Data pipeline: bilinear align_corners=True resize to 320x320, then > 0 -> 1 (a slight
  dilation). Evaluation: `cv2.resize(mask_320.astype(uint8), (w, h))`, INTER_LINEAR.

  Args:
    gt_orig: (h, w) original-resolution GT mask.
    size: Model resolution of the round trip.
    gt_small: Optionally the (S, S) 0/1 mask the pipeline already produced.

  Returns:
    (h, w) bool mask.
  """
  h, w = np.asarray(gt_orig).shape[:2]
  if gt_small is None:
    gt_small = resize_mask_align_corners(gt_orig, size)
  gt_small = np.asarray(gt_small).astype(np.uint8)
  # cv2, not NumPy: the reference resizes with cv2 and its fixed-point bilinear rounding.
  back = cv2.resize(gt_small, (w, h), interpolation=cv2.INTER_LINEAR)
  # Reference compares `gt == 1`; values of a resized 0/1 uint8 image are 0 or 1.
  return back == 1


def binarize_clean(prob: np.ndarray, out_hw: Tuple[int, int],
                   threshold: float = 0.5) -> Tuple[np.ndarray, np.ndarray]:
  """Clean binarisation: bilinear resize of the probabilities, then an absolute threshold.

  Why bilinear on probabilities, then threshold (rather than threshold, then nearest as
  MTTR does for its last, size-restoring step): the 320x320 map is a genuine resampling of
  the (h, w) frame (aspect ratio not preserved), so the decision boundary should be placed
  by interpolating the soft map, not by replicating 320-grid staircase pixels. cv2's
  INTER_LINEAR uses half-pixel centres like the PIL resize that produced the model input, so
  the two resamplings are geometric inverses. The probability (not the logit) is
  interpolated because that is what the model hands over; the 0.5 level set of the two
  differs by far less than a pixel.

  Args:
    prob: (S, S) sigmoid probabilities.
    out_hw: Original frame (h, w).
    threshold: Absolute threshold; `prob > 0.5` as MTTR / ReferFormer.

  Returns:
    (mask_small, mask): the (S, S) bool mask `prob > threshold` (for the score) and the
    (h, w) bool mask.
  """
  prob = np.asarray(prob, dtype=np.float32)
  h, w = out_hw
  small = prob > threshold
  if prob.shape == (h, w):
    return small, small.copy()
  big = cv2.resize(prob, (w, h), interpolation=cv2.INTER_LINEAR)  # (h, w) float32
  return small, big > threshold


def binarize_and_score(prob: np.ndarray, gt_orig: Mask, protocol: str = 'cstm',
                       gt_small: Optional[np.ndarray] = None,
                       eps: float = IOU_EPS) -> ScoredSample:
  """Binarises one probability map and scores it against its GT under a protocol.

  Protocols:
    'cstm': everything the CSTM evaluation code does (docs/metrics.md): relative
      threshold sigmoid*255 > 0.5*max, cv2 INTER_LINEAR resize of the uint8 mask to (h, w),
      GT = the 320x320 align_corners/`> 0` mask resized back with cv2, IoU with eps. (P@X
      with `>=` is the aggregation default.) The DataLoader's `drop_last=True`, which scores
      3,792 of 3,794 A2D pairs, is the caller's business.
    'clean': `prob > 0.5` after bilinear resizing of the probabilities to (h, w) (see
      `binarize_clean`), scored against the original-resolution GT, IoU with eps.

  Args:
    prob: (S, S) probability map (sigmoid of the finest logits), S = 320.
    gt_orig: (h, w) original-resolution GT mask; non-zero = foreground.
    protocol: 'cstm' or 'clean'.
    gt_small: Optional precomputed (S, S) 0/1 GT for the 'cstm' round trip.
    eps: IoU smoothing term.

  Returns:
    A `ScoredSample` at (h, w).
  """
  gt_orig = np.asarray(gt_orig)
  out_hw = gt_orig.shape[:2]
  prob = np.asarray(prob)
  if protocol == 'cstm':
    small, pred = binarize_cstm(prob, out_hw)
    gt = cstm_gt(gt_orig, prob.shape[-2:], gt_small)
  elif protocol == 'clean':
    small, pred = binarize_clean(prob, out_hw)
    gt = gt_orig != 0
  else:
    raise ValueError(f'unknown protocol {protocol!r}; expected one of {PROTOCOLS}')
  inter, union = intersection_union(pred, gt)
  return ScoredSample(pred=pred, gt=gt, intersection=inter, union=union,
                      iou=float(iou_from_counts(inter, union, eps)),
                      score=mask_confidence(prob, small))


class IoUAccumulator:
  """Collects per-sample results of an A2D / J-HMDB evaluation and aggregates them.

  Keeps, per sample, the intersection and union in pixels (so every IoU aggregate can be
  recomputed), the score, an optional id, and the RLE-encoded prediction and GT (so the
  COCO-kind mAP can be computed at the end; RLE keeps this small).

  Example:
    acc = IoUAccumulator()
    for prob, gt, sid in samples:
      acc.add_prob(prob, gt, protocol='cstm', sample_id=sid)
    print(format_results(acc.compute(), title='A2D (cstm)'))
  """

  def __init__(self, keep_masks: bool = True, eps: float = IOU_EPS):
    """Initialises an empty accumulator.

    Args:
      keep_masks: Store RLE masks, needed for the COCO-kind mAP.
      eps: IoU smoothing term.
    """
    self.keep_masks = keep_masks
    self.eps = eps
    self.intersections: List[int] = []
    self.unions: List[int] = []
    self.scores: List[float] = []
    self.sample_ids: List[Any] = []
    self._pred_rles: List[Dict[str, Any]] = []
    self._gt_rles: List[Dict[str, Any]] = []

  def __len__(self) -> int:
    return len(self.intersections)

  def add(self, pred: Mask, gt: Mask, score: float = 1.0, sample_id: Any = None) -> float:
    """Adds one sample given its final masks at the scoring resolution.

    Args:
      pred: (h, w) predicted mask.
      gt: (h, w) GT mask.
      score: Confidence used to rank samples in the COCO-kind mAP.
      sample_id: Any identifier (kept for per-sample reports).

    Returns:
      The sample's IoU.
    """
    inter, union = intersection_union(pred, gt)
    self.intersections.append(inter)
    self.unions.append(union)
    self.scores.append(float(score))
    self.sample_ids.append(sample_id)
    if self.keep_masks:
      self._pred_rles.append(encode_mask(pred))
      self._gt_rles.append(encode_mask(gt))
    return float(iou_from_counts(inter, union, self.eps))

  def add_prob(self, prob: np.ndarray, gt_orig: Mask, protocol: str = 'cstm',
               sample_id: Any = None,
               gt_small: Optional[np.ndarray] = None) -> ScoredSample:
    """Binarises, scores and adds one sample (see `binarize_and_score`).

    Args:
      prob: (S, S) probability map.
      gt_orig: (h, w) original-resolution GT.
      protocol: 'cstm' or 'clean'.
      sample_id: Any identifier.
      gt_small: Optional precomputed (S, S) GT for the 'cstm' round trip.

    Returns:
      The `ScoredSample`.
    """
    sample = binarize_and_score(prob, gt_orig, protocol, gt_small, self.eps)
    self.add(sample.pred, sample.gt, sample.score, sample_id)
    return sample

  @property
  def ious(self) -> np.ndarray:
    """(N,) per-sample IoUs."""
    return iou_from_counts(np.asarray(self.intersections, np.float64),
                           np.asarray(self.unions, np.float64), self.eps)

  def compute(self, coco: bool = True, strict: bool = False) -> Dict[str, Any]:
    """All aggregates: P@0.5..0.9, mAP (MP), mAP_coco (+AP50/AP75), oIoU, mIoU, num_samples.

    Args:
      coco: Also compute the COCO-kind mAP (needs `keep_masks`; about 1 s per 1k samples).
      strict: P@X and MP-mAP with `>` instead of `>=`.

    Returns:
      Dict of fractions in [0, 1] plus 'num_samples'.
    """
    results = aggregate_iou_metrics(self.intersections, self.unions, self.eps, strict)
    if coco:
      if not self.keep_masks:
        raise ValueError('COCO mAP needs the masks: build with keep_masks=True')
      results.update(coco_segm_ap(self._pred_rles, self._gt_rles, self.scores))
    return results

  def per_sample(self) -> List[Dict[str, Any]]:
    """Per-sample records (id, intersection, union, iou, score), e.g. to save as JSON."""
    return [{'sample_id': sid, 'intersection': i, 'union': u, 'iou': float(iou),
             'score': s}
            for sid, i, u, iou, s in zip(self.sample_ids, self.intersections, self.unions,
                                         self.ious, self.scores)]


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


# --------------------------------------------------------------------------------------
# Reporting
# --------------------------------------------------------------------------------------

# Column order of `format_results`; keys not listed here follow in their dict order.
_COLUMN_ORDER = ('P@0.5', 'P@0.6', 'P@0.7', 'P@0.8', 'P@0.9', 'mAP', 'mAP_coco',
                 'AP50_coco', 'AP75_coco', 'oIoU', 'mIoU', 'J&F', 'J', 'F', 'J-Recall',
                 'J-Decay', 'F-Recall', 'F-Decay', 'num_samples', 'num_expressions')


def format_results(results: Mapping[str, Any], title: Optional[str] = None,
                   percent: bool = True, digits: int = 2) -> str:
  """Formats a results dict as a small Markdown table (one header row, one value row).

  Args:
    results: Metric name -> value; floats are fractions, ints are counts.
    title: Optional line printed above the table.
    percent: Show float metrics x100 (the convention of every paper of the field).
    digits: Decimals of float metrics.

  Returns:
    The table as a string (no trailing newline); print it.
  """
  keys = [k for k in _COLUMN_ORDER if k in results]
  keys += [k for k in results if k not in keys]
  cells = []
  for k in keys:
    v = results[k]
    if isinstance(v, (bool, np.bool_)) or isinstance(v, (int, np.integer)):
      cells.append(str(int(v)))
    elif isinstance(v, (float, np.floating)):
      cells.append('nan' if math.isnan(v) else f'{v * 100 if percent else v:.{digits}f}')
    else:
      cells.append(str(v))
  widths = [max(len(k), len(c)) for k, c in zip(keys, cells)]
  header = '| ' + ' | '.join(k.rjust(w) for k, w in zip(keys, widths)) + ' |'
  rule = '|' + '|'.join('-' * (w + 1) + ':' for w in widths) + '|'
  row = '| ' + ' | '.join(c.rjust(w) for c, w in zip(cells, widths)) + ' |'
  lines = ([title] if title else []) + [header, rule, row]
  return '\n'.join(lines)
