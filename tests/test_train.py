"""Training and evaluation end to end on a small synthetic benchmark.

One compiled train step is shared by most tests (same config, same shapes); the model is
the tiny `lstc` with CMAM+ in two stages and one LASP pair, which keeps every code path
while compiling in a fraction of the full tiny model's time.
"""

import json
import logging
import os
import re
import subprocess
import sys

import chex
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

from configs import synthetic
from rvs_jax import checkpointing, sharding
from rvs_jax.data import synthetic as synthetic_data
from rvs_jax.testing.jit import jit_o0
from rvs_jax.train import losses, optim, startup, trainer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _config(root, **train):
  config = synthetic.get_config("tiny")
  config.model.cmam_stages = (1, 5)
  config.model.lasp_pairs = ((5, 4),)
  config.data.root = root
  config.data.max_eval_samples = 12
  config.train.update(dict(batch_size=4, num_steps=6, checkpoint_every_steps=2,
                           log_every_steps=1, progress_bar=False), **train)
  config.eval.batch_size = 4
  return config


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
  root = str(tmp_path_factory.mktemp("synthetic"))
  synthetic_data.generate(root, num_videos=12, seed=3, workers=1)
  return root


def _params(workdir):
  ckpts = checkpointing.Checkpoints(workdir, async_save=False)
  try:
    import orbax.checkpoint as ocp  # pylint: disable=g-import-not-at-top
    step = ckpts.latest_step()
    state = ckpts.latest.restore(step, args=ocp.args.Composite(
        state=ocp.args.StandardRestore()))["state"]
    return step, state["params"]
  finally:
    ckpts.close()


class _Records(logging.Handler):
  def __init__(self):
    super().__init__()
    self.lines = []

  def emit(self, record):
    if os.sep + "rvs_jax" + os.sep in record.pathname:
      self.lines.append(record.getMessage())


@pytest.fixture(scope="module")
def uninterrupted(data_root, tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp("full"))
  records = _Records()
  root, level = logging.getLogger(), logging.getLogger().level
  root.addHandler(records)
  root.setLevel(logging.INFO)
  try:
    summary = trainer.train_and_evaluate(_config(data_root), workdir)
  finally:
    root.removeHandler(records)
    root.setLevel(level)
  return workdir, dict(summary, log=records.lines)


def test_train_writes_checkpoints_metrics_and_eval(uninterrupted):
  workdir, summary = uninterrupted
  assert summary["step"] == 6
  assert 0.0 <= summary["mIoU"] <= 1.0 and summary["num_samples"] == 12
  lines = [json.loads(l) for l in open(os.path.join(workdir, "metrics.jsonl"))]
  train_lines = [l for l in lines if "loss" in l]
  assert [l["step"] for l in train_lines] == list(range(1, 7))
  assert all(np.isfinite(l["loss"]) for l in train_lines)
  assert any("eval_mIoU" in l for l in lines)
  # The first step is compilation: clips/s is only reported from the second one on.
  assert "clips_per_s" not in train_lines[0]
  assert all(l["clips_per_s"] > 0 for l in train_lines[1:])
  assert sorted(os.listdir(os.path.join(workdir, "checkpoints"))) == ["2", "4", "6"]
  assert os.listdir(os.path.join(workdir, "best")) == ["6"]
  assert os.path.exists(os.path.join(workdir, "word_vectors.npz"))


def test_train_says_what_it_runs_before_compiling(uninterrupted):
  workdir, summary = uninterrupted
  log = summary["log"]
  _, params = _params(workdir)
  n_params = sum(np.size(p) for p in jax.tree.leaves(params))
  first = next(i for i, line in enumerate(log) if line.startswith("devices:"))
  log = log[first:]
  assert [line.split(":")[0] for line in log[:4]] == [
      "devices", "data", "schedule", "model"], log[:6]
  assert f"{n_params:,} parameters" in log[3]
  assert re.search(r"synthetic train \d+ samples, test 12; 8 frames of 64x64", log[1])
  assert "steps per epoch, 6 steps" in log[2], log[2]
  compiling = next(i for i, l in enumerate(log) if l.startswith("compiling the train"))
  assert log[compiling + 1].startswith("train step compiled in ")
  with open(os.path.join(workdir, "parameters.txt"), encoding="utf-8") as f:
    table = f.read()
  assert f"Total: {n_params:,}" in table and "spatial" in table


