"""CMAM: cross-modal adaptive modulation of one encoder stage (docs/model.md, steps 1-5).

Exactly the CSTM code (docs/model.md), channels last:

1. `V' = ConvBNReLU(concat[V, coord8])`, 3x3 (2-D) or 3x3x3 (3-D), C+8 -> C (`vt`).
2. `K = ConvBN_1x1(V')` (C -> D, `v_key`); `Q = BN1d(Dense_nobias(L))` (`l_query`).
3. `y_n = sum_p <K_p, Q_n>` over every visual position, `y <- y / max(|y|_2, 1e-12)`
   over words (PyTorch `F.normalize`), then softmax over words.
4. `l = sum_n y_n L_n` (the raw words `L`, not `Q`).
5. `g = sigmoid(Dense(l))` (C_l -> C, `gamma`, zero-initialised), and the module
   returns `dV = V' * (g - 0.5)`, which the caller adds: `V <- V + dV`. At init g = 0.5
   exactly, so dV = 0 and the backbone is untouched. `modulation='paper'` is eq. 5 as
   the paper prints it, `V <- V + V * g`: the gate scales the stage input `V` itself
   (dV = V * g, so V <- V * (1 + g), 1.5 V at init: not identity). `'projected'`
   gates the projection instead, `V <- V + V' * g` (the form once called 'paper' here);
   neither is identity at init.

`sum_p <K_p, Q_n>` is computed as `<sum_p K_p, Q_n>`: the same number (the sum is
linear) without the (positions x words) product, which is 25600 x 20 at stage 1.

For the explanation pictures the module also sows (`intermediates`, kept only when
`apply` is called with `mutable=["intermediates"]`; otherwise XLA drops the work):
`word_attention (B, N)`, the weights of step 3, and `pixel_word_attention (B, N, h, w)`,
the same normalisation and softmax applied to each position's own term `<K_p, Q_n>`
(3-D features: the middle time slice, the one the decoder uses), so a picture shows
where in the frame each word's weight comes from.
"""

from __future__ import annotations

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp

from rvs_jax.models import coords, layers

KINDS = ("none", "cmam", "cmam_plus")
MODULATIONS = ("code", "paper", "projected")


@dataclasses.dataclass(frozen=True)
class CMAMConfig:
  """CMAM / CMAM+ hyper-parameters (`ModelConfig.cmam*`, `mask_pads`,
  `language_update_*`).

  Attributes:
    kind: 'none', 'cmam' (CSTM) or 'cmam_plus' (TPAMI: CMAM + language update).
    stages: encoder stages (1..5) modulated.
    modulation: the residual dV: 'code' (`V' * (g - 0.5)`, CSTM), 'paper' (`V * g`,
      eq. 5 as printed) or 'projected' (`V' * g`).
    mask_pads: exclude pad words from the word softmax and its L2 norm (the CSTM code
      does not; the TPAMI model does).
    update_heads: attention heads of the CMAM+ language update (1: the paper).
    update_layer_norm: LayerNorm after the language update (off: the paper).
  """
  kind: str = "cmam_plus"
  stages: tuple[int, ...] = (1, 2, 3, 4, 5)
  modulation: str = "code"
  mask_pads: bool = True
  update_heads: int = 1
  update_layer_norm: bool = False


def word_softmax(y: jax.Array, word_mask: jax.Array, mask_pads: bool,
                 axis: int) -> jax.Array:
  """Step 3 after the product: L2-normalise over words (`F.normalize`), softmax.

  Args:
    y: the word terms, words on `axis`.
    word_mask: bool, broadcastable to `y`.
    mask_pads: pads excluded from the norm and the softmax.
    axis: the word axis.
  """
  if mask_pads:
    y = jnp.where(word_mask, y, 0.0)
  y = y / jnp.maximum(jnp.linalg.norm(y, axis=axis, keepdims=True), 1e-12)
  if mask_pads:
    y = jnp.where(word_mask, y, -jnp.inf)
  return jax.nn.softmax(y, axis=axis)


