"""The files `rvs-predict` writes, written frame by frame as the segmenter yields them.

Nothing here holds more than a frame of the video, whatever its length: masks go to
PNGs and to `.npy` files appended to as they come (gathered into `masks.npz` at the
end by streaming them into the zip), overlay frames to an mp4 encoder, and the GIF
keeps at most `GIF_MAX_FRAMES` small palette frames (longer videos are sampled).
"""

from __future__ import annotations

import math
import os
import struct
import zipfile

import numpy as np
from PIL import Image

GIF_MAX_FRAMES = 300    # A GIF of a long video is every k-th frame, at most this many.
GIF_MAX_SIDE = 480
_NPY_HEADER_BYTES = 128  # Reserved for the header, rewritten with the final shape.


class NpyAppender:
  """A `.npy` file grown one `(…)`-shaped item at a time along a new first axis.

  The header is written with room to spare and rewritten with the final length on
  `close`, so the file `np.load` reads is an ordinary version-1.0 `.npy` file.
  """

  def __init__(self, path: str, item_shape: tuple[int, ...], dtype):
    self.path, self.item_shape, self.dtype = path, tuple(item_shape), np.dtype(dtype)
    self.length = 0
    self._file = open(path, "wb")
    self._write_header()

  def _write_header(self) -> None:
    header = repr({"descr": np.lib.format.dtype_to_descr(self.dtype),
                   "fortran_order": False,
                   "shape": (self.length,) + self.item_shape})
    size = _NPY_HEADER_BYTES - 10  # magic (6) + version (2) + header length (2)
    header = header.ljust(size - 1) + "\n"
    if len(header) > size:
      raise ValueError(f"{self.path}: shape {self.item_shape} too long for a header")
    self._file.seek(0)
    self._file.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", size) +
                     header.encode("latin1"))

  def append(self, item: np.ndarray) -> None:
    item = np.ascontiguousarray(item, self.dtype)
    if item.shape != self.item_shape:
      raise ValueError(f"{self.path}: item of shape {item.shape}, expected "
                       f"{self.item_shape}")
    self._file.write(item.tobytes())
    self.length += 1

  def close(self) -> None:
    if self._file.closed:
      return
    self._write_header()
    self._file.close()


def zip_npz(path: str, members: dict[str, str], scalars: dict[str, object]) -> None:
  """Writes an `np.load`-able `.npz` (deflated) of `.npy` files and small values.

  Args:
    path: the `.npz` to write.
    members: array name -> `.npy` file, streamed into the zip and then deleted.
    scalars: array name -> value (`np.asarray`-able), written as 0-d arrays.
  """
  with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as zf:
    for name, npy in members.items():
      zf.write(npy, f"{name}.npy")
      os.remove(npy)
    for name, value in scalars.items():
      with zf.open(f"{name}.npy", "w") as f:
        np.lib.format.write_array(f, np.asarray(value), allow_pickle=False)


class SentenceOutput:
  """One sentence's folder: `masks/<t:05d>.png`, then `masks.npz` on `close`.

  `masks.npz` holds `masks` bool `(T, H, W)`, `probs` float16 `(T, S, S)`, `sentence`
  and `threshold` (the layout `np.savez_compressed` would write).
  """

  def __init__(self, folder: str, text: str, threshold: float,
               frame_hw: tuple[int, int], size: int):
    self.folder, self.text, self.threshold = folder, text, threshold
    os.makedirs(os.path.join(folder, "masks"))
    self._masks = NpyAppender(os.path.join(folder, ".masks.npy"), frame_hw, bool)
    self._probs = NpyAppender(os.path.join(folder, ".probs.npy"), (size, size),
                              np.float16)
    self.mask_fraction: list[float] = []

  def add(self, t: int, mask: np.ndarray, probs: np.ndarray) -> None:
    """Frame t's bool `(H, W)` mask and float `(S, S)` probabilities."""
    Image.fromarray(mask.astype(np.uint8) * 255, "L").save(
        os.path.join(self.folder, "masks", f"{t:05d}.png"))
    self._masks.append(mask)
    self._probs.append(probs.astype(np.float16))
    self.mask_fraction.append(round(float(mask.mean()), 5))

  def close(self) -> None:
    self._masks.close()
    self._probs.close()
    zip_npz(os.path.join(self.folder, "masks.npz"),
            {"masks": self._masks.path, "probs": self._probs.path},
            {"sentence": self.text, "threshold": np.float32(self.threshold)})


class GifWriter:
  """An animated, looping GIF of at most `GIF_MAX_FRAMES` frames, `GIF_MAX_SIDE` px.

  A video announced as `num_frames` long keeps every `step`-th frame (step 1 up to
  `GIF_MAX_FRAMES` frames), played at `fps / step` so it lasts as long as the video.
  PIL writes a GIF from all its frames at once, hence the bound.
  """

  def __init__(self, path: str, num_frames: int, fps: float):
    self.path = path
    self.step = max(1, math.ceil(num_frames / GIF_MAX_FRAMES))
    self.duration = max(20, int(round(1000 * self.step / fps)))
    self._images: list[Image.Image] = []

  def add(self, t: int, frame: np.ndarray) -> None:
    if t % self.step or len(self._images) >= GIF_MAX_FRAMES:
      return
    img = Image.fromarray(frame)
    if max(img.size) > GIF_MAX_SIDE:
      ratio = GIF_MAX_SIDE / max(img.size)
      size = (max(2, round(img.width * ratio)), max(2, round(img.height * ratio)))
      img = img.resize(size, Image.BILINEAR)
    self._images.append(img.convert("P", palette=Image.Palette.ADAPTIVE, colors=128))

  def close(self) -> None:
    first, rest = self._images[0], self._images[1:]
    first.save(self.path, save_all=True, append_images=rest, loop=0,
               duration=self.duration, optimize=False)
