"""Writing files so that a failed or killed write never destroys the previous result.

Everything the project writes goes to a temporary name beside its destination and is
renamed into place only once complete (`os.replace` is atomic within one filesystem):
after a full disk, a crash or `kill -9` the destination holds either the old file or the
new one, never half of one. `replace_dir` does the same for an output folder.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from typing import IO, Iterator


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb",
                 encoding: str | None = None) -> Iterator[IO]:
  """Opens a temporary file that replaces `path` when the `with` block succeeds.

  On an exception (ENOSPC included) the temporary file is removed and `path` is left
  as it was.
  """
  path = os.fspath(path)
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.",
                             suffix=".tmp")
  try:
    with os.fdopen(fd, mode, encoding=encoding) as f:
      yield f
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)
  except BaseException:
    with contextlib.suppress(FileNotFoundError):
      os.remove(tmp)
    raise


def temporary_dir_beside(path: str | os.PathLike) -> str:
  """A new empty folder on `path`'s filesystem, for `replace_dir(tmp, path)`."""
  path = os.path.abspath(os.fspath(path))
  os.makedirs(os.path.dirname(path), exist_ok=True)
  return tempfile.mkdtemp(dir=os.path.dirname(path),
                          prefix=f".{os.path.basename(path)}.", suffix=".tmp")


def replace_dir(tmp: str, path: str | os.PathLike) -> None:
  """Moves the complete folder `tmp` to `path`, replacing what was there.

  The old folder is renamed aside first and deleted only once the new one is in place,
  so a crash in between leaves one of the two complete (never neither).
  """
  path = os.fspath(path)
  old = None
  if os.path.lexists(path):
    old = tempfile.mkdtemp(dir=os.path.dirname(os.path.abspath(path)),
                           prefix=f".{os.path.basename(path)}.", suffix=".old")
    os.rmdir(old)
    os.replace(path, old)
  try:
    os.replace(tmp, path)
  except BaseException:
    if old is not None:
      os.replace(old, path)
    raise
  if old is not None:
    shutil.rmtree(old, ignore_errors=True)
