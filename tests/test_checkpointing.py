"""Checkpoint layouts, strict merging, describe/load, and checkpoints under faults."""

import dataclasses
import errno
import json
import logging
import os

import chex
import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
import pytest

from configs import synthetic
from rvs_jax import checkpointing


def _config():
  config = synthetic.get_config("tiny")
  config.model.cmam_stages = (1, 5)
  config.model.lasp_pairs = ((5, 4),)
  return config


def _partial():
  return {"params": {"enc": {"w": np.full((2, 3), 2.0, np.float32)}},
          "batch_stats": {"enc": {"mean": np.ones(3, np.float32)}}}


def _full():
  return {"params": {"enc": {"w": jnp.zeros((2, 3)), "b": jnp.zeros(3)},
                     "head": {"w": jnp.zeros((3, 1), jnp.bfloat16)}},
          "batch_stats": {"enc": {"mean": jnp.zeros(3), "var": jnp.ones(3)}}}


# ----------------------------------------------------------------------------------------
# Converted checkpoints and merging.
# ----------------------------------------------------------------------------------------


def test_save_and_load_converted_round_trip(tmp_path):
  out = tmp_path / "ckpt"
  checkpointing.save_converted(out, _partial(), {"kind": "test", "mapping": {"a": "b"}})
  meta = json.loads((out / checkpointing.CONVERSION_FILE).read_text())
  assert meta["kind"] == "test" and meta["leaves"] == 2
  assert meta["format"] == checkpointing.CONVERTED_FORMAT
  assert (out / checkpointing.CONVERTED_VARIABLES_DIR).is_dir()
  got = checkpointing.load_converted(out)
  jax.tree.map(np.testing.assert_array_equal, got, _partial())
  merged = checkpointing.load_converted(out, _full())
  assert isinstance(merged["params"]["enc"]["w"], jax.Array)
  np.testing.assert_array_equal(merged["params"]["enc"]["w"], 2.0)
  np.testing.assert_array_equal(merged["batch_stats"]["enc"]["var"], 1.0)
  with pytest.raises(checkpointing.CheckpointError, match="not empty"):
    checkpointing.save_converted(out, _partial(), {})
  checkpointing.save_converted(out, _partial(), {"kind": "again"}, overwrite=True)
  assert checkpointing.read_conversion(out)["kind"] == "again"
  with pytest.raises(checkpointing.CheckpointError, match="not a converted checkpoint"):
    checkpointing.load_converted(tmp_path)
  (tmp_path / "mine").mkdir()
  (tmp_path / "mine" / "notes.txt").write_text("the user's")
  with pytest.raises(checkpointing.CheckpointError, match="refusing to overwrite"):
    checkpointing.save_converted(tmp_path / "mine", _partial(), {}, overwrite=True)
  assert (tmp_path / "mine" / "notes.txt").read_text() == "the user's"


def test_merge_into_reports_every_problem_as_data_and_one_line():
  merged = checkpointing.merge_into(_full(), _partial())
  np.testing.assert_array_equal(merged["params"]["enc"]["w"], 2.0)
  np.testing.assert_array_equal(merged["params"]["enc"]["b"], 0.0)
  assert merged["params"]["head"]["w"].dtype == jnp.bfloat16
  bad = _partial()
  bad["params"]["enc"]["w"] = np.zeros((3, 2), np.float32)
  bad["params"]["logits"] = {"kernel": np.zeros(4, np.float32)}
  with pytest.raises(checkpointing.CheckpointMismatch) as e:
    checkpointing.merge_into(_full(), bad, source="ckpt X")
  assert e.value.unexpected == ("params/logits/kernel",)
  assert e.value.mis_shaped == (("params/enc/w", (3, 2), (2, 3)),)
  assert e.value.missing == ()
  message = str(e.value)
  assert "\n" not in message and message.startswith("ckpt X does not fit the model")
  assert "1 variables have other shapes (e.g. params/enc/w: (3, 2) vs model (2, 3))" in (
      message)
  assert "1 variables are not in the model (e.g. params/logits/kernel)" in message
  bad["params"]["enc"]["w"] = np.zeros((2, 3), np.float32)
  merged = checkpointing.merge_into(_full(), bad, allow_missing=["params/logits/.*"])
  assert "logits" not in merged["params"]
  # Abstract targets work too (shapes from jax.eval_shape).
  abstract = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype), _full())
  assert isinstance(checkpointing.merge_into(abstract, _partial())["params"]["enc"]["w"],
                    np.ndarray)


