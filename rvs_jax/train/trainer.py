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
* it starts with a summary (devices, samples, steps, parameters; `W/parameters.txt`)
  and says how long the train step's compilation took last time (`startup`);
* metrics go to `W/metrics.jsonl` (always) and TensorBoard (`W/tensorboard`, when
  TensorFlow is installed) through `metric_writers`; on a terminal a progress bar shows
  steps, clips/s, ETA and loss, elsewhere a log line every `log_every_steps`. Clips/s
  counts training only: the first step (compilation), evaluations and checkpoint saves
  are excluded.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import math
import os
import time
from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import optax

from rvs_jax import checkpointing, datasets, glove_table, models, progress, sharding
from rvs_jax.evaluation import frame_eval
from rvs_jax.models import text_encoder
from rvs_jax import convert
from rvs_jax.train import (losses, metric_writers, optim, preemption, startup,
                           workdir_lock)

TRAIN_KEYS = ("video", "words", "word_mask", "mask", "has_mask", "valid")


class TrainState(flax.struct.PyTreeNode):
  """What training carries from step to step (and what a checkpoint's `state` holds).

  `constants`: the model's non-trainable variables other than BatchNorm statistics (the
  GloVe table of `glove_table`), `{}` for most models; never optimised or updated.
  """
  step: jax.Array
  params: Any
  batch_stats: Any
  opt_state: Any
  constants: Any = flax.struct.field(default_factory=dict)

  def variables(self, params=None) -> dict:
    """`{"params", "batch_stats"[, "constants"]}` for `model.apply`."""
    out = {"params": self.params if params is None else params,
           "batch_stats": self.batch_stats}
    if self.constants:
      out["constants"] = self.constants
    return out


def make_train_step(model, train_cfg, optimizer=None):
  """The (un-jitted) train step: `(state, batch, lr) -> (state, metrics)`.

  Args:
    model: the network.
    train_cfg: the `train` config section (loss weights; the optimizer's settings).
    optimizer: `lr -> optax.GradientTransformation`; default `optim.make_optimizer`
      with `train_cfg`. Its state must have the structure of `state.opt_state`.

  The learning rate `lr` is an input (a float32 scalar), computed on the host from the
  schedule: a schedule or dataset size compiled into the step would make a new program
  for every run (see `optim.make_optimizer`).
  """
  if optimizer is None:
    optimizer = functools.partial(optim.make_optimizer, train_cfg)

  def step(state: TrainState, batch: dict[str, jax.Array], lr: jax.Array):
    weights = (batch["valid"] & batch["has_mask"]).astype(jnp.float32)

    def loss_fn(params):
      out, updates = model.apply(
          state.variables(params), batch["video"],
          batch["words"], batch["word_mask"], train=True, mutable=["batch_stats"])
      loss, metrics = losses.segmentation_loss(
          out["logits"], batch["mask"], weights, pos_weight=train_cfg.pos_weight,
          map_weights=tuple(train_cfg.map_weights), dice_weight=train_cfg.dice_weight)
      return loss, (metrics, updates["batch_stats"])

    (loss, (metrics, batch_stats)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
        state.params)
    updates, opt_state = optimizer(lr).update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    metrics = dict(metrics, loss=loss, grad_norm=optax.global_norm(grads))
    return state.replace(step=state.step + 1, params=params, batch_stats=batch_stats,
                         opt_state=opt_state), metrics

  return step


