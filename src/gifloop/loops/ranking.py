"""Ranking loop candidates: a seam score, runs of one periodic motion, and suppression of duplicates.

>>> seam_score(np.array([0.0, 3.0]), np.array([3.0, 3.0]))
array([1. , 0.5])
>>> suppress(np.array([0.0, 0.1, 5.0]), np.array([2.0, 2.1, 6.0]), max_iou=0.3)
array([0, 2])
>>> runs = Runs(); runs.assign(np.array([40, 40, 41, 42]), np.array([32, 50, 33, 32]))
array([0, 1, 0, 0])
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


class Runs:
    """Groups candidates into runs of one periodic motion, fed end frame by end frame in order.

    A candidate ending at frame ``j`` with lag ``L`` (it starts at ``j - L``) continues the run of a
    candidate ending at ``j - 1`` with lag ``L - 1 .. L + 1``: the picture repeats after ``L`` frames
    there too, one frame later. All candidates of a run show the same cycle at other phases (a
    turning wheel gave four copies of its 1.28 s turn, 0.72 s apart, each overlapping the next too
    little for ``suppress``' overlap test), so a run yields one loop.
    """

    def __init__(self):
        self._frame = -2  # the end frame being fed
        self._here = {}  # lag -> run, for the candidates ending at _frame
        self._before = {}  # the same for _frame - 1
        self._count = 0

    def new(self) -> int:
        """A run of its own (a candidate that continues nothing)."""
        self._count += 1
        return self._count - 1

    def assign(self, ends: np.ndarray, lags: np.ndarray) -> np.ndarray:
        """Run numbers of candidates (end frame, lag), sorted by end frame (across calls too)."""
        out = np.empty(len(ends), dtype=int)
        for k, (end, lag) in enumerate(zip(ends.tolist(), lags.tolist())):
            if end != self._frame:
                self._before = self._here if end == self._frame + 1 else {}
                self._here, self._frame = {}, end
            run = next((self._before[near] for near in (lag, lag - 1, lag + 1) if near in self._before), None)
            self._here[lag] = out[k] = self.new() if run is None else run
        return out


def suppress(starts: np.ndarray, ends: np.ndarray, max_iou: float, limit: Optional[int] = None,
             runs: Optional[np.ndarray] = None) -> np.ndarray:
    """Indices kept by greedy non-maximum suppression, for candidates already sorted best first:
    a candidate goes when its time interval overlaps a kept one by more than ``max_iou``
    (intersection over union), or when it belongs to the run of a kept one (``runs``, see ``Runs``).
    Stops after ``limit`` kept."""
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
        duplicate = np.clip(inter, 0, None) > max_iou * union
        if runs is not None:
            duplicate |= runs[rest] == runs[k]
        alive[rest[duplicate]] = False
    return np.array(kept, dtype=int)
