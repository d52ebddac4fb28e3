"""The two binarisation / scoring protocols of the frame-level benchmarks.

`'cstm'` reproduces every quirk of the CSTM evaluation code (a fixed 320x320 map, the GT
resampled there and back with align_corners, the threshold it uses); `'clean'` thresholds
the map resized to the original frame and scores against the original-resolution GT
(docs/metrics.md). `IoUAccumulator` collects scored samples and reports every metric of
`rvs_jax.evaluation.iou` in one pass.
"""

import dataclasses
from typing import Any, Dict, List, Optional, Tuple

import cv2
import numpy as np

from rvs_jax.evaluation.iou import (IOU_EPS, Mask, aggregate_iou_metrics, coco_segm_ap,
                                    encode_mask, intersection_union, iou_from_counts)
from rvs_jax.resize_np import CSTM_SIZE, resize_mask_align_corners

PROTOCOLS = ('cstm', 'clean')


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
  small = prob > threshold
  if prob.shape == tuple(out_hw):
    return small, small.copy()
  return small, resize_prob(prob, out_hw) > threshold


def resize_prob(prob: np.ndarray, out_hw: Tuple[int, int]) -> np.ndarray:
  """(S, S) probabilities -> float32 (h, w): the resize of `binarize_clean`."""
  prob = np.asarray(prob, dtype=np.float32)
  h, w = out_hw
  if prob.shape == (h, w):
    return prob
  return cv2.resize(prob, (w, h), interpolation=cv2.INTER_LINEAR)  # (h, w) float32


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
