"""`python -m rvs_jax.inference.predict` on a generated video, with a model trained in the test.

The known-easy case: one large red square moving diagonally over a plain background,
"the red square". The fixture trains the tiny model (CMAM+ in stages 1 and 5, LASP 5->4,
the `test_train` variant) for 60 Adam steps on clips of the same kind (random plain
backgrounds, square size, position and motion; never the test video itself) and saves
it as a training workdir would: an Orbax step whose `meta` holds the config, and
`word_vectors.npz`. The CLI must then find the square in every frame of a 72x96 H.264
video it never saw, at the video's own resolution: mean IoU >= 0.6 over the 16 frames.

Why 0.6 means something: the square covers 11% of the frame, so "everything" scores
IoU 0.11 and "nothing" 0; it moves 45 px right and 15 px down over the clip, about 1.6
times its own width, so a mask that stays where the square starts scores < 0.3 on the
last frames; and 0.6 needs the boundary within ~3 px on a side (measured: see the
report printed by `test_cli_segments_a_generated_video`).
"""

import dataclasses
import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from PIL import Image

from configs import synthetic
from rvs_jax import checkpointing, models, text
from rvs_jax.inference import predict, segmenter
from rvs_jax.pictures import overlay
from rvs_jax.train import trainer
from rvs_jax.testing.jit import O0
from rvs_jax.data import synthetic as synthetic_data
from rvs_jax.data import video_io

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IOU_THRESHOLD = 0.6
H, W, T = 72, 96, 16
SIDE = 28
RED = (210, 40, 40)                        # The synthetic benchmark's "red".
BACKGROUND = (90, 110, 140)
VOCABULARY = ("the", "red", "square", "a", "moving", "right", "blue", "circle")
SENTENCES = ("the red square", "a red sqaure moving right")   # 2nd: one unknown word


def _config():
  config = synthetic.get_config("tiny")
  config.model.cmam_stages = (1, 5)
  config.model.lasp_pairs = ((5, 4),)
  return config


def _square_position(t):
  return 20 + t, 4 + 3 * t                  # (y, x) of the top-left corner at frame t


def _test_video():
  """uint8 (T, H, W, 3) frames and bool (T, H, W) ground truth."""
  frames = np.empty((T, H, W, 3), np.uint8)
  frames[:] = BACKGROUND
  truth = np.zeros((T, H, W), bool)
  for t in range(T):
    y, x = _square_position(t)
    frames[t, y:y + SIDE, x:x + SIDE] = RED
    truth[t, y:y + SIDE, x:x + SIDE] = True
  return frames, truth


def _vocabulary():
  return text.WordVectors(VOCABULARY, [synthetic_data.word_vector(w) for w in VOCABULARY])


