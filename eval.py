"""Evaluates a trained model: `python eval.py --help`.

The same command as `rvs-eval`; its body is `rvs_jax/evaluation/cli.py`.
"""

import sys

from rvs_jax.evaluation import cli

if __name__ == "__main__":
  sys.exit(cli.main())
