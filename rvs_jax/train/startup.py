"""What a training run says before its first step, and how long its first compile takes.

`describe(...)` is the start-up summary (devices, samples, steps, parameters);
`CompileTimes` remembers how long the train step of a given model, input size and
per-device batch took to compile on this machine, so that the next run can say
"compiling the train step, ~N s" instead of sitting silent for minutes. The record is a
JSON file in XLA's persistent compilation cache folder (`RVS_JAX_CACHE`): when that cache
holds the program, the next compile is fast and the record says so too.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform as py_platform
from typing import Any

import jax
from clu import parameter_overview

from rvs_jax import files


def describe(config, n_train: int, n_eval: int, steps_per_epoch: int,
             total_steps: int, params: Any) -> list[str]:
  """The start-up summary: one line each for devices, data, schedule and model.

  `params` may be abstract (`jax.eval_shape`): only shapes are read.
  """
  devices = jax.devices()
  kinds = sorted({d.device_kind for d in devices})
  n_params = parameter_overview.count_parameters(params)
  epochs = total_steps / max(steps_per_epoch, 1)
  lines = [
      f"devices: {len(devices)} x {'/'.join(kinds)} ({jax.default_backend()}) on "
      f"{jax.process_count()} process(es); batch {config.train.batch_size} "
      f"({config.train.batch_size // len(devices)} per device)",
      f"data: {config.data.name} {config.data.train_split} {n_train:,} samples, "
      f"{config.data.eval_split} {n_eval:,}; {config.data.num_frames} frames of "
      f"{config.data.image_size}x{config.data.image_size}",
      f"schedule: {steps_per_epoch:,} steps per epoch, {total_steps:,} steps "
      f"({epochs:.3g} epochs)",
      f"model: {n_params:,} parameters (table in parameters.txt)",
  ]
  return lines


def write_parameter_table(workdir: str, params: Any) -> None:
  """`W/parameters.txt`: every parameter's shape, size and statistics (clu's table)."""
  with files.atomic_write(os.path.join(workdir, "parameters.txt"), "w",
                          encoding="utf-8") as f:
    f.write(parameter_overview.get_parameter_overview(params) + "\n")


class CompileTimes:
  """Measured compile seconds per program, in a small JSON file of this machine."""

  def __init__(self, path: str | None = None):
    if path is None:  # XLA's cache only reads its own `*-cache` files.
      cache = jax.config.jax_compilation_cache_dir or os.path.join(
          os.path.expanduser("~"), ".cache", "rvs_jax", "xla")
      path = os.path.join(cache, "rvs_jax_compile_times.json")
    self.path = path

  @staticmethod
  def key(config) -> str:
    """What decides the train step's program: model, input sizes, per-device batch."""
    what = dict(model=config.model.to_dict(), frames=config.data.num_frames,
                size=config.data.image_size, words=config.data.max_words,
                batch=config.train.batch_size // jax.device_count(),
                devices=jax.device_count(), backend=jax.default_backend(),
                jax=jax.__version__, cpu=py_platform.processor() or py_platform.machine(),
                cache=bool(jax.config.jax_compilation_cache_dir))
    return hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode()
                          ).hexdigest()[:16]

  def _read(self) -> dict[str, float]:
    try:
      with open(self.path, encoding="utf-8") as f:
        record = json.load(f)
      return record if isinstance(record, dict) else {}
    except (OSError, ValueError):
      return {}  # No record yet, or an unreadable one: only the estimate is lost.

  def get(self, key: str) -> float | None:
    value = self._read().get(key)
    return float(value) if isinstance(value, (int, float)) else None

  def put(self, key: str, seconds: float) -> None:
    record = self._read()
    record[key] = round(float(seconds), 1)
    try:
      os.makedirs(os.path.dirname(self.path), exist_ok=True)
      with files.atomic_write(self.path, "w", encoding="utf-8") as f:
        json.dump(record, f, indent=0, sort_keys=True)
    except OSError:
      pass  # A read-only home: the next run just has no estimate.


def compile_message(seconds: float | None) -> str:
  """'compiling the train step ...' with the estimate, when there is one."""
  if seconds is None:
    return ("compiling the train step (not compiled on this machine before: about a "
            "minute for a tiny model on 2 CPU cores, minutes at full size)")
  return f"compiling the train step, ~{seconds:.0f} s (measured here last time)"
