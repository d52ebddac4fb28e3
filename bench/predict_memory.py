"""Peak memory and speed of `rvs-predict` on long generated videos.

  python bench/predict_memory.py [--frames 300,1800,10000] [--size 640x360]
      [--workdir DIR] [--code CHECKOUT]

Writes (or reuses, in --workdir) a video of each length, a red square gliding over a
grey 640x360 frame, and a random-init `configs/synthetic.py:tiny` checkpoint, then runs
the prediction command on each video in a fresh process and prints its peak resident
memory (`getrusage`), the frames segmented per second (compilation excluded, as the
command's `predict.json` reports it) and the whole run's seconds. `--code` runs the
command of another checkout (e.g. an older commit in a `git worktree`) on the same
inputs, to compare versions; an older checkout that does not report frames/s shows
frames / total seconds instead. `tests/test_predict_memory.py` uses the same functions.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from typing import Sequence

import numpy as np

from rvs_jax import app
from rvs_jax.data import video_io

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SENTENCE = "the red square"
_WORDS = ("the", "red", "square")


def write_video(path: str, num_frames: int, height: int = 360, width: int = 640,
                fps: int = 24) -> str:
  """A red square gliding over a grey frame, `num_frames` long; returns `path`."""
  side = max(4, height // 5)
  with video_io.Mp4Writer(path, fps=fps) as writer:
    frame = np.empty((height, width, 3), np.uint8)
    for t in range(num_frames):
      frame[:] = (90, 110, 140)
      y = (t * 2) % (height - side)
      x = (t * 3) % (width - side)
      frame[y:y + side, x:x + side] = (210, 40, 40)
      writer.write(frame)
  return path


def random_checkpoint(directory: str, config, words: Sequence[str] = _WORDS) -> str:
  """The model of `config` (a ConfigDict) at random init, as a converted checkpoint.

  Returns the checkpoint folder; its `word_vectors.npz` knows `words` (the synthetic
  benchmark's vectors).
  """
  # pylint: disable=g-import-not-at-top
  import dataclasses
  import jax
  from rvs_jax import checkpointing, models, text
  from rvs_jax.data import synthetic as synthetic_data
  model = models.build_model(config.model)
  variables = models.initialize(model, jax.random.key(0), *models.dummy_inputs(
      config.data, model=config.model))
  vectors = text.WordVectors(words, [synthetic_data.word_vector(w) for w in words])
  constants = checkpointing.InputConstants.from_config(config)
  checkpointing.save_converted(
      directory, jax.device_get(variables),
      {"kind": "random", "model_config": config.model.to_dict(),
       "input": dataclasses.asdict(constants), "config": config.get("source", "")},
      vectors=vectors)
  return directory


def run_predict(video: str, checkpoint: str, out: str, *extra: str,
                env: dict | None = None, cwd: str | None = None) -> dict:
  """Runs `rvs-predict` in a new process; its `predict.json` plus `peak_rss_mb`.

  `cwd`: where the process starts; a checkout there is the `rvs_jax` it imports (to
  measure another version of the code).

  Raises:
    RuntimeError: the command failed (its stderr in the message).
  """
  code = ("import resource, sys\n"
          "from rvs_jax import platform\n"
          "platform.configure()\n"
          "from rvs_jax.inference import predict\n"
          "status = predict.main(sys.argv[1:])\n"
          "print('peak_rss_kib', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
          "sys.exit(status)\n")
  argv = [sys.executable, "-c", code, "--video", video, "--checkpoint", checkpoint,
          "--out", out, "--text", SENTENCE, "--quiet", *extra]
  proc = subprocess.run(argv, capture_output=True, text=True, check=False,
                        env={**os.environ, **(env or {})}, cwd=cwd)
  if proc.returncode:
    raise RuntimeError(f"predict failed ({proc.returncode}): {proc.stderr[-2000:]}")
  rss = [l for l in proc.stdout.splitlines() if l.startswith("peak_rss_kib")]
  with open(os.path.join(out, "predict.json"), encoding="utf-8") as f:
    summary = json.load(f)
  summary["peak_rss_mb"] = int(rss[-1].split()[1]) / 1024
  return summary


def main() -> None:
  p = argparse.ArgumentParser(description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--frames", default="300,1800,10000")
  p.add_argument("--size", default="640x360", help="WIDTHxHEIGHT")
  p.add_argument("--workdir", help="keeps the videos and checkpoint between runs")
  p.add_argument("--code", help="a checkout whose rvs_jax runs the command")
  args = p.parse_args()
  width, height = (int(v) for v in args.size.split("x"))
  work = args.workdir or tempfile.mkdtemp(prefix="predict_memory_")
  os.makedirs(work, exist_ok=True)
  checkpoint = os.path.join(work, "checkpoint")
  if not os.path.isdir(checkpoint):
    random_checkpoint(checkpoint, app.load_config_file(
        os.path.join(ROOT, "configs", "synthetic.py:tiny")))
  print(f"CPU: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
        f"code: {args.code or 'this checkout'}")
  print(f"{'frames':>7} {'peak RSS MB':>12} {'frames/s':>9} {'total s':>8}")
  for n in (int(v) for v in args.frames.split(",")):
    video = os.path.join(work, f"video_{n}_{width}x{height}.mp4")
    if not os.path.isfile(video):
      write_video(video, n, height, width)
    out = tempfile.mkdtemp(prefix="out_", dir=work)
    os.rmdir(out)
    r = run_predict(video, checkpoint, out, "--word-vectors",
                               os.path.join(checkpoint, "word_vectors.npz"),
                               cwd=args.code)
    fps = r.get("frames_per_second", r["frames"] / r["seconds"])
    print(f"{r['frames']:>7} {r['peak_rss_mb']:>12.0f} {fps:>9.1f} "
          f"{r['seconds']:>8.1f}", flush=True)


if __name__ == "__main__":
  main()
