"""Configs: one experiment shape, variants as `:args`, the library as the only source."""

import os
import subprocess
import sys

import numpy as np
import pytest

from rvs_jax import app, experiment, models
from rvs_jax.models import variants

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = sorted(f for f in os.listdir(os.path.join(ROOT, "configs"))
                 if f.endswith(".py") and f != "__init__.py")
SECTIONS = {"model", "data", "train", "eval", "pretrained", "seed", "init_from"}


@pytest.mark.parametrize("name", CONFIGS)
@pytest.mark.parametrize("arg", ["", "cstm,tiny", "plus_cmam,tiny"])
def test_every_config_has_one_shape_and_takes_every_variant(name, arg):
  config = app.load_config_file(os.path.join(ROOT, "configs", name)
                                + (f":{arg}" if arg else ""))
  assert set(config) == SECTIONS
  assert set(config.model) == set(variants.model_fields())
  models.model_config(config.model)  # Every field valid.
  assert config.data.image_size == (64 if "tiny" in arg else 320)


def test_the_model_defaults_are_the_lstc_variant():
  lstc = models.model_config(experiment.get_config("a2d_sentences").model)
  assert models.RVSModel().config == models.ModelConfig() == lstc
  cstm = models.model_config(experiment.get_config("a2d_sentences", "cstm").model)
  assert (cstm.cmam, cstm.lasp_pairs, cstm.spatial_input_norm) == ("cmam", (), "none")


@pytest.mark.parametrize("arg, expected", [
    ("tny", r"unknown variant 'tny' \(did you mean tiny\?\)"),
    ("cstm,lstc", "exclusive"),
])
def test_a_wrong_variant_is_one_line(arg, expected):
  with pytest.raises(app.UsageError, match=expected) as e:
    app.load_config_file(os.path.join(ROOT, "configs", "synthetic.py") + f":{arg}")
  assert "\n" not in str(e.value)


def test_configs_load_from_any_folder(tmp_path):
  """Configs import only the installed library (no `configs` package on the path)."""
  script = ("from rvs_jax import app; import sys; "
            "print(app.load_config_file(sys.argv[1]).data.name)")
  env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
  out = subprocess.run([sys.executable, "-c", script,
                        os.path.join(ROOT, "configs", "synthetic.py:tiny")],
                       cwd=str(tmp_path), env=env, capture_output=True, text=True,
                       timeout=120, check=False)
  assert out.returncode == 0, out.stderr[-2000:]
  assert out.stdout.strip() == "synthetic"


@pytest.mark.parametrize("name", ["synthetic.py", "a2d_sentences.py"])
def test_the_cpu_recipe_is_one_arg_of_any_dataset_config(name):
  config = app.load_config_file(os.path.join(ROOT, "configs", name) + ":cpu")
  recipe = experiment.RECIPES["cpu"]
  assert config.data.image_size == recipe["data"]["image_size"] == 64
  for field, value in recipe["train"].items():
    assert config.train[field] == value, field
  fields = models.model_config(config.model)
  assert fields.i3d_width_mult == variants.CPU["i3d_width_mult"]
  # An ablation row keeps its own fields under the recipe's sizes.
  row = app.load_config_file(os.path.join(ROOT, "configs", name) + ":plus_spatial,cpu")
  assert (row.model.cmam, row.model.language_fusion) == ("none", "concat")
  assert row.model.decoder_dim == variants.CPU["decoder_dim"]


def test_tiny_and_cpu_are_exclusive_and_the_default_schedule_is_unchanged():
  with pytest.raises(app.UsageError, match="exclusive"):
    app.load_config_file(os.path.join(ROOT, "configs", "synthetic.py") + ":tiny,cpu")
  train = experiment.get_config("a2d_sentences").train
  assert (train.lr_schedule, train.warmup_steps, train.lr) == ("step", 0, 1e-4)


def test_the_cpu_recipe_schedule_warms_up_then_follows_a_cosine():
  from rvs_jax.train import optim  # pylint: disable=g-import-not-at-top
  train = experiment.get_config("synthetic", "cpu").train
  train.num_steps = 1000
  schedule = optim.make_schedule(train, steps_per_epoch=250)
  lr, warm = train.lr, train.warmup_steps
  assert float(schedule(0)) == pytest.approx(lr / warm)
  cosine = 0.5 * (1 + np.cos(np.pi * (warm - 1) / 1000))
  final = train.lr_final_fraction
  assert float(schedule(warm - 1)) == pytest.approx(
      lr * ((1 - final) * cosine + final), rel=1e-4)
  assert float(schedule(999)) == pytest.approx(lr * train.lr_final_fraction, rel=0.05)
  train.lr_schedule = "cosin"
  with pytest.raises(ValueError, match="lr_schedule"):
    optim.make_schedule(train, steps_per_epoch=250)
