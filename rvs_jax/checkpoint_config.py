"""What travels with a checkpoint: its config, its word vectors and its variables.

`python -m rvs_jax.predict` and `python -m rvs_jax.export` take only `--checkpoint`; this
module finds everything else next to it, so a model cannot be run with the wrong
architecture, input size or vocabulary by accident:

* a training workdir (`rvs_jax.train.trainer`): the whole config is the JSON `meta` item of
  every Orbax step; the step read is the one `trainer.load_variables` restores (the best
  checkpoint, else the latest), and the vocabulary is `W/word_vectors.npz`;
* a converted checkpoint (`python -m rvs_jax.convert`): `conversion.json` holds the model
  section (`model_config`) and the input constants (`input`), both as JSON data; a
  conversion written before `input` was stored gets the paper's defaults (320x320, 8
  frames at stride 2, 20 words) with a warning. The name of the config file the
  conversion used (`config`) is provenance only: it is never imported, so a checkpoint
  folder cannot run code. The vocabulary is `DIR/word_vectors.npz` or `--word-vectors`
  (e.g. the output of `python -m rvs_jax.convert glove`).

Every user error becomes one `CheckpointError` whose message is a single line.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
from typing import Any

import ml_collections

from rvs_jax import text as text_lib

WORD_VECTORS_FILE = "word_vectors.npz"   # = rvs_jax.datasets.WORD_VECTORS_FILE
CONVERSION_FILE = "conversion.json"      # = rvs_jax.convert.io.META_FILE
LATEST_DIR, BEST_DIR = "checkpoints", "best"  # = rvs_jax.checkpointing
# The paper's input (docs/model.md): used when a converted checkpoint does not say.
DEFAULT_CONSTANTS = dict(image_size=320, num_frames=8, clip_stride=2, max_words=20)


class CheckpointError(ValueError):
  """A checkpoint that cannot be used as asked; the message is one line for a person."""


@dataclasses.dataclass(frozen=True)
class InputConstants:
  """How frames and sentences are prepared for the model (what the config says).

  Attributes:
    image_size: frames are resized to (image_size, image_size), PIL bilinear.
    num_frames: clip length T; the segmented frame is at index T // 2.
    clip_stride: frame step inside a clip (clamped at the ends of the video).
    max_words: word slots N of a sentence (longer sentences are truncated).
  """
  image_size: int
  num_frames: int
  clip_stride: int
  max_words: int

  @classmethod
  def from_config(cls, config) -> "InputConstants":
    """From `config.data.*` (training configs) or top-level fields (`configs/lstc.py`)."""
    data = config.get("data") if hasattr(config, "get") else None
    values = {}
    for field, default in DEFAULT_CONSTANTS.items():
      if data is not None and field in data:
        values[field] = int(data[field])
      elif hasattr(config, "get") and config.get(field) is not None:
        values[field] = int(config[field])
      else:
        values[field] = default
    return cls(**values)


def checkpoint_kind(path: str) -> str:
  """'workdir' or 'converted' for a checkpoint path; CheckpointError otherwise."""
  if not os.path.exists(path):
    raise CheckpointError(f"checkpoint {path!r} does not exist")
  if os.path.isfile(os.path.join(path, CONVERSION_FILE)):
    return "converted"
  if any(os.path.isdir(os.path.join(path, d)) for d in (BEST_DIR, LATEST_DIR)):
    return "workdir"
  raise CheckpointError(
      f"{path!r} is neither a training workdir (no {BEST_DIR}/ or {LATEST_DIR}/) nor a "
      f"converted checkpoint (no {CONVERSION_FILE})")


def _workdir_meta(path: str) -> tuple[dict[str, Any], str]:
  """`(meta, description)` of the step `trainer.load_variables` would restore."""
  import orbax.checkpoint as ocp  # pylint: disable=g-import-not-at-top
  from rvs_jax import checkpointing  # pylint: disable=g-import-not-at-top

  ckpts = checkpointing.Checkpoints(path, async_save=False)
  try:
    for name, manager in ((BEST_DIR, ckpts.best), (LATEST_DIR, ckpts.latest)):
      step = manager.latest_step()
      if step is not None:
        meta = manager.restore(step, args=ocp.args.Composite(
            meta=ocp.args.JsonRestore()))["meta"]
        return meta or {}, os.path.join(path, name, str(step))
  finally:
    ckpts.close()
  raise CheckpointError(f"workdir {path!r} holds no finished checkpoint step yet")


def read_config(path: str) -> ml_collections.ConfigDict:
  """The config stored with a checkpoint (see the module docstring).

  Args:
    path: a training workdir or a converted checkpoint directory.

  Returns:
    A ConfigDict with at least `model` (for converted checkpoints also `data` with the
    input constants, and `source` naming the config file the conversion used).

  Raises:
    CheckpointError: no checkpoint there, or it stores no config.
  """
  kind = checkpoint_kind(path)
  if kind == "workdir":
    meta, where = _workdir_meta(path)
    if not isinstance(meta.get("config"), dict) or "model" not in meta["config"]:
      raise CheckpointError(f"checkpoint {where} stores no config (written before "
                            "configs were saved?); pass --config configs/x.py[:args]")
    return ml_collections.ConfigDict(meta["config"])
  with open(os.path.join(path, CONVERSION_FILE), encoding="utf-8") as f:
    meta = json.load(f)
  if not isinstance(meta.get("model_config"), dict):
    raise CheckpointError(f"{path}/{CONVERSION_FILE} has no model_config (a partial or "
                          "word-vector conversion?); predict needs a whole model")
  constants = input_constants(meta.get("input"), os.path.join(path, CONVERSION_FILE))
  return ml_collections.ConfigDict(dict(model=meta["model_config"], data=constants,
                                        source=meta.get("config") or ""))


def input_constants(stored: Any, where: str) -> dict[str, int]:
  """The input constants a conversion stored as JSON (`DEFAULT_CONSTANTS` if absent).

  Never derived from the config file named in `conversion.json`: importing it would run
  whatever code a checkpoint folder ships.
  """
  if stored is None:
    logging.warning("%s stores no input constants (an older conversion): assuming the "
                    "paper's %s; pass --config to override", where, DEFAULT_CONSTANTS)
    return dict(DEFAULT_CONSTANTS)
  if (not isinstance(stored, dict) or set(stored) != set(DEFAULT_CONSTANTS)
      or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0
                 for v in stored.values())):
    raise CheckpointError(f"{where}: 'input' must map {sorted(DEFAULT_CONSTANTS)} to "
                          f"positive integers, got {stored!r}")
  return dict(stored)


def load_config_file(spec: str) -> ml_collections.ConfigDict:
  """`configs/x.py[:args]` -> its `get_config(args)` (the `--config` override)."""
  from rvs_jax import convert  # pylint: disable=g-import-not-at-top
  try:
    return convert.load_config(spec)
  except convert.ConversionError as e:
    raise CheckpointError(str(e)) from None


def word_vectors(path: str, override: str | None = None) -> text_lib.WordVectors:
  """The vocabulary of a checkpoint: `override`, else `<path>/word_vectors.npz`."""
  file = override or os.path.join(path, WORD_VECTORS_FILE)
  if not os.path.isfile(file):
    raise CheckpointError(
        f"no word-vector table at {file}" + ("" if override else
        ": a training workdir writes one; for a converted checkpoint pass --word-vectors"
        " (python -m rvs_jax.convert glove ... writes one)"))
  try:
    return text_lib.WordVectors.load(file)
  except ValueError as e:
    raise CheckpointError(str(e).splitlines()[0]) from None


_HINT = "; leave out --config to use the config stored with the checkpoint"


def _mismatch_line(path: str, message: str, overridden: bool) -> str:
  """One line out of `convert.merge_into`'s multi-line report of a wrong checkpoint."""
  parts = []
  missing = re.search(r"not in the model \((\d+)\): ([^,\n]*)", message)
  shapes = re.search(r"shape mismatches \((\d+)\): ([^;\n]*)", message)
  if shapes:
    parts.append(f"{shapes.group(1)} variables have other shapes (e.g. "
                 f"{shapes.group(2).strip()})")
  if missing:
    parts.append(f"{missing.group(1)} variables are not in the model (e.g. "
                 f"{missing.group(2).strip()})")
  detail = "; ".join(parts) or message.strip().splitlines()[0]
  return (f"checkpoint {path} was written for another model config: {detail}"
          + (_HINT if overridden else ""))


