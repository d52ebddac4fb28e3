"""The contract between benchmark readers and the input pipeline.

Every benchmark reader (A2D Sentences, J-HMDB Sentences, Refer-YouTube-VOS, Refer-DAVIS,
the synthetic benchmark) turns an unpacked official layout into a list of `Sample`s. The
input pipeline only ever sees `Sample`s: it asks `sample.video` for frames and
`sample.mask` for the ground truth, so it never needs to know a benchmark's file format.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol, Sequence

import numpy as np

from rvs_jax import errors


class VideoSource(Protocol):
  """Where the frames of one video live (an mp4 file, a folder of images, ...)."""

  @property
  def num_frames(self) -> int:
    """Number of decodable frames."""

  def load(self, indices: Sequence[int]) -> np.ndarray:
    """Returns uint8 RGB frames `(len(indices), H, W, 3)` for 0-based frame indices.

    Raises `DataError` naming the file on a corrupt, truncated or unreadable video.
    """


class MaskSource(Protocol):
  """How to load one ground-truth mask."""

  def load(self) -> np.ndarray:
    """Returns the bool `(H, W)` mask at the benchmark's stored resolution.

    Raises `DataError` naming the file on a missing or unreadable annotation.
    """


# Defined at the bottom of the package (the tokenizers raise it too); re-exported.
DataError = errors.DataError


@dataclasses.dataclass(frozen=True)
class Sample:
  """One example: a target frame of a video, a sentence and the referred object's mask.

  Attributes:
    sample_id: unique, stable id (used in per-sample evaluation output).
    video_id: the benchmark's video id.
    video: the frames.
    target: 0-based index of the annotated (target) frame in `video`.
    sentence: the referring expression as written in the annotation file.
    mask: the ground truth of the target frame, or None where none exists (e.g. the
      Refer-YouTube-VOS `valid` split).
    info: benchmark-specific extras (instance id, expression id, original size, the
      synthetic benchmark's `kind` in {"appearance", "motion", "both"}, ...). JSON-able.
  """
  sample_id: str
  video_id: str
  video: VideoSource
  target: int
  sentence: str
  mask: MaskSource | None
  info: dict[str, Any] = dataclasses.field(default_factory=dict)
