"""Tests of the synthetic benchmark generator and the A2D Sentences reader."""

import collections
import json
import os
import shutil

import h5py
import numpy as np
import pytest

from rvs_jax import text
from rvs_jax.data import a2d
from rvs_jax.data import synthetic
from rvs_jax.data import video_io
from rvs_jax.data.types import DataError

H, W, T = 32, 48, 12


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
  root = tmp_path_factory.mktemp("syn")
  truth = synthetic.generate(root, num_videos=12, seed=3, height=H, width=W, frames=T,
                             quirks=True, workers=1)
  return str(root), truth


def test_layout_files(generated):
  root, truth = generated
  for rel in ("Release/videoset.csv", "text_annotations/a2d_annotation.txt",
              "text_annotations/a2d_missed_videos.txt", synthetic.GLOVE_NAME,
              synthetic.META_NAME):
    assert os.path.isfile(os.path.join(root, rel)), rel
  videos = a2d.read_videoset(root)
  assert len(videos) == 13  # 12 + the missed video.
  assert {v["subset"] for v in videos} == {0, 1}
  for v in videos:
    clip = os.path.join(root, "Release", "clips320H", v["vid"] + ".mp4")
    frames = video_io.Mp4Video(clip).load(range(T))
    assert frames.shape == (T, H, W, 3) and frames.dtype == np.uint8
  with open(os.path.join(root, "text_annotations", "a2d_annotation.txt")) as f:
    assert f.readline().strip() == "video_id,instance_id,query"


def test_load_matches_truth(generated):
  root, truth = generated
  for split in ("train", "test"):
    samples = a2d.load_a2d(root, split)
    ids = [s.sample_id for s in samples]
    assert len(ids) == len(set(ids)) == len(truth.samples[split]) > 0
    assert set(ids) == set(truth.samples[split])
    assert ids == sorted(ids)  # Video order = videoset order = sorted names here.
    for s in samples:
      vid, frame, inst = s.sample_id.split("/")
      assert s.video_id == vid and s.target == int(frame) - 1
      assert s.info["frame"] == int(frame) and s.info["instance_id"] == int(inst)
      assert (s.info["height"], s.info["width"]) == (H, W)
      assert s.sentence == truth.sentences[s.sample_id]
      assert s.info["kind"] == truth.kinds[s.sample_id]
      mask = s.mask.load()
      assert mask.dtype == bool and mask.shape == (H, W)
      np.testing.assert_array_equal(mask, truth.samples[split][s.sample_id])
    assert json.loads(json.dumps([s.info for s in samples]))  # JSON-able.


def test_quirks_handled(generated):
  root, truth = generated
  applied = truth.meta["quirks_applied"]
  assert all(applied.values()), applied
  # "1 (copy)" row dropped.
  rows, dropped = a2d.read_annotations(root)
  assert dropped == 1
  # Missed video: has an annotation row but no h5 folder; must be skipped silently.
  missed = applied["missed"]
  assert missed in a2d.read_missed(root) and missed in rows
  assert not os.path.exists(os.path.join(root, a2d.ANNOTATION_DIR, missed))
  all_ids = {s.sample_id for sp in ("train", "test") for s in a2d.load_a2d(root, sp)}
  assert not any(i.startswith(missed + "/") for i in all_ids)
  # Duplicate instance: listed twice, the first mask is the right one (checked against
  # the truth in test_load_matches_truth); the file really has the duplicate.
  with h5py.File(os.path.join(root, a2d.ANNOTATION_DIR, applied["dup"] + ".h5")) as f:
    inst = f["instance"][()].astype(int).tolist()
    assert len(inst) != len(set(inst)) and f["reMask"].shape[0] == len(inst)
  with h5py.File(os.path.join(root, a2d.ANNOTATION_DIR, applied["extra"] + ".h5")) as f:
    assert f["reMask"].shape[0] == f["instance"].shape[0] + 1
  # Referred instance absent from one annotated frame: no sample for it there.
  assert applied["absent"] not in all_ids
  vid, frame, _ = applied["absent"].split("/")
  assert any(i.startswith(f"{vid}/{frame}/") for i in all_ids)


