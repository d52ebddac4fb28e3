"""XLNet's encoder (Yang et al. 2019), numerically `transformers`' `XLNetModel`.

`last_hidden_state` of a plain forward `model(input_ids, attention_mask)`: no memory,
no permutation mask, no target mapping (so only the content stream `h`), no
`token_type_ids` (so no segment term), bidirectional attention (`attn_type='bi'`), no
`bi_data`. What that forward computes, channels last:

* relative positions `klen, klen - 1, ..., -qlen + 1` (N + N values, clamped to
  +-clamp_len when > 0), sinusoids `[sin(p f), cos(p f)]`, `f = 1 / 10000^(2i / C)`;
* per layer: `q, k, v = h W_{q,k,v}`, `k_r = pos W_r` (weights `(C, heads, d)`);
  `score = ((q + r_w_bias) k + shift((q + r_r_bias) k_r)) / sqrt(d)`, where `shift` is
  transformers' `rel_shift_bnij` (a reshape that lines up query i with distance i - j);
  the content stream's mask (`non_tgt_mask`) hides the pad keys except a position's own,
  by subtracting 1e30 as transformers does; softmax; `o`-projection (`einsum` with the
  `(C, heads, d)` weight `o`), residual, LayerNorm; then the feed-forward block
  `LayerNorm(x + W_2 act(W_1 x))`.

`mask_emb`, `r_s_bias` and `seg_embed` serve the query stream and segments, which this
forward does not use: the converter drops them (and lists them as dropped).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from rvs_jax.models.text.bert import dense, layer_norm
from rvs_jax.models.text.config import ACTIVATIONS, TransformerConfig

_INIT = nn.initializers.normal(0.02)  # transformers' initializer_range.


def relative_positional_encoding(n: int, cfg: TransformerConfig) -> jax.Array:
  """`(2N, C)` sinusoids of the distances `N, N-1, ..., -N+1` (klen = qlen = N)."""
  freq = jnp.arange(0, cfg.hidden, 2, dtype=jnp.float32)
  inv_freq = 1.0 / jnp.power(10000.0, freq / cfg.hidden)
  pos = jnp.arange(n, -n, -1).astype(jnp.float32)          # (2N,)
  if cfg.clamp_len > 0:
    pos = jnp.clip(pos, -cfg.clamp_len, cfg.clamp_len)
  angles = pos[:, None] * inv_freq                         # (2N, C/2)
  return jnp.concatenate([jnp.sin(angles), jnp.cos(angles)], axis=-1)


def rel_shift(x: jax.Array, klen: int) -> jax.Array:
  """transformers' `rel_shift_bnij`: `(B, H, N, P)` -> `(B, H, N, klen)`."""
  b, h, i, p = x.shape
  x = x.reshape(b, h, p, i)[:, :, 1:, :]
  return x.reshape(b, h, i, p - 1)[..., :klen]


class RelativeAttention(nn.Module, kw_only=True):
  """The content stream of `XLNetRelativeAttention` (post-attention LN included)."""
  config: TransformerConfig

  @nn.compact
  def __call__(self, h: jax.Array, pos: jax.Array, blocked: jax.Array) -> jax.Array:
    cfg = self.config
    shape = (cfg.hidden, cfg.heads, cfg.head_dim)
    w = {k: self.param(k, _INIT, shape) for k in ("q", "k", "v", "o", "r")}
    r_w_bias = self.param("r_w_bias", _INIT, (cfg.heads, cfg.head_dim))
    r_r_bias = self.param("r_r_bias", _INIT, (cfg.heads, cfg.head_dim))
    q = jnp.einsum("bic,cnd->bind", h, w["q"])              # (B, N, heads, d)
    k = jnp.einsum("bjc,cnd->bjnd", h, w["k"])
    v = jnp.einsum("bjc,cnd->bjnd", h, w["v"])
    k_r = jnp.einsum("pc,cnd->pnd", pos, w["r"])            # (2N, heads, d)
    ac = jnp.einsum("bind,bjnd->bnij", q + r_w_bias, k)     # (B, heads, N, N)
    bd = jnp.einsum("bind,pnd->bnip", q + r_r_bias, k_r)    # (B, heads, N, 2N)
    bd = rel_shift(bd, klen=ac.shape[-1])
    score = (ac + bd) * cfg.head_dim ** -0.5
    # transformers subtracts 1e30 (float32) at the blocked pairs; the same here.
    score = score - 1e30 * blocked[:, None].astype(score.dtype)
    prob = jax.nn.softmax(score, axis=-1)
    vec = jnp.einsum("bnij,bjnd->bind", prob, v)
    out = jnp.einsum("bind,cnd->bic", vec, w["o"])
    return layer_norm(cfg, "layer_norm")(out + h)


class FeedForward(nn.Module, kw_only=True):
  """`XLNetFeedForward`: `LayerNorm(x + layer_2(act(layer_1(x))))`."""
  config: TransformerConfig

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    cfg = self.config
    y = ACTIVATIONS[cfg.activation](dense(cfg.intermediate, "layer_1")(x))
    return layer_norm(cfg, "layer_norm")(x + dense(cfg.hidden, "layer_2")(y))


class Layer(nn.Module, kw_only=True):
  """`XLNetLayer` on the content stream: relative attention, then feed-forward."""
  config: TransformerConfig

  @nn.compact
  def __call__(self, h: jax.Array, pos: jax.Array, blocked: jax.Array) -> jax.Array:
    h = RelativeAttention(config=self.config, name="rel_attn")(h, pos, blocked)
    return FeedForward(config=self.config, name="ff")(h)


class XLNet(nn.Module, kw_only=True):
  """`(token_ids int32 (B, N), mask bool (B, N))` -> last hidden state `(B, N, C)`."""
  config: TransformerConfig

  @nn.compact
  def __call__(self, token_ids: jax.Array, mask: jax.Array) -> jax.Array:
    cfg = self.config
    n = token_ids.shape[1]
    h = nn.Embed(cfg.vocab_size, cfg.hidden, embedding_init=_INIT,
                 name="word_embedding")(token_ids)          # (B, N, C)
    pos = relative_positional_encoding(n, cfg)             # (2N, C)
    # non_tgt_mask: key j is hidden from query i when j is a pad and j != i.
    blocked = (~mask[:, None, :]) & ~jnp.eye(n, dtype=bool)[None]  # (B, N, N)
    for i in range(cfg.layers):
      h = Layer(config=cfg, name=f"layer_{i}")(h, pos, blocked)
    return h