def test_a_failed_conversion_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
  out = tmp_path / "ckpt"
  checkpointing.save_converted(out, _partial(), {"kind": "good"})

  def disk_full(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")

  monkeypatch.setattr(ocp.StandardCheckpointer, "save", disk_full)
  with pytest.raises(OSError, match="No space"):
    checkpointing.save_converted(out, _partial(), {"kind": "new"}, overwrite=True)
  assert checkpointing.read_conversion(out)["kind"] == "good"
  jax.tree.map(np.testing.assert_array_equal, checkpointing.load_converted(out),
               _partial())
  assert sorted(os.listdir(tmp_path)) == ["ckpt"]  # No temporary folder left behind.


def test_non_finite_weights_are_refused_naming_the_tensors(tmp_path):
  bad = _partial()
  bad["params"]["enc"]["w"][0, 1] = np.inf
  with pytest.raises(checkpointing.CheckpointError,
                     match=r"1 tensors hold NaN or Inf \(e.g. params/enc/w\)"):
    checkpointing.save_converted(tmp_path / "c", bad, {})
  assert not (tmp_path / "c").exists()
  # A checkpoint written by something else is checked when read.
  checkpointing.save_converted(tmp_path / "c", _partial(), {})
  bad["batch_stats"]["enc"]["mean"][:] = np.nan
  with ocp.StandardCheckpointer() as ckptr:
    ckptr.save(tmp_path / "c" / "variables", bad, force=True)
  with pytest.raises(checkpointing.CheckpointError,
                     match=r"2 tensors hold NaN or Inf \(e.g. .*batch_stats/enc/mean"):
    checkpointing.load_converted(tmp_path / "c")


# ----------------------------------------------------------------------------------------
# describe / load.
# ----------------------------------------------------------------------------------------


def _save_step(workdir, which, step, config, state=None):
  ckpts = checkpointing.Checkpoints(str(workdir), async_save=False)
  ckpts.save(step, state or {"x": np.full(2, step, np.float32)},
             {"config": json.loads(config.to_json_best_effort())},
             metrics={"mIoU": 0.5} if which == "best" else None, best=which == "best")
  ckpts.close()


def test_saving_a_replicated_state_compiles_nothing(tmp_path):
  """Orbax's replica-parallel default sliced every array shape with its own compile."""
  mesh = jax.sharding.Mesh(np.array(jax.devices()), ("data",))
  assert mesh.size > 1  # conftest: 4 CPU devices, so the arrays have replicas.
  replicated = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
  # Shapes no other test uses: an eager slice of one would be a new compile.
  state = jax.device_put({f"w{i}": np.full((4, 13 + i), i, np.float32)
                          for i in range(5)}, replicated)
  compiles = []

  def listener(event, seconds, **kwargs):
    del seconds, kwargs
    if event == "/jax/core/compile/backend_compile_duration":
      compiles.append(event)

  jax.monitoring.register_event_duration_secs_listener(listener)
  try:
    _save_step(tmp_path, "latest", 1, _config(), state)
  finally:
    jax.monitoring.unregister_event_duration_listener(listener)
  assert compiles == []
  abstract = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype,
                                                         sharding=replicated), state)
  ckpts = checkpointing.Checkpoints(str(tmp_path), read_only=True)
  restored, _ = ckpts.restore(abstract)
  ckpts.close()
  chex.assert_trees_all_equal(restored, jax.device_get(state))


def test_describe_best_then_latest_and_converted(tmp_path):
  def save(which, step, image_size):
    config = _config()
    config.data.image_size = image_size
    _save_step(tmp_path / "w", which, step, config)

  save("latest", 4, 96)
  description = checkpointing.describe(str(tmp_path / "w"))
  assert (description.kind, description.step) == ("workdir", 4)
  config = description.config
  assert config.data.image_size == 96 and tuple(config.model.cmam_stages) == (1, 5)
  save("best", 2, 128)
  description = checkpointing.describe(str(tmp_path / "w"))
  assert description.config.data.image_size == 128 and description.step == 2
  assert description.where == os.path.join(str(tmp_path / "w"), "best", "2")
  converted = tmp_path / "c"
  converted.mkdir()
  (converted / "conversion.json").write_text(json.dumps(
      {"kind": "cstm", "model_config": _config().model.to_dict(), "config": ""}))
  description = checkpointing.describe(str(converted))
  assert (description.kind, description.step) == ("converted", None)
  assert description.config.model.decoder_dim == 16
  assert checkpointing.InputConstants.from_config(description.config).image_size == 320
  stored = dict(image_size=96, num_frames=4, clip_stride=1, max_words=12)
  (converted / "conversion.json").write_text(json.dumps(
      {"kind": "cstm", "model_config": _config().model.to_dict(), "input": stored}))
  config = checkpointing.describe(str(converted)).config
  assert dataclasses.asdict(checkpointing.InputConstants.from_config(config)) == stored
  (converted / "conversion.json").write_text(json.dumps(
      {"kind": "cstm", "model_config": {}, "input": dict(stored, image_size="96")}))
  with pytest.raises(checkpointing.CheckpointError, match="positive integers"):
    checkpointing.describe(str(converted))
  (converted / "conversion.json").write_text('{"kind": ')
  with pytest.raises(checkpointing.CheckpointError,
                     match=r"conversion.json: not valid JSON"):
    checkpointing.describe(str(converted))
  with pytest.raises(checkpointing.CheckpointError, match="neither a training"):
    checkpointing.describe(str(tmp_path))


