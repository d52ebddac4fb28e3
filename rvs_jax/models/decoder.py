"""The decoder: per-stage projections, stage fusion, LASP, top-down fusion, mask heads.

docs/model.md ("Decoder", "LASP"). Names and indices match the CSTM checkpoint
(`ires_trans_{k-1}`, `vres_trans_{k-1}`, `conv_fuse1_{k-1}`, `conv_fuse2_{k-1}` for
stage k, `conv_mask_{m}` coarsest first), so its keys map one to one.

* `S_k = ConvBNReLU3x3(spatial stage k)`, `T_k = ConvBNReLU3x3(temporal stage k, middle
  slice)`, both to `dim` (256) channels; the convs have no bias (CSTM).
* `stage_fusion='concat'` (CSTM): `D_5 = conv_fuse1_4([S5, T5])` but
  `D_k = conv_fuse1_{k-1}([T_k, S_k])` below: the concat orders differ in the checkpoint.
  `stage_fusion='sum'` (TPAMI): `D_k = S_k + T_k`.
* Language in the decoder (`language_fusion`), for the Table V baselines without CMAM
  ("multimodal interaction only occurs in the decoder by visual and linguistic feature
  concatenation and fusion"): 'concat' tiles the sentence vector (eq. 7's pooling of the
  GRU words) over every position of `D_k`, concatenates and fuses by a 1x1 ConvBNReLU
  back to `dim` (`language_fuse_{k-1}`; 1x1 so that zero padding never changes the
  tiled vector at the borders). 'multiply' (the earlier baselines', not the paper's)
  multiplies `D_k` by a Dense projection of the sentence (`language_{k-1}`).
* LASP over the configured (deep, shallow) pairs, top-down, each refining the shallower
  stage before it feeds the next pair.
* `F_5 = D_5`; `F_k = conv_fuse2_{k-1}([up2(F_{k+1}), D_k])` (conv with bias, BN, ReLU);
  mask heads (Conv3x3-ReLU-Conv3x3-ReLU-Conv1x1, biased, no BN) on F_5..F_1 and on
  up2(F_1): six maps at strides 32, 16, 8, 4, 2, 1.
"""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from rvs_jax.models import lasp as lasp_lib
from rvs_jax.models import layers

STAGE_FUSIONS = ("concat", "sum")
LANGUAGE_FUSIONS = ("none", "concat", "multiply")


class MaskHead(nn.Module, kw_only=True):
  """Conv3x3-ReLU-Conv3x3-ReLU-Conv1x1 -> one logit per pixel (`conv_mask.m`).

  Attributes:
    conv: the `layers.Conv2D` (partial) of its three biased convs.
  """
  conv: layers.ModuleDef = layers.Conv2D

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:  # (B, h, w, C) -> (B, h, w)
    c = x.shape[-1]

    def conv(features, k, name):  # PyTorch `nn.Conv2d(k, padding=(k - 1) // 2)`
      return self.conv(features=features, kernel_size=(k, k),
                       padding=layers.symmetric_pads((k, k)), use_bias=True, name=name)

    x = nn.relu(conv(c, 3, "conv0")(x))
    x = nn.relu(conv(c, 3, "conv1")(x))
    return conv(1, 1, "conv2")(x)[..., 0]


