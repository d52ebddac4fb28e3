"""Compiled memory of one full-size train step per batch size (XLA's memory analysis).

  python bench/train_memory.py [--config configs/a2d_sentences.py] [--batch 1,2,4,8]
      [--set model.dtype=bfloat16 ...]

For each batch size the train step `train.py` runs (forward, deep-supervised loss,
backward, Adam update; the state donated) is lowered on abstract inputs and compiled,
without running it or initialising a model, and
`jit(...).lower(...).compile().memory_analysis()` is printed: arguments (parameters,
optimizer state, the batch), outputs, temporaries and their sum minus the donated
(aliased) bytes, which is the device memory the step needs at its peak. Measured on the
CPU backend it is the estimate for one accelerator holding that per-device batch: GPU and
TPU compilers fuse and schedule differently (typically within tens of percent), so keep a
margin. The figures feed docs/reproduce.md's memory table.
"""

from __future__ import annotations

import argparse
import time

from rvs_jax import app, platform

MB = 2**20


def step_memory(config, batch_size: int) -> dict[str, float]:
  """Compiles the train step for `batch_size` clips of `config`; sizes in MiB."""
  # pylint: disable=g-import-not-at-top
  import jax
  import jax.numpy as jnp

  from rvs_jax import models
  from rvs_jax.train import optim, trainer
  # pylint: enable=g-import-not-at-top
  model = models.build_model(config.model)
  tx = optim.make_optimizer(config.train, config.train.lr)
  video, words, mask = models.input_spec(config.data, batch_size)
  variables = jax.eval_shape(model.init, jax.random.key(0),
                             *models.input_spec(config.data, 1))

  def make_state(v):
    return trainer.TrainState(jnp.zeros((), jnp.int32), v["params"],
                              v.get("batch_stats", {}), tx.init(v["params"]))

  state = jax.eval_shape(make_state, variables)
  size = config.data.image_size
  batch = dict(video=video, words=words, word_mask=mask,
               mask=jax.ShapeDtypeStruct((batch_size, size, size), jnp.float32),
               has_mask=jax.ShapeDtypeStruct((batch_size,), jnp.bool_),
               valid=jax.ShapeDtypeStruct((batch_size,), jnp.bool_))
  step = jax.jit(trainer.make_train_step(model, config.train), donate_argnums=(0,))
  start = time.perf_counter()
  compiled = step.lower(state, batch, jax.ShapeDtypeStruct((), jnp.float32)).compile()
  seconds = time.perf_counter() - start
  m = compiled.memory_analysis()
  out = dict(batch=batch_size, arguments=m.argument_size_in_bytes / MB,
             outputs=m.output_size_in_bytes / MB, temp=m.temp_size_in_bytes / MB,
             aliased=m.alias_size_in_bytes / MB, compile_s=seconds)
  out["peak"] = out["arguments"] + out["outputs"] + out["temp"] - out["aliased"]
  return out


def format_table(rows) -> str:
  lines = ["| batch | arguments MiB | outputs MiB | temporaries MiB | donated MiB | "
           "total GiB | compile s |", "|---:|---:|---:|---:|---:|---:|---:|"]
  for r in rows:
    lines.append(f"| {r['batch']} | {r['arguments']:.0f} | {r['outputs']:.0f} | "
                 f"{r['temp']:.0f} | {r['aliased']:.0f} | {r['peak'] / 1024:.2f} | "
                 f"{r['compile_s']:.0f} |")
  return "\n".join(lines)


def main(argv=None) -> None:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--config", default="configs/a2d_sentences.py",
                 help="configs/x.py[:args] (default: the full-size lstc model)")
  p.add_argument("--batch", default="1,2,4,8", help="comma list of batch sizes")
  p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                 help="config override, e.g. model.dtype=bfloat16 or model.remat=True")
  args = p.parse_args(argv)
  platform.configure()
  config = app.load_config_file(args.config)
  for item in args.set:
    field, _, value = item.partition("=")
    section, _, name = field.rpartition(".")
    target = config
    for part in section.split(".") if section else []:
      target = target[part]
    old = target[name]
    target[name] = (value.lower() == "true" if isinstance(old, bool)
                    else type(old)(value))
  rows = []
  for b in (int(x) for x in args.batch.split(",")):
    rows.append(step_memory(config, b))
    r = rows[-1]
    # Every figure as soon as it is known: one full-size compile can take minutes.
    print(f"B={b}: {r['peak'] / 1024:.2f} GiB (arguments {r['arguments']:.0f} MiB, "
          f"outputs {r['outputs']:.0f}, temporaries {r['temp']:.0f}, donated "
          f"{r['aliased']:.0f}; compile {r['compile_s']:.0f} s)", flush=True)
  print(f"\n{args.config} {' '.join(args.set)}, {config.data.image_size}x"
        f"{config.data.image_size}, {config.data.num_frames} frames\n")
  print(format_table(rows))


if __name__ == "__main__":
  main()
