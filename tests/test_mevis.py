"""MeViS on its official-layout fixture (testing.fixtures.write_mevis): reader, union
targets, validator, J / F / J&F as `eval_mevis.py` computes them, the submission zip."""

import json
import os
import zipfile

import ml_collections
import numpy as np
import pytest
from PIL import Image

from configs import mevis as mevis_config
from rvs_jax import text
from rvs_jax.data import mevis, registry, synthetic, validate
from rvs_jax.data import pipeline as pipeline_lib
from rvs_jax.data.types import DataError
from rvs_jax.evaluation import video_eval
from rvs_jax.testing import fixtures


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
  root = str(tmp_path_factory.mktemp("mevis"))
  return root, fixtures.write_mevis(root)


def _fresh(tmp_path):
  root = str(tmp_path / "mevis")
  return root, fixtures.write_mevis(root)


def _union(truth, split, vid, exp_id):
  v = truth[split][vid]
  return np.any([v["objects"][str(a)] for a in v["expressions"][exp_id]["anno_id"]],
                axis=0)


def _edit_json(path, change):
  with open(path, encoding="utf-8") as f:
    data = json.load(f)
  change(data)
  with open(path, "w", encoding="utf-8") as f:
    json.dump(data, f)


# -------------------------------------------------------------------------- reader


def test_reader_counts_order_and_fields(tree):
  root, truth = tree
  counts = truth["counts"]
  assert (counts["train_all"], counts["train_present"], counts["valid_u"],
          counts["valid"]) == (23, 22, 12, 8)
  train = mevis.load_mevis(root, "train")
  assert len(train) == counts["train_all"]  # Frames without any object included.
  assert len(mevis.load_mevis(root, "train", targets="present")) == 22
  assert len(mevis.load_mevis(root, "valid_u")) == counts["valid_u"]
  valid = mevis.load_mevis(root, "valid")
  assert len(valid) == counts["valid"] and all(s.mask is None for s in valid)
  # Video, then numeric expression id ("10" after "2"), then frame.
  order = list(dict.fromkeys((s.video_id, s.info["exp_id"]) for s in train))
  assert order == [("trainM", "0"), ("trainM", "1"), ("trainM", "2"), ("trainM", "10"),
                   ("trainN", "0")]
  s = next(s for s in train if s.sample_id == "trainM/2/00003")
  assert (s.target, s.info["obj_id"], s.info["anno_id"], s.sentence) == (
      3, [1, 2], ["1", "2"], "the cat leaving and the bird arriving")
  assert (s.info["height"], s.info["width"], s.info["num_frames"]) == (24, 40, 5)
  frame = s.video.load([s.target])[0]
  np.testing.assert_allclose(frame[0, 0], fixtures.frame_colour(0, 3), atol=4)


def test_union_targets_of_multi_object_expressions(tree):
  root, truth = tree
  samples = {s.sample_id: s for s in mevis.load_mevis(root, "train")}
  objects = truth["train"]["trainM"]["objects"]
  for t in range(5):
    got = samples[f"trainM/1/{t:05d}"].mask.load()
    np.testing.assert_array_equal(got, objects["0"][t] | objects["1"][t])
    if t >= 2:  # Both objects visible and overlapping: more than either, less than sum.
      assert objects["0"][t].sum() < got.sum() < objects["0"][t].sum() + objects[
          "1"][t].sum()
  # "2" refers to objects 1 (frames 2..4) and 2 (frame 0): frame 1 has neither.
  empty = samples["trainM/2/00001"]
  assert not empty.mask.load().any() and empty.mask.load().shape == (24, 40)
  assert not empty.info["present"] and samples["trainM/2/00000"].info["present"]
  np.testing.assert_array_equal(samples["trainM/2/00000"].mask.load(), objects["2"][0])


def test_training_pipeline_keeps_empty_targets(tree):
  root, _ = tree
  samples = [s for s in mevis.load_mevis(root, "train")
             if s.video_id == "trainM" and s.info["exp_id"] == "2"]
  words = text.vocabulary(s.sentence for s in samples)
  vectors = text.WordVectors(words, np.stack([synthetic.word_vector(w, 8)
                                              for w in words]))
  pipe = pipeline_lib.InputPipeline(samples, vectors, batch_size=5, height=24, width=40,
                                    train=False, backend="numpy", process_index=0,
                                    process_count=1)
  batch = next(iter(pipe))
  assert batch["has_mask"].all()  # The absent-object frame is a target: all zeros.
  assert [bool(m.any()) for m in np.asarray(batch["mask"])] == [True, False, True,
                                                                 True, True]


