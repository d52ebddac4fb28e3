"""Video-benchmark evaluation (rvs_jax.evaluation.video_eval) on the fixtures' official trees.

The scorer is fed stub predictions (the ground truth itself, or empty masks) so the
expected J / F are known exactly; one test goes through the real input pipeline with a
stub `predict_fn`, and one runs eval.py end to end on a tiny random model.
"""

import json
import os
import subprocess
import sys
import zipfile

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from PIL import Image

from rvs_jax import checkpointing, sharding, text
from rvs_jax.evaluation import report, video_eval
from rvs_jax.data import synthetic
from rvs_jax.testing import fixtures
from rvs_jax.data import pipeline as pipeline_lib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def trees(tmp_path_factory):
  root = tmp_path_factory.mktemp("video_benchmarks")
  ytvos, davis = str(root / "ytvos"), str(root / "davis")
  return {"ytvos": (ytvos, fixtures.write_refer_youtube_vos(ytvos)),
          "davis": (davis, fixtures.write_refer_davis(davis))}


def _data(name, root, max_eval_samples=0):
  return ml_collections.ConfigDict(dict(name=name, root=root,
                                        max_eval_samples=max_eval_samples))


def _ytvos(trees, split="train", limit=0):
  return video_eval.load_video_samples(
      _data("refer_youtube_vos", trees["ytvos"][0], limit), split)


def _davis(trees):
  return video_eval.load_video_samples(
      _data("refer_davis", trees["davis"][0]), "val")


def _perfect(samples):
  """Probabilities equal to the GT at the original size: binarised to the GT exactly."""
  return ((i, s.mask.load().astype(np.float32)) for i, s in enumerate(samples))


def _empty(samples, size=8):
  return ((i, np.zeros((size, size), np.float32)) for i in range(len(samples)))


def _empty_jf(present):
  """DAVIS J (= F here: boxes always have a boundary) of an empty prediction."""
  return float(np.mean([0.0 if p else 1.0 for p in present]))


def _check_submission(result, out_dir, expected):
  """`expected`: {(video, exp_id, frame): GT bool mask or (H, W) size}."""
  names = {f"Annotations/{v}/{e}/{f}.png" for v, e, f in expected}
  ann = os.path.join(out_dir, "Annotations")
  on_disk = {os.path.relpath(os.path.join(d, n), out_dir)
             for d, _, files in os.walk(ann) for n in files}
  assert on_disk == names
  assert result["submission"] == out_dir + "_submission.zip"
  with zipfile.ZipFile(result["submission"]) as zf:
    assert sorted(zf.namelist()) == sorted(names)
    for (v, e, f), want in expected.items():
      name = f"Annotations/{v}/{e}/{f}.png"
      assert zf.read(name) == open(os.path.join(out_dir, name), "rb").read()
  for (v, e, f), want in expected.items():
    with Image.open(os.path.join(ann, v, e, f + ".png")) as im:
      assert im.mode == "L"
      png = np.asarray(im)
    if isinstance(want, tuple):
      assert png.shape == want
    else:
      assert png.shape == want.shape
      np.testing.assert_array_equal(png, want.astype(np.uint8) * 255)
    assert set(np.unique(png).tolist()) <= {0, 255}


# -------------------------------------------------------------------------- samples


def test_samples_are_frame_major_and_capped_by_expression(trees):
  truth = trees["ytvos"][1]
  every = _ytvos(trees)
  assert len(every) == truth["counts"]["train_all"]  # Absent-object frames included.
  capped = _ytvos(trees, limit=3)
  assert [(s.video_id, s.info["exp_id"], s.info["frame"]) for s in capped[:4]] == [
      ("trainA", "0", "00000"), ("trainA", "1", "00000"), ("trainA", "2", "00000"),
      ("trainA", "0", "00005")]
  assert len(capped) == 3 * 5
  assert not any("clip_stride" in s.info for s in every)  # config.data.clip_stride rules.


# ---------------------------------------------------------------------- Ref-YTVOS


