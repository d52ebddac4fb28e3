"""`encode_sentences`: a converted BERT / RoBERTa / XLNet checkpoint on sentences.

    feats, mask = rvs_jax.encode_sentences("ckpt/bert", ["a red car"])
    # feats float32 (B, 20, C): the encoder's last hidden state; mask bool (B, 20)

The same numbers as `transformers`' `model(**tokenizer(sentences, padding="max_length",
truncation=True, max_length=20)).last_hidden_state` at the real tokens (special tokens
included; pads are `mask == False` and their features are not meaningful).

This is the checkpoint-reading front door of the text encoders (`rvs_jax.models.text`
holds the modules and the tokenizer, and reads no checkpoint); it also keeps a training
workdir's copy of the tokenizer (`workdir_tokenizer`).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
from typing import Sequence

import jax
import numpy as np

from rvs_jax import checkpointing, files
from rvs_jax.models import text as text_models
from rvs_jax.models.text import config as config_lib
from rvs_jax.models.text import tokenizer as tokenizer_lib


@dataclasses.dataclass(frozen=True)
class LoadedEncoder:
  """A converted text encoder: hyper-parameters, module, weights and tokenizer."""
  config: config_lib.TransformerConfig
  module: object
  params: dict
  tokenizer: tokenizer_lib.SubwordTokenizer


def workdir_tokenizer(workdir: str, converted_dir: str = "", max_length: int = 20
                      ) -> tokenizer_lib.SubwordTokenizer:
  """The tokenizer a training workdir keeps (copied from `converted_dir` first).

  Raises:
    TokenizerError: neither the workdir nor `converted_dir` has one.
  """
  path = os.path.join(workdir, tokenizer_lib.TOKENIZER_FILE)
  settings_path = os.path.join(workdir, tokenizer_lib.SETTINGS_FILE)
  if not (os.path.isfile(path) and os.path.isfile(settings_path)):
    if not converted_dir:
      raise tokenizer_lib.TokenizerError(
          f"{workdir}: no {tokenizer_lib.TOKENIZER_FILE}; a BERT / RoBERTa / XLNet "
          "model needs --config.pretrained.text=DIR (python -m rvs_jax.convert bert "
          "HF_DIR --out DIR)")
    meta = checkpointing.read_conversion(converted_dir)
    tok = tokenizer_lib.load_tokenizer(converted_dir, meta, max_length)
    os.makedirs(workdir, exist_ok=True)
    with open(os.path.join(converted_dir, tokenizer_lib.TOKENIZER_FILE),
              encoding="utf-8") as f:
      text = f.read()
    with files.atomic_write(path, "w", encoding="utf-8") as f:
      f.write(text)
    with files.atomic_write(settings_path, "w", encoding="utf-8") as f:
      json.dump(dataclasses.asdict(tok.settings), f)
    return tok
  with open(settings_path, encoding="utf-8") as f:
    settings = json.load(f)
  return tokenizer_lib.load_tokenizer(workdir, {"tokenizer": settings}, max_length)


@functools.lru_cache(maxsize=4)
def _load(directory: str, max_length: int) -> LoadedEncoder:
  meta = checkpointing.read_conversion(directory)
  try:
    cfg = config_lib.stored_config(
        meta, os.path.join(directory, checkpointing.CONVERSION_FILE))
  except ValueError as e:
    raise checkpointing.CheckpointError(str(e)) from None
  tree = checkpointing.load_converted(directory)
  params = tree.get("params", {}).get("text_encoder")
  if params is None:
    raise checkpointing.CheckpointError(f"{directory}: no params/text_encoder")
  return LoadedEncoder(cfg, text_models.encoder_module(cfg), params,
                       tokenizer_lib.load_tokenizer(directory, meta, max_length))


def load_encoder(converted_dir: str | os.PathLike, max_length: int = 20
                 ) -> LoadedEncoder:
  """Reads (once per process) a checkpoint of `python -m rvs_jax.convert bert ...`."""
  return _load(os.path.abspath(os.fspath(converted_dir)), int(max_length))


@functools.partial(jax.jit, static_argnums=0)
def _apply(module, params, ids, mask):
  return module.apply({"params": params}, ids, mask)


def encode_sentences(converted_dir: str | os.PathLike, sentences: Sequence[str],
                     max_length: int = 20) -> tuple[np.ndarray, np.ndarray]:
  """The encoder's last hidden state on the tokenizer's own encoding of `sentences`.

  Args:
    converted_dir: written by `python -m rvs_jax.convert {bert,roberta,xlnet}`.
    sentences: B strings.
    max_length: N tokens, special tokens included (longer sentences are truncated).

  Returns:
    features: float32 `(B, N, C)`.
    mask: bool `(B, N)`, True at the real tokens (special tokens included).
  """
  enc = load_encoder(converted_dir, max_length)
  ids, mask, _ = enc.tokenizer.encode(sentences)
  feats = _apply(enc.module, enc.params, ids, mask)
  return np.asarray(feats, np.float32), mask
