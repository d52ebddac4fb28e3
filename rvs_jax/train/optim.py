"""The optimizer and learning-rate schedule of training.

The paper's schedule by default: Adam 1e-4, halved after epochs 10, 12 and 14 (of 15);
the two encoders can get their own learning-rate multiplier. Two options for short
runs (the `cpu` recipe, docs/grounding.md), both off by default:

* `train.warmup_steps` > 0: the LR rises linearly from 0 over that many steps, then
  follows the schedule (counted from step 0, so the decay epochs stay where they are);
* `train.lr_schedule="cosine"`: instead of the step decays, a cosine from `lr` down to
  `lr * lr_final_fraction` over the whole run (`num_steps`, else `num_epochs`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

# Parameter collections under the model root that `backbone_lr_mult` applies to.
BACKBONES = ("spatial_encoder", "temporal_encoder")
LR_SCHEDULES = ("step", "cosine")


def make_schedule(train_cfg, steps_per_epoch: int) -> optax.Schedule:
  """The LR at each step (see the module docstring); old configs lack the options."""
  kind = train_cfg.get("lr_schedule", "step")
  if kind not in LR_SCHEDULES:
    raise ValueError(f"train.lr_schedule={kind!r} is not one of {LR_SCHEDULES}")
  if kind == "cosine":
    total = (train_cfg.num_steps if train_cfg.get("num_steps", -1) > 0
             else int(train_cfg.num_epochs * steps_per_epoch))
    schedule = optax.cosine_decay_schedule(
        train_cfg.lr, max(total, 1), alpha=train_cfg.get("lr_final_fraction", 0.0))
  else:
    boundaries = {int(round(e * steps_per_epoch)): train_cfg.lr_decay
                  for e in train_cfg.lr_decay_epochs}
    schedule = optax.piecewise_constant_schedule(train_cfg.lr, boundaries)
  warmup = int(train_cfg.get("warmup_steps", 0))
  if warmup <= 0:
    return schedule
  # Step s (0-based) of the warm-up trains at lr * (s + 1) / warmup: never zero.
  return lambda s: schedule(s) * jnp.minimum((s + 1) / warmup, 1.0)


def make_optimizer(train_cfg, learning_rate) -> optax.GradientTransformation:
  """Adam(W), with a separate LR multiplier for the two encoders.

  Args:
    train_cfg: the `train` config section.
    learning_rate: a float, a schedule (step -> LR) or a traced scalar. The trainer
      passes the step's LR as an input of the train step (a scalar array), so that the
      schedule and the dataset size are not compiled into the program: one compiled
      step serves every run of the same model and batch shapes (and the persistent
      compilation cache finds it). Whatever it is, the optimizer state has the same
      structure (Adam's moments and a step count per group), so checkpoints written
      with a schedule inside the step restore unchanged.
  """
  lr_fn = learning_rate if callable(learning_rate) else lambda _: learning_rate

  def adam(mult):
    lr = lr_fn if mult == 1.0 else (lambda s: lr_fn(s) * mult)
    if train_cfg.weight_decay:
      return optax.adamw(lr, weight_decay=train_cfg.weight_decay)
    return optax.adam(lr)

  if train_cfg.backbone_lr_mult == 1.0:
    return adam(1.0)
  labels = lambda params: {k: jax.tree.map(  # pylint: disable=unnecessary-lambda-assignment
      lambda _: "backbone" if k in BACKBONES else "rest", v) for k, v in params.items()}
  return optax.multi_transform(
      {"backbone": adam(train_cfg.backbone_lr_mult), "rest": adam(1.0)}, labels)
