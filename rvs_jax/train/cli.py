"""Trains a referring video segmentation model.

  rvs-train --config configs/synthetic.py:tiny --workdir workdir \
      [--config.data.root=...] [--config.init_from=...] [--config.train.num_steps=...]

(`python train.py ...` is the same command.) Rerunning it resumes from the last
checkpoint in --workdir. Multi-host: see rvs_jax/sharding.py (SLURM, Open MPI,
Kubernetes and Cloud TPU are detected by JAX; for a manual launch set
JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES and JAX_PROCESS_ID).
"""

import json
from typing import Optional, Sequence

from absl import flags

from rvs_jax import app, platform, sharding


def _define_flags(flag_values: flags.FlagValues, argv: Sequence[str]) -> None:
  app.define_config(flag_values, argv)
  flags.DEFINE_string("workdir", None, "Checkpoints, logs and results.",
                      flag_values=flag_values)


def _main(flag_values: flags.FlagValues) -> int:
  platform.configure()
  sharding.maybe_initialize_distributed()
  from rvs_jax.train import trainer  # pylint: disable=g-import-not-at-top
  summary = trainer.train_and_evaluate(app.flag(flag_values, "config"),
                                       app.flag(flag_values, "workdir"))
  print(json.dumps({k: v for k, v in summary.items() if not isinstance(v, dict)},
                   indent=1))
  return 0


COMMAND = app.Command(prog="rvs-train", doc=__doc__, define_flags=_define_flags,
                      main=_main, required=("config", "workdir"), workdir_flag="workdir")


def main(argv: Optional[Sequence[str]] = None) -> int:
  return app.run(COMMAND, argv)
