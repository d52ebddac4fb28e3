"""Refer-DAVIS17: fine-tune the Refer-YouTube-VOS model one epoch at 1e-5 (docs/model.md).

  python train.py --config configs/refer_davis.py --workdir W_davis \
      --config.init_from=W_ytvos --config.data.root=/data/refer_davis
"""

import ml_collections

from rvs_jax import experiment


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  config = experiment.get_config("refer_davis", arg, train_split="train",
                                 eval_split="val")
  config.train.update(num_epochs=1, lr=1e-5, lr_decay_epochs=())
  return config
