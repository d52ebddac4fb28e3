"""Segmenting videos from Python: load a checkpoint once, then segment any video.

    import rvs_jax

    seg = rvs_jax.load("workdir")   # or workdir/best/60, or a converted checkpoint
    result = seg.segment("clip.mp4", ["the red square", "a blue circle moving left"])
    result.masks                    # bool (K, T, H, W): the frames' own size
    result.probs                    # float32 (K, T, S, S): the model's size
    result.probabilities(0, 5)      # float32 (H, W): sentence 0, frame 5

`segment` keeps every mask of the video; `stream` yields one `FrameResult` per frame as
soon as it is segmented and holds only a bounded window of frames, whatever the video's
length (what `rvs-predict` writes its files from):

    for r in seg.stream("long.mp4", ["the dog"]):
      r.index, r.frame, r.masks[0], r.confidence[0]

Every frame t is segmented from its own clip: the config's T frames at its stride
centred on t, clamped at the ends of the video (`pipeline.clip_indices`), resized like
the training input (`pipeline.resize_frames_uint8`). Clips of all sentences go through
one jit-compiled function in batches of a fixed size (the last batch padded), so there
is a single compilation however many frames and sentences come; JAX runs it on its
default device (the GPU when there is one). The final response map is resized to the
frame's own size (bilinear, on the probabilities) and thresholded, as the `clean`
evaluation protocol does (`protocols.binarize_clean`).
"""

from __future__ import annotations

import collections
import dataclasses
import os
import time
from typing import Iterator, Sequence

import numpy as np

from rvs_jax import checkpointing, progress
from rvs_jax import text as text_lib
from rvs_jax.inference.inputs import (InputError, Sentence, Video, VideoStream,
                                      check_frames, encode_sentences, open_video,
                                      read_video)

__all__ = ["FrameResult", "InputError", "Segmentation", "Segmenter", "Sentence",
           "Video", "VideoStream", "check_frames", "encode_sentences", "load",
           "open_video", "read_video"]


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


@dataclasses.dataclass
class FrameResult:
  """One segmented frame, as `Segmenter.stream` yields it.

  Attributes:
    index: the frame's 0-based index in the video.
    frame: uint8 `(H, W, 3)`, the frame as read.
    masks: bool `(K, H, W)`, one per sentence.
    probs: float32 `(K, S, S)` final-map probabilities at the model's size.
    confidence: float32 `(K,)`: mean probability inside each mask (0 where empty).
    explained: for frames asked for with `explain=`, one `explain.make_explain_fn`
      output dict per sentence (CMAM attention, LASP samples); else None.
  """
  index: int
  frame: np.ndarray
  masks: np.ndarray
  probs: np.ndarray
  confidence: np.ndarray
  explained: list[dict] | None = None


def load(path: str, config=None, word_vectors: str | None = None,
         batch_size: int = 8, glove: str | None = None) -> "Segmenter":
  """A `Segmenter` for a checkpoint: `rvs_jax.load`; see `Segmenter.load`."""
  return Segmenter.load(path, config, word_vectors, batch_size, glove)


