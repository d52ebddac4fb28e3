"""CMAM+: CMAM plus the progressive language update (docs/model.md, "CMAM", paper eq. 6).

After the stage's CMAM recombines the words into a sentence feature `l`, the words are
updated for the next stage:

    L^ = concat[l, L]                                   (N + 1 tokens)
    L- = L^ + softmax(L^ W4 (L^ W5)^T / sqrt(C_l)) (L^ W6)
    L  <- L-[1:]                                        (drop the sentence token)

single-head, pads masked as keys when `mask_pads`. The residual form is kept exactly;
LayerNorm after the update and multi-head attention are config options, off by default.
The spatial and temporal encoders each carry their own stream (`L_s`, `L_t`).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from rvs_jax.models import cmam, layers


class LanguageUpdate(nn.Module):
  """`L <- (L^ + Attn(L^))[1:]` with `L^ = [l; L]` (paper eq. 6)."""
  mask_pads: bool = False
  num_heads: int = 1
  layer_norm: bool = False
  dtype: jnp.dtype | None = None

  @nn.compact
  def __call__(self, sentence: jax.Array, words: jax.Array,
               word_mask: jax.Array) -> jax.Array:
    """`sentence (B, C)`, `words (B, N, C)`, `word_mask (B, N)` -> words `(B, N, C)`."""
    b, n, c = words.shape
    if c % self.num_heads:
      raise ValueError(f"Language width {c} is not divisible by {self.num_heads} heads.")
    tokens = jnp.concatenate([sentence[:, None], words], axis=1)      # (B, N+1, C)
    proj = lambda name: layers.Dense(c, use_bias=False, dtype=self.dtype, name=name)(  # pylint: disable=unnecessary-lambda-assignment
        tokens).reshape(b, n + 1, self.num_heads, c // self.num_heads)
    q, k, v = proj("w4_query"), proj("w5_key"), proj("w6_value")
    logits = jnp.einsum("bqhd,bkhd->bhqk", q, k) / jnp.sqrt(c).astype(q.dtype)
    if self.mask_pads:
      keep = jnp.concatenate([jnp.ones((b, 1), bool), word_mask], axis=1)  # (B, N+1)
      logits = jnp.where(keep[:, None, None, :], logits, -jnp.inf)
    attn = jax.nn.softmax(logits.astype(jnp.float32), axis=-1).astype(v.dtype)
    out = tokens + jnp.einsum("bhqk,bkhd->bqhd", attn, v).reshape(b, n + 1, c)
    if self.layer_norm:
      out = nn.LayerNorm(epsilon=1e-5, name="norm")(out)
    return out[:, 1:]


class CMAMPlus(nn.Module):
  """CMAM followed by the language update; returns `(dV, sentence, new_words)`."""
  mask_pads: bool = False
  modulation: str = "code"
  num_heads: int = 1
  layer_norm: bool = False
  freeze_bn: bool = False
  conv3d_impl: str = "fold"
  conv2d_impl: str = "auto"
  dtype: jnp.dtype | None = None

  @nn.compact
  def __call__(self, v, words, word_mask, train: bool = False):
    dv, sentence = cmam.CMAM(self.mask_pads, self.modulation, self.freeze_bn,
                             self.conv3d_impl, self.conv2d_impl, self.dtype,
                             name="cmam")(
                                 v, words, word_mask, train)
    new_words = LanguageUpdate(self.mask_pads, self.num_heads, self.layer_norm,
                               self.dtype, name="language_update")(
                                   sentence, words, word_mask)
    return dv, sentence, new_words
