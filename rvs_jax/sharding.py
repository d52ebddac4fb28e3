"""Data parallelism: one `('data',)` mesh over every device of every host.

The batch is sharded over `data`, parameters and optimizer state are replicated, and
XLA inserts the gradient all-reduce (no pmap, no axis names). BatchNorm statistics under
`jit` over a sharded batch are computed over the global batch (SyncBN), unlike
per-GPU statistics in PyTorch DDP. The mesh axis is `Auto` (not JAX's new `Explicit`
default), which linen modules need.

Multi-host: `maybe_initialize_distributed()` calls `jax.distributed.initialize` when the
process is one of several, and lets JAX's own cluster detection fill in what the
environment does not say:

* SLURM (`srun`, `SLURM_NTASKS` > 1), Open MPI (`mpirun`, `OMPI_COMM_WORLD_SIZE` > 1),
  a Kubernetes indexed Job (`JOB_COMPLETION_INDEX`; JAX needs the `kubernetes`
  package there) and a multi-host Cloud TPU slice (`TPU_WORKER_HOSTNAMES` or
  `TPU_PROCESS_ADDRESSES` listing several hosts): `jax.distributed.initialize()` with
  no arguments, JAX detects the coordinator, the process count and the process id.
* A manual launch: JAX's `JAX_COORDINATOR_ADDRESS=host:port` (which JAX itself reads),
  plus `JAX_NUM_PROCESSES` and `JAX_PROCESS_ID` (passed as `num_processes` /
  `process_id`; JAX has no variable of its own for them). Either may be left out on a
  cluster JAX detects. `JAX_NUM_PROCESSES` > 1 alone also asks for initialisation
  (everything else detected), e.g. on a TPU pod whose hosts JAX finds through the
  metadata server.
* Compatibility: the earlier `RVS_JAX_COORDINATOR`, `RVS_JAX_NUM_PROCESSES` and
  `RVS_JAX_PROCESS_ID` still work (a deprecation warning names the JAX ones).

Each host then feeds its own slice of every global batch (`InputPipeline` slices by
`jax.process_index()`).
"""

from __future__ import annotations

import logging
import os
from typing import Any, Mapping

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P


# Deprecated variable -> JAX's name (see the module docstring).
_COMPAT = {"RVS_JAX_COORDINATOR": "JAX_COORDINATOR_ADDRESS",
           "RVS_JAX_NUM_PROCESSES": "JAX_NUM_PROCESSES",
           "RVS_JAX_PROCESS_ID": "JAX_PROCESS_ID"}


def _several(environ: Mapping[str, str], key: str) -> bool:
  try:
    return int(environ.get(key, "1")) > 1
  except ValueError:
    return False


def _host_list(environ: Mapping[str, str], key: str) -> bool:
  return len([h for h in environ.get(key, "").split(",") if h.strip()]) > 1


def distributed_request(environ: Mapping[str, str]) -> dict[str, Any] | None:
  """The `jax.distributed.initialize` keyword arguments `environ` asks for, or None.

  Raises:
    ValueError: a process count or id that is not an integer (naming the variable).
  """
  env = dict(environ)
  for old, new in _COMPAT.items():
    if old in env and new not in env:
      logging.warning("%s is deprecated: set %s instead", old, new)
      env[new] = env[old]
  kwargs: dict[str, Any] = {}
  if env.get("JAX_COORDINATOR_ADDRESS"):
    kwargs["coordinator_address"] = env["JAX_COORDINATOR_ADDRESS"]
  for key, arg in (("JAX_NUM_PROCESSES", "num_processes"),
                   ("JAX_PROCESS_ID", "process_id")):
    if env.get(key, "") != "":
      try:
        kwargs[arg] = int(env[key])
      except ValueError:
        raise ValueError(f"{key}={env[key]!r} is not an integer") from None
  if kwargs.get("num_processes", 0) > 1 or "coordinator_address" in kwargs:
    return kwargs
  detected = (_several(env, "SLURM_NTASKS") or _several(env, "OMPI_COMM_WORLD_SIZE")
              or ("KUBERNETES_SERVICE_HOST" in env and "JOB_COMPLETION_INDEX" in env)
              or _host_list(env, "TPU_WORKER_HOSTNAMES")
              or _host_list(env, "TPU_PROCESS_ADDRESSES"))
  return kwargs if detected else None


def maybe_initialize_distributed() -> None:
  """`jax.distributed.initialize` when launched as several processes (docstring)."""
  kwargs = distributed_request(os.environ)
  if kwargs is not None:
    jax.distributed.initialize(**kwargs)
    logging.info("jax.distributed: process %d of %d", jax.process_index(),
                 jax.process_count())


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
