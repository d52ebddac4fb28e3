"""One table format for every results dict (frame- and video-level benchmarks).

`results_table` prints what `frame_eval.evaluate` and `video_eval.VideoScorer.finish`
return; `format_results` (one row) and `format_rows` (one row per group) are its parts,
Markdown tables with floats as percentages and counts as integers.
"""

import math
from typing import Any, Mapping, Optional

import numpy as np


# Column order of the tables; keys not listed here follow in their dict order.
_COLUMN_ORDER = ('P@0.5', 'P@0.6', 'P@0.7', 'P@0.8', 'P@0.9', 'mAP', 'mAP_coco',
                 'AP50_coco', 'AP75_coco', 'oIoU', 'mIoU', 'J&F', 'J', 'F', 'J-Recall',
                 'J-Decay', 'F-Recall', 'F-Decay', 'num_samples', 'num_expressions')


def _columns(rows) -> list[str]:
  present = list(dict.fromkeys(k for r in rows for k in r))
  return [k for k in _COLUMN_ORDER if k in present] + [
      k for k in present if k not in _COLUMN_ORDER]


def _cell(value: Any, percent: bool, digits: int) -> str:
  if value is None:
    return ''
  if isinstance(value, (bool, np.bool_, int, np.integer)):
    return str(int(value))
  if isinstance(value, (float, np.floating)):
    if math.isnan(value):
      return 'nan'
    return f'{value * 100 if percent else value:.{digits}f}'
  return str(value)


def _markdown(header: list[str], body: list[list[str]], title: Optional[str]) -> str:
  widths = [max(len(r[c]) for r in [header] + body) for c in range(len(header))]
  fmt = lambda r: '| ' + ' | '.join(c.rjust(w) for c, w in zip(r, widths)) + ' |'
  rule = '|' + '|'.join('-' * (w + 1) + ':' for w in widths) + '|'
  return '\n'.join(([title] if title else []) + [fmt(header), rule] +
                   [fmt(r) for r in body])


def format_results(results: Mapping[str, Any], title: Optional[str] = None,
                   percent: bool = True, digits: int = 2) -> str:
  """Formats a results dict as a small Markdown table (one header row, one value row).

  Args:
    results: Metric name -> value; floats are fractions, ints are counts.
    title: Optional line printed above the table.
    percent: Show float metrics x100 (the convention of every paper of the field).
    digits: Decimals of float metrics.

  Returns:
    The table as a string (no trailing newline); print it.
  """
  keys = _columns([results])
  return _markdown(keys, [[_cell(results[k], percent, digits) for k in keys]], title)


def format_rows(rows: Mapping[str, Mapping[str, Any]], title: Optional[str] = None,
                percent: bool = True, digits: int = 2) -> str:
  """One Markdown row per named group (e.g. per annotation slot), as `format_results`.

  A group without some column leaves its cell empty.
  """
  keys = _columns(rows.values())
  body = [[name] + [_cell(v.get(k), percent, digits) for k in keys]
          for name, v in rows.items()]
  return _markdown([''] + keys, body, title)


def results_table(result: Mapping[str, Any], title: str) -> str:
  """Every table of an evaluation result dict, separated by blank lines.

  `metrics` first; then, where present, one table per `by_kind` kind (the synthetic
  benchmark), `by_slot` (Ref-DAVIS per-expression scores per annotation slot) and
  `davis_unsupervised` (the official Ref-DAVIS protocol per slot).
  """
  lines = [format_results(result['metrics'], title=title)]
  for kind, values in result.get('by_kind', {}).items():
    lines.append(format_results(values, title=f'{title} — {kind} samples'))
  if result.get('by_slot'):
    lines.append(format_rows(result['by_slot'], 'per-expression scores by slot'))
  if result.get('davis_unsupervised'):
    lines.append(format_rows(result['davis_unsupervised'],
                             'DAVIS-2017 unsupervised protocol (ReferFormer) by slot'))
  return '\n\n'.join(lines)
