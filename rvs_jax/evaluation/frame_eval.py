"""Evaluation of a trained model on A2D-style benchmarks (one target frame per sample).

One pass over the evaluation split: the model's final response map (sigmoid) for every
sample, binarised and scored by `rvs_jax.evaluation` under the configured protocol
(`cstm`: every quirk of the CSTM evaluation; `clean`: absolute threshold 0.5 against the
original-resolution ground truth). Writes `W/eval/<dataset>_<split>_<protocol>.json`:

  {"metrics": {"P@0.5", ..., "P@0.9", "mAP", "mAP_coco", "oIoU", "mIoU", "num_samples"},
   "by_kind": {kind: metrics}          (the synthetic benchmark's appearance/motion/both)
   "samples": [{"sample_id", "iou", "intersection", "union", "kind"?}, ...]}

so anyone can recompute the aggregates from the per-sample pixel counts.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any, Callable

import jax
import numpy as np
from jax.experimental import multihost_utils

from rvs_jax import files, progress, sharding
from rvs_jax.evaluation import protocols

MODEL_KEYS = ("video", "words", "word_mask")


def make_predict_fn(model) -> Callable:
  """jit: `(variables, video, words, word_mask) -> (B, H, W)` probabilities.

  Only the final response map is computed (the five coarse heads are skipped).
  """

  def predict(variables, video, words, word_mask):
    out = model.apply(variables, video, words, word_mask, train=False, all_maps=False)
    return jax.nn.sigmoid(out["logits"][-1])

  return jax.jit(predict)


def predict_batches(predict_fn, variables, pipe, mesh, total: int | None = None):
  """Yields `(indices, probs)` per batch: global sample indices and `(B, H, W)` maps.

  Every host receives the whole global batch (`process_allgather`), so scoring needs no
  further communication; padding rows (index -1) are dropped. With `total` (the number
  of samples), process 0 shows a progress bar with ETA on a terminal.
  """
  first = True
  bar = progress.bar(total, "evaluating", "clip", show=total is not None)
  for batch in pipe.iterate():
    g = sharding.global_batch(mesh, {k: batch[k] for k in MODEL_KEYS + ("index",)})
    # The forward has no collective (replicated weights, sharded batch); the gather
    # below has, so processes meet after the first (compiling) call (sharding.barrier).
    probs = predict_fn(variables, g["video"], g["words"], g["word_mask"])
    if first:
      sharding.barrier("predict")
      first = False
    probs, index = multihost_utils.process_allgather((probs, g["index"]), tiled=True)
    keep = np.asarray(index) >= 0
    bar.update(int(keep.sum()))
    yield np.asarray(index)[keep], np.asarray(probs)[keep]
  bar.close()


def evaluate(predict_fn, variables, pipe, samples, mesh, protocol: str,
             on_sample: Callable[[Any, np.ndarray, Any], None] | None = None
             ) -> dict[str, Any]:
  """Scores every sample of `pipe` (an eval `InputPipeline` over `samples`).

  Args:
    predict_fn, variables: from `make_predict_fn` and the train state.
    pipe: `InputPipeline(train=False)`.
    samples: the pipeline's samples (for original-resolution GT and metadata).
    mesh: the device mesh.
    protocol: 'cstm' or 'clean' (rvs_jax.evaluation).
    on_sample: optional `f(sample, prob, scored)` callback (e.g. drawing).

  Returns:
    The JSON-able result dict described in the module docstring.
  """
  total = protocols.IoUAccumulator()
  by_kind: dict[str, protocols.IoUAccumulator] = {}
  records = []
  for index, probs in predict_batches(predict_fn, variables, pipe, mesh,
                                     total=len(samples)):
    for i, prob in zip(index, probs):
      sample = samples[int(i)]
      if sample.mask is None:
        continue
      gt = sample.mask.load()
      scored = total.add_prob(prob, gt, protocol, sample_id=sample.sample_id)
      record = dict(sample_id=sample.sample_id, iou=float(scored.iou),
                    intersection=int(scored.intersection), union=int(scored.union))
      kind = sample.info.get("kind")
      if kind:
        record["kind"] = kind
        by_kind.setdefault(kind, protocols.IoUAccumulator()).add(
            scored.pred, scored.gt, scored.score, sample_id=sample.sample_id)
      records.append(record)
      if on_sample is not None:
        on_sample(sample, prob, scored)
  if not records:
    raise ValueError("evaluation split has no sample with ground truth")
  result = {"metrics": _clean(total.compute()), "samples": records}
  if by_kind:
    result["by_kind"] = {k: _clean(a.compute()) for k, a in sorted(by_kind.items())}
  return result


def _clean(values: dict) -> dict:
  return {k: (float(v) if isinstance(v, (float, np.floating)) else v)
          for k, v in values.items()}


def write_result(workdir: str, dataset: str, split: str, protocol: str,
                 result: dict) -> str:
  """Writes `W/eval/<dataset>_<split>_<protocol>.json`; returns its path."""
  out_dir = os.path.join(workdir, "eval")
  os.makedirs(out_dir, exist_ok=True)
  path = os.path.join(out_dir, f"{dataset}_{split}_{protocol}.json")
  # Renamed into place complete: a failed write keeps the previous result.
  with files.atomic_write(path, "w", encoding="utf-8") as f:
    json.dump(result, f, indent=1)
  logging.info("wrote %s", path)
  return path
