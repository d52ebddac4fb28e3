"""Data parallelism: one `('data',)` mesh over every device of every host.

The batch is sharded over `data`, parameters and optimizer state are replicated, and
XLA inserts the gradient all-reduce (no pmap, no axis names). BatchNorm statistics under
`jit` over a sharded batch are computed over the global batch (SyncBN), unlike
per-GPU statistics in PyTorch DDP. The mesh axis is `Auto` (not JAX's new `Explicit`
default), which linen modules need.

Multi-host: `maybe_initialize_distributed()` calls `jax.distributed.initialize` when the
environment asks for it: under SLURM (`SLURM_NTASKS` > 1) it autodetects everything; for
a manual launch set `RVS_JAX_COORDINATOR=host:port`, `RVS_JAX_NUM_PROCESSES` and
`RVS_JAX_PROCESS_ID` on every process. Each host then feeds its own slice of every
global batch (`InputPipeline` slices by `jax.process_index()`).
"""

from __future__ import annotations

import os

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P


def maybe_initialize_distributed() -> None:
  """`jax.distributed.initialize` when launched as several processes (docstring)."""
  if "RVS_JAX_COORDINATOR" in os.environ:
    jax.distributed.initialize(
        coordinator_address=os.environ["RVS_JAX_COORDINATOR"],
        num_processes=int(os.environ["RVS_JAX_NUM_PROCESSES"]),
        process_id=int(os.environ["RVS_JAX_PROCESS_ID"]))
  elif int(os.environ.get("SLURM_NTASKS", "1")) > 1:
    jax.distributed.initialize()


def make_mesh() -> Mesh:
  """A 1-D `('data',)` mesh over all devices, with an Auto axis."""
  return Mesh(np.array(jax.devices()), ("data",),
              axis_types=(jax.sharding.AxisType.Auto,))


def check_batch_size(name: str, size: int) -> None:
  """A batch is split evenly over the devices: `name`=`size` must divide by their number.

  Checked when a command starts, so that `eval.batch_size` fails before training rather
  than at the first evaluation.
  """
  if size <= 0 or size % jax.device_count():
    raise ValueError(f"{name}={size} is not a positive multiple of the "
                     f"{jax.device_count()} devices")


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def batch_sharded(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P("data"))


def global_batch(mesh: Mesh, local: dict[str, np.ndarray]) -> dict[str, jax.Array]:
  """This host's slice of a batch -> global arrays sharded over `data`."""
  sharding = batch_sharded(mesh)
  return {k: jax.make_array_from_process_local_data(sharding, v) for k, v in local.items()}


def barrier(name: str, timeout_s: int = 3600) -> None:
  """Waits until every process reaches `name` (no-op with one process).

  Uses the coordination service, not a device collective: XLA-CPU's Gloo collectives
  give up after ~30 s when processes arrive apart (e.g. one finished compiling a step
  much later), while compile times of the same program easily differ by more under load.
  """
  if jax.process_count() == 1:
    return
  from jax._src import distributed  # pylint: disable=g-import-not-at-top
  distributed.global_state.client.wait_at_barrier(name, timeout_s * 1000)


def compile_together(jitted, name: str, *args):
  """AOT-compiles `jitted` for `args`, then waits for every process (see `barrier`)."""
  compiled = jitted.lower(*args).compile()
  barrier(name)
  return compiled