@dataclasses.dataclass
class Loaded:
  """A model ready to run.

  Attributes:
    config: the config used (stored with the checkpoint, or `--config`).
    model: the `RVSModel`.
    variables: `{"params", "batch_stats"}` NumPy trees, every leaf from the checkpoint.
    constants: the input constants.
    vectors: the word-vector table.
    description: where the variables came from, for messages.
  """
  config: ml_collections.ConfigDict
  model: Any
  variables: dict
  constants: InputConstants
  vectors: text_lib.WordVectors
  description: str


def load(path: str, config_spec: str | None = None,
         word_vectors_file: str | None = None) -> Loaded:
  """Config, model, variables and vocabulary of a checkpoint.

  Args:
    path: a training workdir or a converted checkpoint.
    config_spec: optional `configs/x.py[:args]` replacing the stored config.
    word_vectors_file: optional `.npz` table replacing the checkpoint's.

  Returns:
    `Loaded`.

  Raises:
    CheckpointError: with one line: no checkpoint, no config, no vocabulary, or variables
      that do not fit the config (other shapes, missing or extra leaves).
  """
  # Imported here: reading a config or a vocabulary needs none of this.
  import jax  # pylint: disable=g-import-not-at-top
  from rvs_jax import convert, models  # pylint: disable=g-import-not-at-top
  from rvs_jax.train import trainer  # pylint: disable=g-import-not-at-top
  # pylint: disable-next=g-import-not-at-top
  from rvs_jax.convert import converters

  checkpoint_kind(path)
  config = load_config_file(config_spec) if config_spec else read_config(path)
  constants = InputConstants.from_config(config)
  vectors = word_vectors(path, word_vectors_file)
  if vectors.dim != converters.WORD_DIM:
    raise CheckpointError(f"word vectors have {vectors.dim} dimensions; the model reads "
                          f"{converters.WORD_DIM}")
  try:
    model = models.build_model(config.model)
  except (ValueError, TypeError) as e:
    raise CheckpointError(f"config of {path}: {str(e).splitlines()[0]}") from None
  dummy = ml_collections.ConfigDict(dict(data=dataclasses.asdict(constants)))
  shapes = jax.eval_shape(model.init, jax.random.key(0), *trainer.dummy_inputs(dummy, 1))
  try:
    variables = trainer.load_all_variables(path, shapes)
  except convert.ConversionError as e:
    raise CheckpointError(_mismatch_line(path, str(e), bool(config_spec))) from None
  except trainer.IncompleteCheckpoint as e:
    raise CheckpointError(str(e) + (_HINT if config_spec else "")) from None
  except FileNotFoundError as e:
    raise CheckpointError(str(e).splitlines()[0]) from None
  return Loaded(config, model, variables, constants, vectors, path)
