"""The tfds source (`config.data.source="tfds"`): tf.data over a built dataset.

One small synthetic benchmark (A2D layout) is generated and built once; the tests check
what training needs of the source beyond the per-benchmark read-back of
test_tfds_builders.py: host shards, exact resume at a saved position (pipeline and
trainer), clear errors, no leftover AutoGraph files, and that the raw path never imports
TensorFlow.
"""

import os
import pathlib
import signal
import subprocess
import sys

import jax
import numpy as np
import pytest

pytest.importorskip("tensorflow_datasets")

# pylint: disable=g-import-not-at-top
from configs import synthetic as synthetic_config
from rvs_jax import checkpointing, text
from rvs_jax.data import a2d, pipeline, synthetic, tfds_source
from rvs_jax.data.types import DataError
from rvs_jax.train import trainer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "data"))
import build_tfds  # data/build_tfds.py


@pytest.fixture(scope="module")
def built(tmp_path_factory):
  base = tmp_path_factory.mktemp("tfds_source")
  root, out = str(base / "synthetic"), str(base / "built")
  synthetic.generate(root, num_videos=6, seed=3, height=32, frames=12, workers=1)
  build_tfds.build(os.path.join(ROOT, "data", "a2d_sentences"), manual_dir=root,
                   data_dir=out)
  return root, out


@pytest.fixture(scope="module")
def wv(built):
  samples = a2d.load_a2d(built[0], "train")
  return text.WordVectors.from_glove(os.path.join(built[0], synthetic.GLOVE_NAME),
                                     text.vocabulary(s.sentence for s in samples))


def _built(out, split="train"):
  return tfds_source.BuiltSplit(tfds_source.find_builder_dir(out, "a2d_sentences"),
                                split).samples()


def _pipe(samples, wv, **kw):
  kw = dict(dict(batch_size=4, height=32, width=32, seed=5, num_workers=2,
                 process_index=0, process_count=1, backend="tf"), **kw)
  return pipeline.InputPipeline(samples, wv, **kw)


def test_two_hosts_read_disjoint_shards_covering_the_split(built, wv):
  samples = _built(built[1], "test")
  seen = []
  for p in range(2):
    pipe = _pipe(samples, wv, train=False, process_index=p, process_count=2)
    rows = np.concatenate([b["index"][b["valid"]] for b in pipe.iterate()])
    seen.append(rows)
  assert not set(seen[0]) & set(seen[1])
  assert sorted(np.concatenate(seen).tolist()) == list(range(len(samples)))
  # Training: every global batch is split between the hosts exactly as by the raw path.
  raw = a2d.load_a2d(built[0], "train")
  samples = _built(built[1])
  for p in range(2):
    it = _pipe(samples, wv, train=True, process_index=p, process_count=2).iterate()
    ref = _pipe(raw, wv, train=True, process_index=p, process_count=2,
                backend="numpy")
    for step in range(3):
      b = next(it)
      np.testing.assert_array_equal(b["index"],
                                    ref.local_indices(pipeline.Position(0, step)))


def test_resume_at_the_saved_position_continues_identically(built, wv):
  samples = _built(built[1])
  pipe = _pipe(samples, wv, train=True)
  full = pipe.iterate()
  want = [next(full) for _ in range(pipe.steps_per_epoch + 2)]  # Past an epoch end.
  full.close()
  first = pipe.iterate()
  for _ in range(pipe.steps_per_epoch - 1):
    next(first)
  state = first.state()
  first.close()
  resumed = _pipe(samples, wv, train=True).iterate(state)
  for b in want[pipe.steps_per_epoch - 1:]:
    got = next(resumed)
    for k in pipeline.KEYS:
      np.testing.assert_array_equal(got[k], b[k], err_msg=k)


def test_a_clip_rule_the_dataset_cannot_serve_fails_at_construction(built, wv):
  with pytest.raises(DataError, match="not stored"):
    _pipe(_built(built[1]), wv, stride=3)


