"""Checkpoints: the only module that knows where they live and what they hold.

Two kinds of checkpoint path:

* a training workdir (`rvs_jax.train`):

    W/checkpoints/<step>/{state,meta}   the latest `keep` saves (async)
    W/best/<step>/{state,meta}          the save with the best evaluation mIoU
    W/word_vectors.npz                  the vocabulary (`rvs_jax.text.WordVectors`)

  `state` holds `{"step", "params", "batch_stats", "opt_state"}` and, for a model that
  carries its GloVe table (`rvs_jax.glove_table`), `constants`; `meta` (JSON) holds the
  whole config, the input pipeline position after this step, the table's words
  (`glove_words`) and, for `best`, the evaluation metrics. Orbax writes each step into a
  temporary folder and renames it when complete, so a process killed mid-save leaves the
  previous step as the latest one; a step broken afterwards (truncated, emptied) is
  skipped with a warning naming it. Readers use `best/` if it has a step, else
  `checkpoints/`; a step folder (`W/best/60`, `W/checkpoints/8`) given as the path is
  read as it is, no fallback.

* a converted checkpoint (`python -m rvs_jax.convert`):

    DIR/variables/      Orbax `StandardCheckpointer` tree {"params", "batch_stats"[,
                        "constants"]}
                        (paths from the model root, also for a partial tree)
    DIR/conversion.json what was converted (source, sha256, key mapping), the model
                        section (`model_config`) and the input sizes (`input`) as JSON
    DIR/word_vectors.npz optional vocabulary (or `--word-vectors`; not needed when the
                        model carries its table, whose words are then `glove_words`
                        in conversion.json)

A checkpoint folder is data only: configs travel inside it as JSON, and the name of the
config file a conversion used is provenance, never imported, so no checkpoint can run
code. `describe(path)` says what a path holds; `load(path)` returns the config, model,
variables and vocabulary ready to run. A checkpoint that does not fit a model raises
`CheckpointMismatch`, which carries the missing / unexpected / mis-shaped variables as
data and formats them as one line.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import shutil
import time
from typing import Any, Callable, Iterable, Mapping

from flax import traverse_util
import jax
import ml_collections
import numpy as np
import orbax.checkpoint as ocp

from rvs_jax import files, glove_table, models
from rvs_jax import text as text_lib

LATEST_DIR, BEST_DIR = "checkpoints", "best"
WORD_VECTORS_FILE = "word_vectors.npz"
CONVERSION_FILE = "conversion.json"
CONVERTED_VARIABLES_DIR = "variables"
CONVERTED_FORMAT = "rvs_jax.convert/1"
# The model's variable collections a checkpoint holds (`constants`: the GloVe table).
VARIABLE_COLLECTIONS = ("params", "batch_stats", "constants")
# Variables of older checkpoints that the model no longer has, dropped on reading: the
# GloVe table once lived in `batch_stats` (never filled there: zeros).
_DROPPED = (r"batch_stats/glove_table",)
# The paper's input (docs/model.md): used when a converted checkpoint does not say.
DEFAULT_CONSTANTS = dict(image_size=320, num_frames=8, clip_stride=2, max_words=20)


class CheckpointError(ValueError):
  """A checkpoint that cannot be used as asked; the message is one line for a person."""


class CheckpointMismatch(CheckpointError):
  """Variables that do not fit a model.

  Attributes:
    source: the checkpoint (or pretrained tree) named in the message.
    missing: model variables the source does not hold ("params/a/b").
    unexpected: source variables the model has no place for.
    mis_shaped: `(name, source shape, model shape)` of the leaves in both.
    hint: appended to the message (e.g. what to do instead).
  """

  def __init__(self, source: str, missing: Iterable[str] = (),
               unexpected: Iterable[str] = (),
               mis_shaped: Iterable[tuple[str, tuple, tuple]] = (), hint: str = ""):
    self.source, self.hint = source, hint
    self.missing, self.unexpected = tuple(missing), tuple(unexpected)
    self.mis_shaped = tuple(mis_shaped)
    super().__init__(self._line())

  def _line(self) -> str:
    parts = []
    if self.mis_shaped:
      name, got, want = self.mis_shaped[0]
      parts.append(f"{len(self.mis_shaped)} variables have other shapes (e.g. {name}: "
                   f"{got} vs model {want})")
    if self.unexpected:
      parts.append(f"{len(self.unexpected)} variables are not in the model (e.g. "
                   f"{self.unexpected[0]})")
    if self.missing:
      parts.append(f"{len(self.missing)} model variables are not in it (e.g. "
                   f"{self.missing[0]})")
    return (f"{self.source} does not fit the model (another model config, or a partial "
            "checkpoint): "
            + "; ".join(parts) + self.hint)

  def with_hint(self, hint: str) -> "CheckpointMismatch":
    return CheckpointMismatch(self.source, self.missing, self.unexpected,
                              self.mis_shaped, hint)


def _flat(tree: Mapping) -> dict[tuple[str, ...], Any]:
  return traverse_util.flatten_dict(tree) if tree else {}


# ----------------------------------------------------------------------------------------
# Overlaying variables.
# ----------------------------------------------------------------------------------------


def merge_into(variables: Mapping, partial: Mapping, allow_missing: Iterable[str] = (),
               source: str = "pretrained variables") -> dict:
  """Overlays the leaves of `partial` on `variables`, strictly.

  Every leaf of `partial` must exist in `variables` with the same shape; all problems
  are reported in one `CheckpointMismatch`. Values are cast to the dtype of the leaf
  they replace and placed like it (a `jax.Array` target keeps its sharding).

  Args:
    variables: the full tree (arrays or `jax.ShapeDtypeStruct`s), e.g. `model.init(...)`.
    partial: e.g. `{"params": {"temporal_encoder": ...}, "batch_stats": {...}}`.
    allow_missing: regexes of `partial` paths ("params/temporal_encoder/Logits_.*") that
      may have no counterpart in `variables`; they are dropped.
    source: name used in messages.

  Returns:
    A new tree with the structure of `variables` (`variables` is not modified).
  """
  flat = _flat(variables)
  unexpected, mis_shaped, updates = [], [], {}
  for path, value in _flat(partial).items():
    name = "/".join(path)
    if path not in flat:
      if not any(re.fullmatch(p, name) for p in allow_missing):
        unexpected.append(name)
      continue
    want = flat[path]
    if tuple(np.shape(value)) != tuple(want.shape):
      mis_shaped.append((name, tuple(np.shape(value)), tuple(want.shape)))
      continue
    updates[path] = _like(value, want)
  if unexpected or mis_shaped:
    raise CheckpointMismatch(source, unexpected=unexpected, mis_shaped=mis_shaped)
  flat.update(updates)
  return traverse_util.unflatten_dict(flat)


def _like(value, want):
  """`value` with the dtype (and, for a jax.Array, the sharding) of `want`."""
  value = np.asarray(value).astype(want.dtype)
  if isinstance(want, jax.Array):
    return jax.device_put(value, want.sharding)
  return value


def check_finite(tree: Mapping, source: str) -> None:
  """Refuses NaN/Inf leaves, naming the count and the first ones."""
  bad = ["/".join(p) for p, v in _flat(tree).items()
         if np.issubdtype(np.asarray(v).dtype, np.floating)
         and not np.isfinite(np.asarray(v)).all()]
  if bad:
    raise CheckpointError(f"{source}: {len(bad)} tensors hold NaN or Inf (e.g. "
                          f"{', '.join(bad[:3])}); refusing weights that would give "
                          "non-finite outputs")


# ----------------------------------------------------------------------------------------
# Training workdirs.
# ----------------------------------------------------------------------------------------


def _save_replicated_arrays_whole() -> None:
  """Orbax writes a replicated array whole, from one device (not in replica slices).

  Orbax's default on CPU and TPU ("replica-parallel" saving) splits each replicated
  array among its replicas, slicing it with one eager `lax.slice` per array shape and
  replica: each a small XLA compile. A training state has hundreds of shapes, so the
  first save of every process compiled for 85 s (measured: 300 shapes replicated over
  4 CPU devices, 2 cores; 0.2 s written whole). Our states are replicated data-parallel
  copies in one host's memory (or one per host), where splitting gains nothing.
  Process-wide, as Orbax's handler registry is; the on-disk format is unchanged.
  """
  current = ocp.type_handlers.get_type_handler(jax.Array)
  if getattr(current, "_use_replica_parallel", False):
    ocp.type_handlers.register_type_handler(
        jax.Array, ocp.type_handlers.ArrayHandler(
            use_replica_parallel=False,
            # Keep the default handler's per-array metadata store (sharding records).
            array_metadata_store=getattr(current, "_array_metadata_store", None)),
        override=True)


def _handlers() -> dict:
  _save_replicated_arrays_whole()
  # Explicit handlers (not just item names) so `item_metadata` can read a checkpoint's
  # tree structure before anything was restored through this manager.
  return {"state": ocp.StandardCheckpointHandler(), "meta": ocp.JsonCheckpointHandler()}


def _first_line(e: BaseException) -> str:
  text = str(e).strip()
  return text.splitlines()[0] if text else type(e).__name__


def _newest_intact(manager: ocp.CheckpointManager, read: Callable[[int], Any]):
  """`(step, read(step), broken steps)` of the newest step that reads, or None.

  Steps that fail are logged as warnings naming them. Raises CheckpointError when every
  step fails, naming the newest one and its error.
  """
  broken = []
  for step in sorted(manager.all_steps(), reverse=True):
    try:
      return step, read(step), broken
    except Exception as e:  # pylint: disable=broad-except
      # Orbax / TensorStore / JSON raise many types for a truncated or emptied step.
      where = os.path.join(os.fspath(manager.directory), str(step))
      broken.append((step, where, e))
      logging.warning("checkpoint %s is unreadable (%s); trying an older step", where,
                      _first_line(e))
  if not broken:
    return None
  _, where, e = broken[0]
  raise CheckpointError(f"no readable checkpoint step in {os.path.dirname(where)}: "
                        f"{where}: {_first_line(e)}") from None


class Checkpoints:
  """The two Orbax managers of a workdir (`read_only` creates nothing on disk)."""

  def __init__(self, workdir: str, keep: int = 3, async_save: bool = True,
               read_only: bool = False):
    workdir = os.path.abspath(workdir)
    self.read_only = read_only

    def manager(sub: str, **options):
      if read_only:
        # Not Orbax's `read_only` (it warns on every open): a reader never saves, so
        # not creating the folder is all it takes.
        options.update(create=False)
      folder = os.path.join(workdir, sub)
      try:
        return ocp.CheckpointManager(
            folder, options=ocp.CheckpointManagerOptions(
                enable_async_checkpointing=async_save, **options),
            item_handlers=_handlers())
      except Exception as e:  # pylint: disable=broad-except
        # Orbax reads every step's metadata file here and raises whatever its parser
        # does (ValueError, KeyError, TypeError) on a hand-edited or damaged one.
        raise CheckpointError(f"{folder}: Orbax cannot open it: {_first_line(e)}") from None

    self.latest = manager(LATEST_DIR, max_to_keep=keep)
    self.best = manager(BEST_DIR, max_to_keep=1, best_fn=lambda m: m["mIoU"],
                        best_mode="max")

  def save(self, step: int, state, meta: dict[str, Any], metrics: dict | None = None,
           best: bool = False) -> None:
    manager = self.best if best else self.latest
    manager.save(step, args=ocp.args.Composite(
        state=ocp.args.StandardSave(_stored_items(state)),
        meta=ocp.args.JsonSave(meta)),
        metrics=metrics)

  def restore(self, abstract_state, which: str = "latest"):
    """`(state, meta)` of the newest intact step of 'latest' or 'best', or None."""
    manager = self.best if which == "best" else self.latest
    target = _stored_items(
        jax.tree.map(ocp.utils.to_shape_dtype_struct, abstract_state))

    def read(step):
      out = manager.restore(step, args=ocp.args.Composite(
          state=ocp.args.StandardRestore(target), meta=ocp.args.JsonRestore()))
      state = out["state"]
      if dataclasses.is_dataclass(abstract_state) and isinstance(state, dict):
        state = abstract_state.replace(**state)
      return state, out["meta"]

    found = _newest_intact(manager, read)
    if found is None:
      return None
    step, restored, broken = found
    if broken and not self.read_only:
      # Training resumes at `step` and will save the later steps again: the broken
      # folders are kept for inspection under another name, out of Orbax's way.
      for _, where, _ in broken:
        os.replace(where, f"{where}.unreadable-{int(time.time())}")
        logging.warning("resuming from step %d; moved the unreadable %s aside", step,
                        where)
      manager.reload()
    return restored

  def latest_step(self) -> int | None:
    return self.latest.latest_step()

  def wait(self) -> None:
    self.latest.wait_until_finished()
    self.best.wait_until_finished()

  def close(self) -> None:
    self.latest.close()
    self.best.close()


def _stored_items(state):
  """What Orbax stores of a training state: its fields as a dict, an empty `constants`
  left out, so checkpoints written before that field existed restore unchanged."""
  if not dataclasses.is_dataclass(state):
    return state
  return {f.name: getattr(state, f.name) for f in dataclasses.fields(state)
          if not (f.name == "constants" and not getattr(state, f.name))}


def _read_workdir(path: str, read: Callable[[ocp.CheckpointManager, int], Any]):
  """`(where, read(manager, step))` for the newest intact step of best/, else latest."""
  ckpts = Checkpoints(path, async_save=False, read_only=True)
  try:
    for sub, manager in ((BEST_DIR, ckpts.best), (LATEST_DIR, ckpts.latest)):
      found = _newest_intact(manager, lambda step, m=manager: read(m, step))
      if found is not None:
        return os.path.join(path, sub, str(found[0])), found[1]
  finally:
    ckpts.close()
  raise CheckpointError(f"workdir {path} holds no finished checkpoint step yet")


def _stored_meta(path: str) -> tuple[str, dict]:
  """`(step dir, meta)` of the newest step of best/, else checkpoints/, whose meta reads.

  Read as the JSON file Orbax's `JsonCheckpointHandler` writes (`<step>/meta/metadata`),
  without Orbax or JAX: describing a checkpoint must not start a JAX backend (the
  commands call it before `jax.distributed` is initialised).
  """
  for sub in (BEST_DIR, LATEST_DIR):
    folder = os.path.join(path, sub)
    steps = sorted((int(n) for n in (os.listdir(folder) if os.path.isdir(folder) else ())
                    if n.isdigit()), reverse=True)
    for step in steps:
      where = os.path.join(folder, str(step))
      try:
        return where, _step_meta(where)
      except (OSError, ValueError) as e:
        logging.warning("checkpoint %s is unreadable (%s); trying an older step", where,
                        _first_line(e))
  raise CheckpointError(f"workdir {path} holds no readable checkpoint step")


def _step_meta(where: str) -> dict:
  """The JSON `meta` of one step folder (OSError / ValueError when it does not read)."""
  with open(os.path.join(where, "meta", "metadata"), encoding="utf-8") as f:
    meta = json.load(f)
  if not isinstance(meta, dict):
    raise ValueError(f"meta is {type(meta).__name__}, not a JSON object")
  return meta


def _is_step(path: str) -> bool:
  """`W/checkpoints/<step>` or `W/best/<step>`."""
  path = os.path.normpath(path)
  return (os.path.basename(path).isdigit()
          and os.path.basename(os.path.dirname(path)) in (BEST_DIR, LATEST_DIR)
          and os.path.isdir(os.path.join(path, "meta")))


def _workdir_of(path: str) -> str:
  """The workdir a path belongs to (itself unless it is a step folder)."""
  return os.path.dirname(os.path.dirname(os.path.normpath(path))) if _is_step(path) else path


def _read_step(path: str, read: Callable[[ocp.CheckpointManager, int], Any]):
  """`read(manager, step)` for the step folder `path`; CheckpointError naming it."""
  path = os.path.normpath(path)
  ckpts = Checkpoints(_workdir_of(path), async_save=False, read_only=True)
  try:
    manager = ckpts.best if os.path.basename(os.path.dirname(path)) == BEST_DIR \
        else ckpts.latest
    return read(manager, int(os.path.basename(path)))
  except CheckpointError:
    raise
  except Exception as e:  # pylint: disable=broad-except
    # As in `_newest_intact`: Orbax and TensorStore raise many types on a damaged step.
    raise CheckpointError(f"checkpoint step {path} is unreadable: {_first_line(e)}"
                          ) from None
  finally:
    ckpts.close()


def _read_params(manager, step) -> dict:
  # The target comes from the file's own metadata (the optimizer state of another run
  # may have another structure), placed on this process's first device: the checkpoint
  # may have been written by another device topology.
  device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
  abstract = jax.tree.map(
      lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype, sharding=device),
      manager.item_metadata(step)["state"])
  saved = manager.restore(step, args=ocp.args.Composite(
      state=ocp.args.StandardRestore(abstract)))["state"]
  return {c: jax.device_get(saved[c]) for c in VARIABLE_COLLECTIONS if c in saved}


# ----------------------------------------------------------------------------------------
# Converted checkpoints.
# ----------------------------------------------------------------------------------------


def save_converted(directory: str | os.PathLike, variables: Mapping | None,
                   meta: Mapping[str, Any], overwrite: bool = False,
                   vectors: text_lib.WordVectors | None = None,
                   extra_files: Mapping[str, str] | None = None) -> None:
  """Writes `variables` (NumPy/JAX leaves) and `meta` as a converted checkpoint.

  The new checkpoint is written beside `directory` and renamed into place when
  complete, so a failed write leaves the previous one intact.

  Args:
    directory: must not exist (or be empty) unless `overwrite`.
    variables: `{"params": ..., "batch_stats": ...}`, possibly partial, paths from the
      model root; every leaf finite. None for a vocabulary-only conversion.
    meta: JSON-serialisable description (see module docstring); `format` is added.
    overwrite: replace an existing converted checkpoint (and nothing else).
    vectors: a vocabulary to store as `word_vectors.npz`.
    extra_files: `{file name: text}` written beside (a text encoder's tokenizer.json).
  """
  directory = os.path.abspath(os.fspath(directory))
  if os.path.exists(directory) and os.listdir(directory):
    if not overwrite:
      raise CheckpointError(f"{directory} exists and is not empty (pass overwrite / "
                            "--overwrite to replace it)")
    if not os.path.isfile(os.path.join(directory, CONVERSION_FILE)):
      raise CheckpointError(f"{directory} is not a converted checkpoint; refusing to "
                            "overwrite it")
  tree = {c: t for c, t in (variables or {}).items() if t}
  tree = traverse_util.unflatten_dict({p: np.asarray(v) for p, v in _flat(tree).items()})
  check_finite(tree, f"weights for {directory}")
  tmp = files.temporary_dir_beside(directory)
  try:
    if tree:
      with ocp.StandardCheckpointer() as ckptr:
        ckptr.save(os.path.join(tmp, CONVERTED_VARIABLES_DIR), tree)
    if vectors is not None:
      vectors.save(os.path.join(tmp, WORD_VECTORS_FILE))
    for name, content in (extra_files or {}).items():
      if os.path.basename(name) != name or name in (CONVERSION_FILE,
                                                   CONVERTED_VARIABLES_DIR):
        raise CheckpointError(f"extra file name {name!r} is not a plain new file name")
      with open(os.path.join(tmp, name), "w", encoding="utf-8") as f:
        f.write(content)
    meta = dict(meta, format=CONVERTED_FORMAT, leaves=len(_flat(tree)))
    with open(os.path.join(tmp, CONVERSION_FILE), "w", encoding="utf-8") as f:
      json.dump(meta, f, indent=1, sort_keys=True)
      f.write("\n")
    files.replace_dir(tmp, directory)
  finally:
    shutil.rmtree(tmp, ignore_errors=True)  # Only left after a failure.


def read_conversion(directory: str | os.PathLike) -> dict[str, Any]:
  """The `conversion.json` of a converted checkpoint."""
  path = os.path.join(directory, CONVERSION_FILE)
  if not os.path.isfile(path):
    raise CheckpointError(f"{directory} is not a converted checkpoint (no "
                          f"{CONVERSION_FILE})")
  try:
    with open(path, encoding="utf-8") as f:
      meta = json.load(f)
  except (ValueError, UnicodeDecodeError) as e:
    raise CheckpointError(f"{path}: not valid JSON ({_first_line(e)})") from None
  if not isinstance(meta, dict):
    raise CheckpointError(f"{path}: not a JSON object")
  return meta


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
  read_conversion(directory)
  where = os.path.join(os.path.abspath(directory), CONVERTED_VARIABLES_DIR)
  try:
    with ocp.StandardCheckpointer() as ckptr:
      tree = ckptr.restore(where)
  except Exception as e:  # pylint: disable=broad-except
    raise CheckpointError(f"{where}: unreadable ({_first_line(e)})") from None
  tree = traverse_util.unflatten_dict({p: np.asarray(v) for p, v in _flat(tree).items()})
  check_finite(tree, where)
  return tree if target is None else merge_into(target, tree, allow_missing,
                                                source=os.fspath(directory))


# ----------------------------------------------------------------------------------------
# What a path holds.
# ----------------------------------------------------------------------------------------


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
    """From `config.data.*`; the paper's values for the fields it does not hold."""
    data = config.get("data") or {}
    return cls(**{k: int(data.get(k, v)) for k, v in DEFAULT_CONSTANTS.items()})


@dataclasses.dataclass(frozen=True)
class Description:
  """What a checkpoint path holds.

  Attributes:
    kind: "workdir", "step" (one step folder of a workdir) or "converted".
    path: the path given.
    where: the step directory (workdir) or `conversion.json` read.
    step: the training step, None for a conversion.
    config: the stored config: at least `model` and `data` (input sizes).
  """
  kind: str
  path: str
  where: str
  step: int | None
  config: ml_collections.ConfigDict


def kind(path: str) -> str:
  """'workdir', 'step' or 'converted' for a checkpoint path; CheckpointError otherwise."""
  if not os.path.exists(path):
    raise CheckpointError(f"checkpoint {path!r} does not exist")
  if os.path.isfile(os.path.join(path, CONVERSION_FILE)):
    return "converted"
  if _is_step(path):
    return "step"
  if any(os.path.isdir(os.path.join(path, d)) for d in (BEST_DIR, LATEST_DIR)):
    return "workdir"
  raise CheckpointError(
      f"{path!r} is neither a training workdir (no {BEST_DIR}/ or {LATEST_DIR}/) nor a "
      f"converted checkpoint (no {CONVERSION_FILE})")


def describe(path: str) -> Description:
  """Kind, step and stored config of a checkpoint path (reads no weights).

  Raises:
    CheckpointError: no checkpoint there, or it stores no usable config.
  """
  path_kind = kind(path)
  if path_kind in ("workdir", "step"):
    if path_kind == "step":
      where = os.path.normpath(path)
      try:
        meta = _step_meta(where)
      except (OSError, ValueError) as e:
        raise CheckpointError(f"checkpoint step {where} is unreadable: "
                              f"{_first_line(e)}") from None
    else:
      where, meta = _stored_meta(path)
    config = meta.get("config")
    if not isinstance(config, dict) or "model" not in config:
      raise CheckpointError(f"checkpoint {where} stores no config (written before "
                            "configs were saved?); pass --config configs/x.py[:args]")
    config = dict(config, model=models.upgrade_stored(config["model"]))
    return Description(path_kind, path, where, int(os.path.basename(where)),
                       ml_collections.ConfigDict(config))
  where = os.path.join(path, CONVERSION_FILE)
  meta = read_conversion(path)
  if not isinstance(meta.get("model_config"), dict):
    raise CheckpointError(f"{where} has no model_config (a partial or word-vector "
                          "conversion?): it cannot run on its own")
  config = dict(model=models.upgrade_stored(meta["model_config"]), data=_input_constants(meta.get("input"), where),
                source=meta.get("config") or "")
  return Description("converted", path, where, None, ml_collections.ConfigDict(config))


def _input_constants(stored: Any, where: str) -> dict[str, int]:
  """The input sizes a conversion stored as JSON (`DEFAULT_CONSTANTS` if absent)."""
  if stored is None:
    logging.warning("%s stores no input sizes (an older conversion): assuming the "
                    "paper's %s; pass --config to override", where, DEFAULT_CONSTANTS)
    return dict(DEFAULT_CONSTANTS)
  if (not isinstance(stored, dict) or set(stored) != set(DEFAULT_CONSTANTS)
      or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0
                 for v in stored.values())):
    raise CheckpointError(f"{where}: 'input' must map {sorted(DEFAULT_CONSTANTS)} to "
                          f"positive integers, got {stored!r}")
  return dict(stored)