def test_ytvos_ground_truth_scores_one_and_writes_the_submission(trees, tmp_path):
  truth = trees["ytvos"][1]["train"]
  samples = _ytvos(trees)
  out_dir = str(tmp_path / "eval" / "refer_youtube_vos_train")
  result = video_eval.score_predictions(_perfect(samples), samples, out_dir)
  m = result["metrics"]
  assert (m["J"], m["F"], m["J&F"]) == (1.0, 1.0, 1.0)
  assert m["num_samples"] == 13 and m["num_frames"] == len(samples) == m["num_gt_frames"]
  assert len(result["samples"]) == 13
  assert all(r["J"] == 1.0 and r["F"] == 1.0 for r in result["samples"])
  assert {(r["video"], r["exp_id"]): r["num_frames"] for r in result["samples"]} == {
      (v, e): len(t["frames"]) for v, t in truth.items() for e in t["expressions"]}
  expected = {(v, e, f): t["labels"][k] == int(x["obj_id"])
              for v, t in truth.items() for e, x in t["expressions"].items()
              for k, f in enumerate(t["frames"])}
  _check_submission(result, out_dir, expected)
  json.dumps(result, allow_nan=False)  # Valid JSON: no NaN anywhere.


def test_ytvos_empty_predictions_follow_davis_rules(trees, tmp_path):
  truth = trees["ytvos"][1]["train"]
  samples = _ytvos(trees)
  result = video_eval.score_predictions(_empty(samples), samples,
                                             str(tmp_path / "out"))
  want = {}
  for v, t in truth.items():
    for e, x in t["expressions"].items():
      # Frames without the object: empty vs empty is J = F = 1; with it, J = F = 0.
      want[(v, e)] = _empty_jf([(lab == int(x["obj_id"])).any() for lab in t["labels"]])
  got = {(r["video"], r["exp_id"]): (r["J"], r["F"]) for r in result["samples"]}
  assert got == {k: (w, w) for k, w in want.items()}
  assert want[("trainA", "1")] == pytest.approx(0.4)  # Object 2 visible on 3 of 5.
  mean = float(np.mean(list(want.values())))
  m = result["metrics"]
  assert m["J"] == pytest.approx(mean) and m["F"] == pytest.approx(mean)
  assert m["J&F"] == pytest.approx(mean)


def test_ytvos_valid_without_ground_truth_writes_only_the_submission(trees, tmp_path):
  truth = trees["ytvos"][1]["valid"]
  samples = _ytvos(trees, split="valid")
  out_dir = str(tmp_path / "refer_youtube_vos_valid")
  result = video_eval.score_predictions(_empty(samples), samples, out_dir)
  assert "J" not in result["metrics"] and result["metrics"]["num_samples"] == 3
  assert all(r["J"] is None and r["num_gt_frames"] == 0 for r in result["samples"])
  # Scored videos only (valid minus test), every frame, original resolution.
  expected = {(v, e, f): t["images"].shape[1:3] for v, t in truth.items()
              for e in t["expressions"] for f in t["frames"]}
  assert {v for v, _, _ in expected} == {"valA", "valB"}
  _check_submission(result, out_dir, expected)


def test_pipeline_path_with_a_stub_model(trees, tmp_path):
  samples = _ytvos(trees, limit=3)
  words = text.vocabulary(s.sentence for s in samples)
  table = np.stack([synthetic.word_vector(w, 8) for w in words])
  vectors = text.WordVectors(words, table)
  pipe = pipeline_lib.InputPipeline(samples, vectors, batch_size=4, height=16, width=16,
                                    train=False, backend="numpy", process_index=0,
                                    process_count=1)

  def predict_fn(variables, video, words, word_mask):
    del variables, words, word_mask
    return jnp.zeros(video.shape[:1] + video.shape[2:4])  # (B, H, W): empty masks.

  result = video_eval.evaluate(predict_fn, {}, pipe, samples, sharding.make_mesh(),
                                    str(tmp_path / "out"))
  direct = video_eval.score_predictions(_empty(samples), samples,
                                             str(tmp_path / "direct"), write_files=False)
  assert result["metrics"] == direct["metrics"]
  assert result["samples"] == direct["samples"]
  assert result["metrics"]["num_frames"] == 15


# ---------------------------------------------------------------------- Ref-DAVIS