class Decoder(nn.Module, kw_only=True):
  """Fuses the two encoders' stage features into six response maps.

  Attributes:
    dim: decoder width C_d (256).
    stage_fusion: 'concat' (CSTM) or 'sum' (TPAMI).
    language_fusion: how the sentence enters each stage feature when the encoders
      have no CMAM: 'concat' (the paper's Table V rows 1-2: concatenation + 1x1 fusion)
      or 'multiply' (by a projection of the sentence); 'none' leaves it to CMAM/LASP.
    lasp: the LASP steps (`lasp.LASPConfig`; empty `pairs`: none).
    conv_bn: the `layers.ConvBN` (partial) of every conv+BN layer.
    conv: the `layers.Conv2D` (partial) of the mask heads.
    dtype: compute dtype of the projections.
  """
  dim: int = 256
  stage_fusion: str = "concat"
  language_fusion: str = "none"
  lasp: lasp_lib.LASPConfig = lasp_lib.LASPConfig(pairs=())
  conv_bn: layers.ModuleDef = layers.ConvBN
  conv: layers.ModuleDef = layers.Conv2D
  dtype: jnp.dtype | None = None

  def _cbr(self, name, use_bias=False):
    return self.conv_bn(features=self.dim, kernel_size=(3, 3), use_bias=use_bias,
                        name=name)

  @nn.compact
  def __call__(self, spatial: Sequence[jax.Array] | None,
               temporal: Sequence[jax.Array] | None, sentence: jax.Array | None,
               train: bool = False, all_maps: bool = True) -> tuple[jax.Array, ...]:
    """Decodes stage features into response maps.

    Args:
      spatial: five `(B, h_k, w_k, C_k)` spatial stage features (stage 1 first), or None.
      temporal: five `(B, h_k, w_k, C'_k)` temporal middle slices, or None.
      sentence: `(B, C_l)` sentence feature, used by LASP and language fusion.
      train: BN in training mode.
      all_maps: False computes only the final full-resolution map (inference).

    Returns:
      Response-map logits, coarsest first: six `(B, h, w)`, or one when not `all_maps`.
    """
    if self.stage_fusion not in STAGE_FUSIONS:
      raise ValueError(f"stage_fusion {self.stage_fusion!r} not in {STAGE_FUSIONS}.")
    if self.language_fusion not in LANGUAGE_FUSIONS:
      raise ValueError(
          f"language_fusion {self.language_fusion!r} not in {LANGUAGE_FUSIONS}.")
    stages = {}
    for k in range(1, 6):
      s = self._cbr(f"ires_trans_{k - 1}")(spatial[k - 1], train) if spatial else None
      t = self._cbr(f"vres_trans_{k - 1}")(temporal[k - 1], train) if temporal else None
      pair = [x for x in ((s, t) if k == 5 else (t, s)) if x is not None]
      if self.stage_fusion == "concat":
        d = self._cbr(f"conv_fuse1_{k - 1}", True)(jnp.concatenate(pair, -1), train)
      else:
        d = sum(pair)
      if self.language_fusion == "concat":
        tiled = jnp.broadcast_to(sentence[:, None, None].astype(d.dtype),
                                 d.shape[:-1] + sentence.shape[-1:])   # (B, h, w, C_s)
        d = self.conv_bn(features=self.dim, kernel_size=(1, 1),
                         name=f"language_fuse_{k - 1}")(
                             jnp.concatenate([d, tiled], -1), train)
      elif self.language_fusion == "multiply":
        d = d * layers.Dense(features=self.dim, name=f"language_{k - 1}")(
            sentence)[:, None, None]
      stages[k] = d

    if self.lasp.pairs:
      lang = layers.Dense(features=self.dim, dtype=self.dtype, name="lasp_sentence")(
          sentence)
      for deep, shallow in self.lasp.pairs:
        if deep != shallow + 1:
          raise ValueError(f"LASP pair {(deep, shallow)} is not two adjacent stages.")
        stages[shallow] = lasp_lib.LASP(
            config=self.lasp, conv_bn=self.conv_bn, dtype=self.dtype,
            name=f"lasp_{deep}_{shallow}")(stages[deep], stages[shallow], lang, train)

    feats = [stages[5]]
    for k in range(4, 0, -1):
      up = layers.up2(feats[-1])
      feats.append(self._cbr(f"conv_fuse2_{k - 1}", True)(
          jnp.concatenate([up, stages[k]], -1), train))
    feats.append(layers.up2(feats[-1]))
    if not all_maps:
      # Parameters of the coarse heads are still created at init (all_maps=True there).
      return (MaskHead(conv=self.conv, name="conv_mask_5")(feats[5]),)
    return tuple(MaskHead(conv=self.conv, name=f"conv_mask_{m}")(f)
                 for m, f in enumerate(feats))
