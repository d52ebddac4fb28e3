"""MeViS: motion expressions, several objects per expression (rvs_jax/data/mevis.py).

From scratch (the paper's schedule, like Refer-YouTube-VOS)::

  python train.py --config configs/mevis.py --workdir W_mevis \
      --config.data.root=/data/mevis --config.data.glove=...

Fine-tuning the Refer-YouTube-VOS model (one epoch at 1e-5, the Refer-DAVIS recipe;
`init_from` restores the weights; the word vectors are inputs, built from GloVe for
MeViS's vocabulary in the new workdir)::

  python train.py --config configs/mevis.py --workdir W_mevis_ft \
      --config.init_from=W_ytvos --config.data.root=/data/mevis \
      --config.train.num_epochs=1 --config.train.lr=1e-5 \
      --config.train.lr_decay_epochs="()"

Scoring: `eval.py` on `valid_u` (the default `eval_split`) predicts every frame from its
own clip and computes J, F, J&F per expression against the union of its objects;
`--config.data.eval_split=valid` writes the server's zip (`<video>/<exp_id>/<frame>.png`
at its root). Training does not evaluate (`eval_every_epochs=0`): the in-training
evaluator scores single frames, not the MeViS protocol.
"""

import ml_collections

from rvs_jax import experiment


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  config = experiment.get_config("mevis", arg)
  config.train.eval_every_epochs = 0
  return config
