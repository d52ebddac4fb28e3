"""A portable model: serialized StableHLO that runs without rvs_jax's model code.

    python -m rvs_jax.inference.export --checkpoint workdir --out model.stablehlo \
        [--platforms cpu,cuda] [--config configs/x.py:args] [--word-vectors FILE] \
        [--glove FILE] [--overwrite]

writes three files next to each other (STEM = --out without `.stablehlo`):

  STEM.stablehlo   `jax.export` of `logits = f(video, words, word_mask)` with the
                   checkpoint's weights baked in as constants and a symbolic batch size:
                     video      float32 (b, T, S, S, 3)  RGB in [0, 1], frame t at T // 2
                     words      float32 (b, N, 300)      word vectors (0 for pads/unknown)
                                int32   (b, N)           token ids (BERT/RoBERTa/XLNet)
                     word_mask  bool    (b, N)           True for real tokens
                     logits     float32 (b, S, S)        the final response map
                   (the input normalisation is inside the model);
  STEM.json        the preprocessing constants (S, T, clip stride, N, threshold), how to
                   apply them, the model config, the checkpoint's name and the sha256
                   of the other two files (checked by `load`: a corrupted or
                   half-replaced artifact is refused, never run);
  STEM.vocab.npz   GloVe + GRU models: the vocabulary, `words` (V,) and `vectors`
                   (V, 300);
  STEM.tokenizer.json  BERT / RoBERTa / XLNet models, in place of the vocabulary: the
                   checkpoint's subword tokenizer with its padding (side, pad token, N)
                   and truncation set, as `tokenizers.Tokenizer.to_str` writes it
                   (loading it needs the `tokenizers` package).

`--glove FILE` records a GloVe `.txt` / `.zip` in STEM.json by its file name and
sha256 (`glove`; no path of this machine): `load` uses the file of that name beside the
artifact, or `load(path, glove=FILE)`, and refuses a file whose sha256 differs (its
vectors are not those the artifact was exported with). The words the vocabulary lacks
are looked up there when a sentence is encoded (one pass over the file per new set of
words). Hashing glove.840B.300d.zip (2 GB) takes a few seconds at export and load.

Loading needs only JAX and NumPy (Pillow for `preprocess` / `segment`): `load(path)`
uses `jax.export.deserialize`, and the tokenizer, clip rule and frame resize are
re-implemented below from the constants. This file imports nothing from rvs_jax at
module level, so it can be copied next to an artifact and used alone (importing it as
`rvs_jax.inference.export` also imports the package, whose `__init__` loads the model code):

    m = load("model.stablehlo")
    masks = m.segment(frames, "the red square")   # uint8 (T, H, W, 3) -> bool (T, H, W)

Serialized artifacts follow JAX's export compatibility guarantees (a newer jaxlib runs
an older artifact for at least six months of releases); they are platform-specific
(`--platforms`, default the CPU).
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import io
import json
import os
import re
import sys
from typing import Sequence

import jax
from jax import export as jax_export
import numpy as np

FORMAT = "rvs_jax.inference.export/1"
SUFFIX = ".stablehlo"
# CSTM's tokenizer (rvs_jax.text): split keeping delimiter runs, lower-case.
_SPLIT = re.compile(r"(\W+)")


class ExportError(ValueError):
  """A user error of the export CLI or the loader; the message is one line."""


def artifact_paths(out: str) -> dict[str, str]:
  """`{"model", "json", "vocab", "tokenizer"}` file paths for an `--out` path (an
  artifact has "vocab" or "tokenizer", as its model reads vectors or token ids)."""
  stem = out[:-len(SUFFIX)] if out.endswith(SUFFIX) else out
  return {"model": stem + SUFFIX, "json": stem + ".json", "vocab": stem + ".vocab.npz",
          "tokenizer": stem + ".tokenizer.json"}


# --------------------------------------------------------------------------------------
# Loading (no rvs_jax imports below this line until `export_checkpoint`).
# --------------------------------------------------------------------------------------


class ExportedModel:
  """A deserialized artifact with the preprocessing it needs.

  Attributes:
    constants: `image_size`, `num_frames`, `clip_stride`, `max_words`, `word_dim`
      (GloVe models), `threshold` (from STEM.json).
    meta: the whole STEM.json.
    words: the vocabulary (V,); `vectors`: float32 (V, word_dim) (empty for a model
      that reads token ids).
    tokenizer: the `tokenizers.Tokenizer` of a model that reads token ids, else None.
    exported: the `jax.export.Exported`.
  """

  def __init__(self, exported, meta: dict, words: Sequence[str], vectors: np.ndarray,
               glove: str | None = None, tokenizer=None):
    self.glove = glove
    self.tokenizer = tokenizer
    self._absent: set[str] = set()
    self.exported = exported
    self.meta = meta
    self.constants = meta["constants"]
    self.words = list(words)
    self.vectors = np.asarray(vectors, np.float32)
    self._index = {w: i for i, w in enumerate(self.words)}
    self._call = jax.jit(exported.call)

  def logits(self, video: np.ndarray, words: np.ndarray, word_mask: np.ndarray
             ) -> np.ndarray:
    """The artifact itself: float32 `(b, S, S)` logits (see the module docstring)."""
    words = np.asarray(words, np.float32 if self.tokenizer is None else np.int32)
    return np.asarray(self._call(np.asarray(video, np.float32), words,
                                 np.asarray(word_mask, bool)))

  def tokenize(self, sentence: str) -> list[str]:
    """The sentence's real tokens: CSTM's words (`rvs_jax.text.split_words`, truncated
    to `max_words`), or the subword tokenizer's (special tokens included)."""
    if self.tokenizer is not None:
      return self._encode_tokens(sentence)[2]
    tokens = [w.lower() for w in _SPLIT.split(sentence.strip()) if w and w != " "]
    if tokens and tokens[-1] == ".":
      tokens = tokens[:-1]
    if not tokens:
      raise ExportError(f"sentence has no tokens: {sentence!r}")
    return tokens[:self.constants["max_words"]]

  def _encode_tokens(self, sentence: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Subword `(ids int32 (N,), mask (N,), real tokens)`; padding and truncation to N
    are set in the tokenizer file."""
    if not sentence.strip():
      raise ExportError(f"sentence has no tokens: {sentence!r}")
    e = self.tokenizer.encode(sentence)
    ids, mask = np.asarray(e.ids, np.int32), np.asarray(e.attention_mask, bool)
    if ids.shape != (self.constants["max_words"],):
      raise ExportError(f"the tokenizer gave {ids.shape[0]} tokens, not the artifact's "
                        f"{self.constants['max_words']}")
    return ids, mask, [t for t, m in zip(e.tokens, mask) if m]

  def encode(self, sentence: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """`(vectors (N, E), mask (N,), unknown words)`; no known word is an error.

    A model that reads token ids gets `(ids int32 (N,), mask (N,), [])` (subwords cover
    every word).
    """
    if self.tokenizer is not None:
      ids, mask, _ = self._encode_tokens(sentence)
      return ids, mask, []
    n, dim = self.constants["max_words"], self.constants["word_dim"]
    tokens = self.tokenize(sentence)
    new = sorted({t for t in tokens if t not in self._index and t not in self._absent})
    if new and self.glove:
      found = _glove_vectors(self.glove, new, dim)
      self._absent.update(set(new) - set(found))  # Not looked up again.
      self.words += list(found)
      self.vectors = np.concatenate([self.vectors] + [v[None] for v in found.values()])
      self._index = {w: i for i, w in enumerate(self.words)}
    vectors = np.zeros((n, dim), np.float32)
    mask = np.zeros((n,), bool)
    mask[:len(tokens)] = True
    unknown = []
    for i, token in enumerate(tokens):
      if token in self._index:
        vectors[i] = self.vectors[self._index[token]]
      else:
        unknown.append(token)
    if len(unknown) == len(tokens):
      raise ExportError(f"no word of {sentence!r} is in the vocabulary (unknown: "
                        f"{', '.join(unknown)})")
    return vectors, mask, unknown

  def preprocess(self, frames: np.ndarray) -> np.ndarray:
    """uint8 `(T, H, W, 3)` -> `(T, S, S, 3)`: PIL bilinear, as torchvision Resize."""
    from PIL import Image  # pylint: disable=g-import-not-at-top
    s = self.constants["image_size"]
    return np.stack([f if f.shape[:2] == (s, s) else
                     np.asarray(Image.fromarray(f).resize((s, s), Image.BILINEAR))
                     for f in np.asarray(frames, np.uint8)])

  def clip_indices(self, target: int, num_frames: int) -> np.ndarray:
    """The clip of frame `target`: T frames at the stride around it, clamped."""
    c = self.constants
    offsets = c["clip_stride"] * (np.arange(c["num_frames"]) - c["num_frames"] // 2)
    return np.clip(target + offsets, 0, num_frames - 1)

  def segment(self, frames: np.ndarray, sentence: str, threshold: float | None = None,
              batch_size: int = 8) -> np.ndarray:
    """Masks of every frame of a video for one sentence.

    Args:
      frames: uint8 `(T, H, W, 3)` RGB.
      sentence: the referring expression.
      threshold: probability threshold (default: the artifact's, 0.5).
      batch_size: clips per call (the last batch is padded: one compilation).

    Returns:
      bool `(T, H, W)`: probabilities resized to the frame (bilinear), > threshold.
    """
    from PIL import Image  # pylint: disable=g-import-not-at-top
    threshold = self.constants["threshold"] if threshold is None else threshold
    frames = np.asarray(frames, np.uint8)
    t_count, h, w = frames.shape[:3]
    small = self.preprocess(frames)
    vectors, mask, _ = self.encode(sentence)
    masks = np.empty((t_count, h, w), bool)
    for start in range(0, t_count, batch_size):
      targets = list(range(start, min(start + batch_size, t_count)))
      padded = targets + [targets[-1]] * (batch_size - len(targets))
      video = np.stack([small[self.clip_indices(t, t_count)] for t in padded])
      video = np.divide(video, np.float32(255), dtype=np.float32)
      logits = self.logits(video, np.repeat(vectors[None], batch_size, 0),
                           np.repeat(mask[None], batch_size, 0))
      probs = 1.0 / (1.0 + np.exp(-logits.astype(np.float64)))
      for t, p in zip(targets, probs):
        big = Image.fromarray(p.astype(np.float32), "F").resize((w, h), Image.BILINEAR)
        masks[t] = np.asarray(big) > threshold
    return masks


def _sha256_file(path: str) -> str:
  digest = hashlib.sha256()
  with open(path, "rb") as f:
    for chunk in iter(lambda: f.read(1 << 20), b""):
      digest.update(chunk)
  return digest.hexdigest()


def _glove_vectors(path: str, words: Sequence[str], dim: int) -> dict[str, np.ndarray]:
  """`{word: vector}` of the `words` found in a GloVe `.txt` (or a `.zip` holding one).

  Lines are `word v1 ... v_dim`, the word everything before the last `dim` fields; the
  first occurrence wins (as `rvs_jax.text.WordVectors.from_glove`).
  """
  import zipfile  # pylint: disable=g-import-not-at-top
  if not os.path.isfile(path):
    raise ExportError(f"GloVe file {path!r} not found")
  wanted = {w.encode("utf-8") for w in words}
  heads = {w.split(b" ", 1)[0] for w in wanted}
  found = {}
  archive = zipfile.ZipFile(path) if path.endswith(".zip") else None
  try:
    if archive is not None:
      names = [n for n in archive.namelist() if n.endswith(".txt")]
      if not names:
        raise ExportError(f"{path}: no .txt file inside")
      stream = archive.open(names[0])
    else:
      stream = open(path, "rb")  # pylint: disable=consider-using-with
    with stream:
      for line in stream:
        if line.split(b" ", 1)[0] not in heads:
          continue
        fields = line.rstrip(b"\r\n").split(b" ")
        word = b" ".join(fields[:-dim])
        if len(fields) > dim and word in wanted and word not in found:
          found[word] = np.asarray([float(x) for x in fields[-dim:]], np.float32)
          if len(found) == len(wanted):
            break
  finally:
    if archive is not None:
      archive.close()
  return {w.decode("utf-8"): v for w, v in sorted(found.items())}


def load(path: str, glove: str | None = None) -> ExportedModel:
  """Loads an artifact written by `export_checkpoint` (any of its three paths' stem).

  `glove`: a GloVe file for the words the vocabulary lacks (default: the file recorded
  at export, if it lies beside the artifact); it must be the recorded file (sha256).
  """
  paths = artifact_paths(path[:-len(".json")] if path.endswith(".json") else path)
  if not os.path.isfile(paths["json"]):
    raise ExportError(f"exported model incomplete: {paths['json']} (json) not found")
  with open(paths["json"], encoding="utf-8") as f:
    meta = json.load(f)
  if meta.get("format") != FORMAT:
    raise ExportError(f"{paths['json']}: format {meta.get('format')!r}, expected "
                      f"{FORMAT}")
  stored = meta.get("sha256") or {}
  text_file = "tokenizer" if "tokenizer" in stored else "vocab"
  data = {}
  for key in ("model", text_file):
    if not os.path.isfile(paths[key]):
      raise ExportError(f"exported model incomplete: {paths[key]} ({key}) not found")
    with open(paths[key], "rb") as f:
      data[key] = f.read()
    digest = hashlib.sha256(data[key]).hexdigest()
    if stored.get(key) != digest:
      raise ExportError(f"{paths[key]}: sha256 {digest[:12]}... is not the "
                        f"{str(stored.get(key))[:12]}... recorded in {paths['json']} "
                        "(corrupted or replaced after export)")
  exported = jax_export.deserialize(bytearray(data["model"]))
  if text_file == "tokenizer":
    if glove:
      raise ExportError(f"{paths['json']}: glove= only applies to GloVe + GRU models; "
                        "this one reads subword token ids")
    try:
      import tokenizers  # pylint: disable=g-import-not-at-top
    except ImportError:
      raise ExportError(f"{paths['tokenizer']}: reading it needs the tokenizers "
                        "package (pip install tokenizers)") from None
    tokenizer = tokenizers.Tokenizer.from_str(data["tokenizer"].decode("utf-8"))
    return ExportedModel(exported, meta, [], np.zeros((0, 0), np.float32),
                         tokenizer=tokenizer)
  with np.load(io.BytesIO(data["vocab"]), allow_pickle=False) as z:
    words, vectors = [str(w) for w in z["words"]], z["vectors"]
  recorded = meta.get("glove")  # {"file": name, "sha256": hex} or None.
  if glove is None and recorded:
    beside = os.path.join(os.path.dirname(paths["json"]), recorded["file"])
    glove = beside if os.path.isfile(beside) else None
  if glove and recorded:
    if not os.path.isfile(glove):
      raise ExportError(f"GloVe file {glove!r} not found")
    if _sha256_file(glove) != recorded["sha256"]:
      raise ExportError(f"{glove}: not the GloVe file {recorded['file']} (sha256 "
                        f"{recorded['sha256'][:12]}...) recorded in {paths['json']}")
  return ExportedModel(exported, meta, words, vectors, glove)


# --------------------------------------------------------------------------------------
# Exporting (needs rvs_jax).
# --------------------------------------------------------------------------------------


def export_checkpoint(checkpoint: str, out: str, config=None,
                      word_vectors_file: str | None = None,
                      platforms: Sequence[str] = ("cpu",),
                      overwrite: bool = False,
                      glove: str | None = None) -> dict[str, str]:
  """Exports a checkpoint's model (see the module docstring).

  Args:
    checkpoint: a workdir, one of its step folders, or a converted checkpoint
      (`rvs_jax.checkpointing`).
    out: the `.stablehlo` path (the `.json` and `.vocab.npz` go next to it).
    config: optional config replacing the stored one (`--config configs/x.py[:args]`).
    word_vectors_file: optional `.npz` vocabulary replacing the checkpoint's.
    platforms: `jax.export` platforms ("cpu", "cuda", "rocm", "tpu").
    overwrite: replace existing files.
    glove: a GloVe file recorded for the words the vocabulary lacks (see `load`;
      GloVe + GRU models only).

  Returns:
    The written paths (`artifact_paths`).
  """
  # pylint: disable=g-import-not-at-top
  import dataclasses
  from rvs_jax import checkpointing, files, models
  # pylint: enable=g-import-not-at-top
  paths = artifact_paths(out)
  existing = [p for p in paths.values() if os.path.exists(p)]
  if existing and not overwrite:
    raise ExportError(f"{existing[0]} exists; pass --overwrite to replace it")
  if glove and not os.path.isfile(glove):
    raise ExportError(f"GloVe file {glove!r} not found")
  loaded = checkpointing.load(checkpoint, config, word_vectors_file)
  model, variables, c = loaded.model, loaded.variables, loaded.constants
  subwords = loaded.config.model.get("text_name", "glove_gru") != "glove_gru"
  if subwords and glove:
    raise ExportError(f"{checkpoint}: --glove only applies to GloVe + GRU models; "
                      "this one reads subword token ids")

  def logits_fn(video, words, word_mask):
    if subwords:  # BERT / RoBERTa / XLNet: token ids, embedded inside the model.
      maps = model.apply(variables, video, words, word_mask, train=False,
                         all_maps=False)
    else:
      # A GloVe table the model carries is exported as its vocab.npz: the artifact
      # reads the vectors (`embeddings=`), the same rows the table lookup would give.
      maps = model.apply(variables, video, None, word_mask, embeddings=words,
                         train=False, all_maps=False)
    return maps["logits"][-1]                                  # (b, S, S)

  b, = jax_export.symbolic_shape("b")
  spec = models.input_spec(c, batch_size=b,
                           model=loaded.config.model if subwords else None)
  try:
    exported = jax_export.export(jax.jit(logits_fn), platforms=tuple(platforms))(*spec)
  except (ValueError, NotImplementedError) as e:
    raise ExportError(f"cannot export for platforms {list(platforms)}: "
                      f"{str(e).splitlines()[0]}") from None
  if subwords:
    words_input = [["b", c.max_words], "int32",
                   "token ids of tokenizer.json (special tokens and padding included)"]
    text_file = ("tokenizer", loaded.vectors.to_json().encode("utf-8"))
    tokenizer_rule = ("tokenizers.Tokenizer.from_file(STEM.tokenizer.json).encode(s): "
                      "ids and attention_mask (padding and truncation to max_words are "
                      "set in the file)")
    dims = {}
  else:
    dim = loaded.vectors.dim
    words_input = [["b", c.max_words, dim], "float32",
                   "vectors from vocab.npz; zeros for pads and unknown words"]
    vocab = io.BytesIO()
    np.savez(vocab, words=np.asarray(loaded.vectors.words, dtype=str),
             vectors=loaded.vectors.table[1:])
    text_file = ("vocab", vocab.getvalue())
    tokenizer_rule = ("CSTM: re.split(r'(\\W+)', s.strip()), keep lower-cased pieces "
                      "other than '' and ' ', drop a final '.', keep max_words")
    dims = {"word_dim": dim}
  meta = {
      "format": FORMAT,
      "constants": dict(dataclasses.asdict(c), **dims, threshold=0.5),
      "inputs": {
          "video": [["b", c.num_frames, c.image_size, c.image_size, 3], "float32",
                    "RGB in [0, 1]; the clip of frame t is frames t + clip_stride * "
                    "(k - num_frames // 2), k = 0..num_frames-1, clamped to the video"],
          "words": words_input,
          "word_mask": [["b", c.max_words], "bool", "True for real tokens"]},
      "output": [["b", c.image_size, c.image_size], "float32",
                 "logits of the final response map of frame t; sigmoid > threshold "
                 "after a bilinear resize of the probabilities to the frame's size"],
      "preprocessing": {
          "resize": "each uint8 RGB frame: PIL Image.resize((S, S), Image.BILINEAR) "
                    "(torchvision Resize), then float32 / 255",
          "normalisation": "inside the model",
          "tokenizer": tokenizer_rule,
      },
      "platforms": list(platforms),
      "model_config": loaded.config.model.to_dict(),
      # The name only: the artifact travels, this machine's paths do not.
      "checkpoint": os.path.basename(os.path.normpath(checkpoint)),
      "step": loaded.description.step if loaded.description else None,
      "glove": ({"file": os.path.basename(glove), "sha256": _sha256_file(glove)}
                if glove else None),
      "jax_version": jax.__version__,
      "created": datetime.datetime.now(datetime.timezone.utc).isoformat(
          timespec="seconds"),
  }
  blob = exported.serialize()
  meta["sha256"] = {"model": hashlib.sha256(blob).hexdigest(),
                    text_file[0]: hashlib.sha256(text_file[1]).hexdigest()}
  # Each file is renamed into place complete; the JSON, which records the checksums of
  # the other two, comes last, so an interrupted overwrite is detected at load.
  written = {}
  for key, data in (("model", blob), text_file,
                    ("json", json.dumps(meta, indent=1, default=list).encode())):
    with files.atomic_write(paths[key]) as f:
      f.write(data)
    written[key] = paths[key]
  return written


def main(argv: Sequence[str] | None = None) -> int:
  """The CLI; user errors print one line and return 2."""
  # Imported here: the module itself stays loadable without rvs_jax (see `load`).
  from rvs_jax import app  # pylint: disable=g-import-not-at-top
  p = app.ArgumentParser(prog="python -m rvs_jax.inference.export", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--checkpoint", required=True,
                 help="a workdir, one of its step folders, or a converted checkpoint")
  p.add_argument("--out", required=True, help="the .stablehlo file to write")
  p.add_argument("--config", help="configs/x.py[:args] replacing the stored config")
  p.add_argument("--word-vectors", help=".npz table replacing the checkpoint's")
  p.add_argument("--glove", metavar="FILE",
                 help="GloVe .txt/.zip recorded for the words the vocabulary lacks")
  p.add_argument("--platforms", default="cpu",
                 help="comma-separated jax.export platforms (default cpu)")
  p.add_argument("--overwrite", action="store_true", help="replace existing files")
  args = p.parse_args(argv)
  try:
    config = app.load_config_file(args.config) if args.config else None
    paths = export_checkpoint(args.checkpoint, args.out, config, args.word_vectors,
                              [s.strip() for s in args.platforms.split(",") if s.strip()],
                              args.overwrite, args.glove)
  except app.USER_ERRORS as e:  # ExportError, checkpoint, config and data errors.
    print(f"error: {e}", file=sys.stderr)
    return 2
  print("wrote " + ", ".join(paths.values()))
  return 0


if __name__ == "__main__":
  from rvs_jax import platform as _platform  # pylint: disable=g-import-not-at-top
  _platform.configure()
  sys.exit(main())
