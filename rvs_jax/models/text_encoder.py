"""The language encoder: word vectors -> GRU -> LayerNorm -> tanh (docs/model.md).

Word lookup (GloVe rows, zeros for pads and unknown words) happens either outside
the model, in `rvs_jax.text`, as in the CSTM code, or here when the encoder carries the
table (`glove_vocab` != 0): `constants/text_encoder/glove_table (V + 1, 300)`, row 0
zeros, a variable of its own collection, so checkpoints carry it while the optimizer
(which only sees `params`) and BatchNorm's `batch_stats` updates leave it alone.

The GRU follows `torch.nn.GRU` exactly: gate order r, z, n in the stacked weights, `n =
tanh(W_in x + b_in + r * (W_hn h + b_hn))`, `h' = (1 - z) * n + z * h`, h0 = 0. The CSTM
checkpoint's GRU has no biases (`use_bias=False`). It runs over every position, pads
included (pads are at the end, so real positions are unaffected); masking happens
downstream where `mask_pads` asks for it.
"""

from __future__ import annotations

import dataclasses
import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from rvs_jax.models.inputs import WORD_DIM


class GRU(nn.Module, kw_only=True):
  """Single-layer unidirectional GRU with PyTorch's parameter layout (transposed).

  Params: `weight_ih (E, 3H)`, `weight_hh (H, 3H)` (= torch `weight_ih_l0.T`,
  `weight_hh_l0.T`, columns in gate order r, z, n), `bias_ih`, `bias_hh (3H,)`.
  The input projection of all time steps is one matmul; only `h @ weight_hh` is scanned.
  """
  hidden: int
  use_bias: bool = False

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:  # (B, N, E) -> (B, N, H)
    h = self.hidden
    # torch.nn.GRU initialises every weight and bias U(+-1/sqrt(hidden)).
    bound = 1.0 / math.sqrt(h)
    init = lambda k, s, d=jnp.float32: jax.random.uniform(k, s, d, -bound, bound)  # pylint: disable=unnecessary-lambda-assignment
    w_ih = self.param("weight_ih", init, (x.shape[-1], 3 * h))
    w_hh = self.param("weight_hh", init, (h, 3 * h))
    gi = x @ w_ih                                          # (B, N, 3H)
    b_hh = jnp.zeros((3 * h,), x.dtype)
    if self.use_bias:
      gi = gi + self.param("bias_ih", init, (3 * h,))
      b_hh = self.param("bias_hh", init, (3 * h,))

    def step(carry, gi_t):                                 # carry (B, H), gi_t (B, 3H)
      gh = carry @ w_hh + b_hh
      r = jax.nn.sigmoid(gi_t[:, :h] + gh[:, :h])
      z = jax.nn.sigmoid(gi_t[:, h:2 * h] + gh[:, h:2 * h])
      n = jnp.tanh(gi_t[:, 2 * h:] + r * gh[:, 2 * h:])
      carry = (1.0 - z) * n + z * carry
      return carry, carry

    h0 = jnp.zeros((x.shape[0], h), x.dtype)
    _, ys = jax.lax.scan(step, h0, jnp.swapaxes(gi, 0, 1))
    return jnp.swapaxes(ys, 0, 1)


@dataclasses.dataclass(frozen=True)
class TextConfig:
  """The language encoder's hyper-parameters (`ModelConfig.text_*`).

  Attributes:
    hidden: GRU width C_l (300 in the paper, 512 in CSTM).
    bias: GRU biases (the CSTM checkpoint's GRU has none).
    glove_vocab: words of the GloVe table the encoder carries (0: none, the words
      come as vectors; -1: the training vocabulary's size, set when training starts).
  """
  hidden: int = 300
  bias: bool = True
  glove_vocab: int = 0


# The collection of non-trainable values that are neither BatchNorm statistics nor
# updated by training: the GloVe table.
CONSTANTS = "constants"
GLOVE_TABLE = "glove_table"


class TextEncoder(nn.Module, kw_only=True):
  """[GloVe lookup ->] GRU -> LayerNorm (eps 1e-5, PyTorch's) -> tanh.

  `words`: float `(B, N, E)` vectors, or int `(B, N)` rows of the carried GloVe table
  (0 = pad / unknown word). Returns `(B, N, hidden)`.
  """
  config: TextConfig = TextConfig()

  @nn.compact
  def __call__(self, words: jax.Array) -> jax.Array:
    vocab = self.config.glove_vocab
    if jnp.issubdtype(words.dtype, jnp.integer):
      if vocab == 0:
        raise ValueError("model.text_glove_vocab is 0 (no GloVe table in the model): "
                         "pass the word vectors as embeddings=(B, N, 300)")
      if vocab < 0:
        raise ValueError("model.text_glove_vocab=-1 means the training vocabulary's "
                         "size, set when training starts; build the model from the "
                         "config stored with the checkpoint")
      table = self.variable(CONSTANTS, GLOVE_TABLE, jnp.zeros, (vocab + 1, WORD_DIM),
                            jnp.float32).value
      words = jnp.take(table, words, axis=0)              # (B, N, 300); row 0 zeros
    elif vocab > 0 and self.is_initializing():
      # Initialised with vectors (e.g. `embeddings=`): the table still exists.
      self.variable(CONSTANTS, GLOVE_TABLE, jnp.zeros, (vocab + 1, WORD_DIM),
                    jnp.float32)
    y = GRU(hidden=self.config.hidden, use_bias=self.config.bias, name="gru")(
        words.astype(jnp.float32))
    # PyTorch LayerNorm's eps is 1e-5 (Flax's default is 1e-6).
    y = nn.LayerNorm(epsilon=1e-5, name="norm")(y)
    return jnp.tanh(y)
