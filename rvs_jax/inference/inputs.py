"""What a user hands the segmenter: videos read frame by frame, and sentences.

`open_video(source)` accepts a video file PyAV decodes, a folder of frame images (sorted
by name, numbers compared as numbers) or a uint8 `(T, H, W, 3)` array, and returns a
`VideoStream`: its frame rate, the number of frames it announces and an iterator that
decodes one frame at a time, so nothing here holds more than one frame of a long video.
`read_video` is the same, collected into one array.

Every mistake is an `InputError` whose message is one line naming the file: a missing
path, a file that is not a video, a folder without images, an unreadable image, frames
of changing size, a sentence without a word the checkpoint knows.
"""

from __future__ import annotations

import dataclasses
import os
import re
import sys
from typing import Callable, Iterator, Sequence

import numpy as np

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
class VideoStream:
  """A video read one frame at a time.

  Attributes:
    source: the path, or "frames" for an array.
    fps: frames per second (the container's; `DEFAULT_FPS` for folders and arrays).
    num_frames: the frames the source announces: exact for folders and arrays, the
      container's count for files (what actually decodes may be fewer, which iterating
      reports as an error, as `video_io.iter_mp4` does).
  """
  source: str
  fps: float
  num_frames: int
  _read: Callable[[], Iterator[np.ndarray]]

  def __iter__(self) -> Iterator[np.ndarray]:
    """uint8 `(H, W, 3)` RGB frames in time order, all of one size."""
    shape = None
    try:
      for t, frame in enumerate(self._read()):
        if shape is None:
          frame = check_frames(frame[None], self.source)[0]
          shape = frame.shape
        elif frame.shape != shape:
          raise InputError(f"{self.source}: frame {t} is {frame.shape}, frame 0 "
                           f"{shape}: the frames of a video must have one size")
        yield frame
    except DataError as e:
      raise _input_error(e) from None


def _natural_key(name: str) -> list:
  return [int(p) if p.isdigit() else p.lower() for p in re.split(r"(\d+)", name)]


def _input_error(e: DataError) -> InputError:
  message = str(e).splitlines()[0]
  if "no decodable frames" in message or "no video stream" in message:
    return InputError(f"no frames: {message}")
  if "unreadable frame" in message:
    return InputError(message)
  return InputError(f"unreadable video: {message}")


def open_video(source: str | os.PathLike | np.ndarray | VideoStream) -> VideoStream:
  """A `VideoStream` of a video file, a folder of frame images or a frame array.

  Files and folders are checked here (existence, a video stream, at least one image);
  frames are decoded only when the stream is iterated.

  Raises:
    InputError: missing path, not a video, no frames, or an array that is not uint8
      `(T, H, W, 3)`.
  """
  # pylint: disable=g-import-not-at-top
  from rvs_jax.data import video_io
  if isinstance(source, VideoStream):
    return source
  if not isinstance(source, (str, os.PathLike)):
    frames = check_frames(source)
    return VideoStream("frames", DEFAULT_FPS, len(frames), lambda: iter(frames))
  path = os.fspath(source)
  if os.path.isdir(path):
    names = sorted(
        (n for n in os.listdir(path) if n.lower().endswith(IMAGE_EXTENSIONS)),
        key=_natural_key)
    if not names:
      raise InputError(f"no frames: folder {path} holds no image files "
                       f"({' '.join(IMAGE_EXTENSIONS)})")
    folder = video_io.FrameFolder([os.path.join(path, n) for n in names])
    return VideoStream(path, DEFAULT_FPS, len(names),
                       lambda: (folder.load([t])[0] for t in range(len(names))))
  if not os.path.exists(path):
    raise InputError(f"video not found: {path}")
  try:
    count = video_io.frame_count(path)
  except DataError as e:
    raise _input_error(e) from None
  if not count:
    raise InputError(f"no frames: video has no decodable frames: {path}")
  return VideoStream(path, _frame_rate(path), count, lambda: video_io.iter_mp4(path))


def read_video(source: str | os.PathLike) -> Video:
  """All frames of a video file or image folder (`open_video`) in one array.

  Raises:
    InputError: missing path, unreadable video or image, no frames.
  """
  stream = open_video(source)
  return Video(np.stack(list(stream)), stream.fps, stream.source)


def _frame_rate(path: str) -> float:
  """The stream's average frame rate (DEFAULT_FPS when the container does not say)."""
  import av  # pylint: disable=g-import-not-at-top
  try:
    with av.open(path) as container:
      rate = container.streams.video[0].average_rate
    return float(rate) if rate else DEFAULT_FPS
  except (av.FFmpegError, OSError, ValueError, IndexError, ZeroDivisionError):
    return DEFAULT_FPS


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


@dataclasses.dataclass
class Sentence:
  """An encoded sentence: vectors `(N, E)` (token ids `(N,)` for a subword model),
  mask `(N,)`, real tokens, unknown words."""
  text: str
  vectors: np.ndarray
  mask: np.ndarray
  tokens: list[str]
  unknown: list[str]


def encode_sentences(sentences: Sequence[str], vectors: text_lib.WordVectors,
                     max_words: int) -> list[Sentence]:
  """Word vectors of every sentence; unknown words are warned about on stderr.

  Raises:
    InputError: an empty sentence, or one in which no word has a vector.
  """
  out = []
  if not isinstance(vectors, text_lib.WordVectors):
    # A subword tokenizer (BERT / RoBERTa / XLNet): token ids, and the subword tokens
    # (special tokens included) for the per-token pictures.
    for s in sentences:
      try:
        ids, mask, _ = vectors.encode_ids(s, max_words)
      except DataError as e:
        raise InputError(f"sentence {s!r}: {str(e).splitlines()[0]}") from None
      tokens = [t for t, m in zip(vectors.encode([s])[2][0], mask) if m]
      out.append(Sentence(s, ids, mask, tokens, []))
    return out
  for s in sentences:
    try:
      # A table the model carries (`WordVectors.in_model`) reads row ids.
      encode = vectors.encode_ids if vectors.passes_ids else vectors.encode
      vecs, mask, unknown = encode(s, max_words, allow_all_unknown=True)
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
