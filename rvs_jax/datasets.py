"""Benchmarks by name: `config.data` -> samples, word vectors and input pipelines.

The word-vector table is built once per workdir from the GloVe file restricted to the
vocabulary of the benchmark's sentences, and saved as `<workdir>/word_vectors.npz` next to
the checkpoints, so evaluation, resumption and prediction use the same table (and do not
need the 2 GB GloVe file again). Unknown words map to zeros, as in CSTM.
"""

from __future__ import annotations

import logging
import os

from rvs_jax import glove_table
from rvs_jax import text as text_lib
from rvs_jax.data import pipeline, registry
from rvs_jax.data.synthetic import GLOVE_NAME as SYNTHETIC_GLOVE
from rvs_jax.data.types import DataError, Sample

WORD_VECTORS_FILE = "word_vectors.npz"


SOURCES = ("raw", "tfds")


def read_split(data, split: str, *, scoring: bool = False) -> list[Sample]:
  """All samples of `split` from `data.source`: the official folders or a built set.

  "raw" reads `data.root` with the benchmark's reader (`scoring`: the video protocol's
  options); "tfds" reads the dataset built into `data.tfds_dir` by `data/` (its samples
  are the reader's at build time, `rvs_jax.data.tfds_source`).
  """
  source = data.get("source", "raw")
  if source == "tfds":
    from rvs_jax.data import tfds_source  # pylint: disable=g-import-not-at-top
    return tfds_source.load_samples(data, split)
  if source != "raw":
    raise ValueError(f"config.data.source={source!r}; expected one of {SOURCES}")
  return registry.get(data.name).read(data, split, scoring=scoring)


def load_samples(data, split: str) -> list[Sample]:
  """The samples of `split` of the benchmark `data.name` (`read_split`), capped."""
  samples = read_split(data, split)
  limit = data.max_train_samples if split == data.train_split else data.max_eval_samples
  samples = samples[:limit] if limit else samples
  _warn_long_sentences(samples, data.max_words, f"{data.name} {split}")
  return samples


def _warn_long_sentences(samples: list[Sample], max_words: int, where: str) -> None:
  """Says how many sentences the model sees only the first `max_words` words of.

  Truncation is CSTM's rule (its vocabulary and model see 20 words), so it is kept, but
  never silent.
  """
  long = [s for s in samples if text_lib.tokenize(s.sentence, max_words).truncated]
  if long:
    logging.warning("%s: %d of %d sentences have more than %d words and are truncated "
                    "to their first %d (data.max_words), e.g. %r of video %s", where,
                    len(long), len(samples), max_words, max_words, long[0].sentence,
                    long[0].video_id)


def word_vectors(data, workdir: str, samples: list[Sample], most_frequent: int = 0
                 ) -> text_lib.WordVectors:
  """The workdir's word-vector table, built from GloVe on first use (with the
  `most_frequent` GloVe words besides the sentences' words)."""
  path = os.path.join(workdir, WORD_VECTORS_FILE)
  if os.path.exists(path):
    return text_lib.WordVectors.load(path)
  glove = data.glove or os.path.join(data.root, SYNTHETIC_GLOVE)
  if not os.path.exists(glove):
    raise DataError(f"GloVe file {glove!r} not found: pass --config.data.glove=<path to "
                    "glove.840B.300d.zip or .txt>.")
  vocab = text_lib.vocabulary(s.sentence for s in samples)
  table = text_lib.WordVectors.from_glove(glove, vocab, most_frequent=most_frequent)
  logging.info("word vectors: %d of %d words found in %s", len(table), len(vocab), glove)
  os.makedirs(workdir, exist_ok=True)
  table.save(path)
  return table


def sentence_lookup(config, workdir: str, samples: list[Sample]):
  """What turns the sentences into the model's text input.

  glove_gru models: the workdir's GloVe table (`word_vectors`), flagged to pass row ids
  when the model carries the table (`glove_table`). BERT / RoBERTa / XLNet
  models: the subword tokenizer of the workdir (`tokenizer.json` +
  `tokenizer_settings.json`), copied there on first use from the converted encoder
  `config.pretrained.text`, so a workdir evaluates without it.
  """
  # pylint: disable=g-import-not-at-top
  from rvs_jax import text_features
  from rvs_jax.models import text
  # pylint: enable=g-import-not-at-top
  if config.model.get("text_name", text.GLOVE_GRU) == text.GLOVE_GRU:
    if not glove_table.carried(config.model):
      return word_vectors(config.data, workdir, samples)
    return word_vectors(config.data, workdir, samples,
                        config.model.get("text_glove_extra", 0)).in_model()
  return text_features.workdir_tokenizer(
      workdir, config.get("pretrained", {}).get("text", ""), config.data.max_words)


def make_pipeline(config, samples, vectors, *, train: bool, batch_size: int,
                  **kwargs) -> pipeline.InputPipeline:
  """An `InputPipeline` with the config's image size, clip rule and backend."""
  data = config.data
  return pipeline.InputPipeline(
      samples, vectors, batch_size=batch_size, height=data.image_size,
      width=data.image_size, train=train, seed=config.seed,
      num_clip_frames=data.num_frames, stride=data.clip_stride,
      max_words=data.max_words, cstm_border_quirk=data.cstm_border_quirk,
      backend=data.backend, num_workers=data.num_workers or None, **kwargs)
