"""Model speed on this machine: JAX forward / train step, XLA FLOPs, matmul peak, PyTorch.

Prints one Markdown table row per (model, batch):

  python bench/speed.py [--models cstm,lstc,tiny] [--batch 1,8] [--steps N] [--train]
      [--torch] [--dtype float32|bfloat16] [--conv3d-impl fold|xla]
      [--conv2d-impl auto|winograd|xla] [--json out.json]

What each figure is:

* Models: `cstm` and `lstc` at full size (320x320, 8 frames); `tiny` is `cstm:tiny`
  (64x64, narrow and shallow), the test-size model in the CSTM layout, chosen because a
  PyTorch counterpart of exactly that network exists. Any variant names joined by `:`
  work too, e.g. `lstc:tiny` (the main job's model) or `lstc:plus_cmam`, and so does a
  config file `path/to/config.py[:args]`.
* JAX forward: `model.apply(..., train=False, all_maps=False)` under `jax.jit`, i.e.
  inference computes the final map only, not the five coarse deep-supervision heads.
  Median of `--steps` calls after one warm-up call; "s/clip" is the batch time / batch.
* Compile: wall time of `lower().compile()`. The persistent compilation cache of
  `rvs_jax.platform` is on unless `--no-cache`; with a warm cache this is load time.
* GFLOP/clip: the model's FLOPs, i.e. XLA's cost analysis of the same program lowered
  with direct convolutions (`conv2d_impl='xla'`), / batch. The Winograd convolutions
  that the CPU default uses do ~2.25x fewer multiplies in their 3x3 convs, so "GFLOP/s"
  and "% peak" are effective rates (model FLOPs / time) and can pass 100 %. (The compiled
  Winograd program cannot be counted itself: XLA counts a loop body once.)
* Peak: the best of several 2048x2048 float32 matmuls, in JAX and (with `--torch`) in
  PyTorch, measured at the start, before each model and at the end; the highest is the
  denominator of "% peak" (on a shared machine the neighbours' load can halve a sample;
  all samples are printed).
* Train step (`--train`): `rvs_jax.train.trainer.make_train_step` (Adam, the deep-supervised
  loss on all six maps, BatchNorm in training mode), jitted with the state donated.
* PyTorch (`--torch`): `rvs_jax.convert.torch_reference.CSTMModel` (imported only
  then), float32, `torch.set_num_threads(os.cpu_count())`, in both layouts: CF
  (channels-first, PyTorch's default, forward under `torch.no_grad()`, as the CSTM code
  runs it) and CL (channels-last(-3d) weights and input, `torch.inference_mode()`).
  Which one is faster depends on the CPU, so the baseline ("torch ... s/clip",
  "JAX/torch") is the faster of the two, per phase; "torch CF / CL" gives both. For the
  same work as the JAX forward the five coarse heads are skipped (`--torch-all-maps`
  keeps them). It exists for CSTM-layout configs only (`cstm`, `tiny`); for others the
  column says n/a. Its train step is Adam + BCE on all six maps. "JAX/torch" is a time
  ratio (< 1: JAX is faster).
* Peak RSS: `getrusage` max RSS of the whole process so far (JAX and PyTorch share it),
  so it only grows down the table; "XLA temp MB" is the forward program's own scratch
  memory from `compiled.memory_analysis()`.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import platform as py_platform
import resource
import statistics
import sys
import time
from typing import Any, Callable

import numpy as np

# pylint: disable=g-import-not-at-top,wrong-import-position
from rvs_jax import platform

ALIASES = {"tiny": "cstm:tiny"}
MAX_WORDS = 20
NUM_REAL_WORDS = 8
# Issue targets (2-core CPU, float32, full 320x320 CSTM model).
TARGET_RATIO = 0.5           # JAX forward / train step time <= 0.5 x the best PyTorch's.
TARGET_PCT_PEAK = 60.0       # >= 60 % of the measured matmul peak.
TARGET_TINY_TRAIN_SPEEDUP = 1.5  # tiny train step >= 1.5 x PyTorch's speed.


@dataclasses.dataclass
class Spec:
  """One model to measure: the name asked for, its config, its input size."""
  name: str
  config_spec: str
  model: Any            # rvs_jax.models.ModelConfig
  image_size: int
  num_frames: int


def load_spec(name: str, dtype: str, conv3d_impl: str | None = None,
              conv2d_impl: str | None = None) -> Spec:
  """Variant names (`cstm`, `lstc`, `tiny`, `cstm,tiny`, ...) or a config file
  `path.py[:args]` -> `Spec`, with overrides."""
  from rvs_jax import app, experiment, models
  name = ALIASES.get(name, name)
  config = (app.load_config_file(name) if name.partition(":")[0].endswith(".py")
            else experiment.get_config("a2d_sentences", name.replace(":", ",")))
  fields = config.model.to_dict()
  fields["dtype"] = dtype
  if conv3d_impl:
    fields["conv3d_impl"] = conv3d_impl
  if conv2d_impl:
    fields["conv2d_impl"] = conv2d_impl
  return Spec(name, name, models.model_config(fields), int(config.data.image_size),
              int(config.data.num_frames))


def make_inputs(spec: Spec, batch: int, size: int | None = None, seed: int = 0):
  """Random `(video, words, word_mask)` NumPy inputs of the model's input size."""
  size = size or spec.image_size
  rng = np.random.default_rng(seed)
  video = rng.uniform(0, 1, (batch, spec.num_frames, size, size, 3)).astype(np.float32)
  words = rng.normal(0, 0.3, (batch, MAX_WORDS, 300)).astype(np.float32)
  word_mask = np.arange(MAX_WORDS)[None].repeat(batch, 0) < NUM_REAL_WORDS
  return video, words, word_mask


