"""Video sources: mp4 files decoded with PyAV, and folders of frame images.

`Mp4Video` decodes the *whole* file on first use and keeps the uint8 frames of the most
recently used videos in a process-wide LRU cache bounded in bytes. Random access in an
H.264 stream costs a decode from the previous key frame anyway, and the input pipeline
samples 8 frames of a video at a time (and, at evaluation, several targets of the same
video in a row), so decoding once and slicing is both simpler and faster.

Frames are returned as RGB (`rgb24`) whatever the stored pixel format, which also turns
grayscale videos into 3-channel ones. This matches CSTM, which extracted the A2D frames
with OpenCV and read them with `PIL.Image.open(...).convert('RGB')`; the YUV->RGB
conversion of FFmpeg's swscale and OpenCV's may differ by a grey level or two.
"""

from __future__ import annotations

import collections
import os
import threading
from typing import Iterator, Sequence

import av
from av.video.reformatter import VideoReformatter
import numpy as np
from PIL import Image

from rvs_jax.data.types import DataError

# Default LRU budget: a 320x570 A2D clip of ~130 frames is ~70 MB decoded.
_DEFAULT_CACHE_BYTES = int(os.environ.get("RVS_JAX_VIDEO_CACHE_MB", "512")) * 2**20


class _FrameCache:
  """Thread-safe LRU of decoded videos, bounded in bytes (keeps at least one entry)."""

  def __init__(self, max_bytes: int):
    self.max_bytes = max_bytes
    self._data: collections.OrderedDict[str, np.ndarray] = collections.OrderedDict()
    self._bytes = 0
    self._lock = threading.Lock()
    # One lock per path being decoded, so two threads asking for the same video decode
    # it once while different videos decode in parallel.
    self._path_locks: dict[str, threading.Lock] = {}

  def get(self, key: str) -> np.ndarray | None:
    with self._lock:
      arr = self._data.get(key)
      if arr is not None:
        self._data.move_to_end(key)
      return arr

  def put(self, key: str, arr: np.ndarray) -> None:
    with self._lock:
      if key in self._data:
        return
      self._data[key] = arr
      self._bytes += arr.nbytes
      while self._bytes > self.max_bytes and len(self._data) > 1:
        _, old = self._data.popitem(last=False)
        self._bytes -= old.nbytes

  def path_lock(self, key: str) -> threading.Lock:
    with self._lock:
      return self._path_locks.setdefault(key, threading.Lock())

  def clear(self) -> None:
    with self._lock:
      self._data.clear()
      self._bytes = 0


FRAME_CACHE = _FrameCache(_DEFAULT_CACHE_BYTES)


def set_cache_limit(max_bytes: int) -> None:
  """Sets the decoded-frame cache budget (bytes) of all `Mp4Video`s in this process."""
  FRAME_CACHE.max_bytes = int(max_bytes)


def decode_mp4(path: str) -> np.ndarray:
  """Decodes every frame of a video file.

  Args:
    path: the video file.

  Returns:
    uint8 `(T, H, W, 3)` RGB frames.

  Raises:
    DataError: missing, corrupt, truncated-to-nothing or frame-less file.
  """
  return np.stack(list(iter_mp4(path)))


def frame_count(path: str) -> int:
  """The number of frames a video file announces, without decoding it.

  The container header's count when it has one, else the number of video packets
  (demuxing only, ~1000x faster than decoding). Meant for progress bars and for
  choosing frames up front; `iter_mp4` is the authority on how many frames decode.

  Raises:
    DataError: missing file, or one FFmpeg cannot open or that has no video stream.
  """
  if not os.path.isfile(path):
    raise DataError(f"video file not found: {path}")
  try:
    with av.open(path) as container:
      if not container.streams.video:
        raise DataError(f"{path}: no video stream")
      stream = container.streams.video[0]
      if stream.frames:
        return int(stream.frames)
      return sum(1 for packet in container.demux(stream) if packet.size)
  except DataError:
    raise
  except (av.FFmpegError, OSError, ValueError, EOFError) as e:
    raise DataError(f"cannot decode video {path}: {type(e).__name__}: {e}") from e


