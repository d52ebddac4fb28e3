"""Sentence tokenisation and GloVe word vectors, as in the CSTM reference code.

Tokenisation follows CSTM's `datasets/word_utils.py` (docs/benchmarks.md) exactly:

  1. `re.split(r"(\\W+)", sentence.strip())` -- the capture group keeps the delimiters;
  2. keep `w.lower()` for every piece with `len(w) > 0 and w != ' '` (so delimiter runs
     such as `"'"`, `", "` or `"..."` survive as tokens; only a lone space is dropped);
  3. an empty list becomes `[""]`; a final `"."` token is dropped;
  4. truncate to `max_len` (20) or pad with the empty string `""`; the mask is True
     for the real tokens.

Example: `"The man's dog."` -> `["the", "'", "s", "dog"]` + 16 pads.

Word vectors: CSTM embeds tokens with torchtext's `GloVe(name="840B", dim=300)`, which
returns zeros for out-of-vocabulary words (and for the pad `""`). `WordVectors` reproduces
that lookup from a small table: the 2 GB GloVe file is streamed once, only the words of a
given vocabulary are kept, and the table is saved as a `.npz` (a few hundred KB for A2D)
that can live next to a checkpoint.

Error policy (`DataError`, a `ValueError`):
  * empty or whitespace-only sentences, and sentences with no token left after step 3
    (e.g. `"."`), are errors: CSTM would silently feed an all-zero sentence;
  * bytes that are not valid UTF-8 (and `str`s carrying lone surrogates, which is what a
    lenient decode of such bytes produces) are errors;
  * more than `max_len` tokens: truncated, as CSTM does (the result reports it), because
    real annotation files contain a few long sentences; a sentence longer than
    `HARD_MAX_CHARS` characters is an error, because that only happens when a file was
    parsed wrongly (e.g. a missing quote swallowed many lines);
  * a sentence none of whose tokens has a vector is an error in `encode` (the model would
    see only zeros); `allow_all_unknown=True` turns it into CSTM's silent behaviour.
"""

from __future__ import annotations

import copy
import dataclasses
import io
import os
import re
import zipfile
from typing import Iterable, Sequence

import numpy as np

from rvs_jax import files, progress
from rvs_jax.errors import DataError

# CSTM: `SENTENCE_SPLIT_REGEX = re.compile(r"(\W+)")`, `--sentence_length 20`,
# `PAD_TOKEN = ""`.
SENTENCE_SPLIT_REGEX = re.compile(r"(\W+)")
MAX_LEN = 20
PAD_TOKEN = ""
# Hard limit on raw sentence length (characters). Real referring expressions are < 200.
HARD_MAX_CHARS = 1000
GLOVE_DIM = 300


@dataclasses.dataclass(frozen=True)
class Tokens:
  """A tokenised sentence.

  Attributes:
    tokens: `max_len` strings (real tokens followed by `PAD_TOKEN`s).
    mask: bool `(max_len,)`, True for real tokens.
    num_tokens: tokens before truncation (> max_len means the sentence was truncated).
  """
  tokens: tuple[str, ...]
  mask: np.ndarray
  num_tokens: int

  @property
  def truncated(self) -> bool:
    return self.num_tokens > len(self.tokens)


def _as_text(sentence: str | bytes) -> str:
  """Returns `sentence` as a str, raising DataError for invalid UTF-8."""
  if isinstance(sentence, (bytes, bytearray)):
    try:
      return bytes(sentence).decode("utf-8")
    except UnicodeDecodeError as e:
      raise DataError(
          f"sentence is not valid UTF-8: {bytes(sentence)[:80]!r} ({e})") from e
  if not isinstance(sentence, str):
    raise DataError(f"sentence must be str or bytes, got {type(sentence).__name__}")
  try:
    # Lone surrogates come from decoding invalid bytes with errors='surrogateescape'.
    sentence.encode("utf-8")
  except UnicodeEncodeError as e:
    raise DataError(f"sentence contains undecodable bytes: {sentence[:80]!r}") from e
  return sentence


