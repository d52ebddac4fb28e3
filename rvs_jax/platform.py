"""Process-level JAX settings shared by the command-line programs.

On CPU, YNNPACK dot fusions make conv training ~3x slower on the machines we measured
(measured: README, "Speed on this machine"), so they are disabled unless XLA_FLAGS
already says otherwise; the persistent compilation cache (`RVS_JAX_CACHE`, default
~/.cache/rvs_jax/xla) makes a second run of the same program skip most compilation.

Start-up noise: TensorFlow's and XLA's C++ INFO lines (`cpu_feature_guard.cc ... This
TensorFlow binary is optimized ...`, printed when TensorBoard's writer imports
TensorFlow) are dropped by `TF_CPP_MIN_LOG_LEVEL=1` unless it is set already; their
warnings and errors still show. Python INFO records of Orbax, JAX, TensorFlow and clu
are dropped, ours are shown (`quiet_logs`).
"""

import os


def configure() -> None:
  """Call before the first JAX computation (e.g. at the top of `main`)."""
  quiet_logs()
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")
  if "ynn_fusion_type" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                               " --xla_cpu_experimental_ynn_fusion_type=")
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