def _training_batch(rng, size, s=64, clip=8):
  """Clips like the test video (but random) at the model size, for "the red square"."""
  video = np.empty((size, clip, s, s, 3), np.float32)
  mask = np.zeros((size, s, s), np.float32)
  red = np.asarray(RED, np.float32) / 255
  for i in range(size):
    bg = rng.uniform(0.2, 0.9, 3)
    side = int(rng.integers(14, 30))
    y0, x0 = rng.integers(0, s - side, 2)
    vy, vx = rng.integers(-2, 3, 2)
    for t in range(clip):
      y = int(np.clip(y0 + vy * (t - clip // 2), 0, s - side))
      x = int(np.clip(x0 + vx * (t - clip // 2), 0, s - side))
      video[i, t] = bg
      video[i, t, y:y + side, x:x + side] = red
      if t == clip // 2:
        mask[i, y:y + side, x:x + side] = 1
  words, word_mask, _ = _vocabulary().encode("the red square")
  return dict(video=video, words=np.repeat(words[None], size, 0),
              word_mask=np.repeat(word_mask[None], size, 0), mask=mask,
              has_mask=np.ones(size, bool), valid=np.ones(size, bool))


def train_fixture(workdir, steps=60, batch_size=4):
  """Trains the tiny model briefly and writes it as a training workdir."""
  config = _config()
  model = models.build_model(config.model)
  args = (jax.random.key(0),) + models.dummy_inputs(config.data)
  # O0: compiling dominates a 60-step run on 2 cores (the step: ~70 s at O2, ~35 s at O0;
  # its 60 runs take ~23 s instead of ~9 s).
  variables = models.initialize(model, *args)
  tx = optax.adam(1e-3)
  config.train.dice_weight = 1.0
  state = trainer.TrainState(jnp.zeros((), jnp.int32), variables["params"],
                             variables["batch_stats"], tx.init(variables["params"]))
  rng = np.random.default_rng(0)
  batch = _training_batch(rng, batch_size)
  lr = np.float32(1e-3)
  step = jax.jit(trainer.make_train_step(model, config.train, optimizer=optax.adam)).lower(
      state, batch, lr).compile(compiler_options=O0)
  for _ in range(steps):
    state, metrics = step(state, batch, lr)
    batch = _training_batch(rng, batch_size)
  assert np.isfinite(float(metrics["loss"]))
  saved = {"step": state.step, "params": state.params, "batch_stats": state.batch_stats}
  meta = {"data_position": {"epoch": 0, "step": steps},
          "config": json.loads(config.to_json_best_effort())}
  ckpts = checkpointing.Checkpoints(workdir, async_save=False)
  ckpts.save(steps, saved, meta)
  ckpts.close()
  _vocabulary().save(os.path.join(workdir, "word_vectors.npz"))
  return workdir


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
  return train_fixture(str(tmp_path_factory.mktemp("workdir")))


@pytest.fixture(scope="module")
def video(tmp_path_factory):
  frames, truth = _test_video()
  path = str(tmp_path_factory.mktemp("video") / "square.mp4")
  video_io.write_mp4(path, frames, fps=12)
  return path, truth


@pytest.fixture(scope="module")
def prediction(workdir, video, tmp_path_factory):
  out = str(tmp_path_factory.mktemp("pred") / "out")
  argv = ["--video", video[0], "--checkpoint", workdir, "--out", out, "--gif",
          "--explain", "0", "8", "--quiet"]
  for s in SENTENCES:
    argv += ["--text", s]
  assert predict.main(argv) == 0
  return out


def _iou(a, b):
  return (a & b).sum() / max(1, (a | b).sum())


def test_cli_segments_a_generated_video(prediction, video):
  out, truth = prediction, video[1]
  summary = json.load(open(os.path.join(out, "predict.json")))
  assert summary["frames"] == T and (summary["height"], summary["width"]) == (H, W)
  assert summary["fps"] == 12.0
  folders = [s["folder"] for s in summary["sentences"]]
  assert folders == ["0_the_red_square", "1_a_red_sqaure_moving_right"]
  assert summary["sentences"][1]["unknown_words"] == ["sqaure"]
  for folder in folders:
    pngs = sorted(os.listdir(os.path.join(out, folder, "masks")))
    assert pngs == [f"{t:05d}.png" for t in range(T)]
    with np.load(os.path.join(out, folder, "masks.npz")) as z:
      masks = z["masks"]
      assert masks.shape == (T, H, W) and masks.dtype == bool
      assert z["probs"].shape == (T, 64, 64)
    for t in (0, T - 1):
      img = Image.open(os.path.join(out, folder, "masks", pngs[t]))
      assert img.size == (W, H) and img.mode == "L"
      np.testing.assert_array_equal(np.asarray(img) > 127, masks[t])
  with np.load(os.path.join(out, folders[0], "masks.npz")) as z:
    ious = [_iou(m, g) for m, g in zip(z["masks"], truth)]
  print(f"\nIoU per frame of 'the red square': {np.round(ious, 3).tolist()}, "
        f"mean {np.mean(ious):.3f} (threshold {IOU_THRESHOLD})")
  assert np.mean(ious) >= IOU_THRESHOLD, ious


def test_overlay_video_and_gif_decode(prediction, video):
  frames = video_io.decode_mp4(os.path.join(prediction, "overlay.mp4"))
  scale = overlay.picture_scale(H, W)
  assert scale == 4
  assert frames.shape[0] == T
  assert frames.shape[2] == W * scale and frames.shape[1] > H * scale  # legend below
  with Image.open(os.path.join(prediction, "overlay.gif")) as gif:
    assert gif.n_frames == T
  with Image.open(os.path.join(prediction, "overlay.png")) as still:
    assert still.size == (frames.shape[2], frames.shape[1])
  # Frame 8 decodes to what was drawn: both sentences' masks in their colours.
  from rvs_jax.evaluation import protocols  # pylint: disable=g-import-not-at-top
  masks, confidences = [], []
  for folder in ("0_the_red_square", "1_a_red_sqaure_moving_right"):
    with np.load(os.path.join(prediction, folder, "masks.npz")) as z:
      masks.append(z["masks"][8])
      prob = protocols.resize_prob(z["probs"][8].astype(np.float32), (H, W))
      confidences.append(prob[masks[-1]].mean() if masks[-1].any() else 0.0)
  drawn = overlay.legend_overlay(video_io.decode_mp4(video[0])[8], masks,
                                 overlay.PALETTE[:2], SENTENCES, scale, f"8/{T - 1}",
                                 confidences=confidences)
  assert drawn.shape == frames[8].shape
  assert np.abs(drawn.astype(int) - frames[8]).mean() < 3.0


def test_library_api_segments_without_the_command(prediction, workdir, video):
  """`Segmenter.load` + `segment`: the masks and probabilities the command wrote."""
  seg = segmenter.Segmenter.load(workdir, batch_size=4)
  frames = segmenter.read_video(video[0]).frames
  result = seg.segment(frames, ["the red square", "a red sqaure moving right"])
  assert result.masks.shape == (2, T, H, W) and result.masks.dtype == bool
  assert result.probs.shape == (2, T, 64, 64) and result.probs.dtype == np.float32
  assert [s.unknown for s in result.sentences] == [[], ["sqaure"]]
  for k, folder in enumerate(("0_the_red_square", "1_a_red_sqaure_moving_right")):
    with np.load(os.path.join(prediction, folder, "masks.npz")) as z:
      # Batch 4 here, 8 in the command: the same function of each clip.
      np.testing.assert_allclose(result.probs[k], z["probs"].astype(np.float32),
                                 atol=2e-3)
      differ = (result.masks[k] != z["masks"]).mean()
      assert differ < 1e-3, differ  # Only pixels at the threshold may flip.
  ious = [_iou(m, g) for m, g in zip(result.masks[0], video[1])]
  assert np.mean(ious) >= IOU_THRESHOLD, ious
  # Full-size probabilities are the ones the masks were thresholded from.
  prob = result.probabilities(0, 5)
  assert prob.shape == (H, W)
  np.testing.assert_array_equal(prob > result.threshold, result.masks[0, 5])
  # One sentence as a string; a stricter threshold never grows a mask.
  strict = seg.segment(frames[:3], "the red square", threshold=0.9)
  assert strict.masks.shape == (1, 3, H, W)
  assert (strict.masks <= seg.segment(frames[:3], "the red square").masks).all()
  with pytest.raises(segmenter.InputError, match="uint8 RGB frames"):
    seg.segment(frames.astype(np.float32), "the red square")
  with pytest.raises(segmenter.InputError, match="no word of the sentence"):
    seg.segment(frames, ["zebra"])


def test_picture_scale_is_legible_and_bounded():
  assert overlay.picture_scale(72, 96) == 4          # shorter side to >= 240
  assert overlay.picture_scale(1080, 1920) == 1
  assert overlay.picture_scale(100, 1000) == 1       # x3 would pass 1920
  assert overlay.picture_scale(2, 2000) * 2000 == overlay.MAX_SIDE
  assert overlay.picture_scale(4000, 3) * 4000 == overlay.MAX_SIDE
  frame = np.zeros((2, 2000, 3), np.uint8)
  pred = np.zeros((2, 2000), bool)
  pred[:, :100] = True
  pic = overlay.overlay(frame, pred, pred, caption="a long caption " * 20,
                        scale=overlay.picture_scale(2, 2000))
  assert pic.width == overlay.MAX_SIDE and pic.height < 100
  assert np.asarray(pic)[-1, 10].tolist() == list(overlay.GT_COLOUR)  # outlined
  assert overlay.fit(frame, 112).shape == (1, 448, 3)
  assert overlay.grid([pic, pic, pic], columns=2).size == (2 * pic.width, 2 * pic.height)


@pytest.mark.parametrize("height,width", [(2, 2000), (2000, 2)])
def test_extreme_aspect_ratios_give_bounded_pictures(workdir, tmp_path, height, width):
  """#12: six 2x2000 frames once took 3.1 GB in the overlay and crashed the encoder."""
  folder = tmp_path / "frames"
  folder.mkdir()
  rng = np.random.default_rng(0)
  frames = rng.integers(0, 255, (6, height, width, 3), dtype=np.uint8)
  for t, f in enumerate(frames):
    Image.fromarray(f).save(folder / f"{t}.png")
  out = str(tmp_path / "out")
  assert predict.main(["--video", str(folder), "--checkpoint", workdir, "--out", out,
                       "--text", SENTENCES[0], "--gif", "--explain", "2",
                       "--quiet"]) == 0
  with np.load(os.path.join(out, "0_the_red_square", "masks.npz")) as z:
    assert z["masks"].shape == (6, height, width)
  decoded = video_io.decode_mp4(os.path.join(out, "overlay.mp4"))
  assert decoded.shape[0] == 6
  assert max(decoded.shape[1:3]) <= overlay.MAX_SIDE + 100  # + the legend
  assert decoded.shape[2] >= overlay.LEGEND_MIN_WIDTH
  with Image.open(os.path.join(out, "overlay.gif")) as gif:
    assert gif.n_frames == 6 and max(gif.size) <= 480
  for name in os.listdir(os.path.join(out, "0_the_red_square", "explain")):
    with Image.open(os.path.join(out, "0_the_red_square", "explain", name)) as img:
      assert img.width * img.height < 4e6, (name, img.size)
  # The drawing itself stays small: well under the size of one unbounded picture.
  import tracemalloc  # pylint: disable=g-import-not-at-top
  masks = np.zeros((1, height, width), bool)
  masks[0, :1] = True
  scale = overlay.picture_scale(height, width)
  tracemalloc.start()
  try:
    drawn = overlay.legend_overlay(frames[0], masks, overlay.PALETTE[:1],
                                   SENTENCES[:1], scale, "0/5")
    peak = tracemalloc.get_traced_memory()[1]
  finally:
    tracemalloc.stop()
  assert drawn.shape[1] >= overlay.LEGEND_MIN_WIDTH and peak < 20e6, peak


def test_explain_pictures(prediction):
  for folder in ("0_the_red_square", "1_a_red_sqaure_moving_right"):
    names = sorted(os.listdir(os.path.join(prediction, folder, "explain")))
    assert names == ["frame_00000_lasp.png", "frame_00000_words.png",
                     "frame_00008_lasp.png", "frame_00008_words.png"]
    for name in names:
      with Image.open(os.path.join(prediction, folder, "explain", name)) as img:
        img.load()
        assert img.mode == "RGB" and img.width >= 300 and img.height >= 150
  with Image.open(os.path.join(prediction, "0_the_red_square", "explain",
                               "frame_00008_words.png")) as img:
    # 4 CMAM+ rows (2 stages x 2 encoders), 1 + 3 word columns of 112-row cells.
    assert img.height > 4 * 112 and img.width > 4 * 100


def test_frame_folder_input_and_overwrite(prediction, workdir, video, tmp_path):
  frames = video_io.decode_mp4(video[0])
  folder = tmp_path / "frames"
  folder.mkdir()
  for t, f in enumerate(frames):  # Numbered without padding: natural sort needed.
    Image.fromarray(f).save(folder / f"frame{t}.png")
  with np.load(os.path.join(prediction, "0_the_red_square", "masks.npz")) as z:
    before = z["probs"].astype(np.float32)
  assert predict.main(["--video", str(folder), "--checkpoint", workdir, "--out",
                       prediction, "--overwrite", "--text", SENTENCES[0], "--quiet",
                       "--fps", "6"]) == 0
  assert sorted(os.listdir(prediction)) == ["0_the_red_square", "overlay.mp4",
                                            "overlay.png", "predict.json"]
  with np.load(os.path.join(prediction, "0_the_red_square", "masks.npz")) as z:
    # Same pixels as the decoded video, so the same probabilities.
    np.testing.assert_allclose(z["probs"].astype(np.float32), before, atol=2e-3)
    assert z["masks"].shape == (T, H, W)
  assert json.load(open(os.path.join(prediction, "predict.json")))["fps"] == 6.0


def test_converted_checkpoint_gives_the_same_probabilities(prediction, workdir, video,
                                                           tmp_path):
  loaded = checkpointing.load(workdir)
  # As `python -m rvs_jax.convert` writes it: the model section and the input constants
  # as data (synthetic.py:tiny -> 64); the config file's name is provenance only.
  checkpointing.save_converted(tmp_path / "converted", loaded.variables, {
      "kind": "cstm", "model_config": loaded.config.model.to_dict(),
      "input": dataclasses.asdict(loaded.constants),
      "config": os.path.join(ROOT, "configs", "synthetic.py:tiny")})
  out = str(tmp_path / "out")
  assert predict.main(["--video", video[0], "--checkpoint", str(tmp_path / "converted"),
                       "--word-vectors", os.path.join(workdir, "word_vectors.npz"),
                       "--out", out, "--text", SENTENCES[0], "--quiet"]) == 0
  with np.load(os.path.join(out, "0_the_red_square", "masks.npz")) as z:
    got = z["probs"]
  with np.load(os.path.join(prediction, "0_the_red_square", "masks.npz")) as z:
    np.testing.assert_allclose(got.astype(np.float32), z["probs"].astype(np.float32),
                               atol=2e-3)


def _error(capsys, argv):
  status = predict.main(argv)
  err = capsys.readouterr().err.strip().splitlines()
  assert status == 2 and len(err) == 1 and err[0].startswith("error: "), err
  return err[0]


def test_user_errors_are_one_line(workdir, video, tmp_path, capsys):
  base = ["--checkpoint", workdir, "--quiet"]
  good = base + ["--video", video[0], "--text", "the red square"]
  bad = tmp_path / "bad.mp4"
  bad.write_text("not a video")
  assert "unreadable video" in _error(
      capsys, base + ["--video", str(bad), "--text", "a", "--out", str(tmp_path / "o")])
  (tmp_path / "empty").mkdir()
  assert "no frames" in _error(capsys, base + [
      "--video", str(tmp_path / "empty"), "--text", "a", "--out", str(tmp_path / "o")])
  line = _error(capsys, base + ["--video", video[0], "--text", "zebra on xylophones",
                                "--out", str(tmp_path / "o")])
  assert "unknown: zebra, on, xylophones" in line
  line = _error(capsys, good + ["--out", str(tmp_path / "o"), "--config",
                                os.path.join(ROOT, "configs", "synthetic.py:tiny")])
  assert "another model config" in line and "leave out --config" in line
  (tmp_path / "taken").mkdir()
  (tmp_path / "taken" / "notes.txt").write_text("mine")
  assert "pass --overwrite" in _error(capsys, good + ["--out", str(tmp_path / "taken")])
  assert "refusing to delete" in _error(
      capsys, good + ["--out", str(tmp_path / "taken"), "--overwrite"])
  assert (tmp_path / "taken" / "notes.txt").exists()
  assert "does not exist" in _error(capsys, ["--checkpoint", str(tmp_path / "nope"),
                                             "--video", video[0], "--text", "a", "--out",
                                             str(tmp_path / "o")])
  assert not (tmp_path / "o").exists()
  # An output that cannot be written is found before inference.
  (tmp_path / "a_file").write_text("")
  assert "cannot write the output" in _error(
      capsys, good + ["--out", str(tmp_path / "a_file" / "out")])


def test_a_failed_overwrite_keeps_the_previous_output(prediction, workdir, video,
                                                      tmp_path, capsys, monkeypatch):
  import shutil  # pylint: disable=g-import-not-at-top
  from rvs_jax.evaluation import frame_eval  # pylint: disable=g-import-not-at-top
  previous = tmp_path / "previous"
  shutil.copytree(prediction, previous)
  before = sorted(os.listdir(previous))
  # A model whose outputs are not finite (Inf weights would be refused at load).
  make = frame_eval.make_predict_fn

  def broken(model):
    fn = make(model)
    return jax.jit(lambda *args: fn(*args) * jnp.nan)

  monkeypatch.setattr(frame_eval, "make_predict_fn", broken)
  assert predict.main(["--video", video[0], "--checkpoint", workdir, "--out",
                       str(previous), "--overwrite", "--text", SENTENCES[0],
                       "--quiet"]) == 2
  line = capsys.readouterr().err.strip().splitlines()[-1]
  assert line == ("error: the model produced NaN/Inf probabilities (sentence 0, frame "
                  "0); its weights are not usable")
  assert sorted(os.listdir(previous)) == before
  assert sorted(os.listdir(tmp_path)) == ["previous"]  # No half-written folder left.


def test_command_line_entry_point(video, tmp_path):
  (tmp_path / "out").mkdir()
  (tmp_path / "out" / "x").write_text("")
  proc = subprocess.run(
      [sys.executable, "-m", "rvs_jax.inference.predict", "--video", video[0], "--text", "a",
       "--checkpoint", str(tmp_path), "--out", str(tmp_path / "out")],
      capture_output=True, text=True, cwd=ROOT, timeout=300, check=False)
  assert proc.returncode == 2
  assert proc.stderr.strip().splitlines() == [
      f"error: output folder {tmp_path / 'out'} exists; pass --overwrite to replace it"]


@pytest.mark.parametrize("name,codec", [("clip.avi", "mpeg4"), ("clip.webm", "libvpx-vp9")])
def test_read_video_containers(tmp_path, name, codec):
  import av  # pylint: disable=g-import-not-at-top
  if codec not in av.codecs_available:
    pytest.skip(f"this FFmpeg build has no {codec} encoder")
  frames, _ = _test_video()
  video_io.write_mp4(str(tmp_path / name), frames[:5], fps=10, codec=codec)
  video = segmenter.read_video(str(tmp_path / name))
  assert video.frames.shape == (5, H, W, 3) and video.fps == 10.0
  assert np.abs(video.frames.astype(int) - frames[:5]).mean() < 4


def test_converted_checkpoint_never_runs_the_config_it_names(tmp_path, capsys):
  """A `conversion.json` naming a Python file (the config it came from) is data only."""
  marker = tmp_path / "payload_ran"
  payload = tmp_path / "cfg.py"
  payload.write_text(f"open({str(marker)!r}, 'w').close()\n"
                     "def get_config(arg=None):\n  raise SystemExit(3)\n")
  converted = tmp_path / "c"
  converted.mkdir()
  (converted / "conversion.json").write_text(json.dumps(
      {"kind": "cstm", "model_config": _config().model.to_dict(),
       "config": f"{payload}:x"}))
  config = checkpointing.describe(str(converted)).config
  assert config.data.image_size == 320 and config.source == f"{payload}:x"
  # Through the command too: it fails (no vocabulary) without importing the file.
  status = predict.main(["--video", str(tmp_path / "none.mp4"), "--checkpoint",
                         str(converted), "--out", str(tmp_path / "out"), "--text", "a"])
  assert status == 2 and not marker.exists()
  capsys.readouterr()
