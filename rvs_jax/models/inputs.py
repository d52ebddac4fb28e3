"""The model's input signature: the one place that knows its shapes and dtypes.

`RVSModel.__call__(video, words, word_mask, train=...)` takes

  video      (B, T, H, W, 3) float32   RGB in [0, 1]; H, W multiples of 32
  words      (B, N, WORD_DIM) float32  word vectors (zeros for pads / unknown words)
  word_mask  (B, N) bool               True for real words

Init, weight conversion, export, benchmarks and tests build their inputs here, so a
change of the signature is one edit.
"""

from __future__ import annotations

from typing import Protocol

import jax
import jax.numpy as jnp

# GloVe vectors: the width of `words`, and so of the text GRU's input kernel.
WORD_DIM = 300


class Sizes(Protocol):
  """What `input_spec` reads: `config.data` or `checkpointing.InputConstants`."""
  num_frames: int
  image_size: int
  max_words: int


def input_spec(sizes: Sizes, batch_size: int = 1
               ) -> tuple[jax.ShapeDtypeStruct, jax.ShapeDtypeStruct,
                          jax.ShapeDtypeStruct]:
  """`(video, words, word_mask)` shapes for `batch_size` clips of `sizes`."""
  t, s, n = int(sizes.num_frames), int(sizes.image_size), int(sizes.max_words)
  return (jax.ShapeDtypeStruct((batch_size, t, s, s, 3), jnp.float32),
          jax.ShapeDtypeStruct((batch_size, n, WORD_DIM), jnp.float32),
          jax.ShapeDtypeStruct((batch_size, n), jnp.bool_))


def dummy_inputs(sizes: Sizes, batch_size: int = 1) -> tuple[jax.Array, ...]:
  """Zero inputs of `input_spec` (all words present), e.g. for `model.init`."""
  video, words, mask = input_spec(sizes, batch_size)
  return (jnp.zeros(video.shape, video.dtype), jnp.zeros(words.shape, words.dtype),
          jnp.ones(mask.shape, mask.dtype))
