"""The benchmarks by name: the one list every reader, validator, config and builder asks.

A benchmark is one module (its layout constants, reader, validator and writers) plus one
`Benchmark` entry here. Everything that dispatches on `config.data.name` -- the trainer's
samples (`rvs_jax.datasets`), the video evaluator, `python -m rvs_jax.data.validate`, the
configs' defaults and the TFDS builders in `data/` -- looks the name up with `get`::

  from rvs_jax.data import registry
  bench = registry.get("refer_davis")
  samples = bench.read(config.data, "val", scoring=True)

A new benchmark (e.g. in a test or a project of its own) is::

  registry.register(registry.Benchmark(name="toy", reader=toy.load_toy, ...))
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Callable, Mapping

from rvs_jax.data import a2d, jhmdb, mevis, refer_davis, refer_youtube_vos
from rvs_jax.data.types import DataError, Sample

SCORING_KINDS = ("frame", "video")
_DOWNLOAD_HINT = (" Download the benchmark (see README) and pass "
                  "--config.data.root=<folder>.")


@dataclasses.dataclass(frozen=True)
class Benchmark:
  """What the code base knows about one benchmark.

  Attributes:
    name: `config.data.name`, the TFDS builder's name and the validator CLI's argument.
    reader: `reader(root, split, **options) -> list[Sample]`.
    validator: `validator(root, quick=False, **options) -> validate.Report`, or None.
    scoring: "frame" (one annotated frame per sample, `rvs_jax.evaluation.frame_eval`)
      or "video" (every frame of every expression, J / F,
      `rvs_jax.evaluation.video_eval`).
    clip_stride: the default `config.data.clip_stride` (frame step inside a clip); the
      user's value wins.
    train_split: default `config.data.train_split`; None for evaluation-only sets.
    eval_split: default `config.data.eval_split`.
    config_options: `config.data` fields passed to the reader when the config has them.
    scoring_options: extra reader arguments when a video benchmark is scored (e.g.
      `targets="all"`: frames where the object is absent are scored too).
    validator_options: the validator CLI's options this benchmark takes.
    root_hint: appended to the "data root is not a folder" error (`{root}` is
      replaced by the configured root).
    submission_root: the folder of the video submission zip that holds
      `<video>/<exp_id>/<frame>.png` ("Annotations" for the Ref-YTVOS server, "" for
      the zip's root).
  """
  name: str
  reader: Callable[..., list[Sample]]
  validator: Callable[..., Any] | None
  scoring: str
  clip_stride: int
  train_split: str | None
  eval_split: str
  config_options: tuple[str, ...] = ()
  scoring_options: Mapping[str, Any] = dataclasses.field(default_factory=dict)
  validator_options: tuple[str, ...] = ()
  root_hint: str = _DOWNLOAD_HINT
  submission_root: str = "Annotations"

  def __post_init__(self):
    if self.scoring not in SCORING_KINDS:
      raise ValueError(f"benchmark {self.name!r}: scoring={self.scoring!r}, expected one "
                       f"of {SCORING_KINDS}")

  def data_defaults(self) -> dict[str, Any]:
    """The `config.data` values this benchmark sets by default."""
    out: dict[str, Any] = dict(eval_split=self.eval_split, clip_stride=self.clip_stride)
    if self.train_split is not None:
      out["train_split"] = self.train_split
    return out

  def read(self, data, split: str, *, scoring: bool = False) -> list[Sample]:
    """The samples of `split` under `data.root` (`data` is `config.data`).

    Args:
      data: `config.data` (`root` and any of `config_options`).
      split: the split to read.
      scoring: read for the video protocol (adds `scoring_options`).

    Raises:
      DataError: the root is not a folder, or the reader's errors.
    """
    if not data.root or not os.path.isdir(data.root):
      hint = self.root_hint.format(root=data.root or "synthetic_data")
      raise DataError(f"data root {data.root!r} of {self.name} is not a folder.{hint}")
    options = {k: data[k] for k in self.config_options if k in data}
    if scoring:
      options.update(self.scoring_options)
    return self.reader(data.root, split, **options)


_BENCHMARKS: dict[str, Benchmark] = {}


def register(benchmark: Benchmark) -> Benchmark:
  """Adds a benchmark; a name already taken is refused."""
  if benchmark.name in _BENCHMARKS:
    raise ValueError(f"benchmark {benchmark.name!r} is already registered")
  _BENCHMARKS[benchmark.name] = benchmark
  return benchmark


def unregister(name: str) -> None:
  """Removes a benchmark (for tests that register a toy one)."""
  _BENCHMARKS.pop(name, None)


def names() -> list[str]:
  """The registered benchmark names, in registration order."""
  return list(_BENCHMARKS)


def get(name: str) -> Benchmark:
  """The benchmark `name`; an unknown name is a one-line error listing the known ones."""
  if name not in _BENCHMARKS:
    raise ValueError(f"unknown benchmark {name!r} (config.data.name); known: "
                     f"{', '.join(names())}")
  return _BENCHMARKS[name]


register(Benchmark(
    name="a2d_sentences", reader=a2d.load_a2d, validator=a2d.validate, scoring="frame",
    clip_stride=a2d.CLIP_STRIDE, train_split="train", eval_split="test"))
register(Benchmark(
    name="jhmdb_sentences", reader=jhmdb.load_jhmdb, validator=jhmdb.validate,
    scoring="frame", clip_stride=jhmdb.CLIP_STRIDE, train_split=None,
    eval_split="test"))
register(Benchmark(
    name="refer_youtube_vos", reader=refer_youtube_vos.load_refer_youtube_vos,
    validator=refer_youtube_vos.validate, scoring="video",
    clip_stride=refer_youtube_vos.CLIP_STRIDE, train_split="train", eval_split="valid",
    scoring_options={"targets": "all"}))
register(Benchmark(
    name="refer_davis", reader=refer_davis.load_refer_davis,
    validator=refer_davis.validate, scoring="video",
    clip_stride=refer_davis.CLIP_STRIDE, train_split="train", eval_split="val",
    config_options=("annotations",), scoring_options={"targets": "all"},
    validator_options=("annotations",)))
# The synthetic benchmark is written in the A2D layout (`rvs_jax.data.synthetic`).
register(Benchmark(
    name="synthetic", reader=a2d.load_a2d, validator=a2d.validate, scoring="frame",
    clip_stride=a2d.CLIP_STRIDE, train_split="train", eval_split="test",
    root_hint=" Generate it with `python -m rvs_jax.data.synthetic --out "
              "{root}`."))
register(Benchmark(
    name="mevis", reader=mevis.load_mevis, validator=mevis.validate, scoring="video",
    clip_stride=mevis.CLIP_STRIDE, train_split="train", eval_split="valid_u",
    scoring_options={"targets": "all"}, submission_root=""))
