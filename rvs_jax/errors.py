"""`DataError`: bad input data, at the bottom of the package.

Raised by the data readers and the pipeline (`rvs_jax.data`), the CSTM tokenizer
(`rvs_jax.text`) and the subword tokenizer (`rvs_jax.models.text`), and caught where
samples are tokenised to name the sample; it lives here so that every layer can raise
it without importing the layers above it (`rvs_jax.data.types` re-exports it).
"""


class DataError(ValueError):
  """Bad input data; the message names the file and the sample."""
