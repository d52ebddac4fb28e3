"""LASP: language-aware semantic propagation between two adjacent decoder stages.

docs/model.md (paper eqs. 7-12). For a deep stage feature `D^i (B, h, w, C)` and the next
shallower one `D^{i-1} (B, 2h, 2w, C)`:

1. relevance `A = sigmoid(<l W8, D^i_p W9>)` at every deep pixel `(B, h, w)`;
2. foreground sampling: adaptive max-pool of A to 8x8 **with argmax indices** (PyTorch
   bins: start floor(k h / 8), end ceil((k + 1) h / 8), ties to the first index in
   row-major order; bins overlap when h is not a multiple of 8), soft mask
   `up(maxpool(A)) * D^i`, and the 64 deep features at the argmax positions;
3. each index (y, x) moves to the shallower stage: the top-left child (2y, 2x), or all
   four children (`index_transform='all4'`);
4. `F~ = F + Attn(q=F, k=F^i, v=F^i)` for the gathered shallow features F, scattered back
   into `D^{i-1}` at those positions (replacing them);
5. background: the same with `1 - A`, the attention output **subtracted**;
6. the foreground- and background-refined copies of `D^{i-1}` are fused (ConvBNReLU
   over their concatenation).

Duplicate positions (overlapping bins picking the same pixel) are harmless: the features
scattered to one position are computed from the same query, so they are equal and the
scatter's result does not depend on which write wins.

Our choices where the paper is silent (each a documented default): the soft mask's
upsampling is bilinear with align_corners=True like the rest of the decoder; the
foreground and background attentions have separate projections; with `fg_only` the
background copy is `D^{i-1}` itself, so the fusion layer keeps its shape; the relevance
logits are divided by sqrt(C) (`scale_relevance`, see `LASP`).
"""

from __future__ import annotations

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from rvs_jax.models import layers

INDEX_TRANSFORMS = ("top_left", "all4")


@dataclasses.dataclass(frozen=True)
class LASPConfig:
  """LASP hyper-parameters (`ModelConfig.lasp_*`: the field name after the prefix).

  Attributes:
    pairs: (deep, shallow) adjacent decoder stage pairs, applied top-down in this order;
      empty: no LASP.
    pool_size: the adaptive max-pool grid (8 -> 64 sampled points).
    index_transform: 'top_left' or 'all4' children at the shallower stage.
    fg_only: skip the background branch (ablation).
    scale_relevance: divide the relevance logits by sqrt(C) (scaled dot product). Eq. 8
      has no scale; without it the logits of 256-channel features saturate the sigmoid
      (A = 1 everywhere, no foreground/background contrast, no gradient), which we saw
      in trained tiny models. False gives eq. 8 verbatim.
  """
  pairs: tuple[tuple[int, int], ...] = ((5, 4), (4, 3), (3, 2))
  pool_size: int = 8
  index_transform: str = "top_left"
  fg_only: bool = False
  scale_relevance: bool = True


