"""`jax.jit` for code a test runs once or twice: XLA's backend optimisations off.

On 2 CPU cores the tests spend most of their time compiling, not running: a tiny
model's `init` or eval forward runs a handful of times per test module, so LLVM's
optimisation passes cost more than they save (the trainer compiles its `init` the same
way). The function computed is the same; only the machine code is less optimised.
"""

import functools

import jax

from rvs_jax.models.initialize import O0

# Same signature as `jax.jit`; `compiler_options` reach every compile it triggers.
jit_o0 = functools.partial(jax.jit, compiler_options=O0)
