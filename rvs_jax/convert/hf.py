"""Hugging Face BERT / RoBERTa / XLNet checkpoint folders -> converted text encoders.

    python -m rvs_jax.convert bert HF_DIR --out OUT      # also roberta, xlnet

`HF_DIR` is what `save_pretrained` writes (or a hub snapshot): `config.json`, the
weights as `model.safetensors` (read with the `safetensors` package; sharded
`model.safetensors.index.json` too) or `pytorch_model.bin` (read with
`torch.load(weights_only=True)`), and the fast tokenizer `tokenizer.json` with
`tokenizer_config.json` / `special_tokens_map.json`. `transformers` is not needed:
safetensors folders convert without torch; `.bin` folders need torch.

`OUT` holds `variables/` (the encoder under `params/text_encoder`, the place it has
in `RVSModel`), `tokenizer.json` (copied) and `conversion.json` with the encoder's
`text` fields (`ModelConfig.text_*`), the tokenizer's pad token and sides, the source
files' sha256 and the key mapping. `rvs_jax.encode_sentences(OUT, ...)`
runs it; `--config.pretrained.text=OUT` loads it into a model whose `text_*` fields
agree (`rvs_jax.convert.hf.load_text_encoder`).

Keys: a base model's names (`embeddings.*`, `encoder.layer.*`; XLNet `layer.*`,
`word_embedding.*`), optionally under the task model's prefix (`bert.`, `roberta.`,
`transformer.`); legacy `LayerNorm.gamma/beta` are read as weight/bias. Heads and
buffers the encoder does not use are dropped and listed (`pooler.*`, `cls.*`,
`lm_head.*`, `lm_loss.*`, `embeddings.position_ids`; XLNet `mask_emb`, `r_s_bias`,
`seg_embed`: see `rvs_jax.models.text.xlnet`). Anything else that does not fit is an
error naming every key at once.
"""

from __future__ import annotations

import datetime
import json
import os
import re
from typing import Mapping

import jax
import jax.numpy as jnp
import numpy as np

from rvs_jax.convert import io, torch_layout
from rvs_jax.convert.torch_layout import ConversionError
from rvs_jax.models import text as text_models
from rvs_jax.models.text import tokenizer as tokenizer_lib

KINDS = text_models.TRANSFORMERS
CONFIG_FILE = "config.json"
SAFETENSORS_FILE = "model.safetensors"
SAFETENSORS_INDEX = "model.safetensors.index.json"
TORCH_FILE = "pytorch_model.bin"
PREFIX = ("text_encoder",)         # Where the encoder sits in RVSModel's tree.
_TASK_PREFIXES = {"bert": "bert.", "roberta": "roberta.", "xlnet": "transformer."}
_DROP = {
    "bert": (r"pooler\..*", r"cls\..*", r"embeddings\.position_ids"),
    "roberta": (r"pooler\..*", r"lm_head\..*", r"embeddings\.position_ids"),
    "xlnet": (r"mask_emb", r"lm_loss\..*", r"layer\.\d+\.rel_attn\.(r_s_bias|seg_embed)"),
}
_LN = {"weight": "scale", "gamma": "scale", "bias": "bias", "beta": "bias"}
_DENSE = {"weight": "kernel", "bias": "bias"}
_BERT_DENSE = {"attention.self.query": "attention/query",
               "attention.self.key": "attention/key",
               "attention.self.value": "attention/value",
               "attention.output.dense": "attention/output",
               "intermediate.dense": "intermediate", "output.dense": "output"}
_BERT_LN = {"attention.output.LayerNorm": "attention_norm", "output.LayerNorm": "output_norm"}