def init_variables(model, spec: Spec) -> dict:
  """Fresh variables, initialised at 64x64 batch 1 (shapes do not depend on the input
  size) through `models.initialize`."""
  import jax
  args = (jax.random.key(0),) + make_inputs(spec, 1, size=64)
  from rvs_jax import models  # pylint: disable=g-import-not-at-top
  return models.initialize(model, *args)


def matmul_peak(n: int = 2048, reps: int = 7) -> float:
  """GFLOP/s of the fastest float32 n x n matmul: JAX's and, if loaded, PyTorch's."""
  import jax
  import jax.numpy as jnp
  a = jax.random.normal(jax.random.key(1), (n, n), jnp.float32)
  b = jax.random.normal(jax.random.key(2), (n, n), jnp.float32)
  f = jax.jit(jnp.matmul)
  calls = [lambda: jax.block_until_ready(f(a, b))]
  if "torch" in sys.modules:  # oneDNN's GEMM is ~5 % faster than XLA's here.
    torch = sys.modules["torch"]
    ta, tb = torch.randn(n, n), torch.randn(n, n)
    calls.append(lambda: torch.mm(ta, tb))
  return max(2 * n**3 / best_time(call, reps) / 1e9 for call in calls)


def best_time(call: Callable[[], Any], reps: int) -> float:
  """Fastest wall seconds of `call()` over `reps` after one warm-up call."""
  call()
  times = []
  for _ in range(reps):
    t = time.perf_counter()
    call()
    times.append(time.perf_counter() - t)
  return min(times)


def median_time(call: Callable[[], Any], steps: int, warmup: int = 1) -> float:
  """Median wall seconds of `call()` (which must block) over `steps` after warm-up."""
  for _ in range(warmup):
    call()
  times = []
  for _ in range(max(1, steps)):
    t = time.perf_counter()
    call()
    times.append(time.perf_counter() - t)
  return statistics.median(times)


def xla_flops(lowered_or_compiled) -> float:
  """FLOPs from XLA's cost analysis of a lowered or compiled program."""
  cost = lowered_or_compiled.cost_analysis()
  if isinstance(cost, (list, tuple)):  # Older jax: one dict per computation.
    cost = cost[0] if cost else {}
  return float((cost or {}).get("flops", float("nan")))


def xla_temp_mb(compiled) -> float | None:
  """Scratch memory of a compiled program, from its memory analysis."""
  try:
    return compiled.memory_analysis().temp_size_in_bytes / 2**20
  except Exception:  # pylint: disable=broad-except
    return None


