"""Named model variants: the paper's model, CSTM, the test size and every ablation row.

`ModelConfig()`'s field defaults are the TPAMI model (`lstc`); everything else here is a
set of field overrides on top of it, selected by name (the `:args` of any config file,
e.g. `configs/a2d_sentences.py:cstm,tiny`). This module and `ModelConfig` are the only
places that hold model hyper-parameters.
"""

from __future__ import annotations

import dataclasses
import difflib
from typing import Any, Sequence

from rvs_jax.models.rvs_model import ModelConfig

# Base variants: at most one per config (the default is `lstc`).
BASES: dict[str, dict[str, Any]] = {
    # The TPAMI model (docs/model.md, "Variants"): `ModelConfig`'s defaults.
    "lstc": {},
    # The CVPR'21 released model: CMAM (no language update), no LASP, GRU 512 without
    # biases, concat fusion, the I3D port's padding, [0, 1] input without normalisation.
    "cstm": dict(text_hidden=512, text_bias=False, mask_pads=False,
                 i3d_pad_mode="torch_port", spatial_input_norm="none",
                 temporal_input_norm="none", cmam="cmam", stage_fusion="concat",
                 lasp_pairs=()),
}

# Test-size variant of the same code path: narrow, shallow (compile time grows with
# depth); configs also shrink the input to 64x64 with it. Applied last, on any variant.
TINY: dict[str, Any] = dict(
    text_hidden=32, resnet_width=8, resnet_stage_sizes=(1, 1, 1, 1),
    i3d_width_mult=0.125, i3d_mixed_per_stage=(1, 1, 1), decoder_dim=16,
)

# The `cpu` recipe's model (`rvs_jax.experiment.RECIPES["cpu"]`, docs/grounding.md):
# the tiny depth with the I3D twice as wide (the tiny I3D has 8 channels at stage 1,
# narrower than the tiny ResNet at every stage) and a wider GRU. PROVISIONAL: not yet
# trained or measured (docs/grounding.md). Applied last instead of `TINY`.
CPU: dict[str, Any] = dict(TINY, i3d_width_mult=0.25, text_hidden=64)
# Size variants: at most one, applied after everything else.
SIZES: dict[str, dict[str, Any]] = {"tiny": TINY, "cpu": CPU}

# The ablation rows of the paper's Tables V-IX, as overrides of the base variant.
# Numbers are the paper's on A2D Sentences test (mAP / oIoU / mIoU) where the project
# has them (docs/reproduce.md, section 4): Table V's five rows. The rows of Tables VI-IX
# that are Table V models quote those; the others' numbers are not quoted because the
# project does not hold the text of those tables, and their first/last rows (VI-1,
# VII-1/6, VIII-1/5) are our reading of what each table varies: check them against
# the paper before comparing.
ABLATIONS: dict[str, dict[str, Any]] = {
    # Table V: the components, each row adding one.
    # V-1, 36.1 / 63.7 / 53.7. The paper: "multimodal interaction only occurs in the
    # decoder by visual and linguistic feature concatenation and fusion".
    "temporal_only": dict(use_spatial=False, cmam="none", lasp_pairs=(),
                          language_fusion="concat"),
    # V-2, 39.4 / 65.5 / 55.7: + the spatial encoder; language as in V-1.
    "plus_spatial": dict(cmam="none", lasp_pairs=(), language_fusion="concat"),
    # V-3, 42.6 / 67.3 / 58.5: + CMAM in both encoders (replaces the decoder fusion).
    "plus_cmam": dict(cmam="cmam", lasp_pairs=()),
    # V-4, 43.9 / 68.8 / 59.8: CMAM+ (the language update).
    "plus_cmam_plus": dict(lasp_pairs=()),
    # V-5, 45.1 / 70.0 / 61.2: + LASP, the TPAMI model.
    "full": dict(),
    # Not a paper row: the other single-encoder model, for the synthetic benchmark.
    "spatial_only": dict(use_temporal=False, cmam="none", lasp_pairs=(),
                         language_fusion="concat"),
    # Table VI: the stages that hold CMAM+, with LASP. VI-1: in no stage (language only
    # through LASP); VI-2..5: stages {1}, {1,2}, {1,2,3}, {1,2,3,4}; VI-6 is `full`
    # (45.1 / 70.0 / 61.2).
    "cmam_plus_stages_none": dict(cmam="none"),
    **{f"cmam_plus_stages_{''.join(map(str, s))}": dict(cmam_stages=s)
       for s in ((1,), (1, 2), (1, 2, 3), (1, 2, 3, 4))},
    # Table VII: the same stage sets without LASP. VII-1 is `plus_spatial` (39.4 / 65.5
    # / 55.7), VII-2..5 below, VII-6 is `plus_cmam_plus` (43.9 / 68.8 / 59.8).
    **{f"cmam_plus_stages_{''.join(map(str, s))}_no_lasp": dict(cmam_stages=s,
                                                                lasp_pairs=())
       for s in ((1,), (1, 2), (1, 2, 3), (1, 2, 3, 4))},
    # Table VIII: the LASP stage pairs. VIII-1 is `plus_cmam_plus` (no LASP), VIII-2
    # and 3 below, VIII-4 is `full` (5->4, 4->3, 3->2: 45.1 / 70.0 / 61.2), VIII-5 adds
    # the pair 2->1.
    "lasp_54": dict(lasp_pairs=((5, 4),)),
    "lasp_54_43": dict(lasp_pairs=((5, 4), (4, 3))),
    "lasp_54_43_32_21": dict(lasp_pairs=((5, 4), (4, 3), (3, 2), (2, 1))),
    # Table IX: foreground sampling only (no background branch) against `full`.
    "lasp_fg_only": dict(lasp_fg_only=True),
}