def test_a_step_folder_is_read_as_it_is(tmp_path):
  workdir = tmp_path / "w"
  for which, step in (("latest", 4), ("latest", 6), ("best", 2)):
    _save_step(workdir, which, step, _config(),
               state={"params": {"w": np.full(2, step, np.float32)}})
  target = {"params": {"w": np.zeros(2, np.float32)}}
  # The workdir itself: best/ first. A step folder: that step, not the best nor the latest.
  got = checkpointing.restore_variables(str(workdir), target)
  np.testing.assert_array_equal(got["params"]["w"], 2.0)
  step = str(workdir / "checkpoints" / "4")
  description = checkpointing.describe(step)
  assert (description.kind, description.step, description.where) == ("step", 4, step)
  np.testing.assert_array_equal(
      checkpointing.restore_variables(step + "/", target)["params"]["w"], 4.0)
  # Its vocabulary is the workdir's.
  with pytest.raises(checkpointing.CheckpointError,
                     match=f"no word-vector table at {workdir}/word_vectors.npz"):
    checkpointing.word_vectors(step)
  # A broken step is named, with no fallback to another one.
  _truncate_state(workdir / "checkpoints" / "4")
  with pytest.raises(checkpointing.CheckpointError,
                     match=f"^checkpoint step {step} is unreadable: ") as e:
    checkpointing.restore_variables(step, target)
  assert "\n" not in str(e.value)


def test_readers_create_nothing_in_the_paths_they_are_given(tmp_path):
  typo = tmp_path / "workdri"
  with pytest.raises(checkpointing.CheckpointError, match="does not exist"):
    checkpointing.restore_variables(str(typo), _full())
  assert not typo.exists()
  _save_step(tmp_path / "w", "latest", 3, _config())
  os.rmdir(tmp_path / "w" / "best")  # The writer made it; readers must not.
  checkpointing.describe(str(tmp_path / "w"))
  checkpointing.Checkpoints(str(tmp_path / "w"), read_only=True).close()
  assert sorted(os.listdir(tmp_path / "w")) == ["checkpoints"]  # No best/ made.


# ----------------------------------------------------------------------------------------
# Corrupt steps.
# ----------------------------------------------------------------------------------------


def _truncate_state(step_dir):
  for root, _, names in os.walk(os.path.join(step_dir, "state")):
    for name in names:
      with open(os.path.join(root, name), "r+b") as f:
        f.truncate(3)


def test_a_broken_newest_step_is_skipped_with_a_warning(tmp_path, caplog):
  workdir = tmp_path / "w"
  for step in (2, 4):
    _save_step(workdir, "latest", step, _config())
  _truncate_state(workdir / "checkpoints" / "4")
  (workdir / "checkpoints" / "4" / "meta" / "metadata").write_text("")
  abstract = {"x": jax.ShapeDtypeStruct((2,), jnp.float32)}
  with caplog.at_level(logging.WARNING):
    assert checkpointing.describe(str(workdir)).step == 2
    reader = checkpointing.Checkpoints(str(workdir), async_save=False, read_only=True)
    state, _ = reader.restore(abstract)
    reader.close()
  np.testing.assert_array_equal(state["x"], 2.0)
  assert f"checkpoint {workdir}/checkpoints/4 is unreadable" in caplog.text
  assert (workdir / "checkpoints" / "4").is_dir()  # Readers leave it alone.
  # The training run that resumes moves it aside, so it can save step 4 again.
  writer = checkpointing.Checkpoints(str(workdir), async_save=False)
  state, _ = writer.restore(abstract)
  np.testing.assert_array_equal(state["x"], 2.0)
  writer.save(4, {"x": np.full(2, 4.0, np.float32)}, {"config": {}})
  writer.close()
  names = sorted(os.listdir(workdir / "checkpoints"))
  assert names[:2] == ["2", "4"] and names[2].startswith("4.unreadable-")
  # Every step broken: one line naming the newest.
  for step in ("2", "4"):
    _truncate_state(workdir / "checkpoints" / step)
  reader = checkpointing.Checkpoints(str(workdir), async_save=False, read_only=True)
  with pytest.raises(checkpointing.CheckpointError,
                     match=r"^no readable checkpoint step in .*checkpoints: "
                           r".*checkpoints/4: ") as e:
    reader.restore(abstract)
  reader.close()
  assert "\n" not in str(e.value)
