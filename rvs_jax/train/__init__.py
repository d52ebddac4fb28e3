"""Training: the loop (`trainer`), the losses and the optimizer."""
