"""Runtime data code: benchmark readers, the synthetic benchmark and the input pipeline.

`registry.py` lists the benchmarks (one `Benchmark` entry each: reader, validator,
scoring kind, clip stride, default splits); each benchmark module (`a2d.py`, `jhmdb.py`,
`refer_youtube_vos.py`, `refer_davis.py`, `synthetic.py`) owns its layout, reader,
validator and writers. Dataset *preparation* (TFDS builders) lives in the top-level
`data/` folder; everything a training or evaluation run imports lives here.
"""
