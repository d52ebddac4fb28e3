"""One writer per workdir, clean stops on SIGTERM/SIGINT, atomic writes (no compiling)."""

import errno
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from rvs_jax import files, text
from rvs_jax.train import preemption, workdir_lock

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_second_holder_is_refused_naming_the_first(tmp_path):
  with workdir_lock.hold(str(tmp_path)):
    with pytest.raises(workdir_lock.WorkdirBusy, match=f"pid {os.getpid()} on "):
      with workdir_lock.hold(str(tmp_path)):
        pass
  assert not (tmp_path / workdir_lock.LOCK_FILE).exists()
  with workdir_lock.hold(str(tmp_path)):  # Free again once released.
    pass


def test_train_py_refuses_a_busy_workdir_in_one_line(tmp_path):
  with workdir_lock.hold(str(tmp_path)):
    proc = subprocess.run(
        [sys.executable, os.path.join(ROOT, "train.py"),
         f"--config={ROOT}/configs/synthetic.py:tiny", f"--workdir={tmp_path}",
         f"--config.data.root={tmp_path}/no_data"],
        capture_output=True, text=True, cwd=ROOT, timeout=300, check=False)
  assert proc.returncode == 2
  lines = proc.stderr.strip().splitlines()
  assert len(lines) == 1 and "in use by another training run" in lines[0], proc.stderr
  assert f"pid {os.getpid()}" in lines[0]


def test_lock_of_a_killed_process_is_taken_over(tmp_path):
  holder = subprocess.Popen(
      [sys.executable, "-c",
       "import sys, time; from rvs_jax.train import workdir_lock\n"
       f"with workdir_lock.hold({str(tmp_path)!r}):\n"
       "  print('locked', flush=True); time.sleep(600)"],
      stdout=subprocess.PIPE, text=True, cwd=ROOT)
  assert holder.stdout.readline().strip() == "locked"
  with pytest.raises(workdir_lock.WorkdirBusy):
    with workdir_lock.hold(str(tmp_path)):
      pass
  holder.send_signal(signal.SIGKILL)
  holder.wait()
  assert (tmp_path / workdir_lock.LOCK_FILE).exists()  # Stale: its owner is dead.
  with workdir_lock.hold(str(tmp_path)):
    pass


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signals_set_a_flag_once_then_restore_the_handlers(sig):
  before = signal.getsignal(sig)
  with preemption.Signals() as signals:
    assert not signals.requested()
    os.kill(os.getpid(), sig)
    assert signals.requested() and signals.received == signal.Signals(sig).name
    # The first signal re-armed the previous handler for a second one.
    assert signal.getsignal(sig) is before
  assert signal.getsignal(sig) is before


def test_failed_write_keeps_the_previous_file(tmp_path, monkeypatch):
  path = tmp_path / "word_vectors.npz"
  good = text.WordVectors(["cat"], np.ones((1, 3), np.float32))
  good.save(path)

  def full_disk(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")

  monkeypatch.setattr(np, "savez", full_disk)
  with pytest.raises(OSError, match="No space left"):
    text.WordVectors(["dog"], np.zeros((1, 3), np.float32)).save(path)
  monkeypatch.undo()
  assert text.WordVectors.load(path).ids(["cat"])[0].tolist() == [1]
  assert sorted(os.listdir(tmp_path)) == ["word_vectors.npz"]  # No temporary left.


def test_truncated_word_vectors_name_the_file(tmp_path):
  path = tmp_path / "word_vectors.npz"
  text.WordVectors(["cat"], np.ones((1, 3), np.float32)).save(path)
  path.write_bytes(path.read_bytes()[:40])
  with pytest.raises(ValueError, match="cannot read word-vector table .*word_vectors"):
    text.WordVectors.load(path)


def test_replace_dir_swaps_complete_folders(tmp_path):
  out = tmp_path / "out"
  out.mkdir()
  (out / "old.txt").write_text("old")
  tmp = files.temporary_dir_beside(out)
  with open(os.path.join(tmp, "new.txt"), "w") as f:
    f.write("new")
  files.replace_dir(tmp, out)
  assert os.listdir(out) == ["new.txt"]
  assert sorted(os.listdir(tmp_path)) == ["out"]