def test_h5_is_matlab_column_major(generated):
  root, _ = generated
  seen_ndim = set()
  for dirpath, _, files in os.walk(os.path.join(root, a2d.ANNOTATION_DIR)):
    for name in files:
      path = os.path.join(dirpath, name)
      with open(path, "rb") as f:
        assert f.read(10) == b"MATLAB 7.3"
      with h5py.File(path) as f:
        n = f["instance"].shape[0]
        re_mask = f["reMask"]
        seen_ndim.add(re_mask.ndim)
        if re_mask.ndim == 2:
          assert n == 1 and re_mask.shape == (W, H)
        else:
          assert re_mask.shape[1:] == (W, H)
        num_masks = re_mask.shape[0] if re_mask.ndim == 3 else 1
        assert f["id"].shape == (1, n) and f["reBBox"].shape == (4, num_masks)
  assert seen_ndim == {2, 3}  # Both the single-mask and the multi-mask layout occur.


def test_kinds_follow_the_scene(generated):
  root, truth = generated
  counts = collections.Counter(truth.kinds.values())
  assert set(counts) <= set(synthetic.KINDS) and counts["motion"] and counts["appearance"]
  for v in truth.meta["videos"].values():
    objs = list(v["objects"].values())
    for o in objs:
      others = [p for p in objs if p is not o]
      app = lambda p: (p["colour"], p["shape"], p["size"])
      same_app = any(app(p) == app(o) for p in others)
      same_mot = any(p["motion"] == o["motion"] for p in others)
      expected = {(False, True): "appearance", (True, False): "motion",
                  (True, True): "both", (False, False): None}[(same_app, same_mot)]
      assert o["kind"] == expected
      assert (o["sentence"] is None) == (o["kind"] is None)
      if o["kind"] in ("motion", "both"):
        assert o["colour"] in o["sentence"] and o["shape"] in o["sentence"]


def test_glove_covers_vocabulary(generated):
  root, truth = generated
  sentences = [s.sentence for sp in ("train", "test") for s in a2d.load_a2d(root, sp)]
  vocab = text.vocabulary(sentences)
  path = os.path.join(root, synthetic.GLOVE_NAME)
  with open(path, encoding="utf-8") as f:
    first = f.readline().rstrip("\n").split(" ")
  assert len(first) >= 301
  wv = text.WordVectors.from_glove(path, vocab)
  assert sorted(wv.words) == vocab
  vecs = wv.table[1:]
  norms = np.linalg.norm(vecs, axis=1)
  assert np.all(norms > 1)  # Random, non-degenerate, distinct vectors.
  cos = (vecs / norms[:, None]) @ (vecs / norms[:, None]).T
  assert np.abs(cos - np.eye(len(vecs))).max() < 0.5
  np.testing.assert_allclose(wv.lookup(["red"])[0][0], synthetic.word_vector("red"),
                             atol=1e-5)


def test_deterministic_and_cli(tmp_path):
  a, b = tmp_path / "a", tmp_path / "b"
  synthetic.main(["--out", str(a), "--num-videos", "2", "--seed", "7", "--height", "32",
                  "--frames", "8", "--workers", "1"])
  synthetic.generate(b, num_videos=2, seed=7, height=32, frames=8, workers=1)
  for rel in ("text_annotations/a2d_annotation.txt", "Release/videoset.csv",
              synthetic.META_NAME, synthetic.GLOVE_NAME):
    assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel
  va = video_io.decode_mp4(str(a / "Release/clips320H/syn00000.mp4"))
  vb = video_io.decode_mp4(str(b / "Release/clips320H/syn00000.mp4"))
  np.testing.assert_array_equal(va, vb)


@pytest.fixture
def small_copy(generated, tmp_path):
  root, truth = generated
  dst = tmp_path / "copy"
  shutil.copytree(root, dst)
  return str(dst), truth


def test_corrupt_video_names_file(small_copy):
  root, _ = small_copy
  samples = a2d.load_a2d(root, "train")
  clip = samples[0].video.path
  with open(clip, "r+b") as f:  # Keep the size, destroy the content.
    f.write(b"\x00" * 4096)
  video_io.FRAME_CACHE.clear()
  with pytest.raises(DataError, match=os.path.basename(clip)):
    samples[0].video.load([0])
  open(clip, "wb").close()  # Empty file.
  video_io.FRAME_CACHE.clear()
  with pytest.raises(DataError, match=os.path.basename(clip)):
    _ = samples[0].video.num_frames


