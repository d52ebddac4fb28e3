"""TFDS builder `refer_davis`: Refer-DAVIS17, one example per video (schema 2.0.0).

Build (manual download; see MANUAL_DOWNLOAD_INSTRUCTIONS)::

  tfds build data/refer_davis --manual_dir=<unpacked refer_davis> --data_dir=<out>
  tfds build data/refer_davis --config=semi_supervised ...   # one config only

Configs choose the ground-truth annotation set (`rvs_jax.data.refer_davis`, id-space
caveat in its docstring): `unsupervised` (`Annotations_unsupervised/480p`, ReferFormer's
protocol; default) and `semi_supervised` (`Annotations/480p`). Splits `train` (60 videos)
and `val` (30 videos), every frame of every expression; the four expression slots are
interleaved as exp ids 4k+0..3 and recorded as `annotator` / `kind`.
"""

from __future__ import annotations

import dataclasses
import os

import tensorflow_datasets as tfds

from rvs_jax.data import refer_davis
from rvs_jax.data import registry
from rvs_jax.data import tfds_source

_DESCRIPTION = """
Refer-DAVIS17 (Khoreva et al., ACCV 2018): DAVIS-2017 train/val videos (480p) with
first-frame and full-video referring expressions from two annotators.
"""

_CITATION = """
@inproceedings{khoreva2018video,
  title={Video Object Segmentation with Language Referring Expressions},
  author={Khoreva, Anna and Rohrbach, Anna and Schiele, Bernt},
  booktitle={ACCV}, year={2018}}
"""


@dataclasses.dataclass
class ReferDavisConfig(tfds.core.BuilderConfig):
  """Which DAVIS annotation set provides the masks."""
  annotations: str = "unsupervised"


_STRIDE = registry.get("refer_davis").clip_stride  # The clip stored per example.


# The class name gives the TFDS name `refer_davis`: the registry's spelling, so the
# config, the validator, this folder and the built dataset share one name.
class ReferDavis(tfds.core.GeneratorBasedBuilder):
  """Refer-DAVIS17 in the rvs_jax example schema."""

  VERSION = tfds.core.Version(tfds_source.SCHEMA_VERSION)
  RELEASE_NOTES = {
      "1.0.0": "First release: ReferFormer exp-id interleaving, 480p.",
      tfds_source.SCHEMA_VERSION: tfds_source.RELEASE_NOTE,
  }
  BUILDER_CONFIGS = [
      ReferDavisConfig(name="unsupervised", annotations="unsupervised",
                       description="Masks from Annotations_unsupervised/480p "
                                   "(ReferFormer protocol)."),
      ReferDavisConfig(name="semi_supervised", annotations="semi_supervised",
                       description="Masks from Annotations/480p (the id space the "
                                   "expressions were written for)."),
  ]
  MANUAL_DOWNLOAD_INSTRUCTIONS = """
  Download from https://davischallenge.org/davis2017/code.html
  `DAVIS-2017-Unsupervised-trainval-480p.zip` (and, for the semi_supervised config,
  `DAVIS-2017-trainval-480p.zip`), and `davis_text_annotations.zip` from the MPI
  Informatics page of Khoreva et al., "Video Object Segmentation with Language
  Referring Expressions"; unpack them side by side as

    <manual_dir>/DAVIS/JPEGImages/480p/<video>/00000.jpg ...
    <manual_dir>/DAVIS/Annotations_unsupervised/480p/<video>/00000.png ...
    <manual_dir>/DAVIS/Annotations/480p/<video>/00000.png ...   (semi_supervised)
    <manual_dir>/DAVIS/ImageSets/2017/{train,val}.txt
    <manual_dir>/davis_text_annotations/Davis17_annot{1,2}{,_full_video}.txt

  Check it first with `python -m rvs_jax.data.validate refer_davis <manual_dir>`.
  """

  def __init__(self, *, file_format=None, **kwargs):
    # ArrayRecord by default: training reads records in random order.
    super().__init__(file_format=file_format or tfds_source.FILE_FORMAT, **kwargs)

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds_source.dataset_info(
        self,
        description=_DESCRIPTION,
        homepage="https://davischallenge.org/",
        citation=_CITATION,
    )

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    root = os.fspath(dl_manager.manual_dir)
    annotations = self.builder_config.annotations
    return {split: self._generate_examples(
        split, refer_davis.load_refer_davis(root, split, annotations=annotations))
            for split in refer_davis.SPLITS}

  def _generate_examples(self, split: str, samples):
    # Not a generator itself: the split's sample index goes into the metadata now.
    return tfds_source.split_generator(self, split, samples, _STRIDE)
