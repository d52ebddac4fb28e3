"""A toy benchmark in one module: layout, writer, reader (what a new benchmark needs).

Layout (paths relative to `root`)::

  <split>/<video_id>.npz       frames uint8 (T, H, W, 3), masks bool (T, H, W)
  sentences.json               {"<split>": {"<video_id>": "<sentence>"}}
  glove.synthetic.300d.txt     word vectors of the sentences (the default GloVe path)

Every frame of a video is a sample. `tests/test_registry.py` registers it and trains on
it; nothing else in the code base knows it exists.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Sequence

import numpy as np

from rvs_jax import text
from rvs_jax.data import synthetic
from rvs_jax.data.types import DataError, Sample

SPLITS = ("train", "test")
SENTENCES_FILE = "sentences.json"
CLIP_STRIDE = 1


@dataclasses.dataclass(frozen=True)
class NpzVideo:
  """VideoSource over the `frames` array of one `.npz` file."""
  path: str

  def _frames(self) -> np.ndarray:
    with np.load(self.path) as f:
      return f["frames"]

  @property
  def num_frames(self) -> int:
    return self._frames().shape[0]

  def load(self, indices: Sequence[int]) -> np.ndarray:
    return self._frames()[list(indices)]


@dataclasses.dataclass(frozen=True)
class NpzMask:
  """MaskSource over frame `index` of the `masks` array of one `.npz` file."""
  path: str
  index: int

  def load(self) -> np.ndarray:
    with np.load(self.path) as f:
      return f["masks"][self.index]


def write_toy(root: str, *, num_frames: int = 4, size: int = 16) -> dict[str, int]:
  """Writes two train videos and one test video; returns the sample count per split."""
  spec = {"train": {"toyA": "the red square", "toyB": "a red square moving"},
          "test": {"toyC": "the red square"}}
  for split, videos in spec.items():
    os.makedirs(os.path.join(root, split), exist_ok=True)
    for k, vid in enumerate(videos):
      frames = np.zeros((num_frames, size, size, 3), np.uint8)
      masks = np.zeros((num_frames, size, size), bool)
      for t in range(num_frames):
        masks[t, 2 + t:8 + t, 3 + k:9 + k] = True
        frames[t][masks[t]] = (220, 20, 20)
      np.savez(os.path.join(root, split, f"{vid}.npz"), frames=frames, masks=masks)
  with open(os.path.join(root, SENTENCES_FILE), "w", encoding="utf-8") as f:
    json.dump(spec, f)
  words = text.vocabulary(s for v in spec.values() for s in v.values())
  synthetic.write_glove(os.path.join(root, synthetic.GLOVE_NAME), words)
  return {split: num_frames * len(videos) for split, videos in spec.items()}


def load_toy(root: str, split: str) -> list[Sample]:
  """Every frame of every video of `split` is a sample."""
  if split not in SPLITS:
    raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
  path = os.path.join(root, SENTENCES_FILE)
  if not os.path.isfile(path):
    raise DataError(f"{path}: missing sentence file")
  with open(path, encoding="utf-8") as f:
    sentences = json.load(f)[split]
  samples = []
  for vid, sentence in sorted(sentences.items()):
    npz = os.path.join(root, split, f"{vid}.npz")
    video = NpzVideo(npz)
    for t in range(video.num_frames):
      samples.append(Sample(sample_id=f"{vid}/{t}", video_id=vid, video=video, target=t,
                            sentence=sentence, mask=NpzMask(npz, t), info={"frame": t}))
  return samples
