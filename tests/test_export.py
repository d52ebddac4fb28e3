"""`python -m rvs_jax.inference.export`: the StableHLO artifact reloads without the model code and
matches the Python model's logits, for any batch size.

The checkpoint is the tiny test model (CMAM+ in stages 1 and 5, LASP 5->4) at its random
initialisation, with BatchNorm statistics randomised so that a wrong or missing
collection in the artifact would show; training is not needed to compare two ways of
running the same weights.
"""

import json
import os
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest

from configs import synthetic
from rvs_jax import checkpointing, models, text
from rvs_jax.inference import export
from rvs_jax.data import pipeline
from rvs_jax.data import synthetic as synthetic_data

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VOCABULARY = ("the", "red", "square", "a", "blue", "circle", "'", "s", "moving", "left")
SENTENCES = ("the red square", "a blue circle moving left", "the square's left")


def _config():
  config = synthetic.get_config("tiny")
  config.model.cmam_stages = (1, 5)
  config.model.lasp_pairs = ((5, 4),)
  return config


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
  """A workdir holding the randomly initialised model, its config and vocabulary."""
  path = str(tmp_path_factory.mktemp("workdir"))
  config = _config()
  model = models.build_model(config.model)
  args = (jax.random.key(0),) + models.dummy_inputs(config.data)
  variables = models.initialize(model, *args)
  rng = np.random.default_rng(1)

  def randomise(path, x):
    name = jax.tree_util.keystr(path)
    if "var" in name:
      return rng.uniform(0.5, 1.5, x.shape).astype(np.float32)
    return rng.normal(0, 0.1, x.shape).astype(np.float32)

  batch_stats = jax.tree_util.tree_map_with_path(randomise, variables["batch_stats"])
  ckpts = checkpointing.Checkpoints(path, async_save=False)
  ckpts.save(1, {"step": np.int32(1), "params": variables["params"],
                 "batch_stats": batch_stats},
             {"config": json.loads(config.to_json_best_effort())})
  ckpts.close()
  text.WordVectors(VOCABULARY, [synthetic_data.word_vector(w) for w in VOCABULARY]).save(
      os.path.join(path, "word_vectors.npz"))
  return path


def _glove(path, value):
  path.write_text("".join(f"{w} " + " ".join([str(value)] * 300) + "\n"
                          for w in ("zebra", "giraffe")))
  return str(path)


@pytest.fixture(scope="module")
def artifact(workdir, tmp_path_factory):
  out = str(tmp_path_factory.mktemp("export") / "model.stablehlo")
  # A GloVe file elsewhere: the artifact records its name and hash, not its path.
  glove = _glove(tmp_path_factory.mktemp("glove") / "glove.txt", 0.5)
  assert export.main(["--checkpoint", workdir, "--out", out, "--glove", glove]) == 0
  return out


def _inputs(vocab_model, batch):
  rng = np.random.default_rng(2)
  video = rng.random((batch, 8, 64, 64, 3), np.float32)
  encoded = [vocab_model.encode(s) for s in SENTENCES[:batch]]
  return (video, np.stack([e[0] for e in encoded]), np.stack([e[1] for e in encoded]))


def test_files_and_constants(workdir, artifact):
  paths = export.artifact_paths(artifact)
  assert [k for k, p in paths.items() if os.path.isfile(p)] == ["model", "json", "vocab"]
  meta = json.load(open(paths["json"]))
  # No path of this machine travels with the artifact.
  assert meta["checkpoint"] == os.path.basename(workdir)
  assert os.path.dirname(workdir) not in open(paths["json"]).read()
  assert meta["constants"] == dict(image_size=64, num_frames=8, clip_stride=2,
                                   max_words=20, word_dim=300, threshold=0.5)
  assert meta["inputs"]["video"][0] == ["b", 8, 64, 64, 3]
  assert meta["model_config"]["lasp_pairs"] == [[5, 4]]
  assert meta["glove"]["file"] == "glove.txt" and len(meta["glove"]["sha256"]) == 64
  with np.load(paths["vocab"]) as z:
    assert list(z["words"]) == list(VOCABULARY) and z["vectors"].shape == (10, 300)


def test_artifact_runs_without_model_code_and_matches_python(workdir, artifact, tmp_path):
  loaded = export.load(artifact)     # In-process: only for the tokenizer here.
  video, words, mask = _inputs(loaded, 3)
  np.savez(tmp_path / "inputs.npz", video=video, words=words, mask=mask)
  script = textwrap.dedent(f"""
      import importlib.util, sys
      import numpy as np
      spec = importlib.util.spec_from_file_location(
          "standalone_export", {os.path.join(ROOT, "rvs_jax", "inference", "export.py")!r})
      module = importlib.util.module_from_spec(spec)
      spec.loader.exec_module(module)
      m = module.load({artifact!r})
      z = np.load({str(tmp_path / "inputs.npz")!r})
      three = m.logits(z["video"], z["words"], z["mask"])
      one = m.logits(z["video"][:1], z["words"][:1], z["mask"][:1])
      frames = np.zeros((5, 30, 40, 3), np.uint8)
      masks = m.segment(frames, "the red square", batch_size=4)
      loaded = sorted(k for k in sys.modules if k.split(".")[0] in ("rvs_jax", "flax"))
      np.savez({str(tmp_path / "outputs.npz")!r}, three=three, one=one,
               masks_shape=np.asarray(masks.shape), loaded=np.asarray(loaded, dtype=str))
      """)
  env = dict(os.environ, JAX_PLATFORMS="cpu",
             JAX_COMPILATION_CACHE_DIR=jax.config.jax_compilation_cache_dir or "")
  proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                        cwd=str(tmp_path), env=env, timeout=600, check=False)
  assert proc.returncode == 0, proc.stderr[-3000:]
  out = np.load(tmp_path / "outputs.npz")
  assert list(out["loaded"]) == []            # Neither rvs_jax nor flax was imported.
  assert tuple(out["masks_shape"]) == (5, 30, 40)

  config = _config()
  model = models.build_model(config.model)
  variables = checkpointing.load(workdir).variables
  python = jax.jit(lambda v, x, w, m: model.apply(v, x, w, m, train=False,
                                                  all_maps=False)["logits"][-1])
  want = np.asarray(python(variables, video, words, mask))
  assert out["three"].shape == (3, 64, 64)
  np.testing.assert_allclose(out["three"], want, rtol=1e-4, atol=1e-4)
  np.testing.assert_allclose(out["one"], want[:1], rtol=1e-4, atol=1e-4)
  assert np.std(want) > 1e-3  # The maps are not constant: the comparison means something.


