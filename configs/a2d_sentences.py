"""A2D Sentences: train and evaluate (docs/model.md, the paper's schedule).

  python train.py --config configs/a2d_sentences.py --workdir W \
      --config.data.root=/data/a2d_sentences --config.data.glove=/data/glove.840B.300d.zip
  python eval.py --config configs/a2d_sentences.py --workdir W --config.data.root=...

Args: `cstm` (the CVPR'21 model instead of `lstc`), `tiny`, `cpu` (the main job's CPU
recipe on A2D-layout data: `rvs_jax.experiment.RECIPES`), ablation names.
"""

import ml_collections

from rvs_jax import experiment


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  return experiment.get_config("a2d_sentences", arg)
