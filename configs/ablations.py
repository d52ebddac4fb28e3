"""Every ablation row of the paper's Tables V-IX, selected by name, on top of `lstc`.

  get_config("temporal_only")        Table V row 1 (no spatial encoder, no CMAM)
  get_config("plus_spatial")         + spatial encoder
  get_config("plus_cmam")            + CMAM in both encoders
  get_config("plus_cmam_plus")       + CMAM+ (language update)
  get_config("full")                 + LASP: the TPAMI model
  get_config("cmam_plus_stages_12")  CMAM+ in stages {1, 2} only (Table VI), ...
  get_config("lasp_54")              LASP pair 5->4 only, "lasp_54_43", "lasp_fg_only"
Append ",tiny" for the test-size variant, e.g. `ablations.py:plus_cmam,tiny`.
Without CMAM the language enters the decoder by multiplication (`language_fusion`).
"""

import ml_collections

from configs import common


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  args = common.parse_arg(arg) or ["full"]
  config = ml_collections.ConfigDict()
  config.model = common.model_section(common.LSTC, args)
  config.image_size = 64 if "tiny" in args else 320
  config.num_frames = 8
  config.ablation = ",".join(a for a in args if a != "tiny")
  return config
