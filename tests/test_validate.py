"""`python -m rvs_jax.data.validate` on clean and deliberately broken layout fixtures.

Each broken tree has several planted problems; the validator must name every one of them
(file + reason), report nothing else as an error, and exit non-zero. Clean trees exit 0
with only notes for the releases' known quirks.
"""

import os

import h5py
import numpy as np
import pytest
import scipy.io

from rvs_jax.testing import fixtures
from rvs_jax.data import validate

WRITERS = {"jhmdb_sentences": fixtures.write_jhmdb, "refer_youtube_vos":
           fixtures.write_refer_youtube_vos, "refer_davis": fixtures.write_refer_davis,
           "a2d_sentences": fixtures.write_a2d}


def _truncate(path, keep):
  with open(path, "rb") as f:
    data = f.read()
  with open(path, "wb") as f:
    f.write(data[:keep])


def _check(report, expected, warnings=()):
  """Every planted problem is found; every error (warning) is one of the planted ones."""
  for found, planted in ((report.errors, expected), (report.warnings, warnings)):
    got = [(p.path, p.message) for p in found]
    text = "\n".join(str(p) for p in found)
    for path_part, msg_part in planted:
      assert any(path_part in p and msg_part in m for p, m in got), (
          f"not reported: {path_part} / {msg_part}\n{text}")
    for p, m in got:
      assert any(pp in p and mp in m for pp, mp in planted), f"unexpected: {p}: {m}"


@pytest.mark.parametrize("benchmark", sorted(WRITERS))
def test_clean_trees_pass(tmp_path, benchmark, capsys):
  WRITERS[benchmark](str(tmp_path))
  assert validate.main([benchmark, str(tmp_path)]) == 0
  out = capsys.readouterr().out
  assert "0 error(s)" in out and "ERROR" not in out


def test_old_spellings_are_refused_with_the_known_names(tmp_path):
  # One spelling per benchmark: the registry's. The old aliases ("a2d", "ytvos") are gone.
  with pytest.raises(ValueError, match="known: a2d_sentences, jhmdb_sentences"):
    validate.validate("a2d", str(tmp_path))
  with pytest.raises(SystemExit):
    validate.main(["ytvos", str(tmp_path)])


def test_jhmdb_broken(tmp_path, capsys):
  root = str(tmp_path)
  fixtures.write_jhmdb(root)
  frames = os.path.join(root, "Rename_Images")
  masks = os.path.join(root, "puppet_mask")
  os.remove(os.path.join(frames, "pullup", "pullup_a", "00004.png"))
  _truncate(os.path.join(frames, "walk", "walk_a", "00002.png"), 20)
  os.remove(os.path.join(masks, "walk", "walk_b", "puppet_mask.mat"))
  mat_path = os.path.join(masks, "pullup", "pullup_a", "puppet_mask.mat")
  part = np.ones((24, 32, 11), np.uint8)  # One more mask than the 10 frames.
  part[:, :, 2] = 0
  scipy.io.savemat(mat_path, {"part_mask": part})
  with open(os.path.join(root, "jhmdb_annotation.txt"), "wb") as f:
    f.write(b"video_id,query\npullup_a,man doing pullups\npullup_b,\n"
            b"walk_a,woman walking to the caf\xe9\nwalk_b,person walking\n"
            b"ghost,a video that does not exist\n")
  expected = [
      ("pullup_a/00004.png", "missing frame"),
      ("walk_a/00002.png", "unreadable frame"),
      ("walk_b/puppet_mask.mat", "missing mask file"),
      ("pullup_a/puppet_mask.mat", "frame-count mismatch"),
      ("pullup_a/puppet_mask.mat", "empty mask on frames [3]"),
      ("jhmdb_annotation.txt:4", "not UTF-8"),
  ]
  # One sentence each, left out by the reader too: the video is not checked further.
  skipped = [("jhmdb_annotation.txt:3", "'pullup_b': sentence skipped: empty sentence"),
             ("jhmdb_annotation.txt:6", "'ghost': sentence skipped: no frames folder")]
  _check(validate.validate("jhmdb_sentences", root), expected, skipped)
  assert validate.main(["jhmdb_sentences", root]) == 1
  out = capsys.readouterr().out
  assert f"{len(expected)} error(s), {len(skipped)} warning(s)" in out
  # --quick skips decoding but still finds missing files.
  quick = validate.validate("jhmdb_sentences", root, quick=True)
  assert any("00004.png" in p.path for p in quick.errors)


