"""Which evaluated samples to draw: the best, median and worst by IoU, over many videos.

The first N samples of an evaluation split come from two or three videos and say
nothing about the spread of results; `pick` chooses instead, by the per-sample IoUs of
the evaluation, the best, the median and the worst samples, taking at most one sample
of a video per group while enough videos remain.
"""

from __future__ import annotations

from typing import Hashable, Sequence

import numpy as np

GROUPS = ("best", "median", "worst")


def group_sizes(count: int) -> tuple[int, int, int]:
  """`count` pictures split over `GROUPS`, the remainder going to the first groups."""
  return tuple(count // 3 + (g < count % 3) for g in range(3))


def _spread(ranking: Sequence[int], videos: Sequence[Hashable], size: int,
            taken: set[int]) -> list[int]:
  """The first `size` untaken indices of `ranking`, one per video while videos last."""
  chosen: list[int] = []
  seen: set[Hashable] = set()
  for i in ranking:  # Pass 1: a new video each.
    if len(chosen) < size and i not in taken and videos[i] not in seen:
      chosen.append(i)
      seen.add(videos[i])
  for i in ranking:  # Pass 2 (fewer videos than pictures): the next best ranked.
    if len(chosen) < size and i not in taken and i not in chosen:
      chosen.append(i)
  taken.update(chosen)
  return chosen


def pick(ious: Sequence[float], videos: Sequence[Hashable],
         count: int) -> list[tuple[str, int]]:
  """Up to `count` samples to draw, as `(group, index)`, in a stated order.

  Args:
    ious: per-sample IoU.
    videos: per-sample video id.
    count: how many pictures (`group_sizes` splits them over best / median / worst).

  Returns:
    The best group (highest IoU first), then the median group (closest to the median
    IoU first), then the worst group (lowest IoU first). No sample is chosen twice;
    within a group no video is repeated unless the group has more pictures than the
    split has (remaining) videos. Ties go to the earlier sample. The extremes are
    chosen before the median group, so a small split keeps its best and worst.
  """
  ious = np.asarray(ious, np.float64)
  if ious.shape != (len(videos),):
    raise ValueError(f"{ious.shape} IoUs for {len(videos)} videos")
  index = np.arange(len(ious))
  # lexsort: the last key is the primary one; the index breaks ties.
  rankings = {"best": np.lexsort((index, -ious)),
              "median": np.lexsort((index, np.abs(ious - np.median(ious))))
              if len(ious) else index,
              "worst": np.lexsort((index, ious))}
  sizes = dict(zip(GROUPS, group_sizes(count)))
  taken: set[int] = set()
  chosen = {g: _spread(rankings[g].tolist(), videos, sizes[g], taken)
            for g in ("best", "worst", "median")}
  return [(g, i) for g in GROUPS for i in chosen[g]]
