"""Is the whole clip a loop? Measure the step from its last frame back to its first.

A clip made to loop (an animated GIF, a boot animation) has no frame after its last one to compare
with its first, so ``find_loops``' usual seam, ``d(start, end)``, does not exist for it. Instead
the seam is judged the way it is seen: the jump from the last frame to the first should look like
any other step of the clip. The error is how far the distances across the seam stray from the
clip's typical distances at the same lag:

    seam    = | d(last, first) - typical d(k, k + 1) |
    context = (2 seam + | d(last - 1, first) - typical d(k, k + 2) |
                      + | d(last, second)    - typical d(k, k + 2) |) / 4

(on ``loops/cv_joint_rotating_320x240.gif``: 15.4 across the seam against 16.6 a step, 24.6 and
24.1 against 25.8 two steps apart: seam 1.2, context 1.3). A repeated frame at the seam (a stall)
strays as much as a jump does. Seam and context then go through the same score and the same
checks (still, cut, fade, blank) as every other candidate.

>>> seam, context = crossing_errors(band, frames=22)                  # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np

from .buffers import LagBand


def crossing_errors(band: LagBand, frames: int) -> tuple[float, float]:
    """``(seam, context)`` of a clip of ``frames`` frames played as a loop (see above); ``band`` must
    still hold every pair of the clip (``frames - 1 <= band.max_lag``, all rows recent)."""
    if frames < 3:
        raise ValueError("a whole-clip loop needs 3 frames or more")
    rows = np.arange(frames)
    typical = {}
    for lag in (1, 2):
        values = band.at(rows[lag:], lag)
        values = values[~np.isnan(values)]
        typical[lag] = float(values.mean()) if len(values) else 0.0
    last = frames - 1
    seam = abs(float(band.at(last, last)) - typical[1])  # d(first, last)
    before = abs(float(band.at(last - 1, last - 1)) - typical[2])  # d(first, last - 1)
    after = abs(float(band.at(last, last - 1)) - typical[2])  # d(second, last)
    return seam, (2 * seam + before + after) / 4
