"""Pictures of results: `overlay` (every drawing primitive: mask fills, contours, the
font, captions, heat maps, tiling) and `explain` (per-word CMAM attention and LASP
sampling, drawn with `overlay`)."""
