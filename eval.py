"""Evaluates a trained model and draws its results.

  python eval.py --config configs/synthetic.py:tiny --workdir workdir \
      [--checkpoint DIR] [--config.eval.protocol=cstm|clean] [--config.data.eval_split=test]

Scores the evaluation split with every metric of the field, prints the table, writes
`W/eval/<dataset>_<split>_<protocol>.json`, and renders the first `config.eval.draw`
samples to `W/eval/pictures/` (prediction filled, ground truth outlined) plus a grid
`W/eval/<dataset>_<split>_<protocol>.png`.
Refer-YouTube-VOS / Refer-DAVIS go to `rvs_jax.video_evaluator` instead (every frame,
J / F / J&F, submission zip; see its docstring).
`--checkpoint` is a workdir or a converted checkpoint (default: --workdir's best
checkpoint, else its latest).
"""

import os

from absl import app, flags
from ml_collections import config_flags

from rvs_jax import platform, sharding

_CONFIG = config_flags.DEFINE_config_file("config", None, "Config file (path[:args]).",
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Where results are written.")
_CHECKPOINT = flags.DEFINE_string("checkpoint", None, "Workdir or converted checkpoint.")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
  del argv
  platform.configure()
  sharding.maybe_initialize_distributed()
  # pylint: disable=g-import-not-at-top
  import jax
  from rvs_jax import datasets, evaluator, models, video_evaluator, visualize
  from rvs_jax.train import trainer
  from rvs_jax.data import registry
  # pylint: enable=g-import-not-at-top
  config, workdir = _CONFIG.value, _WORKDIR.value
  mesh = sharding.make_mesh()
  model = models.build_model(config.model)
  shapes = jax.eval_shape(model.init, jax.random.key(0), *trainer.dummy_inputs(config, 1))
  try:
    variables = trainer.load_all_variables(_CHECKPOINT.value or workdir, shapes)
  except (ValueError, FileNotFoundError) as e:  # Incomplete / mismatched / no checkpoint.
    raise SystemExit(f"error: {e}") from None
  variables = jax.device_put(variables, sharding.replicated(mesh))

  if registry.get(config.data.name).scoring == "video":
    # Video benchmarks: every frame of every expression, J / F / J&F, submission zip.
    video_evaluator.run(config, workdir, model, variables, mesh,
                        vectors_dir=_CHECKPOINT.value or workdir)
    return

  split, protocol = config.data.eval_split, config.eval.protocol
  samples = datasets.load_samples(config.data, split)
  vectors = datasets.word_vectors(config.data, _CHECKPOINT.value or workdir, samples)
  pipe = datasets.make_pipeline(config, samples, vectors, train=False,
                                batch_size=config.eval.batch_size)
  pictures = []
  pic_dir = os.path.join(workdir, "eval", "pictures")

  def draw(sample, prob, scored):
    if len(pictures) >= config.eval.draw:
      return
    frame = sample.video.load([sample.target])[0]
    scale = max(1, 256 // frame.shape[0])
    image = visualize.overlay(frame, scored.pred, scored.gt, scale=scale,
                              caption=f'"{sample.sentence}"  IoU {scored.iou:.2f}')
    os.makedirs(pic_dir, exist_ok=True)
    image.save(os.path.join(pic_dir, f"{len(pictures):03d}.png"))
    pictures.append(image)
    del prob

  result = evaluator.evaluate(evaluator.make_predict_fn(model), variables, pipe, samples,
                              mesh, protocol, on_sample=draw)
  if jax.process_index() == 0:
    path = evaluator.write_result(workdir, config.data.name, split, protocol, result)
    if pictures:
      visualize.grid(pictures).save(path[:-len(".json")] + ".png")
    print(evaluator.table(result, f"{config.data.name} {split} ({protocol} protocol)"))
    print(f"\nwrote {path}" + (f" and {len(pictures)} pictures in {pic_dir}"
                             if pictures else ""))


if __name__ == "__main__":
  app.run(main)
