"""The four TFDS builders in data/ on the layout fixtures, read back via tfds_source.

Builds every benchmark (both Refer-DAVIS configs) into a temporary data_dir, then checks
example counts per split, masks, clips, sentences and ids against the readers, and the
J-HMDB frame list stored in the dataset's metadata.
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
from rvs_jax.data import jhmdb
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
  for config in configs:
    builder_dir = tfds_source.find_builder_dir(data_dir, name, config)
    for split in splits:
      samples = {s.sample_id: s for s in reader(manual, split, config)}
      records = list(tfds_source.load_records(builder_dir, split))
      assert len(records) == len(samples) > 0, (folder, config, split)
      assert {r["sample_id"] for r in records} == set(samples)
      for rec in records:
        s = samples[rec["sample_id"]]
        assert rec["sentence"] == s.sentence and rec["video_id"] == s.video_id
        assert rec["target"] == s.target and rec["info"] == json.loads(json.dumps(s.info))
        assert rec["frames"].shape == (8, rec["height"], rec["width"], 3)
        assert rec["frames"].dtype == np.uint8
        assert rec["clip_indices"][4] == s.target  # Clamped clip keeps the target.
        assert rec["num_frames"] == s.video.num_frames
        frames = s.video.load(list(rec["clip_indices"]))
        assert np.abs(frames.astype(int) - rec["frames"].astype(int)).max() <= 4
        assert rec["mask"].dtype == bool
        assert rec["mask"].shape == (rec["height"], rec["width"])
        if s.mask is None:
          assert not rec["has_mask"] and not rec["mask"].any()
        else:
          assert rec["has_mask"]
          np.testing.assert_array_equal(rec["mask"], s.mask.load())
  rec = next(tfds_source.load_records(builder_dir, splits[0]))
  sample = tfds_source.record_to_sample(rec)
  np.testing.assert_array_equal(sample.video.load(rec["clip_indices"]), rec["frames"])
  outside = [i for i in range(rec["num_frames"]) if i not in set(rec["clip_indices"])]
  if outside:
    with pytest.raises(DataError, match="not in the stored clip"):
      sample.video.load(outside[:1])


def test_builder_names_are_the_registry_names(built):
  # One spelling: data/<name>/, the TFDS name and config.data.name are the same.
  data_dir, out = built
  for folder in CASES:
    assert folder in registry.names()
    assert CASES[folder][0] == folder
    assert build_tfds.builder_class(os.path.join(DATA, folder)).name == folder
  assert set(CASES) <= set(os.listdir(data_dir))  # The built datasets, same names.


def test_extras_and_clip_strides(built):
  data_dir, _ = built
  rec = next(tfds_source.load_records(
      tfds_source.find_builder_dir(data_dir, "refer_davis", "unsupervised"), "val"))
  assert rec["kind"] in ("first_frame", "full_video") and rec["annotator"] in (1, 2)
  assert int(rec["exp_id"]) % 4 == rec["info"]["slot"]
  steps = set(np.diff(rec["clip_indices"]).tolist())
  assert steps <= {0, 1}  # Stride 1 for DAVIS / YTVOS (the registry's clip_stride).
  rec = next(tfds_source.load_records(
      tfds_source.find_builder_dir(data_dir, "a2d_sentences"), "train"))
  assert set(np.diff(rec["clip_indices"]).tolist()) <= {0, 1, 2}
  assert rec["instance_id"] == rec["info"]["instance_id"]
  valid = list(tfds_source.load_records(
      tfds_source.find_builder_dir(data_dir, "refer_youtube_vos"), "valid"))
  assert all(r["obj_id"] == -1 and not r["has_mask"] for r in valid)


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
  assert len(list(tfds_source.load_records(builder_dir, "test"))) == len(
      jhmdb.load_jhmdb(out["jhmdb_sentences"][0]))


def test_a2d_builder_on_synthetic_benchmark(tmp_path):
  """The synthetic benchmark (A2D layout) builds too, and keeps its `kind` field."""
  from rvs_jax.data import synthetic  # pylint: disable=g-import-not-at-top
  root = str(tmp_path / "synthetic")
  synthetic.generate(root, num_videos=4, height=32, frames=12, quirks=True, workers=1)
  (builder_dir,) = build_tfds.build(os.path.join(DATA, "a2d_sentences"),
                                    manual_dir=root, data_dir=str(tmp_path / "out"))
  records = list(tfds_source.load_records(builder_dir, "train"))
  samples = {s.sample_id: s for s in a2d.load_a2d(root, "train")}
  assert len(records) == len(samples)
  for rec in records:
    assert rec["kind"] == samples[rec["sample_id"]].info["kind"]
    np.testing.assert_array_equal(rec["mask"], samples[rec["sample_id"]].mask.load())


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
  records = [f for _, _, files in os.walk(out) for f in files if ".tfrecord" in f]
  assert records, os.listdir(out)
