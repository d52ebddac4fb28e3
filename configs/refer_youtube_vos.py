"""Refer-YouTube-VOS: clips of 8 consecutive annotated-rate frames (stride 1).

  python train.py --config configs/refer_youtube_vos.py --workdir W \
      --config.data.root=/data/refer_youtube_vos --config.data.glove=...
  python eval.py --config configs/refer_youtube_vos.py --workdir W --config.data.root=...
`valid` has no public ground truth: training does not evaluate (`eval_every_epochs=0`);
eval.py predicts every frame and writes the submission zip (and J, F, J&F wherever ground
truth exists, e.g. with --config.data.eval_split=train on a held-out part).
"""

import ml_collections

from rvs_jax import experiment


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  config = experiment.get_config("refer_youtube_vos", arg, eval_split="valid")
  config.train.eval_every_epochs = 0
  return config
