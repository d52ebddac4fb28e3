"""Trains a referring video segmentation model.

  python train.py --config configs/synthetic.py:tiny --workdir workdir \
      [--config.data.root=...] [--config.init_from=...] [--config.train.num_steps=...]

Rerunning the same command resumes from the last checkpoint in --workdir. Multi-host:
see rvs_jax/sharding.py (SLURM is detected; for a manual launch set
RVS_JAX_COORDINATOR, RVS_JAX_NUM_PROCESSES and RVS_JAX_PROCESS_ID).
"""

import json

from absl import app, flags
from ml_collections import config_flags

from rvs_jax import platform, sharding

_CONFIG = config_flags.DEFINE_config_file("config", None, "Config file (path[:args]).",
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Checkpoints, logs and results.")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
  del argv
  platform.configure()
  sharding.maybe_initialize_distributed()
  from rvs_jax.train import trainer  # pylint: disable=g-import-not-at-top
  summary = trainer.train_and_evaluate(_CONFIG.value, _WORKDIR.value)
  print(json.dumps({k: v for k, v in summary.items() if not isinstance(v, dict)},
                   indent=1))


if __name__ == "__main__":
  app.run(main)
