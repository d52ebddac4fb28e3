"""Segmenting frames from Python: load a checkpoint once, then segment any video.

    from rvs_jax.inference.segmenter import Segmenter, read_video

    seg = Segmenter.load("workdir")  # or workdir/best/60, or a converted checkpoint
    frames = read_video("clip.mp4").frames   # or any uint8 (T, H, W, 3) RGB array
    result = seg.segment(frames, ["the red square", "a blue circle moving left"])
    result.masks                             # bool (K, T, H, W): the frames' own size
    result.probs                             # float32 (K, T, S, S): the model's size
    result.probabilities(0, 5)               # float32 (H, W): sentence 0, frame 5

Every frame t is segmented from its own clip: the config's T frames at its stride
centred on t, clamped at the ends of the video (`pipeline.clip_indices`), resized like
the training input (`pipeline.resize_frames_uint8`). Clips of all sentences go through
one jit-compiled function in batches of a fixed size (the last batch padded), so there
is a single compilation however many frames and sentences come; JAX runs it on its
default device (the GPU when there is one). The final response map is resized to the
frame's own size (bilinear, on the probabilities) and thresholded, as the `clean`
evaluation protocol does (`protocols.binarize_clean`).

`rvs-predict` (`rvs_jax.inference.predict`) is this module plus files on disk.
"""

from __future__ import annotations

import dataclasses
import os
import re
import sys
from typing import Sequence

import numpy as np

from rvs_jax import checkpointing
from rvs_jax import text as text_lib
from rvs_jax.data.types import DataError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
DEFAULT_FPS = 24.0


class InputError(ValueError):
  """Frames or sentences the model cannot take; the message is one line."""


@dataclasses.dataclass
class Video:
  """Decoded input frames: uint8 `(T, H, W, 3)` RGB, the frame rate, the source path."""
  frames: np.ndarray
  fps: float
  source: str


@dataclasses.dataclass
class Sentence:
  """An encoded sentence: vectors `(N, E)`, mask `(N,)`, real tokens, unknown words."""
  text: str
  vectors: np.ndarray
  mask: np.ndarray
  tokens: list[str]
  unknown: list[str]


# --------------------------------------------------------------------------------------
# Inputs.
# --------------------------------------------------------------------------------------


def _natural_key(name: str) -> list:
  return [int(p) if p.isdigit() else p.lower() for p in re.split(r"(\d+)", name)]


def read_video(path: str) -> Video:
  """Frames of a video file PyAV decodes or of a folder of images (natural name order).

  Raises:
    InputError: missing path, unreadable video or image, no frames.
  """
  # pylint: disable=g-import-not-at-top
  from rvs_jax.data import video_io
  if os.path.isdir(path):
    names = sorted(
        (n for n in os.listdir(path) if n.lower().endswith(IMAGE_EXTENSIONS)),
        key=_natural_key)
    if not names:
      raise InputError(f"no frames: folder {path} holds no image files "
                       f"({' '.join(IMAGE_EXTENSIONS)})")
    source = video_io.FrameFolder([os.path.join(path, n) for n in names])
    try:
      frames = source.load(range(len(names)))
    except DataError as e:
      raise InputError(str(e).splitlines()[0]) from None
    return Video(frames, DEFAULT_FPS, path)
  if not os.path.exists(path):
    raise InputError(f"video not found: {path}")
  try:
    frames = video_io.decode_mp4(path)
  except DataError as e:
    message = str(e).splitlines()[0]
    if "no decodable frames" in message or "no video stream" in message:
      raise InputError(f"no frames: {message}") from None
    raise InputError(f"unreadable video: {message}") from None
  return Video(frames, _frame_rate(path), path)


def _frame_rate(path: str) -> float:
  """The stream's average frame rate (DEFAULT_FPS when the container does not say)."""
  import av  # pylint: disable=g-import-not-at-top
  try:
    with av.open(path) as container:
      rate = container.streams.video[0].average_rate
    return float(rate) if rate else DEFAULT_FPS
  except (av.FFmpegError, OSError, ValueError, IndexError, ZeroDivisionError):
    return DEFAULT_FPS


def encode_sentences(sentences: Sequence[str], vectors: text_lib.WordVectors,
                     max_words: int) -> list[Sentence]:
  """Word vectors of every sentence; unknown words are warned about on stderr.

  Raises:
    InputError: an empty sentence, or one in which no word has a vector.
  """
  out = []
  for s in sentences:
    try:
      vecs, mask, unknown = vectors.encode(s, max_words, allow_all_unknown=True)
    except DataError as e:
      raise InputError(f"sentence {s!r}: {str(e).splitlines()[0]}") from None
    tokens = list(text_lib.tokenize(s, max_words).tokens[:int(mask.sum())])
    if len(unknown) == len(tokens):
      raise InputError(
          f"no word of the sentence {s!r} is in the checkpoint's vocabulary (unknown: "
          f"{', '.join(unknown)}); the model would see only zeros")
    if unknown:
      print(f"warning: {s!r}: unknown words {', '.join(unknown)} (read as zeros, as in "
            "training)", file=sys.stderr)
    out.append(Sentence(s, vecs, mask, tokens, unknown))
  return out