class CMAM(nn.Module, kw_only=True):
  """One CMAM for a 2-D (`(B, H, W, C)`) or 3-D (`(B, T, H, W, C)`) feature.

  Attributes:
    config: uses `modulation` and `mask_pads`.
    conv_bn: the `layers.ConvBN` (partial) of `vt` and `v_key`.
    dtype: compute dtype of the projections.
  """
  config: CMAMConfig = CMAMConfig()
  conv_bn: layers.ModuleDef = layers.ConvBN
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
    cfg = self.config
    if cfg.modulation not in MODULATIONS:
      raise ValueError(f"CMAM modulation {cfg.modulation!r} not in {MODULATIONS}.")
    c, d = v.shape[-1], words.shape[-1]
    nd = v.ndim - 2
    grid = jnp.asarray(coords.coord_map(v.shape[-3], v.shape[-2]), v.dtype)
    grid = jnp.broadcast_to(grid, v.shape[:-1] + (8,))     # repeated along B (and T)
    vt = self.conv_bn(features=c, kernel_size=(3,) * nd, name="vt")(
        jnp.concatenate([v, grid], -1), train)
    key = self.conv_bn(features=d, kernel_size=(1,) * nd, relu=False, name="v_key")(
        vt, train)                                                      # (B, [T,] h, w, D)
    # Conv1d(D, D, 1, bias=False) + BatchNorm1d over (batch x words), pads included.
    query = layers.Dense(features=d, use_bias=False, dtype=self.dtype, name="l_query")(
        words)
    query = layers.batch_norm(name="l_query_bn", dtype=self.dtype)(
        query, use_running_average=not train)
    query = query.astype(jnp.float32)                                   # (B, N, D)
    # A row without any real word (a padding row of an eval batch) keeps every position,
    # so the softmax stays finite.
    word_mask = word_mask | ~jnp.any(word_mask, axis=-1, keepdims=True)
    # A batched (1, P) x (P, D) product with ones, not jnp.sum: XLA-CPU rewrites a
    # 25600-term sum into a chunked reduce-window that took 0.2 s at stage 1 of the 320x320
    # CSTM forward. In this operand order the product reads `key` in place (no transpose).
    flat = key.reshape(key.shape[0], -1, d).astype(jnp.float32)        # (B, P, D)
    ones = jnp.ones((flat.shape[0], 1, flat.shape[1]), jnp.float32)
    key_sum = jnp.einsum("bqp,bpd->bqd", ones, flat)[:, 0]              # (B, D)
    y = jnp.einsum("bd,bnd->bn", key_sum, query)                       # (B, N)
    attn = word_softmax(y, word_mask, cfg.mask_pads, axis=-1)          # (B, N)
    self.sow("intermediates", "word_attention", attn)
    key_2d = key[:, key.shape[1] // 2] if nd == 3 else key             # (B, h, w, D)
    per_pixel = jnp.einsum("bhwd,bnd->bnhw", key_2d.astype(jnp.float32), query)
    self.sow("intermediates", "pixel_word_attention", word_softmax(
        per_pixel, word_mask[:, :, None, None], cfg.mask_pads, axis=1))  # (B, N, h, w)
    sentence = jnp.einsum("bn,bnd->bd", attn, words.astype(jnp.float32)).astype(
        words.dtype)
    gate = jax.nn.sigmoid(layers.Dense(features=c, zero_init=True, dtype=self.dtype,
                                       name="gamma")(sentence))       # (B, C)
    gate = gate.reshape((gate.shape[0],) + (1,) * nd + (c,))
    if cfg.modulation == "code":
      return vt * (gate - 0.5), sentence
    if cfg.modulation == "paper":
      return v * gate.astype(v.dtype), sentence
    return vt * gate, sentence
