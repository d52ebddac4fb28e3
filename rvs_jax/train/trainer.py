"""Training: one jit-compiled step over a ('data',) mesh, Orbax checkpoints, exact resume.

`train_and_evaluate(config, workdir)` is what `train.py` runs:

* the input pipeline's order is a pure function of (seed, epoch), and its position is
  saved with every checkpoint, so killing the process at any moment (also during a save:
  Orbax finalises a step atomically) and rerunning the same command resumes from the
  last checkpoint and ends with the same parameters as an uninterrupted run;
* a non-finite loss stops training with a message naming the step and the last good
  checkpoint (nothing non-finite is ever saved);
* the paper's schedule by default (`rvs_jax.train.optim`): Adam 1e-4, halved after
  epochs 10, 12, 14, 15 epochs;
* `train.eval_every_epochs` > 0 evaluates every that many epochs and after the last
  step (keeping the best checkpoint by mIoU); 0 never evaluates during training;
* metrics go to `W/metrics.jsonl` (always) and TensorBoard (`W/tensorboard`, when
  TensorFlow is installed); a progress bar shows steps, clips/s, ETA and loss.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import sys
import time
from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import optax

from rvs_jax import checkpointing, datasets, files, models, sharding
from rvs_jax.evaluation import frame_eval
from rvs_jax import convert
from rvs_jax.train import losses, optim, preemption, workdir_lock

TRAIN_KEYS = ("video", "words", "word_mask", "mask", "has_mask", "valid")


class TrainState(flax.struct.PyTreeNode):
  step: jax.Array
  params: Any
  batch_stats: Any
  opt_state: Any


def make_train_step(model, tx, train_cfg):
  """The (un-jitted) train step: `(state, batch) -> (state, metrics)`."""

  def step(state: TrainState, batch: dict[str, jax.Array]):
    weights = (batch["valid"] & batch["has_mask"]).astype(jnp.float32)

    def loss_fn(params):
      out, updates = model.apply(
          {"params": params, "batch_stats": state.batch_stats}, batch["video"],
          batch["words"], batch["word_mask"], train=True, mutable=["batch_stats"])
      loss, metrics = losses.segmentation_loss(
          out["logits"], batch["mask"], weights, pos_weight=train_cfg.pos_weight,
          map_weights=tuple(train_cfg.map_weights), dice_weight=train_cfg.dice_weight)
      return loss, (metrics, updates["batch_stats"])

    (loss, (metrics, batch_stats)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
        state.params)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    metrics = dict(metrics, loss=loss, grad_norm=optax.global_norm(grads))
    return TrainState(state.step + 1, params, batch_stats, opt_state), metrics

  return step


def init_variables(config, model, mesh) -> dict:
  """Fresh variables, replicated, with pretrained encoders / `init_from` overlaid."""
  args = (jax.random.key(config.seed),) + models.dummy_inputs(
      config.data, model=config.model)
  # Init runs once: XLA's optimisation passes cost more than they save here (O0 cut the
  # init compile of the tiny model from ~65 s to a fraction on 2 CPU cores).
  init = jax.jit(model.init, out_shardings=sharding.replicated(mesh)).lower(*args).compile(
      compiler_options={"xla_backend_optimization_level": 0})
  variables = init(*args)
  variables = jax.device_get(variables)
  for part in ("temporal", "spatial", "text"):
    name = config.pretrained.get(part, "") if "pretrained" in config else ""
    if part == "text" and name:
      # A converted BERT / RoBERTa / XLNet: its text_* fields must be the model's.
      from rvs_jax.convert import hf  # pylint: disable=g-import-not-at-top
      partial = hf.load_text_encoder(name, config.model)
    else:
      partial = convert.pretrained_variables(name) if name else None
    if partial is not None:
      variables = checkpointing.merge_into(variables, partial,
                                           source=f"pretrained {name}")
      logging.info("initialised the %s encoder from %s", part, name)
  if config.init_from:
    variables = checkpointing.restore_variables(config.init_from, variables)
    logging.info("initialised from %s", config.init_from)
  return variables


class _Logger:
  """JSONL always; TensorBoard when TensorFlow is importable; host 0 only."""

  def __init__(self, workdir: str, resume_step: int = 0):
    self.active = jax.process_index() == 0
    self.path = os.path.join(workdir, "metrics.jsonl")
    if self.active and os.path.exists(self.path):
      self._forget_after(resume_step)
    self.tb = None
    if self.active and os.environ.get("RVS_JAX_TENSORBOARD", "1") == "1":
      try:
        import tensorboard  # pylint: disable=g-import-not-at-top,unused-import
        import tensorflow as tf  # pylint: disable=g-import-not-at-top
        tf.config.set_visible_devices([], "GPU")
        self.tb = tf.summary.create_file_writer(os.path.join(workdir, "tensorboard"))
      except Exception:  # pylint: disable=broad-except
        self.tb = None

  def _forget_after(self, step: int) -> None:
    """Drops the lines of steps after `step`: a resumed run logs them again.

    Also drops a line cut short by a kill; the file is rewritten atomically.
    """
    kept = []
    with open(self.path, encoding="utf-8") as f:
      for line in f:
        try:
          if json.loads(line)["step"] <= step:
            kept.append(line)
        except (ValueError, KeyError, TypeError):
          continue
    with files.atomic_write(self.path, "w", encoding="utf-8") as f:
      f.writelines(kept)

  def write(self, step: int, values: dict[str, float]) -> None:
    if not self.active:
      return
    with open(self.path, "a", encoding="utf-8") as f:
      f.write(json.dumps(dict(step=step, **values)) + "\n")
    if self.tb is not None:
      import tensorflow as tf  # pylint: disable=g-import-not-at-top
      with self.tb.as_default(step=step):
        for k, v in values.items():
          tf.summary.scalar(k, v)


def _progress(total: int, initial: int, enabled: bool):
  if not enabled or jax.process_index() != 0 or not sys.stderr.isatty():
    return None
  from tqdm import tqdm  # pylint: disable=g-import-not-at-top
  return tqdm(total=total, initial=initial, unit="step", dynamic_ncols=True)


def train_and_evaluate(config, workdir: str) -> dict[str, Any]:
  """Trains `config` in `workdir` (resuming if it holds a checkpoint); returns a summary.

  The run holds the workdir's lock (a second run on it fails at once) and stops cleanly
  on SIGTERM/SIGINT: a checkpoint at the current step, `summary["preempted"]` set.
  """
  lock = (workdir_lock.hold(workdir) if jax.process_index() == 0
          else contextlib.nullcontext())
  with lock, preemption.Signals() as signals:
    return _train_and_evaluate(config, workdir, signals)


def _train_and_evaluate(config, workdir: str, signals: preemption.Signals
                        ) -> dict[str, Any]:
  os.makedirs(workdir, exist_ok=True)
  mesh = sharding.make_mesh()
  tc = config.train
  sharding.check_batch_size("train.batch_size", tc.batch_size)
  sharding.check_batch_size("eval.batch_size", config.eval.batch_size)
  train_samples = datasets.load_samples(config.data, config.data.train_split)
  eval_samples = datasets.load_samples(config.data, config.data.eval_split)
  vectors = datasets.sentence_lookup(config, workdir, train_samples + eval_samples)
  pipe = datasets.make_pipeline(config, train_samples, vectors, train=True,
                                batch_size=tc.batch_size)
  steps_per_epoch = pipe.steps_per_epoch
  total_steps = tc.num_steps if tc.num_steps > 0 else tc.num_epochs * steps_per_epoch
  model = models.build_model(config.model)
  tx, schedule = optim.make_optimizer(tc, steps_per_epoch)
  repl = sharding.replicated(mesh)

  ckpts = checkpointing.Checkpoints(workdir, keep=tc.keep_checkpoints)
  abstract_vars = jax.eval_shape(model.init, jax.random.key(0),
                                 *models.input_spec(config.data, model=config.model))

  def make_state(variables):
    params = variables["params"]
    return TrainState(jnp.zeros((), jnp.int32), params, variables.get("batch_stats", {}),
                      tx.init(params))

  abstract_state = jax.eval_shape(make_state, abstract_vars)
  abstract_state = jax.tree.map(
      lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=repl), abstract_state)
  restored = ckpts.restore(abstract_state)
  if restored is not None:
    state, meta = restored
    position = meta["data_position"]
    logging.info("resuming from step %d (%s)", int(state.step), position)
  else:
    state = jax.jit(make_state, out_shardings=repl)(init_variables(config, model, mesh))
    position = None
  step = int(state.step)

  train_step = jax.jit(make_train_step(model, tx, tc), donate_argnums=(0,))
  predict_fn = frame_eval.make_predict_fn(model)
  log = _Logger(workdir, resume_step=step)
  bar = _progress(total_steps, step, tc.progress_bar)
  it = pipe.iterate(position)
  meta_config = json.loads(config.to_json_best_effort())
  last_saved = ckpts.latest_step()
  best_miou, t0, clips, compiled_step = None, time.time(), 0, None
  summary: dict[str, Any] = {}
  try:
    while step < total_steps:
      batch = next(it)
      gbatch = sharding.global_batch(mesh, {k: batch[k] for k in TRAIN_KEYS})
      if compiled_step is None:  # All processes start the first (collective) step together.
        compiled_step = sharding.compile_together(train_step, "train_step", state, gbatch)
      state, metrics = compiled_step(state, gbatch)
      step += 1
      clips += tc.batch_size
      loss = float(metrics["loss"])
      if not math.isfinite(loss):
        raise FloatingPointError(
            f"non-finite loss ({loss}) at step {step}; the last good checkpoint is "
            f"{os.path.join(workdir, checkpointing.LATEST_DIR, str(last_saved))}"
            if last_saved is not None else
            f"non-finite loss ({loss}) at step {step}; no checkpoint was saved yet")
      if bar is not None:
        bar.set_postfix(loss=f"{loss:.4f}", clips_s=f"{clips / (time.time() - t0):.1f}")
        bar.update(1)
      if step % tc.log_every_steps == 0 or step == total_steps:
        values = {k: float(v) for k, v in metrics.items()}
        values.update(lr=float(schedule(step - 1)), clips_per_s=clips / (time.time() - t0),
                      epoch=step / steps_per_epoch)
        log.write(step, values)
        if bar is None:
          logging.info("step %d/%d loss %.4f (%.1f clips/s)", step, total_steps, loss,
                       values["clips_per_s"])
      epoch_end = step % steps_per_epoch == 0
      if step % tc.checkpoint_every_steps == 0 or step == total_steps or epoch_end:
        ckpts.save(step, state, {"data_position": it.state(), "config": meta_config})
        last_saved = step
      if tc.eval_every_epochs and ((epoch_end and (step // steps_per_epoch) %
                                    tc.eval_every_epochs == 0) or step == total_steps):
        summary = _evaluate(config, workdir, predict_fn, state, eval_samples, vectors,
                            mesh)
        log.write(step, {f"eval_{k}": v for k, v in summary.items()
                         if isinstance(v, float)})
        ckpts.save(step, state, {"data_position": it.state(), "config": meta_config,
                                 "eval": summary}, metrics={"mIoU": summary["mIoU"]},
                   best=True)
        best_miou = max(best_miou or 0.0, summary["mIoU"])
      if step < total_steps and signals.requested():
        if last_saved != step:
          ckpts.save(step, state, {"data_position": it.state(), "config": meta_config})
          last_saved = step
        logging.warning("%s at step %d: checkpoint saved, stopping; rerun the same "
                        "command to resume", signals.received or "stop signal", step)
        summary = dict(summary, preempted=True)
        break
  finally:
    if bar is not None:
      bar.close()
    it.close()
    ckpts.wait()
    ckpts.close()
  return dict(summary, step=step, best_mIoU=best_miou)


def _evaluate(config, workdir, predict_fn, state, samples, vectors, mesh
              ) -> dict[str, Any]:
  """Scores the eval split; writes `W/eval/<dataset>_<split>_<protocol>.json` too."""
  pipe = datasets.make_pipeline(config, samples, vectors, train=False,
                                batch_size=config.eval.batch_size)
  variables = {"params": state.params, "batch_stats": state.batch_stats}
  result = frame_eval.evaluate(predict_fn, variables, pipe, samples, mesh,
                              config.eval.protocol)
  if jax.process_index() == 0:
    frame_eval.write_result(workdir, config.data.name, config.data.eval_split,
                           config.eval.protocol, result)
  logging.info("eval: %s", {k: round(v, 4) for k, v in result["metrics"].items()
                            if isinstance(v, float)})
  return result["metrics"]
