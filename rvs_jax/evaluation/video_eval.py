"""Evaluation of the video benchmarks: Refer-YouTube-VOS, Refer-DAVIS17 and MeViS.

Every (video, expression) is predicted on every frame: each frame is the target of its
own clip (`pipeline.clip_indices` with `config.data.clip_stride`, whose default is 1 for
both benchmarks, clamped at the ends). The readers already make one `Sample` per frame per
expression (`targets="all"`), so the A2D machinery (`frame_eval.predict_batches`) gives
the per-frame probabilities; the samples are only re-ordered frame-major within a video
(`frame_major`) so that all expressions of a frame arrive together, which the Ref-DAVIS
overlap resolution needs, while nothing bigger than one video is held in memory.

Binarisation: the model's (S, S) probability map is resized bilinearly to the frame's
original (H, W) (cv2 INTER_LINEAR, exactly `protocols.binarize_clean`) and thresholded
with the absolute `prob > 0.5` (MTTR / ReferFormer). CSTM's relative A2D threshold is
not used: it would put a mask on every frame where the object is absent.
`config.eval.protocol` is therefore ignored and the JSON is named `..._clean.json`.

Outputs under `W/eval/` (the submission files are written by
`rvs_jax.evaluation.submission`):

  <dataset>_<split>/Annotations/<video>/<exp_id>/<frame>.png
      the submission: 'L'-mode PNGs, 0 / 255, original resolution, every frame;
  <dataset>_<split>_submission.zip
      the same files with `Annotations/` at the zip root (the Ref-YTVOS server format),
      or `<video>/<exp_id>/<frame>.png` at the root (MeViS: the benchmark's
      `submission_root`);
  <dataset>_<split>/anno_<slot>/<video>/<frame>.png            (Ref-DAVIS only)
      ReferFormer's per-annotation-slot indexed PNGs with the DAVIS palette: for each
      slot, the probabilities of the video's objects are zeroed below 0.5, a background
      plane 0.1 is prepended and the argmax is the label (1 + the object's rank in
      exp-id order, not its DAVIS id);
  <dataset>_<split>_clean.json
      the result dict below (printed by `report.results_table`).

Scores (docs/metrics.md), wherever ground truth exists (Ref-YTVOS `valid` has
none: only the submission is written, and `metrics` has no J / F):

* `metrics`: the offline Ref-YTVOS / MeViS protocol. Per (video, expression), DAVIS J
  (`region_similarity`) and F (`boundary_f`, bound_th 0.008) of `pred` vs the
  sample's mask (`GT == obj_id`; for MeViS the union of the expression's objects) on
  every frame that has GT, averaged over those frames
  (`metrics.VideoEvaluator`); then J, F averaged over expressions and
  J&F = (J + F) / 2. Empty GT and empty prediction give J = F = 1, as DAVIS does.
* `by_slot` (Ref-DAVIS): the same per-expression scores averaged over each annotation
  slot `anno_0..3` and over `first_frame` (slots 0, 2) / `full_video` (slots 1, 3).
* `davis_unsupervised` (Ref-DAVIS, when the GT is a palette PNG): the protocol of the
  Ref-DAVIS numbers in the literature (ReferFormer's `eval_davis.py`, i.e. the official
  davis2017-evaluation with `task="unsupervised"`) run on the `anno_<slot>` label maps:
  GT objects are the ids 1..max of the first GT frame (void = 255 ignored by J and F),
  proposals are the labels 1..max over the video (zero-padded up to the GT count),
  Hungarian matching (scipy `linear_sum_assignment`) on the mean over frames of
  (J + F) / 2, then `db_statistics` per matched pair and means over all (video, GT
  object). Reported per slot, as the mean of the 4 slots (what papers quote), and for
  first-frame / full-video slots. (The official script refuses more than 20
  proposals; here that is only logged.)

Result dict (`VideoScorer.finish`)::

  {"metrics": {"J&F", "J", "F" (when GT exists), "num_samples" (expressions),
               "num_frames" (predicted frames), "num_gt_frames"},
   "samples": [{"video", "exp_id", "J", "F", "num_frames", "num_gt_frames",
                "obj_id"?, "slot"?, "kind"?}, ...],     (J, F None without GT)
   "by_slot"?: {"anno_0": {...}, ..., "first_frame": {...}, "full_video": {...}},
   "davis_unsupervised"?: {"anno_0": {"J&F", "J", "F", "J-Recall", "J-Decay",
                           "F-Recall", "F-Decay", "num_objects"}, ..., "mean",
                           "first_frame", "full_video"},
   "submission": zip path, "annotations": folder}
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import os
from typing import Any, Callable, Iterable, Sequence

import numpy as np
from scipy import optimize

from rvs_jax.evaluation import davis, protocols, report
from rvs_jax.evaluation.submission import ANNOTATIONS, NUM_SLOTS, SubmissionWriter
from rvs_jax.data import registry
from rvs_jax.data.refer_youtube_vos import PaletteMask, read_index_png
from rvs_jax.data.types import DataError, Sample

PROTOCOL = "clean"          # The binarisation used (see module docstring): JSON name.
THRESHOLD = 0.5             # Absolute threshold of the binary submission masks.
DAVIS_KEEP = 0.5            # ReferFormer zeroes object probabilities below this ...
DAVIS_BACKGROUND = 0.1      # ... and argmaxes them against this background plane.
MAX_PROPOSALS = 20          # davis2017-evaluation's limit in the unsupervised task.
SLOT_GROUPS = {"first_frame": (0, 2), "full_video": (1, 3)}


# --------------------------------------------------------------------------------------
# Samples
# --------------------------------------------------------------------------------------


def frame_major(samples: Sequence[Sample]) -> list[Sample]:
  """Re-orders samples to (video in first-appearance order, frame, original order).

  The readers order by video, expression, frame; evaluating frame-major lets the
  Ref-DAVIS argmax over a frame's objects run as soon as the frame is complete.
  """
  first: dict[str, int] = {}
  for s in samples:
    first.setdefault(s.video_id, len(first))
  order = sorted(range(len(samples)),
                 key=lambda i: (first[samples[i].video_id], samples[i].target, i))
  return [samples[i] for i in order]


def load_video_samples(data, split: str) -> list[Sample]:
  """Every frame of every expression of a video benchmark's split, frame-major.

  Unlike `datasets.load_samples`, the Ref-YTVOS train split (a hold-out with GT) is read
  with `targets="all"`, since the protocol scores frames where the object is absent too,
  and `data.max_eval_samples` caps the number of *expressions* (an expression is only
  complete with all its frames).

  Args:
    data: `config.data` (`name`, `root`, `max_eval_samples`; Ref-DAVIS also reads an
      optional `annotations`, default "unsupervised").
    split: the split to read.

  Returns:
    The samples, ordered by `frame_major`.

  Raises:
    DataError: missing root or bad data (from the readers).
  """
  bench = registry.get(data.name)
  if bench.scoring != "video":
    raise ValueError(f"config.data.name={data.name!r} is scored per frame, not as a "
                     "video benchmark")
  from rvs_jax import datasets  # pylint: disable=g-import-not-at-top
  samples = datasets.read_split(data, split, scoring=True)
  limit = data.get("max_eval_samples", 0)
  if limit:
    keys = list(dict.fromkeys(_expression_key(s) for s in samples))[:limit]
    keep = set(keys)
    samples = [s for s in samples if _expression_key(s) in keep]
  return frame_major(samples)


def _expression_key(s: Sample) -> tuple[str, str]:
  return s.video_id, str(s.info["exp_id"])


def _frame_name(s: Sample) -> str:
  return str(s.info.get("frame", f"{s.target:05d}"))


def _frame_size(s: Sample) -> tuple[int, int]:
  if "height" in s.info and "width" in s.info:
    return int(s.info["height"]), int(s.info["width"])
  if s.mask is not None:
    return tuple(s.mask.load().shape[:2])
  return tuple(s.video.load([s.target]).shape[1:3])


# --------------------------------------------------------------------------------------
# Scoring
# --------------------------------------------------------------------------------------


@dataclasses.dataclass
class _SlotState:
  """Per-frame J and F of every (proposal label, GT object) pair of one (video, slot)."""
  num_gt: int
  num_rows: int               # max(proposals K, num_gt): covers the zero padding.
  max_label: int = 0          # Largest label written: the official proposal count.
  j: list = dataclasses.field(default_factory=list)  # (num_rows, num_gt) per frame.
  f: list = dataclasses.field(default_factory=list)


class VideoScorer:
  """Consumes per-frame probabilities; writes the outputs and scores the benchmark.

  Usage: `scorer = VideoScorer(samples, out_dir)`, `scorer.add(i, prob)` for every
  sample index (any order), then `result = scorer.finish()`. Memory: the packed binary
  masks of the videos in progress (1 bit per pixel) and, for Ref-DAVIS, the resized
  probabilities of the frames in progress.
  """

  def __init__(self, samples: Sequence[Sample], out_dir: str, *,
               threshold: float = THRESHOLD, write_files: bool = True,
               zip_root: str = ANNOTATIONS):
    """Prepares the bookkeeping and clears previous outputs in `out_dir`.

    Args:
      samples: one sample per (video, expression, frame), e.g. `load_video_samples`.
      out_dir: `W/eval/<dataset>_<split>`; the zip goes to `<out_dir>_submission.zip`.
      threshold: absolute threshold of the binary masks.
      write_files: write the PNGs and the zip (False: scores only).
      zip_root: the zip's folder for `<video>/<exp_id>/<frame>.png` ("" = its root).
    """
    self.samples = list(samples)
    if not self.samples:
      raise DataError("no samples to evaluate")
    self.out_dir = out_dir
    self.threshold = threshold
    self.write_files = write_files
    self.writer = SubmissionWriter(out_dir, zip_root)
    # Ref-DAVIS samples carry their annotation slot; the indexed PNGs need it.
    self.davis = all("slot" in s.info for s in self.samples)
    self.evaluator = davis.VideoEvaluator()
    self.records: list[dict[str, Any]] = []
    self._video_left = collections.Counter(s.video_id for s in self.samples)
    self._frame_left = collections.Counter((s.video_id, s.target) for s in self.samples)
    self._expressions: dict[str, dict[str, list[int]]] = {}
    for i, s in enumerate(self.samples):
      self._expressions.setdefault(s.video_id, {}).setdefault(
          str(s.info["exp_id"]), []).append(i)
    self._seen = np.zeros(len(self.samples), bool)
    self._packed: dict[int, np.ndarray] = {}
    self._frame_probs: dict[tuple[str, int], list[tuple[int, np.ndarray]]] = {}
    self._ranks: dict[tuple[str, str], int] = {}
    self._num_objects: dict[tuple[str, int], int] = {}
    self._first_gt: dict[str, str | None] = {}
    self._slots: dict[tuple[str, int], _SlotState] = {}
    self._davis_pairs: dict[int, list[dict[str, float]]] = {
        k: [] for k in range(NUM_SLOTS)}
    if self.davis:
      self._prepare_davis()
    if write_files:
      self.writer.clear()

  def _prepare_davis(self) -> None:
    """Labels (rank per slot, exp-id order) and the first GT frame of every video."""
    per_slot: dict[tuple[str, int], set[str]] = collections.defaultdict(set)
    first: dict[str, Sample] = {}
    for s in self.samples:
      per_slot[(s.video_id, int(s.info["slot"]))].add(str(s.info["exp_id"]))
      if s.video_id not in first or s.target < first[s.video_id].target:
        first[s.video_id] = s
    for (video, slot), exp_ids in per_slot.items():
      for rank, exp_id in enumerate(sorted(exp_ids, key=int), start=1):
        self._ranks[(video, exp_id)] = rank
      self._num_objects[(video, slot)] = len(exp_ids)
    for video, s in first.items():
      # The official protocol needs whole label maps: only palette PNG masks qualify.
      self._first_gt[video] = s.mask.path if isinstance(s.mask, PaletteMask) else None

  # ---------------------------------------------------------------------------- add

  def add(self, index: int, prob: np.ndarray) -> None:
    """Takes the (S, S) probability map of sample `index`.

    Raises:
      ValueError: the sample was already added.
    """
    if self._seen[index]:
      raise ValueError(f"sample #{index} ({self.samples[index].sample_id}) added twice")
    self._seen[index] = True
    s = self.samples[index]
    height, width = _frame_size(s)
    prob = protocols.resize_prob(prob, (height, width))
    mask = prob > self.threshold
    if self.write_files:
      self.writer.mask(s.video_id, str(s.info["exp_id"]), _frame_name(s), mask)
    self._packed[index] = np.packbits(mask)
    frame_key = (s.video_id, s.target)
    if self.davis:
      self._frame_probs.setdefault(frame_key, []).append((index, prob))
    self._frame_left[frame_key] -= 1
    if self._frame_left[frame_key] == 0 and self.davis:
      self._finish_davis_frame(s.video_id, s.target)
    self._video_left[s.video_id] -= 1
    if self._video_left[s.video_id] == 0:
      self._finish_video(s.video_id)

  def _finish_davis_frame(self, video: str, target: int) -> None:
    """ReferFormer's per-slot argmax for one frame; its rows of the official scores."""
    entries = self._frame_probs.pop((video, target))
    first = self.samples[entries[0][0]]
    height, width = entries[0][1].shape
    gt = void = None
    if self._first_gt.get(video) and isinstance(first.mask, PaletteMask):
      labels_gt = read_index_png(first.mask.path)
      void = labels_gt == 255
      gt = np.where(void, 0, labels_gt)
    for slot in range(NUM_SLOTS):
      num_objects = self._num_objects.get((video, slot), 0)
      planes = np.zeros((num_objects + 1, height, width), np.float32)
      planes[0] = DAVIS_BACKGROUND
      for index, prob in entries:
        s = self.samples[index]
        if int(s.info["slot"]) == slot:
          rank = self._ranks[(video, str(s.info["exp_id"]))]
          planes[rank] = np.where(prob < DAVIS_KEEP, 0.0, prob)
      labels = np.argmax(planes, axis=0).astype(np.uint8)  # First maximum wins ties.
      if self.write_files:
        self.writer.labels(slot, video, _frame_name(first), labels)
      if gt is not None:
        self._score_slot_frame(video, slot, num_objects, labels, gt, void)

  def _score_slot_frame(self, video: str, slot: int, num_objects: int,
                        labels: np.ndarray, gt: np.ndarray, void: np.ndarray) -> None:
    state = self._slots.get((video, slot))
    if state is None:
      first = read_index_png(self._first_gt[video])
      num_gt = int(np.where(first == 255, 0, first).max())  # Official: max of frame 0.
      state = _SlotState(num_gt=num_gt, num_rows=max(num_objects, num_gt))
      self._slots[(video, slot)] = state
    state.max_label = max(state.max_label, int(labels.max()))
    gt_masks = [gt == g for g in range(1, state.num_gt + 1)]
    j = np.zeros((state.num_rows, state.num_gt))
    f = np.zeros((state.num_rows, state.num_gt))
    empty_row = None  # Scores of an empty proposal, shared by all empty rows.
    for r in range(state.num_rows):
      pred = labels == r + 1
      if not pred.any():
        if empty_row is None:
          empty_row = [(davis.region_similarity(pred, g, void),
                        davis.boundary_f(pred, g, void=void)) for g in gt_masks]
        row = empty_row
      else:
        row = [(davis.region_similarity(pred, g, void),
                davis.boundary_f(pred, g, void=void)) for g in gt_masks]
      for c, (jv, fv) in enumerate(row):
        j[r, c], f[r, c] = jv, fv
    state.j.append(j)
    state.f.append(f)

  def _finish_video(self, video: str) -> None:
    """Scores the video's expressions and, for Ref-DAVIS, its official slot scores."""
    for exp_id, indices in self._expressions[video].items():
      preds, gts = {}, {}
      for i in indices:
        s = self.samples[i]
        packed = self._packed.pop(i)
        if s.mask is None:
          continue
        gt = s.mask.load()
        preds[_frame_name(s)] = np.unpackbits(packed, count=gt.size).reshape(
            gt.shape).astype(bool)
        gts[_frame_name(s)] = gt
      first = self.samples[indices[0]]
      record: dict[str, Any] = {"video": video, "exp_id": exp_id, "J": None, "F": None,
                                "num_frames": len(indices), "num_gt_frames": len(gts)}
      for key in ("obj_id", "slot", "kind"):
        if key in first.info:
          record[key] = first.info[key]
      if gts:
        j, f = self.evaluator.add(video, exp_id, preds, gts)
        record["J"], record["F"] = float(j), float(f)
      self.records.append(record)
    for slot in range(NUM_SLOTS):
      state = self._slots.pop((video, slot), None)
      if state is not None and state.num_gt:
        self._davis_pairs[slot].extend(_match_objects(video, slot, state))

  # ------------------------------------------------------------------------- finish

  def finish(self) -> dict[str, Any]:
    """The result dict of the module docstring; writes the zip.

    Raises:
      RuntimeError: some samples were never added.
    """
    if not self._seen.all():
      missing = [self.samples[i].sample_id for i in np.flatnonzero(~self._seen)[:5]]
      raise RuntimeError(f"{int((~self._seen).sum())} samples were never predicted, "
                         f"e.g. {missing}")
    scored = self.evaluator.per_expression()
    values: dict[str, Any] = {}
    if scored:
      values.update(_jf(davis.average_expressions(scored)))
    values.update(num_samples=len(self.records), num_frames=len(self.samples),
                  num_gt_frames=int(sum(r["num_gt_frames"] for r in self.records)))
    result: dict[str, Any] = {"metrics": values, "samples": self.records}
    if self.davis and scored:
      slot_of = {(r["video"], r["exp_id"]): int(r["slot"]) for r in self.records}
      by_slot = {}
      groups = [(f"anno_{k}", (k,)) for k in range(NUM_SLOTS)] + list(
          SLOT_GROUPS.items())
      for name, slots in groups:
        subset = {k: v for k, v in scored.items() if slot_of[k] in slots}
        if subset:
          by_slot[name] = _jf(davis.average_expressions(subset))
      result["by_slot"] = by_slot
    if any(self._davis_pairs.values()):
      result["davis_unsupervised"] = _davis_summary(self._davis_pairs)
    if self.write_files:
      result["annotations"] = self.writer.annotations
      result["submission"] = self.writer.zip()
    return result