# Table X: the language encoder replaced by a pretrained transformer, at the sizes of
# bert-base-uncased, roberta-base and xlnet-base-cased (give the converted checkpoint
# as --config.pretrained.text=DIR). `tiny` does not shrink these: the sizes are the
# checkpoint's.
TEXT_ENCODERS: dict[str, dict[str, Any]] = {
    "text_bert": dict(text_name="bert", text_hidden=768, text_vocab_size=30522,
                      text_layers=12, text_heads=12, text_intermediate=3072,
                      text_max_positions=512, text_type_vocab_size=2,
                      text_layer_norm_eps=1e-12, text_activation="gelu",
                      text_pad_token_id=0),
    "text_roberta": dict(text_name="roberta", text_hidden=768, text_vocab_size=50265,
                         text_layers=12, text_heads=12, text_intermediate=3072,
                         text_max_positions=514, text_type_vocab_size=1,
                         text_layer_norm_eps=1e-5, text_activation="gelu",
                         text_pad_token_id=1),
    "text_xlnet": dict(text_name="xlnet", text_hidden=768, text_vocab_size=32000,
                       text_layers=12, text_heads=12, text_intermediate=3072,
                       text_layer_norm_eps=1e-12, text_activation="gelu",
                       text_pad_token_id=5, text_clamp_len=-1),
}


# Each table's rows in the paper's order (rows of `ABLATIONS`; Table X: the GloVe + GRU
# `full` model, then the `TEXT_ENCODERS`, which the ablation bench runs given their
# converted checkpoints, `--text-checkpoint text_bert=DIR`).
TABLES: dict[str, tuple[str, ...]] = {
    "V": ("temporal_only", "plus_spatial", "plus_cmam", "plus_cmam_plus", "full"),
    "VI": ("cmam_plus_stages_none", "cmam_plus_stages_1", "cmam_plus_stages_12",
           "cmam_plus_stages_123", "cmam_plus_stages_1234", "full"),
    "VII": ("plus_spatial", "cmam_plus_stages_1_no_lasp", "cmam_plus_stages_12_no_lasp",
            "cmam_plus_stages_123_no_lasp", "cmam_plus_stages_1234_no_lasp",
            "plus_cmam_plus"),
    "VIII": ("plus_cmam_plus", "lasp_54", "lasp_54_43", "full", "lasp_54_43_32_21"),
    "IX": ("lasp_fg_only", "full"),
    "X": ("full", "text_bert", "text_roberta", "text_xlnet"),
}

# The component each table varies: the `ModelConfig` fields in which a row may differ
# from the row before it (tests/test_ablation_rows.py checks it).
TABLE_FIELDS: dict[str, frozenset[str]] = {
    "V": frozenset({"use_spatial", "cmam", "language_fusion", "lasp_pairs"}),
    "VI": frozenset({"cmam", "cmam_stages"}),
    "VII": frozenset({"cmam", "cmam_stages", "language_fusion"}),
    "VIII": frozenset({"lasp_pairs"}),
    "IX": frozenset({"lasp_fg_only"}),
    # The language encoder: every field a `TEXT_ENCODERS` variant sets.
    "X": frozenset(k for v in TEXT_ENCODERS.values() for k in v),
}

NAMES = (*BASES, *SIZES, *ABLATIONS, *TEXT_ENCODERS)


def check_names(names: Sequence[str]) -> None:
  """ValueError naming an unknown variant and the closest known ones."""
  for name in names:
    if name not in NAMES:
      close = difflib.get_close_matches(name, NAMES, n=3)
      raise ValueError(f"unknown variant {name!r}"
                       + (f" (did you mean {', '.join(close)}?)" if close else "")
                       + f"; known: {', '.join(NAMES)}")
  bases = [n for n in names if n in BASES]
  if len(bases) > 1:
    raise ValueError(f"variants {bases} are exclusive: pick one of {list(BASES)}")
  sizes = [n for n in names if n in SIZES]
  if len(sizes) > 1:
    raise ValueError(f"variants {sizes} are exclusive: pick one of {list(SIZES)}")


def model_fields(names: Sequence[str] = ()) -> dict[str, Any]:
  """Every `ModelConfig` field for the variant `names` (e.g. ["cstm", "tiny"]).

  The base variant (default `lstc`) first, then the ablations in order, then the size
  (`tiny` or `cpu`).
  """
  check_names(names)
  fields = dataclasses.asdict(ModelConfig())
  for name in names:
    if name in BASES:
      fields.update(BASES[name])
  for name in names:
    fields.update(ABLATIONS.get(name, {}))
    fields.update(TEXT_ENCODERS.get(name, {}))
  for size in (n for n in names if n in SIZES):
    text_hidden = fields["text_hidden"]
    fields.update(SIZES[size])
    if fields["text_name"] != "glove_gru":
      fields["text_hidden"] = text_hidden   # The transformer's width is its own.
  return fields
