"""Orbax checkpoints of a training run: the latest N, and the best by mIoU.

Layout of a workdir:

  W/checkpoints/<step>/{state,meta}   the latest `keep` saves (async)
  W/best/<step>/{state,meta}          the save with the best evaluation mIoU
  W/word_vectors.npz                  the word-vector table (rvs_jax.datasets)

`state` holds `{"step", "params", "batch_stats", "opt_state"}`; `meta` (JSON) holds the
config, the input pipeline position (epoch, step) after this step and, for `best`, the
evaluation metrics. Orbax writes each step into a temporary folder and renames it when
complete, so a process killed mid-save leaves the previous step as the latest one.
"""

from __future__ import annotations

import os
from typing import Any

import jax
import orbax.checkpoint as ocp

LATEST_DIR, BEST_DIR = "checkpoints", "best"


def _handlers() -> dict:
  # Explicit handlers (not just item names) so `item_metadata` can read a checkpoint's
  # tree structure before anything was restored through this manager.
  return {"state": ocp.StandardCheckpointHandler(), "meta": ocp.JsonCheckpointHandler()}


class Checkpoints:
  """The two Orbax managers of a workdir."""

  def __init__(self, workdir: str, keep: int = 3, async_save: bool = True):
    workdir = os.path.abspath(workdir)
    self.latest = ocp.CheckpointManager(
        os.path.join(workdir, LATEST_DIR),
        options=ocp.CheckpointManagerOptions(max_to_keep=keep,
                                             enable_async_checkpointing=async_save),
        item_handlers=_handlers())
    self.best = ocp.CheckpointManager(
        os.path.join(workdir, BEST_DIR),
        options=ocp.CheckpointManagerOptions(
            max_to_keep=1, best_fn=lambda m: m["mIoU"], best_mode="max",
            enable_async_checkpointing=async_save),
        item_handlers=_handlers())

  def save(self, step: int, state, meta: dict[str, Any], metrics: dict | None = None,
           best: bool = False) -> None:
    manager = self.best if best else self.latest
    manager.save(step, args=ocp.args.Composite(
        state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)),
        metrics=metrics)

  def restore(self, abstract_state, which: str = "latest", step: int | None = None):
    """`(state, meta)` of `step` (default: the newest) of 'latest' or 'best', or None."""
    manager = self.best if which == "best" else self.latest
    step = manager.latest_step() if step is None else step
    if step is None:
      return None
    target = jax.tree.map(ocp.utils.to_shape_dtype_struct, abstract_state)
    out = manager.restore(step, args=ocp.args.Composite(
        state=ocp.args.StandardRestore(target), meta=ocp.args.JsonRestore()))
    return out["state"], out["meta"]

  def latest_step(self) -> int | None:
    return self.latest.latest_step()

  def wait(self) -> None:
    self.latest.wait_until_finished()
    self.best.wait_until_finished()

  def close(self) -> None:
    self.latest.close()
    self.best.close()
