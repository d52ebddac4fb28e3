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
frames / total seconds instead.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile

from rvs_jax import app
from rvs_jax.testing import long_video

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


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
    long_video.random_checkpoint(checkpoint, app.load_config_file(
        os.path.join(ROOT, "configs", "synthetic.py:tiny")))
  print(f"CPU: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
        f"code: {args.code or 'this checkout'}")
  print(f"{'frames':>7} {'peak RSS MB':>12} {'frames/s':>9} {'total s':>8}")
  for n in (int(v) for v in args.frames.split(",")):
    video = os.path.join(work, f"video_{n}_{width}x{height}.mp4")
    if not os.path.isfile(video):
      long_video.write_video(video, n, height, width)
    out = tempfile.mkdtemp(prefix="out_", dir=work)
    os.rmdir(out)
    r = long_video.run_predict(video, checkpoint, out, "--word-vectors",
                               os.path.join(checkpoint, "word_vectors.npz"),
                               cwd=args.code)
    fps = r.get("frames_per_second", r["frames"] / r["seconds"])
    print(f"{r['frames']:>7} {r['peak_rss_mb']:>12.0f} {fps:>9.1f} "
          f"{r['seconds']:>8.1f}", flush=True)


if __name__ == "__main__":
  main()
