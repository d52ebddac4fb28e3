"""Text encoders: the paper's GloVe + GRU and BERT, RoBERTa, XLNet (Table X).

* `rvs_jax.models.text_encoder`: GloVe word vectors -> GRU -> LayerNorm -> tanh.
* `bert`, `roberta`, `xlnet`: Flax linen encoders numerically equal to
  `transformers`' `BertModel`, `RobertaModel` and `XLNetModel` (last hidden state);
  `config.TransformerConfig` their hyper-parameters; `tokenizer.SubwordTokenizer` the
  matching tokenisation (the `tokenizers` library, a checkpoint's `tokenizer.json`).

Reading a converted checkpoint (`encode_sentences`, `load_encoder`, a workdir's copy of
the tokenizer) is `rvs_jax.text_features`, above this package.
"""

from __future__ import annotations

import dataclasses

from rvs_jax.models.text.bert import BERT
from rvs_jax.models.text.config import (GLOVE_GRU, NAMES, TRANSFORMERS,
                                        TransformerConfig, from_hf_config, mismatches,
                                        stored_config)
from rvs_jax.models.text.roberta import RoBERTa
from rvs_jax.models.text.tokenizer import (SubwordTokenizer, TokenizerError,
                                           load_tokenizer)
from rvs_jax.models.text.xlnet import XLNet

_MODULES = {"bert": BERT, "roberta": RoBERTa, "xlnet": XLNet}


def encoder_module(cfg: TransformerConfig, name: str | None = None):
  """The Flax module of `cfg.name`: `(token_ids (B, N), mask (B, N))` -> `(B, N, C)`."""
  return _MODULES[cfg.name](config=cfg, name=name)


def text_fields(cfg: TransformerConfig) -> dict:
  """`cfg` as the `ModelConfig.text_*` fields it fixes (`finetune` is the user's)."""
  return {f"text_{k}": v for k, v in dataclasses.asdict(cfg).items() if k != "finetune"}


__all__ = ["BERT", "GLOVE_GRU", "NAMES", "RoBERTa", "SubwordTokenizer", "TRANSFORMERS",
           "TokenizerError", "TransformerConfig", "XLNet", "encoder_module",
           "from_hf_config", "load_tokenizer", "mismatches", "stored_config",
           "text_fields"]
