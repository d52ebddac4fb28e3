"""Check an unpacked benchmark before building or training on it; list every problem.

Usage::

  python -m rvs_jax.data.validate <benchmark> <root>
      [--quick] [--annotations {unsupervised,semi_supervised,both}]

`<benchmark>` is a name of `rvs_jax.data.registry` (`a2d_sentences`, `jhmdb_sentences`,
`refer_youtube_vos`, `refer_davis`, `synthetic`). Each benchmark's checks live next to
its reader (`validate` in `rvs_jax/data/<benchmark module>.py`); this module holds the
shared report types and file helpers, and the command line.

The readers stop at the first bad file (a `DataError`); this tool keeps going and prints
one line per problem, naming the file, so a broken download is found in minutes instead
of an hour into a TFDS build. Two severities:

* `ERROR`: something a reader or builder would fail on, or that silently yields wrong
  samples -- missing or unreadable frames / videos / h5 / mat / png files, frame-count
  mismatches between frames and masks, masks of the wrong size, empty masks of a
  sentence's object, empty or non-UTF-8 sentences, malformed annotation lines.
* `NOTE`: known quirks of the official releases that the readers handle (J-HMDB videos
  with fewer masks than frames, A2D's `'1 (copy)'` row, duplicate instances and extra
  masks, DAVIS's latin-1 annot2 files and misspelt video names, ...).

The exit code is 1 if there is any error, else 0. `--quick` only checks that images and
videos exist and have readable headers instead of decoding every one of them.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import sys
from typing import Any

import numpy as np
from PIL import Image

from rvs_jax import app

# ----------------------------------------------------------------------------------------
# Report


@dataclasses.dataclass(frozen=True)
class Problem:
  """One finding: `severity` is "error" or "note"; `path` names the file."""
  severity: str
  path: str
  message: str

  def __str__(self) -> str:
    return f"{self.severity.upper()}: {self.path}: {self.message}"


class Report:
  """Collects problems in discovery order."""

  def __init__(self):
    self.problems: list[Problem] = []

  def error(self, path: str, message: str) -> None:
    self.problems.append(Problem("error", path, message))

  def note(self, path: str, message: str) -> None:
    self.problems.append(Problem("note", path, message))

  @property
  def errors(self) -> list[Problem]:
    return [p for p in self.problems if p.severity == "error"]


def read_image(report: Report, path: str, decode: bool, what: str = "image",
                mode: str | None = None) -> np.ndarray | tuple[int, int] | None:
  """Decoded array (or `(H, W)` from the header if not `decode`); None on failure."""
  if not os.path.isfile(path):
    report.error(path, f"missing {what}")
    return None
  try:
    with Image.open(path) as im:
      if not decode:
        return im.size[1], im.size[0]
      return np.asarray(im.convert(mode) if mode else im)
  except (OSError, ValueError, SyntaxError) as e:
    report.error(path, f"unreadable {what} ({e})")
    return None


def decode_lines(report: Report, path: str, encodings=("utf-8",)) -> list[str] | None:
  """Lines of a text file; each line that no encoding decodes is reported."""
  try:
    with open(path, "rb") as f:
      raw = f.read()
  except OSError:
    report.error(path, "missing file")
    return None
  lines = []
  for line_no, raw_line in enumerate(raw.splitlines(), start=1):
    for enc in encodings:
      try:
        lines.append(raw_line.decode(enc))
        break
      except UnicodeDecodeError:
        continue
    else:
      report.error(f"{path}:{line_no}", f"not {'/'.join(encodings)}: {raw_line!r}")
      lines.append(raw_line.decode("utf-8", "replace"))
  if lines and lines[0].startswith("\ufeff"):
    lines[0] = lines[0][1:]
  return lines


def load_json(report: Report, path: str) -> Any:
  """Parsed UTF-8 JSON file; None (and an error) when missing or invalid."""
  try:
    with open(path, "rb") as f:
      return json.loads(f.read().decode("utf-8"))
  except OSError:
    report.error(path, "missing file")
  except UnicodeDecodeError as e:
    report.error(path, f"not UTF-8 ({e})")
  except ValueError as e:
    report.error(path, f"invalid JSON ({e})")
  return None

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
  n_err = len(report.errors)
  print(f"{n_err} error(s), {len(report.problems) - n_err} note(s) in {args.root}",
        file=out)
  sys.stdout.write(out.getvalue())
  return 1 if n_err else 0


if __name__ == "__main__":
  sys.exit(main())
