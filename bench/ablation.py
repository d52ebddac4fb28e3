"""The paper's ablation tables (V-X) on the synthetic benchmark.

  python bench/ablation.py --out ablation_out [--tables V,VI,VII,VIII,IX,X]
      [--text-checkpoint text_bert=ckpt/bert --text-checkpoint text_roberta=...]
      [--rows temporal_only,plus_cmam_plus+cmam_plus_stages_12,...]
      [--seeds 0,1,2] [--steps 1076] [--data synthetic_data]

Trains and evaluates each row (tiny setting) with every seed, then writes
`<out>/ablation.md` (P@X, MP-mAP, oIoU, mIoU as mean ± std over seeds, overall and per
appearance / motion / both samples) and `<out>/ablation.png` (mIoU per row and kind).
Each run lives in `<out>/<row>_seed<k>/` and is resumed / skipped if already finished,
so an interrupted sweep continues where it stopped.

`--tables` takes the rows of each table from `rvs_jax.models.variants.TABLES` (a row
shared by two tables runs once). `--rows` separates rows by commas; one row may combine
several variant names with `+` (they are applied in order, as in a config's `:args`),
so a row that no name covers can still be run. Table X's transformer rows (`text_bert`,
`text_roberta`, `text_xlnet`) need the converted encoder of each (`python -m
rvs_jax.convert bert HF_DIR --out DIR`) as `--text-checkpoint NAME=DIR`; it becomes the
row's `config.pretrained.text`.
"""

from __future__ import annotations

import argparse
import json
import os

import numpy as np

from rvs_jax import app, platform
from rvs_jax.models import variants

SYNTHETIC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                         "configs", "synthetic.py")

METRICS = ("P@0.5", "P@0.6", "P@0.7", "P@0.8", "P@0.9", "mAP", "oIoU", "mIoU")
KINDS = ("all", "appearance", "motion", "both")


def run(row: str, seed: int, args) -> dict:
  """Trains + evaluates one row/seed (or reads its finished result)."""
  from rvs_jax.train import trainer  # Imported late: `platform.configure` must run first.
  workdir = os.path.join(args.out, f"{row}_seed{seed}")
  done = os.path.join(workdir, "ablation_result.json")
  if os.path.exists(done):
    with open(done, encoding="utf-8") as f:
      return json.load(f)
  config = app.load_config_file(f"{SYNTHETIC}:{','.join(row.split('+'))},tiny")
  config.seed = seed
  config.data.root = args.data
  for part in row.split("+"):
    if part in variants.TEXT_ENCODERS:
      config.pretrained.text = args.text_checkpoints[part]
  config.train.eval_every_epochs = 1000  # Only after the last step.
  config.train.progress_bar = False
  if args.steps:
    config.train.num_steps = args.steps
  trainer.train_and_evaluate(config, workdir)
  with open(os.path.join(workdir, "eval", f"synthetic_{config.data.eval_split}_"
                         f"{config.eval.protocol}.json"), encoding="utf-8") as f:
    result = json.load(f)
  out = {"all": result["metrics"], **result.get("by_kind", {})}
  with open(done, "w", encoding="utf-8") as f:
    json.dump(out, f, indent=1)
  return out


def table(results: dict[str, list[dict]]) -> str:
  """Markdown: one block per kind, rows x metrics, mean ± std (percent)."""
  lines = []
  for kind in KINDS:
    lines += [f"\n**{kind} samples**\n", "| row | " + " | ".join(METRICS) + " |",
              "|---|" + "---:|" * len(METRICS)]
    for row, runs in results.items():
      cells = []
      for m in METRICS:
        vals = [100 * r[kind][m] for r in runs if kind in r]
        cells.append(f"{np.mean(vals):.1f} ± {np.std(vals):.1f}" if vals else "–")
      lines.append(f"| {row} | " + " | ".join(cells) + " |")
  return "\n".join(lines) + "\n"


