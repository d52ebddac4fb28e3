"""CMAM+: CMAM plus the progressive language update (docs/model.md, "CMAM", paper eq. 6).

After the stage's CMAM recombines the words into a sentence feature `l`, the words are
updated for the next stage:

    L^ = concat[l, L]                                   (N + 1 tokens)
    L- = L^ + softmax(L^ W4 (L^ W5)^T / sqrt(C_l)) (L^ W6)
    L  <- L-[1:]                                        (drop the sentence token)

single-head, pads masked as keys when `mask_pads`. The residual form is kept exactly;
LayerNorm after the update and multi-head attention are `CMAMConfig` options
(`update_layer_norm`, `update_heads`), off by default.
The spatial and temporal encoders each carry their own stream (`L_s`, `L_t`).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from rvs_jax.models import cmam, layers


class LanguageUpdate(nn.Module, kw_only=True):
  """`L <- (L^ + Attn(L^))[1:]` with `L^ = [l; L]` (paper eq. 6).

  Attributes:
    config: uses `mask_pads`, `update_heads`, `update_layer_norm`.
    dtype: compute dtype of the projections.
  """
  config: cmam.CMAMConfig = cmam.CMAMConfig()
  dtype: jnp.dtype | None = None

  @nn.compact
  def __call__(self, sentence: jax.Array, words: jax.Array,
               word_mask: jax.Array) -> jax.Array:
    """`sentence (B, C)`, `words (B, N, C)`, `word_mask (B, N)` -> words `(B, N, C)`."""
    b, n, c = words.shape
    heads = self.config.update_heads
    if c % heads:
      raise ValueError(f"Language width {c} is not divisible by {heads} heads.")
    tokens = jnp.concatenate([sentence[:, None], words], axis=1)      # (B, N+1, C)

    def proj(name):                                                   # (B, N+1, h, C/h)
      y = layers.Dense(features=c, use_bias=False, dtype=self.dtype, name=name)(tokens)
      return y.reshape(b, n + 1, heads, c // heads)

    q, k, v = proj("w4_query"), proj("w5_key"), proj("w6_value")
    logits = jnp.einsum("bqhd,bkhd->bhqk", q, k) / jnp.sqrt(c).astype(q.dtype)
    if self.config.mask_pads:
      keep = jnp.concatenate([jnp.ones((b, 1), bool), word_mask], axis=1)  # (B, N+1)
      logits = jnp.where(keep[:, None, None, :], logits, -jnp.inf)
    attn = jax.nn.softmax(logits.astype(jnp.float32), axis=-1).astype(v.dtype)
    out = tokens + jnp.einsum("bhqk,bkhd->bqhd", attn, v).reshape(b, n + 1, c)
    if self.config.update_layer_norm:
      out = nn.LayerNorm(epsilon=1e-5, name="norm")(out)
    return out[:, 1:]


class CMAMPlus(nn.Module, kw_only=True):
  """CMAM followed by the language update; returns `(dV, sentence, new_words)`.

  Attributes:
    config: the CMAM and language-update options.
    conv_bn: the `layers.ConvBN` (partial) of the CMAM.
    dtype: compute dtype of the projections.
  """
  config: cmam.CMAMConfig = cmam.CMAMConfig()
  conv_bn: layers.ModuleDef = layers.ConvBN
  dtype: jnp.dtype | None = None

  @nn.compact
  def __call__(self, v, words, word_mask, train: bool = False):
    dv, sentence = cmam.CMAM(config=self.config, conv_bn=self.conv_bn, dtype=self.dtype,
                             name="cmam")(v, words, word_mask, train)
    new_words = LanguageUpdate(config=self.config, dtype=self.dtype,
                               name="language_update")(sentence, words, word_mask)
    return dv, sentence, new_words
