"""Tests of rvs_jax.text: CSTM tokenisation and GloVe word-vector tables."""

import zipfile

import numpy as np
import pytest

from rvs_jax import text
from rvs_jax.data.types import DataError


def _real(tok):
  return list(tok.tokens[:int(tok.mask.sum())])


@pytest.mark.parametrize("sentence, expected", [
    # Worked by hand with re.split(r"(\W+)"): delimiters are kept, " " is dropped.
    ("The man's dog.", ["the", "man", "'", "s", "dog"]),
    ("a man, in red ... jumping!",
     ["a", "man", ", ", "in", "red", " ... ", "jumping", "!"]),
    ("  Hello world.  ", ["hello", "world"]),           # strip, then the final "." goes.
    ("end .", ["end", " ."]),                            # " ." is not "." -> kept (CSTM).
    ("dog...", ["dog", "..."]),                          # only a lone "." is dropped.
    ("left-moving red circle", ["left", "-", "moving", "red", "circle"]),
    ("café au lait", ["café", "au", "lait"]),            # \W is Unicode-aware.
    (b"bytes are fine", ["bytes", "are", "fine"]),
])
def test_tokenize_hand_examples(sentence, expected):
  tok = text.tokenize(sentence)
  assert _real(tok) == expected
  assert len(tok.tokens) == text.MAX_LEN == 20
  assert tok.mask.dtype == bool and tok.mask.shape == (20,)
  assert tok.mask.sum() == len(expected)
  assert all(t == text.PAD_TOKEN == "" for t in tok.tokens[len(expected):])
  assert not tok.truncated


def test_truncation_at_20():
  words = [f"w{i}" for i in range(25)]
  tok = text.tokenize(" ".join(words) + ".")
  assert list(tok.tokens) == words[:20]
  assert tok.mask.all() and tok.num_tokens == 25 and tok.truncated
  assert len(text.tokenize("a b c", max_len=2).tokens) == 2


@pytest.mark.parametrize("bad", ["", "   ", ".", " . ", b"\xff\xfe bad",
                                 "x" * (text.HARD_MAX_CHARS + 1),
                                 "bad \udcff surrogate"])
def test_tokenize_errors(bad):
  with pytest.raises(DataError):
    text.tokenize(bad)


def _write_glove(path, rows, dim):
  with open(path, "w", encoding="utf-8") as f:
    for word, vec in rows:
      f.write(word + " " + " ".join(f"{x:.4f}" for x in vec) + "\n")


@pytest.fixture
def glove_rows():
  rng = np.random.default_rng(0)
  words = ["the", "red", "circle", ". . .", "Red", "'", "dog"]
  return [(w, rng.standard_normal(300).astype(np.float32)) for w in words]


@pytest.mark.parametrize("as_zip", [False, True])
def test_glove_streaming(tmp_path, glove_rows, as_zip):
  txt = tmp_path / "glove.test.300d.txt"
  rows = glove_rows + [("red", np.ones(300, np.float32))]  # Duplicate: first one wins.
  _write_glove(txt, rows, 300)
  with open(txt, "a", encoding="utf-8") as f:
    f.write("short 1.0 2.0\n")  # Malformed line: skipped.
  path = txt
  if as_zip:
    path = tmp_path / "glove.test.300d.zip"
    with zipfile.ZipFile(path, "w") as z:
      z.write(txt, "glove.test.300d.txt")
  wv = text.WordVectors.from_glove(path, ["the", "red", ". . .", "'", "missing", "short"])
  got = dict(glove_rows)
  assert sorted(wv.words) == sorted(["the", "red", ". . .", "'"])
  vecs, unknown = wv.lookup(["red", ". . .", "missing", ""])
  np.testing.assert_allclose(vecs[0], got["red"], atol=1e-4)   # Not the later ones.
  np.testing.assert_allclose(vecs[1], got[". . ."], atol=1e-4)  # Word with spaces.
  assert not vecs[2].any() and not vecs[3].any()               # Unknown / pad -> zeros.
  assert unknown == ["missing"]
  assert vecs.dtype == np.float32 and wv.dim == 300


def test_encode_save_load(tmp_path, glove_rows):
  txt = tmp_path / "g.txt"
  _write_glove(txt, glove_rows, 300)
  sentence = "The red zebra's circle."
  vocab = text.vocabulary([sentence])
  wv = text.WordVectors.from_glove(txt, vocab)
  vecs, mask, unknown = wv.encode(sentence)
  # Tokens: the red zebra ' s circle -> "zebra" and "s" are unknown.
  assert vecs.shape == (20, 300) and vecs.dtype == np.float32
  assert mask.tolist() == [True] * 6 + [False] * 14
  assert unknown == ["zebra", "s"]
  got = dict(glove_rows)
  np.testing.assert_allclose(vecs[1], got["red"], atol=1e-4)
  assert not vecs[2].any() and not vecs[6:].any()
  wv.save(tmp_path / "table.npz")
  wv2 = text.WordVectors.load(tmp_path / "table.npz")
  assert wv2.words == wv.words
  np.testing.assert_array_equal(wv2.encode(sentence)[0], vecs)
  with pytest.raises(DataError, match="no word"):
    wv.encode("zebra s")
  v, m, u = wv.encode("zebra s", allow_all_unknown=True)  # CSTM's silent behaviour.
  assert not v.any() and m.sum() == 2 and u == ["zebra", "s"]


def test_missing_files(tmp_path):
  with pytest.raises(DataError, match="not found"):
    text.WordVectors.from_glove(tmp_path / "nope.txt", ["a"])
  (tmp_path / "bad.npz").write_bytes(b"not an npz")
  with pytest.raises(DataError, match="bad.npz"):
    text.WordVectors.load(tmp_path / "bad.npz")