def bert_key(key: str) -> tuple[str, tuple[str, ...]] | None:
  """A BERT/RoBERTa base-model key -> (collection, path under the encoder)."""
  m = re.fullmatch(r"embeddings\.(word|position|token_type)_embeddings\.weight", key)
  if m:
    return "params", ("embeddings", f"{m[1]}_embeddings", "embedding")
  m = re.fullmatch(r"embeddings\.LayerNorm\.(weight|bias|gamma|beta)", key)
  if m:
    return "params", ("embeddings", "LayerNorm", _LN[m[1]])
  m = re.fullmatch(r"encoder\.layer\.(\d+)\.(.+)\.(weight|bias|gamma|beta)", key)
  if not m:
    return None
  layer = f"layer_{m[1]}"
  if m[2] in _BERT_DENSE and m[3] in _DENSE:
    return "params", (layer, *_BERT_DENSE[m[2]].split("/"), _DENSE[m[3]])
  if m[2] in _BERT_LN:
    return "params", (layer, _BERT_LN[m[2]], _LN[m[3]])
  return None


def xlnet_key(key: str) -> tuple[str, tuple[str, ...]] | None:
  """An XLNet base-model key -> (collection, path under the encoder)."""
  if key == "word_embedding.weight":
    return "params", ("word_embedding", "embedding")
  m = re.fullmatch(r"layer\.(\d+)\.rel_attn\.(q|k|v|o|r|r_w_bias|r_r_bias)", key)
  if m:
    return "params", (f"layer_{m[1]}", "rel_attn", m[2])
  m = re.fullmatch(r"layer\.(\d+)\.(rel_attn|ff)\.layer_norm\.(weight|bias|gamma|beta)",
                   key)
  if m:
    return "params", (f"layer_{m[1]}", m[2], "layer_norm", _LN[m[3]])
  m = re.fullmatch(r"layer\.(\d+)\.ff\.(layer_1|layer_2)\.(weight|bias)", key)
  if m:
    return "params", (f"layer_{m[1]}", "ff", m[2], _DENSE[m[3]])
  return None


def _is_dense_weight(kind: str, key: str) -> bool:
  """A torch Linear `(out, in)` weight, stored transposed `(in, out)` as a kernel."""
  if kind == "xlnet":
    return bool(re.fullmatch(r"layer\.\d+\.ff\.layer_[12]\.weight", key))
  return bool(re.fullmatch(r"encoder\.layer\.\d+\..*(query|key|value|dense)\.weight",
                           key))


# ----------------------------------------------------------------------------------------
# Reading a folder.
# ----------------------------------------------------------------------------------------


def _read_json(path: str) -> dict:
  try:
    with open(path, encoding="utf-8") as f:
      data = json.load(f)
  except (OSError, ValueError, UnicodeDecodeError) as e:
    raise ConversionError(f"{path}: cannot read as JSON ({e})") from None
  if not isinstance(data, dict):
    raise ConversionError(f"{path}: not a JSON object")
  return data


def _read_bf16_safetensors(path: str) -> dict[str, np.ndarray]:
  """A safetensors file with bfloat16 tensors (NumPy has no bfloat16): the format's
  8-byte little-endian header length, JSON header, raw little-endian data."""
  dtypes = {"F32": np.float32, "F16": np.float16, "F64": np.float64, "I64": np.int64,
            "I32": np.int32, "BF16": np.uint16}
  with open(path, "rb") as f:
    (n,) = np.frombuffer(f.read(8), "<u8")
    header = json.loads(f.read(int(n)))
    data = f.read()
  out = {}
  for name, info in header.items():
    if name == "__metadata__":
      continue
    if info["dtype"] not in dtypes:
      raise ConversionError(f"{path}: {name} has dtype {info['dtype']}")
    begin, end = info["data_offsets"]
    a = np.frombuffer(data[begin:end], np.dtype(dtypes[info["dtype"]]).newbyteorder("<"))
    if info["dtype"] == "BF16":  # The upper half of a float32.
      a = (a.astype(np.uint32) << 16).view(np.float32)
    out[name] = a.reshape(info["shape"]).astype(np.float32)
  return out