def _config(root, out, workdir_steps):
  config = synthetic_config.get_config("tiny")
  # The same model and shapes as test_train's: its compiled step is reused.
  config.model.cmam_stages = (1, 5)
  config.model.lasp_pairs = ((5, 4),)
  config.data.update(source="tfds", tfds_dir=out, root="",
                     glove=os.path.join(root, synthetic.GLOVE_NAME))
  config.train.update(dict(batch_size=4, num_steps=workdir_steps,
                           checkpoint_every_steps=2, log_every_steps=1,
                           progress_bar=False, eval_every_epochs=0))
  config.eval.batch_size = 4
  return config


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


def test_train_crash_and_resume_on_the_tfds_source_ends_identical(built, tmp_path,
                                                                  monkeypatch):
  root, out = built
  full = str(tmp_path / "full")
  trainer.train_and_evaluate(_config(root, out, 5), full)
  # The second run dies in step 4 (after the step-2 checkpoint), then reruns.
  crashed = str(tmp_path / "crashed")
  calls = []
  real = trainer.sharding.global_batch

  def dying(*args, **kwargs):
    calls.append(1)
    if len(calls) == 4:
      raise KeyboardInterrupt("killed")
    return real(*args, **kwargs)

  monkeypatch.setattr(trainer.sharding, "global_batch", dying)
  with pytest.raises(KeyboardInterrupt):
    trainer.train_and_evaluate(_config(root, out, 5), crashed)
  monkeypatch.setattr(trainer.sharding, "global_batch", real)
  assert _params(crashed)[0] == 2
  summary = trainer.train_and_evaluate(_config(root, out, 5), crashed)
  assert summary["step"] == 5
  (step_a, a), (step_b, b) = _params(full), _params(crashed)
  assert step_a == step_b == 5
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


_RAW_RUN = """
import sys
sys.path[:0] = [{root!r}]
import numpy as np
from rvs_jax import datasets, experiment, text
from rvs_jax.data import a2d, pipeline
config = experiment.get_config("synthetic", "tiny", root={data!r})
samples = datasets.load_samples(config.data, "train")
words = sorted(text.vocabulary(s.sentence for s in samples))
wv = text.WordVectors(words, np.zeros((len(words), 4), np.float32))
pipe = datasets.make_pipeline(config, samples, wv, train=True, batch_size=2)
assert pipe.backend == "numpy", pipe.backend
next(iter(pipe))
print("TF" if any(m.split(".")[0] == "tensorflow" for m in sys.modules) else "NO TF")
"""


def test_the_raw_path_does_not_import_tensorflow(built):
  out = subprocess.run(
      [sys.executable, "-c", _RAW_RUN.format(root=ROOT, data=built[0])],
      capture_output=True, text=True, timeout=300, check=False,
      env=dict(os.environ, JAX_PLATFORMS="cpu"))
  assert out.returncode == 0, out.stderr[-3000:]
  assert out.stdout.strip().splitlines()[-1] == "NO TF"


_KILLED_TF_RUN = """
import sys, time
sys.path[:0] = [{root!r}]
import numpy as np
from rvs_jax import text
from rvs_jax.data import pipeline, tfds_source
samples = tfds_source.BuiltSplit(
    tfds_source.find_builder_dir({out!r}, "a2d_sentences"), "test").samples()
words = sorted(text.vocabulary(s.sentence for s in samples))
wv = text.WordVectors(words, np.zeros((len(words), 4), np.float32))
pipe = pipeline.InputPipeline(samples, wv, batch_size=2, height=32, width=32,
                              train=False, backend="tf", process_index=0,
                              process_count=1)
next(iter(pipe))
print("READY", flush=True)
time.sleep(120)
"""


def test_a_killed_tf_run_leaves_no_autograph_files(built, tmp_path):
  """AutoGraph writes converted functions to temp files that only atexit removes."""
  scratch = tmp_path / "tmp"
  scratch.mkdir()
  proc = subprocess.Popen(
      [sys.executable, "-c", _KILLED_TF_RUN.format(root=ROOT, out=built[1])],
      stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
      env=dict(os.environ, TMPDIR=str(scratch), JAX_PLATFORMS="cpu"))
  try:
    assert proc.stdout.readline().strip() == "READY"
  finally:
    proc.send_signal(signal.SIGKILL)
    proc.wait()
  assert sorted(p.name for p in pathlib.Path(scratch).iterdir()
                if p.name.startswith("__autograph_generated")) == []
