"""Stopping training cleanly on SIGTERM / SIGINT (preemption, `kill`, Ctrl-C).

While `Signals` is active the first SIGTERM or SIGINT only sets a flag; the training
loop checks it after every step, saves a checkpoint at that step and returns, and the
command exits 0. Rerunning it resumes exactly there (the data position is saved with
the checkpoint). A second signal gets the default behaviour (an immediate stop), for a
user who does not want to wait for the save.
"""

from __future__ import annotations

import signal
import threading

import jax
import numpy as np

_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Signals:
  """Context manager: `requested()` is True once SIGTERM/SIGINT arrived (on any host)."""

  def __init__(self):
    self.received: str | None = None
    self._previous = {}

  def __enter__(self) -> "Signals":
    if threading.current_thread() is threading.main_thread():  # Python's rule.
      for sig in _SIGNALS:
        self._previous[sig] = signal.signal(sig, self._handle)
    return self

  def __exit__(self, *exc) -> None:
    for sig, handler in self._previous.items():
      signal.signal(sig, handler)

  def _handle(self, signum, frame) -> None:
    del frame
    self.received = signal.Signals(signum).name
    signal.signal(signum, self._previous[signum])  # A second one stops at once.

  def requested(self) -> bool:
    """Whether to stop after this step; every process of a multi-host run agrees."""
    local = self.received is not None
    if jax.process_count() == 1:
      return local
    from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
    return bool(np.any(multihost_utils.process_allgather(np.int32(local))))
