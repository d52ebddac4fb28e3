"""The network (docs/model.md): encoders, CMAM/CMAM+, LASP, decoder, and `build_model`."""

from rvs_jax.models.rvs_model import ModelConfig, RVSModel, build_model, model_config

__all__ = ["ModelConfig", "RVSModel", "build_model", "model_config"]
