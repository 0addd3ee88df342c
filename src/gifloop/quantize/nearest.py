"""Nearest palette colour: an exact search in C (``_ckernels.c``) for every colour lookup.

>>> centres = np.array([[0.0, 0, 0], [1, 1, 1], [0.2, 0, 0]])
>>> index, dist2 = nearest(np.array([[0.15, 0, 0], [0.9, 1, 1]]), centres)
>>> index.tolist(), np.round(dist2, 4).tolist()
([2, 1], [0.0025, 0.01])
"""

from __future__ import annotations

import numpy as np

from ._ckernels import nearest as _nearest


def nearest(points: np.ndarray, centres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each point (N, 3), the index of its nearest centre (K, 3) and the squared distance.

    Exact (ties go to the lower index); the search walks out from the centre of nearest first
    coordinate, so it is fastest when that axis spreads the centres most (OKLab lightness).
    """
    points = np.ascontiguousarray(points, np.float64).reshape(-1, 3)
    centres = np.ascontiguousarray(centres, np.float64).reshape(-1, 3)
    index = np.empty(len(points), np.int32)
    dist2 = np.empty(len(points), np.float64)
    if len(points):
        _nearest(points, centres, index, dist2)
    return index, dist2