class Segmenter:
  """A loaded checkpoint, run on clips in fixed-size batches (one compilation).

  `Segmenter.load(path)` (or `rvs_jax.load(path)`), then `segment` or `stream` as often
  as needed; see the module docstring for an example.
  """

  def __init__(self, loaded: checkpointing.Loaded, batch_size: int = 8,
               glove: str | None = None):
    """Puts the weights on the default device and jit-wraps the forward.

    Args:
      loaded: `checkpointing.load(...)`.
      batch_size: clips per call (the last batch is padded to it).
      glove: a GloVe `.txt` / `.zip` in which `encode` looks up the words the
        checkpoint's vocabulary lacks (glove_gru models; an open vocabulary).
    """
    # pylint: disable=g-import-not-at-top
    import jax
    from rvs_jax.evaluation import frame_eval
    if batch_size < 1:
      raise InputError(f"batch size must be >= 1, got {batch_size}")
    if glove is not None and not isinstance(loaded.vectors, text_lib.WordVectors):
      raise InputError("--glove / glove= only applies to GloVe + GRU models; this one "
                       f"reads subword tokens ({loaded.config.model.text_name})")
    if glove is not None and not os.path.isfile(glove):
      raise InputError(f"GloVe file {glove!r} not found")
    self.glove = glove
    self.loaded = loaded
    self.constants = loaded.constants
    self.batch_size = batch_size
    self.variables = jax.device_put(loaded.variables)
    self.device = jax.devices()[0]
    self._predict = frame_eval.make_predict_fn(loaded.model)
    self._compiled = None
    self._explain = None

  @classmethod
  def load(cls, path: str, config=None, word_vectors: str | None = None,
           batch_size: int = 8, glove: str | None = None) -> "Segmenter":
    """A Segmenter for a checkpoint (`checkpointing.load`).

    Args:
      path: a training workdir (best step, else latest), one of its step folders, a
        converted checkpoint, or an exported `STEM.stablehlo` whose checkpoint (named
        in `STEM.json`) still exists.
      config: a ConfigDict replacing the stored config.
      word_vectors: an `.npz` table replacing the checkpoint's vocabulary.
      batch_size: clips per call.
      glove: a GloVe file for the words the vocabulary lacks (see `__init__`).

    Raises:
      checkpointing.CheckpointError: no checkpoint, or one that does not fit the config.
    """
    return cls(checkpointing.load(_checkpoint_of(path), config, word_vectors),
               batch_size, glove)

  def encode(self, sentences: Sequence[str]) -> list[Sentence]:
    """`encode_sentences` with this checkpoint's vocabulary and sentence length (grown
    from the `glove` file by the words it lacks, if one was given)."""
    if self.glove is not None:
      self._add_words(sentences)
    return encode_sentences(sentences, self.loaded.vectors, self.constants.max_words)

  def _add_words(self, sentences: Sequence[str]) -> None:
    """Looks up the sentences' words absent from the vocabulary in `self.glove`."""
    import jax  # pylint: disable=g-import-not-at-top
    from rvs_jax import glove_table  # pylint: disable=g-import-not-at-top
    vectors = self.loaded.vectors
    wanted = set()
    for s in sentences:
      try:
        wanted.update(t for t in text_lib.tokenize(s, self.constants.max_words).tokens
                      if t != text_lib.PAD_TOKEN and t not in vectors)
      except ValueError:
        continue  # `encode_sentences` reports the sentence.
    if not wanted:
      return
    found = text_lib.WordVectors.from_glove(self.glove, sorted(wanted))
    if not len(found):
      return
    vectors = vectors.extended(found)   # The vocabulary's own ids are unchanged.
    if vectors.passes_ids:
      # The model carries the table: it grows by the new rows (another shape, so the
      # forward compiles again).
      rows = max(len(vectors) + 1, glove_table.table(self.loaded.variables).shape[0])
      self.loaded.variables = _with_table(self.loaded.variables, vectors.rows(rows))
      self.variables = jax.device_put(self.loaded.variables)
      self._compiled = self._explain = None
    self.loaded.vectors = vectors

  def compile(self) -> float:
    """Compiles the batched forward now (else on first use); returns the seconds."""
    if self._compiled is None:
      from rvs_jax import models  # pylint: disable=g-import-not-at-top
      start = time.perf_counter()
      spec = models.input_spec(self.constants, self.batch_size,
                               model=self.loaded.config.model)
      self._compiled = self._predict.lower(self.variables, *spec).compile()
      return time.perf_counter() - start
    return 0.0

  def segment(self, video, sentences: str | Sequence[str | Sentence],
              threshold: float = 0.5, progress: bool = False) -> Segmentation:
    """Segments every frame for every sentence, keeping all masks in memory.

    Args:
      video: a video file, a folder of frame images, or uint8 `(T, H, W, 3)` RGB
        frames in time order (`open_video`).
      sentences: one sentence, or K sentences (text, or `encode`d already).
      threshold: probability above which a pixel is in the mask, in [0, 1).
      progress: show a progress bar on stderr.

    Returns:
      `Segmentation`: masks `(K, T, H, W)` and probabilities `(K, T, S, S)`.

    Raises:
      InputError: bad frames, a threshold outside [0, 1), a sentence without a known
        word, or a model whose probabilities are not finite.
    """
    masks, probs, encoded = [], [], self._sentences(sentences)
    for r in self.stream(video, encoded, threshold, progress):
      masks.append(r.masks)
      probs.append(r.probs)
    return Segmentation(np.stack(masks, 1), np.stack(probs, 1), encoded, threshold)

  def stream(self, video, sentences: str | Sequence[str | Sentence],
             threshold: float = 0.5, progress: bool = False,
             explain: Sequence[int] = ()) -> Iterator[FrameResult]:
    """Segments a video frame by frame, holding a bounded window of it.

    Frame t is yielded once the frames its clip needs are read and its K clips have run,
    in order. Frames are read, resized, batched and run as they come, with the next
    batch prepared while the device runs the current one; what is held is at most
    `clip span + batch size` frames, so memory does not grow with the video's length.

    Args:
      video: as `segment`.
      sentences: as `segment`.
      threshold: as `segment`.
      progress: a progress bar with ETA on stderr.
      explain: frame indices whose `FrameResult.explained` is filled (frames past the
        end are ignored).

    Raises:
      InputError: as `segment`; a decoding error raises when the bad frame is reached.
    """
    if not 0.0 <= threshold < 1.0:
      raise InputError(f"threshold must be in [0, 1), got {threshold}")
    return _Stream(self, open_video(video), self._sentences(sentences), threshold,
                   progress, explain).run()

  def _sentences(self, sentences) -> list[Sentence]:
    if isinstance(sentences, str):
      sentences = [sentences]
    encoded = [s if isinstance(s, Sentence) else self.encode([s])[0] for s in sentences]
    if not encoded:
      raise InputError("no sentence to segment")
    return encoded

  def model_frames(self, frames: np.ndarray) -> np.ndarray:
    """uint8 `(T, H, W, 3)` -> uint8 `(T, S, S, 3)`, resized like the training input."""
    from rvs_jax.data import pipeline  # pylint: disable=g-import-not-at-top
    s = self.constants.image_size
    return pipeline.resize_frames_uint8(frames, s, s)

  def inputs(self, clips: Sequence[np.ndarray], sentences: Sequence[Sentence]
             ) -> tuple[np.ndarray, ...]:
    """Model inputs for uint8 `(T, S, S, 3)` clips and their sentences, padded to the
    batch size (by repeating the last item)."""
    from rvs_jax.data import pipeline  # pylint: disable=g-import-not-at-top
    pad = self.batch_size - len(clips)
    clips, sentences = list(clips) + [clips[-1]] * pad, list(sentences) + [
        sentences[-1]] * pad
    video = pipeline.to_unit_float(np.stack(clips))           # (B, T, S, S, 3)
    words = np.stack([s.vectors for s in sentences])          # (B, N, E)
    mask = np.stack([s.mask for s in sentences])              # (B, N)
    return video, words, mask

  def run(self, clips: Sequence[np.ndarray], sentences: Sequence[Sentence]):
    """Dispatches one batch (asynchronously); a device array `(B, S, S)`."""
    self.compile()
    return self._compiled(self.variables, *self.inputs(clips, sentences))

  def explain_clips(self, clips: Sequence[np.ndarray],
                    sentences: Sequence[Sentence]) -> list[dict]:
    """`explain.make_explain_fn` outputs for (clip, sentence) pairs, one dict each."""
    import jax  # pylint: disable=g-import-not-at-top
    from rvs_jax.pictures import explain  # pylint: disable=g-import-not-at-top
    if self._explain is None:
      self._explain = explain.make_explain_fn(self.loaded.model)
    results = []
    for start in range(0, len(clips), self.batch_size):
      end = start + self.batch_size
      out = jax.device_get(self._explain(
          self.variables, *self.inputs(clips[start:end], sentences[start:end])))
      for b in range(len(clips[start:end])):
        results.append(jax.tree.map(lambda x, b=b: np.asarray(x)[b], out))
    return results


