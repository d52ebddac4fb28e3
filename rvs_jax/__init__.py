"""rvs_jax: referring video segmentation by language-aware spatial-temporal collaboration.

JAX/Flax implementation of Hui et al., "Language-Aware Spatial-Temporal Collaboration for
Referring Video Segmentation" (TPAMI 2023) and its predecessor CSTM (CVPR 2021).

    import rvs_jax
    seg = rvs_jax.load("workdir")                    # a training workdir or checkpoint
    result = seg.segment("clip.mp4", "the red square")
    result.masks                                     # bool (K, T, H, W)
"""

__version__ = "0.1.0"

# The library runs the XLA flags the command-line programs run (before JAX starts).
from rvs_jax import platform as _platform  # pylint: disable=g-import-not-at-top

_platform.set_xla_flags()


def __getattr__(name):
  # `rvs_jax.models` on first use, so light modules (e.g. the standalone loader in
  # `rvs_jax.inference.export`) can be imported without the model code.
  if name == "models":
    import importlib  # pylint: disable=g-import-not-at-top
    return importlib.import_module("rvs_jax.models")
  if name == "encode_sentences":
    from rvs_jax import text_features  # pylint: disable=g-import-not-at-top
    return text_features.encode_sentences
  if name == "load":
    from rvs_jax.inference import segmenter  # pylint: disable=g-import-not-at-top
    return segmenter.load
  raise AttributeError(f"module 'rvs_jax' has no attribute {name!r}")