def jax_forward(model, direct_model, variables, inputs, steps: int) -> dict[str, float]:
  """Times the jitted inference forward (final map only): s/batch, compile s, FLOPs.

  `direct_model` is the same network with direct convolutions, lowered for its FLOPs.
  """
  import jax

  def forward(model):
    def fn(variables, video, words, word_mask):
      out = model.apply(variables, video, words, word_mask, train=False, all_maps=False)
      return out["logits"][-1]
    return jax.jit(fn)

  args = (variables,) + tuple(jax.device_put(x) for x in inputs)
  t = time.perf_counter()
  compiled = forward(model).lower(*args).compile()
  compile_s = time.perf_counter() - t
  step_s = median_time(lambda: jax.block_until_ready(compiled(*args)), steps)
  return dict(fwd_batch_s=step_s, compile_s=compile_s,
              fwd_flops=xla_flops(forward(direct_model).lower(*args)),
              xla_temp_mb=xla_temp_mb(compiled))


def jax_train(model, direct_model, variables, inputs, steps: int) -> dict[str, float]:
  """Times the trainer's jitted train step (state donated): s/step, compile s, FLOPs."""
  import jax
  import jax.numpy as jnp
  from rvs_jax import experiment
  from rvs_jax.train import optim, trainer
  train_cfg = experiment.get_config("a2d_sentences").train
  tx = optim.make_optimizer(train_cfg, train_cfg.lr)
  lr = np.float32(train_cfg.lr)
  # Copies: the step donates the state, and `variables` still serves the next batch size.
  params, batch_stats = jax.tree.map(jnp.copy, (variables["params"],
                                                variables.get("batch_stats", {})))
  state = trainer.TrainState(jnp.zeros((), jnp.int32), params, batch_stats,
                             tx.init(params))
  video, words, word_mask = inputs
  b, _, h, w, _ = video.shape
  batch = jax.device_put(dict(
      video=video, words=words, word_mask=word_mask,
      mask=np.zeros((b, h, w), np.float32), has_mask=np.ones((b,), bool),
      valid=np.ones((b,), bool)))
  step_fn = jax.jit(trainer.make_train_step(model, train_cfg), donate_argnums=(0,))
  t = time.perf_counter()
  compiled = step_fn.lower(state, batch, lr).compile()
  compile_s = time.perf_counter() - t
  flops = xla_flops(jax.jit(trainer.make_train_step(direct_model, train_cfg)).lower(
      state, batch, lr))
  holder = [state]

  def call():
    holder[0], metrics = compiled(holder[0], batch, lr)
    jax.block_until_ready(metrics)

  step_s = median_time(call, steps)
  return dict(train_s=step_s, train_compile_s=compile_s, train_flops=flops)


