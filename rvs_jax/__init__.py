"""rvs_jax: referring video segmentation by language-aware spatial-temporal collaboration.

JAX/Flax implementation of Hui et al., "Language-Aware Spatial-Temporal Collaboration for
Referring Video Segmentation" (TPAMI 2023) and its predecessor CSTM (CVPR 2021).
"""

__version__ = "0.1.0"

from rvs_jax import models  # noqa: E402  pylint: disable=wrong-import-position
