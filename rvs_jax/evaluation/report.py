"""One table format for every results dict (frame- and video-level benchmarks)."""

import math
from typing import Any, Mapping, Optional

import numpy as np


# --------------------------------------------------------------------------------------
# Reporting
# --------------------------------------------------------------------------------------

# Column order of `format_results`; keys not listed here follow in their dict order.
_COLUMN_ORDER = ('P@0.5', 'P@0.6', 'P@0.7', 'P@0.8', 'P@0.9', 'mAP', 'mAP_coco',
                 'AP50_coco', 'AP75_coco', 'oIoU', 'mIoU', 'J&F', 'J', 'F', 'J-Recall',
                 'J-Decay', 'F-Recall', 'F-Decay', 'num_samples', 'num_expressions')


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
  keys = [k for k in _COLUMN_ORDER if k in results]
  keys += [k for k in results if k not in keys]
  cells = []
  for k in keys:
    v = results[k]
    if isinstance(v, (bool, np.bool_)) or isinstance(v, (int, np.integer)):
      cells.append(str(int(v)))
    elif isinstance(v, (float, np.floating)):
      cells.append('nan' if math.isnan(v) else f'{v * 100 if percent else v:.{digits}f}')
    else:
      cells.append(str(v))
  widths = [max(len(k), len(c)) for k, c in zip(keys, cells)]
  header = '| ' + ' | '.join(k.rjust(w) for k, w in zip(keys, widths)) + ' |'
  rule = '|' + '|'.join('-' * (w + 1) + ':' for w in widths) + '|'
  row = '| ' + ' | '.join(c.rjust(w) for c, w in zip(cells, widths)) + ' |'
  lines = ([title] if title else []) + [header, rule, row]
  return '\n'.join(lines)
