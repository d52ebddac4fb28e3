"""Build the benchmark TFDS datasets of this folder, from Python or the command line.

The builders are TFDS "dataset folders" (`data/<name>/<name>_dataset_builder.py`), so
the standard command works::

  tfds build data/jhmdb_sentences --manual_dir=<unpacked> --data_dir=<out>

but the `tfds` entry point of tensorflow-datasets 4.9.x imports `apache_beam` and
`mlcroissant` at start-up (for its `convert_format` / `build_croissant` commands) and
fails without them. This script runs the same
`build` command (TFDS's own `build.Args`, so the same flags: `--manual_dir`,
`--data_dir`, `--config`, `--overwrite`, ...) without that import::

  python data/build_tfds.py data/jhmdb_sentences --manual_dir=<unpacked> --data_dir=<out>

From Python::

  sys.path.insert(0, "data")   # this folder
  from build_tfds import build
  build("data/refer_davis", manual_dir=..., data_dir=..., config="unsupervised")
"""

from __future__ import annotations

import os
import sys
from typing import Any


def builder_class(folder: str) -> type[Any]:
  """Imports `<folder>/<name>_dataset_builder.py` the way `tfds build` does."""
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  folder = os.path.abspath(folder)
  name = os.path.basename(folder.rstrip(os.sep))
  with tfds.core.utils.add_sys_path(os.path.dirname(folder)):
    return tfds.core.community.builder_cls_from_module(f"{name}.{name}_dataset_builder")


def build(folder: str, *, manual_dir: str, data_dir: str,
          config: str | None = None) -> list[str]:
  """Builds one dataset folder (every config unless `config` is given).

  Args:
    folder: e.g. "data/a2d_sentences".
    manual_dir: the unpacked official dataset.
    data_dir: TFDS output root.
    config: builder config name (Refer-DAVIS: "unsupervised" / "semi_supervised").

  Returns:
    The built versioned dataset folders.
  """
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  cls = builder_class(folder)
  configs = [config] if config else [c.name for c in cls.BUILDER_CONFIGS] or [None]
  out = []
  for name in configs:
    builder = cls(data_dir=data_dir, **({"config": name} if name else {}))
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir=manual_dir))
    out.append(os.fspath(builder.data_dir))
  return out


def main(argv: list[str]) -> None:
  """`tfds build` without the apache_beam import of TFDS's CLI entry point."""
  import simple_parsing  # pylint: disable=g-import-not-at-top
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  # pylint: disable-next=g-import-not-at-top
  from tensorflow_datasets.scripts.cli import build as tfds_build
  tfds.core.visibility.set_availables([
      tfds.core.visibility.DatasetType.TFDS_PUBLIC,
      tfds.core.visibility.DatasetType.COMMUNITY_PUBLIC])
  args = simple_parsing.parse(tfds_build.Args, args=argv,
                              prog="python data/build_tfds.py")
  args.execute()


if __name__ == "__main__":
  main(sys.argv[1:])