def adaptive_bins(size: int, out: int) -> list[tuple[int, int]]:
  """PyTorch adaptive pooling bins: [floor(k*size/out), ceil((k+1)*size/out))."""
  return [((k * size) // out, -(-((k + 1) * size) // out)) for k in range(out)]


def _bin_mask(h: int, w: int, out: int) -> np.ndarray:
  """bool `(out*out, h*w)`: which pixels each bin (row-major) covers."""
  mask = np.zeros((out, out, h, w), bool)
  for i, (y0, y1) in enumerate(adaptive_bins(h, out)):
    for j, (x0, x1) in enumerate(adaptive_bins(w, out)):
      mask[i, j, y0:y1, x0:x1] = True
  return mask.reshape(out * out, h * w)


def adaptive_max_pool_with_indices(a: jax.Array, out: int) -> tuple[jax.Array, jax.Array]:
  """`adaptive_max_pool2d(a, out, return_indices=True)` of PyTorch, for `(B, h, w)`.

  Returns:
    values `(B, out, out)` and flat indices `(B, out*out)` into h*w (row-major bins),
    the first maximum of each bin in row-major order, as PyTorch's CPU kernel.
  """
  b, h, w = a.shape
  mask = jnp.asarray(_bin_mask(h, w, out))                            # (out², h·w)
  flat = a.reshape(b, 1, h * w)
  masked = jnp.where(mask[None], flat, -jnp.inf)                       # (B, out², h·w)
  idx = jnp.argmax(masked, axis=-1)                                    # first max wins
  vals = jnp.take_along_axis(flat[:, 0], idx, axis=1)
  return vals.reshape(b, out, out), idx


def gather(x: jax.Array, idx: jax.Array) -> jax.Array:
  """Features at flat positions: `(B, H, W, C)`, `(B, K)` -> `(B, K, C)`."""
  b, h, w, c = x.shape
  return jnp.take_along_axis(x.reshape(b, h * w, c), idx[..., None], axis=1)


def scatter(x: jax.Array, idx: jax.Array, values: jax.Array) -> jax.Array:
  """Replaces the features at flat positions: `(B, H, W, C)`, `(B, K)`, `(B, K, C)`."""
  b, h, w, c = x.shape
  out = x.reshape(b, h * w, c).at[jnp.arange(b)[:, None], idx].set(values)
  return out.reshape(b, h, w, c)


def child_indices(idx: jax.Array, w: int, mode: str) -> jax.Array:
  """Maps flat indices on an (h, w) grid to the (2h, 2w) grid: `(B, K)` -> `(B, K')`."""
  y, x = idx // w, idx % w
  if mode == "top_left":
    return (2 * y) * (2 * w) + 2 * x
  if mode == "all4":
    kids = [(2 * y + dy) * (2 * w) + 2 * x + dx for dy in (0, 1) for dx in (0, 1)]
    return jnp.concatenate(kids, axis=1)
  raise ValueError(f"LASP index_transform {mode!r} not in {INDEX_TRANSFORMS}.")


class CrossStageAttention(nn.Module, kw_only=True):
  """Scaled dot-product attention with learned projections (paper eq. 10)."""
  dtype: jnp.dtype | None = None

  @nn.compact
  def __call__(self, query: jax.Array, kv: jax.Array) -> jax.Array:  # (B, Kq, C), (B, K, C)
    c = query.shape[-1]
    q = layers.Dense(features=c, dtype=self.dtype, name="query")(query)
    k = layers.Dense(features=c, dtype=self.dtype, name="key")(kv)
    v = layers.Dense(features=c, dtype=self.dtype, name="value")(kv)
    attn = jax.nn.softmax(
        jnp.einsum("bqc,bkc->bqk", q, k).astype(jnp.float32) / np.sqrt(c), axis=-1)
    return jnp.einsum("bqk,bkc->bqc", attn.astype(v.dtype), v)


class LASP(nn.Module, kw_only=True):
  """One LASP step: refines the shallower stage `D^{i-1}` using `D^i` and the sentence.

  Attributes:
    config: pool size, index transform, fg_only, scale_relevance (`pairs` is the
      decoder's business).
    conv_bn: the `layers.ConvBN` (partial) of the fusion layer.
    dtype: compute dtype of the projections.
  """
  config: LASPConfig = LASPConfig()
  conv_bn: layers.ModuleDef = layers.ConvBN
  dtype: jnp.dtype | None = None

  @nn.compact
  def __call__(self, deep: jax.Array, shallow: jax.Array, sentence: jax.Array,
               train: bool = False) -> jax.Array:
    """`deep (B, h, w, C)`, `shallow (B, 2h, 2w, C)`, `sentence (B, C)` -> `(B, 2h, 2w, C)`."""
    b, h, w, c = deep.shape
    if shallow.shape[1:3] != (2 * h, 2 * w):
      raise ValueError(f"LASP needs a 2x shallower stage: {deep.shape} -> {shallow.shape}")
    cfg = self.config
    lang = layers.Dense(features=c, dtype=self.dtype, name="w8_sentence")(
        sentence)                                                           # (B, C)
    vis = layers.Dense(features=c, dtype=self.dtype, name="w9_visual")(deep)  # (B, h, w, C)
    logits = jnp.einsum("bc,bhwc->bhw", lang, vis)                          # (B, h, w)
    if cfg.scale_relevance:
      logits = logits / np.sqrt(c)
    relevance = jax.nn.sigmoid(logits)
    self.sow("intermediates", "relevance", relevance)

    def propagate(score, sign, name):
      pooled, idx = adaptive_max_pool_with_indices(score, cfg.pool_size)
      soft = layers.resize_align_corners(pooled, (h, w))[..., None] * deep
      keys = gather(soft, idx)                                     # (B, 64, C)
      kid = child_indices(idx, w, cfg.index_transform)             # (B, K)
      query = gather(shallow, kid)                                 # (B, K, C)
      out = CrossStageAttention(dtype=self.dtype, name=name)(query, keys)
      self.sow("intermediates", f"{name}_indices", idx)
      return scatter(shallow, kid, query + sign * out)

    fg = propagate(relevance, 1.0, "fg_attention")
    bg = shallow if cfg.fg_only else propagate(1.0 - relevance, -1.0, "bg_attention")
    return self.conv_bn(features=c, kernel_size=(3, 3), name="fuse")(
        jnp.concatenate([fg, bg], -1), train)