def _read_safetensors(path: str) -> dict[str, np.ndarray]:
  try:
    import safetensors.numpy  # pylint: disable=g-import-not-at-top
  except ImportError:
    raise ConversionError("reading model.safetensors needs the safetensors package: pip "
                          "install -e '.[text]'") from None
  try:
    tensors = safetensors.numpy.load_file(path)
  except TypeError:  # bfloat16: "data type 'bfloat16' not understood".
    return _read_bf16_safetensors(path)
  except Exception as e:  # pylint: disable=broad-except
    raise ConversionError(f"{path}: not a safetensors file ({e})") from None
  return {k: np.asarray(v, np.float32) if v.dtype.kind == "f" else v
          for k, v in tensors.items()}


def weight_files(folder: str) -> list[str]:
  """The weight files of a folder: safetensors preferred, else pytorch_model.bin."""
  index = os.path.join(folder, SAFETENSORS_INDEX)
  if os.path.isfile(os.path.join(folder, SAFETENSORS_FILE)):
    return [os.path.join(folder, SAFETENSORS_FILE)]
  if os.path.isfile(index):
    shards = sorted(set(_read_json(index).get("weight_map", {}).values()))
    missing = [s for s in shards if not os.path.isfile(os.path.join(folder, s))]
    if not shards or missing:
      raise ConversionError(f"{index}: shards missing: {missing or 'none listed'}")
    return [os.path.join(folder, s) for s in shards]
  if os.path.isfile(os.path.join(folder, TORCH_FILE)):
    return [os.path.join(folder, TORCH_FILE)]
  raise ConversionError(f"{folder}: no {SAFETENSORS_FILE}, {SAFETENSORS_INDEX} or "
                        f"{TORCH_FILE}")


def read_weights(files: list[str]) -> dict[str, np.ndarray]:
  """Every tensor of the weight files, as NumPy (floats in float32)."""
  out = {}
  for path in files:
    out.update(io.read_torch_state_dict(path) if path.endswith(".bin")
               else _read_safetensors(path))
  return out


def read_config(kind: str, folder: str) -> text_models.TransformerConfig:
  """The encoder a folder's `config.json` describes (errors name the file)."""
  path = os.path.join(folder, CONFIG_FILE)
  if not os.path.isfile(path):
    raise ConversionError(f"{folder}: no {CONFIG_FILE}")
  try:
    return text_models.from_hf_config(kind, _read_json(path), where=path)
  except ValueError as e:
    raise ConversionError(str(e)) from None


def encoder_target(cfg: text_models.TransformerConfig, n: int = 8) -> dict:
  """Shapes of the encoder's variables under `PREFIX` (eval_shape: nothing compiles)."""
  module = text_models.encoder_module(cfg)
  ids = jax.ShapeDtypeStruct((1, n), jnp.int32)
  mask = jax.ShapeDtypeStruct((1, n), jnp.bool_)
  tree = jax.eval_shape(module.init, jax.random.key(0), ids, mask)
  out = {}
  for collection, sub in tree.items():
    for name in reversed(PREFIX):
      sub = {name: sub}
    out[collection] = sub
  return out


def convert_weights(kind: str, source: Mapping[str, np.ndarray],
                    cfg: text_models.TransformerConfig, source_name: str = "checkpoint",
                    allow_unexpected=()) -> tuple[dict, dict]:
  """Base-model keys of `source` onto the encoder of `cfg`, strictly.

  Returns:
    `(variables, meta)`: `{"params": {"text_encoder": ...}}` (NumPy float32) and the
    mapping / dropped keys.
  """
  prefix = _TASK_PREFIXES[kind]
  stripped = {}
  for key, value in source.items():
    key = key[len(prefix):] if key.startswith(prefix) else key
    if key in stripped:
      raise ConversionError(f"{source_name}: key {key!r} occurs with and without the "
                            f"{prefix!r} prefix")
    stripped[key] = value.T if _is_dense_weight(kind, key) else value
  key_fn = xlnet_key if kind == "xlnet" else bert_key
  drop = _DROP[kind] + tuple(allow_unexpected)
  variables, mapping = torch_layout.convert_state_dict(
      stripped, key_fn, encoder_target(cfg), PREFIX, (), drop, source_name,
      transform=np.asarray)
  dropped = sorted(k for k in stripped if k not in mapping)
  return variables, dict(mapping=mapping, dropped=dropped)


