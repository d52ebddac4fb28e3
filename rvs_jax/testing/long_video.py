"""Long generated videos and a random-init checkpoint, to measure `rvs-predict`'s memory.

`bench/predict_memory.py` and `tests/test_predict_memory.py` both use these: a video of
any length is written frame by frame (`video_io.Mp4Writer`, so 10,000 HD frames cost
no memory to make), a tiny model is initialised at random and stored as a converted
checkpoint with its vocabulary, and `run_predict` runs the command in a fresh process
and reports that process's peak resident memory (`resource.getrusage`, Linux: KiB).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Sequence

import numpy as np

from rvs_jax.data import video_io

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
  variables = jax.jit(model.init)(jax.random.key(0), *models.dummy_inputs(config.data))
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