def _with_table(variables: dict, table: np.ndarray) -> dict:
  """`variables` with the carried GloVe table replaced by `table` (any row count)."""
  from rvs_jax import glove_table  # pylint: disable=g-import-not-at-top
  collection, module, name = glove_table.PATH
  out = dict(variables)
  out[collection] = dict(out[collection], **{module: dict(out[collection][module],
                                                            **{name: table})})
  return out


def _checkpoint_of(path: str) -> str:
  """An exported artifact's checkpoint: the folder its `.json` names, beside it."""
  import json  # pylint: disable=g-import-not-at-top
  import os  # pylint: disable=g-import-not-at-top
  if not path.endswith(".stablehlo"):
    return path
  meta = path[:-len(".stablehlo")] + ".json"
  try:
    with open(meta, encoding="utf-8") as f:
      name = json.load(f).get("checkpoint") or ""
  except (OSError, ValueError) as e:
    raise checkpointing.CheckpointError(
        f"{path}: an exported model whose {os.path.basename(meta)} is unreadable ({e})"
    ) from None
  # The artifact stores the checkpoint's name only (it travels, paths do not).
  checkpoint = os.path.join(os.path.dirname(os.path.abspath(path)), name)
  if not name or not os.path.isdir(checkpoint):
    raise checkpointing.CheckpointError(
        f"{path}: an exported model; its checkpoint {name!r} is not beside it. Load "
        "the artifact with rvs_jax.inference.export.load, or give the checkpoint")
  return checkpoint