def plot(results: dict[str, list[dict]], path: str) -> None:
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  rows = list(results)
  fig, ax = plt.subplots(figsize=(1.6 * len(rows) + 2, 3.5))
  width = 0.8 / len(KINDS)
  for k, kind in enumerate(KINDS):
    means = [np.mean([100 * r[kind]["mIoU"] for r in results[row] if kind in r] or [0])
             for row in rows]
    stds = [np.std([100 * r[kind]["mIoU"] for r in results[row] if kind in r] or [0])
            for row in rows]
    ax.bar(np.arange(len(rows)) + k * width, means, width, yerr=stds, label=kind)
  ax.set_xticks(np.arange(len(rows)) + 0.4 - width / 2, rows, rotation=20, ha="right")
  ax.set_ylabel("mIoU (%)")
  ax.legend(fontsize=8)
  fig.tight_layout()
  fig.savefig(path, dpi=120)


def text_checkpoints(pairs) -> dict[str, str]:
  """`--text-checkpoint NAME=DIR` values as `{NAME: DIR}`.

  Raises:
    SystemExit: not NAME=DIR, or NAME not a `TEXT_ENCODERS` variant.
  """
  out = {}
  for pair in pairs or ():
    name, sep, directory = pair.partition("=")
    if not sep or not directory or name not in variants.TEXT_ENCODERS:
      raise SystemExit(f"--text-checkpoint {pair!r}: expected NAME=DIR with NAME one "
                       "of "
                       f"{', '.join(variants.TEXT_ENCODERS)}")
    out[name] = directory
  return out


def select_rows(tables: str, rows: str, checkpoints: dict[str, str] | None = None
                ) -> list[str]:
  """The rows to run: `rows` (comma-separated, `+` inside a row) or those of `tables`.

  Raises:
    SystemExit: an unknown table, a table without rows yet, an unknown variant name,
      or a text-encoder row without its `checkpoints` entry.
  """
  if rows.strip():
    selected = [r.strip() for r in rows.split(",") if r.strip()]
  else:
    selected = []
    for name in (t.strip() for t in tables.split(",") if t.strip()):
      if name not in variants.TABLES:
        raise SystemExit(f"unknown table {name!r}; known: {', '.join(variants.TABLES)}")
      if not variants.TABLES[name]:
        raise SystemExit(f"table {name} has no rows yet (rvs_jax/models/variants.py "
                         "TABLES)")
      selected += variants.TABLES[name]
  selected = list(dict.fromkeys(selected))
  for row in selected:
    parts = row.split("+")
    if any(p in ("tiny", "") for p in parts):
      raise SystemExit(f"row {row!r}: 'tiny' is always added; no empty names")
    try:
      variants.check_names(parts)
    except ValueError as e:
      raise SystemExit(f"row {row!r}: {e}") from None
    for part in parts:
      if part in variants.TEXT_ENCODERS and part not in (checkpoints or {}):
        raise SystemExit(f"row {row!r} needs its converted encoder: --text-checkpoint "
                         f"{part}=DIR (python -m rvs_jax.convert "
                         f"{variants.TEXT_ENCODERS[part]['text_name']} HF_DIR "
                         "--out DIR)")
  return selected


def main(argv=None) -> None:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--out", required=True)
  p.add_argument("--data", default="synthetic_data")
  p.add_argument("--tables", default="V",
                 help=f"comma list of {', '.join(variants.TABLES)}")
  p.add_argument("--rows", default="",
                 help="comma list of rows, each a variant name or names joined by + "
                 "(overrides --tables)")
  p.add_argument("--text-checkpoint", action="append", default=[],
                 metavar="NAME=DIR", help="converted encoder of a Table X row "
                 "(text_bert, text_roberta, text_xlnet); repeat for each")
  p.add_argument("--seeds", default="0")
  p.add_argument("--steps", type=int, default=0, help="0 = the config's schedule")
  args = p.parse_args(argv)
  args.text_checkpoints = text_checkpoints(args.text_checkpoint)
  rows = select_rows(args.tables, args.rows, args.text_checkpoints)
  platform.configure()
  seeds = [int(s) for s in args.seeds.split(",")]
  os.makedirs(args.out, exist_ok=True)
  results = {row: [run(row, s, args) for s in seeds] for row in rows}
  md = table(results)
  with open(os.path.join(args.out, "ablation.md"), "w", encoding="utf-8") as f:
    f.write(f"Seeds {seeds}, steps {args.steps or 'config'}; clean protocol.\n" + md)
  try:
    plot(results, os.path.join(args.out, "ablation.png"))
  except ImportError:
    print("matplotlib not installed: no plot (pip install -e '.[plots]')")
  print(md)


if __name__ == "__main__":
  main()