def split_words(sentence: str | bytes) -> list[str]:
  """CSTM token list without truncation or padding (steps 1-3 of the module docstring).

  Args:
    sentence: the referring expression.

  Returns:
    The lower-cased tokens (at least one).

  Raises:
    DataError: empty sentence, invalid UTF-8, over `HARD_MAX_CHARS`, or no token left.
  """
  text = _as_text(sentence)
  if not text.strip():
    raise DataError(f"empty sentence: {text!r}")
  if len(text) > HARD_MAX_CHARS:
    raise DataError(
        f"sentence has {len(text)} characters (> {HARD_MAX_CHARS}); was the annotation "
        f"file parsed correctly? Starts with {text[:80]!r}")
  pieces = SENTENCE_SPLIT_REGEX.split(text.strip())
  words = [w.lower() for w in pieces if len(w) > 0 and w != " "]
  if not words:
    words = [""]  # CSTM; unreachable for non-blank text, kept for fidelity.
  if words[-1] == ".":
    words = words[:-1]
  if not words or words == [""]:
    raise DataError(f"sentence has no tokens: {text!r}")
  return words


def tokenize(sentence: str | bytes, max_len: int = MAX_LEN) -> Tokens:
  """Tokenises like CSTM's `Corpus.tokenize` and pads/truncates to `max_len`.

  Args:
    sentence: the referring expression.
    max_len: output length (CSTM: 20).

  Returns:
    `Tokens` with exactly `max_len` tokens and a bool mask.
  """
  words = split_words(sentence)
  n = len(words)
  kept = words[:max_len]
  mask = np.zeros((max_len,), dtype=bool)
  mask[:len(kept)] = True
  return Tokens(tuple(kept) + (PAD_TOKEN,) * (max_len - len(kept)), mask, n)


def vocabulary(sentences: Iterable[str], max_len: int = MAX_LEN) -> list[str]:
  """Sorted set of tokens (after truncation) of `sentences`, pads excluded."""
  vocab = set()
  for s in sentences:
    vocab.update(t for t in tokenize(s, max_len).tokens if t != PAD_TOKEN)
  return sorted(vocab)


def _open_glove_lines(path: str) -> tuple[io.BufferedIOBase, object | None]:
  """Opens a GloVe `.txt` or the first `.txt` member of a `.zip`, in binary mode."""
  if zipfile.is_zipfile(path):
    zf = zipfile.ZipFile(path)
    members = [m for m in zf.namelist() if m.endswith(".txt")]
    if not members:
      zf.close()
      raise DataError(f"{path}: zip archive has no .txt member")
    return zf.open(members[0], "r"), zf
  return open(path, "rb"), None


def _glove_bytes(path: str) -> int:
  """Uncompressed size of what `_open_glove_lines` reads (for the progress bar)."""
  if zipfile.is_zipfile(path):
    with zipfile.ZipFile(path) as zf:
      return next(m.file_size for m in zf.infolist() if m.filename.endswith(".txt"))
  return os.path.getsize(path)


