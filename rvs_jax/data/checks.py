"""One set of data checks for the readers, the TFDS builders and the validator.

Every check of a benchmark's files is written once, in the benchmark's module, against a
*sink* that receives what it finds. Two sinks exist, and they only differ in what they
do with a finding, never in what is found:

* `Strict` (the readers, hence the training loader and the TFDS builders): an error
  raises `DataError` at once; a skipped sample is logged as a warning.
* `Report` (`python -m rvs_jax.data.validate`): every finding is collected, so one run
  lists all problems of a download.

Three kinds of finding:

* `error(path, message)`: the data cannot be trusted (a truncated, empty or non-UTF-8
  annotation file, an unreadable mask, frames that do not pair with the masks, ...).
* `skip(path, video, message)`: one sample (a sentence, an expression, a frame) cannot
  be used but the rest can; it is left out, and the warning names the video and what
  was skipped. The text is the same on every path (`<path>: video '<id>': <what>`).
* `note(path, message)`: a known quirk of the official release that is handled.

The module also holds the file helpers the checks share (text lines, JSON, images).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from typing import Any, Sequence

import numpy as np
from PIL import Image

from rvs_jax.data.types import DataError

log = logging.getLogger("rvs_jax.data")

# ----------------------------------------------------------------------------------------
# Findings and sinks


@dataclasses.dataclass(frozen=True)
class Problem:
  """One finding: `severity` is "error", "warning" or "note"; `path` names the file."""
  severity: str
  path: str
  message: str

  def __str__(self) -> str:
    return f"{self.severity.upper()}: {self.path}: {self.message}"


def skip_message(video: str, message: str) -> str:
  """The text of a skip finding: names the video first, then what was skipped."""
  return f"video '{video}': {message}"


class Report:
  """Collects every finding in discovery order (the validator's sink)."""

  strict = False

  def __init__(self):
    self.problems: list[Problem] = []

  def error(self, path: str, message: str) -> None:
    self.problems.append(Problem("error", path, message))

  def skip(self, path: str, video: str, message: str) -> None:
    self.problems.append(Problem("warning", path, skip_message(video, message)))

  def note(self, path: str, message: str) -> None:
    self.problems.append(Problem("note", path, message))

  def of(self, severity: str) -> list[Problem]:
    return [p for p in self.problems if p.severity == severity]

  @property
  def errors(self) -> list[Problem]:
    return self.of("error")

  @property
  def warnings(self) -> list[Problem]:
    return self.of("warning")


class Strict:
  """The readers' sink: errors raise `DataError`, skips are logged warnings.

  `warnings` keeps the skip findings too, for callers that want them as data.
  """

  strict = True

  def __init__(self):
    self.warnings: list[Problem] = []

  def error(self, path: str, message: str) -> None:
    raise DataError(f"{path}: {message}")

  def skip(self, path: str, video: str, message: str) -> None:
    problem = Problem("warning", path, skip_message(video, message))
    self.warnings.append(problem)
    log.warning("%s: %s", problem.path, problem.message)

  def note(self, path: str, message: str) -> None:
    log.info("%s: %s", path, message)


# ----------------------------------------------------------------------------------------
# Shared file helpers


def _read_bytes(sink, path: str, what: str) -> bytes | None:
  """The file's bytes; None (after `sink.error(path, "missing <what>")`) if unreadable."""
  try:
    with open(path, "rb") as f:
      return f.read()
  except OSError:
    sink.error(path, f"missing {what}")
    return None


def read_lines(sink, path: str, what: str, encodings: Sequence[str] = ("utf-8",)
               ) -> tuple[list[str], str] | None:
  """The lines of a text file and the encoding that decoded it; None if unreadable.

  A leading UTF-8 byte-order mark is accepted and stripped. The file is decoded as a
  whole with the first encoding of `encodings` that decodes every line; if none does,
  each line the first encoding cannot decode is an error (`<path>:<line>: not UTF-8`)
  and the line is kept with replacement characters, so a `Report` still sees the rest.

  Args:
    sink: `Strict` or `Report`.
    path: the file.
    what: what the file is, for the "missing" message.
    encodings: accepted encodings, in order.
  """
  raw = _read_bytes(sink, path, what)
  if raw is None:
    return None
  if raw.startswith(b"\xef\xbb\xbf"):
    raw = raw[3:]
  for enc in encodings:
    try:
      return raw.decode(enc).splitlines(), enc
    except UnicodeDecodeError:
      continue
  lines = []
  for line_no, raw_line in enumerate(raw.splitlines(), start=1):
    try:
      lines.append(raw_line.decode(encodings[0]))
    except UnicodeDecodeError:
      sink.error(f"{path}:{line_no}",
                 f"not {' or '.join(e.upper() for e in encodings)} "
                 f"(bytes {raw_line!r}); re-save the file as UTF-8")
      lines.append(raw_line.decode(encodings[0], "replace"))
  return lines, encodings[0]


def read_json(sink, path: str, what: str = "file") -> Any:
  """A parsed UTF-8 JSON file (a byte-order mark is accepted); None on an error."""
  raw = _read_bytes(sink, path, what)
  if raw is None:
    return None
  try:
    text = raw.decode("utf-8-sig")
  except UnicodeDecodeError as e:
    sink.error(path, f"not UTF-8 ({e}); re-save the file as UTF-8")
    return None
  if not text.strip():
    sink.error(path, "empty file")
    return None
  try:
    return json.loads(text)
  except ValueError as e:
    sink.error(path, f"invalid JSON, truncated? ({e})")
    return None


def read_image(sink, path: str, decode: bool, what: str = "image",
               mode: str | None = None) -> np.ndarray | tuple[int, int] | None:
  """Decoded array (or `(H, W)` from the header if not `decode`); None on an error."""
  if not os.path.isfile(path):
    sink.error(path, f"missing {what}")
    return None
  try:
    with Image.open(path) as im:
      if not decode:
        return im.size[1], im.size[0]
      return np.asarray(im.convert(mode) if mode else im)
  except (OSError, ValueError, SyntaxError) as e:
    sink.error(path, f"unreadable {what} ({e})")
    return None
