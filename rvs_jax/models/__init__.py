"""The network (docs/model.md): encoders, CMAM/CMAM+, LASP, decoder, and `build_model`."""

from rvs_jax.models.inputs import WORD_DIM, dummy_inputs, input_spec
from rvs_jax.models.rvs_model import (ModelConfig, RVSModel, build_model, model_config,
                                      upgrade_stored)

__all__ = ["WORD_DIM", "ModelConfig", "RVSModel", "build_model", "dummy_inputs",
           "input_spec", "model_config", "upgrade_stored"]
