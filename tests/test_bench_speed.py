"""bench/speed.py helpers: XLA FLOP counting, the table, the PyTorch counterpart.

No timing here (the script prints figures; nothing is asserted about speed), and no model
compile: the FLOP helper is checked on one convolution whose count is known exactly.
"""

import importlib.util
import pathlib
import sys

import jax
import jax.numpy as jnp
import pytest

_PATH = pathlib.Path(__file__).resolve().parent.parent / "bench" / "speed.py"
_spec = importlib.util.spec_from_file_location("bench_speed", _PATH)
speed = importlib.util.module_from_spec(_spec)
sys.modules["bench_speed"] = speed  # Its dataclass looks the module up.
_spec.loader.exec_module(speed)


def test_xla_flops_counts_conv_flops():
  x = jnp.zeros((1, 16, 16, 8))
  w = jnp.zeros((3, 3, 8, 4))

  def conv(x, w):
    return jax.lax.conv_general_dilated(x, w, (1, 1), "VALID",
                                        dimension_numbers=("NHWC", "HWIO", "NHWC"))

  lowered = jax.jit(conv).lower(x, w)
  # The lowered (direct-conv) program is what the script counts; compiled agrees here.
  assert speed.xla_flops(lowered) == 2 * 14 * 14 * 4 * 3 * 3 * 8
  compiled = lowered.compile()
  assert speed.xla_flops(compiled) == speed.xla_flops(lowered)
  temp_mb = speed.xla_temp_mb(compiled)
  assert temp_mb is None or temp_mb >= 0


def test_table_and_targets():
  row = dict(model="tiny", config="cstm:tiny", batch=2, dtype="float32", torch="run",
             fwd_batch_s=0.5, compile_s=3.0, fwd_flops=40e9,
             torch_fwd_batch_s_cf=1.0, torch_fwd_batch_s_cl=1.5,
             train_s=1.0, train_flops=120e9, torch_train_s_cf=2.5, torch_train_s_cl=2.0,
             xla_temp_mb=6.0, peak_rss_mb=900.0)
  lstc = dict(row, model="lstc", config="lstc", torch="n/a")
  for key in [k for k in lstc if k.startswith("torch_")]:
    del lstc[key]
  speed.derive(row, peak=100.0)
  assert row["fwd_s_clip"] == 0.25 and row["gflop_clip"] == 20.0
  # The baseline is the faster PyTorch layout of each phase: CF forward, CL train.
  assert row["pct_peak"] == pytest.approx(80.0) and row["jax_torch_fwd"] == 0.5
  assert row["torch_train_s"] == 2.0 and row["jax_torch_train"] == 0.5
  table = speed.format_table([row, speed.derive(lstc, 100.0)]).splitlines()
  assert len(table) == 4 and table[0].count("|") == len(speed.COLUMNS) + 1
  assert ("| 0.2500 | 4.00 | 3.0 | 20.0 | 80.0 | 80 | 1.000* / 1.500 | 0.5000 | 0.50 |"
          in table[2])
  assert "| 2.50 / 2.00* | 2.000 | 0.50 |" in table[2]
  assert table[3].count("n/a") == 6  # The six PyTorch columns.
  assert table[3].count(" - ") == 1  # train compile s was not measured.
  assert speed.check_targets([speed.derive(dict(row, batch=1), 100.0)]) == [
      "tiny B=1 train step 2.00x PyTorch's speed (target >= 1.5x): PASS"]
  cstm = speed.derive(dict(row, model="cstm", config="cstm", batch=8, train_s=1.2), 100.0)
  assert speed.check_targets([cstm]) == [
      "cstm B=8 fwd JAX / best torch 0.50 (target <= 0.5): PASS",
      "cstm B=8 train JAX / best torch 0.60 (target <= 0.5): FAIL"]


def test_tiny_torch_counterpart_has_the_same_parameters():
  pytest.importorskip("torch")
  from rvs_jax import models  # pylint: disable=g-import-not-at-top
  spec = speed.load_spec("tiny", "float32", None)
  model = models.build_model(spec.model)
  shapes = jax.eval_shape(model.init, jax.random.key(0), *speed.make_inputs(spec, 1))
  n = sum(x.size for x in jax.tree.leaves(shapes["params"]))
  net, note = speed.torch_counterpart(spec.model, n)
  assert net is not None, note
  lstc = speed.load_spec("lstc:tiny", "float32", None)
  net, note = speed.torch_counterpart(lstc.model, 0)
  assert net is None and "not the CSTM layout" in note
