"""One verdict per data defect, on every path (issue #12, point 6).

Each defect of `rvs_jax.testing.defects` (a clean layout fixture with one planted
problem) goes through the three ways data enters the project:

* the validator (`rvs_jax.data.validate.validate`, what the CLI prints);
* the training loader: the registry's reader for every split, then every sample
  through the input pipeline's NumPy backend (frames and masks decoded, as in training);
* the TFDS builder of `data/<benchmark>`: its split generators run to the end (every
  example encoded), without writing TFRecords.

An "error" defect must fail on all three with the file and the problem named (a
validator error; `DataError` from the loader and the builder). A "warning" defect must
pass on all three, give the *same* set of warnings, and leave the named samples out. An
"ok" variant must read like the clean tree.
"""

import logging
import os
import pathlib
import re
import sys
import types

import ml_collections
import numpy as np
import pytest

from rvs_jax import text as text_lib
from rvs_jax.data import pipeline
from rvs_jax.data import registry
from rvs_jax.data import validate
from rvs_jax.data.types import DataError
from rvs_jax.testing import defects

pytest.importorskip("tensorflow_datasets")
DATA = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data")
sys.path.insert(0, DATA)
import build_tfds  # pylint: disable=g-import-not-at-top,wrong-import-position

SPLITS = {"a2d_sentences": ("train", "test"), "jhmdb_sentences": ("test",),
          "refer_youtube_vos": ("train", "valid", "test"),
          "refer_davis": ("train", "val")}
# The builder config that matches the validator's and the loader's default annotations.
CONFIGS = {"refer_davis": "unsupervised"}


def _loader_ids(benchmark: str, root: str) -> set[str]:
  """Reads every split through the registry and loads every sample (NumPy pipeline)."""
  entry = registry.get(benchmark)
  data = ml_collections.ConfigDict({"root": root, "annotations": "unsupervised"})
  ids = set()
  for split in SPLITS[benchmark]:
    samples = entry.read(data, split)
    ids |= {s.sample_id for s in samples}
    if not samples:
      continue
    words = sorted(text_lib.vocabulary(s.sentence for s in samples)) or ["x"]
    vectors = text_lib.WordVectors(words, np.ones((len(words), 4), np.float32))
    pipe = pipeline.InputPipeline(
        samples, vectors, batch_size=8, height=16, width=16, train=False,
        stride=entry.clip_stride, backend="numpy", num_workers=1, process_index=0,
        process_count=1, allow_all_unknown=True)
    rows = sum(int(batch["valid"].sum()) for batch in pipe)
    assert rows == len(samples)
  return ids


def _builder_ids(benchmark: str, root: str, data_dir: str) -> set[str]:
  """Runs the TFDS builder's split generators to the end; returns the sample ids.

  Each example is one video (schema 2.0.0) carrying its samples' ids and masks.
  """
  cls = build_tfds.builder_class(os.path.join(DATA, benchmark))
  kwargs = {"config": CONFIGS[benchmark]} if benchmark in CONFIGS else {}
  builder = cls(data_dir=data_dir, **kwargs)
  manager = types.SimpleNamespace(manual_dir=pathlib.Path(root))
  ids = set()
  # pylint: disable-next=protected-access
  for generator in builder._split_generators(manager).values():
    for _, example in generator:
      video_ids = {s["sample_id"] for s in example["samples"]}
      assert len(video_ids) == len(example["samples"]), example["video_id"]
      ids.update(video_ids)
  return ids


def _warnings(caplog) -> set[str]:
  return {r.getMessage() for r in caplog.records
          if r.name == "rvs_jax.data" and r.levelno == logging.WARNING}


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
  """Per benchmark: (clean tree, its validator warnings, its sample ids)."""
  base = tmp_path_factory.mktemp("clean")
  out = {}
  for name, write in defects.WRITERS.items():
    root = str(base / name)
    write(root)
    report = validate.validate(name, root)
    assert not report.errors, [str(p) for p in report.errors]
    ids = set()
    for split in SPLITS[name]:
      ids |= {s.sample_id for s in registry.get(name).read(
          ml_collections.ConfigDict({"root": root}), split)}
    out[name] = (root, {f"{p.path}: {p.message}".replace(root, "<root>")
                        for p in report.warnings}, ids)
  return out