def torch_counterpart(cfg, jax_params: int):
  """The PyTorch `CSTMModel` with exactly the network of `cfg`, or (None, why not).

  `CSTMModel` has the CSTM layout at full depth; for shallow test configs its ResNet
  stages and I3D Mixed blocks are cut to the config's depth (the CMAM / skip layers of
  the I3D stages that change width are rebuilt). The match is checked by parameter count.
  """
  import torch
  from rvs_jax.convert import torch_reference as ref
  # pylint: disable=protected-access
  scaled, conv_bn_relu = ref._scaled, ref._conv_bn_relu
  mult = cfg.i3d_width_mult
  cstm_layout = dict(
      cmam="cmam", cmam_stages=(1, 2, 3, 4, 5), cmam_modulation="code",
      stage_fusion="concat", language_fusion="none", lasp_pairs=(), text_bias=False,
      mask_pads=False, use_spatial=True, use_temporal=True, freeze_bn=False,
      spatial_input_norm="none", temporal_input_norm="none",
      resnet_width=scaled(64, mult))
  differ = [k for k, v in cstm_layout.items() if getattr(cfg, k) != v]
  if differ:
    return None, "no PyTorch reference (not the CSTM layout: " + ", ".join(differ) + ")"
  net = ref.CSTMModel(dim_semantic=cfg.text_hidden, dec_dim=cfg.decoder_dim,
                      width_mult=mult, i3d_tf_same=cfg.i3d_pad_mode == "tf_same")
  # ResNet depth: s_layer2 = (maxpool, layer1), s_layer3..5 = layer2..4.
  sizes = tuple(cfg.resnet_stage_sizes)
  net.s_layer2[1] = net.s_layer2[1][:sizes[0]]
  for k, n in zip((3, 4, 5), sizes[1:]):
    setattr(net, f"s_layer{k}", getattr(net, f"s_layer{k}")[:n])
  # I3D depth: stages 3..5 = (pool, Mixed...); input widths chain from the kept blocks.
  if tuple(cfg.i3d_mixed_per_stage) != (2, 5, 2):
    names = {3: ("mixed_3b", "mixed_3c"),
             4: ("mixed_4b", "mixed_4c", "mixed_4d", "mixed_4e", "mixed_4f"),
             5: ("mixed_5b", "mixed_5c")}
    width = net.video_dims[1]
    for k, n in zip((3, 4, 5), cfg.i3d_mixed_per_stage):
      blocks = []
      for name in names[k][:n]:
        widths = [scaled(c, mult) for c in ref.I3D_MIXED_TABLE[name]]
        blocks.append(ref.Mixed(width, widths, tf_same=cfg.i3d_pad_mode == "tf_same"))
        width = blocks[-1].out_channels
      setattr(net, f"t_layer{k}", torch.nn.Sequential(getattr(net, f"t_layer{k}")[0],
                                                      *blocks))
      if width != net.video_dims[k - 1]:
        net.video_dims[k - 1] = width
        net.cmam_t[k - 1] = ref.CMAM(width, cfg.text_hidden, num_dim=3)
        net.vres_trans[k - 1] = conv_bn_relu(width, net.dec_dim, bias=False)
  torch_params = ref.count_params(net)
  if torch_params != jax_params:
    return None, f"PyTorch model has {torch_params:,} parameters, JAX {jax_params:,}"
  return net, f"CSTMModel, {torch_params:,} parameters (= JAX)"


LAYOUTS = ("cf", "cl")  # PyTorch's channels-first default; channels-last(-3d).


def _set_layout(net, layout: str) -> None:
  """Puts every 4-D / 5-D parameter and buffer of `net` in the layout."""
  import torch
  for t in list(net.parameters()) + list(net.buffers()):
    if t.dim() in (4, 5):
      t.data = t.data.contiguous(memory_format=torch.contiguous_format if layout == "cf"
                                 else torch.channels_last_3d if t.dim() == 5
                                 else torch.channels_last)


def _torch_inputs(inputs, layout: str):
  """JAX-layout NumPy inputs -> PyTorch `(video NCTHW in the layout, words)`."""
  import torch
  video, words, _ = inputs
  v = torch.from_numpy(np.ascontiguousarray(video.transpose(0, 4, 1, 2, 3)))
  if layout == "cl":
    v = v.contiguous(memory_format=torch.channels_last_3d)
  return v, torch.from_numpy(words)


@contextlib.contextmanager
def _final_head_only(net):
  """Temporarily replaces the five coarse mask heads with identities (no compute)."""
  import torch
  heads = list(net.conv_mask)
  for m in range(len(heads) - 1):
    net.conv_mask[m] = torch.nn.Identity()
  try:
    yield net
  finally:
    for m, head in enumerate(heads):
      net.conv_mask[m] = head


def torch_forward(net, inputs, steps: int, all_maps: bool, layout: str) -> float:
  """Median s/batch of the PyTorch eval forward (`no_grad` for CF, `inference_mode`
  for CL; `net` already in `layout`)."""
  import torch
  video, words = _torch_inputs(inputs, layout)
  net.eval()
  heads = contextlib.nullcontext(net) if all_maps else _final_head_only(net)
  grad_off = torch.no_grad() if layout == "cf" else torch.inference_mode()
  with heads, grad_off:
    return median_time(lambda: net(video, words), steps)


