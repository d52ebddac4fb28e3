"""Hyper-parameters of the transformer text encoders (BERT, RoBERTa, XLNet).

One frozen dataclass for the three, filled from the flat `ModelConfig.text_*` fields or
from a Hugging Face `config.json` (`from_hf_config`), so a converted checkpoint and a
model config can be compared field by field (`mismatches`).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

import jax

GLOVE_GRU = "glove_gru"
TRANSFORMERS = ("bert", "roberta", "xlnet")
NAMES = (GLOVE_GRU,) + TRANSFORMERS
# HF `hidden_act` / `ff_activation` names -> ours ("gelu" is the exact erf GELU of
# torch.nn.functional.gelu; "gelu_new" and "gelu_pytorch_tanh" the tanh approximation).
ACTIVATIONS = {
    "gelu": lambda x: jax.nn.gelu(x, approximate=False),
    "gelu_new": lambda x: jax.nn.gelu(x, approximate=True),
    "gelu_pytorch_tanh": lambda x: jax.nn.gelu(x, approximate=True),
    "relu": jax.nn.relu,
}


@dataclasses.dataclass(frozen=True)
class TransformerConfig:
  """A BERT / RoBERTa / XLNet encoder (`ModelConfig.text_<field>`).

  Defaults are bert-base-uncased. Fields an encoder does not use are ignored by it
  (XLNet has no learned positions or token types; BERT/RoBERTa no `clamp_len`).

  Attributes:
    name: 'bert', 'roberta' or 'xlnet'.
    vocab_size: rows of the token embedding.
    hidden: width C_l of every layer and of the output features.
    layers: transformer layers.
    heads: attention heads (hidden must be a multiple).
    intermediate: width of the feed-forward layer.
    max_positions: rows of the learned position table (RoBERTa: 514, its positions
      start after the pad id).
    type_vocab_size: rows of the token-type table (every token is type 0 here).
    layer_norm_eps: LayerNorm epsilon (BERT/XLNet 1e-12, RoBERTa 1e-5).
    activation: a key of `ACTIVATIONS`.
    pad_token_id: the tokenizer's pad id (RoBERTa's positions depend on it).
    clamp_len: XLNet: relative distances clamped to +-clamp_len (<= 0: not clamped).
    finetune: False: the encoder's output is a constant to the rest of the model
      (gradients stop there), as MTTR and ReferFormer freeze RoBERTa.
  """
  name: str = "bert"
  vocab_size: int = 30522
  hidden: int = 768
  layers: int = 12
  heads: int = 12
  intermediate: int = 3072
  max_positions: int = 512
  type_vocab_size: int = 2
  layer_norm_eps: float = 1e-12
  activation: str = "gelu"
  pad_token_id: int = 0
  clamp_len: int = -1
  finetune: bool = False

  def __post_init__(self):
    if self.name not in TRANSFORMERS:
      raise ValueError(f"text encoder {self.name!r} is not one of {TRANSFORMERS}")
    if self.activation not in ACTIVATIONS:
      raise ValueError(f"text activation {self.activation!r} is not one of "
                       f"{tuple(ACTIVATIONS)}")
    if self.hidden % self.heads:
      raise ValueError(f"text hidden {self.hidden} is not a multiple of heads "
                       f"{self.heads}")

  @property
  def head_dim(self) -> int:
    return self.hidden // self.heads


# Fields that change numbers without changing any parameter shape: a converted
# checkpoint only fits a model config that agrees on them too.
_SEMANTIC = ("name", "layer_norm_eps", "activation", "pad_token_id", "clamp_len")
# Fields of the model config that are not properties of the weights.
_FREE = ("finetune",)


def mismatches(model: TransformerConfig, stored: TransformerConfig) -> list[str]:
  """`field: model X vs checkpoint Y` for every weight-related field that differs."""
  return [f"text_{f.name}: model {getattr(model, f.name)!r} vs checkpoint "
          f"{getattr(stored, f.name)!r}" for f in dataclasses.fields(model)
          if f.name not in _FREE and getattr(model, f.name) != getattr(stored, f.name)]


def _require(cfg: Mapping[str, Any], key: str, where: str):
  if key not in cfg:
    raise ValueError(f"{where}: no {key!r}")
  return cfg[key]


def from_hf_config(name: str, cfg: Mapping[str, Any], where: str = "config.json"
                   ) -> TransformerConfig:
  """The encoder a Hugging Face `config.json` describes.

  Args:
    name: 'bert', 'roberta' or 'xlnet' (what the user asked to convert).
    cfg: the parsed `config.json`.
    where: the file, for messages.

  Raises:
    ValueError: naming every field that is missing or describes a network these
      modules do not compute (e.g. relative position embeddings in BERT, XLNet's
      unidirectional attention).
  """
  problems = []
  model_type = cfg.get("model_type")
  if model_type is not None and model_type != name:
    problems.append(f"model_type is {model_type!r}, not {name!r}")
  get = lambda k, d=None: cfg.get(k, d)  # pylint: disable=unnecessary-lambda-assignment
  try:
    if name == "xlnet":
      if get("attn_type", "bi") != "bi":
        problems.append(f"attn_type {get('attn_type')!r} (only 'bi' is implemented)")
      if get("bi_data", False):
        problems.append("bi_data is true (only the forward relative encoding is "
                        "implemented)")
      out = dict(name=name, vocab_size=_require(cfg, "vocab_size", where),
                 hidden=_require(cfg, "d_model", where),
                 layers=_require(cfg, "n_layer", where),
                 heads=_require(cfg, "n_head", where),
                 intermediate=_require(cfg, "d_inner", where),
                 max_positions=0, type_vocab_size=0,
                 layer_norm_eps=float(get("layer_norm_eps", 1e-12)),
                 activation=get("ff_activation", "gelu"),
                 pad_token_id=int(get("pad_token_id", 5)),
                 clamp_len=int(get("clamp_len", -1)))
      d_head = get("d_head")
      if d_head is not None and d_head * out["heads"] != out["hidden"]:
        problems.append(f"d_head {d_head} x n_head {out['heads']} != d_model "
                        f"{out['hidden']}")
    else:
      if get("position_embedding_type", "absolute") != "absolute":
        problems.append(f"position_embedding_type {get('position_embedding_type')!r} "
                        "(only 'absolute' is implemented)")
      out = dict(name=name, vocab_size=_require(cfg, "vocab_size", where),
                 hidden=_require(cfg, "hidden_size", where),
                 layers=_require(cfg, "num_hidden_layers", where),
                 heads=_require(cfg, "num_attention_heads", where),
                 intermediate=_require(cfg, "intermediate_size", where),
                 max_positions=_require(cfg, "max_position_embeddings", where),
                 type_vocab_size=int(get("type_vocab_size", 2)),
                 layer_norm_eps=float(get("layer_norm_eps", 1e-12)),
                 activation=get("hidden_act", "gelu"),
                 pad_token_id=int(get("pad_token_id", 0) or 0), clamp_len=-1)
    if out["activation"] not in ACTIVATIONS:
      problems.append(f"activation {out['activation']!r} is not one of "
                      f"{tuple(ACTIVATIONS)}")
  except ValueError as e:
    problems.append(str(e).split(": ", 1)[-1])
  if problems:
    raise ValueError(f"{where}: cannot build {name}: " + "; ".join(problems))
  return TransformerConfig(**out)


def stored_config(meta: dict, where: str) -> TransformerConfig:
  """The `TransformerConfig` of a text conversion's `conversion.json` contents."""
  fields = meta.get("text")
  if not isinstance(fields, dict) or meta.get("kind") not in TRANSFORMERS:
    raise ValueError(f"{where}: not a converted text encoder (kind "
                     f"{meta.get('kind')!r}; python -m rvs_jax.convert "
                     f"{{{','.join(TRANSFORMERS)}}} writes one)")
  known = {f.name for f in dataclasses.fields(TransformerConfig)}
  values = {k[len("text_"):]: v for k, v in fields.items() if k.startswith("text_")}
  unknown = sorted(set(values) - known)
  if unknown:
    raise ValueError(f"{where}: unknown text fields {unknown}")
  return TransformerConfig(**values)
