"""The command runner: one-line errors with exit status 2, --help, no stray workdir.

Every case fails before a model is built, so nothing here compiles.
"""

import logging
import os
import subprocess
import sys

import pytest

from rvs_jax.train import cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = os.path.join(ROOT, "configs", "synthetic.py")


def _run(capsys, *args):
  status = cli.main(list(args))
  out, err = capsys.readouterr()
  return status, out, err


@pytest.mark.parametrize("args, expected", [
    ([f"--config={CONFIG}:tiny", "--config.train.num_stepz=3"],
     "config.train has no field 'num_stepz' (did you mean num_steps"),
    ([f"--config={CONFIG}:tiny", "--config.trian.lr=3"], "config has no field 'trian'"),
    ([f"--config={CONFIG}:tiny", "--config.train.lr.x=1"], "config.train.lr is a value"),
    ([f"--config={CONFIG}:tiny", "--config.train.num_steps=abc"], "num_steps=abc"),
    ([f"--config={CONFIG}:tinyy"], "tinyy"),
    ([f"--config={ROOT}/configs/nope.py"], "nope.py' not found"),
    ([f"--config={CONFIG}:tiny", "--bogus=1"], "bogus"),
    ([f"--config={CONFIG}:tiny", "stray"], "unexpected argument 'stray'"),
    ([], "missing required flag --config"),
    # Checked at the start, not at the first evaluation after training.
    ([f"--config={CONFIG}:tiny", "--config.eval.batch_size=3"],
     "eval.batch_size=3 is not a positive multiple of the 4 devices"),
])
def test_user_mistakes_are_one_line_and_exit_2(capsys, tmp_path, args, expected):
  workdir = tmp_path / "w"
  status, out, err = _run(capsys, *args, f"--workdir={workdir}")
  assert status == 2
  assert err.count("\n") == 1 and err.startswith("rvs-train: error: "), err
  assert expected in err
  assert not out and not workdir.exists()


def test_failed_start_leaves_no_workdir_but_keeps_an_existing_one(capsys, tmp_path):
  missing_root = tmp_path / "no_data"
  new = tmp_path / "new"
  status, _, err = _run(capsys, f"--config={CONFIG}:tiny", f"--workdir={new}",
                        f"--config.data.root={missing_root}")
  assert status == 2 and "no_data" in err and err.count("\n") == 1
  assert not new.exists()
  old = tmp_path / "old"
  old.mkdir()
  (old / "notes.txt").write_text("mine")
  status, _, _ = _run(capsys, f"--config={CONFIG}:tiny", f"--workdir={old}",
                      f"--config.data.root={missing_root}")
  assert status == 2 and (old / "notes.txt").read_text() == "mine"


def test_help_exits_0_and_lists_the_flags(capsys):
  status, out, _ = _run(capsys, "--help")
  assert status == 0
  assert "--workdir" in out and "--config" in out and "rvs-train" in out


def test_train_py_is_the_same_command():
  proc = subprocess.run([sys.executable, os.path.join(ROOT, "train.py"),
                         f"--config={CONFIG}:tiny", "--config.train.num_stepz=3",
                         "--workdir=unused"], capture_output=True, text=True, cwd=ROOT,
                        timeout=120, check=False)
  assert proc.returncode == 2
  assert proc.stderr.strip().splitlines() == [
      "rvs-train: error: --config.train.num_stepz: config.train has no field "
      "'num_stepz' (did you mean num_steps, num_epochs?)"]


def test_argparse_commands_fail_in_one_line(capsys):
  from rvs_jax.data import validate  # pylint: disable=g-import-not-at-top
  with pytest.raises(SystemExit) as e:
    validate.main(["no_such_benchmark", "/nowhere"])
  assert e.value.code == 2
  err = capsys.readouterr().err
  assert err.count("\n") == 1 and "invalid choice: 'no_such_benchmark'" in err


def _workdir_with_stored_config(path):
  """A workdir whose one checkpoint step holds the tiny synthetic config (no weights)."""
  # pylint: disable=g-import-not-at-top
  import json
  import numpy as np
  from configs import synthetic
  from rvs_jax import checkpointing
  # pylint: enable=g-import-not-at-top
  ckpts = checkpointing.Checkpoints(str(path), async_save=False)
  ckpts.save(1, {"x": np.zeros(1, np.float32)},
             {"config": json.loads(synthetic.get_config("tiny").to_json_best_effort())})
  ckpts.close()


