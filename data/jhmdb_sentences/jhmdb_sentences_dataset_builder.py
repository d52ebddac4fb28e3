"""TFDS builder `jhmdb_sentences`: J-HMDB Sentences, 3 fixed frames per video.

Build (manual download; see MANUAL_DOWNLOAD_INSTRUCTIONS)::

  tfds build data/jhmdb_sentences --manual_dir=<unpacked jhmdb_sentences> --data_dir=<out>

The protocol's frames (3 per video among the frames with a mask, drawn with
`rvs_jax.data.jhmdb.sample_frames`, seed 2019 -> 928 x 3 = 2,784 examples) are written
into the dataset twice: as each example's `target`/`frame`, and as the list
`metadata.json["samples"]` (`[{"video_id", "frame", "query"}]`, the format of
`jhmdb.write_samples_file`) in the built dataset's folder, which
`load_jhmdb(root, samples_file=...)` accepts back. To reproduce another paper's split,
put its frame list (ours or MTTR's `jhmdb_sentences_samples_metadata.json`) in the manual
dir as `jhmdb_samples.json`; it then replaces the draw.
"""

from __future__ import annotations

import os

import tensorflow_datasets as tfds

from rvs_jax.data import jhmdb
from rvs_jax.data import registry
from rvs_jax.data import tfds_source

SAMPLES_FILE = "jhmdb_samples.json"

_DESCRIPTION = """
J-HMDB Sentences (Gavrilyuk et al., CVPR 2018): 928 J-HMDB videos (21 actions), one
referring sentence each, puppet masks. Evaluation only; 3 frames per video.
"""

_CITATION = """
@inproceedings{gavrilyuk2018actor,
  title={Actor and Action Video Segmentation from a Sentence},
  author={Gavrilyuk, Kirill and Ghodrati, Amir and Li, Zhenyang and Snoek, Cees G. M.},
  booktitle={CVPR}, year={2018}}
"""


_STRIDE = registry.get("jhmdb_sentences").clip_stride  # The clip stored per example.


# The class name gives the TFDS name `jhmdb_sentences`: the registry's spelling, so the
# config, the validator, this folder and the built dataset share one name.
class JhmdbSentences(tfds.core.GeneratorBasedBuilder):
  """J-HMDB Sentences in the rvs_jax example schema."""

  VERSION = tfds.core.Version(tfds_source.SCHEMA_VERSION)
  RELEASE_NOTES = {
      "1.0.0": "First release: 3 frames per video (sha256 draw, seed 2019).",
      tfds_source.SCHEMA_VERSION: tfds_source.RELEASE_NOTE,
  }
  MANUAL_DOWNLOAD_INSTRUCTIONS = """
  Download J-HMDB (`Rename_Images/`, `puppet_mask/`) from
  http://jhmdb.is.tue.mpg.de/ and the J-HMDB Sentences file `jhmdb_annotation.txt` from
  https://kgavrilyuk.github.io/publication/actor_action/, and unpack them as

    <manual_dir>/Rename_Images/<action>/<video_id>/00001.png ...
    <manual_dir>/puppet_mask/<action>/<video_id>/puppet_mask.mat
    <manual_dir>/jhmdb_annotation.txt
    <manual_dir>/jhmdb_samples.json     (optional: a fixed frame list to use)

  Check it first with `python -m rvs_jax.data.validate jhmdb_sentences <manual_dir>`.
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
    fixed = os.path.join(root, SAMPLES_FILE)
    samples = jhmdb.load_jhmdb(
        root, samples_file=fixed if os.path.isfile(fixed) else None)
    # Saved as metadata.json next to the records: the chosen frames travel with the
    # built dataset.
    self.info.metadata["seed"] = jhmdb.DEFAULT_SEED
    self.info.metadata["samples_file"] = SAMPLES_FILE if os.path.isfile(fixed) else None
    self.info.metadata["samples"] = [
        {"video_id": s.video_id, "frame": s.target + 1, "query": s.sentence}
        for s in samples]
    return {"test": self._generate_examples("test", samples)}

  def _generate_examples(self, split: str, samples):
    # Not a generator itself: the split's sample index goes into the metadata now.
    return tfds_source.split_generator(self, split, samples, _STRIDE)
