"""TFDS builder `refer_youtube_vos`: Refer-YouTube-VOS: a record per video (schema 2).

Build (manual download; see MANUAL_DOWNLOAD_INSTRUCTIONS)::

  tfds build data/refer_youtube_vos --manual_dir=<unpacked refer_youtube_vos> \\
      --data_dir=<out>

Splits (from `rvs_jax.data.refer_youtube_vos.load_refer_youtube_vos`):

* `train`: every (expression, frame) whose frame shows the referred object.
* `valid`: the 202 scored videos (valid minus test meta), every (expression, frame),
  no masks (`has_mask` False, all-zero `mask`).
* `test`: only if `meta_expressions/test` and `test/JPEGImages` exist; no masks.

Clips are 8 consecutive entries of the video's `frames` list (offsets -4..+3), and the
JPEG frames are stored byte for byte.

Size warning: the real train split has ~12.9k expressions x ~27 frames, i.e. several
hundred thousand examples, each holding 8 full-resolution JPEGs (frames are duplicated
across overlapping clips): expect a few hundred GB for `train`.
"""

from __future__ import annotations

import os

import tensorflow_datasets as tfds

from rvs_jax.data import refer_youtube_vos
from rvs_jax.data import registry
from rvs_jax.data import tfds_source

_DESCRIPTION = """
Refer-YouTube-VOS (Seo et al., ECCV 2020): YouTube-VOS 2019 videos with referring
expressions (3,471 train videos, 202 scored validation videos).
"""

_CITATION = """
@inproceedings{seo2020urvos,
  title={URVOS: Unified Referring Video Object Segmentation Network with a Large-Scale
         Benchmark},
  author={Seo, Seonguk and Lee, Joon-Young and Han, Bohyung},
  booktitle={ECCV}, year={2020}}
"""


_STRIDE = registry.get("refer_youtube_vos").clip_stride  # The clip stored per example.


# The class name gives the TFDS name `refer_youtube_vos`: the registry's spelling, so the
# config, the validator, this folder and the built dataset share one name.
class ReferYoutubeVos(tfds.core.GeneratorBasedBuilder):
  """Refer-YouTube-VOS in the rvs_jax example schema."""

  VERSION = tfds.core.Version(tfds_source.SCHEMA_VERSION)
  RELEASE_NOTES = {
      "1.0.0": "First release: train on present frames, valid = valid-test.",
      tfds_source.SCHEMA_VERSION: tfds_source.RELEASE_NOTE,
  }
  MANUAL_DOWNLOAD_INSTRUCTIONS = """
  Download the Refer-YouTube-VOS competition release (CodaLab 29139 / the YouTube-VOS
  site: `train.zip`, `valid.zip`, `meta_expressions_test.zip`, and the
  `meta_expressions` files) and unpack it as

    <manual_dir>/train/JPEGImages/<vid>/<frame>.jpg
    <manual_dir>/train/Annotations/<vid>/<frame>.png
    <manual_dir>/train/meta.json                       (optional, speeds up reading)
    <manual_dir>/valid/JPEGImages/<vid>/<frame>.jpg
    <manual_dir>/test/JPEGImages/<vid>/<frame>.jpg     (optional)
    <manual_dir>/meta_expressions/{train,valid,test}/meta_expressions.json

  Check it first with `python -m rvs_jax.data.validate refer_youtube_vos <manual_dir>`.
  """

  def __init__(self, *, file_format=None, **kwargs):
    # ArrayRecord by default: training reads records in random order.
    super().__init__(file_format=file_format or tfds_source.FILE_FORMAT, **kwargs)

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds_source.dataset_info(
        self,
        description=_DESCRIPTION,
        homepage="https://youtube-vos.org/dataset/rvos/",
        citation=_CITATION,
    )

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    root = os.fspath(dl_manager.manual_dir)
    splits = ["train", "valid"]
    if (os.path.isdir(os.path.join(root, "test", "JPEGImages"))
        and os.path.isfile(os.path.join(root, "meta_expressions", "test",
                                        "meta_expressions.json"))):
      splits.append("test")
    return {split: self._generate_examples(
        split, refer_youtube_vos.load_refer_youtube_vos(root, split))
            for split in splits}

  def _generate_examples(self, split: str, samples):
    # Not a generator itself: the split's sample index goes into the metadata now.
    return tfds_source.split_generator(self, split, samples, _STRIDE)
