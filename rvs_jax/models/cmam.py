"""CMAM: cross-modal adaptive modulation of one encoder stage (docs/model.md, steps 1-5).

Exactly the CSTM code (docs/model.md), channels last:

1. `V' = ConvBNReLU(concat[V, coord8])`, 3x3 (2-D) or 3x3x3 (3-D), C+8 -> C (`vt`).
2. `K = ConvBN_1x1(V')` (C -> D, `v_key`); `Q = BN1d(Dense_nobias(L))` (`l_query`).
3. `y_n = sum_p <K_p, Q_n>` over every visual position, `y <- y / max(|y|_2, 1e-12)`
   over words (PyTorch `F.normalize`), then softmax over words.
4. `l = sum_n y_n L_n` (the raw words `L`, not `Q`).
5. `g = sigmoid(Dense(l))` (C_l -> C, `gamma`, zero-initialised), and the module
   returns `dV = V' * (g - 0.5)`, which the caller adds: `V <- V + dV`. At init g = 0.5
   exactly, so dV = 0 and the backbone is untouched. `modulation='paper'` returns
   `V' * g` instead (the paper's eq. 5, `V + V*g`), which is not identity at init.

`sum_p <K_p, Q_n>` is computed as `<sum_p K_p, Q_n>`: the same number (the sum is
linear) without the (positions x words) product, which is 25600 x 20 at stage 1.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from rvs_jax.models import coords, layers

MODULATIONS = ("code", "paper")


class CMAM(nn.Module):
  """One CMAM for a 2-D (`(B, H, W, C)`) or 3-D (`(B, T, H, W, C)`) feature.

  Attributes:
    mask_pads: exclude pad words from the word softmax and its L2 norm (the CSTM code
      does not; the TPAMI model does).
    modulation: 'code' (`V' * (g - 0.5)`, CSTM) or 'paper' (`V' * g`).
    freeze_bn: always use BN running statistics.
    conv3d_impl, conv2d_impl: see `layers.Conv3D`, `layers.conv_nhwc`.
  """
  mask_pads: bool = False
  modulation: str = "code"
  freeze_bn: bool = False
  conv3d_impl: str = "fold"
  conv2d_impl: str = "auto"
  dtype: jnp.dtype | None = None

  @nn.compact
  def __call__(self, v: jax.Array, words: jax.Array, word_mask: jax.Array,
               train: bool = False) -> tuple[jax.Array, jax.Array]:
    """Returns `(dV, l)`: the residual for `v` and the recombined sentence `(B, C_l)`.

    Args:
      v: visual feature `(B, [T,] H, W, C)`.
      words: `(B, N, C_l)` word features.
      word_mask: bool `(B, N)`, True for real words.
      train: BN in training mode.
    """
    if self.modulation not in MODULATIONS:
      raise ValueError(f"CMAM modulation {self.modulation!r} not in {MODULATIONS}.")
    c, d = v.shape[-1], words.shape[-1]
    nd = v.ndim - 2
    grid = jnp.asarray(coords.coord_map(v.shape[-3], v.shape[-2]), v.dtype)
    grid = jnp.broadcast_to(grid, v.shape[:-1] + (8,))     # repeated along B (and T)
    k3 = (3,) * nd
    vt = layers.ConvBN(c, k3, freeze_bn=self.freeze_bn, conv3d_impl=self.conv3d_impl,
                       conv2d_impl=self.conv2d_impl, dtype=self.dtype, name="vt")(
                           jnp.concatenate([v, grid], -1), train)
    key = layers.ConvBN(d, (1,) * nd, relu=False, freeze_bn=self.freeze_bn,
                        conv3d_impl=self.conv3d_impl, conv2d_impl=self.conv2d_impl,
                        dtype=self.dtype, name="v_key")(vt, train)
    # Conv1d(D, D, 1, bias=False) + BatchNorm1d over (batch x words), pads included.
    query = layers.Dense(d, use_bias=False, dtype=self.dtype, name="l_query")(words)
    query = layers.batch_norm(name="l_query_bn", dtype=self.dtype)(
        query, use_running_average=not train or self.freeze_bn)
    # A row without any real word (a padding row of an eval batch) keeps every position,
    # so the softmax stays finite.
    word_mask = word_mask | ~jnp.any(word_mask, axis=-1, keepdims=True)
    # A batched (1, P) x (P, D) product with ones, not jnp.sum: XLA-CPU rewrites a
    # 25600-term sum into a chunked reduce-window that took 0.2 s at stage 1 of the 320x320
    # CSTM forward. In this operand order the product reads `key` in place (no transpose).
    key = key.reshape(key.shape[0], -1, d).astype(jnp.float32)         # (B, P, D)
    ones = jnp.ones((key.shape[0], 1, key.shape[1]), jnp.float32)
    key_sum = jnp.einsum("bqp,bpd->bqd", ones, key)[:, 0]               # (B, D)
    y = jnp.einsum("bd,bnd->bn", key_sum, query.astype(jnp.float32))   # (B, N)
    if self.mask_pads:
      y = jnp.where(word_mask, y, 0.0)
    y = y / jnp.maximum(jnp.linalg.norm(y, axis=-1, keepdims=True), 1e-12)
    if self.mask_pads:
      y = jnp.where(word_mask, y, -jnp.inf)
    attn = jax.nn.softmax(y, axis=-1)                                 # (B, N)
    self.sow("intermediates", "word_attention", attn)
    sentence = jnp.einsum("bn,bnd->bd", attn, words.astype(jnp.float32)).astype(
        words.dtype)
    gate = jax.nn.sigmoid(layers.Dense(c, zero_init=True, dtype=self.dtype,
                                       name="gamma")(sentence))       # (B, C)
    gate = gate.reshape((gate.shape[0],) + (1,) * nd + (c,))
    if self.modulation == "code":
      return vt * (gate - 0.5), sentence
    return vt * gate, sentence
