"""Benchmark readers on generated trees in each official layout (testing.fixtures).

Counts, masks and frames are compared with the generators' ground truth, and every known
quirk of the releases is exercised: J-HMDB videos with fewer masks than frames and its
fixed frame draw, Ref-YTVOS valid-minus-test, Ref-DAVIS latin-1 files, misspelt names and
exp-id interleaving, A2D's '1 (copy)' row, missed videos, duplicate instances and extra
masks.
"""

import collections
import json
import os
import shutil

import numpy as np
import pytest
import scipy.io

from rvs_jax.data import a2d
from rvs_jax.data import jhmdb
from rvs_jax.data import refer_davis
from rvs_jax.data import refer_youtube_vos as ytvos
from rvs_jax.data import registry
from rvs_jax.data.types import DataError
from rvs_jax.testing import fixtures


def _close(a, b, tol=4):
  """JPEG round trips of flat colours stay within a few grey levels."""
  return a.shape == b.shape and np.abs(a.astype(int) - b.astype(int)).max() <= tol


@pytest.fixture(scope="module")
def trees(tmp_path_factory):
  root = tmp_path_factory.mktemp("benchmarks")
  return {
      "jhmdb": (str(root / "jhmdb"), fixtures.write_jhmdb(str(root / "jhmdb"))),
      "ytvos": (str(root / "ytvos"),
                fixtures.write_refer_youtube_vos(str(root / "ytvos"))),
      "davis": (str(root / "davis"), fixtures.write_refer_davis(str(root / "davis"))),
      "a2d": (str(root / "a2d"), fixtures.write_a2d(str(root / "a2d"))),
  }


def _copy(trees, name, tmp_path):
  dst = str(tmp_path / name)
  shutil.copytree(trees[name][0], dst)
  return dst


# ----------------------------------------------------------------------------------------
# J-HMDB Sentences


def test_jhmdb_samples_match_ground_truth(trees):
  root, truth = trees["jhmdb"]
  samples = jhmdb.load_jhmdb(root)
  assert len(samples) == truth["num_samples"]
  per_video = collections.defaultdict(list)
  for s in samples:
    per_video[s.video_id].append(s.info["frame"])
    v = truth["videos"][s.video_id]
    assert s.sentence == v["query"]
    assert s.sample_id == f"{s.video_id}/{s.info['frame']:05d}"
    assert s.target == s.info["frame"] - 1
    np.testing.assert_array_equal(s.mask.load(), v["masks"][s.target])
    assert s.video.num_frames == len(v["frames"])
    np.testing.assert_array_equal(s.video.load([s.target])[0], v["frames"][s.target])
    # The stride is config.data.clip_stride (default from the registry), not the sample's.
    assert s.info["action"] == v["action"] and "clip_stride" not in s.info
    assert (s.info["height"], s.info["width"]) == v["frames"].shape[1:3]
  assert list(per_video) == truth["order"]  # Annotation-file order.
  for vid, frames in per_video.items():
    n_masks = len(truth["videos"][vid]["masks"])
    # Fewer masks than frames: only frames that have a mask are drawn.
    assert frames == sorted(frames) and max(frames) <= n_masks
    assert len(frames) == min(3, n_masks) == len(set(frames))
  assert "," in truth["videos"]["pullup_b"]["query"]  # Unquoted comma kept.


def test_jhmdb_draw_is_fixed_and_reproducible(trees, tmp_path):
  root, _ = trees["jhmdb"]
  first = [s.sample_id for s in jhmdb.load_jhmdb(root)]
  assert first == [s.sample_id for s in jhmdb.load_jhmdb(root)]
  # The draw is a pure function of (seed, video id, #usable frames): pinned values.
  assert jhmdb.sample_frames("pullup_a", 10) == [1, 6, 10]
  assert jhmdb.sample_frames("100_pullups_pullup_f_nm_np1_fr_med_1", 40) == [9, 28, 30]
  assert jhmdb.sample_frames("pullup_a", 10, seed=1) != [1, 6, 10]
  # Written list -> read back -> identical samples.
  path = str(tmp_path / "samples.json")
  jhmdb.write_samples_file(jhmdb.load_jhmdb(root), path)
  assert [s.sample_id for s in jhmdb.load_jhmdb(root, samples_file=path)] == first
  # MTTR's metadata format is accepted and overrides the draw.
  mttr = [[vid, f"/x/Rename_Images/a/{vid}/{f:05d}.png", "m.mat", 9, "q"]
          for vid, f in [("pullup_a", 2), ("pullup_b", 4), ("walk_a", 1), ("walk_b", 2)]]
  with open(path, "w") as f:
    json.dump(mttr, f)
  got = [s.sample_id for s in jhmdb.load_jhmdb(root, samples_file=path)]
  assert got == ["pullup_a/00002", "pullup_b/00004", "walk_a/00001", "walk_b/00002"]


