"""Tiny benchmark trees in each official on-disk layout, for tests and smoke runs.

Each `write_*` function writes a few small videos in exactly the layout the
corresponding reader expects (each reader's module docstring describes it), including
the known quirks of the real releases, and returns the ground truth the tests compare
against:

* `write_a2d`: `Release/videoset.csv`, `Release/clips320H/*.mp4`,
  `text_annotations/{a2d_annotation.txt, a2d_missed_videos.txt,
  a2d_annotation_with_instances/<vid>/<frame>.h5}` with column-major (MATLAB v7.3)
  `reMask`, the `'1 (copy)'` instance row, a missed video, an h5 that lists an instance
  twice and one with more masks than instances.
* `write_jhmdb`: PNG frames, `puppet_mask.mat`, `jhmdb_annotation.txt`; one video has
  fewer masks than frames, one sentence holds an unquoted comma.
* `write_refer_youtube_vos`: train (palette PNGs, `meta.json`), valid (507-style: valid
  meta also lists the test videos), test, expressions with ids >= 10.
* `write_mevis`: `train/`, `valid_u/` (COCO-RLE `mask_dict.json`, null where an object
  is absent) and `valid/`; multi-object expressions, overlapping objects, a frame where
  every referred object is absent, expression ids >= 10.
* `write_refer_davis`: `DAVIS/` 480p frames, unsupervised and semi-supervised PNGs in
  different id spaces, the four expression files (annot2 in latin-1, the three
  misspelt video names, an object id >= 10, one object missing from one file).

Frames are flat colours that encode (video, frame), so a decoded JPEG can be matched to
its source within a few grey levels. Everything is deterministic.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np
from PIL import Image

from rvs_jax.data import a2d, mevis
from rvs_jax.data.refer_youtube_vos import write_index_png

# ----------------------------------------------------------------------------------------
# Shared helpers


def frame_colour(video_index: int, frame_index: int) -> tuple[int, int, int]:
  """The flat RGB colour of frame `frame_index` (0-based) of video `video_index`."""
  return (5 + 9 * frame_index) % 256, (30 + 50 * video_index) % 256, 128


def _flat_frames(video_index: int, num_frames: int, height: int,
                 width: int) -> np.ndarray:
  out = np.zeros((num_frames, height, width, 3), np.uint8)
  for t in range(num_frames):
    out[t] = frame_colour(video_index, t)
  return out


def _box_mask(height: int, width: int, top: int, left: int, h: int, w: int) -> np.ndarray:
  mask = np.zeros((height, width), bool)
  mask[max(top, 0):max(top + h, 0), max(left, 0):max(left + w, 0)] = True
  return mask


def _write_jpeg(path: str, frame: np.ndarray) -> None:
  os.makedirs(os.path.dirname(path), exist_ok=True)
  Image.fromarray(frame).save(path, quality=95)


# ----------------------------------------------------------------------------------------
# A2D Sentences


def write_a2d(root: str) -> dict[str, Any]:
  """Writes a minimal A2D Sentences tree (the layout of `rvs_jax.data.a2d`) under `root`.

  Videos (H=32, W=48, 20 frames at 24 fps, annotated frames 5, 10, 15 (1-indexed)):

  * `vidTrainA` (train): instances 1, 2; frame 10's h5 lists instance 1 twice
    (duplicate-instance quirk: the first copy is the mask).
  * `vidTrainB` (train): instance 1 only (single-instance h5: 2-D `reMask`); its
    annotation also has the `'1 (copy)'` row, which readers must drop.
  * `vidTestA` (test): instances 1, 2; frame 5 has one more mask than instances (the
    extra mask is ignored); instance 2 is absent from frame 15.
  * `vidMissed` (test): listed in `a2d_missed_videos.txt` (so excluded) although it has
    an h5 and an annotation row.

  Returns:
    `{"samples": {split: [{"video_id", "frame" (1-indexed), "instance_id", "query",
    "mask"}]}, "frames": {video_id: uint8 (T, H, W, 3)}, "height", "width"}` where
    samples follow the MTTR rule: one per (sentence, annotated frame listing the
    instance), in annotation-file order then frame order.
  """
  from rvs_jax.data.video_io import write_mp4  # pylint: disable=g-import-not-at-top

  h, w, n = 32, 48, 20
  inst_root = os.path.join(root, a2d.ANNOTATION_DIR)
  os.makedirs(os.path.join(root, a2d.CLIPS_DIR), exist_ok=True)
  videos = {"vidTrainA": 0, "vidTrainB": 0, "vidTestA": 1, "vidMissed": 1}
  frames = {}
  for vi, vid in enumerate(videos):
    frames[vid] = _flat_frames(vi, n, h, w)
    write_mp4(os.path.join(root, a2d.CLIPS_DIR, vid + ".mp4"), frames[vid],
              pix_fmt="yuv444p")
  a2d.write_videoset(root, [[vid, 11, 0.0, 1.0, h, w, n, 3, subset]
                            for vid, subset in videos.items()])

  # Per video, per annotated frame: (instance list, masks in h5 order).
  def box(i, t):
    return _box_mask(h, w, 2 + 3 * i + t // 4, 4 + 9 * i, 8 + i, 10 + t % 5)
  layout: dict[str, dict[int, tuple[list[int], list[np.ndarray]]]] = {
      "vidTrainA": {
          5: ([1, 2], [box(1, 5), box(2, 5)]),
          10: ([1, 1, 2], [box(1, 10), box(3, 10), box(2, 10)]),  # Duplicate instance.
          15: ([1, 2], [box(1, 15), box(2, 15)]),
      },
      "vidTrainB": {5: ([1], [box(1, 5)]), 10: ([1], [box(1, 10)]),
                    15: ([1], [box(1, 15)])},
      "vidTestA": {
          5: ([1, 2], [box(1, 5), box(2, 5), box(3, 5)]),  # More masks than instances.
          10: ([1, 2], [box(1, 10), box(2, 10)]),
          15: ([1], [box(1, 15)]),  # Instance 2 left the scene.
      },
      "vidMissed": {5: ([1], [box(1, 5)])},
  }
  for vid, per_frame in layout.items():
    for frame, (instances, masks) in per_frame.items():
      a2d.write_instance_h5(os.path.join(inst_root, vid, f"{frame:05d}.h5"), masks,
                            instances, [11] * len(masks))
  rows = [("vidTrainA", "1", "The man Climbing the wall"),
          ("vidTrainA", "2", "a dog, jumping"),
          ("vidTrainB", "1", "ball rolling on the floor"),
          ("vidTrainB", "1 (copy)", "ball rolling on the floor"),
          ("vidTestA", "1", "adult walking left"),
          ("vidTestA", "2", "car driving"),
          ("vidMissed", "1", "never used")]
  # The missed video's row must be dropped because the video is in the missed list.
  a2d.write_annotations(root, rows, missed=["vidMissed"])

  samples: dict[str, list[dict[str, Any]]] = {"train": [], "test": []}
  for vid, inst, query in rows:
    if vid == "vidMissed" or not inst.isdigit():
      continue
    split = "train" if videos[vid] == 0 else "test"
    for frame, (instances, masks) in sorted(layout[vid].items()):
      if int(inst) in instances:
        samples[split].append({
            "video_id": vid, "frame": frame, "instance_id": int(inst), "query": query,
            "mask": masks[instances.index(int(inst))]})
  return {"samples": samples, "frames": frames, "height": h, "width": w}


# ----------------------------------------------------------------------------------------
# J-HMDB Sentences


def write_jhmdb(root: str) -> dict[str, Any]:
  """Writes a minimal J-HMDB Sentences tree (see `rvs_jax.data.jhmdb`) under `root`.

  Videos (H=24, W=32): `pullup_a` (10 frames, 10 masks), `pullup_b` (8 frames, 5 masks:
  the fewer-masks-than-frames quirk), `walk_a` (3 frames, 3 masks), `walk_b` (7 frames,
  2 masks: fewer usable frames than the 3 drawn).

  Returns:
    `{"videos": {video_id: {"action", "query", "frames" uint8 (T, H, W, 3),
    "masks" bool (T_masks, H, W)}}, "order": [video ids in annotation order],
    "num_samples": expected sample count}`.
  """
  import scipy.io  # pylint: disable=g-import-not-at-top

  h, w = 24, 32
  spec = [("pullup", "pullup_a", 10, 10, "man doing pullups on a bar"),
          ("pullup", "pullup_b", 8, 5, "a boy, in red, pulling himself up"),
          ("walk", "walk_a", 3, 3, "woman walking to the left"),
          ("walk", "walk_b", 7, 2, "person walking away")]
  videos = {}
  for vi, (action, vid, n_frames, n_masks, query) in enumerate(spec):
    frames = _flat_frames(vi, n_frames, h, w)
    frame_dir = os.path.join(root, "Rename_Images", action, vid)
    os.makedirs(frame_dir, exist_ok=True)
    for t in range(n_frames):
      Image.fromarray(frames[t]).save(os.path.join(frame_dir, f"{t + 1:05d}.png"))
    masks = np.stack([_box_mask(h, w, 1 + t, 2 + vi + t, 6 + vi, 5 + t % 3)
                      for t in range(n_masks)])
    mask_dir = os.path.join(root, "puppet_mask", action, vid)
    os.makedirs(mask_dir, exist_ok=True)
    scipy.io.savemat(os.path.join(mask_dir, "puppet_mask.mat"),
                     {"part_mask": masks.transpose(1, 2, 0).astype(np.uint8)})
    videos[vid] = {"action": action, "query": query, "frames": frames, "masks": masks}
  with open(os.path.join(root, "jhmdb_annotation.txt"), "w", newline="") as f:
    f.write("video_id,query\n")
    for _, vid, _, _, query in spec:
      f.write(f"{vid},{query}\n")  # Unquoted, as in the release: commas stay in the text.
  return {"videos": videos, "order": [s[1] for s in spec],
          "num_samples": sum(min(3, s[3]) for s in spec)}


# ----------------------------------------------------------------------------------------
# Refer-YouTube-VOS


def write_refer_youtube_vos(root: str, *, write_meta_json: bool = True) -> dict[str, Any]:
  """Writes a minimal Refer-YouTube-VOS tree (`rvs_jax.data.refer_youtube_vos`) in `root`.

  * train: `trainA` (5 frames "00000".."00020", objects 1 and 2; object 2 visible only
    in frames 2..4; 12 expressions so ids "10", "11" test numeric ordering) and `trainB`
    (4 frames, object 1 everywhere, one expression).
  * valid meta lists `valA`, `valB`, `tstA`; test meta lists `tstA`, so the scored
    valid videos are `valA`, `valB` (frames under `valid/JPEGImages`, `tstA` under
    `test/JPEGImages`).

  Args:
    root: output folder.
    write_meta_json: also write `train/meta.json` (object presence per frame).

  Returns:
    `{"train": {vid: {"frames": [names], "labels": uint8 (T, H, W),
    "images": uint8 (T, H, W, 3), "expressions": {exp_id: {"exp", "obj_id"}}}},
    "valid": {vid: {...without labels}}, "test": {...}, "counts": {"train_present",
    "train_all", "valid", "test"}}`.
  """
  truth: dict[str, Any] = {"train": {}, "valid": {}, "test": {}}
  meta_exp: dict[str, dict[str, Any]] = {"train": {}, "valid": {}, "test": {}}
  meta_json: dict[str, Any] = {}

  def add_video(split, folder, vid, vi, n, h, w, expressions, labels=None):
    names = [f"{5 * t:05d}" for t in range(n)]
    images = _flat_frames(vi, n, h, w)
    for t, name in enumerate(names):
      _write_jpeg(os.path.join(root, folder, "JPEGImages", vid, name + ".jpg"), images[t])
    entry = {"frames": names, "images": images, "expressions": expressions}
    if labels is not None:
      entry["labels"] = labels
      for t, name in enumerate(names):
        write_index_png(os.path.join(root, folder, "Annotations", vid, name + ".png"),
                        labels[t])
      meta_json[vid] = {"objects": {
          str(o): {"category": "person" if o == 1 else "dog",
                   "frames": [names[t] for t in range(n) if (labels[t] == o).any()]}
          for o in sorted(set(np.unique(labels).tolist()) - {0})}}
    truth[split][vid] = entry
    meta_exp[split][vid] = {"expressions": expressions, "frames": names}

  h, w = 24, 40
  labels_a = np.zeros((5, h, w), np.uint8)
  for t in range(5):
    labels_a[t][_box_mask(h, w, 2, 2 + t, 8, 10)] = 1
    if t >= 2:
      labels_a[t][_box_mask(h, w, 12, 20 + t, 6, 9)] = 2
  exps_a = {str(i): {"exp": f"the {'person' if i % 2 == 0 else 'dog'} number {i}",
                     "obj_id": "1" if i % 2 == 0 else "2"} for i in range(12)}
  add_video("train", "train", "trainA", 0, 5, h, w, exps_a, labels_a)
  labels_b = np.zeros((4, 20, 36), np.uint8)
  for t in range(4):
    labels_b[t][_box_mask(20, 36, 3 + t, 4, 9, 12)] = 1
  add_video("train", "train", "trainB", 1, 4, 20, 36,
            {"0": {"exp": "a cat sleeping on the sofa", "obj_id": "1"}}, labels_b)
  add_video("valid", "valid", "valA", 2, 3, h, w,
            {"0": {"exp": "a skateboarder"}, "1": {"exp": "the ramp"}})
  add_video("valid", "valid", "valB", 3, 4, h, w, {"0": {"exp": "a white horse"}})
  add_video("test", "test", "tstA", 4, 2, h, w, {"0": {"exp": "a red car"}})

  valid_meta = dict(meta_exp["valid"])
  valid_meta.update(meta_exp["test"])  # The release's valid file includes test videos.
  for split, videos in (("train", meta_exp["train"]), ("valid", valid_meta),
                        ("test", meta_exp["test"])):
    path = os.path.join(root, "meta_expressions", split, "meta_expressions.json")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
      json.dump({"videos": videos}, f)
  if write_meta_json:
    with open(os.path.join(root, "train", "meta.json"), "w") as f:
      json.dump({"videos": meta_json}, f)

  present = sum(int((v["labels"][t] == int(e["obj_id"])).any())
                for v in truth["train"].values() for e in v["expressions"].values()
                for t in range(len(v["frames"])))
  truth["counts"] = {
      "train_present": present,
      "train_all": sum(len(v["frames"]) * len(v["expressions"])
                       for v in truth["train"].values()),
      "valid": sum(len(v["frames"]) * len(v["expressions"])
                   for v in truth["valid"].values()),
      "test": sum(len(v["frames"]) * len(v["expressions"])
                  for v in truth["test"].values())}
  return truth


# ----------------------------------------------------------------------------------------
# Refer-DAVIS17


def write_refer_davis(root: str) -> dict[str, Any]:
  """Writes a minimal Refer-DAVIS17 tree (see `rvs_jax.data.refer_davis`) under `root`.

  * train: `classic-car` (4 frames, objects 1, 2), `dogs-scale` (3 frames, object 1);
    val: `motorbike` (5 frames, objects 1, 2, 10; object 10 visible only in frame 0),
    `bear` (3 frames, object 1; annot2 full-video lacks it).
  * The expression files spell the first three `clasic-car`, `dog-scale`,
    `motor-bike`; annot2 files are latin-1 with a non-ASCII character.
  * `Annotations/480p` (semi-supervised) swaps ids 1 and 2 relative to
    `Annotations_unsupervised/480p`, so the id-space choice is visible.

  Returns:
    `{"videos": {video: {"split", "frames" [names], "images" uint8 (T, H, W, 3),
    "labels": {"unsupervised": uint8 (T, H, W), "semi_supervised": ...},
    "expressions": [{"exp_id", "obj_id", "exp", "annotator", "kind"}]}}}`
    with expressions in exp-id order.
  """
  ddir = os.path.join(root, "DAVIS")
  tdir = os.path.join(root, "davis_text_annotations")
  os.makedirs(tdir, exist_ok=True)
  spec = [  # (video, split, frames, H, W, objects)
      ("classic-car", "train", 4, 24, 40, [1, 2]),
      ("dogs-scale", "train", 3, 24, 40, [1]),
      ("motorbike", "val", 5, 28, 44, [1, 2, 10]),
      ("bear", "val", 3, 24, 40, [1]),
  ]
  misspelt = {"classic-car": "clasic-car", "dogs-scale": "dog-scale",
              "motorbike": "motor-bike"}
  kinds = [(1, "first_frame", "Davis17_annot1.txt"),
           (1, "full_video", "Davis17_annot1_full_video.txt"),
           (2, "first_frame", "Davis17_annot2.txt"),
           (2, "full_video", "Davis17_annot2_full_video.txt")]
  lines: dict[str, list[str]] = {k[2]: [] for k in kinds}
  videos: dict[str, Any] = {}
  for vi, (video, split, n, h, w, objects) in enumerate(spec):
    names = [f"{t:05d}" for t in range(n)]
    images = _flat_frames(vi, n, h, w)
    unsup = np.zeros((n, h, w), np.uint8)
    for t in range(n):
      for k, obj in enumerate(objects):
        if obj == 10 and t > 0:
          continue
        unsup[t][_box_mask(h, w, 2 + 7 * k, 3 + 11 * k + t, 6, 8)] = obj
    semi = unsup.copy()
    semi[unsup == 1], semi[unsup == 2] = 2, 1
    for t, name in enumerate(names):
      _write_jpeg(os.path.join(ddir, "JPEGImages", "480p", video, name + ".jpg"),
                  images[t])
      write_index_png(os.path.join(ddir, "Annotations_unsupervised", "480p", video,
                                   name + ".png"), unsup[t])
      write_index_png(os.path.join(ddir, "Annotations", "480p", video, name + ".png"),
                      semi[t])
    expressions = []
    # ReferFormer ranks objects by their id as a string: 1, 10, 2.
    for rank, obj in enumerate(sorted(objects, key=str)):
      for slot, (annotator, kind, fname) in enumerate(kinds):
        if video == "bear" and slot == 3:
          continue  # Object missing from one file: only that slot is lost.
        exp = f"{kind.replace('_', ' ')} object {obj} of {video} by annotator {annotator}"
        if annotator == 2:
          exp += " café"  # Non-ASCII: encoded as latin-1 in the annot2 files.
        lines[fname].append(f'{misspelt.get(video, video)} {obj} "{exp}"')
        expressions.append({"exp_id": str(4 * rank + slot), "obj_id": obj, "exp": exp,
                            "annotator": annotator, "kind": kind})
    videos[video] = {"split": split, "frames": names, "images": images,
                     "labels": {"unsupervised": unsup, "semi_supervised": semi},
                     "expressions": expressions}
  for _, _, fname in kinds:
    encoding = "latin-1" if "annot2" in fname else "utf-8"
    with open(os.path.join(tdir, fname), "wb") as f:
      f.write(("\n".join(lines[fname]) + "\n").encode(encoding))
  os.makedirs(os.path.join(ddir, "ImageSets", "2017"), exist_ok=True)
  for split in ("train", "val"):
    with open(os.path.join(ddir, "ImageSets", "2017", f"{split}.txt"), "w") as f:
      f.write("".join(v + "\n" for v, s, *_ in spec if s == split))
  return {"videos": videos}


# ----------------------------------------------------------------------------------------
# MeViS


def write_mevis(root: str) -> dict[str, Any]:
  """Writes a minimal MeViS tree (the layout of `rvs_jax.data.mevis`) under `root`.

  * train `trainM` (5 frames "00000".."00004", 24x40): object 0 (anno 0) on every
    frame, object 1 (anno 1) on frames 2..4 overlapping object 0, object 2 (anno 2) on
    frame 0 only. Expressions "0" [0], "1" [0, 1], "2" [1, 2] (no referred object on
    frame 1), "10" [0]. `trainN` (3 frames, 20x36): "0" [0] (anno 5).
  * valid_u `valuA` (4 frames, 24x40): objects 0 (anno 10, every frame) and 1 (anno 11,
    frames 2..3): same-size 6x8 boxes, disjoint and far apart. Expressions "0" [0],
    "1" [0, 1], "2" [1].
  * valid `valA` (3 frames, two expressions), `valB` (2 frames, one); no masks.

  Returns:
    `{split: {vid: {"frames": [names], "images": uint8 (T, H, W, 3), "objects":
    {anno_id (str): bool (T, H, W)} (train, valid_u), "expressions": {exp_id: {"exp",
    "obj_id", "anno_id"}}}}, "counts": {"train_all", "train_present", "valid_u",
    "valid"}}`.
  """
  truth: dict[str, Any] = {split: {} for split in mevis.SPLITS}
  vi = 0

  def add_video(split, vid, n, h, w, expressions, boxes=None):
    """`boxes`: {anno_id: {frame index: (top, left, h, w)}}."""
    nonlocal vi
    names = [f"{t:05d}" for t in range(n)]
    images = _flat_frames(vi, n, h, w)
    vi += 1
    for t, name in enumerate(names):
      _write_jpeg(os.path.join(mevis.frames_dir(root, split, vid), name + ".jpg"),
                  images[t])
    entry = {"frames": names, "images": images, "expressions": expressions}
    if boxes is not None:
      entry["objects"] = {
          str(a): np.stack([_box_mask(h, w, *b[t]) if t in b else np.zeros((h, w), bool)
                            for t in range(n)]) for a, b in boxes.items()}
    truth[split][vid] = entry

  def exp(text, objs, annos=None):
    out = {"exp": text, "obj_id": objs}
    if annos is not None:
      out["anno_id"] = annos
    return out

  add_video("train", "trainM", 5, 24, 40, {
      "0": exp("the dog running to the right", [0], [0]),
      "1": exp("the two dogs playing together", [0, 1], [0, 1]),
      "2": exp("the cat leaving and the bird arriving", [1, 2], [1, 2]),
      "10": exp("the dog that keeps moving", [0], [0])}, {
          0: {t: (2, 2 + 2 * t, 6, 8) for t in range(5)},
          1: {t: (4, 6 + 2 * t, 6, 8) for t in range(2, 5)},
          2: {0: (14, 26, 6, 8)}})
  add_video("train", "trainN", 3, 20, 36, {"0": exp("a horse walking away", [0], [5])},
            {5: {t: (3 + t, 4, 9, 12) for t in range(3)}})
  add_video("valid_u", "valuA", 4, 24, 40, {
      "0": exp("the car driving forward", [0], [10]),
      "1": exp("the cars moving in the street", [0, 1], [10, 11]),
      "2": exp("the car that enters late", [1], [11])}, {
          10: {t: (2, 2 + t, 6, 8) for t in range(4)},
          11: {t: (14, 26, 6, 8) for t in range(2, 4)}})
  add_video("valid", "valA", 3, 24, 40, {"0": exp("a man turning around", [0]),
                                         "1": exp("a ball bouncing twice", [1])})
  add_video("valid", "valB", 2, 24, 40, {"0": exp("the bird flying away", [0])})

  for split, videos in truth.items():
    meta = {vid: {"expressions": v["expressions"], "frames": v["frames"]}
            for vid, v in videos.items()}
    masks = None
    if split in mevis.MASKED_SPLITS:
      masks = {a: [mevis.encode_rle(m) if m.any() else None for m in objects]
               for v in videos.values() for a, objects in v["objects"].items()}
    mevis.write_split(root, split, meta, masks)

  def union(v, e):
    return np.any([v["objects"][str(a)] for a in e["anno_id"]], axis=0)  # (T, H, W)

  def count(split):
    return sum(len(v["frames"]) * len(v["expressions"]) for v in truth[split].values())

  truth["counts"] = {
      "train_all": count("train"), "valid_u": count("valid_u"), "valid": count("valid"),
      "train_present": sum(int(m.any()) for v in truth["train"].values()
                           for e in v["expressions"].values() for m in union(v, e))}
  return truth
