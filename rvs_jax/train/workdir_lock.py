"""One training run per workdir: an exclusive lock on `W/.lock`.

Two runs on one workdir would overwrite each other's checkpoints and interleave
`metrics.jsonl`. The lock is an OS file lock (`flock`), so the kernel releases it when
its process dies however it dies (`kill -9` included): a stale lock needs no clean-up,
the next run simply takes it. The file holds the owner's pid, host and start time, which
the error names. On a multi-host run only process 0 takes it.

`flock` is per host: two runs on different hosts sharing the workdir over NFS are not
seen by each other (use one launcher per workdir there).
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import json
import os
import socket
from typing import Iterator

LOCK_FILE = ".lock"


class WorkdirBusy(ValueError):
  """Another live process holds the workdir's lock."""


@contextlib.contextmanager
def hold(workdir: str) -> Iterator[None]:
  """Holds `workdir`'s lock for the `with` block; WorkdirBusy if another run has it."""
  os.makedirs(workdir, exist_ok=True)
  path = os.path.join(workdir, LOCK_FILE)
  while True:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
      fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      owner = _owner(fd)
      os.close(fd)
      raise WorkdirBusy(f"workdir {workdir} is in use by another training run "
                        f"({owner}); wait for it to end or choose another --workdir"
                        ) from None
    # The previous holder unlinks the file when it ends: if it did so between our
    # open and our flock, we hold a lock on a deleted file. Retry on the new one.
    try:
      same = os.stat(path).st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
      same = False
    if same:
      break
    os.close(fd)
  os.ftruncate(fd, 0)
  os.write(fd, json.dumps({
      "pid": os.getpid(), "host": socket.gethostname(),
      "since": datetime.datetime.now().isoformat(timespec="seconds")}).encode())
  try:
    yield
  finally:
    # Unlink before unlocking, so a waiting run never takes a file that is going away.
    with contextlib.suppress(FileNotFoundError):
      os.remove(path)
    os.close(fd)


def _owner(fd: int) -> str:
  try:
    info = json.loads(os.pread(fd, 4096, 0) or b"{}")
    return f"pid {info['pid']} on {info['host']} since {info['since']}"
  except (ValueError, KeyError, OSError):
    return "owner unknown"
