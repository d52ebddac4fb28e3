"""`rvs-predict` holds a bounded window of the video: peak memory does not grow with it.

A 900-frame video and a 150-frame one (small frames, so the test is quick) go through
the command in fresh processes; the longer one may take at most 15 % more peak resident
memory (`getrusage`) and must yield a mask for every frame. Before the streaming
writer, every frame, its overlay picture and its mask were held at once: ~0.4 MB per
frame at this size, so the longer video took ~300 MB more (bench/predict_memory.py
measures the same at up to 10,000 frames).
"""

import importlib.util
import os

import jax
import numpy as np

from configs import synthetic

_PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                     "bench", "predict_memory.py")
_spec = importlib.util.spec_from_file_location("predict_memory", _PATH)
long_video = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(long_video)

HEIGHT, WIDTH = 96, 128


def test_peak_memory_does_not_grow_with_the_video(tmp_path):
  checkpoint = long_video.random_checkpoint(str(tmp_path / "ckpt"),
                                            synthetic.get_config("tiny"))
  vectors = os.path.join(checkpoint, "word_vectors.npz")
  # The suite's compile cache, so the two processes compile the forward once.
  env = {"RVS_JAX_CACHE": jax.config.jax_compilation_cache_dir}
  peaks = {}
  for n in (150, 900):
    video = long_video.write_video(str(tmp_path / f"{n}.mp4"), n, HEIGHT, WIDTH)
    out = str(tmp_path / f"out{n}")
    summary = long_video.run_predict(video, checkpoint, out, "--word-vectors", vectors,
                                     "--batch-size", "16", env=env)
    assert summary["frames"] == n
    folder = os.path.join(out, summary["sentences"][0]["folder"])
    assert len(os.listdir(os.path.join(folder, "masks"))) == n
    with np.load(os.path.join(folder, "masks.npz")) as z:
      assert z["masks"].shape == (n, HEIGHT, WIDTH) and z["probs"].shape[0] == n
    peaks[n] = summary["peak_rss_mb"]
  print(f"\npeak RSS: 150 frames {peaks[150]:.0f} MB, 900 frames {peaks[900]:.0f} MB")
  assert peaks[900] <= 1.15 * peaks[150], peaks


def test_readme_python_example_runs_as_written(tmp_path, monkeypatch, capsys):
  """The README's `rvs_jax.load` block, verbatim, on a random-init checkpoint."""
  readme = open(os.path.join(os.path.dirname(os.path.dirname(__file__)),
                             "README.md"), encoding="utf-8").read()
  start = readme.index("import rvs_jax\n\nseg = rvs_jax.load(")
  code = readme[start:readme.index("```", start)]
  monkeypatch.chdir(tmp_path)
  long_video.random_checkpoint(
      "workdir", synthetic.get_config("tiny"),
      words=("the", "red", "square", "a", "blue", "circle", "moving", "left"))
  long_video.write_video("clip.mp4", 9, HEIGHT, WIDTH)
  long_video.write_video("long.mp4", 13, HEIGHT, WIDTH)
  scope = {}
  exec(compile(code, "README.md", "exec"), scope)  # pylint: disable=exec-used
  assert scope["result"].masks.shape == (2, 9, HEIGHT, WIDTH)
  lines = capsys.readouterr().out.splitlines()
  assert [int(l.split()[0]) for l in lines] == list(range(13))
