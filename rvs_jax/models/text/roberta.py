"""RoBERTa's encoder (Liu et al. 2019), numerically `transformers`' `RobertaModel`.

The network is BERT's (`rvs_jax.models.text.bert`); only the positions differ, as in
fairseq: real tokens are numbered `pad_token_id + 1, pad_token_id + 2, ...` and pads get
`pad_token_id` (transformers' `create_position_ids_from_input_ids`, which looks at the
token ids, not at the attention mask). Hence `max_positions` 514 for 512 tokens.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from rvs_jax.models.text import bert
from rvs_jax.models.text.config import TransformerConfig


def roberta_positions(token_ids: jax.Array, mask: jax.Array,
                      cfg: TransformerConfig) -> jax.Array:
  """`(cumsum(real) * real) + pad_token_id`, real = `token_ids != pad_token_id`."""
  del mask
  real = (token_ids != cfg.pad_token_id).astype(jnp.int32)
  return jnp.cumsum(real, axis=1) * real + cfg.pad_token_id


RoBERTa = functools.partial(bert.BERT, positions=roberta_positions)