def restore_variables(path: str, target: Mapping) -> dict:
  """`target` with every leaf the checkpoint at `path` holds replaced (`init_from`).

  `path` is a converted checkpoint, a workdir (its best step, else its latest) or one
  step folder of a workdir.
  """
  path_kind = kind(path)
  if path_kind == "converted":
    return load_converted(path, target, allow_missing=_DROPPED)
  if path_kind == "step":
    where, partial = os.path.normpath(path), _read_step(path, _read_params)
  else:
    where, partial = _read_workdir(path, _read_params)
  check_finite(partial, where)
  return merge_into(target, partial, _DROPPED, source=f"checkpoint {where}")


def load_variables(path: str, shapes: Mapping, given: Mapping | None = None) -> dict:
  """`restore_variables` for a model that must be filled completely (eval, predict).

  Leaves start as NaN placeholders, so a variable the checkpoint does not hold cannot
  pass silently as a zero or a fresh init (`merge_into` only checks the leaves the
  checkpoint has; the checkpoint's own leaves were checked finite). `given` leaves
  (e.g. a GloVe table from `word_vectors.npz`) fill what the checkpoint lacks.

  Raises:
    CheckpointMismatch listing the model variables the checkpoint lacks.
  """
  target = jax.tree.map(lambda s: np.full(s.shape, np.nan, s.dtype), shapes)
  if given:
    target = merge_into(target, given, source="the given variables")
  variables = restore_variables(path, target)
  missing = ["/".join(p) for p, v in _flat(variables).items()
             if np.issubdtype(v.dtype, np.floating) and np.isnan(v).any()]
  if missing:
    raise CheckpointMismatch(f"checkpoint {path}", missing=missing)
  return variables


