"""Refer-YouTube-VOS: clips of 8 consecutive annotated-rate frames (stride 1).

  python train.py --config configs/refer_youtube_vos.py --workdir W \
      --config.data.root=/data/refer_youtube_vos --config.data.glove=...
Per-frame video evaluation (J, F, J&F, submission zip) is not implemented yet.
"""

import ml_collections

from configs import common


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  args = common.parse_arg(arg)
  return common.experiment_config(common.LSTC, args, dataset="refer_youtube_vos",
                                  eval_split="valid", clip_stride=1)
