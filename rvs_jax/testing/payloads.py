"""Hostile copies of checkpoint and export folders, for the "nothing is executed" tests.

A payload, when it runs, creates a marker file; a test plants one in a file a loader
reads, runs the loader, and asserts the marker does not exist. Two kinds, by what the
file holds:

* binary files (NumPy, Orbax/TensorStore chunks, StableHLO) are replaced by a pickle
  whose unpickling calls `open(marker, "w")` (the classic malicious pickle, harmless);
* JSON files keep their content and gain references to a Python file that creates the
  marker when imported or executed: every string naming a config file (`config`,
  `source`, `init_from`, `config_file`), at the top and inside a stored `config`.

`selftest` checks that both payloads do run when handed to `pickle.loads` / `exec`, so
a test that finds no marker means the loader refused them, not that they were inert.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import shutil


class _OpensMarker:
  """Unpickling this object calls `open(marker, "w")`."""

  def __init__(self, marker: str):
    self.marker = marker

  def __reduce__(self):
    return (open, (self.marker, "w"))


def pickle_payload(marker: str) -> bytes:
  return pickle.dumps({"params": _OpensMarker(marker)}, protocol=4)


def python_payload(folder: str, marker: str) -> str:
  """A Python file (also a valid config module name) that creates `marker` when run."""
  path = os.path.join(folder, "payload_config.py")
  with open(path, "w", encoding="utf-8") as f:
    f.write(f"open({marker!r}, 'w').close()\n"
            "def get_config(arg=None):\n  raise SystemExit('payload config ran')\n")
  return path


def selftest(folder: str) -> None:
  """Both payloads create their marker when run the unsafe way (else AssertionError)."""
  marker = os.path.join(folder, "selftest_marker")
  pickle.loads(pickle_payload(marker))
  assert os.path.exists(marker), "the pickle payload did not run"
  os.remove(marker)
  with open(python_payload(folder, marker), encoding="utf-8") as f:
    exec(compile(f.read(), "payload_config.py", "exec"), {})  # pylint: disable=exec-used
  assert os.path.exists(marker), "the Python payload did not run"
  os.remove(marker)


def files_in(folder: str) -> list[str]:
  """The files under `folder` (relative paths, sorted), one per kind.

  TensorStore's data chunks (`d/<32 hex digits>`) are all read the same way, so one of
  each folder's chunks stands for the rest.
  """
  out = []
  for root, _, names in os.walk(folder):
    chunks = sorted(n for n in names if re.fullmatch(r"[0-9a-f]{32}", n))
    names = [n for n in names if n not in chunks] + chunks[:1]
    out += [os.path.relpath(os.path.join(root, n), folder) for n in names]
  return sorted(out)


def _point_at(tree: dict, script: str, top: bool = True) -> dict:
  """`tree` with every config-file field (and, at the top, the stored config's) naming
  `script`; the model section is left valid so that loading gets past it."""
  tree = dict(tree)
  if top and isinstance(tree.get("config"), dict):
    tree["config"] = _point_at(tree["config"], script, top=False)
  for key in ("config", "source", "init_from", "config_file"):
    if not isinstance(tree.get(key), (dict, list)):
      tree[key] = f"{script}:x"
  return tree


def planted_copy(folder: str, relative: str, dest: str, marker: str) -> str:
  """A copy of `folder` at `dest` whose file `relative` carries a payload.

  Returns `dest`. The Python payload file is written beside `dest`, not inside it.
  """
  shutil.copytree(folder, dest)
  target = os.path.join(dest, relative)
  with open(target, "rb") as f:
    raw = f.read()
  try:
    data = json.loads(raw.decode("utf-8"))
  except (UnicodeDecodeError, ValueError):
    data = None
  if isinstance(data, dict):
    script = python_payload(os.path.dirname(dest), marker)
    with open(target, "w", encoding="utf-8") as f:
      json.dump(_point_at(data, script), f)
  else:
    with open(target, "wb") as f:
      f.write(pickle_payload(marker))
  return dest