def _jf(values: dict[str, Any]) -> dict[str, Any]:
  """average_expressions' dict with the repo's `num_samples` name for the count."""
  return {"J&F": values["J&F"], "J": values["J"], "F": values["F"],
          "num_samples": values["num_expressions"]}


def _match_objects(video: str, slot: int, state: _SlotState) -> list[dict[str, float]]:
  """davis2017-evaluation `_evaluate_unsupervised` + `db_statistics` for one video."""
  if state.max_label > MAX_PROPOSALS:
    logging.warning("%s anno_%d: %d proposals; the official script refuses more than %d",
                    video, slot, state.max_label, MAX_PROPOSALS)
  rows = max(state.max_label, state.num_gt)  # Proposals, zero-padded to the GT count.
  j = np.stack(state.j)[:, :rows]  # (T, rows, num_gt)
  f = np.stack(state.f)[:, :rows]
  cost = (j.mean(axis=0) + f.mean(axis=0)) / 2
  res, gt = optimize.linear_sum_assignment(-cost)
  out = []
  for r, g in zip(res, gt):
    js, fs = davis.db_statistics(j[:, r, g]), davis.db_statistics(f[:, r, g])
    out.append({"J": js["mean"], "J-Recall": js["recall"], "J-Decay": js["decay"],
                "F": fs["mean"], "F-Recall": fs["recall"], "F-Decay": fs["decay"]})
  return out


