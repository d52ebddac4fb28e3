"""Process-level JAX settings: XLA flags for everyone, and the CLIs' cache and logs.

XLA flags (`set_xla_flags`, applied when `rvs_jax` is imported, so a library user runs
the same program as the command-line tools): XLA:CPU's YNNPACK dot fusions are turned
off (`--xla_cpu_experimental_ynn_fusion_type=`), unless XLA_FLAGS already sets that
flag. Measured with `bench/speed.py` on the project's CPUs (README, "Which XLA flags"):
with them off the full forward is 7-9 % faster on both CPUs measured, the train step
1.3x faster on an AVX-512 Zen and 3-16 % slower on a Zen 3. The flags only act if they
are in place before JAX initialises its backend: import rvs_jax before running any JAX
computation.

The CLIs also call `configure`: the persistent compilation cache (`RVS_JAX_CACHE`,
default ~/.cache/rvs_jax/xla) makes a second run of the same program skip most
compilation.

Start-up noise: TensorFlow's and XLA's C++ INFO lines (`cpu_feature_guard.cc ... This
TensorFlow binary is optimized ...`, printed when TensorBoard's writer imports
TensorFlow) are dropped by `TF_CPP_MIN_LOG_LEVEL=1` unless it is set already; their
warnings and errors still show. Python INFO records of Orbax, JAX, TensorFlow and clu
are dropped, ours are shown (`quiet_logs`).
"""

import os
import sys
import warnings

# `--name=value` XLA flags of every rvs_jax process (see the module docstring).
XLA_FLAGS = ("--xla_cpu_experimental_ynn_fusion_type=",)


def _backend_initialised() -> bool:
  """Whether JAX has created its backends (after which XLA_FLAGS is not read again)."""
  bridge = sys.modules.get("jax._src.xla_bridge")  # Not imported: not initialised.
  check = getattr(bridge, "backends_are_initialized", None)
  return bool(check()) if callable(check) else False


def set_xla_flags() -> bool:
  """Adds `XLA_FLAGS` to the environment's XLA_FLAGS, each unless it is set there.

  Returns:
    Whether they take effect: False (with a warning) if JAX's backend was initialised
    before, i.e. a JAX computation ran before rvs_jax was imported.
  """
  current = os.environ.get("XLA_FLAGS", "")
  missing = [f for f in XLA_FLAGS if f.split("=", 1)[0] not in current]
  if not missing:
    return True
  if _backend_initialised():
    warnings.warn(
        "rvs_jax was imported after JAX initialised its backend, so XLA runs without "
        f"rvs_jax's flags {' '.join(missing)} (train steps measured up to 1.3x slower "
        "on CPU): import rvs_jax first, or set XLA_FLAGS before starting Python",
        RuntimeWarning, stacklevel=3)
    return False
  os.environ["XLA_FLAGS"] = " ".join(current.split() + missing)
  return True


def configure() -> None:
  """Call before the first JAX computation (e.g. at the top of `main`)."""
  quiet_logs()
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")
  set_xla_flags()
  import jax  # pylint: disable=g-import-not-at-top
  cache = os.environ.get("RVS_JAX_CACHE",
                         os.path.join(os.path.expanduser("~"), ".cache", "rvs_jax", "xla"))
  if cache:
    jax.config.update("jax_compilation_cache_dir", cache)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)


class _QuietLibraries:
  """Drops INFO records of chatty libraries (Orbax logs every manager option)."""

  def filter(self, record) -> bool:
    return record.levelno > 20 or not any(
        part in record.pathname
        for part in ("orbax", "jax/_src", "xla_bridge", "tensorflow", "clu/"))


def quiet_logs() -> None:
  """Shows our INFO lines on stderr and drops the libraries' INFO lines.

  The commands run outside `absl.app.run`, so absl's handler (its usual
  `I1207 10:00:00.000000 123 trainer.py:210] ...` lines) is installed here, at INFO
  unless `--verbosity` was given.
  """
  import logging  # pylint: disable=g-import-not-at-top
  from absl import flags  # pylint: disable=g-import-not-at-top
  from absl import logging as absl_logging  # pylint: disable=g-import-not-at-top
  absl_logging.use_absl_handler()
  if "verbosity" in flags.FLAGS and not flags.FLAGS["verbosity"].present:
    absl_logging.set_verbosity(absl_logging.INFO)
  for target in (absl_logging.get_absl_handler(), logging.getLogger()):
    if not any(isinstance(f, _QuietLibraries) for f in target.filters):
      target.addFilter(_QuietLibraries())
