"""Deep-supervised segmentation loss (docs/model.md, "Training schedule").

Binary cross-entropy with logits on every response map, against the ground truth resized
to that map, with PyTorch's `pos_weight` semantics (`BCEWithLogitsLoss(pos_weight=1.5)`
of the CSTM options: `-(w y log s(x) + (1 - y) log(1 - s(x)))`), a weight per map and an
optional Dice term. The coarse targets are the full-resolution mask average-pooled to
each map (the fraction of object pixels under each coarse pixel, kept soft): the CSTM
code has no training loss, and a point-sampling resize (align_corners bilinear) would
erase small objects from the 10x10 map.
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp



def bce_with_logits(logits: jax.Array, target: jax.Array, pos_weight: float) -> jax.Array:
  """Per-pixel BCE with PyTorch's `pos_weight` (numerically stable form)."""
  log_p = jax.nn.log_sigmoid(logits)
  log_not_p = jax.nn.log_sigmoid(-logits)
  return -(pos_weight * target * log_p + (1.0 - target) * log_not_p)


def dice_loss(logits: jax.Array, target: jax.Array, smooth: float = 1.0) -> jax.Array:
  """1 - soft Dice per sample, `(B,)`, with +1 smoothing (LBDT's form)."""
  p = jax.nn.sigmoid(logits).reshape(logits.shape[0], -1)
  t = target.reshape(target.shape[0], -1)
  return 1.0 - (2.0 * jnp.sum(p * t, -1) + smooth) / (jnp.sum(p, -1) + jnp.sum(t, -1) + smooth)


def area_downsample(mask: jax.Array, size: tuple[int, int]) -> jax.Array:
  """`(B, H, W)` -> `(B, h, w)` by averaging (H, W) must be integer multiples of (h, w)."""
  b, h, w = mask.shape
  fh, fw = h // size[0], w // size[1]
  if (fh * size[0], fw * size[1]) != (h, w):
    raise ValueError(f"map size {size} does not divide the mask size {(h, w)}")
  return mask.reshape(b, size[0], fh, size[1], fw).mean(axis=(2, 4))


def segmentation_loss(maps: Sequence[jax.Array], mask: jax.Array, weights: jax.Array,
                      *, pos_weight: float, map_weights: Sequence[float],
                      dice_weight: float = 0.0) -> tuple[jax.Array, dict[str, jax.Array]]:
  """Weighted mean over samples of the deep-supervised loss.

  Args:
    maps: logits `(B, h_m, w_m)`, coarsest first, the last at the mask's size.
    mask: float `(B, H, W)` 0/1 ground truth.
    weights: float `(B,)` per-sample weights (0 for padding rows / samples without GT).
    pos_weight, map_weights, dice_weight: see the module docstring.

  Returns:
    `(loss, metrics)` with per-map BCE in the metrics.
  """
  if len(map_weights) < len(maps):
    raise ValueError(f"{len(maps)} maps but only {len(map_weights)} map_weights")
  denom = jnp.maximum(jnp.sum(weights), 1.0)
  total, metrics = 0.0, {}
  for m, (logits, w_m) in enumerate(zip(maps, map_weights)):
    target = area_downsample(mask, logits.shape[1:])
    per_sample = jnp.mean(bce_with_logits(logits, target, pos_weight), axis=(1, 2))
    if dice_weight:
      per_sample = per_sample + dice_weight * dice_loss(logits, target)
    value = jnp.sum(per_sample * weights) / denom
    metrics[f"loss_map{m}"] = value
    total = total + w_m * value
  return total, metrics
