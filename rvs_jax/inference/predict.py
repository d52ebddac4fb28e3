"""Segment your own video: `python -m rvs_jax.inference.predict`.

    python -m rvs_jax.inference.predict --video clip.mp4 --text "the red square" \
        --text "a blue circle moving left" --checkpoint workdir --out prediction \
        [--gif] [--explain [FRAME ...]] [--threshold 0.5] [--batch-size 8] [--fps 24]

`--video` is a video file PyAV can decode (.mp4, .avi, .webm, ...) or a folder of frame
images (sorted by name, numbers compared as numbers); sentences come from `--text`
(repeatable) and/or `--texts FILE` (one per line, blank lines and `#` lines skipped).
`--checkpoint` is a training workdir (best checkpoint, else latest) or a converted
checkpoint; the config and the word vectors stored with it are used (`--config`,
`--word-vectors` override them; see `rvs_jax.checkpointing`). `--glove FILE` (a GloVe
`.txt` / `.zip`) looks up the words the checkpoint's vocabulary lacks (GloVe + GRU
models), which would otherwise be read as zeros.

The segmenting is `rvs_jax.inference.segmenter.Segmenter.stream` (the library API;
every frame from its own clip, one compilation, masks at the frame's own size, the
`clean` protocol's binarisation). The video is decoded, segmented and written frame by
frame (`rvs_jax.inference.outputs`), so memory does not grow with its length. JAX runs
on the GPU when one is present, else on the CPU (`--cpu` forces the CPU).
This module is the command: arguments, the output folder, the files.

Output (DIR = --out, refused if it exists and is not empty, unless `--overwrite`):

  DIR/predict.json                     what was run and what was written
  DIR/overlay.mp4 (overlay.gif, --gif) every sentence's mask in its own colour, legend
                                       (longer side at most 1920: any aspect ratio)
  DIR/overlay.png                      the middle frame of the overlay, as a picture
                                       (overlay.gif: at most 300 frames, sampled)
  DIR/<k>_<words>/masks/<t:05d>.png    0/255 mask at the frame's resolution
  DIR/<k>_<words>/masks.npz            masks bool (T, H, W), probs float16 (T, S, S)
  DIR/<k>_<words>/explain/frame_<t:05d>_{words,lasp}.png   with --explain (`explain`)

Mistakes a person will make (unreadable video, no frames, a sentence without a known
word, a checkpoint from another config, an existing output folder) end the program
with one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import shutil
import sys
import time
from typing import Sequence

import numpy as np
from PIL import Image

from rvs_jax import app, checkpointing, files, models
from rvs_jax.data import video_io
from rvs_jax.inference import inputs, outputs
from rvs_jax.inference.segmenter import FrameResult, Segmenter, Sentence
from rvs_jax.pictures import overlay

MARKER = "predict.json"    # Written last; marks a folder --overwrite may replace.


class PredictError(ValueError):
  """A mistake on the command line; the message is one line."""


def read_sentences(texts: Sequence[str], texts_file: str | None) -> list[str]:
  """`--text` values then the lines of `--texts FILE` (blank and `#` lines skipped)."""
  sentences = list(texts or [])
  if texts_file:
    try:
      with open(texts_file, encoding="utf-8") as f:
        lines = f.read().splitlines()
    except (OSError, UnicodeDecodeError) as e:
      raise PredictError(f"cannot read --texts {texts_file}: {e}") from None
    sentences += [l.strip() for l in lines
                  if l.strip() and not l.lstrip().startswith("#")]
  if not sentences:
    raise PredictError("no sentence: give --text \"...\" (repeatable) or --texts FILE")
  return sentences


def check_output(out: str, overwrite: bool) -> None:
  """Refuses an existing non-empty `out` unless --overwrite, and unless it is ours."""
  if os.path.exists(out) and (not os.path.isdir(out) or os.listdir(out)):
    if not overwrite:
      raise PredictError(f"output folder {out} exists; pass --overwrite to replace it")
    if not os.path.isfile(os.path.join(out, MARKER)):
      raise PredictError(f"output folder {out} exists and was not written by "
                         f"rvs_jax.inference.predict (no {MARKER}); refusing to delete it")


def _slug(k: int, sentence: str) -> str:
  words = re.sub(r"[^a-z0-9]+", "_", sentence.lower()).strip("_")[:40].rstrip("_")
  return f"{k}_{words or 'sentence'}"


# --------------------------------------------------------------------------------------
# The program.
# --------------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
  p = app.ArgumentParser(
      prog="python -m rvs_jax.inference.predict", description=__doc__,
      formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--video", required=True, help="video file or folder of frame images")
  p.add_argument("--text", action="append", default=[], metavar="SENTENCE",
                 help="a referring expression (repeat for several)")
  p.add_argument("--texts", metavar="FILE", help="file with one sentence per line")
  p.add_argument("--checkpoint", required=True,
                 help="a workdir, one of its step folders, or a converted checkpoint")
  p.add_argument("--out", required=True, help="output folder")
  p.add_argument("--config", help="configs/x.py[:args] replacing the stored config")
  p.add_argument("--word-vectors", help=".npz table replacing the checkpoint's")
  p.add_argument("--glove", metavar="FILE",
                 help="GloVe .txt/.zip for the words the checkpoint's vocabulary lacks")
  p.add_argument("--threshold", type=float, default=0.5,
                 help="probability above which a pixel is in the mask (default 0.5)")
  p.add_argument("--batch-size", type=int, default=8, help="clips per call (default 8)")
  p.add_argument("--fps", type=float,
                 help="frame rate of the overlay (default: the video's; 24 for folders)")
  p.add_argument("--gif", action="store_true", help="also write overlay.gif")
  p.add_argument("--explain", nargs="*", type=int, metavar="FRAME",
                 help="draw per-word CMAM attention and LASP sampling for these frames "
                 "(0-based; no number: the middle frame)")
  p.add_argument("--overwrite", action="store_true",
                 help="replace an existing output folder written by this program")
  p.add_argument("--cpu", action="store_true", help="run on the CPU even with a GPU")
  p.add_argument("--quiet", action="store_true", help="no progress bar")
  return p


def main(argv: Sequence[str] | None = None) -> int:
  """Runs the program; returns the exit status (user errors: one line, status 2)."""
  args = _parser().parse_args(argv)
  try:
    return _run(args)
  except app.USER_ERRORS as e:  # PredictError, checkpoint, config and data errors.
    print(f"error: {e}", file=sys.stderr)
    return 2


def _run(args: argparse.Namespace) -> int:
  t_start = time.time()
  if args.batch_size < 1:
    raise PredictError(f"--batch-size must be >= 1, got {args.batch_size}")
  if not 0.0 <= args.threshold < 1.0:
    raise PredictError(f"--threshold must be in [0, 1), got {args.threshold}")
  if args.cpu:  # Before anything initialises a JAX backend (Orbax does).
    import jax  # pylint: disable=g-import-not-at-top
    jax.config.update("jax_platforms", "cpu")
  out = os.path.abspath(args.out)
  # Cheap checks first, so a mistake costs no model loading or compilation.
  check_output(out, args.overwrite)
  try:
    # Made now, so an unwritable destination is found before inference, not after.
    stage = files.temporary_dir_beside(out)
  except OSError as e:
    raise PredictError(f"cannot write the output {out}: {e.strerror or e}") from None
  try:
    message = _predict_into(args, stage, t_start)
    # Replaced only now that the new output is complete, and only if it is ours.
    check_output(out, args.overwrite)
    files.replace_dir(stage, out)
  finally:
    shutil.rmtree(stage, ignore_errors=True)  # Left only after a failure.
  print(f"wrote {args.out}: {message}")
  return 0


def _predict_into(args: argparse.Namespace, out: str, t_start: float) -> str:
  """Segments the video as it is decoded and writes every file into `out` as it goes."""
  texts = read_sentences(args.text, args.texts)
  video = inputs.open_video(args.video)
  if args.fps is not None:
    if args.fps <= 0:
      raise PredictError(f"--fps must be positive, got {args.fps}")
    video.fps = args.fps
  t_count = video.num_frames  # Announced; the frames that decode are what counts.
  explain_frames = None
  if args.explain is not None:
    explain_frames = sorted(set(args.explain)) or [t_count // 2]
    bad = [t for t in explain_frames if not 0 <= t < t_count]
    if bad:
      raise PredictError(f"--explain frame {bad[0]} outside the video's frames "
                         f"0..{t_count - 1}")
  replaced = app.load_config_file(args.config) if args.config else None
  config = (replaced if replaced is not None
            else checkpointing.describe(args.checkpoint).config)
  constants = checkpointing.InputConstants.from_config(config)
  if not args.glove and not models.reads_token_ids(config.model):
    # A vocabulary beside the checkpoint: the sentences are checked against it before
    # the weights are loaded.
    vectors = checkpointing.word_vectors(args.checkpoint, args.word_vectors)
    inputs.encode_sentences(texts, vectors, constants.max_words)

  segmenter = Segmenter.load(args.checkpoint, replaced, args.word_vectors,
                             args.batch_size, args.glove)
  # The checkpoint's own vocabulary (a carried GloVe table, a subword tokenizer), grown
  # from --glove.
  sentences = segmenter.encode(texts)
  print(f"compiling the model for batches of {args.batch_size} on "
        f"{segmenter.device.platform} ...", file=sys.stderr)
  compile_seconds = segmenter.compile()
  print(f"compiled in {compile_seconds:.1f} s; segmenting {t_count} frames x "
        f"{len(sentences)} sentences", file=sys.stderr)
  t_segment = time.perf_counter()
  colours = [overlay.PALETTE[k % len(overlay.PALETTE)] for k in range(len(sentences))]
  texts = [s.text for s in sentences]
  folders = [_slug(k, s.text) for k, s in enumerate(sentences)]
  writers, mp4, gif, still = [], None, None, None
  written = ["overlay.mp4", "overlay.png"] + (["overlay.gif"] if args.gif else [])
  height = width = count = 0
  for r in segmenter.stream(video, sentences, args.threshold, progress=not args.quiet,
                            explain=explain_frames or ()):
    if not writers:  # The first frame fixes the sizes.
      height, width = r.frame.shape[:2]
      scale = overlay.picture_scale(height, width)
      writers = [outputs.SentenceOutput(os.path.join(out, f), s.text, args.threshold,
                                        (height, width), constants.image_size)
                 for f, s in zip(folders, sentences)]
      mp4 = video_io.Mp4Writer(os.path.join(out, "overlay.mp4"),
                               fps=max(1, int(round(video.fps))))
      if args.gif:
        gif = outputs.GifWriter(os.path.join(out, "overlay.gif"), t_count, video.fps)
    for k, writer in enumerate(writers):
      writer.add(r.index, r.masks[k], r.probs[k])
    picture = overlay.legend_overlay(r.frame, r.masks, colours, texts, scale,
                                     f"{r.index}/{t_count - 1}",
                                     confidences=r.confidence)
    mp4.write(picture)
    if gif is not None:
      gif.add(r.index, picture)
    if still is None or r.index <= t_count // 2:
      # A still of the middle frame, for a quick look without a video player (the
      # last frame if the video ends before its announced middle).
      still = picture
    if r.explained is not None:
      written += _write_explanations(r, sentences, colours, folders, out)
    count = r.index + 1
  segment_seconds = time.perf_counter() - t_segment
  for writer in writers:
    writer.close()
  mp4.close()
  if gif is not None:
    gif.close()
  Image.fromarray(still).save(os.path.join(out, "overlay.png"))
  if explain_frames is not None and not any("explain" in w for w in written):
    print("note: this model has neither CMAM(+) nor LASP; --explain has nothing to draw",
          file=sys.stderr)

  records = [dict(text=s.text, folder=f, colour=list(c), tokens=s.tokens,
                  unknown_words=s.unknown, mask_fraction=w.mask_fraction)
             for s, f, c, w in zip(sentences, folders, colours, writers)]
  summary = dict(
      video=os.path.abspath(video.source), frames=count, height=height, width=width,
      fps=video.fps, checkpoint=os.path.abspath(args.checkpoint),
      config=args.config or "stored with the checkpoint",
      model=segmenter.loaded.config.model.to_dict(),
      input=dataclasses.asdict(constants), threshold=args.threshold,
      device=segmenter.device.platform, batch_size=args.batch_size,
      seconds=round(time.time() - t_start, 1),
      compile_seconds=round(compile_seconds, 1),
      frames_per_second=round(count / max(segment_seconds, 1e-9), 2),
      sentences=records, files=written)
  with open(os.path.join(out, MARKER), "w", encoding="utf-8") as f:
    json.dump(summary, f, indent=1)
  return (f"{len(sentences)} x {count} masks at {summary['frames_per_second']} "
          "frames/s, " + ", ".join(written))


def _write_explanations(r: FrameResult, sentences: Sequence[Sentence], colours,
                        folders: Sequence[str], out: str) -> list[str]:
  """Fig. 9 / Fig. 6 pictures of one frame (`rvs_jax.pictures.explain`)."""
  from rvs_jax.pictures import explain  # pylint: disable=g-import-not-at-top
  written = []
  for k, result in enumerate(r.explained):
    folder = os.path.join(out, folders[k], "explain")
    os.makedirs(folder, exist_ok=True)
    title = f'"{sentences[k].text}"  frame {r.index}'
    # The real tokens' positions: XLNet pads on the left, so not always the first ones.
    real = np.asarray(sentences[k].mask, bool)
    cmam = {name: {"weights": np.asarray(v["weights"])[real],
                   "maps": np.asarray(v["maps"])[real]}
            for name, v in result["cmam"].items()}
    pictures = {
        "words": explain.words_picture(r.frame, sentences[k].tokens, cmam, title),
        "lasp": explain.lasp_picture(r.frame, r.masks[k], colours[k], result["lasp"],
                                     title)}
    for kind, picture in pictures.items():
      if picture is not None:
        path = os.path.join(folder, f"frame_{r.index:05d}_{kind}.png")
        picture.save(path)
        written.append(os.path.relpath(path, out))
  return written


def run() -> None:
  """Console entry: process-level JAX settings, then `main`."""
  from rvs_jax import platform  # pylint: disable=g-import-not-at-top
  platform.configure()
  sys.exit(main())


if __name__ == "__main__":
  run()