def check_frames(frames, source: str = "frames") -> np.ndarray:
  """`frames` as a uint8 `(T, H, W, 3)` array with T, H, W >= 1.

  Raises:
    InputError: any other type, dtype or shape (naming `source`).
  """
  frames = np.asarray(frames)
  if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
    raise InputError(f"{source}: expected uint8 RGB frames (T, H, W, 3), got "
                     f"{frames.dtype} {frames.shape}")
  if 0 in frames.shape:
    raise InputError(f"{source}: no frames (shape {frames.shape})")
  return frames


def to_masks(probs: np.ndarray, height: int, width: int,
             threshold: float) -> np.ndarray:
  """float `(T, S, S)` probabilities -> bool `(T, height, width)` (clean protocol)."""
  from rvs_jax.evaluation import protocols  # pylint: disable=g-import-not-at-top
  return np.stack([protocols.binarize_clean(p, (height, width), threshold)[1]
                   for p in probs])


# --------------------------------------------------------------------------------------
# The model.
# --------------------------------------------------------------------------------------


@dataclasses.dataclass
class Segmentation:
  """What `Segmenter.segment` found.

  Attributes:
    masks: bool `(K, T, H, W)`, sentence-major, at the frames' own size.
    probs: float32 `(K, T, S, S)` final-map probabilities at the model's size.
    sentences: the K encoded sentences (tokens, unknown words).
    threshold: the probability above which a pixel is in a mask.
  """
  masks: np.ndarray
  probs: np.ndarray
  sentences: list[Sentence]
  threshold: float

  def probabilities(self, k: int, t: int) -> np.ndarray:
    """float32 `(H, W)`: sentence k, frame t, resized as its mask was (bilinear)."""
    from rvs_jax.evaluation import protocols  # pylint: disable=g-import-not-at-top
    return protocols.resize_prob(self.probs[k, t], self.masks.shape[2:])


