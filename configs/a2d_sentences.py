"""A2D Sentences: train and evaluate (docs/model.md, the paper's schedule).

  python train.py --config configs/a2d_sentences.py --workdir W \
      --config.data.root=/data/a2d_sentences --config.data.glove=/data/glove.840B.300d.zip
  python eval.py --config configs/a2d_sentences.py --workdir W --config.data.root=...

Args: `cstm` (the CVPR'21 model instead of `lstc`), `tiny`, ablation names.
"""

import ml_collections

from configs import common


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  args = common.parse_arg(arg)
  base = common.CSTM if "cstm" in args else common.LSTC
  return common.experiment_config(base, [a for a in args if a != "cstm"],
                                  dataset="a2d_sentences")