def word_vectors(path: str, override: str | None = None) -> text_lib.WordVectors:
  """The vocabulary of a checkpoint: `override`, else `word_vectors.npz` in `path` (in
  its workdir for a step folder)."""
  file = override or os.path.join(_workdir_of(path), WORD_VECTORS_FILE)
  if not os.path.isfile(file):
    raise CheckpointError(
        f"no word-vector table at {file}" + ("" if override else
        ": a training workdir writes one; for a converted checkpoint pass --word-vectors"
        " (python -m rvs_jax.convert glove ... writes one)"))
  try:
    vectors = text_lib.WordVectors.load(file)
  except ValueError as e:
    raise CheckpointError(_first_line(e)) from None
  if vectors.dim != models.WORD_DIM:
    raise CheckpointError(f"{file}: word vectors have {vectors.dim} dimensions; the "
                          f"model reads {models.WORD_DIM}")
  return vectors


def _table_words(path: str) -> list | None:
  """The word list of a carried GloVe table stored with a checkpoint, or None."""
  if kind(path) == "converted":
    return read_conversion(path).get(glove_table.META_KEY)
  where = os.path.normpath(path) if _is_step(path) else _stored_meta(path)[0]
  try:
    return _step_meta(where).get(glove_table.META_KEY)
  except (OSError, ValueError) as e:
    raise CheckpointError(f"checkpoint step {where} is unreadable: {_first_line(e)}"
                          ) from None


