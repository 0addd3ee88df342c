"""Ranking loop candidates: a seam score, and non-maximum suppression over (start, end).

>>> seam_score(np.array([0.0, 3.0]), np.array([3.0, 3.0]))
array([1. , 0.5])
>>> suppress(np.array([0.0, 0.1, 5.0]), np.array([2.0, 2.1, 6.0]), max_iou=0.3)
array([0, 2])
"""

from __future__ import annotations

from typing import Optional

import numpy as np

# The frame step a seam is measured against is kept within these (RMS levels on thumbnails):
# below 0.5 the picture is as good as still (a static camera's noise is 0.4-1.3 a frame); above 10
# motion no longer hides a jump: Tears of Steel's battle averages 30-65 a frame through its fast
# cuts and shaky camera, and its best seams (30-60) are plainly visible. Rippling water runs 7-10.
STEP_FLOOR, STEP_CAP = 0.5, 10.0


def step_scale(step: np.ndarray) -> np.ndarray:
    """The segment's typical frame-to-frame distance, kept within ``STEP_FLOOR``..``STEP_CAP``."""
    return np.clip(step, STEP_FLOOR, STEP_CAP)


def seam_score(context: np.ndarray, step: np.ndarray) -> np.ndarray:
    """1 / (1 + jump), where jump = the seam's distance (averaged over the frames around it) divided
    by the segment's typical frame-to-frame distance: 1 is an invisible seam, 0.5 a seam as big as
    one normal frame step, toward 0 a visible jump."""
    return 1.0 / (1.0 + context / step_scale(step))


def suppress(starts: np.ndarray, ends: np.ndarray, max_iou: float, limit: Optional[int] = None) -> np.ndarray:
    """Indices kept by greedy non-maximum suppression, for candidates already sorted best first:
    a candidate goes when its time interval overlaps a kept one by more than ``max_iou``
    (intersection over union). Stops after ``limit`` kept."""
    alive = np.ones(len(starts), bool)
    kept = []
    for k in range(len(starts)):
        if not alive[k]:
            continue
        kept.append(k)
        if limit is not None and len(kept) >= limit:
            break
        rest = np.arange(k + 1, len(starts))
        rest = rest[alive[rest]]
        inter = np.minimum(ends[rest], ends[k]) - np.maximum(starts[rest], starts[k])
        union = np.maximum(ends[rest], ends[k]) - np.minimum(starts[rest], starts[k])
        alive[rest[np.clip(inter, 0, None) > max_iou * union]] = False
    return np.array(kept, dtype=int)