def test_jhmdb_bad_input(trees, tmp_path):
  root = _copy(trees, "jhmdb", tmp_path)
  mat = os.path.join(root, "puppet_mask", "walk", "walk_a", "puppet_mask.mat")
  scipy.io.savemat(mat, {"part_mask": np.ones((24, 32, 9), np.uint8)})
  with pytest.raises(DataError, match="9 masks but only 3 frames"):
    jhmdb.load_jhmdb(root)
  with open(mat, "wb") as f:
    f.write(b"not a mat file")
  with pytest.raises(DataError, match="puppet_mask.mat"):
    jhmdb.load_jhmdb(root)
  os.remove(mat)
  with pytest.raises(DataError, match="missing mask file"):
    jhmdb.load_jhmdb(root)
  with open(os.path.join(root, "jhmdb_annotation.txt"), "w") as f:
    f.write("video_id,query\npullup_a,\n")
  with pytest.raises(DataError, match="no sentence for 3 video"):  # Truncated file.
    jhmdb.load_jhmdb(root)


def test_jhmdb_empty_sentence_is_skipped_with_a_warning(trees, tmp_path, caplog):
  root = _copy(trees, "jhmdb", tmp_path)
  path = os.path.join(root, "jhmdb_annotation.txt")
  with open(path) as f:
    text = f.read()
  with open(path, "w") as f:
    f.write(text.replace("pullup_a,man doing pullups on a bar", "pullup_a,"))
  samples = jhmdb.load_jhmdb(root)
  assert samples and not any(s.video_id == "pullup_a" for s in samples)
  assert "video 'pullup_a': sentence skipped: empty sentence" in caplog.text


# ----------------------------------------------------------------------------------------
# Refer-YouTube-VOS


def test_ytvos_train_masks_and_counts(trees, tmp_path):
  root, truth = trees["ytvos"]
  samples = ytvos.load_refer_youtube_vos(root, "train")
  assert len(samples) == truth["counts"]["train_present"]
  for s in samples:
    v = truth["train"][s.video_id]
    exp = v["expressions"][s.info["exp_id"]]
    assert s.sentence == exp["exp"] and s.info["obj_id"] == int(exp["obj_id"])
    assert v["frames"][s.target] == s.info["frame"]
    mask = s.mask.load()
    np.testing.assert_array_equal(mask, v["labels"][s.target] == int(exp["obj_id"]))
    assert mask.any() and s.info["present"]  # Train targets show the object.
    assert "clip_stride" not in s.info
    assert s.video.num_frames == len(v["frames"])
    assert _close(s.video.load([s.target])[0], v["images"][s.target])
  # Object 2 of trainA is only visible from the third frame on.
  obj2 = {s.target for s in samples if s.video_id == "trainA" and s.info["obj_id"] == 2}
  assert obj2 == {2, 3, 4}
  # Expression ids in numeric order ("10" after "9").
  ids = list(dict.fromkeys(s.info["exp_id"] for s in samples if s.video_id == "trainA"))
  assert ids == [str(i) for i in range(12)]
  every = ytvos.load_refer_youtube_vos(root, "train", targets="all")
  assert len(every) == truth["counts"]["train_all"]
  assert not all(s.mask.load().any() for s in every)
  # Without meta.json the PNGs give the same samples.
  no_meta = str(tmp_path / "no_meta")
  truth2 = fixtures.write_refer_youtube_vos(no_meta, write_meta_json=False)
  assert not os.path.exists(os.path.join(no_meta, "train", "meta.json"))
  assert len(ytvos.load_refer_youtube_vos(no_meta, "train")) == truth2["counts"][
      "train_present"]
  assert ([s.sample_id for s in ytvos.load_refer_youtube_vos(no_meta, "train")]
          == [s.sample_id for s in samples])


