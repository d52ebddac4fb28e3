"""Refer-DAVIS17: fine-tune the Refer-YouTube-VOS model one epoch at 1e-5 (docs/model.md).

  python train.py --config configs/refer_davis.py --workdir W_davis \
      --config.init_from=W_ytvos --config.data.root=/data/refer_davis
"""

import ml_collections

from configs import common


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  args = common.parse_arg(arg)
  config = common.experiment_config(common.LSTC, args, dataset="refer_davis",
                                    train_split="train", eval_split="val")
  config.train.update(num_epochs=1, lr=1e-5, lr_decay_epochs=())
  return config