def test_davis_ground_truth_scores_and_indexed_pngs(trees, tmp_path):
  videos = trees["davis"][1]["videos"]
  samples = _davis(trees)
  out_dir = str(tmp_path / "refer_davis_val")
  result = video_eval.score_predictions(_perfect(samples), samples, out_dir)
  m = result["metrics"]
  assert (m["J"], m["F"], m["J&F"]) == (1.0, 1.0, 1.0)
  assert m["num_samples"] == 12 + 3 and m["num_frames"] == 12 * 5 + 3 * 3
  assert {r["slot"] for r in result["samples"]} == {0, 1, 2, 3}
  assert set(result["by_slot"]) == {"anno_0", "anno_1", "anno_2", "anno_3",
                                    "first_frame", "full_video"}
  assert all(v["J&F"] == 1.0 for v in result["by_slot"].values())
  assert result["by_slot"]["anno_3"]["num_samples"] == 3  # bear lacks annot2 full-video.
  expected = {}
  for v in ("motorbike", "bear"):
    labels = videos[v]["labels"]["unsupervised"]
    for x in videos[v]["expressions"]:
      for k, f in enumerate(videos[v]["frames"]):
        expected[(v, x["exp_id"], f)] = labels[k] == x["obj_id"]
  _check_submission(result, out_dir, expected)

  # ReferFormer's indexed PNGs: label = 1 + rank of the object in exp-id order, which
  # ranks object ids as strings: 1, 10, 2.
  unsup = videos["motorbike"]["labels"]["unsupervised"]
  remap = np.zeros(256, np.uint8)
  remap[[1, 10, 2]] = [1, 2, 3]
  for slot in range(4):
    for k, f in enumerate(videos["motorbike"]["frames"]):
      with Image.open(os.path.join(out_dir, f"anno_{slot}", "motorbike",
                                   f + ".png")) as im:
        assert im.mode == "P"
        np.testing.assert_array_equal(np.asarray(im), remap[unsup[k]])
  with Image.open(os.path.join(out_dir, "anno_3", "bear", "00000.png")) as im:
    assert not np.asarray(im).any()  # No expression in this slot: all background.

  # Official unsupervised protocol: motorbike has 10 GT objects (the max id of its first
  # frame; ids 3..9 are empty everywhere and match the zero padding with J = F = 1), all
  # matched perfectly by the Hungarian assignment; bear's missing anno_3 expression
  # leaves its object unmatched there (J = F = 0).
  davis = result["davis_unsupervised"]
  for slot in range(3):
    assert davis[f"anno_{slot}"]["J&F"] == 1.0
    assert davis[f"anno_{slot}"]["num_objects"] == 11
  assert davis["anno_3"]["J"] == pytest.approx(10 / 11)
  assert davis["anno_3"]["F"] == pytest.approx(10 / 11)
  assert davis["mean"]["J&F"] == pytest.approx((3 + 10 / 11) / 4)
  assert davis["first_frame"]["J&F"] == 1.0
  assert davis["full_video"]["J&F"] == pytest.approx((1 + 10 / 11) / 2)
  json.dumps(result, allow_nan=False)

  # The printed tables: overall, per slot, the official protocol (one formatter).
  tables = report.results_table(result, "refer_davis val").split("\n\n")
  assert len(tables) == 3 and tables[0].startswith("refer_davis val\n")
  assert tables[1].startswith("per-expression scores by slot\n")
  rows = {r.split("|")[1].strip(): [c.strip() for c in r.strip("|").split("|")]
          for r in tables[2].splitlines()[3:]}
  header = [c.strip() for c in tables[2].splitlines()[1].strip("|").split("|")]
  assert header[:4] == ["", "J&F", "J", "F"]
  assert set(rows) == {"anno_0", "anno_1", "anno_2", "anno_3", "mean", "first_frame",
                       "full_video"}
  assert rows["anno_3"][header.index("J")] == f"{100 * 10 / 11:.2f}"
  # Slot groups have num_slots, slots num_objects: each leaves the other's cell empty.
  assert rows["mean"][header.index("num_objects")] == ""
  assert rows["anno_0"][header.index("num_objects")] == "11"


def test_davis_empty_predictions(trees, tmp_path):
  videos = trees["davis"][1]["videos"]
  samples = _davis(trees)
  result = video_eval.score_predictions(_empty(samples), samples,
                                             str(tmp_path / "out"), write_files=False)
  for r in result["samples"]:
    labels = videos[r["video"]]["labels"]["unsupervised"]
    want = _empty_jf([(lab == r["obj_id"]).any() for lab in labels])
    assert (r["J"], r["F"]) == (want, want)
  # Object 10 of motorbike is only in frame 0: 4 of 5 frames are empty vs empty.
  assert [r["J"] for r in result["samples"] if r["obj_id"] == 10] == [0.8] * 4
  # Official protocol, every slot: 11 (video, GT object) pairs against zero padding:
  # motorbike 1, 2 -> 0; 10 -> 0.8; the empty ids 3..9 -> 1; bear 1 -> 0.
  want = (0.8 + 7) / 11
  for slot in range(4):
    values = result["davis_unsupervised"][f"anno_{slot}"]
    assert values["num_objects"] == 11
    for key in ("J", "F", "J-Recall", "F-Recall", "J&F"):
      assert values[key] == pytest.approx(want), key
  assert "submission" not in result