def carried_vocabulary(path: str, model_config, variables: Mapping
                       ) -> text_lib.WordVectors | None:
  """The vocabulary of a checkpoint that carries its GloVe table: the words stored with
  it over the table rows of `variables` (loaded from `path`).

  None for a model without a table, or a checkpoint written before the words were
  stored with it (its `word_vectors.npz` is the vocabulary).

  Raises:
    CheckpointError: the stored word list does not fit the table.
  """
  words = _table_words(path) if glove_table.carried(model_config) else None
  if words is None:
    return None
  try:
    return glove_table.from_checkpoint(words, variables, path)
  except ValueError as e:
    raise CheckpointError(_first_line(e)) from None


@dataclasses.dataclass
class Loaded:
  """A model ready to run.

  Attributes:
    config: the config used (stored with the checkpoint, or the one passed).
    model: the `RVSModel`.
    variables: `{"params", "batch_stats"[, "constants"]}` NumPy trees, every leaf from
      the checkpoint.
    constants: the input sizes.
    vectors: the word-vector table (flagged `passes_ids` when the model carries it,
      `glove_table`; a `text.SubwordTokenizer` for BERT / RoBERTa / XLNet models).
    description: what `describe` said (None when a config was passed).
  """
  config: ml_collections.ConfigDict
  model: Any
  variables: dict
  constants: InputConstants
  vectors: text_lib.WordVectors
  description: Description | None