@pytest.mark.parametrize("make, args, expected", [
    (None, ["--workdir={w}"], "checkpoint '{w}' does not exist"),
    ("workdir", ["--workdir={w}", "--config.eval.protcol=clean"],
     "config.eval has no field 'protcol' (did you mean protocol"),
    ("converted", ["--workdir={w}"], "is a converted checkpoint: it stores the model but "
     "no dataset; pass --config"),
    ("workdir", ["--workdir={w}", "--config.eval.batch_size=3"],
     "eval.batch_size=3 is not a positive multiple"),
    (None, [], "missing required flag --config, --workdir"),
])
def test_eval_uses_the_stored_config_and_fails_in_one_line(capsys, tmp_path, make, args,
                                                           expected):
  from rvs_jax.evaluation import cli as eval_cli  # pylint: disable=g-import-not-at-top
  workdir = tmp_path / "w"
  if make == "workdir":
    _workdir_with_stored_config(workdir)
  elif make == "converted":
    workdir.mkdir()
    (workdir / "conversion.json").write_text('{"model_config": {}}')
  status = eval_cli.main([a.format(w=workdir) for a in args])
  out, err = capsys.readouterr()
  assert status == 2 and not out
  assert err.count("\n") == 1 and err.startswith("rvs-eval: error: "), err
  assert expected.format(w=workdir) in err


def test_configure_shows_our_info_lines_and_drops_library_noise(monkeypatch, capsys):
  from absl import logging as absl_logging  # pylint: disable=g-import-not-at-top
  from rvs_jax import platform  # pylint: disable=g-import-not-at-top
  monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
  monkeypatch.setenv("RVS_JAX_CACHE", "")  # Keep the tests' compilation cache.
  platform.configure()
  assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "1"  # TF/XLA C++ INFO lines off.
  monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "0")
  platform.configure()
  assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "0"  # The user's choice is kept.
  # absl's handler keeps the stream it was created with (an earlier test's capture).
  monkeypatch.setattr(absl_logging.get_absl_handler().python_handler, "stream",
                      sys.stderr)
  log = logging.getLogger()
  ours = log.makeRecord("root", logging.INFO, "/x/rvs_jax/train/trainer.py", 1,
                        "devices: 1 x cpu", (), None)
  theirs = log.makeRecord("root", logging.INFO, "/x/orbax/checkpoint/manager.py", 1,
                          "manager options ...", (), None)
  warning = log.makeRecord("root", logging.WARNING, "/x/orbax/checkpoint/manager.py",
                           1, "waiting for a save", (), None)
  for record in (ours, theirs, warning):
    log.handle(record)
  err = capsys.readouterr().err
  assert "devices: 1 x cpu" in err and "waiting for a save" in err
  assert "manager options" not in err


_SHOW_FLAGS = ("import os, warnings\n"
               "warnings.simplefilter('error')\n"
               "{before}import rvs_jax\n"
               "print(os.environ.get('XLA_FLAGS', ''))\n")


def _python(code, xla_flags=None):
  env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
  if xla_flags is not None:
    env["XLA_FLAGS"] = xla_flags
  return subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT,
                        capture_output=True, text=True, timeout=120, check=False)


def test_importing_rvs_jax_sets_the_xla_flags_the_clis_run():
  from rvs_jax import platform  # pylint: disable=g-import-not-at-top
  done = _python(_SHOW_FLAGS.format(before=""))
  assert done.returncode == 0, done.stderr
  assert done.stdout.split() == list(platform.XLA_FLAGS)
  # A flag the user set is kept as set; other flags of theirs stay.
  mine = "--xla_cpu_experimental_ynn_fusion_type=individual_dot --xla_dump_to=/tmp/x"
  done = _python(_SHOW_FLAGS.format(before=""), mine)
  assert done.returncode == 0, done.stderr
  assert done.stdout.strip() == mine


def test_importing_rvs_jax_after_jax_started_warns_that_its_flags_are_off():
  done = _python(_SHOW_FLAGS.format(before="import jax; jax.devices()\n"))
  # warnings are errors in the child: the import raised RuntimeWarning.
  assert done.returncode != 0
  assert "RuntimeWarning: rvs_jax was imported after JAX initialised" in done.stderr
  assert "import rvs_jax first" in done.stderr