def _davis_summary(pairs: dict[int, list[dict[str, float]]]) -> dict[str, Any]:
  """Per slot means over (video, GT object); then means over slots and slot groups."""
  keys = ("J", "F", "J-Recall", "J-Decay", "F-Recall", "F-Decay")
  per_slot = {}
  for slot, objs in pairs.items():
    if objs:
      values = {k: float(np.mean([o[k] for o in objs])) for k in keys}
      per_slot[slot] = {"J&F": (values["J"] + values["F"]) / 2, **values,
                        "num_objects": len(objs)}
  out = {f"anno_{k}": v for k, v in per_slot.items()}
  for name, slots in [("mean", tuple(range(NUM_SLOTS)))] + list(SLOT_GROUPS.items()):
    present = [per_slot[k] for k in slots if k in per_slot]
    if present:
      # Papers average the slots' scores (not the objects of all slots pooled).
      out[name] = {k: float(np.mean([p[k] for p in present])) for k in ("J&F",) + keys}
      out[name]["num_slots"] = len(present)
  return out


# --------------------------------------------------------------------------------------
# Model and command line
# --------------------------------------------------------------------------------------


def score_predictions(pairs: Iterable[tuple[int, np.ndarray]],
                      samples: Sequence[Sample], out_dir: str,
                      **kwargs) -> dict[str, Any]:
  """`VideoScorer` over `(sample index, (S, S) probability)` pairs; returns its result."""
  scorer = VideoScorer(samples, out_dir, **kwargs)
  for index, prob in pairs:
    scorer.add(int(index), prob)
  return scorer.finish()


