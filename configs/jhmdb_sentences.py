"""J-HMDB Sentences: evaluation only, with the A2D model (no fine-tuning).

  python eval.py --config configs/jhmdb_sentences.py --workdir W_jhmdb \
      --checkpoint W_a2d --config.data.root=/data/jhmdb_sentences
"""

import ml_collections

from rvs_jax import experiment


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  config = experiment.get_config("jhmdb_sentences", arg, eval_split="test")
  config.train.num_epochs = 0
  return config
