"""Pretrained by default: full-size configs ask for the ImageNet ResNet-50 and the
Kinetics I3D, refuse to train without them (one line: how to get them), start with the
explicit opt-out, and convert a torch hub file once into a cache.

Nothing here compiles a network; the start-up is stopped right after the check.
"""

import os

import numpy as np
import pytest

from configs import a2d_sentences, synthetic
from rvs_jax import checkpointing, convert, datasets
from rvs_jax.convert import converters, i3d_jax
from rvs_jax.convert import pretrained as pretrained_lib
from rvs_jax.train import trainer


class _PastTheCheck(Exception):
  """Raised where training would start loading data: the check let it through."""


@pytest.fixture
def empty_hub(tmp_path, monkeypatch):
  monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
  return tmp_path / "torch" / "hub" / "checkpoints"


def _stop_at_data(monkeypatch):
  def stop(*args, **kwargs):
    raise _PastTheCheck()
  monkeypatch.setattr(datasets, "load_samples", stop)


def test_full_size_configs_ask_for_both_tiny_for_none():
  full = synthetic.get_config().pretrained
  assert (full.spatial, full.temporal) == ("torchvision", "i3d-jax")
  tiny = synthetic.get_config("tiny").pretrained
  assert (tiny.spatial, tiny.temporal) == ("", "")
  assert synthetic.get_config("temporal_only").pretrained.spatial == ""  # no ResNet


def test_missing_resnet_refuses_to_start_with_one_line(empty_hub, tmp_path, monkeypatch):
  _stop_at_data(monkeypatch)
  config = a2d_sentences.get_config()
  with pytest.raises(convert.PretrainedMissing) as info:
    trainer.train_and_evaluate(config, str(tmp_path / "work"))
  line = str(info.value)
  assert "\n" not in line
  assert str(empty_hub) in line and "resnet50-0676ba61.pth" in line
  assert "--config.pretrained.spatial=none" in line


def test_missing_i3d_refuses_to_start_with_one_line(empty_hub, tmp_path, monkeypatch):
  _stop_at_data(monkeypatch)
  monkeypatch.setattr(i3d_jax, "weights_path", lambda: None)
  config = a2d_sentences.get_config()
  config.pretrained.spatial = "none"
  with pytest.raises(convert.PretrainedMissing) as info:
    trainer.train_and_evaluate(config, str(tmp_path / "work"))
  line = str(info.value)
  assert "\n" not in line and ".[i3d]" in line
  assert "--config.pretrained.temporal=none" in line


def test_explicit_opt_out_starts(empty_hub, tmp_path, monkeypatch):
  _stop_at_data(monkeypatch)
  monkeypatch.setattr(i3d_jax, "weights_path", lambda: None)
  config = a2d_sentences.get_config()
  config.pretrained.spatial = config.pretrained.temporal = "none"
  assert convert.check_pretrained(config) == dict(spatial=None, temporal=None)
  with pytest.raises(_PastTheCheck):
    trainer.train_and_evaluate(config, str(tmp_path / "work"))


def test_fine_tuning_from_init_from_does_not_need_the_files(empty_hub):
  config = a2d_sentences.get_config()
  config.init_from = "/some/ytvos_workdir"
  config.pretrained.temporal = "none"
  assert convert.check_pretrained(config) == dict(spatial=None, temporal=None)


def test_fake_hub_resnet_is_found_converted_and_cached(empty_hub, tmp_path, monkeypatch):
  torch = pytest.importorskip("torch")
  # pylint: disable-next=g-import-not-at-top
  from rvs_jax.convert import torch_reference as ref
  empty_hub.mkdir(parents=True)
  state = ref.state_dict_numpy(ref.ResNet50())     # random, torchvision key layout
  torch.save({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in state.items()},
             empty_hub / "resnet50-0676ba61.pth")
  (empty_hub / "resnet50-zzzzzzzz.pth").write_bytes(b"not preferred")
  config = a2d_sentences.get_config()
  config.pretrained.cache = str(tmp_path / "cache")
  assert convert.check_pretrained(config)["spatial"] == str(
      empty_hub / "resnet50-0676ba61.pth")

  tree = convert.pretrained_variables("torchvision", "spatial", config)
  assert [list(t) for t in tree.values()] == [["spatial_encoder"]] * 2
  np.testing.assert_array_equal(   # torch OIHW -> flax HWIO
      tree["params"]["spatial_encoder"]["stem"]["conv"]["kernel"],
      state["conv1.weight"].transpose(2, 3, 1, 0))
  np.testing.assert_array_equal(
      tree["batch_stats"]["spatial_encoder"]["stem"]["bn"]["var"],
      state["bn1.running_var"])
  cached = list((tmp_path / "cache").iterdir())
  assert len(cached) == 1 and cached[0].name.startswith("resnet50-")
  assert checkpointing.read_conversion(cached[0])["kind"] == "resnet50"

  # Second start: read from the cache, not converted again.
  def no_conversion(*args, **kwargs):
    raise AssertionError("converted twice")
  monkeypatch.setattr(converters, "convert_file", no_conversion)
  again = convert.pretrained_variables("torchvision", "spatial", config)
  np.testing.assert_array_equal(again["params"]["spatial_encoder"]["stem"]["conv"][
      "kernel"], tree["params"]["spatial_encoder"]["stem"]["conv"]["kernel"])
  assert pretrained_lib.cache_dir(config) == str(tmp_path / "cache")


def test_the_command_prints_the_one_line(empty_hub, tmp_path, capsys):
  from rvs_jax.train import cli  # pylint: disable=g-import-not-at-top
  workdir = tmp_path / "w"
  config = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        "configs", "a2d_sentences.py")
  status = cli.main([f"--config={config}", f"--workdir={workdir}"])
  err = capsys.readouterr().err
  assert status == 2 and err.count("\n") == 1, err
  assert err.startswith("rvs-train: error: config.pretrained.spatial='torchvision'")
  assert not workdir.exists()   # a failed start leaves no workdir behind