def torch_train(net, inputs, steps: int, layout: str) -> float:
  """Median s/step of a PyTorch train step: BCE(pos_weight 1.5) on six maps + Adam."""
  import torch
  video, words = _torch_inputs(inputs, layout)
  net.train()
  opt = torch.optim.Adam(net.parameters(), lr=1e-4)
  pos_weight = torch.tensor(1.5)

  def call():
    opt.zero_grad(set_to_none=True)
    maps = net(video, words)
    loss = sum(torch.nn.functional.binary_cross_entropy_with_logits(
        m, torch.zeros_like(m), pos_weight=pos_weight) for m in maps)
    loss.backward()
    opt.step()

  result = median_time(call, steps)
  net.eval()
  return result


def cpu_name() -> str:
  """CPU model name and x86 family/model from /proc/cpuinfo (Linux), else the arch."""
  info = {}
  try:
    with open("/proc/cpuinfo", encoding="utf-8") as f:
      for line in f:
        key, _, value = line.partition(":")
        info.setdefault(key.strip(), value.strip())
  except OSError:
    pass
  if "model name" not in info:
    return py_platform.machine()
  return (f"{info['model name']} (family {info.get('cpu family', '?')}, "
          f"model {info.get('model', '?')})")


def peak_rss_mb() -> float:
  """Peak resident set size of this process so far (Linux reports KiB)."""
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure_model(spec: Spec, batches: list[int], args, peak: float) -> list[dict]:
  """Every measurement of one model: JAX forward (+ train), PyTorch if asked."""
  import jax
  from rvs_jax import models
  model = models.build_model(spec.model)
  direct_model = models.build_model(dataclasses.replace(spec.model, conv2d_impl="xla"))
  t = time.perf_counter()
  variables = init_variables(model, spec)
  init_s = time.perf_counter() - t
  n_params = sum(x.size for x in jax.tree.leaves(variables["params"]))
  net, torch_note = None, "not run (--torch)"
  if args.torch:
    net, torch_note = torch_counterpart(spec.model, n_params)
  print(f"# {spec.name} ({spec.config_spec}): {n_params:,} parameters, "
        f"{spec.num_frames}x{spec.image_size}x{spec.image_size}, "
        f"dtype {spec.model.dtype}, conv3d {spec.model.conv3d_impl}, "
        f"conv2d {spec.model.conv2d_impl}; init {init_s:.1f} s; torch: {torch_note}",
        flush=True)
  rows = []
  for b in batches:
    inputs = make_inputs(spec, b)
    row = dict(model=spec.name, config=spec.config_spec, batch=b, params=n_params,
               dtype=spec.model.dtype, conv3d_impl=spec.model.conv3d_impl,
               conv2d_impl=spec.model.conv2d_impl,
               torch="off" if not args.torch else "run" if net is not None else "n/a",
               torch_note=torch_note)
    row.update(jax_forward(model, direct_model, variables, inputs, args.steps))
    if args.train:
      row.update(jax_train(model, direct_model, variables, inputs, args.steps))
    if net is not None:
      for layout in LAYOUTS:
        _set_layout(net, layout)
        row[f"torch_fwd_batch_s_{layout}"] = torch_forward(
            net, inputs, args.steps, args.torch_all_maps, layout)
        if args.train:
          row[f"torch_train_s_{layout}"] = torch_train(net, inputs, args.steps, layout)
    row["peak_rss_mb"] = peak_rss_mb()
    derive(row, peak)
    rows.append(row)
    print(format_table([row]).splitlines()[-1], flush=True)
  return rows


