"""Input-pipeline throughput (clips/s) on the synthetic benchmark's raw folders.

Generates a small synthetic data set at A2D resolution (320 high) in a temporary folder
(or uses --data), then times `InputPipeline` training batches at 320x320 (8 frames per
clip) with the NumPy backend (the tf.data backend reads built TFDS datasets only).

  python bench/pipeline_speed.py [--batches 30] [--batch-size 8] [--size 320]

The first batches pay for video decoding (the decoded-frame LRU then serves repeated
videos), so the script reports a warm-up figure and the steady-state rate separately.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

from rvs_jax import text
from rvs_jax.data import a2d
from rvs_jax.data import pipeline
from rvs_jax.data import synthetic
from rvs_jax.data import video_io


def _measure(samples, wv, backend, args):
  video_io.FRAME_CACHE.clear()
  pipe = pipeline.InputPipeline(
      samples, wv, batch_size=args.batch_size, height=args.size, width=args.size,
      train=True, seed=0, backend=backend, num_workers=args.workers, process_index=0,
      process_count=1)
  it = pipe.iterate()
  t0 = time.perf_counter()
  for _ in range(args.warmup):
    next(it)
  t1 = time.perf_counter()
  for _ in range(args.batches):
    next(it)
  t2 = time.perf_counter()
  it.close()
  n = args.batch_size
  return n * args.warmup / (t1 - t0), n * args.batches / (t2 - t1)


def main():
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--data", default=None, help="an A2D-layout root (default: generate)")
  p.add_argument("--num-videos", type=int, default=16)
  p.add_argument("--size", type=int, default=320)
  p.add_argument("--batch-size", type=int, default=8)
  p.add_argument("--batches", type=int, default=30)
  p.add_argument("--warmup", type=int, default=3)
  p.add_argument("--workers", type=int, default=None)
  # "tf" reads built TFDS datasets only (config.data.source="tfds"), not these folders.
  p.add_argument("--backends", default="numpy")
  args = p.parse_args()
  with tempfile.TemporaryDirectory() as tmp:
    root = args.data
    if root is None:
      root = tmp
      t = time.perf_counter()
      synthetic.generate(root, num_videos=args.num_videos, seed=0, height=320,
                         frames=24)
      print(f"generated {args.num_videos} synthetic videos at 320x480 in "
            f"{time.perf_counter() - t:.1f} s")
    samples = a2d.load_a2d(root, "train")
    glove = os.path.join(root, synthetic.GLOVE_NAME)
    wv = text.WordVectors.from_glove(glove, text.vocabulary(s.sentence for s in samples))
    print(f"{len(samples)} samples, {os.cpu_count()} CPUs, clips of 8 frames at "
          f"{args.size}x{args.size}, batch {args.batch_size}")
    for backend in args.backends.split(","):
      warm, steady = _measure(samples, wv, backend, args)
      print(f"{backend:>6}: warm-up {warm:6.1f} clips/s, steady {steady:6.1f} clips/s")


if __name__ == "__main__":
  main()