def test_non_finite_loss_stops_with_step_and_checkpoint(data_root, tmp_path, monkeypatch):
  # Poison the input of the 3rd step (the compiled step is the shared one: no recompile).
  calls = []
  real = sharding.global_batch

  def poisoned(mesh, local):
    calls.append(1)
    if len(calls) == 3:
      local = dict(local, video=np.full_like(local["video"], np.nan))
    return real(mesh, local)

  monkeypatch.setattr(sharding, "global_batch", poisoned)
  with pytest.raises(FloatingPointError, match=r"at step 3.*checkpoints/2"):
    trainer.train_and_evaluate(_config(data_root), str(tmp_path))
  assert sorted(os.listdir(tmp_path / "checkpoints")) == ["2"]


def test_sharded_train_step_equals_single_device(data_root):
  config = _config(data_root)
  # A lighter variant (CMAM+ in stage 5, no LASP): two extra train-step compiles are the
  # cost of this test; LASP under sharding is covered by test_models' sharded forward.
  config.model.cmam_stages = (5,)
  config.model.lasp_pairs = ()
  model = trainer.models.build_model(config.model)
  mesh = sharding.make_mesh()
  assert mesh.size == 4
  variables = trainer.init_variables(config, model)
  # Plain SGD with lr 1 makes the new parameters `params - grads`, so the comparison is
  # one of gradients (Adam's first step, ~lr * sign(g), would magnify rounding of g ~ 0).
  tx = optax.sgd(1.0)
  state = trainer.TrainState(jnp.zeros((), jnp.int32), variables["params"],
                             variables["batch_stats"], tx.init(variables["params"]))
  rng = np.random.default_rng(0)
  batch = dict(video=rng.random((4, 8, 64, 64, 3), np.float32),
               words=rng.normal(size=(4, 20, 300)).astype(np.float32),
               word_mask=np.arange(20)[None] < np.array([[3], [7], [5], [9]]),
               mask=(rng.random((4, 64, 64)) > 0.7).astype(np.float32),
               has_mask=np.ones(4, bool), valid=np.ones(4, bool))
  # O0: one step each way; the comparison is of the function, not of its speed.
  step = jit_o0(trainer.make_train_step(model, config.train, optimizer=optax.sgd))
  lr = np.float32(1.0)
  single_state, single = step(jax.device_put(state, jax.devices()[0]),
                              jax.device_put(batch, jax.devices()[0]), lr)
  sharded_state, sharded = step(jax.device_put(state, sharding.replicated(mesh)),
                                sharding.global_batch(mesh, batch), lr)
  np.testing.assert_allclose(float(sharded["loss"]), float(single["loss"]), rtol=1e-5)
  for a, b in zip(jax.tree.leaves((sharded_state.params, sharded_state.batch_stats)),
                  jax.tree.leaves((single_state.params, single_state.batch_stats))):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-5)


def test_loss_pos_weight_matches_pytorch_formula():
  logits = jnp.array([[[2.0, -1.0]]])
  target = jnp.array([[[1.0, 0.0]]])
  got = losses.bce_with_logits(logits, target, 1.5)
  want = [-1.5 * np.log(1 / (1 + np.exp(-2.0))), -np.log(1 - 1 / (1 + np.exp(1.0)))]
  np.testing.assert_allclose(np.asarray(got)[0, 0], want, rtol=1e-6)


def test_eval_cli_writes_json_table_and_pictures(uninterrupted):
  workdir = uninterrupted[0]
  out = subprocess.run(
      # The config stored with the checkpoint, two fields overridden.
      [sys.executable, os.path.join(ROOT, "eval.py"), "--workdir", workdir,
       "--config.data.max_eval_samples=12", "--config.eval.draw=3"],
      capture_output=True, text=True, cwd=ROOT, timeout=600, check=False)
  assert out.returncode == 0, out.stderr[-3000:]
  assert "mIoU" in out.stdout and "P@0.5" in out.stdout
  result = json.load(open(os.path.join(workdir, "eval", "synthetic_test_clean.json")))
  for key in ("P@0.5", "P@0.9", "mAP", "mAP_coco", "oIoU", "mIoU", "num_samples"):
    assert key in result["metrics"], key
  assert len(result["samples"]) == 12
  s = result["samples"][0]
  assert {"sample_id", "iou", "intersection", "union", "kind"} <= set(s)
  ious = [(r["intersection"] + 1e-6) / (r["union"] + 1e-6) for r in result["samples"]]
  np.testing.assert_allclose(np.mean(ious), result["metrics"]["mIoU"], rtol=1e-6)
  assert set(result["by_kind"]) <= {"appearance", "motion", "both"}
  # One each of the best, median and worst sample by IoU, and their grid.
  assert sorted(os.listdir(os.path.join(workdir, "eval", "pictures"))) == [
      "000_best.png", "001_median.png", "002_worst.png"]
  assert os.path.isfile(os.path.join(workdir, "eval", "synthetic_test_clean.png"))


