"""Check an unpacked benchmark before building or training on it; list every problem.

Usage::

  python -m rvs_jax.data.validate <benchmark> <root>
      [--quick] [--annotations {unsupervised,semi_supervised,both}]

`<benchmark>` is a name of `rvs_jax.data.registry` (`a2d_sentences`, `jhmdb_sentences`,
`refer_youtube_vos`, `refer_davis`, `synthetic`, `mevis`). Each benchmark's checks live
next to its reader (`validate` in `rvs_jax/data/<benchmark module>.py`); this module
holds the shared report types and file helpers, and the command line.

The validator runs the readers' own checks (`rvs_jax.data.checks`: the same functions
with a sink that collects instead of raising), so a defect gets the same verdict here,
in the training loader and in the TFDS builders. The readers stop at the first error (a
`DataError`); this tool keeps going and prints one line per finding, naming the file, so
a broken download is found in minutes instead of an hour into a TFDS build:

* `ERROR`: the data cannot be trusted; the readers and builders refuse it -- missing,
  truncated, empty or non-UTF-8 files, frame counts that disagree with the
  annotations, RGB instead of palette PNGs, malformed annotation lines, ...
* `WARNING`: one sample (sentence, expression, annotated frame) is unusable and the
  readers leave it out, with the same warning naming the video -- empty sentences,
  non-integer instance ids (A2D's `'1 (copy)'` row), sentences of videos that do not
  exist, missing h5 files of annotated frames, objects absent from every mask.
* `NOTE`: known quirks of the official releases that the readers handle (J-HMDB videos
  with fewer masks than frames, duplicate instances and extra masks, DAVIS's latin-1
  annot2 files and misspelt video names, ...).

The exit code is 1 if there is any error, else 0 (warnings do not fail). `--quick` only
checks that images and videos exist and have readable headers instead of decoding every
one of them.
"""

from __future__ import annotations

import io
import os
import sys
from typing import Any

from rvs_jax import app
# The report types live with the checks; re-exported here for the validator's callers.
from rvs_jax.data.checks import Problem, Report

__all__ = ["Problem", "Report", "main", "validate"]

# ----------------------------------------------------------------------------------------
# CLI


def validate(benchmark: str, root: str, quick: bool = False, **kwargs: Any) -> Report:
  """Runs the validator of the registered `benchmark` on `root`."""
  from rvs_jax.data import registry  # pylint: disable=g-import-not-at-top
  entry = registry.get(benchmark)
  if entry.validator is None:
    raise ValueError(f"benchmark {benchmark!r} has no validator")
  if not os.path.isdir(root):
    report = Report()
    report.error(root, "not a directory")
    return report
  return entry.validator(root, quick=quick, **kwargs)


def main(argv: list[str] | None = None) -> int:
  """CLI entry point; returns the exit code (1 if any error)."""
  from rvs_jax.data import registry  # pylint: disable=g-import-not-at-top
  parser = app.ArgumentParser(
      prog="python -m rvs_jax.data.validate", description=__doc__.split("\n\n")[0])
  parser.add_argument("benchmark", choices=[n for n in registry.names()
                                            if registry.get(n).validator is not None])
  parser.add_argument("root", help="the unpacked dataset folder")
  parser.add_argument("--quick", action="store_true",
                      help="check image/video headers only, do not decode every frame")
  parser.add_argument("--annotations", default="unsupervised",
                      choices=["unsupervised", "semi_supervised", "both"],
                      help="Refer-DAVIS: which annotation set to check")
  args = parser.parse_args(argv)
  kwargs = {k: getattr(args, k)
            for k in registry.get(args.benchmark).validator_options}
  report = validate(args.benchmark, args.root, quick=args.quick, **kwargs)
  out = io.StringIO()
  for problem in report.problems:
    print(problem, file=out)
  n_err, n_warn = len(report.errors), len(report.warnings)
  print(f"{n_err} error(s), {n_warn} warning(s), "
        f"{len(report.problems) - n_err - n_warn} note(s) in {args.root}", file=out)
  sys.stdout.write(out.getvalue())
  return 1 if n_err else 0


if __name__ == "__main__":
  sys.exit(main())