def test_never_visible_expression_skipped_in_train_kept_in_valid_u(tmp_path, caplog):
  root, _ = _fresh(tmp_path)
  for split, anno in (("train", "5"), ("valid_u", "11")):
    _edit_json(mevis.mask_dict_path(root, split),
               lambda d, a=anno: d.__setitem__(a, [None] * len(d[a])))
  with caplog.at_level("WARNING"):
    train = mevis.load_mevis(root, "train")
  assert not any(s.video_id == "trainN" for s in train)
  assert "video 'trainN': expression '0' skipped: its objects ['5'] are in no mask" in (
      caplog.text)
  valid_u = mevis.load_mevis(root, "valid_u")
  kept = [s for s in valid_u if s.info["exp_id"] == "2"]
  assert len(kept) == 4 and not any(s.mask.load().any() for s in kept)


def test_bad_arguments(tree):
  root, _ = tree
  with pytest.raises(ValueError, match="split must be one of"):
    mevis.load_mevis(root, "test")
  with pytest.raises(ValueError, match="for training"):
    mevis.load_mevis(root, "valid_u", targets="present")


# ----------------------------------------------------------------------- validator


def test_clean_tree_passes_the_validator(tree, capsys):
  root, _ = tree
  assert validate.main(["mevis", root]) == 0
  out = capsys.readouterr().out
  assert "0 error(s), 0 warning(s)" in out and "ERROR" not in out


def _missing_frame(root):
  os.remove(os.path.join(mevis.frames_dir(root, "train", "trainM"), "00003.jpg"))
  return "trainM", "00003.jpg", "missing frame (listed for video 'trainM')"


def _wrong_rle_size(root):
  def change(d):
    d["5"][1] = mevis.encode_rle(np.ones((24, 40), bool))  # trainN is 20x36.
  _edit_json(mevis.mask_dict_path(root, "train"), change)
  return "train", mevis.MASK_DICT, ("video 'trainN' expression '0': anno_id 5: RLE "
                                    "size (24, 40) of frame #1 != frame size (20, 36)")


def _absent_anno_id(root):
  _edit_json(mevis.mask_dict_path(root, "valid_u"), lambda d: d.pop("11"))
  return "valid_u", mevis.MASK_DICT, ("video 'valuA' expression '1': anno_id 11 is not "
                                      "in the file")


def _wrong_mask_count(root):
  _edit_json(mevis.mask_dict_path(root, "train"), lambda d: d["0"].pop())
  return "train", mevis.MASK_DICT, ("video 'trainM' expression '0': anno_id 0 has 4 "
                                    "masks for 5 frames")