class _Stream:
  """The state of one `Segmenter.stream` call: a sliding window over the video.

  `small` holds the model-size frames the queued and future clips still need, `full`
  the frames read but not yet yielded, `queue` the `(sentence, frame)` items waiting for
  a batch, `probs` the results of frames whose K items are not all back.
  """

  def __init__(self, seg: Segmenter, video: VideoStream, sentences: list[Sentence],
               threshold: float, progress: bool, explain: Sequence[int]):
    # pylint: disable=g-import-not-at-top
    from rvs_jax.data import pipeline
    self.seg, self.video, self.sentences = seg, video, sentences
    self.threshold, self.progress = threshold, progress
    self.explain = set(explain)
    c = seg.constants
    self._clip = lambda t, count: pipeline.clip_indices(t, count, c.num_frames,
                                                        c.clip_stride)
    far = 10**9  # Any frame far from both ends: the clip's offsets, unclamped.
    offsets = self._clip(far, 2 * far) - far
    self.behind, self.ahead = int(-offsets.min()), int(offsets.max())
    self.small: dict[int, np.ndarray] = {}
    self.full: dict[int, np.ndarray] = {}
    self.queue: collections.deque = collections.deque()
    self.probs: dict[int, np.ndarray] = {}
    self.returned = collections.Counter()
    self.explained: dict[int, list[dict]] = {}
    self.read = 0           # Frames read so far.
    self.queued = 0         # Frames whose items are queued.
    self.emitted = 0        # Frames yielded.
    self.count = None       # Frames in the video, once the end is reached.

  def run(self) -> Iterator[FrameResult]:
    k_count = len(self.sentences)
    self.bar = progress.bar(self.video.num_frames * k_count, "segmenting", "clip",
                            show=self.progress)
    pending = None
    try:
      for frame in self.video:
        self.full[self.read] = frame
        self.small[self.read] = self.seg.model_frames(frame[None])[0]
        self.read += 1
        # A clip reaching `ahead` frames forward is complete once they are read.
        while self.queued + self.ahead < self.read:
          self._enqueue(self.read)
        while len(self.queue) >= self.seg.batch_size:
          pending = yield from self._dispatch(pending, self.read)
      self.count = self.read
      if self.bar.total != self.count * k_count:
        self.bar.total = self.count * k_count
        self.bar.refresh()
      while self.queued < self.count:
        self._enqueue(self.count)
      while self.queue:
        pending = yield from self._dispatch(pending, self.count)
      if pending is not None:
        yield from self._collect(*pending)
    finally:
      self.bar.close()

  def _enqueue(self, known: int) -> None:
    """Queues frame `self.queued`'s K items; explains it now if asked for."""
    t = self.queued
    if t in self.explain:
      clip = self.small_clip(t, known)
      self.explained[t] = self.seg.explain_clips([clip] * len(self.sentences),
                                                 self.sentences)
    self.queue.extend((k, t) for k in range(len(self.sentences)))
    self.queued += 1

  def small_clip(self, t: int, known: int) -> np.ndarray:
    """uint8 `(T, S, S, 3)`: the clip of frame t among the `known` frames read."""
    return np.stack([self.small[i] for i in self._clip(t, known)])

  def _dispatch(self, pending, known: int):
    """Runs the next batch; collects the previous one (one batch behind)."""
    n = min(self.seg.batch_size, len(self.queue))
    chunk = [self.queue.popleft() for _ in range(n)]
    clips = [self.small_clip(t, known) for _, t in chunk]
    out = self.seg.run(clips, [self.sentences[k] for k, _ in chunk])
    # The oldest frame a queued or future clip can reach; earlier ones are done with.
    first = self.queue[0][1] if self.queue else self.queued
    for i in [i for i in self.small if i < first - self.behind]:
      del self.small[i]
    if pending is not None:
      yield from self._collect(*pending)
    return chunk, out

  def _collect(self, chunk, out) -> Iterator[FrameResult]:
    """Stores a batch's probabilities and yields the frames it completes, in order."""
    from rvs_jax.evaluation import protocols  # pylint: disable=g-import-not-at-top
    out = np.asarray(out)[:len(chunk)]
    k_count, size = len(self.sentences), self.seg.constants.image_size
    finite = np.isfinite(out).all(axis=(1, 2))
    if not finite.all():
      k, t = chunk[int(np.argmin(finite))]
      raise InputError(
          f"the model produced NaN/Inf probabilities (sentence {k}, frame {t}); its "
          "weights are not usable")
    for (k, t), p in zip(chunk, out):
      self.probs.setdefault(t, np.empty((k_count, size, size), np.float32))[k] = p
      self.returned[t] += 1
    self.bar.update(len(chunk))
    while self.returned.get(self.emitted) == k_count:
      t = self.emitted
      frame, probs = self.full.pop(t), self.probs.pop(t)
      del self.returned[t]
      masks = np.empty((k_count,) + frame.shape[:2], bool)           # (K, H, W)
      confidence = np.zeros(k_count, np.float32)
      for k in range(k_count):
        full = protocols.resize_prob(probs[k], frame.shape[:2])      # (H, W)
        masks[k] = full > self.threshold                             # binarize_clean
        if masks[k].any():
          confidence[k] = full[masks[k]].mean()
      self.emitted += 1
      yield FrameResult(t, frame, masks, probs, confidence, self.explained.pop(t, None))
