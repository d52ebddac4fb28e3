"""Test-session set-up: 4 CPU devices, fast XLA-CPU flags, a persistent compile cache.

Everything here must happen before JAX initialises its backend, which is why it lives
in conftest.py (imported by pytest before any test module).
"""

import os
import pathlib

os.environ.setdefault("JAX_PLATFORMS", "cpu")
# Importing rvs_jax sets its XLA flags (`rvs_jax.platform`): the tests run the program
# users run.
import rvs_jax  # pylint: disable=g-import-not-at-top,unused-import
import jax  # pylint: disable=g-import-not-at-top

jax.config.update("jax_num_cpu_devices", 4)
# Compile time, not FLOPs, dominates the suite: share compiled programs across processes.
_CACHE = pathlib.Path(os.environ.get(
    "RVS_JAX_TEST_CACHE", pathlib.Path(__file__).resolve().parent.parent / ".jax_cache"))
jax.config.update("jax_compilation_cache_dir", str(_CACHE))
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


def pytest_xdist_auto_num_workers(config):
  """`-n auto`: one worker per core, at most 4.

  XLA compiles a program on about one core, and compiling dominates the suite, so a
  2-core machine runs it in roughly half the time with two workers. Each worker is its own
  process with 4 virtual CPU devices and its own copies of the models; more than 4 would
  cost memory for little gain on the machines CI uses.
  """
  del config
  return max(1, min(os.cpu_count() or 1, 4))
