"""The TPAMI model (language-aware spatial-temporal collaboration), the default.

  get_config()        full size (320x320, 8 frames)
  get_config("tiny")  the test-size variant of the same code path (64x64)
Ablation rows: `configs/ablations.py`.
"""

import ml_collections

from configs import common


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  args = common.parse_arg(arg)
  config = ml_collections.ConfigDict()
  config.model = common.model_section(common.LSTC, args)
  config.image_size = 64 if "tiny" in args else 320
  config.num_frames = 8
  # --- Pretrained initialisation (owned by rvs_jax/convert; see common.py) ---
  config.pretrained = common.pretrained_section(config.model)
  # ---
  return config
