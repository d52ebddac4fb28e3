"""Segment your own video: `python -m rvs_jax.inference.predict`.

    python -m rvs_jax.inference.predict --video clip.mp4 --text "the red square" \
        --text "a blue circle moving left" --checkpoint workdir --out prediction \
        [--gif] [--explain [FRAME ...]] [--threshold 0.5] [--batch-size 8] [--fps 24]

`--video` is a video file PyAV can decode (.mp4, .avi, .webm, ...) or a folder of frame
images (sorted by name, numbers compared as numbers); sentences come from `--text`
(repeatable) and/or `--texts FILE` (one per line, blank lines and `#` lines skipped).
`--checkpoint` is a training workdir (best checkpoint, else latest) or a converted
checkpoint; the config and the word vectors stored with it are used (`--config`,
`--word-vectors` override them; see `rvs_jax.checkpointing`).

The segmenting is `rvs_jax.inference.segmenter.Segmenter` (the library API; every frame
from its own clip, one compilation, masks at the frame's own size, the `clean`
protocol's binarisation); JAX runs it on the GPU when one is present, else on the CPU
(`--cpu` forces the CPU). This module is the command: arguments, the output folder,
the files.

Output (DIR = --out, refused if it exists and is not empty, unless `--overwrite`):

  DIR/predict.json                     what was run and what was written
  DIR/overlay.mp4 (overlay.gif, --gif) every sentence's mask in its own colour, legend
                                       (longer side at most 1920: any aspect ratio)
  DIR/overlay.png                      the middle frame of the overlay, as a picture
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

from rvs_jax import app, checkpointing, files
from rvs_jax.inference import segmenter as segmenter_lib
from rvs_jax.inference.segmenter import Segmenter, Sentence
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


def draw_overlays(frames: np.ndarray, masks: np.ndarray, colours, texts: Sequence[str]
                  ) -> np.ndarray:
  """uint8 `(T, H', W', 3)`: `overlay.legend_overlay` of every frame.

  The size is bounded whatever the frames' aspect ratio (`overlay.picture_scale`), and
  the pictures are written into one preallocated array (no list of frames + stack).
  """
  t_count, height, width = frames.shape[:3]
  scale = overlay.picture_scale(height, width)
  out = None
  for t in range(t_count):
    pic = overlay.legend_overlay(frames[t], masks[:, t], colours, texts, scale,
                                 f"{t}/{t_count - 1}")
    if out is None:
      out = np.empty((t_count,) + pic.shape, np.uint8)
    out[t] = pic
  return out


def write_gif(path: str, frames: Sequence[np.ndarray], fps: float,
              max_side: int = 480) -> None:
  """An animated GIF (looping), its longer side shrunk to `max_side` to stay small."""
  images = []
  for f in frames:
    img = Image.fromarray(f)
    if max(img.size) > max_side:
      ratio = max_side / max(img.size)
      size = (max(2, round(img.width * ratio)), max(2, round(img.height * ratio)))
      img = img.resize(size, Image.BILINEAR)
    images.append(img.convert("P", palette=Image.Palette.ADAPTIVE, colors=128))
  images[0].save(path, save_all=True, append_images=images[1:], loop=0,
                 duration=max(20, int(round(1000 / fps))), optimize=False)


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
  """Segments and writes every output file into the (empty) folder `out`."""
  texts = read_sentences(args.text, args.texts)
  video = segmenter_lib.read_video(args.video)
  if args.fps is not None:
    if args.fps <= 0:
      raise PredictError(f"--fps must be positive, got {args.fps}")
    video.fps = args.fps
  frames = video.frames
  t_count, height, width = frames.shape[:3]
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
  # Sentences are checked against the vocabulary before the weights are loaded.
  vectors = checkpointing.word_vectors(args.checkpoint, args.word_vectors)
  sentences = segmenter_lib.encode_sentences(texts, vectors, constants.max_words)

  segmenter = Segmenter.load(args.checkpoint, replaced, args.word_vectors,
                             args.batch_size)
  print(f"segmenting {t_count} frames ({width}x{height}) x {len(sentences)} sentences "
        f"on {segmenter.device.platform} in batches of {args.batch_size}",
        file=sys.stderr)
  result = segmenter.segment(frames, sentences, args.threshold,
                             progress=not args.quiet)

  colours = [overlay.PALETTE[k % len(overlay.PALETTE)] for k in range(len(sentences))]
  records = []
  for k, sentence in enumerate(sentences):
    folder = os.path.join(out, _slug(k, sentence.text))
    os.makedirs(os.path.join(folder, "masks"))
    masks = result.masks[k]                                      # (T, H, W) bool
    for t, mask in enumerate(masks):
      Image.fromarray(mask.astype(np.uint8) * 255, "L").save(
          os.path.join(folder, "masks", f"{t:05d}.png"))
    np.savez_compressed(os.path.join(folder, "masks.npz"), masks=masks,
                        probs=result.probs[k].astype(np.float16),
                        sentence=sentence.text, threshold=np.float32(args.threshold))
    records.append(dict(text=sentence.text, folder=os.path.basename(folder),
                        colour=list(colours[k]), tokens=sentence.tokens,
                        unknown_words=sentence.unknown,
                        mask_fraction=[round(float(m.mean()), 5) for m in masks]))

  overlays = draw_overlays(frames, result.masks, colours, [s.text for s in sentences])
  from rvs_jax.data import video_io  # pylint: disable=g-import-not-at-top
  video_io.write_mp4(os.path.join(out, "overlay.mp4"), overlays,
                     fps=max(1, int(round(video.fps))))
  # A still of the middle frame, for a quick look without a video player.
  Image.fromarray(overlays[t_count // 2]).save(os.path.join(out, "overlay.png"))
  written = ["overlay.mp4", "overlay.png"]
  if args.gif:
    write_gif(os.path.join(out, "overlay.gif"), overlays, video.fps)
    written.append("overlay.gif")

  if explain_frames is not None:
    written += _write_explanations(segmenter, frames, sentences, result.masks, colours,
                                   explain_frames, out)

  summary = dict(
      video=os.path.abspath(video.source), frames=t_count, height=height, width=width,
      fps=video.fps, checkpoint=os.path.abspath(args.checkpoint),
      config=args.config or "stored with the checkpoint",
      model=segmenter.loaded.config.model.to_dict(),
      input=dataclasses.asdict(constants), threshold=args.threshold,
      device=segmenter.device.platform, batch_size=args.batch_size,
      seconds=round(time.time() - t_start, 1), sentences=records, files=written)
  with open(os.path.join(out, MARKER), "w", encoding="utf-8") as f:
    json.dump(summary, f, indent=1)
  return f"{len(sentences)} x {t_count} masks, " + ", ".join(written)


def _write_explanations(segmenter: Segmenter, frames: np.ndarray,
                        sentences: Sequence[Sentence], masks: np.ndarray,
                        colours, explain_frames: Sequence[int], out: str) -> list[str]:
  """Fig. 9 / Fig. 6 pictures of the chosen frames (`rvs_jax.pictures.explain`).

  `masks` is bool `(K, T, H, W)`, as `Segmentation.masks`.
  """
  from rvs_jax.pictures import explain  # pylint: disable=g-import-not-at-top
  items = [(k, t) for k in range(len(sentences)) for t in explain_frames]
  written = []
  for (k, t), result in zip(items, segmenter.explain(frames, sentences, items)):
    folder = os.path.join(out, _slug(k, sentences[k].text), "explain")
    os.makedirs(folder, exist_ok=True)
    title = f'"{sentences[k].text}"  frame {t}'
    n = len(sentences[k].tokens)
    cmam = {name: {"weights": v["weights"][:n], "maps": v["maps"][:n]}
            for name, v in result["cmam"].items()}
    pictures = {
        "words": explain.words_picture(frames[t], sentences[k].tokens, cmam, title),
        "lasp": explain.lasp_picture(frames[t], masks[k, t], colours[k],
                                     result["lasp"], title)}
    for kind, picture in pictures.items():
      if picture is not None:
        path = os.path.join(folder, f"frame_{t:05d}_{kind}.png")
        picture.save(path)
        written.append(os.path.relpath(path, out))
  if not written:
    print("note: this model has neither CMAM(+) nor LASP; --explain has nothing to draw",
          file=sys.stderr)
  return written


def run() -> None:
  """Console entry: process-level JAX settings, then `main`."""
  from rvs_jax import platform  # pylint: disable=g-import-not-at-top
  platform.configure()
  sys.exit(main())


if __name__ == "__main__":
  run()
