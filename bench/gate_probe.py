"""How far the language paths of a trained model moved from their initialisation.

  python bench/gate_probe.py WORKDIR [WORKDIR ...]

Per CMAM(+) stage: the RMS of the zero-initialised gate kernel `gamma` (the sentence's
effect on the channel gate `sigmoid(W l + b)`: 0 = every gate still exactly 0.5, the
module still the identity) and of its bias; per CMAM+ the RMS of the language-update
projections; and the RMS of the decoder's language weights. One line per array, no
compilation (the checkpoint is only read). Used by docs/grounding.md.
"""

from __future__ import annotations

import sys

import numpy as np

import rvs_jax


def _walk(tree, prefix=()):
  for k, v in tree.items():
    if isinstance(v, dict) or hasattr(v, "items"):
      yield from _walk(v, prefix + (k,))
    else:
      yield prefix + (k,), np.asarray(v)


def main(argv: list[str]) -> None:
  for workdir in argv:
    seg = rvs_jax.load(workdir)
    print(f"== {workdir}")
    for path, value in _walk(seg.variables["params"]):
      name = "/".join(path)
      if ("cmam" in name and ("gamma" in name or "update" in name)) or (
          name.startswith("decoder") and ("lang" in name or "sentence" in name)):
        print(f"{name:70s} {str(value.shape):14s} rms {np.sqrt(np.mean(value**2)):.4f}")


if __name__ == "__main__":
  main(sys.argv[1:])