def convert_folder(kind: str, folder: str | os.PathLike, out: str | os.PathLike,
                   overwrite: bool = False, allow_unexpected=()) -> dict:
  """Converts a Hugging Face folder and writes the converted checkpoint `out`.

  Returns:
    The `conversion.json` contents.

  Raises:
    ConversionError: one message naming every problem.
  """
  from rvs_jax import checkpointing  # pylint: disable=g-import-not-at-top

  if kind not in KINDS:
    raise ConversionError(f"unknown text encoder kind {kind!r}; known: {KINDS}")
  folder = os.path.abspath(os.fspath(folder))
  if not os.path.isdir(folder):
    raise ConversionError(f"{folder}: not a directory (a Hugging Face checkpoint "
                          "folder: config.json, model.safetensors, tokenizer.json)")
  cfg = read_config(kind, folder)
  try:
    tok = tokenizer_lib.SubwordTokenizer.from_folder(folder)
  except tokenizer_lib.TokenizerError as e:
    raise ConversionError(str(e)) from None
  files = weight_files(folder)
  source = read_weights(files)
  checkpointing.check_finite(source, folder)
  variables, meta = convert_weights(
      kind, source, cfg, os.path.basename(files[0]), allow_unexpected)
  if tok.vocab_size > cfg.vocab_size:
    raise ConversionError(
        f"{folder}: {tokenizer_lib.TOKENIZER_FILE} has {tok.vocab_size} tokens but "
        f"{CONFIG_FILE} vocab_size is {cfg.vocab_size}: ids past the embedding table")
  with open(os.path.join(folder, tokenizer_lib.TOKENIZER_FILE), encoding="utf-8") as f:
    tokenizer_json = f.read()
  meta = dict(
      meta, kind=kind, prefix="/".join(PREFIX), source=folder,
      files={os.path.basename(p): dict(sha256=io.sha256_file(p),
                                       size_bytes=os.path.getsize(p)) for p in files},
      text=text_models.text_fields(cfg),
      tokenizer=dict(pad_token=tok.settings.pad_token,
                     padding_side=tok.settings.padding_side,
                     truncation_side=tok.settings.truncation_side,
                     vocab_size=tok.vocab_size),
      created=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"))
  checkpointing.save_converted(
      out, variables, meta, overwrite,
      extra_files={tokenizer_lib.TOKENIZER_FILE: tokenizer_json})
  return checkpointing.read_conversion(out)


def load_text_encoder(directory: str | os.PathLike, model) -> dict:
  """A text conversion as a partial tree for a model (`config.pretrained.text`).

  Args:
    directory: written by `convert_folder`.
    model: the model config (`config.model` section or `ModelConfig`).

  Returns:
    `{"params": {"text_encoder": ...}}` to merge with `checkpointing.merge_into`.

  Raises:
    ConversionError: not a text conversion, or naming every `text_*` field of the model
      config that differs from the checkpoint's (shape-changing or not).
  """
  # pylint: disable=g-import-not-at-top
  from rvs_jax import checkpointing, models
  # pylint: enable=g-import-not-at-top
  directory = os.fspath(directory)
  where = os.path.join(directory, checkpointing.CONVERSION_FILE)
  meta = checkpointing.read_conversion(directory)
  try:
    stored = text_models.stored_config(meta, where)
  except ValueError as e:
    raise ConversionError(str(e)) from None
  cfg = model if isinstance(model, models.ModelConfig) else models.model_config(model)
  if cfg.text_name != stored.name:
    raise ConversionError(f"{directory} is a {stored.name} text encoder but the model's "
                          f"text_name is {cfg.text_name!r}")
  problems = text_models.mismatches(cfg.transformer_config(), stored)
  if problems:
    raise ConversionError(f"{directory} does not fit the model config: "
                          + "; ".join(problems)
                          + " (set the model's text_* fields to the checkpoint's)")
  tree = checkpointing.load_converted(directory)
  return {"params": {PREFIX[0]: tree["params"][PREFIX[0]]}}
