"""Progress bars for the long phases: training, evaluation, prediction, validation and
the GloVe scan.

One rule everywhere: a bar (tqdm, with rate and ETA) is drawn only when stderr is a
terminal and only on process 0, so logs, CI output and the other hosts of a multi-host
run stay clean; `RVS_JAX_PROGRESS=0` turns every bar off. Without a bar, the phases
that take minutes also log a line now and then (training: every `log_every_steps`).
"""

from __future__ import annotations

import os
import sys
from typing import Iterable, Iterator, TypeVar

T = TypeVar("T")


def enabled() -> bool:
  """Whether bars are drawn in this process (terminal, process 0, not switched off)."""
  if os.environ.get("RVS_JAX_PROGRESS", "1") == "0" or not sys.stderr.isatty():
    return False
  jax = sys.modules.get("jax")  # Never import JAX just to ask (the data tools don't).
  return jax is None or jax.process_index() == 0


def bar(total: int | float | None, desc: str, unit: str, initial: int = 0,
        show: bool = True, **kwargs):
  """A tqdm bar, disabled (every call a no-op) unless `show` and `enabled()`."""
  from tqdm import tqdm  # pylint: disable=g-import-not-at-top
  return tqdm(total=total, initial=initial, desc=desc, unit=unit, dynamic_ncols=True,
              file=sys.stderr, disable=not (show and enabled()), **kwargs)


def track(items: Iterable[T], desc: str, unit: str, total: int | None = None
          ) -> Iterator[T]:
  """Yields `items`, advancing a bar by one per item."""
  if total is None and hasattr(items, "__len__"):
    total = len(items)  # type: ignore[arg-type]
  with bar(total, desc, unit) as b:
    for item in items:
      yield item
      b.update(1)