def _free_port():
  import socket  # pylint: disable=g-import-not-at-top
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def _train_cmd(data_root, workdir, num_steps):
  return [sys.executable, os.path.join(ROOT, "train.py"), "--config",
          os.path.join(ROOT, "configs", "synthetic.py:tiny"), "--workdir", workdir,
          f"--config.data.root={data_root}", "--config.data.max_eval_samples=12",
          "--config.model.cmam_stages=(1,5)", "--config.model.lasp_pairs=((5,4),)",
          "--config.train.batch_size=4", f"--config.train.num_steps={num_steps}",
          "--config.train.checkpoint_every_steps=2", "--config.train.log_every_steps=1",
          "--config.eval.batch_size=4"]


def test_two_process_distributed_run_matches_one_process(data_root, uninterrupted,
                                                         tmp_path):
  """2 processes x 2 CPU devices on 127.0.0.1 reach the 1-process (4-device) losses."""
  workdir = str(tmp_path / "dist")
  port = _free_port()
  args = _train_cmd(data_root, workdir, 3) + ["--config.data.backend=numpy"]
  procs = []
  for pid in range(2):
    env = dict(os.environ, JAX_NUM_CPU_DEVICES="2", JAX_PLATFORMS="cpu",
               JAX_COORDINATOR_ADDRESS=f"127.0.0.1:{port}", JAX_NUM_PROCESSES="2",
               JAX_PROCESS_ID=str(pid), RVS_JAX_TENSORBOARD="0")
    procs.append(subprocess.Popen(args, env=env, cwd=ROOT, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True))
  outputs = [p.communicate(timeout=900)[0] for p in procs]
  for p, out in zip(procs, outputs):
    assert p.returncode == 0, out[-3000:]
  two = [json.loads(l) for l in open(os.path.join(workdir, "metrics.jsonl"))]
  one = [json.loads(l) for l in open(os.path.join(uninterrupted[0], "metrics.jsonl"))]
  two_losses = [l["loss"] for l in two if "loss" in l]
  one_losses = [l["loss"] for l in one if "loss" in l][:3]
  np.testing.assert_allclose(two_losses, one_losses, rtol=1e-4)


