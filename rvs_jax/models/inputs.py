"""The model's input signature: the one place that knows its shapes and dtypes.

`RVSModel.__call__(video, token_ids, token_mask, train=..., embeddings=None)` takes

  video       (B, T, H, W, 3) float32  RGB in [0, 1]; H, W multiples of 32
  token_ids   (B, N) int32             the tokenizer's ids (BERT, RoBERTa, XLNet), or
                                       rows of the model's GloVe table (glove_gru with
                                       `text_glove_vocab` != 0; 0 = pad / unknown word)
  token_mask  (B, N) bool              True for real tokens

A glove_gru model without a table (`text_glove_vocab` 0, every checkpoint trained
before token ids) reads GloVe vectors instead: `(B, N, WORD_DIM)` float32 in the token
ids' place, or `embeddings=` (zeros for pads / unknown words). `input_spec` gives what
a model config reads, so init, weight conversion, export, benchmarks and tests build
their inputs here and a change of the signature is one edit.
"""

from __future__ import annotations

from typing import Any, Protocol

import jax
import jax.numpy as jnp

# GloVe vectors: the width of `embeddings`, and so of the text GRU's input kernel.
WORD_DIM = 300


class Sizes(Protocol):
  """What `input_spec` reads: `config.data` or `checkpointing.InputConstants`."""
  num_frames: int
  image_size: int
  max_words: int


def reads_token_ids(model: Any) -> bool:
  """Whether a model config (`ModelConfig`, a `config.model` section or None = the
  GloVe vectors of every model before token ids) reads int32 token ids."""
  if model is None:
    return False
  get = (model.get if hasattr(model, "get")
         else lambda k, d=None: getattr(model, k, d))
  return get("text_name", "glove_gru") != "glove_gru" or get("text_glove_vocab", 0) != 0


def input_spec(sizes: Sizes, batch_size: int = 1, model: Any = None
               ) -> tuple[jax.ShapeDtypeStruct, jax.ShapeDtypeStruct,
                          jax.ShapeDtypeStruct]:
  """`(video, token_ids or word vectors, token_mask)` for `batch_size` clips of `sizes`.

  Args:
    sizes: `config.data` or `checkpointing.InputConstants`.
    batch_size: B.
    model: the model config; None (or a glove_gru model without a table): GloVe
      vectors `(B, N, WORD_DIM)` in the token ids' place.
  """
  t, s, n = int(sizes.num_frames), int(sizes.image_size), int(sizes.max_words)
  text = (jax.ShapeDtypeStruct((batch_size, n), jnp.int32) if reads_token_ids(model)
          else jax.ShapeDtypeStruct((batch_size, n, WORD_DIM), jnp.float32))
  return (jax.ShapeDtypeStruct((batch_size, t, s, s, 3), jnp.float32), text,
          jax.ShapeDtypeStruct((batch_size, n), jnp.bool_))


def dummy_inputs(sizes: Sizes, batch_size: int = 1, model: Any = None
                 ) -> tuple[jax.Array, ...]:
  """Zero inputs of `input_spec` (all tokens present), e.g. for `model.init`."""
  video, text, mask = input_spec(sizes, batch_size, model)
  return (jnp.zeros(video.shape, video.dtype), jnp.zeros(text.shape, text.dtype),
          jnp.ones(mask.shape, mask.dtype))
