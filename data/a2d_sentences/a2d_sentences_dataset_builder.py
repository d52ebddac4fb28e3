"""TFDS builder `a2d_sentences`: A2D Sentences, one example per video (schema 2.0.0).

Build (manual download; see MANUAL_DOWNLOAD_INSTRUCTIONS)::

  tfds build data/a2d_sentences --manual_dir=<unpacked a2d_sentences> --data_dir=<out>

Samples are those of `rvs_jax.data.a2d.load_a2d` (MTTR's enumeration: every annotated
frame showing the sentence's instance); each example stores the 8-frame clip (offsets
-8..+6 step 2 around the target, clamped) at the original 320-pixel-high resolution and
the instance mask. Schema: `rvs_jax.data.tfds_source` plus the extras below.
"""

from __future__ import annotations

import os

import tensorflow_datasets as tfds

from rvs_jax.data import a2d
from rvs_jax.data import registry
from rvs_jax.data import tfds_source

_DESCRIPTION = """
A2D Sentences (Gavrilyuk et al., CVPR 2018): 3,782 YouTube videos of the
Actor-Action Dataset (Xu et al., CVPR 2015) with 6,655 referring sentences. One example
is one (annotated frame, sentence, instance) triple with its 8-frame clip.
"""

_CITATION = """
@inproceedings{gavrilyuk2018actor,
  title={Actor and Action Video Segmentation from a Sentence},
  author={Gavrilyuk, Kirill and Ghodrati, Amir and Li, Zhenyang and Snoek, Cees G. M.},
  booktitle={CVPR}, year={2018}}
"""


_STRIDE = registry.get("a2d_sentences").clip_stride  # The clip stored per example.


# The class name gives the TFDS name `a2d_sentences`: the registry's spelling, so the
# config, the validator, this folder and the built dataset share one name.
class A2dSentences(tfds.core.GeneratorBasedBuilder):
  """A2D Sentences in the rvs_jax example schema."""

  VERSION = tfds.core.Version(tfds_source.SCHEMA_VERSION)
  RELEASE_NOTES = {
      "1.0.0": "First release: MTTR sample rule, 8-frame clips.",
      tfds_source.SCHEMA_VERSION: tfds_source.RELEASE_NOTE,
  }
  MANUAL_DOWNLOAD_INSTRUCTIONS = """
  Download the A2D release (`Release/` with `videoset.csv` and `clips320H/*.mp4`) from
  https://web.eecs.umich.edu/~jjcorso/r/a2d/ and the A2D Sentences text annotations
  (`a2d_annotation.txt`, `a2d_missed_videos.txt`, `a2d_annotation_with_instances/`)
  from https://kgavrilyuk.github.io/publication/actor_action/, and unpack them as

    <manual_dir>/Release/videoset.csv
    <manual_dir>/Release/clips320H/<video_id>.mp4
    <manual_dir>/text_annotations/a2d_annotation.txt
    <manual_dir>/text_annotations/a2d_missed_videos.txt
    <manual_dir>/text_annotations/a2d_annotation_with_instances/<video_id>/<frame>.h5

  Check it first with `python -m rvs_jax.data.validate a2d_sentences <manual_dir>`.
  """

  def __init__(self, *, file_format=None, **kwargs):
    # ArrayRecord by default: training reads records in random order.
    super().__init__(file_format=file_format or tfds_source.FILE_FORMAT, **kwargs)

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds_source.dataset_info(
        self,
        description=_DESCRIPTION,
        homepage="https://kgavrilyuk.github.io/publication/actor_action/",
        citation=_CITATION,
    )

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    root = os.fspath(dl_manager.manual_dir)
    return {split: self._generate_examples(split, a2d.load_a2d(root, split))
            for split in a2d.SPLITS}

  def _generate_examples(self, split: str, samples):
    # Not a generator itself: the split's sample index goes into the metadata now.
    return tfds_source.split_generator(self, split, samples, _STRIDE)
