"""Reading PyTorch files (the converted layout is `rvs_jax.checkpointing`'s).

`read_torch_state_dict` is the only place PyTorch is imported, lazily, and always with
`weights_only=True`, which refuses any pickled object other than tensors and containers.
"""

from __future__ import annotations

import hashlib
import os
from typing import Mapping

import numpy as np

from rvs_jax.convert.torch_layout import ConversionError


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
