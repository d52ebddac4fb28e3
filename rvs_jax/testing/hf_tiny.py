"""Tiny random Hugging Face checkpoints (BERT, RoBERTa, XLNet) made on the spot.

For the parity tests of `rvs_jax.models.text` and `rvs_jax.convert.hf` without any
download: a tokenizer is trained with the `tokenizers` library on a few sentences, a
model of a few thousand parameters is built by `transformers` from a config object,
its weights are drawn at a scale where every parameter visibly moves the output, and
both are saved in the layout of a checkpoint folder on the hub (config.json,
model.safetensors or pytorch_model.bin, tokenizer.json, tokenizer_config.json).
Needs `transformers`, `tokenizers` and torch (the `text` and `torch` extras).
"""

from __future__ import annotations

import json
import os

SENTENCES = (
    "the white and brown cat jumping backward",
    "a man in a red shirt is riding a bicycle on the road",
    "the small dog on the left is running towards the camera",
    "a woman wearing a blue dress walks slowly",
    "the bird flying over the water",
    "the car driving fast",
)

# Special tokens in the order (so the ids) of the real checkpoints' vocabularies.
_SPECIALS = {
    "bert": ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"],
    "roberta": ["<s>", "<pad>", "</s>", "<unk>", "<mask>"],
    "xlnet": ["<unk>", "<s>", "</s>", "<cls>", "<sep>", "<pad>", "<mask>"],
}
_TOKEN_CONFIG = {
    "bert": dict(pad_token="[PAD]", unk_token="[UNK]", cls_token="[CLS]",
                 sep_token="[SEP]", mask_token="[MASK]", padding_side="right"),
    "roberta": dict(pad_token="<pad>", unk_token="<unk>", bos_token="<s>",
                    eos_token="</s>", cls_token="<s>", sep_token="</s>",
                    mask_token="<mask>", padding_side="right"),
    "xlnet": dict(pad_token="<pad>", unk_token="<unk>", bos_token="<s>",
                  eos_token="</s>", cls_token="<cls>", sep_token="<sep>",
                  mask_token="<mask>", padding_side="left"),
}


def train_tokenizer(kind: str, sentences=SENTENCES):
  """A `tokenizers.Tokenizer` of the kind's family trained on `sentences`."""
  # pylint: disable=g-import-not-at-top
  from tokenizers import (Tokenizer, decoders, models, normalizers, pre_tokenizers,
                          processors, trainers)
  # pylint: enable=g-import-not-at-top
  specials = _SPECIALS[kind]
  if kind == "bert":
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(vocab_size=120, special_tokens=specials)
    tok.train_from_iterator(sentences, trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", tok.token_to_id("[CLS]")),
                        ("[SEP]", tok.token_to_id("[SEP]"))])
    tok.decoder = decoders.WordPiece()
  elif kind == "roberta":
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(sentences, trainer)
    tok.post_processor = processors.RobertaProcessing(
        ("</s>", tok.token_to_id("</s>")), ("<s>", tok.token_to_id("<s>")))
    tok.decoder = decoders.ByteLevel()
  elif kind == "xlnet":
    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    trainer = trainers.UnigramTrainer(vocab_size=100, special_tokens=specials,
                                      unk_token="<unk>")
    tok.train_from_iterator(sentences, trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="$A:0 <sep>:0 <cls>:2", pair="$A:0 <sep>:0 $B:1 <sep>:1 <cls>:2",
        special_tokens=[("<sep>", tok.token_to_id("<sep>")),
                        ("<cls>", tok.token_to_id("<cls>"))])
    tok.decoder = decoders.Metaspace()
  else:
    raise ValueError(f"unknown kind {kind!r}")
  return tok


def build_model(kind: str, vocab_size: int, seed: int = 0):
  """A tiny random `transformers` model of `kind` in eval mode."""
  # pylint: disable=g-import-not-at-top
  import torch
  import transformers
  # pylint: enable=g-import-not-at-top
  torch.manual_seed(seed)
  if kind == "bert":
    config = transformers.BertConfig(
        vocab_size=vocab_size, hidden_size=32, num_hidden_layers=2,
        num_attention_heads=4, intermediate_size=48, max_position_embeddings=40,
        type_vocab_size=2, pad_token_id=0)
    model = transformers.BertModel(config, add_pooling_layer=True)
  elif kind == "roberta":
    config = transformers.RobertaConfig(
        vocab_size=vocab_size, hidden_size=32, num_hidden_layers=2,
        num_attention_heads=4, intermediate_size=48, max_position_embeddings=42,
        type_vocab_size=1, pad_token_id=1, bos_token_id=0, eos_token_id=2,
        layer_norm_eps=1e-5)
    model = transformers.RobertaModel(config)
  elif kind == "xlnet":
    config = transformers.XLNetConfig(
        vocab_size=vocab_size, d_model=32, n_layer=2, n_head=4, d_inner=48,
        pad_token_id=5, bos_token_id=1, eos_token_id=2)
    model = transformers.XLNetModel(config)
  else:
    raise ValueError(f"unknown kind {kind!r}")
  with torch.no_grad():
    # Well away from the 0.02-normal init: every weight and bias matters for the output.
    for name, p in model.named_parameters():
      noise = torch.randn_like(p) * 0.3
      p.copy_(1.0 + noise if "LayerNorm.weight" in name or "layer_norm.weight" in name
              else noise)
  return model.eval()


def save_folder(kind: str, directory: str, weights: str = "safetensors",
                seed: int = 0, state_dict_prefix: str = ""):
  """Writes a tiny checkpoint folder of `kind`; returns `(model, tokenizer)`.

  Args:
    kind: 'bert', 'roberta' or 'xlnet'.
    directory: created if needed.
    weights: 'safetensors' (model.safetensors) or 'bin' (pytorch_model.bin).
    seed: torch seed of the weights.
    state_dict_prefix: e.g. "bert." to save the keys as a pretraining checkpoint
      (BertForMaskedLM) names them (bin only).
  """
  import torch  # pylint: disable=g-import-not-at-top
  os.makedirs(directory, exist_ok=True)
  tok = train_tokenizer(kind)
  model = build_model(kind, tok.get_vocab_size(), seed)
  model.config.save_pretrained(directory)
  if weights == "safetensors":
    model.save_pretrained(directory, safe_serialization=True)
  elif weights == "bin":
    state = {state_dict_prefix + k: v.contiguous() for k, v in model.state_dict().items()}
    torch.save(state, os.path.join(directory, "pytorch_model.bin"))
  else:
    raise ValueError(f"weights must be 'safetensors' or 'bin', got {weights!r}")
  tok.save(os.path.join(directory, "tokenizer.json"))
  config = dict(_TOKEN_CONFIG[kind], tokenizer_class="PreTrainedTokenizerFast",
                model_max_length=512)
  with open(os.path.join(directory, "tokenizer_config.json"), "w",
            encoding="utf-8") as f:
    json.dump(config, f, indent=1)
  return model, tok