def test_ytvos_valid_is_valid_minus_test(trees):
  root, truth = trees["ytvos"]
  assert ytvos.scored_valid_videos(root) == ["valA", "valB"]
  valid = ytvos.load_refer_youtube_vos(root, "valid")
  assert len(valid) == truth["counts"]["valid"]
  assert {s.video_id for s in valid} == {"valA", "valB"}
  assert all(s.mask is None and s.info["obj_id"] is None for s in valid)
  # Every frame of every expression.
  per_exp = collections.Counter((s.video_id, s.info["exp_id"]) for s in valid)
  assert per_exp == {(v, e): len(truth["valid"][v]["frames"])
                     for v in truth["valid"] for e in truth["valid"][v]["expressions"]}
  test = ytvos.load_refer_youtube_vos(root, "test")
  assert {s.video_id for s in test} == {"tstA"} and len(test) == truth["counts"]["test"]
  with pytest.raises(ValueError):
    ytvos.load_refer_youtube_vos(root, "valid", targets="present")


def test_ytvos_bad_input(trees, tmp_path):
  root = _copy(trees, "ytvos", tmp_path)
  os.remove(os.path.join(root, "train", "Annotations", "trainB", "00005.png"))
  with pytest.raises(DataError, match=r"trainB.*00005\.png"):
    ytvos.load_refer_youtube_vos(root, "train")
  os.remove(os.path.join(root, "valid", "JPEGImages", "valB", "00010.jpg"))
  with pytest.raises(DataError, match=r"valB.*00010\.jpg"):
    ytvos.load_refer_youtube_vos(root, "valid")
  os.remove(os.path.join(root, "meta_expressions", "test", "meta_expressions.json"))
  with pytest.raises(DataError, match="test/meta_expressions.json"):
    ytvos.load_refer_youtube_vos(root, "valid")
  png = os.path.join(root, "train", "Annotations", "trainA", "00000.png")
  with open(png, "wb") as f:
    f.write(b"\x89PNG broken")
  mask = ytvos.PaletteMask(png, 1)
  with pytest.raises(DataError, match="00000.png"):
    mask.load()


# ----------------------------------------------------------------------------------------
# Refer-DAVIS17


def test_davis_expressions_interleaving_and_quirks(trees):
  root, truth = trees["davis"]
  exps = refer_davis.read_expressions(root)
  # Misspelt names in the files are fixed.
  assert {"classic-car", "dogs-scale", "motorbike"} <= set(exps)
  assert not {"clasic-car", "dog-scale", "motor-bike"} & set(exps)
  for video, v in truth["videos"].items():
    got = [{k: r[k] for k in ("exp_id", "obj_id", "exp", "annotator", "kind")}
           for r in exps[video]]
    assert got == v["expressions"], video
  # latin-1 annot2 decoded to the right character.
  assert any(r["exp"].endswith("café") and r["annotator"] == 2 for r in exps["bear"])
  # String order of ids, like ReferFormer: object 10 is ranked before object 2.
  by_id = {r["exp_id"]: r["obj_id"] for r in exps["motorbike"]}
  assert [by_id[str(i)] for i in (0, 4, 8)] == [1, 10, 2]
  assert all(int(r["exp_id"]) % 4 == r["slot"] for rows in exps.values() for r in rows)
  # An object missing from one file loses only that slot.
  assert [r["exp_id"] for r in exps["bear"]] == ["0", "1", "2"]


