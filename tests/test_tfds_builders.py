"""The four TFDS builders in data/ on the layout fixtures, read back via tfds_source.

Builds every benchmark (both Refer-DAVIS configs) into a temporary data_dir, then checks
against the readers: the samples (ids, order, sentences, targets, masks, info), one
record per video with each needed frame stored once, the tf.data source's batches
against the raw NumPy pipeline's, and the J-HMDB frame list stored in the metadata.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

tfds = pytest.importorskip("tensorflow_datasets")

# pylint: disable=g-import-not-at-top
from rvs_jax.data import a2d
from rvs_jax.testing import fixtures
from rvs_jax import text
from rvs_jax.data import jhmdb
from rvs_jax.data import pipeline
from rvs_jax.data import refer_davis
from rvs_jax.data import refer_youtube_vos
from rvs_jax.data import registry
from rvs_jax.data import tfds_source
from rvs_jax.data.types import DataError

DATA = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data")
sys.path.insert(0, DATA)
import build_tfds  # data/build_tfds.py

# (folder in data/, TFDS name, fixture writer, reader(root, split, config), splits)
CASES = {
    "a2d_sentences": ("a2d_sentences", fixtures.write_a2d,
                      lambda r, s, c: a2d.load_a2d(r, s), ("train", "test")),
    "jhmdb_sentences": ("jhmdb_sentences", fixtures.write_jhmdb,
                        lambda r, s, c: jhmdb.load_jhmdb(r, s), ("test",)),
    "refer_youtube_vos": ("refer_youtube_vos", fixtures.write_refer_youtube_vos,
                          lambda r, s, c: refer_youtube_vos.load_refer_youtube_vos(r, s),
                          ("train", "valid", "test")),
    "refer_davis": ("refer_davis", fixtures.write_refer_davis,
                    lambda r, s, c: refer_davis.load_refer_davis(r, s, annotations=c),
                    ("train", "val")),
}


@pytest.fixture(scope="module")
def wv():
  # Unknown words are zeros (allow_all_unknown): only the ids must agree.
  words = "the a man dog cat person red blue white black left right is".split()
  return text.WordVectors(words, np.eye(len(words), 6, dtype=np.float32))


@pytest.fixture(scope="module")
def built(tmp_path_factory):
  base = tmp_path_factory.mktemp("tfds")
  data_dir = str(base / "out")
  out = {}
  for folder, (name, write, _, _) in CASES.items():
    manual = str(base / folder)
    write(manual)
    dirs = build_tfds.build(os.path.join(DATA, folder), manual_dir=manual,
                            data_dir=data_dir)
    out[folder] = (manual, dirs)
  return data_dir, out


@pytest.mark.parametrize("folder", sorted(CASES))
def test_build_and_read_back(built, folder):
  data_dir, out = built
  name, _, reader, splits = CASES[folder]
  manual, dirs = out[folder]
  configs = ["unsupervised", "semi_supervised"] if folder == "refer_davis" else [None]
  assert len(dirs) == len(configs)
  stride = registry.get(folder).clip_stride
  for config in configs:
    builder_dir = tfds_source.find_builder_dir(data_dir, name, config)
    assert builder_dir.endswith(tfds_source.SCHEMA_VERSION)
    for split in splits:
      raw = reader(manual, split, config)
      built_split = tfds_source.BuiltSplit(builder_dir, split)
      got = built_split.samples()
      # Same samples, same order (the index is the reader's order).
      assert [s.sample_id for s in got] == [s.sample_id for s in raw]
      assert len(got) > 0, (folder, config, split)
      # One record per video, each stored frame once: the union of the clips.
      assert built_split.videos == list(dict.fromkeys(s.video_id for s in raw))
      for s, r in zip(got, raw):
        assert (s.sentence, s.video_id, s.target) == (r.sentence, r.video_id, r.target)
        assert s.info == json.loads(json.dumps(r.info))
        assert s.video.num_frames == r.video.num_frames
        clip = pipeline.clip_indices(r.target, r.video.num_frames, 8, stride)
        frames = s.video.load(clip)
        assert frames.dtype == np.uint8 and frames.shape[0] == 8
        assert np.abs(frames.astype(int) - r.video.load(clip).astype(int)).max() <= 4
        if r.mask is None:
          assert s.mask is None
        else:
          np.testing.assert_array_equal(s.mask.load(), r.mask.load())
      for v, video_id in enumerate(built_split.videos):
        rec = built_split.record(v)
        group = [r for r in raw if r.video_id == video_id]
        np.testing.assert_array_equal(
            rec["frame_indices"],
            tfds_source.stored_frames(group, group[0].video.num_frames, stride))
        assert len(rec["frames"]) == len(rec["frame_indices"])
        assert rec["sample_ids"] == [r.sample_id for r in group]
  # A frame outside every clip is not stored, and asking for it says so.
  video = got[0].video
  outside = sorted(set(range(video.num_frames)) - set(video.stored_indices().tolist()))
  if outside:
    with pytest.raises(DataError, match="not stored"):
      video.load(outside[:1])


@pytest.mark.parametrize("folder", sorted(CASES))
def test_tf_data_source_gives_the_raw_pipelines_batches(built, folder, wv):
  """The tfds source through tf.data == the raw folders through NumPy, sample by sample.

  Ids, word ids and masks are identical; frames differ only by the JPEG re-encoding
  (A2D, J-HMDB) and TF's float resize vs PIL's fixed point: at most a few levels.
  """
  data_dir, out = built
  name, _, reader, splits = CASES[folder]
  manual = out[folder][0]
  config = "semi_supervised" if folder == "refer_davis" else None
  split = splits[0]
  raw = reader(manual, split, config)
  built_samples = tfds_source.BuiltSplit(
      tfds_source.find_builder_dir(data_dir, name, config), split).samples()
  kw = dict(batch_size=4, height=24, width=40, train=False,
            stride=registry.get(folder).clip_stride, process_index=0, process_count=1,
            num_workers=2, allow_all_unknown=True)
  a = pipeline.InputPipeline(raw, wv, backend="numpy", **kw)
  b = pipeline.InputPipeline(built_samples, wv, backend="auto", **kw)
  assert b.backend == "tf"
  n = 0
  for x, y in zip(a.iterate(), b.iterate(), strict=True):
    for key in pipeline.KEYS:
      if key == "video":
        diff = np.abs(x[key] - y[key]) * 255
        assert diff.max() <= 6 and diff.mean() < 1.0, (key, diff.max(), diff.mean())
      else:
        np.testing.assert_array_equal(x[key], y[key], err_msg=key)
    n += int(x["valid"].sum())
  assert n == len(raw)


def test_builder_names_are_the_registry_names(built):
  # One spelling: data/<name>/, the TFDS name and config.data.name are the same.
  data_dir, out = built
  for folder in CASES:
    assert folder in registry.names()
    assert CASES[folder][0] == folder
    assert build_tfds.builder_class(os.path.join(DATA, folder)).name == folder
  assert set(CASES) <= set(os.listdir(data_dir))  # The built datasets, same names.


def test_jhmdb_frame_list_is_stored(built, tmp_path):
  data_dir, out = built
  builder_dir = tfds_source.find_builder_dir(data_dir, "jhmdb_sentences")
  with open(os.path.join(builder_dir, "metadata.json")) as f:
    meta = json.load(f)
  samples = jhmdb.load_jhmdb(out["jhmdb_sentences"][0])
  assert meta["samples"] == [{"video_id": s.video_id, "frame": s.target + 1,
                              "query": s.sentence} for s in samples]
  # The stored list is a valid `samples_file`.
  listed = str(tmp_path / "samples.json")
  with open(listed, "w") as f:
    json.dump(meta["samples"], f)
  again = jhmdb.load_jhmdb(out["jhmdb_sentences"][0], samples_file=listed)
  assert [s.sample_id for s in again] == [s.sample_id for s in samples]


def test_build_cli(built, tmp_path):
  """`python data/build_tfds.py <folder> --manual_dir --data_dir` (TFDS's build args)."""
  _, out = built
  build_tfds.main([os.path.join(DATA, "jhmdb_sentences"),
                   f"--manual_dir={out['jhmdb_sentences'][0]}",
                   f"--data_dir={tmp_path}"])
  builder_dir = tfds_source.find_builder_dir(str(tmp_path), "jhmdb_sentences")
  assert len(tfds_source.BuiltSplit(builder_dir, "test").samples()) == len(
      jhmdb.load_jhmdb(out["jhmdb_sentences"][0]))


def test_a2d_builder_on_synthetic_benchmark(tmp_path):
  """The synthetic benchmark (A2D layout) builds too, and keeps its `kind` field."""
  from rvs_jax.data import synthetic  # pylint: disable=g-import-not-at-top
  root = str(tmp_path / "synthetic")
  synthetic.generate(root, num_videos=4, height=32, frames=12, quirks=True, workers=1)
  (builder_dir,) = build_tfds.build(os.path.join(DATA, "a2d_sentences"),
                                    manual_dir=root, data_dir=str(tmp_path / "out"))
  got = tfds_source.BuiltSplit(builder_dir, "train").samples()
  samples = a2d.load_a2d(root, "train")
  assert [s.sample_id for s in got] == [s.sample_id for s in samples]
  for s, r in zip(got, samples):
    assert s.info["kind"] == r.info["kind"]
    np.testing.assert_array_equal(s.mask.load(), r.mask.load())


def test_official_tfds_build_cli(tmp_path):
  """`tfds build data/<name> --manual_dir --data_dir`, the command the README gives."""
  tfds_cli = os.path.join(os.path.dirname(sys.executable), "tfds")
  if not os.path.exists(tfds_cli):
    pytest.skip("no tfds console script next to this Python")
  manual = str(tmp_path / "manual")
  fixtures.write_jhmdb(manual)
  out = str(tmp_path / "out")
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  proc = subprocess.run(
      [tfds_cli, "build", "data/jhmdb_sentences", f"--manual_dir={manual}",
       f"--data_dir={out}"], cwd=root, capture_output=True, text=True, timeout=600,
      check=False,
      # This tree's rvs_jax, not whichever one the environment has installed.
      env={**os.environ, "PYTHONPATH": os.pathsep.join(
          [root] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])})
  assert proc.returncode == 0, proc.stderr[-3000:]
  records = [f for _, _, files in os.walk(out) for f in files if ".array_record" in f]
  assert records, os.listdir(out)
  builder_dir = tfds_source.find_builder_dir(out, "jhmdb_sentences")
  assert len(tfds_source.BuiltSplit(builder_dir, "test").samples()) == len(
      jhmdb.load_jhmdb(manual))
