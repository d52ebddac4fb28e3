"""Learning curves per sample kind (appearance / motion / both) on the synthetic benchmark.

  python bench/learning_curve.py --out curves --label base \
      --config configs/synthetic.py:tiny [--set train.lr=2e-3 --set data.image_size=64]
      [--data synthetic_data] [--eval-samples 300] [--every-epochs 1]
  python bench/learning_curve.py --plot curves --png docs/grounding_curves.png

Trains one config (evaluating every `--every-epochs` epochs on the first
`--eval-samples` test samples, 0 = all) and appends one JSON line per evaluation to
`<out>/<label>.jsonl`: the step, the wall-clock seconds since the start, and P@0.5 and
mIoU overall and per kind. `--plot` draws every `<label>.jsonl` of a folder: mIoU
against steps, one panel per kind. Used by docs/grounding.md.
"""

from __future__ import annotations

import argparse
import ast
import glob
import json
import os
import shutil
import time

from rvs_jax import app, platform

KINDS = ("all", "appearance", "motion", "both")


def _set(config, assignment: str) -> None:
  """`train.lr=2e-3` -> config.train.lr = 2e-3 (a Python literal, else a string)."""
  path, value = assignment.split("=", 1)
  try:
    value = ast.literal_eval(value)
  except (ValueError, SyntaxError):
    pass
  *parents, leaf = path.split(".")
  node = config
  for p in parents:
    node = node[p]
  node[leaf] = value


def train_curve(args) -> None:
  from rvs_jax.train import trainer  # After `platform.configure`.
  config = app.load_config_file(args.config)
  config.data.root = args.data
  config.data.max_eval_samples = args.eval_samples
  config.train.eval_every_epochs = args.every_epochs
  config.train.progress_bar = False
  config.train.checkpoint_every_steps = 10**9
  for a in args.set or ():
    _set(config, a)
  workdir = os.path.join(args.out, args.label)
  if os.path.exists(workdir):
    shutil.rmtree(workdir)
  os.makedirs(args.out, exist_ok=True)
  line_file = os.path.join(args.out, f"{args.label}.jsonl")
  if os.path.exists(line_file):
    os.remove(line_file)
  result_file = os.path.join(workdir, "eval", f"{config.data.name}_"
                             f"{config.data.eval_split}_{config.eval.protocol}.json")
  start = time.time()
  evaluate = trainer._evaluate  # pylint: disable=protected-access

  def recording(config_, workdir_, predict_fn, state, *rest):
    summary = evaluate(config_, workdir_, predict_fn, state, *rest)
    with open(result_file, encoding="utf-8") as f:
      result = json.load(f)
    row = dict(label=args.label, step=int(state.step), seconds=time.time() - start,
               config=args.config, set=args.set or [])
    for kind, m in {"all": result["metrics"], **result.get("by_kind", {})}.items():
      row[kind] = {"mIoU": m["mIoU"], "P@0.5": m["P@0.5"]}
    with open(line_file, "a", encoding="utf-8") as f:
      f.write(json.dumps(row) + "\n")
    print(json.dumps(row), flush=True)
    return summary

  trainer._evaluate = recording  # pylint: disable=protected-access
  trainer.train_and_evaluate(config, workdir)  # The workdir keeps its checkpoints.


def plot(folder: str, png: str, labels: list[str] | None) -> None:
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  fig, axes = plt.subplots(1, 4, figsize=(15, 3.6), sharey=True)
  files = sorted(glob.glob(os.path.join(folder, "*.jsonl")))
  if labels:
    files = [os.path.join(folder, f"{l}.jsonl") for l in labels]
  for path in files:
    with open(path, encoding="utf-8") as f:
      rows = [json.loads(l) for l in f if l.strip()]
    if not rows:
      continue
    for ax, kind in zip(axes, KINDS):
      ax.plot([r["step"] for r in rows], [100 * r[kind]["mIoU"] for r in rows],
              marker="o", label=rows[0]["label"])
  for ax, kind in zip(axes, KINDS):
    ax.set_title(f"mIoU, {kind}")
    ax.set_xlabel("training step (batch 8)")
    ax.grid(alpha=0.3)
  axes[0].set_ylabel("mIoU (%)")
  axes[-1].legend(fontsize=7, loc="lower right")
  fig.tight_layout()
  fig.savefig(png, dpi=90)
  print(f"wrote {png}")


def main() -> None:
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--out", default="curves")
  p.add_argument("--label", default="run")
  p.add_argument("--config", default="configs/synthetic.py:tiny")
  p.add_argument("--set", action="append", help="config field=value (repeatable)")
  p.add_argument("--data", default="synthetic_data")
  p.add_argument("--eval-samples", type=int, default=300)
  p.add_argument("--every-epochs", type=int, default=1)
  p.add_argument("--plot", default=None, help="a folder of <label>.jsonl to draw")
  p.add_argument("--png", default="curves.png")
  p.add_argument("--labels", default=None, help="comma-separated labels to draw")
  args = p.parse_args()
  if args.plot:
    plot(args.plot, args.png, args.labels.split(",") if args.labels else None)
    return
  platform.configure()
  train_curve(args)


if __name__ == "__main__":
  main()
