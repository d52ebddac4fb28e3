"""Trains a referring video segmentation model: `python train.py --help`.

The same command as `rvs-train`; its body is `rvs_jax/train/cli.py`.
"""

import sys

from rvs_jax.train import cli

if __name__ == "__main__":
  sys.exit(cli.main())
