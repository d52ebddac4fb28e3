"""Every row of the paper's Tables V-IX by name: it builds, and each row differs from the
row before it in exactly the component its table varies (config fields and parameter
tree; no training, no compile: `jax.eval_shape`)."""

import dataclasses
import functools
import importlib.util
import pathlib

import jax
import jax.numpy as jnp
import pytest

from configs import synthetic
from rvs_jax import models
from rvs_jax.models import variants

_PATH = pathlib.Path(__file__).resolve().parent.parent / "bench" / "ablation.py"
_spec = importlib.util.spec_from_file_location("bench_ablation", _PATH)
ablation = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ablation)

# The parameter groups each table's component owns: every path whose presence or shape
# differs between neighbouring rows starts with one of these.
_OWNERS = {
    "V": ("spatial_encoder", "cmam_", "decoder/ires_trans_", "decoder/language_fuse_",
          "decoder/lasp_"),
    "VI": ("cmam_", "decoder/lasp_sentence"),   # Without CMAM+ the words pool once.
    "VII": ("cmam_", "decoder/language_fuse_"),
    "VIII": ("decoder/lasp_",),
    "IX": ("decoder/lasp_",),
}


@functools.cache
def _row(name):
  """`(ModelConfig, {param path: shape})` of row `name` at tiny size."""
  model = models.build_model(synthetic.get_config(f"{name},tiny").model)
  video = jnp.zeros((1, 8, 64, 64, 3))
  words, mask = jnp.zeros((1, 20, 300)), jnp.ones((1, 20), bool)
  params = jax.eval_shape(model.init, jax.random.key(0), video, words, mask)["params"]
  flat = {"/".join(k.key for k in path): leaf.shape
          for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]}
  return model.config, flat


def test_every_table_row_is_a_named_variant():
  assert set(variants.TABLES) == {"V", "VI", "VII", "VIII", "IX", "X"}
  for table, rows in variants.TABLES.items():
    assert len(set(rows)) == len(rows), table
    assert all(r in variants.ABLATIONS or (table == "X" and r in variants.TEXT_ENCODERS)
               for r in rows), table
  # The rows the issue found unnamed: VI-1, VII-2..5, VIII-5.
  assert variants.TABLES["VI"][0] == "cmam_plus_stages_none"
  assert variants.TABLES["VII"][1:5] == tuple(
      f"cmam_plus_stages_{s}_no_lasp" for s in ("1", "12", "123", "1234"))
  assert variants.TABLES["VIII"][4] == "lasp_54_43_32_21"


@pytest.mark.parametrize("table", ["V", "VI", "VII", "VIII", "IX"])
def test_neighbouring_rows_differ_in_the_tables_component_only(table):
  rows = variants.TABLES[table]
  for before, after in zip(rows, rows[1:]):
    (cfg_a, tree_a), (cfg_b, tree_b) = _row(before), _row(after)
    a, b = dataclasses.asdict(cfg_a), dataclasses.asdict(cfg_b)
    fields = {f for f in a if a[f] != b[f]}
    assert fields and fields <= variants.TABLE_FIELDS[table], (before, after, fields)
    changed = {p for p in set(tree_a) | set(tree_b) if tree_a.get(p) != tree_b.get(p)}
    assert changed, (before, after)   # The rows are different networks.
    stray = {p for p in changed if not p.startswith(_OWNERS[table])}
    assert not stray, (before, after, sorted(stray)[:5])


def test_rows_hold_what_their_names_say():
  cfg, tree = _row("cmam_plus_stages_none")
  assert cfg.cmam == "none" and cfg.lasp_pairs and cfg.language_fusion == "none"
  assert not any(p.startswith("cmam_") for p in tree)
  cfg, tree = _row("cmam_plus_stages_12_no_lasp")
  assert cfg.cmam_stages == (1, 2) and cfg.lasp_pairs == ()
  assert {p.split("/")[0] for p in tree if p.startswith("cmam_")} == {
      "cmam_s_0", "cmam_s_1", "cmam_t_0", "cmam_t_1"}
  cfg, tree = _row("lasp_54_43_32_21")
  assert {p.split("/")[1] for p in tree if p.startswith("decoder/lasp_")} == {
      "lasp_sentence", "lasp_5_4", "lasp_4_3", "lasp_3_2", "lasp_2_1"}


def test_ablation_bench_selects_tables_and_rows():
  assert ablation.select_rows("V", "") == list(variants.TABLES["V"])
  # A row shared by two tables runs once.
  both = ablation.select_rows("VII,VIII", "")
  assert both.count("plus_cmam_plus") == 1 and "lasp_54_43_32_21" in both
  # --rows: commas between rows, `+` inside one (a combination no name covers).
  assert ablation.select_rows("V", " full, plus_cmam_plus+lasp_54 ") == [
      "full", "plus_cmam_plus+lasp_54"]
  # Table X: the transformer rows run with their converted encoders only.
  ckpts = {k: f"ckpt/{k}" for k in variants.TEXT_ENCODERS}
  assert ablation.select_rows("X", "", ckpts) == ["full", *variants.TEXT_ENCODERS]
  assert ablation.text_checkpoints(["text_bert=ckpt/bert"]) == {
      "text_bert": "ckpt/bert"}
  with pytest.raises(SystemExit, match="NAME=DIR"):
    ablation.text_checkpoints(["bert=ckpt/bert"])
  for tables, rows, message in (("XI", "", "unknown table"),
                                ("X", "", "--text-checkpoint text_bert=DIR"),
                                ("V", "fulll", "unknown variant"),
                                ("V", "full+tiny", "always added")):
    with pytest.raises(SystemExit, match=message):
      ablation.select_rows(tables, rows)
