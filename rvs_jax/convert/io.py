"""Reading PyTorch files and writing / reading converted checkpoints.

A converted checkpoint is a directory:

    DIR/
      variables/        Orbax `StandardCheckpointer` checkpoint of the tree
                        {"params": {...}, "batch_stats": {...}} (NumPy float32 leaves)
      conversion.json   what was converted: kind, source path, sha256 and size, config,
                        the key mapping source key -> "collection/flax/path", dropped
                        source keys, allow-missing / allow-unexpected patterns

Paths in the tree always start at the model root (`params/temporal_encoder/...`), also
for partial trees (only one encoder), so they can be overlaid on a freshly initialised
model with `merge_into`. A plain `StandardCheckpointer` (not a `CheckpointManager`) is
used because a conversion has no steps; restoring needs no target:

    partial = load_converted(DIR)                  # the stored tree, NumPy arrays
    variables = model.init(rng, video, words, mask)
    variables = load_converted(DIR, variables)     # = merge_into(variables, partial)

`read_torch_state_dict` is the only place PyTorch is imported, lazily, and always with
`weights_only=True`, which refuses any pickled object other than tensors and containers.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from typing import Any, Iterable, Mapping

import numpy as np

from rvs_jax.convert.torch_layout import ConversionError, flatten_tree, unflatten_tree

VARIABLES_DIR = "variables"
META_FILE = "conversion.json"
FORMAT = "rvs_jax.convert/1"


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
  """Hex sha256 of a file, streamed."""
  digest = hashlib.sha256()
  with open(path, "rb") as f:
    while block := f.read(chunk):
      digest.update(block)
  return digest.hexdigest()


def read_torch_state_dict(path: str | os.PathLike) -> dict[str, np.ndarray]:
  """A PyTorch checkpoint's `state_dict` as NumPy arrays.

  Accepts a bare state_dict or a dict holding one under `'state_dict'` (the CSTM
  `checkpoint.pth.tar`: `{'epoch', 'state_dict'}`, or `'model'`), and strips the
  `module.` prefix `DataParallel` adds. Read with `torch.load(..., weights_only=True)`:
  a file that pickles anything but tensors and plain containers is refused unread.

  Raises:
    ConversionError: torch is not installed, the file is unreadable or unsafe, or it
      holds no state_dict.
  """
  try:
    import torch  # pylint: disable=g-import-not-at-top
  except ImportError:
    raise ConversionError(
        "reading a PyTorch checkpoint needs torch: pip install -e '.[torch]' "
        "(CPU wheel torch==2.13.0)") from None
  if not os.path.isfile(path):
    raise ConversionError(f"{path}: no such file")
  try:
    obj = torch.load(path, map_location="cpu", weights_only=True)
  except Exception as e:  # pylint: disable=broad-except
    # weights_only refusals are UnpicklingError; corrupt files raise many types.
    first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    raise ConversionError(
        f"{path}: cannot read as a PyTorch weights file with torch.load(weights_only=True)"
        f": {first}") from None
  if isinstance(obj, Mapping):
    for key in ("state_dict", "model"):
      if isinstance(obj.get(key), Mapping):
        obj = obj[key]
        break
  if not isinstance(obj, Mapping) or not any(
      isinstance(v, torch.Tensor) for v in obj.values()):
    keys = sorted(obj)[:10] if isinstance(obj, Mapping) else type(obj).__name__
    raise ConversionError(f"{path}: no state_dict of tensors found (top level: {keys})")
  out = {}
  for key, value in obj.items():
    if not isinstance(value, torch.Tensor):
      continue
    key = key[len("module."):] if key.startswith("module.") else key
    if value.dtype in (torch.float16, torch.bfloat16):
      value = value.float()  # NumPy has no bfloat16; the model computes in float32.
    out[key] = value.detach().cpu().numpy()
  return out


def save_converted(directory: str | os.PathLike, variables: Mapping,
                   meta: Mapping[str, Any], overwrite: bool = False) -> None:
  """Writes `variables` (NumPy/JAX leaves) and `meta` as a converted checkpoint.

  Args:
    directory: created; must not exist (or be empty) unless `overwrite`.
    variables: `{"params": ..., "batch_stats": ...}`, possibly partial, paths from the
      model root.
    meta: JSON-serialisable description (see module docstring); `format` is added.
    overwrite: replace an existing converted checkpoint in `directory`.
  """
  import orbax.checkpoint as ocp  # pylint: disable=g-import-not-at-top

  directory = os.path.abspath(os.fspath(directory))
  if os.path.exists(directory) and os.listdir(directory):
    if not overwrite:
      raise ConversionError(f"{directory} exists and is not empty (pass overwrite / "
                            "--overwrite to replace it)")
    if not os.path.isfile(os.path.join(directory, META_FILE)):
      raise ConversionError(f"{directory} is not a converted checkpoint; refusing to "
                            "overwrite it")
    shutil.rmtree(directory)
  os.makedirs(directory, exist_ok=True)
  tree = {c: t for c, t in variables.items() if t}
  tree = unflatten_tree({p: np.asarray(v) for p, v in flatten_tree(tree).items()})
  with ocp.StandardCheckpointer() as ckptr:
    ckptr.save(os.path.join(directory, VARIABLES_DIR), tree)
  meta = dict(meta, format=FORMAT, leaves=len(flatten_tree(tree)))
  with open(os.path.join(directory, META_FILE), "w", encoding="utf-8") as f:
    json.dump(meta, f, indent=1, sort_keys=True)
    f.write("\n")


def read_meta(directory: str | os.PathLike) -> dict[str, Any]:
  """The `conversion.json` of a converted checkpoint."""
  path = os.path.join(directory, META_FILE)
  if not os.path.isfile(path):
    raise ConversionError(f"{directory} is not a converted checkpoint (no {META_FILE})")
  with open(path, encoding="utf-8") as f:
    return json.load(f)


def load_converted(directory: str | os.PathLike, target: Mapping | None = None,
                   allow_missing: Iterable[str] = ()) -> dict:
  """Reads a converted checkpoint; with `target`, overlays it on `target`.

  Args:
    directory: written by `save_converted` (or `python -m rvs_jax.convert`).
    target: optional full variables (e.g. `model.init(...)`); the stored leaves replace
      the corresponding ones (`merge_into`), the others are kept.
    allow_missing: see `merge_into`.

  Returns:
    Without `target`, the stored tree (NumPy arrays); with it, the merged tree.
  """
  import orbax.checkpoint as ocp  # pylint: disable=g-import-not-at-top

  read_meta(directory)
  with ocp.StandardCheckpointer() as ckptr:
    tree = ckptr.restore(os.path.join(os.path.abspath(directory), VARIABLES_DIR))
  tree = unflatten_tree({p: np.asarray(v) for p, v in flatten_tree(tree).items()})
  return tree if target is None else merge_into(target, tree, allow_missing)


def merge_into(variables: Mapping, partial: Mapping, allow_missing: Iterable[str] = (),
               source: str = "pretrained variables") -> dict:
  """Overlays the leaves of `partial` on `variables`, strictly.

  Every leaf of `partial` must exist in `variables` with the same shape; all problems are
  reported in one `ConversionError`. Values are cast to the dtype of the leaf they
  replace and placed like it (a `jax.Array` target keeps its sharding).

  Args:
    variables: the full tree (arrays or `jax.ShapeDtypeStruct`s), e.g. `model.init(...)`.
    partial: e.g. `{"params": {"temporal_encoder": ...}, "batch_stats": {...}}`.
    allow_missing: regexes of `partial` paths ("params/temporal_encoder/Logits_.*") that
      may have no counterpart in `variables`; they are dropped.
    source: name used in messages.

  Returns:
    A new tree with the structure of `variables` (`variables` is not modified).
  """
  flat = flatten_tree(variables)
  problems_missing, problems_shape = [], []
  updates = {}
  for path, value in flatten_tree(partial).items():
    name = "/".join(path)
    if path not in flat:
      if not any(re.fullmatch(p, name) for p in allow_missing):
        problems_missing.append(name)
      continue
    want = flat[path]
    if tuple(np.shape(value)) != tuple(want.shape):
      problems_shape.append(f"{name}: {tuple(np.shape(value))} vs model "
                            f"{tuple(want.shape)}")
      continue
    updates[path] = _like(value, want)
  if problems_missing or problems_shape:
    lines = [f"{source} do not fit the model:"]
    if problems_missing:
      lines.append(f"  not in the model ({len(problems_missing)}): " +
                   ", ".join(problems_missing))
    if problems_shape:
      lines.append(f"  shape mismatches ({len(problems_shape)}): " +
                   "; ".join(problems_shape))
    raise ConversionError("\n".join(lines))
  flat.update(updates)
  return unflatten_tree(flat)


def _like(value, want):
  """`value` with the dtype (and, for a jax.Array, the sharding) of `want`."""
  value = np.asarray(value).astype(want.dtype)
  try:
    import jax  # pylint: disable=g-import-not-at-top
  except ImportError:
    return value
  if isinstance(want, jax.Array):
    return jax.device_put(value, want.sharding)
  return value