def test_davis_overlaps_resolved_by_argmax(trees, tmp_path):
  videos = trees["davis"][1]["videos"]
  samples = _davis(trees)

  def probs():
    # Slot 0 of motorbike: object 1 claims the whole frame at 0.7, object 2 its box at
    # 0.9, object 10 stays below 0.5: the background plane (0.1) beats the zeroed 0.4.
    for i, s in enumerate(samples):
      gt = s.mask.load()
      p = np.zeros(gt.shape, np.float32)
      if s.video_id == "motorbike" and s.info["slot"] == 0:
        p[:] = {1: 0.7, 10: 0.4}.get(s.info["obj_id"], 0.0)
        if s.info["obj_id"] == 2:
          p[gt] = 0.9
      yield i, p

  out_dir = str(tmp_path / "out")
  video_eval.score_predictions(probs(), samples, out_dir)
  unsup = videos["motorbike"]["labels"]["unsupervised"]
  with Image.open(os.path.join(out_dir, "anno_0", "motorbike", "00002.png")) as im:
    labels = np.asarray(im)
  np.testing.assert_array_equal(labels, np.where(unsup[2] == 2, 3, 1))


# ----------------------------------------------------------------------- eval.py


def test_eval_cli_on_ytvos_with_a_random_tiny_model(trees, tmp_path):
  from configs import refer_youtube_vos  # pylint: disable=g-import-not-at-top
  from rvs_jax import models  # pylint: disable=g-import-not-at-top
  from rvs_jax.train import trainer  # pylint: disable=g-import-not-at-top

  root = trees["ytvos"][0]
  config = refer_youtube_vos.get_config("tiny")
  model = models.build_model(config.model)
  variables = trainer.init_variables(config, model)
  ckpt, workdir = str(tmp_path / "ckpt"), str(tmp_path / "work")
  checkpointing.save_converted(ckpt, jax.device_get(variables), {"kind": "random init (test)"})
  samples = _ytvos(trees)
  words = text.vocabulary(s.sentence for s in samples)
  text.WordVectors(words, np.stack([synthetic.word_vector(w) for w in words])).save(
      os.path.join(ckpt, "word_vectors.npz"))
  env = dict(os.environ, JAX_PLATFORMS="cpu", RVS_JAX_CACHE=os.environ.get(
      "RVS_JAX_TEST_CACHE", os.path.join(ROOT, ".jax_cache")))
  out = subprocess.run(
      [sys.executable, os.path.join(ROOT, "eval.py"), "--config",
       os.path.join(ROOT, "configs", "refer_youtube_vos.py:tiny"), "--workdir", workdir,
       "--checkpoint", ckpt, f"--config.data.root={root}",
       "--config.data.eval_split=train", "--config.data.max_eval_samples=3",
       "--config.eval.batch_size=4", "--config.data.backend=numpy"],
      capture_output=True, text=True, cwd=ROOT, env=env, timeout=600, check=False)
  assert out.returncode == 0, out.stderr[-3000:]
  assert "J&F" in out.stdout
  path = os.path.join(workdir, "eval", "refer_youtube_vos_train_clean.json")
  result = json.load(open(path))
  m = result["metrics"]
  assert m["num_samples"] == 3 and m["num_frames"] == 15
  for key in ("J", "F"):
    assert 0.0 <= m[key] <= 1.0
  assert m["J&F"] == pytest.approx((m["J"] + m["F"]) / 2)
  assert [(r["video"], r["exp_id"]) for r in result["samples"]] == [
      ("trainA", "0"), ("trainA", "1"), ("trainA", "2")]
  assert m["J"] == pytest.approx(np.mean([r["J"] for r in result["samples"]]))
  with zipfile.ZipFile(os.path.join(workdir, "eval",
                                    "refer_youtube_vos_train_submission.zip")) as zf:
    names = zf.namelist()
  assert len(names) == 15 and all(n.startswith("Annotations/trainA/") for n in names)
