"""Running a trained model: `segmenter` (the library API: `Segmenter.load(path)`, then
`segment(frames, sentences)`), `predict` (its command, `rvs-predict`: a video +
sentences -> files) and `export` (a StableHLO artifact that runs without the model code,
`rvs-export`)."""
