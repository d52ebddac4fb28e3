"""The optimizer and learning-rate schedule of training.

The paper's schedule by default: Adam 1e-4, halved after epochs 10, 12 and 14 (of 15);
the two encoders can get their own learning-rate multiplier.
"""

from __future__ import annotations

import jax
import optax

# Parameter collections under the model root that `backbone_lr_mult` applies to.
BACKBONES = ("spatial_encoder", "temporal_encoder")


def make_optimizer(train_cfg, steps_per_epoch: int):
  """Adam(W) with the step schedule; a separate LR multiplier for the two encoders."""
  boundaries = {int(round(e * steps_per_epoch)): train_cfg.lr_decay
                for e in train_cfg.lr_decay_epochs}
  schedule = optax.piecewise_constant_schedule(train_cfg.lr, boundaries)

  def adam(mult):
    lr = schedule if mult == 1.0 else (lambda s: schedule(s) * mult)
    if train_cfg.weight_decay:
      return optax.adamw(lr, weight_decay=train_cfg.weight_decay)
    return optax.adam(lr)

  if train_cfg.backbone_lr_mult == 1.0:
    return adam(1.0), schedule
  labels = lambda params: {k: jax.tree.map(  # pylint: disable=unnecessary-lambda-assignment
      lambda _: "backbone" if k in BACKBONES else "rest", v) for k, v in params.items()}
  return optax.multi_transform(
      {"backbone": adam(train_cfg.backbone_lr_mult), "rest": adam(1.0)}, labels), schedule