def test_sigkill_and_rerun_ends_with_the_same_parameters(data_root, uninterrupted,
                                                         tmp_path):
  """kill -9 once the first checkpoint exists (mid-step or mid-save), rerun, compare."""
  import signal  # pylint: disable=g-import-not-at-top
  import time  # pylint: disable=g-import-not-at-top
  workdir = str(tmp_path / "killed")
  # Same topology and compile cache as this test process: the fixture's compiled
  # programs are reused, so the subprocesses start quickly.
  env = dict(os.environ, JAX_NUM_CPU_DEVICES="4", JAX_PLATFORMS="cpu",
             RVS_JAX_CACHE=jax.config.jax_compilation_cache_dir or "",
             RVS_JAX_TENSORBOARD="0")
  proc = subprocess.Popen(_train_cmd(data_root, workdir, 6), env=env, cwd=ROOT,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  first = os.path.join(workdir, "checkpoints", "2")
  deadline = time.time() + 600
  while not os.path.isdir(first) and proc.poll() is None and time.time() < deadline:
    time.sleep(0.05)
  assert os.path.isdir(first), "no checkpoint appeared"
  proc.send_signal(signal.SIGKILL)
  proc.wait()
  out = subprocess.run(_train_cmd(data_root, workdir, 6), env=env, cwd=ROOT,
                       capture_output=True, text=True, timeout=900, check=False)
  assert out.returncode == 0, out.stderr[-3000:]
  step, resumed = _params(workdir)
  _, full = _params(uninterrupted[0])
  assert step == 6
  for a, b in zip(jax.tree.leaves(resumed), jax.tree.leaves(full)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  # The steps re-run after the resume are logged once, not twice.
  lines = [json.loads(l) for l in open(os.path.join(workdir, "metrics.jsonl"))]
  assert [l["step"] for l in lines if "loss" in l] == list(range(1, 7))


def test_sigterm_saves_exits_0_and_the_rerun_matches(data_root, uninterrupted, tmp_path):
  """SIGTERM once the first checkpoint exists: a checkpoint at that step, exit 0, and a
  rerun ends with the uninterrupted run's parameters."""
  import signal  # pylint: disable=g-import-not-at-top
  import time  # pylint: disable=g-import-not-at-top
  workdir = str(tmp_path / "stopped")
  env = dict(os.environ, JAX_NUM_CPU_DEVICES="4", JAX_PLATFORMS="cpu",
             RVS_JAX_CACHE=jax.config.jax_compilation_cache_dir or "",
             RVS_JAX_TENSORBOARD="0")
  proc = subprocess.Popen(_train_cmd(data_root, workdir, 6), env=env, cwd=ROOT,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  first = os.path.join(workdir, "checkpoints", "2")
  deadline = time.time() + 600
  while not os.path.isdir(first) and proc.poll() is None and time.time() < deadline:
    time.sleep(0.05)
  assert os.path.isdir(first), "no checkpoint appeared"
  proc.send_signal(signal.SIGTERM)
  out, err = proc.communicate(timeout=600)
  assert proc.returncode == 0, err[-3000:]
  summary = json.loads(out[out.index("{"):])
  stopped_at = summary["step"]
  # Steps 3-6 and the final evaluation take seconds, the signal a few milliseconds.
  assert stopped_at < 6 and summary["preempted"] is True
  assert f"SIGTERM at step {stopped_at}: checkpoint saved" in err
  assert _params(workdir)[0] == stopped_at
  rerun = subprocess.run(_train_cmd(data_root, workdir, 6), env=env, cwd=ROOT,
                         capture_output=True, text=True, timeout=900, check=False)
  assert rerun.returncode == 0, rerun.stderr[-3000:]
  step, resumed = _params(workdir)
  _, full = _params(uninterrupted[0])
  assert step == 6
  for a, b in zip(jax.tree.leaves(resumed), jax.tree.leaves(full)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  # The steps re-run after the resume are logged once, not twice.
  lines = [json.loads(l) for l in open(os.path.join(workdir, "metrics.jsonl"))]
  assert [l["step"] for l in lines if "loss" in l] == list(range(1, 7))


def test_optimizer_schedule_halves_at_the_decay_epochs_and_scales_the_encoders():
  cfg = ml_collections.ConfigDict(dict(lr=1e-4, lr_decay=0.5, lr_decay_epochs=[10, 12],
                                       weight_decay=0.0, backbone_lr_mult=0.1))
  schedule = optim.make_schedule(cfg, steps_per_epoch=4)
  tx = optim.make_optimizer(cfg, schedule)
  assert float(schedule(39)) == pytest.approx(1e-4)
  assert float(schedule(40)) == pytest.approx(5e-5)
  assert float(schedule(48)) == pytest.approx(2.5e-5)
  params = {"spatial_encoder": {"w": jnp.ones(2)}, "head": {"w": jnp.ones(2)}}
  grads = jax.tree.map(jnp.ones_like, params)
  updates, _ = tx.update(grads, tx.init(params), params)
  # Adam's first step moves every weight by lr (times the multiplier for an encoder).
  assert float(updates["head"]["w"][0]) == pytest.approx(-1e-4, rel=1e-3)
  assert float(updates["spatial_encoder"]["w"][0]) == pytest.approx(-1e-5, rel=1e-3)
  # The trainer's form, the LR as a scalar input: same state structure (checkpoints
  # restore across the two) and the same update.
  scalar = optim.make_optimizer(cfg, jnp.float32(schedule(0)))
  chex.assert_trees_all_equal_structs(scalar.init(params), tx.init(params))
  chex.assert_trees_all_close(scalar.update(grads, tx.init(params), params)[0], updates)


def test_throughput_excludes_first_step_and_pauses(monkeypatch):
  now = [0.0]
  monkeypatch.setattr(trainer.time, "perf_counter", lambda: now[0])
  meter = trainer._Throughput(batch_size=4)
  now[0] = 60.0
  meter.step()                  # The first step (compilation) only starts the clock.
  assert meter.clips_per_s() is None and meter.describe(10) == ""
  now[0] = 62.0
  meter.step()
  with meter.paused():          # An evaluation: 100 s that are not training.
    now[0] = 162.0
  now[0] = 164.0
  meter.step()
  assert meter.clips_per_s() == pytest.approx(2 * 4 / 4.0)
  assert meter.describe(steps_left=100) == " (2.0 clips/s, ETA 3 min)"


def test_compile_times_are_remembered_per_program(tmp_path):
  times = startup.CompileTimes(str(tmp_path / "sub" / "times.json"))
  config = synthetic.get_config("tiny")
  key = startup.CompileTimes.key(config)
  assert times.get(key) is None
  assert "not compiled on this machine before" in startup.compile_message(None)
  times.put(key, 51.26)
  assert times.get(key) == 51.3
  assert startup.compile_message(51.3) == (
      "compiling the train step, ~51 s (measured here last time)")
  config.train.batch_size *= 2  # Another program: no estimate.
  assert times.get(startup.CompileTimes.key(config)) is None
  (tmp_path / "sub" / "times.json").write_text("not json")
  assert times.get(key) is None  # A damaged record costs only the estimate.