def iter_mp4(path: str) -> Iterator[np.ndarray]:
  """Decodes a video file one frame at a time: uint8 `(H, W, 3)` RGB frames.

  The checks of `decode_mp4` hold for the frames as they come: a frame of another size
  or a decoding error raises where it happens, a file that yields no frame or fewer than
  its header announces raises at the end.

  Raises:
    DataError: missing, corrupt, truncated or frame-less file.
  """
  if not os.path.isfile(path):
    raise DataError(f"video file not found: {path}")
  count, expected, shape = 0, 0, None
  try:
    with av.open(path) as container:
      if not container.streams.video:
        raise DataError(f"{path}: no video stream")
      stream = container.streams.video[0]
      # One decoding thread: the input pipeline already decodes several videos in
      # parallel, and codec threads only add start-up cost for short clips.
      stream.thread_count = 1
      expected = stream.frames or 0  # From the container header; 0 when unknown.
      # One reformatter for all frames: `frame.to_ndarray(format=...)` builds a new
      # swscale context per frame, which costs 3x the decoding itself on small clips.
      reformatter = VideoReformatter()
      for frame in container.decode(stream):
        rgb = reformatter.reformat(frame, format="rgb24").to_ndarray()
        if shape is None:
          shape = rgb.shape
        elif rgb.shape != shape:
          raise DataError(f"{path}: frame size changes inside the video: frame 0 is "
                          f"{shape}, frame {count} {rgb.shape}")
        count += 1
        yield rgb
  except DataError:
    raise
  except (av.FFmpegError, OSError, ValueError, EOFError) as e:
    # A truncated file usually still yields its first frames and then errors; keeping
    # partial videos would silently shift the sampling, so it is an error.
    raise DataError(f"cannot decode video {path}: {type(e).__name__}: {e}") from e
  if not count:
    raise DataError(f"video has no decodable frames: {path}")
  if count < expected:
    # Files whose index sits at the front ("faststart") decode their first frames and
    # then stop silently when truncated; the header still knows the full length.
    raise DataError(f"video truncated: {path} decodes {count} of the {expected} "
                    "frames its header announces")


class Mp4Video:
  """A `VideoSource` backed by an mp4 (any FFmpeg-readable) file."""

  def __init__(self, path: str | os.PathLike):
    self.path = os.fspath(path)

  def __repr__(self) -> str:
    return f"Mp4Video({self.path!r})"

  def frames(self) -> np.ndarray:
    """All frames, uint8 `(T, H, W, 3)`; decoded once, then served from the LRU cache."""
    arr = FRAME_CACHE.get(self.path)
    if arr is not None:
      return arr
    with FRAME_CACHE.path_lock(self.path):
      arr = FRAME_CACHE.get(self.path)
      if arr is None:
        arr = decode_mp4(self.path)
        arr.setflags(write=False)  # Shared between samples: nobody may modify it.
        FRAME_CACHE.put(self.path, arr)
    return arr

  @property
  def num_frames(self) -> int:
    return self.frames().shape[0]

  def load(self, indices: Sequence[int]) -> np.ndarray:
    """uint8 RGB `(len(indices), H, W, 3)` for 0-based `indices`."""
    arr = self.frames()
    idx = np.asarray(indices, dtype=np.int64)
    if idx.size and (idx.min() < 0 or idx.max() >= arr.shape[0]):
      raise DataError(
          f"{self.path}: frame indices {idx.tolist()} outside [0, {arr.shape[0] - 1}]")
    return arr[idx]


_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")


def image_to_rgb8(img: Image.Image) -> np.ndarray:
  """uint8 RGB `(H, W, 3)` of a PIL image; 16-bit images are scaled, not clipped.

  PIL's `convert("RGB")` clips a 16-bit grayscale PNG (mode "I;16") at 255, turning
  every pixel above 255 white; such frames are scaled to 8 bits as `round(x / 257)`
  (65535 -> 255) instead. Everything else converts as CSTM does (`convert("RGB")`).
  """
  if img.mode in _SIXTEEN_BIT_MODES:
    wide = np.asarray(img).astype(np.float64)  # (H, W)
    if img.mode == "I" and (wide.min() < 0 or wide.max() > 65535):
      raise ValueError(f"32-bit image with values in [{wide.min()}, {wide.max()}] is "
                       "not a 16-bit frame")
    gray = np.round(wide / 257.0).astype(np.uint8)
    return np.repeat(gray[:, :, None], 3, axis=2)
  return np.asarray(img.convert("RGB"))


class FrameFolder:
  """A `VideoSource` backed by one image file per frame (JPEG/PNG/...)."""

  def __init__(self, paths: Sequence[str | os.PathLike]):
    """Args: paths: the frame files in temporal order (index 0 = first frame)."""
    self.paths = [os.fspath(p) for p in paths]

  def __repr__(self) -> str:
    first = self.paths[0] if self.paths else ""
    return f"FrameFolder({len(self.paths)} frames, first={first!r})"

  @property
  def num_frames(self) -> int:
    return len(self.paths)

  def load(self, indices: Sequence[int]) -> np.ndarray:
    """uint8 RGB `(len(indices), H, W, 3)`; `image_to_rgb8` (CSTM's `.convert('RGB')`,
    16-bit frames scaled to 8 bits)."""
    out = []
    for i in indices:
      if not 0 <= i < len(self.paths):
        raise DataError(f"frame index {i} outside [0, {len(self.paths) - 1}] "
                        f"(first frame {self.paths[0] if self.paths else None})")
      path = self.paths[i]
      try:
        with Image.open(path) as img:
          out.append(image_to_rgb8(img))
      except (OSError, ValueError, SyntaxError) as e:
        raise DataError(f"{path}: unreadable frame ({e})") from e
    if len({a.shape for a in out}) > 1:
      raise DataError(f"frames of different sizes: {[self.paths[i] for i in indices]}")
    return np.stack(out) if out else np.zeros((0, 0, 0, 3), np.uint8)


