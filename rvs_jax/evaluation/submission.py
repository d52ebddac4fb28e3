"""The video benchmarks' submission files: PNG masks in the servers' layout.

Under `out_dir` (`W/eval/<dataset>_<split>`):

  Annotations/<video>/<exp_id>/<frame>.png
      'L'-mode PNGs, 0 / 255, original resolution, every frame;
  anno_<slot>/<video>/<frame>.png                           (Ref-DAVIS only)
      indexed PNGs with the DAVIS palette, one label per object of the slot;

and next to it `<out_dir>_submission.zip`: the `Annotations/` tree, renamed into place
complete. The zip keeps the `Annotations/` folder (the Ref-YouTube-VOS server format) or
puts `<video>/<exp_id>/<frame>.png` at its root (`zip_root=""`, the MeViS server format;
the benchmark's `registry.Benchmark.submission_root`).
"""

from __future__ import annotations

import os
import shutil
import zipfile

import numpy as np
from PIL import Image

from rvs_jax import files
from rvs_jax.data.refer_youtube_vos import palette as davis_palette

ANNOTATIONS = "Annotations"
NUM_SLOTS = 4


def save_png(path: str, image: np.ndarray, indexed: bool = False) -> None:
  """uint8 `(H, W)` as a PNG (`indexed`: with the DAVIS palette); makes the folder."""
  os.makedirs(os.path.dirname(path), exist_ok=True)
  im = Image.fromarray(image)
  if indexed:
    im.putpalette(davis_palette())
  im.save(path)


class SubmissionWriter:
  """Writes one benchmark split's files into `out_dir` (layout: module docstring)."""

  def __init__(self, out_dir: str, zip_root: str = ANNOTATIONS):
    self.out_dir = out_dir
    self.zip_root = zip_root

  @property
  def annotations(self) -> str:
    return os.path.join(self.out_dir, ANNOTATIONS)

  def clear(self) -> None:
    """Removes the trees of an earlier run: stale files would end up in the zip."""
    for name in [ANNOTATIONS] + [f"anno_{k}" for k in range(NUM_SLOTS)]:
      shutil.rmtree(os.path.join(self.out_dir, name), ignore_errors=True)

  def mask(self, video: str, exp_id: str, frame: str, mask: np.ndarray) -> None:
    """bool `(H, W)` of one expression on one frame, as a 0 / 255 PNG."""
    save_png(os.path.join(self.annotations, video, exp_id, frame + ".png"),
             mask.astype(np.uint8) * 255)

  def labels(self, slot: int, video: str, frame: str, labels: np.ndarray) -> None:
    """uint8 `(H, W)` label map of one Ref-DAVIS annotation slot on one frame."""
    save_png(os.path.join(self.out_dir, f"anno_{slot}", video, frame + ".png"), labels,
             indexed=True)

  def zip(self) -> str:
    """`write_zip(out_dir, zip_root)`: the submission zip's path."""
    return write_zip(self.out_dir, self.zip_root)


def write_zip(out_dir: str, zip_root: str = ANNOTATIONS) -> str:
  """Zips `<out_dir>/Annotations` to `<out_dir>_submission.zip`.

  Args:
    out_dir: the folder holding `Annotations/<video>/<exp_id>/<frame>.png`.
    zip_root: the zip's folder for the `<video>/...` tree ("" = the zip's root).

  Returns:
    The zip's path.
  """
  path = out_dir.rstrip(os.sep) + "_submission.zip"
  ann = os.path.join(out_dir, ANNOTATIONS)
  # Renamed into place complete, so a failed zip never replaces a good one.
  with (files.atomic_write(path) as f,
        zipfile.ZipFile(f, "w", zipfile.ZIP_DEFLATED) as zf):
    for folder, dirs, names in os.walk(ann):
      dirs.sort()
      for name in sorted(names):
        full = os.path.join(folder, name)
        zf.write(full, os.path.join(zip_root, os.path.relpath(full, ann)))
  return path
