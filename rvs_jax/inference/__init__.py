"""Running a trained model: `predict` (a video + sentences -> masks, `rvs-predict`) and
`export` (a StableHLO artifact that runs without the model code, `rvs-export`)."""