class Mp4Writer:
  """Writes uint8 RGB frames to a video file one at a time (constant memory).

  Defaults are near-lossless H.264 in yuv420p, the usual pixel format of the A2D clips.
  yuv420p halves the chroma resolution, so for tiny coloured objects use
  `pix_fmt="yuv444p"` (still decodable by FFmpeg/PyAV; the synthetic benchmark does).
  If libx264 is not available the writer falls back to high-quality MPEG-4 Part 2.

      with Mp4Writer("out.mp4", fps=24) as writer:
        for frame in frames:        # uint8 (H, W, 3), or grayscale (H, W)
          writer.write(frame)

  The first frame fixes the size; the file is complete once the writer is closed.
  """

  def __init__(self, path: str | os.PathLike, fps: int = 24, codec: str = "libx264",
               crf: int = 12, pix_fmt: str = "yuv420p"):
    """Args: path: output file (`.mp4`); fps: frame rate; codec: FFmpeg encoder name;
    crf: libx264 constant-rate factor (0 = lossless, 12 = visually lossless);
    pix_fmt: encoder pixel format."""
    if codec == "libx264" and "libx264" not in av.codecs_available:
      codec, options = "mpeg4", {"qscale": "2"}
    elif codec == "libx264":
      # Deterministic, single-threaded output: identical bytes for identical frames.
      options = {"crf": str(crf), "preset": "veryfast", "threads": "1"}
    else:
      options = {}
    self.path, self.fps, self.pix_fmt = os.fspath(path), fps, pix_fmt
    self._codec, self._options = codec, options
    self._container = av.open(self.path, mode="w")
    self._stream = None
    self.frames_written = 0

  def write(self, frame: np.ndarray) -> None:
    """Encodes one uint8 `(H, W, 3)` (or `(H, W)`) frame of the video's size."""
    frame = np.asarray(frame)
    if frame.ndim == 2:
      frame = np.repeat(frame[..., None], 3, axis=-1)
    if frame.ndim != 3 or frame.shape[-1] != 3 or frame.dtype != np.uint8:
      raise ValueError(
          f"frames must be uint8 (H, W, 3), got {frame.dtype} {frame.shape}")
    h, w = frame.shape[:2]
    if self._stream is None:
      if self.pix_fmt == "yuv420p" and (h % 2 or w % 2):
        raise ValueError(f"yuv420p needs even frame sizes, got {h}x{w}")
      self._stream = self._container.add_stream(self._codec, rate=self.fps,
                                                options=self._options)
      self._stream.width, self._stream.height = w, h
      self._stream.pix_fmt = self.pix_fmt
      if self._codec == "mpeg4":
        self._stream.codec_context.qscale = 2
    elif (h, w) != (self._stream.height, self._stream.width):
      raise ValueError(f"{self.path}: frame {self.frames_written} is {h}x{w}, the "
                       f"video {self._stream.height}x{self._stream.width}")
    for packet in self._stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
      self._container.mux(packet)
    self.frames_written += 1

  def close(self) -> None:
    """Flushes the encoder and closes the file."""
    if self._container is None:
      return
    try:
      if self._stream is not None:
        for packet in self._stream.encode():
          self._container.mux(packet)
    finally:
      self._container.close()
      self._container = None

  def __enter__(self) -> "Mp4Writer":
    return self

  def __exit__(self, *exc) -> None:
    self.close()


def write_mp4(path: str | os.PathLike, frames: np.ndarray, fps: int = 24,
              codec: str = "libx264", crf: int = 12, pix_fmt: str = "yuv420p") -> None:
  """Writes uint8 RGB frames `(T, H, W, 3)` (or grayscale `(T, H, W)`): `Mp4Writer`."""
  frames = np.asarray(frames)
  if frames.ndim not in (3, 4) or frames.dtype != np.uint8 or (
      frames.ndim == 4 and frames.shape[-1] != 3):
    raise ValueError(
        f"frames must be uint8 (T, H, W, 3), got {frames.dtype} {frames.shape}")
  with Mp4Writer(path, fps, codec, crf, pix_fmt) as writer:
    for frame in frames:
      writer.write(frame)