class WordVectors:
  """A word -> vector table restricted to a vocabulary; zeros for unknown words (CSTM).

  Row 0 of the internal matrix is the zero vector used for pads and unknown words, so a
  sentence becomes an int32 id vector and `table[ids]` its `(N, E)` embedding.
  """

  def __init__(self, words: Sequence[str], vectors: np.ndarray):
    """Builds a table.

    Args:
      words: V distinct words.
      vectors: float `(V, E)` vectors in the order of `words`.
    """
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or vectors.shape[0] != len(words):
      raise ValueError(f"vectors {vectors.shape} do not match {len(words)} words")
    self._words = list(words)
    self._index = {w: i + 1 for i, w in enumerate(self._words)}
    if len(self._index) != len(self._words):
      raise ValueError("duplicate words in WordVectors")
    # (V + 1, E): row 0 = zeros for pads / unknown words.
    self.table = np.concatenate(
        [np.zeros((1, vectors.shape[1]), np.float32), vectors], axis=0)

  # Whether the input pipeline hands the model row ids into `table` (a glove_gru model
  # carrying the table, `model.text_glove_vocab` != 0) rather than the vectors.
  passes_ids = False

  def in_model(self) -> "WordVectors":
    """This table, flagged so that the pipeline and `predict` pass row ids."""
    out = copy.copy(self)
    out.passes_ids = True
    return out

  def rows(self, count: int) -> np.ndarray:
    """`table` zero-padded to `count` rows `(count, E)`: the model's `glove_table`.

    Raises:
      ValueError: the vocabulary does not fit in `count - 1` words.
    """
    if count < len(self.table):
      raise ValueError(f"the vocabulary has {len(self)} words but the model's GloVe "
                       f"table holds {count - 1} (model.text_glove_vocab); set it to "
                       "-1 "
                       "(the vocabulary's size) or larger")
    out = np.zeros((count, self.dim), np.float32)
    out[:len(self.table)] = self.table
    return out

  def extended(self, other: "WordVectors") -> "WordVectors":
    """This table plus the words of `other` it lacks, appended: the ids of this
    table's words are unchanged (a model trained on them still reads them)."""
    new = [w for w in other.words if w not in self._index]
    rows = other.table[[other._index[w] for w in new]] if new else np.zeros(
        (0, self.dim), np.float32)
    out = WordVectors(self._words + new, np.concatenate([self.table[1:], rows]))
    out.passes_ids = self.passes_ids
    return out

  @property
  def dim(self) -> int:
    return self.table.shape[1]

  @property
  def words(self) -> list[str]:
    return list(self._words)

  def __len__(self) -> int:
    return len(self._words)

  def __contains__(self, word: str) -> bool:
    return word in self._index

  @classmethod
  def from_glove(cls, path: str | os.PathLike, vocab: Iterable[str],
                 dim: int = GLOVE_DIM, most_frequent: int = 0) -> "WordVectors":
    """Streams a GloVe text file (or zip) once, keeping only the words of `vocab`.

    Lines are `word v1 ... v_dim`. Some glove.840B lines have spaces inside the word
    (e.g. `". . ."`), so the word is everything before the last `dim` fields. Lines with a
    different number of fields are skipped (torchtext skips them too). When a word occurs
    twice the first occurrence wins. Lookups are exact (GloVe 840B is cased; CSTM looks
    up lower-cased tokens).

    Args:
      path: `glove.*.txt` or a `.zip` containing it.
      vocab: the words to keep.
      dim: vector size.
      most_frequent: also keep the lower-case words among the first `most_frequent`
        lines of the file (GloVe files are sorted by corpus frequency): an open
        vocabulary, at 1.2 MB per 1000 words (300 float32 each).

    Returns:
      The table; words of `vocab` not in the file are simply absent (zeros on lookup).
    """
    path = os.fspath(path)
    if not os.path.exists(path):
      raise DataError(f"GloVe file not found: {path}")
    wanted = {w.encode("utf-8") for w in vocab if w != PAD_TOKEN}
    # First field of wanted words that contain spaces (rare; e.g. ". . .").
    spaced_heads = {w.split(b" ", 1)[0] for w in wanted if b" " in w}
    found: dict[bytes, np.ndarray] = {}
    stream, archive = _open_glove_lines(path)
    # glove.840B is 5.6 GB: a minute or more of reading, so a bar counts the bytes.
    meter = progress.bar(_glove_bytes(path), f"scanning {os.path.basename(path)}", "B",
                         unit_scale=True)
    read, missing = 0, len(wanted)
    try:
      for lineno, line in enumerate(stream, 1):
        read += len(line)
        if lineno % 65536 == 0:
          meter.update(read - meter.n)
        # Cheap pre-filter on the first space-separated field, so that the float parsing
        # only happens for wanted words (the file has 2.2 M lines).
        head = line.split(b" ", 1)[0]
        # Tokens are lower-cased (CSTM), so only lower-case frequent words can be read.
        frequent = lineno <= most_frequent and head == head.lower()
        if head not in wanted and head not in spaced_heads and not frequent:
          continue
        fields = line.rstrip(b"\r\n").split(b" ")
        if len(fields) < dim + 1:
          continue
        word = b" ".join(fields[:-dim])
        if (word not in wanted and not frequent) or word in found:
          continue
        try:
          found[word] = np.asarray([float(x) for x in fields[-dim:]], np.float32)
        except ValueError as e:
          raise DataError(f"{path}:{lineno}: bad vector for {word!r}: {e}") from e
        missing -= word in wanted
        if missing == 0 and lineno >= most_frequent:
          break
    finally:
      meter.close()
      stream.close()
      if archive is not None:
        archive.close()
    words = sorted(found)
    mat = (np.stack([found[w] for w in words]) if words
           else np.zeros((0, dim), np.float32))
    return cls([w.decode("utf-8") for w in words], mat)

  def save(self, path: str | os.PathLike) -> None:
    """Saves the table as `.npz` (`words`: unicode array, `vectors`: float32 (V, E)).

    Atomic: a failed write (a full disk) leaves an existing table at `path` intact.
    Like `np.savez`, adds `.npz` to a path without it.
    """
    path = os.fspath(path)
    if not path.endswith(".npz"):
      path += ".npz"
    with files.atomic_write(path) as f:
      np.savez(f, words=np.asarray(self._words, dtype=str), vectors=self.table[1:])

  @classmethod
  def load(cls, path: str | os.PathLike) -> "WordVectors":
    """Loads a table written by `save`."""
    try:
      with np.load(path, allow_pickle=False) as z:
        return cls([str(w) for w in z["words"]], z["vectors"])
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as e:
      raise DataError(f"cannot read word-vector table {path}: {e}") from e

  def ids(self, tokens: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """Row ids `(N,)` int32 into `table` (0 = pad/unknown) and the unknown real tokens."""
    ids = np.zeros((len(tokens),), np.int32)
    unknown = []
    for i, t in enumerate(tokens):
      j = self._index.get(t, 0)
      ids[i] = j
      if j == 0 and t != PAD_TOKEN:
        unknown.append(t)
    return ids, unknown

  def lookup(self, tokens: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """Vectors `(N, E)` float32 (zeros for pads and unknown words) and unknown tokens."""
    ids, unknown = self.ids(tokens)
    return self.table[ids], unknown

  def encode_ids(self, sentence: str | bytes, max_len: int = MAX_LEN,
                 allow_all_unknown: bool = False
                 ) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Like `encode` but returns int32 row ids `(N,)` instead of vectors."""
    tok = tokenize(sentence, max_len)
    ids, unknown = self.ids(tok.tokens)
    if not allow_all_unknown and not np.any(ids[tok.mask] > 0):
      real = list(tok.tokens[:int(tok.mask.sum())])
      raise DataError(
          f"no word of the sentence has a vector: {sentence!r} (tokens {real})")
    return ids, tok.mask, unknown

  def encode(self, sentence: str | bytes, max_len: int = MAX_LEN,
             allow_all_unknown: bool = False
             ) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Tokenises and embeds a sentence.

    Args:
      sentence: the referring expression.
      max_len: number of word slots N (CSTM: 20).
      allow_all_unknown: if False (default) a sentence without any known word raises.

    Returns:
      vectors: float32 `(N, E)` (zeros for pads and unknown words, as in CSTM).
      mask: bool `(N,)`, True for real tokens (known or not).
      unknown_words: the real tokens without a vector, in order.
    """
    ids, mask, unknown = self.encode_ids(sentence, max_len, allow_all_unknown)
    return self.table[ids], mask, unknown
