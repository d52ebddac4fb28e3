"""BERT's encoder (Devlin et al. 2019), numerically `transformers`' `BertModel`.

`last_hidden_state` of a plain forward `model(input_ids, attention_mask)`: token +
learned position (0, 1, ...) + token-type-0 embeddings, LayerNorm, then `layers` post-LN
blocks (self-attention -> Dense -> residual -> LayerNorm; Dense -> activation -> Dense
-> residual -> LayerNorm). Keys that are pads (`mask` False) get no attention weight;
pad positions are computed like the others (their features are not meaningful). The
pooler is not part of it (the model reads the per-token features).

Parameter layout (`rvs_jax.convert.hf` maps the Hugging Face names): Dense kernels are
`(in, out)` = torch `weight.T`; LayerNorms are `{scale, bias}`. Initialisation is
`transformers`' (`initializer_range` 0.02 normal for kernels and embeddings, zero
biases), which matters only for models trained from scratch.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from rvs_jax.models.text.config import ACTIVATIONS, TransformerConfig

_INIT = nn.initializers.normal(0.02)  # transformers' initializer_range.


def dense(features: int, name: str) -> nn.Dense:
  return nn.Dense(features, kernel_init=_INIT, name=name)


def layer_norm(cfg: TransformerConfig, name: str) -> nn.LayerNorm:
  # torch.nn.LayerNorm: biased variance, eps inside the sqrt, like Flax's.
  return nn.LayerNorm(epsilon=cfg.layer_norm_eps, name=name)


class SelfAttention(nn.Module, kw_only=True):
  """Multi-head scaled dot-product attention over the non-pad keys, plus the output
  projection (`attention.self` + `attention.output.dense` in `transformers`)."""
  config: TransformerConfig

  @nn.compact
  def __call__(self, x: jax.Array, mask: jax.Array) -> jax.Array:
    cfg = self.config
    b, n, _ = x.shape
    split = lambda y: y.reshape(b, n, cfg.heads, cfg.head_dim)  # pylint: disable=unnecessary-lambda-assignment
    q = split(dense(cfg.hidden, "query")(x))               # (B, N, heads, d)
    k = split(dense(cfg.hidden, "key")(x))
    v = split(dense(cfg.hidden, "value")(x))
    scores = jnp.einsum("bqhd,bkhd->bhqk", q, k) * cfg.head_dim ** -0.5
    # transformers adds finfo.min at pad keys; every row has a real key, so the
    # softmax gives the pads exactly zero weight either way.
    scores = jnp.where(mask[:, None, None, :], scores, jnp.finfo(scores.dtype).min)
    probs = jax.nn.softmax(scores, axis=-1)                # (B, heads, N, N)
    out = jnp.einsum("bhqk,bkhd->bqhd", probs, v).reshape(b, n, cfg.hidden)
    return dense(cfg.hidden, "output")(out)


class Layer(nn.Module, kw_only=True):
  """One post-LN transformer block (`BertLayer`)."""
  config: TransformerConfig

  @nn.compact
  def __call__(self, x: jax.Array, mask: jax.Array) -> jax.Array:
    cfg = self.config
    x = layer_norm(cfg, "attention_norm")(
        x + SelfAttention(config=cfg, name="attention")(x, mask))
    h = ACTIVATIONS[cfg.activation](dense(cfg.intermediate, "intermediate")(x))
    return layer_norm(cfg, "output_norm")(x + dense(cfg.hidden, "output")(h))


class Embeddings(nn.Module, kw_only=True):
  """Token + position + token-type-0 embeddings, LayerNorm (`BertEmbeddings`)."""
  config: TransformerConfig

  @nn.compact
  def __call__(self, token_ids: jax.Array, positions: jax.Array) -> jax.Array:
    cfg = self.config
    embed = lambda rows, name: nn.Embed(rows, cfg.hidden, embedding_init=_INIT,  # pylint: disable=unnecessary-lambda-assignment
                                        name=name)
    x = embed(cfg.vocab_size, "word_embeddings")(token_ids)
    x = x + embed(cfg.max_positions, "position_embeddings")(positions)
    # Every token is of type 0 (one sentence; transformers' default token_type_ids).
    x = x + embed(cfg.type_vocab_size, "token_type_embeddings").embedding[0]
    return layer_norm(cfg, "LayerNorm")(x)


def bert_positions(token_ids: jax.Array, mask: jax.Array,
                   cfg: TransformerConfig) -> jax.Array:
  """BERT's positions: 0, 1, ... whatever the padding (transformers' `position_ids`)."""
  del mask, cfg
  return jnp.broadcast_to(jnp.arange(token_ids.shape[1]), token_ids.shape)


class BERT(nn.Module, kw_only=True):
  """`(token_ids int32 (B, N), mask bool (B, N))` -> last hidden state `(B, N, C)`."""
  config: TransformerConfig
  positions: object = bert_positions   # (token_ids, mask, config) -> (B, N) int

  @nn.compact
  def __call__(self, token_ids: jax.Array, mask: jax.Array) -> jax.Array:
    cfg = self.config
    x = Embeddings(config=cfg, name="embeddings")(
        token_ids, self.positions(token_ids, mask, cfg))   # (B, N, C)
    for i in range(cfg.layers):
      x = Layer(config=cfg, name=f"layer_{i}")(x, mask)
    return x
