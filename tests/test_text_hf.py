"""BERT / RoBERTa / XLNet: Flax encoders and the converter against `transformers`.

No download: `rvs_jax.testing.hf_tiny` trains tokenizers with `tokenizers` on a few
sentences and builds tiny random models with `transformers` from config objects, saved
in the hub layout; they are converted with the CLI and `encode_sentences` is compared
with transformers' PyTorch `last_hidden_state` at every real token.
"""

import json
import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

# pylint: disable=g-import-not-at-top,wrong-import-position
import rvs_jax
from rvs_jax import text_features
from rvs_jax.convert import __main__ as convert_cli
from rvs_jax.convert import hf
from rvs_jax.models.text import tokenizer as tokenizer_lib
from rvs_jax.testing import hf_tiny

LONG = ("a man in a red shirt is riding a bicycle on the road while the small dog on "
        "the left is running towards the camera")
UNKNOWN = "🦓 über the zebra"
SENTENCES = ["the white and brown cat jumping backward", LONG, UNKNOWN, "a bird"]
# How each kind is saved: both weight formats and a task model's key prefix are covered.
SAVE = {"bert": dict(weights="bin", state_dict_prefix="bert."),
        "roberta": dict(weights="safetensors"), "xlnet": dict(weights="safetensors")}


@pytest.fixture(scope="module", params=["bert", "roberta", "xlnet"])
def converted(request, tmp_path_factory):
  kind = request.param
  root = tmp_path_factory.mktemp(kind)
  src, out = str(root / "hf"), str(root / "converted")
  model, _ = hf_tiny.save_folder(kind, src, **SAVE[kind])
  assert convert_cli.main([kind, src, "--out", out]) == 0
  return kind, src, out, model


def _reference(src, model, sentences):
  tok = transformers.AutoTokenizer.from_pretrained(src)
  enc = tok(sentences, padding="max_length", truncation=True, max_length=20,
            return_tensors="pt")
  with torch.no_grad():
    ref = model(input_ids=enc["input_ids"],
                attention_mask=enc["attention_mask"]).last_hidden_state
  return enc["input_ids"].numpy(), enc["attention_mask"].numpy().astype(bool), ref.numpy()


def test_encode_sentences_equals_transformers(converted):
  kind, src, out, model = converted
  feats, mask = rvs_jax.encode_sentences(out, SENTENCES)  # The public name.
  ids_ref, mask_ref, ref = _reference(src, model, SENTENCES)
  ids, _, tokens = text_features.load_encoder(out).tokenizer.encode(SENTENCES)
  np.testing.assert_array_equal(ids, ids_ref)
  np.testing.assert_array_equal(mask, mask_ref)
  assert feats.shape == (4, 20, 32) and feats.dtype == np.float32
  err = np.abs(feats - ref)[mask]
  assert err.max() <= 1e-4, (kind, err.max())
  assert np.abs(ref[mask]).mean() > 0.3   # The comparison is not of near-zeros.
  # The long sentence fills all 20 slots and ends with the special tokens.
  assert mask[1].all()
  specials = {"bert": ["[SEP]"], "roberta": ["</s>"], "xlnet": ["<sep>", "<cls>"]}[kind]
  assert tokens[1][-len(specials):] == specials
  # XLNet pads on the left, the others on the right.
  assert bool(mask[3, 0]) == (kind != "xlnet") and bool(mask[3, -1]) == (kind == "xlnet")
  if kind in ("bert", "xlnet"):  # Characters unseen in training: the unknown id.
    unk = transformers.AutoTokenizer.from_pretrained(src).unk_token_id
    assert unk in ids[2]


def test_conversion_json_and_dropped_heads(converted):
  kind, _, out, _ = converted
  with open(os.path.join(out, "conversion.json"), encoding="utf-8") as f:
    meta = json.load(f)
  assert meta["kind"] == kind and meta["text"]["text_name"] == kind
  assert meta["text"]["text_hidden"] == 32 and meta["text"]["text_layers"] == 2
  dropped = {"bert": "pooler.dense.weight", "roberta": "pooler.dense.weight",
             "xlnet": "mask_emb"}[kind]
  assert dropped in meta["dropped"]
  assert meta["tokenizer"]["padding_side"] == ("left" if kind == "xlnet" else "right")
  assert os.path.isfile(os.path.join(out, "tokenizer.json"))


def test_every_misfit_key_is_named_at_once(tmp_path, capsys):
  src = str(tmp_path / "hf")
  model, _ = hf_tiny.save_folder("bert", src, weights="bin")
  state = {k: v.clone() for k, v in model.state_dict().items()}
  del state["encoder.layer.1.output.dense.bias"]
  state["encoder.layer.0.attention.self.query.weight"] = torch.zeros(32, 16)
  state["encoder.extra.weight"] = torch.zeros(3)
  torch.save(state, os.path.join(src, "pytorch_model.bin"))
  assert convert_cli.main(["bert", src, "--out", str(tmp_path / "out")]) == 2
  err = capsys.readouterr().err
  for name in ("layer_1/output/bias", "encoder.layer.0.attention.self.query.weight",
               "encoder.extra.weight"):
    assert name in err, err
  assert not os.path.exists(tmp_path / "out")


def test_config_and_tokenizer_problems_name_the_file(tmp_path):
  src = str(tmp_path / "hf")
  hf_tiny.save_folder("roberta", src)
  with pytest.raises(hf.ConversionError, match=r"config.json.*model_type is 'roberta'"):
    hf.convert_folder("bert", src, str(tmp_path / "o1"))
  os.remove(os.path.join(src, "tokenizer.json"))
  with pytest.raises(hf.ConversionError, match="no tokenizer.json"):
    hf.convert_folder("roberta", src, str(tmp_path / "o2"))


def test_bfloat16_safetensors_are_read_as_float32(tmp_path):
  safetensors_torch = pytest.importorskip("safetensors.torch")
  x = torch.randn(3, 5)
  path = str(tmp_path / "model.safetensors")
  safetensors_torch.save_file({"w": x.to(torch.bfloat16), "b": x}, path)
  got = hf.read_weights([path])
  np.testing.assert_array_equal(got["w"], x.to(torch.bfloat16).float().numpy())
  np.testing.assert_array_equal(got["b"], x.numpy())


def test_tokenizer_settings_come_from_the_folder(tmp_path):
  src = str(tmp_path / "hf")
  hf_tiny.save_folder("xlnet", src)
  tok = tokenizer_lib.SubwordTokenizer.from_folder(src, max_length=8)
  assert tok.settings == tokenizer_lib.Settings("<pad>", "left", "right")
  ids, mask, tokens = tok.encode(["a bird"])
  assert ids.shape == (1, 8) and mask.sum() == len([t for t in tokens[0] if t != "<pad>"])
  assert ids[0, 0] == tok.pad_id and tokens[0][-1] == "<cls>"
  with pytest.raises(TypeError):
    tok.encode("a bird")