def test_corpus_covers_every_benchmark_and_outcome():
  per = {b: [d for d in defects.DEFECTS if d.benchmark == b] for b in defects.WRITERS}
  assert all(len(v) >= 6 for v in per.values()), {b: len(v) for b, v in per.items()}
  assert len(defects.DEFECTS) >= 30
  assert {d.outcome for d in defects.DEFECTS} == set(defects.OUTCOMES)
  for d in defects.DEFECTS:
    assert d.outcome == "ok" or (d.path and d.message), d.name
    assert d.outcome != "warning" or "video '" in d.message, d.name


@pytest.mark.parametrize("defect", defects.DEFECTS, ids=lambda d: d.name)
def test_same_outcome_on_every_path(defect, clean, tmp_path, caplog):
  clean_root, clean_warnings, clean_ids = clean[defect.benchmark]
  root = str(tmp_path / "data")
  defect.write(root, clean=clean_root)
  caplog.set_level(logging.WARNING, logger="rvs_jax.data")
  report = validate.validate(defect.benchmark, root)
  text = "\n".join(str(p) for p in report.problems)
  paths = {"loader": lambda: _loader_ids(defect.benchmark, root),
           "builder": lambda: _builder_ids(defect.benchmark, root,
                                           str(tmp_path / "tfds"))}

  def named(path, message):
    return defect.path in path and defect.message in message

  if defect.outcome == "error":
    assert any(named(p.path, p.message) for p in report.errors), text
    for name, run in paths.items():
      with pytest.raises(DataError) as e:
        run()
      assert named(str(e.value), str(e.value)), f"{name}: {e.value}"
    return
  assert not report.errors, text
  want = {f"{p.path}: {p.message}" for p in report.warnings}
  if defect.outcome == "warning":
    assert any(named(p.path, p.message) for p in report.warnings), text
    # The defect's warning(s) on top of the clean tree's.
    assert {w.replace(root, "<root>") for w in want} > clean_warnings, text
  else:
    assert {w.replace(root, "<root>") for w in want} == clean_warnings, text
  for name, run in paths.items():
    caplog.clear()
    ids = run()
    assert _warnings(caplog) == want, name
    if defect.absent:
      assert ids and not [i for i in ids if re.search(defect.absent, i)], name
    if defect.outcome == "ok":
      assert ids == clean_ids, name


def test_sixteen_bit_png_frames_are_scaled_not_clipped(tmp_path):
  # #12 point 7: PIL's convert("RGB") clips a 16-bit grayscale PNG at 255 (white).
  from PIL import Image  # pylint: disable=g-import-not-at-top
  from rvs_jax.data.video_io import FrameFolder  # pylint: disable=g-import-not-at-top
  values = np.array([[0, 257, 32896], [51400, 65278, 65535]], np.uint16)  # (H, W)
  path = str(tmp_path / "00001.png")
  Image.fromarray(values).save(path)
  with Image.open(path) as im:
    assert im.mode == "I;16"  # Really a 16-bit file.
  frames = FrameFolder([path]).load([0])
  assert frames.shape == (1, 2, 3, 3) and frames.dtype == np.uint8
  want = np.array([[0, 1, 128], [200, 254, 255]], np.uint8)  # round(x / 257)
  for c in range(3):
    np.testing.assert_array_equal(frames[0, :, :, c], want)
  # An 8-bit frame is unchanged by the 16-bit path.
  Image.fromarray(want).save(str(tmp_path / "00002.png"))
  eight = FrameFolder([str(tmp_path / "00002.png")]).load([0])  # (1, H, W, 3)
  np.testing.assert_array_equal(eight[0, :, :, 0], want)