def evaluate(predict_fn, variables, pipe, samples: Sequence[Sample], mesh,
             out_dir: str, **kwargs) -> dict[str, Any] | None:
  """Predicts every sample of `pipe` (an eval `InputPipeline` over `samples`) and scores.

  Args:
    predict_fn, variables: from `frame_eval.make_predict_fn` and the train state.
    pipe: `InputPipeline(train=False)` over `samples` (best ordered by `frame_major`).
    samples: the pipeline's samples.
    mesh: the device mesh.
    out_dir: `W/eval/<dataset>_<split>`.
    **kwargs: `VideoScorer` options.

  Returns:
    The result dict on process 0 (which alone writes files), None on the others.
  """
  import jax  # pylint: disable=g-import-not-at-top
  from rvs_jax.evaluation import frame_eval  # pylint: disable=g-import-not-at-top

  batches = frame_eval.predict_batches(predict_fn, variables, pipe, mesh,
                                       total=len(samples))
  if jax.process_index() != 0:
    for _ in batches:  # Every process takes part in the collective predictions.
      pass
    return None
  return score_predictions(((i, p) for index, probs in batches
                            for i, p in zip(index, probs)), samples, out_dir, **kwargs)


def run(config, workdir: str, model, variables, mesh,
        lookup: Callable) -> tuple[dict[str, Any], str] | None:
  """eval.py's path for the video benchmarks: predict, write, score, print.

  Args:
    config: the experiment config (`data.name` a benchmark with `scoring="video"`).
    workdir: outputs go to `<workdir>/eval/`.
    model, variables, mesh: the model, its (replicated) variables and the device mesh.
    lookup: maps the samples to what turns their sentences into the model's text
      input (`datasets.sentence_lookup`, or the checkpoint's carried vocabulary).

  Returns:
    (result, JSON path) on process 0, None elsewhere.
  """
  import jax  # pylint: disable=g-import-not-at-top
  from rvs_jax import datasets  # pylint: disable=g-import-not-at-top
  from rvs_jax.evaluation import frame_eval  # pylint: disable=g-import-not-at-top

  if config.eval.protocol != PROTOCOL:
    logging.info("video benchmarks always use the absolute %.1f threshold at the frame "
                 "size (config.eval.protocol=%r is for A2D-style benchmarks)", THRESHOLD,
                 config.eval.protocol)
  split = config.data.eval_split
  samples = load_video_samples(config.data, split)
  vectors = lookup(samples)
  pipe = datasets.make_pipeline(config, samples, vectors, train=False,
                                batch_size=config.eval.batch_size)
  out_dir = os.path.join(workdir, "eval", f"{config.data.name}_{split}")
  result = evaluate(frame_eval.make_predict_fn(model), variables, pipe, samples, mesh,
                    out_dir, zip_root=registry.get(config.data.name).submission_root)
  if jax.process_index() != 0:
    return None
  path = frame_eval.write_result(workdir, config.data.name, split, PROTOCOL, result)
  print(report.results_table(result, f"{config.data.name} {split} (every frame, "
                                     f"threshold {THRESHOLD})"))
  if "J" not in result["metrics"]:
    print(f"\n{split} has no ground truth: only the submission was written.")
  print(f"\nwrote {path} and {result['submission']}")
  return result, path
