"""Runtime data code: benchmark readers, the synthetic benchmark and the input pipeline.

Dataset *preparation* (TFDS builders) lives in the top-level `data/` folder; everything a
training or evaluation run imports lives here.
"""
