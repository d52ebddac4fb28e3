"""Pictures of results: `overlay` (masks, contours, captions, grids) and `explain`
(per-word CMAM attention and LASP sampling)."""
