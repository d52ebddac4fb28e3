"""Scoring: the metrics of the field, frame- and video-level evaluation, `rvs-eval`."""