def test_loader_preprocessing_matches_rvs_jax(artifact):
  m = export.load(artifact)
  for s in ("The man's dog.", "a  red...square,   moving LEFT", "x" + " y" * 30):
    want = text.tokenize(s, 20)
    assert m.tokenize(s) == list(want.tokens[:int(want.mask.sum())])
  vectors = text.WordVectors.load(export.artifact_paths(artifact)["vocab"])
  got = m.encode("the square's blue zebra")
  want = vectors.encode("the square's blue zebra", 20)
  np.testing.assert_array_equal(got[0], want[0])
  np.testing.assert_array_equal(got[1], want[1])
  assert got[2] == want[2] == ["zebra"]
  with pytest.raises(export.ExportError, match="unknown: zebra"):
    m.encode("zebra")
  frames = np.random.default_rng(3).integers(0, 256, (3, 30, 50, 3), dtype=np.uint8)
  np.testing.assert_array_equal(m.preprocess(frames),
                                pipeline.resize_frames_uint8(frames, 64, 64))
  for t in (0, 3, 9):
    np.testing.assert_array_equal(m.clip_indices(t, 10), pipeline.clip_indices(t, 10))


def test_the_recorded_glove_file_is_found_beside_the_artifact_by_name_and_hash(
    artifact, tmp_path):
  import shutil  # pylint: disable=g-import-not-at-top
  assert export.load(artifact).glove is None  # Not beside it: no GloVe lookups.
  for key in ("model", "json", "vocab"):
    shutil.copy(export.artifact_paths(artifact)[key], tmp_path)
  copy = str(tmp_path / "model.stablehlo")
  beside = _glove(tmp_path / "glove.txt", 0.5)
  assert export.load(copy).glove == beside
  vectors, _, unknown = export.load(copy).encode("the zebra")
  assert unknown == [] and np.all(vectors[1] == 0.5)
  with pytest.raises(export.ExportError, match=r"other.txt: not the GloVe file "
                     r"glove.txt \(sha256 .*\) recorded in .*model.json"):
    export.load(copy, glove=_glove(tmp_path / "other.txt", 0.25))


def test_cli_refuses_to_overwrite(workdir, artifact, capsys):
  assert export.main(["--checkpoint", workdir, "--out", artifact]) == 2
  err = capsys.readouterr().err.strip().splitlines()
  assert len(err) == 1 and "exists; pass --overwrite" in err[0]


def test_a_corrupted_artifact_is_refused_by_its_checksum(artifact, tmp_path):
  import shutil  # pylint: disable=g-import-not-at-top
  paths = {k: p for k, p in export.artifact_paths(artifact).items() if k != "tokenizer"}
  copy = {k: str(tmp_path / os.path.basename(p)) for k, p in paths.items()}
  for key in paths:
    shutil.copy(paths[key], copy[key])
  blob = bytearray(open(copy["model"], "rb").read())
  middle = len(blob) // 2
  blob[middle:middle + 16] = bytes(b ^ 0xFF for b in blob[middle:middle + 16])
  open(copy["model"], "wb").write(bytes(blob))
  with pytest.raises(export.ExportError, match=r"model.stablehlo: sha256 .* is not the "
                     r".* recorded in .*model.json \(corrupted or replaced"):
    export.load(copy["model"])


def test_rvs_jax_load_finds_the_checkpoint_beside_an_artifact(workdir, artifact,
                                                              tmp_path):
  import shutil  # pylint: disable=g-import-not-at-top
  import rvs_jax  # pylint: disable=g-import-not-at-top
  from rvs_jax import checkpointing as ckpt  # pylint: disable=g-import-not-at-top
  with pytest.raises(ckpt.CheckpointError, match="is not beside it"):
    rvs_jax.load(artifact)
  stem = artifact[:-len(".stablehlo")]
  for suffix in (".stablehlo", ".json", ".vocab.npz"):
    shutil.copy(stem + suffix, tmp_path / ("model" + suffix))
  shutil.copytree(workdir, tmp_path / os.path.basename(os.path.normpath(workdir)))
  seg = rvs_jax.load(str(tmp_path / "model.stablehlo"))
  frames = np.zeros((3, 40, 48, 3), np.uint8)
  assert seg.segment(frames, SENTENCES[0]).masks.shape == (1, 3, 40, 48)