def derive(row: dict, peak: float) -> dict:
  """Adds per-clip times, rates, % of peak and JAX/torch ratios to a measured row."""
  b = row["batch"]
  for phase, fmt in (("torch_fwd_batch_s", "{:.3f}"), ("torch_train_s", "{:.2f}")):
    times = {k: row[f"{phase}_{k}"] for k in LAYOUTS if f"{phase}_{k}" in row}
    if times:  # The baseline is the faster PyTorch layout.
      best = min(times, key=times.get)
      row[phase] = times[best]
      row[f"{phase}_layouts"] = " / ".join(
          fmt.format(times[k]) + ("*" if k == best else "") for k in LAYOUTS
          if k in times)
  row["fwd_s_clip"] = row["fwd_batch_s"] / b
  row["clips_s"] = b / row["fwd_batch_s"]
  row["gflop_clip"] = row["fwd_flops"] / b / 1e9
  row["gflops"] = row["fwd_flops"] / row["fwd_batch_s"] / 1e9
  row["pct_peak"] = 100 * row["gflops"] / peak
  if "torch_fwd_batch_s" in row:
    row["torch_fwd_s_clip"] = row["torch_fwd_batch_s"] / b
    row["jax_torch_fwd"] = row["fwd_batch_s"] / row["torch_fwd_batch_s"]
  if "train_s" in row:
    row["train_pct_peak"] = 100 * row["train_flops"] / row["train_s"] / 1e9 / peak
  if "torch_train_s" in row:
    row["jax_torch_train"] = row["train_s"] / row["torch_train_s"]
  return row


COLUMNS = (  # (header, row key, format)
    ("model", "model", "{}"), ("B", "batch", "{}"),
    ("fwd s/clip", "fwd_s_clip", "{:.4f}"), ("clips/s", "clips_s", "{:.2f}"),
    ("compile s", "compile_s", "{:.1f}"), ("GFLOP/clip", "gflop_clip", "{:.1f}"),
    ("GFLOP/s", "gflops", "{:.1f}"), ("% peak", "pct_peak", "{:.0f}"),
    ("torch fwd CF / CL s/batch", "torch_fwd_batch_s_layouts", "{}"),
    ("torch fwd s/clip", "torch_fwd_s_clip", "{:.4f}"),
    ("JAX/torch fwd", "jax_torch_fwd", "{:.2f}"),
    ("train s/step", "train_s", "{:.3f}"),
    ("train compile s", "train_compile_s", "{:.1f}"),
    ("train % peak", "train_pct_peak", "{:.0f}"),
    ("torch train CF / CL s/step", "torch_train_s_layouts", "{}"),
    ("torch train s/step", "torch_train_s", "{:.3f}"),
    ("JAX/torch train", "jax_torch_train", "{:.2f}"),
    ("XLA temp MB", "xla_temp_mb", "{:.0f}"), ("peak RSS MB", "peak_rss_mb", "{:.0f}"),
)


def format_table(rows: list[dict]) -> str:
  """Markdown table of measured rows: `n/a` where no PyTorch model exists, `-` where a
  figure was not asked for (no `--train` / `--torch`)."""
  lines = ["| " + " | ".join(h for h, _, _ in COLUMNS) + " |",
           "|---|" + "---:|" * (len(COLUMNS) - 1)]
  for row in rows:
    cells = []
    for _, key, fmt in COLUMNS:
      value = row.get(key)
      if value is not None:
        cells.append(fmt.format(value))
      elif "torch" in key and row.get("torch") == "n/a" or key == "xla_temp_mb":
        cells.append("n/a")
      else:
        cells.append("-")
    lines.append("| " + " | ".join(cells) + " |")
  return "\n".join(lines)


def check_targets(rows: list[dict]) -> list[str]:
  """The issue's targets, PASS/FAIL, for the rows that measure them."""
  out = []
  for r in rows:
    full_cstm = r["config"] == "cstm" and r["batch"] == 1 and r["dtype"] == "float32"
    for phase in ("fwd", "train"):
      key = f"jax_torch_{phase}"
      if r["config"] == "cstm" and r["dtype"] == "float32" and key in r:
        ok = r[key] <= TARGET_RATIO
        out.append(f"cstm B={r['batch']} {phase} JAX / best torch {r[key]:.2f} "
                   f"(target <= {TARGET_RATIO}): {'PASS' if ok else 'FAIL'}")
    if full_cstm:
      ok = r["pct_peak"] >= TARGET_PCT_PEAK
      out.append(f"cstm B=1 forward {r['pct_peak']:.0f} % of matmul peak "
                 f"(target >= {TARGET_PCT_PEAK:.0f} %): {'PASS' if ok else 'FAIL'}")
    if r["model"] == "tiny" and r["batch"] == 1 and "jax_torch_train" in r:
      speedup = 1 / r["jax_torch_train"]
      ok = speedup >= TARGET_TINY_TRAIN_SPEEDUP
      out.append(f"tiny B=1 train step {speedup:.2f}x PyTorch's speed "
                 f"(target >= {TARGET_TINY_TRAIN_SPEEDUP}x): {'PASS' if ok else 'FAIL'}")
  return out