@pytest.mark.parametrize("annotations", ["unsupervised", "semi_supervised"])
def test_davis_samples_and_masks(trees, annotations):
  root, truth = trees["davis"]
  for split in ("train", "val"):
    samples = refer_davis.load_refer_davis(root, split, annotations=annotations)
    videos = {k: v for k, v in truth["videos"].items() if v["split"] == split}
    assert len(samples) == sum(len(v["frames"]) * len(v["expressions"])
                               for v in videos.values())
    for s in samples:
      v = videos[s.video_id]
      labels = v["labels"][annotations]
      np.testing.assert_array_equal(s.mask.load(), labels[s.target] == s.info["obj_id"])
      assert s.info["kind"] in ("first_frame", "full_video")
      assert s.info["annotator"] in (1, 2) and s.info["annotations"] == annotations
      assert s.sample_id == f"{s.video_id}/{s.info['exp_id']}/{v['frames'][s.target]}"
      assert "clip_stride" not in s.info
    s = samples[0]
    assert _close(s.video.load([s.target])[0], videos[s.video_id]["images"][s.target])
  present = refer_davis.load_refer_davis(root, "val", targets="present")
  assert all(s.mask.load().any() for s in present)
  # Object 10 of motorbike is only visible in frame 0.
  assert {s.target for s in present if s.info["obj_id"] == 10} == {0}


def test_davis_bad_input(trees, tmp_path):
  root = _copy(trees, "davis", tmp_path)
  os.remove(os.path.join(root, "DAVIS", "Annotations_unsupervised", "480p", "bear",
                         "00001.png"))
  with pytest.raises(DataError, match="2 masks for 3 frames"):
    refer_davis.load_refer_davis(root, "val")
  with open(os.path.join(root, "davis_text_annotations", "Davis17_annot1.txt"), "a") as f:
    f.write("bear 2 no quotes here\n")
  with pytest.raises(DataError, match=r"Davis17_annot1\.txt:\d+"):
    refer_davis.load_refer_davis(root, "train")


# ----------------------------------------------------------------------------------------
# A2D Sentences (the other reader, on this module's official-layout fixture)


def test_a2d_reader_on_official_layout(trees):
  root, truth = trees["a2d"]
  for split in ("train", "test"):
    samples = a2d.load_a2d(root, split)
    want = {(t["video_id"], t["frame"], t["instance_id"]): t
            for t in truth["samples"][split]}
    got = {(s.video_id, s.info["frame"], s.info["instance_id"]): s for s in samples}
    assert set(got) == set(want) and len(samples) == len(want)
    for key, s in got.items():
      np.testing.assert_array_equal(s.mask.load(), want[key]["mask"])
      assert s.sentence == want[key]["query"]
      assert s.target == key[1] - 1
    s = samples[0]
    assert _close(s.video.load([s.target])[0], truth["frames"][s.video_id][s.target])
  assert not any(s.video_id == "vidMissed" for s in a2d.load_a2d(root, "test"))


def test_registry_holds_each_benchmarks_clip_stride_and_splits():
  # A2D-trained models run zero-shot on J-HMDB: A2D's stride. The video sets step
  # through an already subsampled frame list: stride 1.
  strides = {n: registry.get(n).clip_stride for n in registry.names()}
  assert strides == {"a2d_sentences": 2, "jhmdb_sentences": 2, "refer_youtube_vos": 1,
                     "refer_davis": 1, "synthetic": 2, "mevis": 1}
  assert {n: registry.get(n).scoring for n in registry.names()} == {
      "a2d_sentences": "frame", "jhmdb_sentences": "frame", "refer_youtube_vos": "video",
      "refer_davis": "video", "synthetic": "frame", "mevis": "video"}
  assert registry.get("refer_davis").eval_split in refer_davis.SPLITS
  assert registry.get("refer_youtube_vos").eval_split in ytvos.SPLITS
  assert registry.get("a2d_sentences").eval_split in a2d.SPLITS
  assert registry.get("jhmdb_sentences").train_split is None  # Evaluation only.


def test_unknown_benchmark_is_one_line_listing_the_known():
  with pytest.raises(ValueError) as e:
    registry.get("a2d")
  msg = str(e.value)
  assert "\n" not in msg and "'a2d'" in msg
  assert all(n in msg for n in registry.names())


def test_registry_refuses_a_name_twice():
  with pytest.raises(ValueError, match="already registered"):
    registry.register(registry.get("synthetic"))