def _malformed_meta(root):
  path = mevis.meta_expressions_path(root, "valid_u")
  with open(path, "rb") as f:
    data = f.read()
  with open(path, "wb") as f:
    f.write(data[:len(data) // 2])
  return "valid_u", mevis.META_EXPRESSIONS, "invalid JSON, truncated?"


def _malformed_rle(root):
  _edit_json(mevis.mask_dict_path(root, "train"),
             lambda d: d["1"].__setitem__(3, {"counts": "abc"}))
  return "train", mevis.MASK_DICT, ("video 'trainM' expression '1': anno_id 1: "
                                    "frame #3 is not a COCO RLE")


@pytest.mark.parametrize("plant", [_missing_frame, _wrong_rle_size, _absent_anno_id,
                                   _wrong_mask_count, _malformed_meta, _malformed_rle])
def test_validator_and_reader_name_the_file_and_the_video(tmp_path, plant):
  root, _ = _fresh(tmp_path)
  where, name, message = plant(root)
  split = where if where in mevis.SPLITS else "train"
  report = mevis.validate(root)
  assert report.errors, "nothing reported"
  assert all(name in p.path and message in p.message for p in report.errors), (
      "\n".join(map(str, report.errors)))
  with pytest.raises(DataError) as e:
    mevis.load_mevis(root, split)
  assert message in str(e.value) and name in str(e.value) and "\n" not in str(e.value)


# ------------------------------------------------------------------------- scoring


def _data(root, split="valid_u"):
  return ml_collections.ConfigDict(dict(name="mevis", root=root, max_eval_samples=0,
                                        eval_split=split))


def test_j_and_f_match_the_hand_checked_case(tree, tmp_path):
  """Prediction = object 0's box on every frame of every expression of `valuA`.

  Objects 0 and 1 are same-size boxes, far apart, object 1 on frames 2..3 only:
  * "0" [0]: J = F = 1.
  * "1" [0, 1]: frames 0, 1 exact; frames 2, 3 J = 1/2 (half the union), F = 2/3
    (precision 1, recall 1/2: congruent boxes have equal boundaries), so J = 3/4,
    F = 5/6.
  * "2" [1]: frames 0, 1 empty GT vs a mask, frames 2, 3 disjoint: J = F = 0.
  J = 7/12, F = 11/18, J&F = 43/72. With empty predictions everywhere only "2"'s two
  empty frames score (empty vs empty = 1): J = F = J&F = 1/6.
  """
  root, truth = tree
  samples = video_eval.load_video_samples(_data(root), "valid_u")
  assert len(samples) == 12
  obj0 = truth["valid_u"]["valuA"]["objects"]["10"].astype(np.float32)
  result = video_eval.score_predictions(((i, obj0[s.target]) for i, s in
                                         enumerate(samples)), samples,
                                        str(tmp_path / "a"), write_files=False)
  got = {f"{r['exp_id']}/{k}": r[k] for r in result["samples"] for k in ("J", "F")}
  assert got == pytest.approx({"0/J": 1, "0/F": 1, "1/J": 3 / 4, "1/F": 5 / 6,
                               "2/J": 0, "2/F": 0})
  m = result["metrics"]
  assert (m["J"], m["F"], m["J&F"]) == pytest.approx((7 / 12, 11 / 18, 43 / 72))
  assert m["num_samples"] == 3 and m["num_gt_frames"] == 12
  empty = video_eval.score_predictions(((i, np.zeros((8, 8), np.float32)) for i in
                                        range(len(samples))), samples,
                                       str(tmp_path / "b"), write_files=False)
  assert (empty["metrics"]["J"], empty["metrics"]["F"]) == pytest.approx((1 / 6, 1 / 6))
  perfect = video_eval.score_predictions(
      ((i, s.mask.load().astype(np.float32)) for i, s in enumerate(samples)), samples,
      str(tmp_path / "c"), write_files=False)
  assert perfect["metrics"]["J&F"] == 1.0


def test_valid_submission_zip_has_video_folders_at_its_root(tree, tmp_path):
  root, truth = tree
  samples = video_eval.load_video_samples(_data(root, "valid"), "valid")
  out_dir = str(tmp_path / "eval" / "mevis_valid")
  result = video_eval.score_predictions(
      ((i, np.full((8, 8), 0.9, np.float32)) for i in range(len(samples))), samples,
      out_dir, zip_root=registry.get("mevis").submission_root)
  assert "J" not in result["metrics"]
  want = {f"{v}/{e}/{f}.png": t["images"].shape[1:3]
          for v, t in truth["valid"].items() for e in t["expressions"]
          for f in t["frames"]}
  assert len(want) == 8
  with zipfile.ZipFile(result["submission"]) as zf:
    assert sorted(zf.namelist()) == sorted(want)
    for name, size in want.items():
      with zf.open(name) as f, Image.open(f) as im:
        assert im.mode == "L" and np.asarray(im).shape == size
        assert set(np.unique(np.asarray(im)).tolist()) == {255}


# -------------------------------------------------------------- registry and config


def test_config_and_registry_defaults(tree):
  root, _ = tree
  config = mevis_config.get_config("tiny")
  bench = registry.get("mevis")
  assert (bench.scoring, bench.submission_root, bench.clip_stride) == ("video", "", 1)
  assert (config.data.name, config.data.train_split, config.data.eval_split,
          config.data.clip_stride) == ("mevis", "train", "valid_u", 1)
  assert config.train.eval_every_epochs == 0
  config.data.root = root
  assert len(bench.read(config.data, "train")) == 23
  assert registry.get("refer_youtube_vos").submission_root == "Annotations"
