"""Refer-YouTube-VOS: clips of 8 consecutive annotated-rate frames (stride 1).

  python train.py --config configs/refer_youtube_vos.py --workdir W \
      --config.data.root=/data/refer_youtube_vos --config.data.glove=...
  python eval.py --config configs/refer_youtube_vos.py --workdir W --config.data.root=...
`valid` has no public ground truth: training does not evaluate (`eval_every_epochs=0`);
eval.py predicts every frame and writes the submission zip (and J, F, J&F wherever ground
truth exists, e.g. with --config.data.eval_split=train on a held-out part).
"""

import ml_collections

from configs import common


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  args = common.parse_arg(arg)
  config = common.experiment_config(common.LSTC, args, dataset="refer_youtube_vos",
                                    eval_split="valid")
  config.train.eval_every_epochs = 0
  return config
