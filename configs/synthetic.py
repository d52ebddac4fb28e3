"""The built-in synthetic benchmark (A2D layout, no download), the README's main job.

  python -m rvs_jax.data.synthetic --out synthetic_data
  python train.py --config configs/synthetic.py:cpu --workdir workdir
  python eval.py --config configs/synthetic.py:cpu --workdir workdir

Args after `:` (comma separated): `cpu` (the main job: the CPU recipe of
`rvs_jax.experiment.RECIPES`, docs/grounding.md), `tiny` (64x64 test-size model with
the earlier short schedule below), `cstm`, and any ablation row (e.g.
`temporal_only,cpu`; `rvs_jax/models/variants.py`).
"""

import ml_collections

from rvs_jax import experiment


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  config = experiment.get_config("synthetic", arg, root="synthetic_data")
  if "tiny" in experiment.parse_arg(arg):
    # A short CPU schedule with the paper's shape: halve the LR twice near the end.
    # Objects cover ~3% of a 64x64 frame: a Dice term (LBDT's recipe) stops the BCE
    # from settling on "all background".
    config.train.update(num_epochs=4, lr=1e-3, lr_decay_epochs=(3,), batch_size=8,
                        eval_every_epochs=2,
                        dice_weight=1.0, checkpoint_every_steps=200,
                        log_every_steps=25)
  config.eval.protocol = "clean"
  return config
