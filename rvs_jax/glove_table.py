"""The GloVe table a glove_gru model carries (`model.text_glove_vocab` != 0).

The table's rows live in the model's variables, `constants/text_encoder/glove_table`
(`rvs_jax.models.text_encoder`), and its word list in the checkpoint's JSON (a training
step's `meta` or a conversion's `conversion.json`, under `META_KEY`), so a checkpoint
needs no `word_vectors.npz` beside it. This module links the two halves to the host-side
`rvs_jax.text.WordVectors` that tokenises sentences into row ids.

Sizes: 300 float32 per word, 1.2 MB of checkpoint per 1000 words (A2D's ~3000 training
words: ~3.6 MB; `model.text_glove_extra=10000` adds 12 MB). The table is replicated on
every device like the rest of the state, and is never optimised (it is not in `params`).
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from rvs_jax import text as text_lib
from rvs_jax.models import text_encoder

META_KEY = "glove_words"
PATH = (text_encoder.CONSTANTS, "text_encoder", text_encoder.GLOVE_TABLE)


def carried(model: Any) -> bool:
  """Whether a model config (`config.model` or `ModelConfig`) carries the table."""
  get = (model.get if hasattr(model, "get")
         else lambda k, d=None: getattr(model, k, d))
  return (get("text_name", "glove_gru") == "glove_gru"
          and get("text_glove_vocab", 0) != 0)


def resolve(config, vectors: text_lib.WordVectors) -> None:
  """Sets `config.model.text_glove_vocab` = -1 to the vocabulary's size (in place).

  Raises:
    ValueError: a positive size smaller than the vocabulary.
  """
  if not carried(config.model):
    return
  if config.model.text_glove_vocab < 0:
    config.model.text_glove_vocab = len(vectors)
  vectors.rows(config.model.text_glove_vocab + 1)  # Raises if it does not fit.


def fill(variables: Mapping, vectors: text_lib.WordVectors) -> dict:
  """`variables` with the table replaced by `vectors`' rows (zeros beyond them)."""
  out = dict(variables)
  consts = {k: dict(v) for k, v in out.get(PATH[0], {}).items()}
  if PATH[1] not in consts or PATH[2] not in consts[PATH[1]]:
    raise ValueError("the model has no GloVe table (model.text_glove_vocab is 0)")
  rows = consts[PATH[1]][PATH[2]].shape[0]
  consts[PATH[1]][PATH[2]] = vectors.rows(rows)
  out[PATH[0]] = consts
  return out


def table(variables: Mapping) -> np.ndarray:
  """The carried table `(V + 1, 300)` (row 0 zeros)."""
  return np.asarray(variables[PATH[0]][PATH[1]][PATH[2]])


def meta(vectors: text_lib.WordVectors) -> dict[str, list[str]]:
  """What a checkpoint's JSON stores for the table: its word list, in row order."""
  return {META_KEY: vectors.words}


def from_checkpoint(words: Any, variables: Mapping, where: str) -> text_lib.WordVectors:
  """The host-side vocabulary of a checkpoint: its stored words, the carried rows.

  Raises:
    ValueError: the word list is not a list of strings that fits the table.
  """
  rows = table(variables)
  if (not isinstance(words, list) or not all(isinstance(w, str) for w in words)
      or len(words) >= rows.shape[0]):
    raise ValueError(f"{where}: {META_KEY!r} must be a list of at most "
                     f"{rows.shape[0] - 1} words (the model's GloVe table)")
  return text_lib.WordVectors(words, rows[1:len(words) + 1]).in_model()
