"""J-HMDB Sentences: evaluation only, with the A2D model (no fine-tuning).

  python eval.py --config configs/jhmdb_sentences.py --workdir W_jhmdb \
      --checkpoint W_a2d --config.data.root=/data/jhmdb_sentences
"""

import ml_collections

from configs import common


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  args = common.parse_arg(arg)
  base = common.CSTM if "cstm" in args else common.LSTC
  config = common.experiment_config(base, [a for a in args if a != "cstm"],
                                    dataset="jhmdb_sentences", eval_split="test")
  config.train.num_epochs = 0
  return config
