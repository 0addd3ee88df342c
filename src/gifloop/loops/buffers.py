"""Storage for the loop finder: per-frame numbers that grow, and the band of recent lag distances.

>>> band = LagBand(max_lag=75, depth=120)
>>> band.add(block)                        # a DistanceBlock                 # doctest: +SKIP
>>> band.at(j, lag)                        # d(frame j - lag, frame j)       # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np

from .distances import DistanceBlock


class GrowingArray:
    """A float64 array that grows at the end (amortised doubling); ``values`` is a view of it.

    >>> a = GrowingArray(); a.extend([1.0, 2.0]); a.values
    array([1., 2.])
    """

    def __init__(self, fill: float = np.nan):
        self._data = np.full(256, fill)
        self._fill = fill
        self._n = 0

    def __len__(self) -> int:
        return self._n

    def extend(self, values) -> None:
        values = np.asarray(values, np.float64)
        need = self._n + len(values)
        if need > len(self._data):
            data = np.full(max(need, 2 * len(self._data)), self._fill)
            data[:self._n] = self._data[:self._n]
            self._data = data
        self._data[self._n:need] = values
        self._n = need

    @property
    def values(self) -> np.ndarray:
        return self._data[:self._n]


class LagBand:
    """``d(j - lag, j)`` for lags 0..``max_lag`` of the last ``depth`` frames ``j`` (a ring of rows).

    Rows older than ``depth`` frames are overwritten; NaN marks pairs that do not exist.
    """

    def __init__(self, max_lag: int, depth: int):
        self.max_lag = max_lag
        self.depth = depth
        self.rows = np.full((depth, max_lag + 1), np.nan)
        self.count = 0  # frames added so far

    def add(self, block: DistanceBlock) -> None:
        """Copy a block's distances into the band, one row per new frame."""
        n = len(block.dist)
        frames = block.first + block.row_offset + np.arange(n)
        lags = np.arange(1, self.max_lag + 1)
        cols = frames[:, None] - lags[None, :] - block.first
        inside = cols >= 0
        values = np.full((n, self.max_lag), np.nan)
        values[inside] = block.dist[np.nonzero(inside)[0], cols[inside]]
        slots = frames % self.depth
        self.rows[slots, 0] = 0.0
        self.rows[slots, 1:] = values
        self.count = int(frames[-1]) + 1

    def at(self, frames, lags):
        """``d(frames - lags, frames)`` (broadcasting); the frames must be among the last ``depth``."""
        return self.rows[np.asarray(frames) % self.depth, lags]
