"""Evaluates a trained model and draws its results.

  rvs-eval --workdir W [--checkpoint DIR] [--config configs/x.py[:args]] \
      [--config.eval.protocol=cstm|clean] [--config.data.eval_split=test]

(`python eval.py ...` is the same command.) The config is the one stored with the
checkpoint (`--checkpoint`, default `--workdir`: its best step, else its latest);
`--config.a.b=v` overrides its fields, and `--config FILE` replaces it (needed for a
converted checkpoint, which stores only the model).

Scores the evaluation split with every metric of the field, prints the table, writes
`W/eval/<dataset>_<split>_<protocol>.json`, and renders `config.eval.draw` samples, the
best, median and worst by IoU over as many videos as possible
(`rvs_jax.pictures.selection`), to `W/eval/pictures/NNN_<group>.png` (prediction
filled, ground truth outlined, a key saying so) plus a grid
`W/eval/<dataset>_<split>_<protocol>.png`. Refer-YouTube-VOS / Refer-DAVIS go to
`rvs_jax.evaluation.video_eval` instead (every frame, J / F / J&F, submission zip).
"""

import os
from typing import Optional, Sequence

from absl import flags
from ml_collections import config_flags

from rvs_jax import app, checkpointing, platform, sharding


def _define_flags(flag_values: flags.FlagValues, argv: Sequence[str]) -> None:
  flags.DEFINE_string("workdir", None, "Where results are written.",
                      flag_values=flag_values)
  flags.DEFINE_string("checkpoint", None, "Workdir, step folder or converted checkpoint "
                      "(default: --workdir).", flag_values=flag_values)
  path = app.argv_value(argv, "checkpoint") or app.argv_value(argv, "workdir")
  if app.argv_value(argv, "config") is not None or path is None:
    app.define_config(flag_values, argv, help_text="Config file (path[:args]) replacing "
                      "the checkpoint's.")
    return
  try:
    description = checkpointing.describe(path)
  except checkpointing.CheckpointError as e:
    raise app.UsageError(str(e)) from None
  if description.kind == "converted":
    raise app.UsageError(f"{path} is a converted checkpoint: it stores the model but no "
                         "dataset; pass --config configs/<dataset>.py[:args]")
  app.check_overrides(description.config, argv)
  config_flags.DEFINE_config_dict("config", description.config, "The checkpoint's "
                                  "config (override fields with --config.a.b=v).",
                                  flag_values=flag_values, lock_config=True,
                                  sys_argv=list(argv))


def _main(flag_values: flags.FlagValues) -> int:
  platform.configure()
  sharding.maybe_initialize_distributed()
  # pylint: disable=g-import-not-at-top
  import jax
  from rvs_jax import datasets, models
  from rvs_jax.evaluation import frame_eval, protocols, report, video_eval
  from rvs_jax.pictures import overlay, selection
  from rvs_jax.data import registry
  # pylint: enable=g-import-not-at-top
  config, workdir = app.flag(flag_values, "config"), app.flag(flag_values, "workdir")
  checkpoint = app.flag(flag_values, "checkpoint") or workdir
  sharding.check_batch_size("eval.batch_size", config.eval.batch_size)
  mesh = sharding.make_mesh()
  model = models.build_model(config.model)
  shapes = jax.eval_shape(model.init, jax.random.key(0),
                          *models.input_spec(config.data, model=config.model))
  try:
    variables = checkpointing.load_variables(checkpoint, shapes)
  except checkpointing.CheckpointMismatch as e:
    if not getattr(flag_values["config"], "config_filename", None):
      raise  # The checkpoint's own config: nothing better to suggest.
    raise e.with_hint("; leave out --config to use the checkpoint's own") from None
  # A checkpoint carrying its GloVe table has its vocabulary in it; older ones keep
  # theirs in word_vectors.npz (or a subword tokenizer) beside it.
  carried = checkpointing.carried_vocabulary(checkpoint, config.model, variables)

  def lookup(samples):
    return (carried if carried is not None
            else datasets.sentence_lookup(config, checkpoint, samples))

  variables = jax.device_put(variables, sharding.replicated(mesh))

  if registry.get(config.data.name).scoring == "video":
    # Video benchmarks: every frame of every expression, J / F / J&F, submission zip.
    video_eval.run(config, workdir, model, variables, mesh, lookup)
    return 0

  split, protocol = config.data.eval_split, config.eval.protocol
  samples = datasets.load_samples(config.data, split)
  vectors = lookup(samples)
  pipe = datasets.make_pipeline(config, samples, vectors, train=False,
                                batch_size=config.eval.batch_size)
  predict_fn = frame_eval.make_predict_fn(model)
  result = frame_eval.evaluate(predict_fn, variables, pipe, samples, mesh, protocol)

  # The chosen samples are predicted again (a pipeline over them alone, the compiled
  # function reused) rather than every mask kept through the pass: memory stays flat
  # whatever the split and frame size, for the price of a batch or two. (The caption's
  # IoU is the redrawn one; another batch composition may flip a pixel at threshold.)
  by_id = {s.sample_id: s for s in samples}
  records = result["samples"]
  chosen = selection.pick([r["iou"] for r in records],
                          [by_id[r["sample_id"]].video_id for r in records],
                          config.eval.draw)
  drawn = [by_id[records[i]["sample_id"]] for _, i in chosen]
  images = {}
  if drawn:
    sub_pipe = datasets.make_pipeline(config, drawn, vectors, train=False,
                                      batch_size=config.eval.batch_size)
    for index, probs in frame_eval.predict_batches(predict_fn, variables, sub_pipe,
                                                   mesh):
      for i, prob in zip(index.tolist(), probs):
        sample = drawn[i]
        scored = protocols.binarize_and_score(prob, sample.mask.load(), protocol)
        frame = sample.video.load([sample.target])[0]
        empty = "" if scored.pred.any() else " (empty)"
        images[i] = overlay.overlay(
            frame, scored.pred, scored.gt, key=True,
            scale=overlay.picture_scale(*frame.shape[:2], target=256),
            caption=f'{chosen[i][0]}: "{sample.sentence}"  IoU {scored.iou:.2f}{empty}'
                    f"  ({sample.video_id})")
  pictures = [images[i] for i in range(len(drawn))]
  pic_dir = os.path.join(workdir, "eval", "pictures")
  if jax.process_index() == 0:
    path = frame_eval.write_result(workdir, config.data.name, split, protocol, result)
    if pictures:
      os.makedirs(pic_dir, exist_ok=True)
      for n, (image, (group, _)) in enumerate(zip(pictures, chosen)):
        image.save(os.path.join(pic_dir, f"{n:03d}_{group}.png"))
      rows = [[im for im, (g, _) in zip(pictures, chosen) if g == group]
              for group in selection.GROUPS]  # One row per group.
      overlay.tile([r for r in rows if r], gap=0, background=(24, 24, 24)).save(
          path[:-len(".json")] + ".png")
    print(report.results_table(result,
                               f"{config.data.name} {split} ({protocol} protocol)"))
    print(f"\nwrote {path}" + (f" and {len(pictures)} pictures in {pic_dir}"
                             if pictures else ""))
  return 0


COMMAND = app.Command(prog="rvs-eval", doc=__doc__, define_flags=_define_flags,
                      main=_main, required=("config", "workdir"), workdir_flag="workdir")


def main(argv: Optional[Sequence[str]] = None) -> int:
  return app.run(COMMAND, argv)