def test_missing_annotations_name_file(small_copy):
  root, _ = small_copy
  samples = a2d.load_a2d(root, "train")
  h5 = samples[0].mask.path
  os.remove(h5)
  with pytest.raises(DataError, match=os.path.basename(h5)):
    samples[0].mask.load()
  folder = os.path.dirname(h5)
  shutil.rmtree(folder)
  with pytest.raises(DataError, match=samples[0].video_id):
    a2d.load_a2d(root, "train")
  os.remove(os.path.join(root, "Release", "videoset.csv"))
  with pytest.raises(DataError, match="videoset.csv"):
    a2d.load_a2d(root, "train")


def _write_raw(path, frames, pix_fmt, in_format, options=None):
  import av  # pylint: disable=g-import-not-at-top
  with av.open(str(path), "w", options=options or {}) as c:
    s = c.add_stream("libx264", rate=24, options={"crf": "10"})
    s.width, s.height, s.pix_fmt = frames.shape[2], frames.shape[1], pix_fmt
    for f in frames:
      for pkt in s.encode(av.VideoFrame.from_ndarray(f, format=in_format)):
        c.mux(pkt)
    for pkt in s.encode():
      c.mux(pkt)


def test_video_io_gray_truncated_frame_folder_cache(tmp_path):
  # Grayscale video -> 3 equal channels.
  gray = np.tile(np.linspace(40, 220, 32).astype(np.uint8)[None, None], (5, 16, 1))
  _write_raw(tmp_path / "gray.mp4", gray, "gray", "gray")
  frames = video_io.Mp4Video(tmp_path / "gray.mp4").load([0, 4])
  assert frames.shape == (2, 16, 32, 3)
  assert np.array_equal(frames[..., 0], frames[..., 1])
  # (The encoder treats "gray" as limited-range luma, so levels are stretched a bit.)
  row = frames[0, 8, :, 0].astype(int)
  assert np.all(np.diff(row) >= 0) and row[-1] - row[0] > 150
  # Colour round trip through write_mp4 stays close.
  rgb = np.zeros((6, 16, 32, 3), np.uint8)
  rgb[:, :, :16] = (210, 40, 40)
  rgb[:, :, 16:] = (45, 80, 210)
  video_io.write_mp4(tmp_path / "rgb.mp4", rgb, pix_fmt="yuv444p")
  back = video_io.Mp4Video(tmp_path / "rgb.mp4").load(range(6))
  assert np.abs(back.astype(int) - rgb).max() <= 6
  # A truncated "faststart" file decodes its first frames only: still an error.
  noise = np.random.default_rng(0).integers(0, 256, (24, 32, 48, 3), dtype=np.uint8)
  _write_raw(tmp_path / "fs.mp4", noise, "yuv420p", "rgb24", {"movflags": "faststart"})
  data = (tmp_path / "fs.mp4").read_bytes()
  (tmp_path / "cut.mp4").write_bytes(data[:len(data) // 2])
  with pytest.raises(DataError, match="cut.mp4"):
    video_io.Mp4Video(tmp_path / "cut.mp4").load([0])
  with pytest.raises(DataError, match="missing.mp4"):
    video_io.Mp4Video(tmp_path / "missing.mp4").load([0])
  with pytest.raises(DataError, match="outside"):
    video_io.Mp4Video(tmp_path / "rgb.mp4").load([6])
  # Frame folders: PIL .convert('RGB') (grayscale PNG -> RGB), bad files named.
  from PIL import Image  # pylint: disable=g-import-not-at-top
  paths = []
  for i in range(3):
    paths.append(tmp_path / f"{i + 1:05d}.png")
    Image.fromarray(np.full((8, 10), 50 * i, np.uint8)).save(paths[-1])
  folder = video_io.FrameFolder(paths)
  got = folder.load([2, 0])
  assert folder.num_frames == 3 and got.shape == (2, 8, 10, 3) and got[0].min() == 100
  paths[1].write_bytes(b"not a png")
  with pytest.raises(DataError, match="00002.png"):
    folder.load([1])
  # The LRU keeps decoded videos within its byte budget (at least one).
  cache = video_io._FrameCache(max_bytes=100)  # pylint: disable=protected-access
  cache.put("a", np.zeros(60, np.uint8))
  cache.put("b", np.zeros(60, np.uint8))
  assert cache.get("a") is None and cache.get("b") is not None
