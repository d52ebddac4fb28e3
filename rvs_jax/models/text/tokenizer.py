"""Subword tokenisation of the transformer encoders, through the `tokenizers` library.

A Hugging Face checkpoint folder's `tokenizer.json` (a "fast" tokenizer: normaliser,
pre-tokeniser, model and the post-processor that adds the special tokens) is run as
`transformers` runs it for `tokenizer(sentences, padding="max_length", truncation=True,
max_length=20)`: special tokens added (BERT `[CLS] ... [SEP]`, RoBERTa `<s> ... </s>`,
XLNet `... <sep> <cls>`), truncation to `max_length` tokens special tokens included
(the sentence loses its last subwords), padding with the checkpoint's pad token on the
checkpoint's padding side (XLNet pads on the left). The pad token and the sides come
from `tokenizer_config.json` (then `special_tokens_map.json`, then the padding
section of `tokenizer.json`), as `transformers` reads them.

`transformers` itself is not needed: `tokenizers` is its tokenisation engine.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, Sequence

import numpy as np

from rvs_jax.errors import DataError

TOKENIZER_FILE = "tokenizer.json"
TOKENIZER_CONFIG_FILE = "tokenizer_config.json"
SPECIAL_TOKENS_FILE = "special_tokens_map.json"
SIDES = ("left", "right")


class TokenizerError(ValueError):
  """A tokenizer folder that cannot be used; the message names the file."""


def _read_json(path: str) -> dict[str, Any]:
  if not os.path.isfile(path):
    return {}
  try:
    with open(path, encoding="utf-8") as f:
      data = json.load(f)
  except (ValueError, UnicodeDecodeError) as e:
    raise TokenizerError(f"{path}: not valid JSON ({e})") from None
  if not isinstance(data, dict):
    raise TokenizerError(f"{path}: not a JSON object")
  return data


def _token_text(value) -> str | None:
  """A special token as written by transformers: a string or `{"content": ...}`."""
  if isinstance(value, dict):
    value = value.get("content")
  return value if isinstance(value, str) else None


@dataclasses.dataclass(frozen=True)
class Settings:
  """What `SubwordTokenizer` needs besides `tokenizer.json` (stored with conversions).

  Attributes:
    pad_token: the pad token's text.
    padding_side: 'right' (BERT, RoBERTa) or 'left' (XLNet).
    truncation_side: which end loses tokens ('right' for all three).
  """
  pad_token: str
  padding_side: str = "right"
  truncation_side: str = "right"

  @classmethod
  def from_folder(cls, folder: str, tokenizer_json: dict[str, Any]) -> "Settings":
    """Reads the settings of a Hugging Face tokenizer folder."""
    config = _read_json(os.path.join(folder, TOKENIZER_CONFIG_FILE))
    special = _read_json(os.path.join(folder, SPECIAL_TOKENS_FILE))
    padding = tokenizer_json.get("padding") or {}
    pad = (_token_text(config.get("pad_token")) or _token_text(special.get("pad_token"))
           or padding.get("pad_token"))
    if not pad:
      raise TokenizerError(
          f"{folder}: no pad token in {TOKENIZER_CONFIG_FILE}, {SPECIAL_TOKENS_FILE} or "
          f"the padding section of {TOKENIZER_FILE}")
    side = config.get("padding_side") or {"Left": "left", "Right": "right"}.get(
        padding.get("direction"), "right")
    trunc = config.get("truncation_side") or "right"
    for what, value in (("padding_side", side), ("truncation_side", trunc)):
      if value not in SIDES:
        raise TokenizerError(f"{os.path.join(folder, TOKENIZER_CONFIG_FILE)}: {what} "
                             f"{value!r} is not one of {SIDES}")
    return cls(pad, side, trunc)


class SubwordTokenizer:
  """Sentences -> `(token_ids int32 (B, N), mask bool (B, N))` with N = `max_length`.

  Also what the input pipeline reads in place of a `rvs_jax.text.WordVectors` table
  (`encode_ids`; `passes_ids`: the batch carries the ids, the model embeds them).
  """
  passes_ids = True

  def __init__(self, tokenizer_json: str, settings: Settings, max_length: int = 20,
               where: str = TOKENIZER_FILE):
    """Builds the tokenizer.

    Args:
      tokenizer_json: the text of a `tokenizer.json`.
      settings: pad token and sides.
      max_length: N, special tokens included (the paper's 20).
      where: the file, for messages.
    """
    try:
      import tokenizers  # pylint: disable=g-import-not-at-top
    except ImportError:
      raise TokenizerError("subword tokenisation needs the tokenizers package: pip "
                           "install -e '.[text]'") from None
    try:
      tok = tokenizers.Tokenizer.from_str(tokenizer_json)
    except Exception as e:  # pylint: disable=broad-except
      raise TokenizerError(f"{where}: not a tokenizers tokenizer ({e})") from None
    pad_id = tok.token_to_id(settings.pad_token)
    if pad_id is None:
      raise TokenizerError(f"{where}: the pad token {settings.pad_token!r} is not in "
                           "the vocabulary")
    tok.no_padding()
    tok.no_truncation()
    # What transformers' PreTrainedTokenizerFast sets for padding="max_length",
    # truncation=True: longest_first, stride 0, the checkpoint's sides.
    tok.enable_truncation(max_length, stride=0, strategy="longest_first",
                          direction=settings.truncation_side)
    tok.enable_padding(direction=settings.padding_side, pad_id=pad_id,
                       pad_token=settings.pad_token, length=max_length)
    self._tok = tok
    self.settings = settings
    self.max_length = max_length
    self.pad_id = pad_id

  @classmethod
  def from_folder(cls, folder: str | os.PathLike, max_length: int = 20
                  ) -> "SubwordTokenizer":
    """The tokenizer of a Hugging Face checkpoint folder (its `tokenizer.json`)."""
    folder = os.fspath(folder)
    path = os.path.join(folder, TOKENIZER_FILE)
    if not os.path.isfile(path):
      raise TokenizerError(
          f"{folder}: no {TOKENIZER_FILE} (a fast tokenizer; `tokenizer.save_pretrained`"
          " of a transformers fast tokenizer writes one)")
    with open(path, encoding="utf-8") as f:
      text = f.read()
    try:
      parsed = json.loads(text)
    except ValueError as e:
      raise TokenizerError(f"{path}: not valid JSON ({e})") from None
    return cls(text, Settings.from_folder(folder, parsed), max_length, where=path)

  @property
  def vocab_size(self) -> int:
    """Tokens the tokenizer can produce (added special tokens included)."""
    return self._tok.get_vocab_size(with_added_tokens=True)

  def to_json(self) -> str:
    """The tokenizer as `tokenizer.json` text (padding/truncation as configured)."""
    return self._tok.to_str()

  def encode_ids(self, sentence: str, max_len: int | None = None,
                 allow_all_unknown: bool = False
                 ) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """One sentence as the pipeline reads it: `(ids (N,), mask (N,), [])`.

    Raises:
      ValueError (`DataError`): a blank sentence or a different `max_len`.
    """
    del allow_all_unknown  # Subwords cover every word (or map it to the unk token).
    if max_len is not None and max_len != self.max_length:
      raise DataError(f"the tokenizer pads to {self.max_length} tokens, not {max_len}")
    if not isinstance(sentence, str) or not sentence.strip():
      raise DataError(f"empty sentence: {sentence!r}")
    ids, mask, _ = self.encode([sentence])
    return ids[0], mask[0], []

  def encode(self, sentences: Sequence[str]
             ) -> tuple[np.ndarray, np.ndarray, list[list[str]]]:
    """Tokenises a batch.

    Returns:
      token_ids: int32 `(B, max_length)`.
      mask: bool `(B, max_length)`, True at real tokens (special tokens included).
      tokens: per sentence, the `max_length` token strings (pads included), for the
        per-token pictures.
    """
    if isinstance(sentences, str):
      raise TypeError("encode takes a list of sentences, not a str")
    encodings = self._tok.encode_batch(list(sentences), add_special_tokens=True)
    ids = np.asarray([e.ids for e in encodings], np.int32).reshape(
        len(encodings), self.max_length)
    mask = np.asarray([e.attention_mask for e in encodings], bool).reshape(ids.shape)
    return ids, mask, [list(e.tokens) for e in encodings]


# The tokenizer's settings beside a training workdir's copy of `tokenizer.json`.
SETTINGS_FILE = "tokenizer_settings.json"


def load_tokenizer(directory: str, meta: dict, max_length: int = 20
                   ) -> "SubwordTokenizer":
  """The tokenizer stored in a text conversion (`tokenizer.json` + its settings)."""
  path = os.path.join(directory, TOKENIZER_FILE)
  if not os.path.isfile(path):
    raise TokenizerError(f"{directory}: no {TOKENIZER_FILE}")
  settings = meta.get("tokenizer") or {}
  with open(path, encoding="utf-8") as f:
    text = f.read()
  return SubwordTokenizer(
      text, Settings(
          pad_token=settings.get("pad_token", ""),
          padding_side=settings.get("padding_side", "right"),
          truncation_side=settings.get("truncation_side", "right")),
      max_length, where=path)
