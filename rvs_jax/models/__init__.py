"""The network (docs/model.md): encoders, CMAM/CMAM+, LASP, decoder, and `build_model`."""

from rvs_jax.models.initialize import initialize
from rvs_jax.models.inputs import WORD_DIM, dummy_inputs, input_spec, reads_token_ids
from rvs_jax.models.rvs_model import (ModelConfig, RVSModel, build_model, model_config,
                                      upgrade_stored)

__all__ = ["WORD_DIM", "ModelConfig", "RVSModel", "build_model", "dummy_inputs",
           "initialize", "input_spec", "model_config", "reads_token_ids", "upgrade_stored"]
