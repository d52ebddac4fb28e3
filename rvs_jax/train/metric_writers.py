"""Where training metrics go: `W/metrics.jsonl` always, TensorBoard when it is installed.

The writers follow `clu.metric_writers`' interface (`write_scalars(step, scalars)`,
`flush()`, `close()`), the flax/scenic convention, and the TensorBoard side *is* clu's
`SummaryWriter` (combined with ours through clu's `MultiWriter`). The JSONL writer is
our own because clu has none that survives a resume: a resumed run replays the steps
after its checkpoint, so their lines must be dropped first, or the file would hold them
twice. clu's writers are only imported when TensorFlow is: `clu.metric_writers` imports
TensorFlow at import time (6-7 s here), and training must work without it.

Only process 0 writes; the others get a writer that does nothing.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any, Mapping

import jax

from rvs_jax import files


class JsonlWriter:
  """One JSON object per `write_scalars` call: `{"step": s, "<name>": value, ...}`."""

  def __init__(self, path: str, resume_step: int = 0):
    self.path = path
    if os.path.exists(path):
      self._forget_after(resume_step)

  def _forget_after(self, step: int) -> None:
    """Drops the lines of steps after `step` (and a line cut short by a kill).

    The file is rewritten atomically, so a kill during the rewrite loses nothing.
    """
    kept = []
    with open(self.path, encoding="utf-8") as f:
      for line in f:
        try:
          if json.loads(line)["step"] <= step:
            kept.append(line)
        except (ValueError, KeyError, TypeError):
          continue
    with files.atomic_write(self.path, "w", encoding="utf-8") as f:
      f.writelines(kept)

  def write_scalars(self, step: int, scalars: Mapping[str, Any]) -> None:
    with open(self.path, "a", encoding="utf-8") as f:
      f.write(json.dumps(dict(step=int(step), **{k: float(v) for k, v in
                                                  scalars.items()})) + "\n")

  def flush(self) -> None:
    pass  # Every line is written (and the file closed) when it is given.

  def close(self) -> None:
    pass


class _Nothing:
  """The writer of processes other than 0."""

  def write_scalars(self, step: int, scalars: Mapping[str, Any]) -> None:
    del step, scalars

  def flush(self) -> None:
    pass

  def close(self) -> None:
    pass


def create(workdir: str, resume_step: int = 0):
  """The metric writer of a training run in `workdir` resumed at `resume_step`.

  TensorBoard (`W/tensorboard`) is added when TensorFlow and TensorBoard are installed
  and `RVS_JAX_TENSORBOARD` is not `0`.
  """
  if jax.process_index() != 0:
    return _Nothing()
  jsonl = JsonlWriter(os.path.join(workdir, "metrics.jsonl"), resume_step)
  if os.environ.get("RVS_JAX_TENSORBOARD", "1") == "0":
    return jsonl
  try:  # clu's SummaryWriter needs both TensorFlow and TensorBoard.
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    from clu import metric_writers  # pylint: disable=g-import-not-at-top
  except ImportError:
    return jsonl
  # TensorFlow is only a summary writer here: it must not take a GPU from JAX.
  tf.config.set_visible_devices([], "GPU")
  try:
    board = metric_writers.SummaryWriter(os.path.join(workdir, "tensorboard"))
  except Exception as e:  # pylint: disable=broad-except
    logging.warning("TensorBoard summaries are off: %s", e)
    return jsonl
  return metric_writers.MultiWriter([jsonl, board])