def test_refer_youtube_vos_broken(tmp_path):
  import json  # pylint: disable=g-import-not-at-top
  root = str(tmp_path)
  fixtures.write_refer_youtube_vos(root, write_meta_json=False)
  os.remove(os.path.join(root, "train", "JPEGImages", "trainB", "00010.jpg"))
  _truncate(os.path.join(root, "train", "Annotations", "trainA", "00005.png"), 30)
  os.remove(os.path.join(root, "train", "Annotations", "trainA", "00020.png"))
  meta_path = os.path.join(root, "meta_expressions", "train", "meta_expressions.json")
  with open(meta_path) as f:
    meta = json.load(f)
  meta["videos"]["trainA"]["expressions"]["3"]["exp"] = " "
  meta["videos"]["trainA"]["expressions"]["12"] = {"exp": "a ghost", "obj_id": "7"}
  with open(meta_path, "w") as f:
    json.dump(meta, f)
  for name in os.listdir(os.path.join(root, "valid", "JPEGImages", "valB")):
    os.remove(os.path.join(root, "valid", "JPEGImages", "valB", name))
  os.rmdir(os.path.join(root, "valid", "JPEGImages", "valB"))
  _check(validate.validate("refer_youtube_vos", root), [
      ("trainB/00010.jpg", "missing frame"),
      ("Annotations/trainB", "frame-count mismatch"),  # 4 PNGs, 3 JPEGs.
      ("trainA/00005.png", "unreadable annotation PNG"),
      ("trainA/00020.png", "missing annotation PNG"),
      ("Annotations/trainA", "frame-count mismatch"),
      ("valid/JPEGImages/valB", "missing frames folder"),
  ], [
      ("meta_expressions.json", "'trainA': expression '3' skipped: empty sentence"),
      ("meta_expressions.json", "'trainA': expression '12' skipped: object 7 never "
                                "occurs in the masks"),
  ])
  assert validate.main(["refer_youtube_vos", root]) == 1


def test_refer_davis_broken(tmp_path):
  root = str(tmp_path)
  fixtures.write_refer_davis(root)
  ddir, tdir = os.path.join(root, "DAVIS"), os.path.join(root, "davis_text_annotations")
  os.remove(os.path.join(ddir, "Annotations_unsupervised", "480p", "bear", "00001.png"))
  _truncate(os.path.join(ddir, "JPEGImages", "480p", "motorbike", "00002.jpg"), 100)
  with open(os.path.join(tdir, "Davis17_annot1.txt"), "a") as f:
    f.write("bear 2 no quotes here\n")
  with open(os.path.join(tdir, "Davis17_annot1_full_video.txt"), "a") as f:
    f.write('bear 3 ""\n')
  with open(os.path.join(ddir, "ImageSets", "2017", "val.txt"), "a") as f:
    f.write("ghost\n")
  report = validate.validate("refer_davis", root)
  _check(report, [
      ("Annotations_unsupervised/480p/bear", "frame-count mismatch"),
      ("motorbike/00002.jpg", "unreadable frame"),
      ("Davis17_annot1.txt:", "expected `<video> <obj_id>"),
      ("val.txt", "video 'ghost' has no expression"),
      ("JPEGImages/480p/ghost", "missing frames folder"),
  ], [
      ("Davis17_annot1_full_video.txt:", "'bear': expression of object 3 skipped: "
                                         "empty expression"),
  ])
  notes = "\n".join(str(p) for p in report.problems if p.severity == "note")
  assert "latin-1" in notes and "'motor-bike' fixed to 'motorbike'" in notes
  # The semi-supervised set numbers bear's object 2, not 1: the id-space check sees it
  # (a warning: the protocol still scores the expression, against empty masks).
  semi = validate.validate("refer_davis", root, annotations="semi_supervised")
  assert any("Annotations/480p/bear" in p.path and "object 1" in p.message
             for p in semi.warnings)


def test_a2d_broken(tmp_path):
  root = str(tmp_path)
  truth = fixtures.write_a2d(root)
  rel = os.path.join(root, "Release", "clips320H")
  inst = os.path.join(root, "text_annotations", "a2d_annotation_with_instances")
  os.remove(os.path.join(rel, "vidTrainB.mp4"))
  _truncate(os.path.join(rel, "vidTrainA.mp4"), 400)
  with open(os.path.join(inst, "vidTrainA", "00005.h5"), "wb") as f:
    f.write(b"garbage, not HDF5")
  h, w = truth["height"], truth["width"]
  with h5py.File(os.path.join(inst, "vidTestA", "00010.h5"), "w") as f:
    masks = np.zeros((2, w, h), np.uint8)
    masks[0, 2:9, 3:8] = 1  # Instance 1 fine, instance 2 empty.
    f["reMask"], f["instance"] = masks, np.array([1.0, 2.0])
  with h5py.File(os.path.join(inst, "vidTestA", "00025.h5"), "w") as f:
    f["reMask"], f["instance"] = np.ones((w, h), np.uint8), np.array([1.0])
  with open(os.path.join(root, "text_annotations", "a2d_annotation.txt"), "ab") as f:
    f.write(b"vidTestA,2,\nvidTrainA,1,a caf\xe9 table\n")
  _check(validate.validate("a2d_sentences", root), [
      ("clips320H/vidTrainB.mp4", "missing video file"),
      ("clips320H/vidTrainA.mp4", "unreadable video"),
      ("vidTrainA/00005.h5", "unreadable h5"),
      ("vidTestA/00010.h5", "empty mask for instance 2"),
      ("vidTestA/00025.h5", "frame-count mismatch"),
      ("a2d_annotation.txt:", "not UTF-8"),
  ], [
      ("a2d_annotation.txt:", "'vidTestA': sentence of instance 2 skipped: empty "
                              "sentence"),
      ("a2d_annotation.txt:", "'vidTrainB': sentence skipped: instance id '1 (copy)' "
                              "is not an integer"),
  ])
  assert validate.main(["a2d_sentences", root]) == 1