class Segmenter:
  """A loaded checkpoint, run on clips in fixed-size batches (one compilation).

  `Segmenter.load(path)`, then `segment(frames, sentences)` as often as needed; see the
  module docstring for an example.
  """

  def __init__(self, loaded: checkpointing.Loaded, batch_size: int = 8):
    """Puts the weights on the default device and jit-wraps the forward.

    Args:
      loaded: `checkpointing.load(...)`.
      batch_size: clips per call (the last batch is padded to it).
    """
    # pylint: disable=g-import-not-at-top
    import jax
    from rvs_jax.evaluation import frame_eval
    if batch_size < 1:
      raise InputError(f"batch size must be >= 1, got {batch_size}")
    self.loaded = loaded
    self.constants = loaded.constants
    self.batch_size = batch_size
    self.variables = jax.device_put(loaded.variables)
    self.device = jax.devices()[0]
    self._predict = frame_eval.make_predict_fn(loaded.model)
    self._explain = None

  @classmethod
  def load(cls, path: str, config=None, word_vectors: str | None = None,
           batch_size: int = 8) -> "Segmenter":
    """A Segmenter for a checkpoint (`checkpointing.load`).

    Args:
      path: a training workdir (best step, else latest) or a converted checkpoint.
      config: a ConfigDict replacing the stored config.
      word_vectors: an `.npz` table replacing the checkpoint's vocabulary.
      batch_size: clips per call.

    Raises:
      checkpointing.CheckpointError: no checkpoint, or one that does not fit the config.
    """
    return cls(checkpointing.load(path, config, word_vectors), batch_size)

  def encode(self, sentences: Sequence[str]) -> list[Sentence]:
    """`encode_sentences` with this checkpoint's vocabulary and sentence length."""
    return encode_sentences(sentences, self.loaded.vectors, self.constants.max_words)

  def segment(self, frames: np.ndarray, sentences: str | Sequence[str | Sentence],
              threshold: float = 0.5, progress: bool = False) -> Segmentation:
    """Segments every frame for every sentence.

    Args:
      frames: uint8 `(T, H, W, 3)` RGB, in time order.
      sentences: one sentence, or K sentences (text, or `encode`d already).
      threshold: probability above which a pixel is in the mask, in [0, 1).
      progress: show a progress bar on stderr.

    Returns:
      `Segmentation`: masks `(K, T, H, W)` and probabilities `(K, T, S, S)`.

    Raises:
      InputError: bad frames, a threshold outside [0, 1), a sentence without a known
        word, or a model whose probabilities are not finite.
    """
    frames = check_frames(frames)
    if not 0.0 <= threshold < 1.0:
      raise InputError(f"threshold must be in [0, 1), got {threshold}")
    if isinstance(sentences, str):
      sentences = [sentences]
    encoded = [s if isinstance(s, Sentence) else self.encode([s])[0] for s in sentences]
    if not encoded:
      raise InputError("no sentence to segment")
    probs = self.probabilities(self.model_frames(frames), encoded, progress)
    from rvs_jax.evaluation import protocols  # pylint: disable=g-import-not-at-top
    height, width = frames.shape[1:3]
    # Filled in place: the masks of a long video are the largest array here.
    masks = np.empty(probs.shape[:2] + (height, width), bool)   # (K, T, H, W)
    for k, t in np.ndindex(*probs.shape[:2]):
      masks[k, t] = protocols.binarize_clean(probs[k, t], (height, width), threshold)[1]
    return Segmentation(masks, probs, encoded, threshold)

  def model_frames(self, frames: np.ndarray) -> np.ndarray:
    """uint8 `(T, H, W, 3)` -> uint8 `(T, S, S, 3)`, resized like the training input."""
    from rvs_jax.data import pipeline  # pylint: disable=g-import-not-at-top
    s = self.constants.image_size
    return pipeline.resize_frames_uint8(frames, s, s)

  def _batch(self, small: np.ndarray, sentences: Sequence[Sentence],
             items: Sequence[tuple[int, int]]) -> tuple[np.ndarray, ...]:
    """Model inputs for `(sentence, frame)` items, padded to the batch size."""
    from rvs_jax.data import pipeline  # pylint: disable=g-import-not-at-top
    c = self.constants
    items = list(items) + [items[-1]] * (self.batch_size - len(items))
    clips = [small[pipeline.clip_indices(t, len(small), c.num_frames, c.clip_stride)]
             for _, t in items]
    video = pipeline.to_unit_float(np.stack(clips))           # (B, T, S, S, 3)
    words = np.stack([sentences[k].vectors for k, _ in items])  # (B, N, E)
    mask = np.stack([sentences[k].mask for k, _ in items])      # (B, N)
    return video, words, mask

  def probabilities(self, small: np.ndarray, sentences: Sequence[Sentence],
                    progress: bool = False) -> np.ndarray:
    """Final-map probabilities of every frame and sentence.

    Args:
      small: uint8 `(T, S, S, 3)` frames at the model size (`model_frames`).
      sentences: the encoded sentences (K).
      progress: show a progress bar on a terminal.

    Returns:
      float32 `(K, T, S, S)`.

    Raises:
      InputError: some probabilities are NaN/Inf (unusable weights).
    """
    from tqdm import tqdm  # pylint: disable=g-import-not-at-top
    k_count, t_count, s = len(sentences), len(small), self.constants.image_size
    items = [(k, t) for k in range(k_count) for t in range(t_count)]
    out = np.empty((k_count, t_count, s, s), np.float32)
    bar = tqdm(total=len(items), unit="clip", disable=None if progress else True,
               dynamic_ncols=True, file=sys.stderr)

    def collect(pending):
      chunk, probs = pending
      probs = np.asarray(probs)
      for (k, t), p in zip(chunk, probs):
        out[k, t] = p
      bar.update(len(chunk))

    pending = None
    try:
      for start in range(0, len(items), self.batch_size):
        chunk = items[start:start + self.batch_size]
        # Dispatch is asynchronous: the next batch is prepared on the host while the
        # device runs this one; results are fetched one batch behind.
        probs = self._predict(self.variables, *self._batch(small, sentences, chunk))
        if pending is not None:
          collect(pending)
        pending = (chunk, probs)
      if pending is not None:
        collect(pending)
    finally:
      bar.close()
    bad = ~np.isfinite(out).all(axis=(2, 3))                    # (K, T)
    if bad.any():
      k, t = np.argwhere(bad)[0]
      raise InputError(
          f"the model produced NaN/Inf probabilities for {int(bad.sum())} of "
          f"{bad.size} clips (first: sentence {k}, frame {t}); its weights are not "
          "usable, no masks were written")
    return out

  def explain(self, frames: np.ndarray, sentences: Sequence[Sentence],
              items: Sequence[tuple[int, int]]) -> list[dict]:
    """`explain.make_explain_fn` outputs for `(sentence, frame)` items, one dict each.

    Args:
      frames: uint8 `(T, H, W, 3)`, the whole video (clips reach the neighbours).
      sentences: the encoded sentences.
      items: `(sentence index, frame index)` pairs.
    """
    import jax  # pylint: disable=g-import-not-at-top
    from rvs_jax.pictures import explain  # pylint: disable=g-import-not-at-top
    if self._explain is None:
      self._explain = explain.make_explain_fn(self.loaded.model)
    small = self.model_frames(frames)
    results = []
    for start in range(0, len(items), self.batch_size):
      chunk = items[start:start + self.batch_size]
      out = jax.device_get(self._explain(self.variables,
                                         *self._batch(small, sentences, chunk)))
      for b in range(len(chunk)):
        results.append(jax.tree.map(lambda x, b=b: np.asarray(x)[b], out))
    return results