def init_variables(config, model) -> dict:
  """Fresh variables (host arrays), with pretrained encoders / `init_from` overlaid.

  Every process initialises the same values (same key) on its first device: the
  compiled init is then the same program as anywhere else the model is initialised
  (tests, benchmarks), which the persistent compilation cache finds.
  """
  args = (jax.random.key(config.seed),) + models.dummy_inputs(
      config.data, model=config.model)
  variables = jax.device_get(models.initialize(model, *args))
  for part in ("temporal", "spatial", "text"):
    name = config.pretrained.get(part, "") if "pretrained" in config else ""
    if part == "text" and name:
      # A converted BERT / RoBERTa / XLNet: its text_* fields must be the model's.
      from rvs_jax.convert import hf  # pylint: disable=g-import-not-at-top
      partial = hf.load_text_encoder(name, config.model)
    else:
      partial = convert.pretrained_variables(name, part, config) if name else None
    if partial is not None:
      variables = checkpointing.merge_into(variables, partial,
                                           source=f"pretrained {name}")
      logging.info("initialised the %s encoder from %s", part, name)
  if config.init_from:
    variables = checkpointing.restore_variables(config.init_from, variables)
    logging.info("initialised from %s", config.init_from)
  return variables


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
  if not os.path.isdir(os.path.join(workdir, checkpointing.LATEST_DIR)):
    convert.check_pretrained(config)  # A missing encoder file stops here, in one line.
  mesh = sharding.make_mesh()
  tc = config.train
  sharding.check_batch_size("train.batch_size", tc.batch_size)
  sharding.check_batch_size("eval.batch_size", config.eval.batch_size)
  train_samples = datasets.load_samples(config.data, config.data.train_split)
  eval_samples = datasets.load_samples(config.data, config.data.eval_split)
  vectors = datasets.sentence_lookup(config, workdir, train_samples + eval_samples)
  glove_table.resolve(config, vectors)  # text_glove_vocab=-1: the vocabulary's size.
  pipe = datasets.make_pipeline(config, train_samples, vectors, train=True,
                                batch_size=tc.batch_size)
  steps_per_epoch = pipe.steps_per_epoch
  total_steps = tc.num_steps if tc.num_steps > 0 else tc.num_epochs * steps_per_epoch
  model = models.build_model(config.model)
  schedule = optim.make_schedule(tc, steps_per_epoch)
  tx = optim.make_optimizer(tc, schedule)  # Here only for the state's structure.
  repl = sharding.replicated(mesh)

  ckpts = checkpointing.Checkpoints(workdir, keep=tc.keep_checkpoints)
  abstract_vars = jax.eval_shape(model.init, jax.random.key(0),
                                 *models.input_spec(config.data, model=config.model))

  def make_state(variables):
    params = variables["params"]
    return TrainState(jnp.zeros((), jnp.int32), params, variables.get("batch_stats", {}),
                      tx.init(params), variables.get(text_encoder.CONSTANTS, {}))

  abstract_state = jax.eval_shape(make_state, abstract_vars)
  abstract_state = jax.tree.map(
      lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=repl), abstract_state)
  if jax.process_index() == 0:
    for line in startup.describe(config, len(train_samples), len(eval_samples),
                                 steps_per_epoch, total_steps, abstract_vars["params"]):
      logging.info("%s", line)
  restored = ckpts.restore(abstract_state)
  if restored is not None:
    state, meta = restored
    position = meta["data_position"]
    logging.info("resuming from step %d (%s)", int(state.step), position)
  else:
    logging.info("initialising the model")
    variables = init_variables(config, model)
    if glove_table.carried(config.model):
      variables = glove_table.fill(variables, vectors)
    state = jax.jit(make_state, out_shardings=repl)(variables)
    position = None
  step = int(state.step)
  if jax.process_index() == 0:
    startup.write_parameter_table(workdir, jax.device_get(state.params))

  train_step = jax.jit(make_train_step(model, tc), donate_argnums=(0,))
  predict_fn = frame_eval.make_predict_fn(model)
  log = metric_writers.create(workdir, resume_step=step)
  bar = progress.bar(total_steps, "training", "step", initial=step,
                     show=tc.progress_bar)
  it = pipe.iterate(position)
  meta_config = json.loads(config.to_json_best_effort())
  # The words of a carried GloVe table travel with every save (its rows are in `state`).
  table_meta = glove_table.meta(vectors) if glove_table.carried(config.model) else {}
  last_saved = ckpts.latest_step()
  best_miou, compiled_step = None, None
  meter = _Throughput(tc.batch_size)
  summary: dict[str, Any] = {}
  try:
    while step < total_steps:
      batch = next(it)
      gbatch = sharding.global_batch(mesh, {k: batch[k] for k in TRAIN_KEYS})
      lr_value = np.float32(schedule(step))       # The LR of step `step + 1`.
      lr = jax.make_array_from_process_local_data(repl, lr_value)
      if compiled_step is None:
        compiled_step = _compile(train_step, config, state, gbatch, lr)
      state, metrics = compiled_step(state, gbatch, lr)
      step += 1
      loss = float(metrics["loss"])  # Waits for the step: the meter times real work.
      meter.step()
      if not math.isfinite(loss):
        raise FloatingPointError(
            f"non-finite loss ({loss}) at step {step}; the last good checkpoint is "
            f"{os.path.join(workdir, checkpointing.LATEST_DIR, str(last_saved))}"
            if last_saved is not None else
            f"non-finite loss ({loss}) at step {step}; no checkpoint was saved yet")
      rate = meter.clips_per_s()
      bar.set_postfix(loss=f"{loss:.4f}",
                      clips_s="compiling" if rate is None else f"{rate:.1f}")
      bar.update(1)
      if step % tc.log_every_steps == 0 or step == total_steps:
        values = {k: float(v) for k, v in metrics.items()}
        values.update(lr=float(lr_value), epoch=step / steps_per_epoch)
        if rate is not None:
          values["clips_per_s"] = rate
        log.write_scalars(step, values)
        if bar.disable and jax.process_index() == 0:  # Else the bar shows it.
          logging.info("step %d/%d loss %.4f%s", step, total_steps, loss,
                       meter.describe(total_steps - step))
      epoch_end = step % steps_per_epoch == 0
      if step % tc.checkpoint_every_steps == 0 or step == total_steps or epoch_end:
        with meter.paused():
          ckpts.save(step, state, {"data_position": it.state(), "config": meta_config,
                                   **table_meta})
        last_saved = step
      if tc.eval_every_epochs and ((epoch_end and (step // steps_per_epoch) %
                                    tc.eval_every_epochs == 0) or step == total_steps):
        with meter.paused():
          summary = _evaluate(config, workdir, predict_fn, state, eval_samples, vectors,
                              mesh)
          log.write_scalars(step, {f"eval_{k}": v for k, v in summary.items()
                                   if isinstance(v, float)})
          ckpts.save(step, state, {"data_position": it.state(), "config": meta_config,
                                   "eval": summary, **table_meta},
                     metrics={"mIoU": summary["mIoU"]}, best=True)
        best_miou = max(best_miou or 0.0, summary["mIoU"])
      if step < total_steps and signals.requested():
        if last_saved != step:
          ckpts.save(step, state, {"data_position": it.state(), "config": meta_config,
                                   **table_meta})
          last_saved = step
        logging.warning("%s at step %d: checkpoint saved, stopping; rerun the same "
                        "command to resume", signals.received or "stop signal", step)
        summary = dict(summary, preempted=True)
        break
  finally:
    bar.close()
    log.close()
    it.close()
    ckpts.wait()
    ckpts.close()
  return dict(summary, step=step, best_mIoU=best_miou)


def _compile(train_step, config, state, gbatch, lr):
  """Compiles the first step, saying how long it took last time and this time.

  All processes compile and then start the first (collective) step together.
  """
  times, key = startup.CompileTimes(), startup.CompileTimes.key(config)
  logging.info("%s", startup.compile_message(times.get(key)))
  t = time.perf_counter()
  compiled = sharding.compile_together(train_step, "train_step", state, gbatch, lr)
  seconds = time.perf_counter() - t
  logging.info("train step compiled in %.1f s", seconds)
  if jax.process_index() == 0:
    times.put(key, seconds)
  return compiled


class _Throughput:
  """Clips/s and ETA of the training steps alone.

  The clock starts when the first step has finished (its time is compilation) and
  stops inside `paused()` (evaluation, checkpoint saves).
  """

  def __init__(self, batch_size: int):
    self.batch_size = batch_size
    self.steps = -1          # Steps timed; the first one only starts the clock.
    self.seconds = 0.0
    self._since = None

  def step(self) -> None:
    now = time.perf_counter()
    if self._since is not None:
      self.seconds += now - self._since
    self._since = now
    self.steps += 1

  @contextlib.contextmanager
  def paused(self):
    if self._since is not None:
      self.seconds += time.perf_counter() - self._since
    try:
      yield
    finally:
      self._since = time.perf_counter()

  def clips_per_s(self) -> float | None:
    if self.steps <= 0 or self.seconds <= 0:
      return None
    return self.steps * self.batch_size / self.seconds

  def describe(self, steps_left: int) -> str:
    """' (12.3 clips/s, ETA 4 min)' for a log line; '' before the first timed step."""
    rate = self.clips_per_s()
    if rate is None:
      return ""
    eta = steps_left * self.batch_size / rate
    return f" ({rate:.1f} clips/s, ETA {_minutes(eta)})"


def _minutes(seconds: float) -> str:
  return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


def _evaluate(config, workdir, predict_fn, state, samples, vectors, mesh
              ) -> dict[str, Any]:
  """Scores the eval split; writes `W/eval/<dataset>_<split>_<protocol>.json` too."""
  pipe = datasets.make_pipeline(config, samples, vectors, train=False,
                                batch_size=config.eval.batch_size)
  variables = state.variables()
  result = frame_eval.evaluate(predict_fn, variables, pipe, samples, mesh,
                              config.eval.protocol)
  if jax.process_index() == 0:
    frame_eval.write_result(workdir, config.data.name, config.data.eval_split,
                           config.eval.protocol, result)
  logging.info("eval: %s", {k: round(v, 4) for k, v in result["metrics"].items()
                            if isinstance(v, float)})
  return result["metrics"]
