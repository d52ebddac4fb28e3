"""`initialize`: fresh variables of a model, compiled without XLA's optimisation passes.

A model's `init` runs once per process, so LLVM's optimisation passes cost far more than
they save: on 2 CPU cores the tiny model's init compiled in ~65-80 s at XLA's default
level and in a fraction of that at level 0 (same values: only the machine code differs).
The trainer, the benchmarks and the tests all initialise through here.
"""

from __future__ import annotations

import jax

# XLA compile options for code that runs once or twice (init, one-shot forwards).
O0 = {"xla_backend_optimization_level": 0}


def initialize(model, key: jax.Array, *inputs, out_shardings=None) -> dict:
  """`model.init(key, *inputs)` compiled at O0; `out_shardings` as in `jax.jit`."""
  jitted = (jax.jit(model.init) if out_shardings is None
            else jax.jit(model.init, out_shardings=out_shardings))
  return jitted.lower(key, *inputs).compile(compiler_options=O0)(key, *inputs)