_HINT = "; leave out --config to use the config stored with the checkpoint"


def load(path: str, config: ml_collections.ConfigDict | None = None,
         word_vectors_file: str | None = None) -> Loaded:
  """Config, model, variables and vocabulary of a checkpoint.

  Args:
    path: a training workdir, one of its step folders, or a converted checkpoint.
    config: replaces the stored config (e.g. `--config configs/x.py[:args]`).
    word_vectors_file: optional `.npz` table replacing the checkpoint's.

  Returns:
    `Loaded`.

  Raises:
    CheckpointError: with one line: no checkpoint, no config, no vocabulary, or
      variables that do not fit the config (`CheckpointMismatch`).
  """
  kind(path)
  description = None if config is not None else describe(path)
  config = config if config is not None else description.config
  constants = InputConstants.from_config(config)
  table_words, given = None, None
  if glove_table.carried(config.model):
    table_words = _table_words(path)
    vectors = None  # Read from the variables below.
  elif config.model.get("text_name", "glove_gru") == "glove_gru":
    vectors = word_vectors(path, word_vectors_file)
  else:  # BERT / RoBERTa / XLNet: the tokenizer the training workdir keeps.
    # text_features imports this module.
    from rvs_jax import text_features  # pylint: disable=g-import-not-at-top
    try:
      vectors = text_features.workdir_tokenizer(
          _workdir_of(path), config.get("pretrained", {}).get("text", ""),
          constants.max_words)
    except ValueError as e:
      raise CheckpointError(_first_line(e)) from None
  try:
    model = models.build_model(config.model)
  except (ValueError, TypeError) as e:
    raise CheckpointError(f"model config of {path}: {_first_line(e)}") from None
  shapes = jax.eval_shape(model.init, jax.random.key(0),
                          *models.input_spec(constants, model=config.model))
  if glove_table.carried(config.model) and (table_words is None or word_vectors_file):
    # A checkpoint written before the table's words were stored with it (or a table
    # replacing its own): the rows come from `word_vectors.npz`.
    vectors = word_vectors(path, word_vectors_file).in_model()
    rows = shapes[glove_table.PATH[0]][glove_table.PATH[1]][glove_table.PATH[2]].shape
    try:
      given = {glove_table.PATH[0]: {glove_table.PATH[1]: {
          glove_table.PATH[2]: vectors.rows(rows[0])}}}
    except ValueError as e:
      raise CheckpointError(f"{path}: {_first_line(e)}") from None
  try:
    variables = load_variables(path, shapes, given)
  except CheckpointMismatch as e:
    raise (e.with_hint(_HINT) if description is None else e) from None
  if given:
    variables = merge_into(variables, given, source="the word-vector table")
  elif table_words is not None:
    vectors = carried_vocabulary(path, config.model, variables)
  return Loaded(config, model, variables, constants, vectors, description)