def parse_args(argv=None) -> argparse.Namespace:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--models", default="cstm,lstc,tiny",
                 help="comma-separated: cstm, lstc, tiny (= cstm:tiny) or config[:args]")
  p.add_argument("--batch", default="1,8", help="comma-separated batch sizes")
  p.add_argument("--steps", type=int, default=5, help="timed calls after one warm-up")
  p.add_argument("--train", action="store_true", help="also time the train step")
  p.add_argument("--torch", action="store_true", help="also time the PyTorch model")
  p.add_argument("--torch-all-maps", action="store_true",
                 help="PyTorch forward computes all six maps (default: final map only)")
  p.add_argument("--dtype", default="float32", choices=("float32", "bfloat16"),
                 help="JAX compute dtype (PyTorch stays float32)")
  p.add_argument("--conv3d-impl", default=None, choices=("fold", "xla"),
                 help="override the config's conv3d_impl")
  p.add_argument("--conv2d-impl", default=None, choices=("auto", "winograd", "xla"),
                 help="override the config's conv2d_impl")
  p.add_argument("--no-cache", action="store_true",
                 help="disable the persistent compilation cache (true compile times)")
  p.add_argument("--json", default=None, help="also write every figure to this file")
  return p.parse_args(argv)


def main(argv=None) -> list[dict]:
  args = parse_args(argv)
  if args.no_cache:
    os.environ["RVS_JAX_CACHE"] = ""
  platform.configure()
  import jax
  if args.torch:
    import torch
    torch.set_num_threads(os.cpu_count())
  batches = [int(b) for b in args.batch.split(",")]
  specs = [load_spec(m.strip(), args.dtype, args.conv3d_impl, args.conv2d_impl)
           for m in args.models.split(",") if m.strip()]
  meta = dict(
      cpu=cpu_name(), cpu_count=os.cpu_count(),
      jax=jax.__version__, backend=jax.default_backend(),
      torch=sys.modules["torch"].__version__ if args.torch else None,
      xla_flags=os.environ.get("XLA_FLAGS", "").strip(),
      compilation_cache=jax.config.jax_compilation_cache_dir or "off",
      command="python bench/speed.py " + " ".join(sys.argv[1:] if argv is None else argv))
  peak_start = matmul_peak()
  print(f"# {meta['command']}\n# {meta['cpu']}; jax {meta['jax']} ({meta['backend']}), "
        f"torch {meta['torch']}, {meta['cpu_count']} CPUs, "
        f"XLA_FLAGS={meta['xla_flags']!r}, compile cache: {meta['compilation_cache']}\n"
        f"# float32 matmul 2048^3 (best of JAX / PyTorch): {peak_start:.1f} GFLOP/s; "
        "JAX inference = final map only (all_maps=False)",
        flush=True)
  rows, peaks = [], [peak_start]
  print(format_table([]), flush=True)
  for i, spec in enumerate(specs):
    if i:
      peaks.append(matmul_peak())
    rows += measure_model(spec, batches, args, max(peaks))
  peaks.append(matmul_peak())
  peak = max(peaks)
  for row in rows:
    derive(row, peak)
  print(f"\n# matmul peak samples (start, between models, end): "
        f"{', '.join(f'{p:.1f}' for p in peaks)} GFLOP/s; % peak uses the highest, "
        f"{peak:.1f}. Peak RSS is the whole process's, cumulative.\n")
  print(format_table(rows))
  for name, note in dict((r["model"], r["torch_note"]) for r in rows).items():
    print(f"# torch for {name}: {note}")
  for line in check_targets(rows):
    print("# " + line)
  if args.json:
    meta.update(peak_samples_gflops=peaks, peak_gflops=peak)
    with open(args.json, "w", encoding="utf-8") as f:
      json.dump(dict(meta=meta, rows=rows), f, indent=1)
  return rows


if __name__ == "__main__":
  main()
