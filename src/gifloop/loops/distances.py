"""Exact distances between every frame and the frames up to ``window`` seconds before it, in blocks.

The distance is MoviePy's: the RMS difference of 0-255 values over all pixels and channels,
``d(a, b) = sqrt(mean((a - b) ** 2))``, so thresholds carry over. It is computed as
``||a||^2/N + ||b||^2/N - 2 a.b/N``: one matrix product per block of new frames against every frame
in the window, instead of a Python loop per pair. Frames live in a ring buffer just big enough for
the window, so memory follows ``window``, not the length of the video.

Why float64, not float32: products of 0-255 integers summed in float64 are exact integers (below
2**53), so every distance is bit-identical to MoviePy's and identical frames are exactly 0 apart. In
float32 the cancellation in ``||a||^2 + ||b||^2 - 2a.b`` put identical 150 px thumbnails of Big Buck
Bunny up to 0.43 apart (0.07 even after centring at 128), more than MoviePy's own example threshold
of 1. The price is small: one block of 150 px thumbnails (32 new frames against 108) takes 7.8 ms in
float64 and 5.0 ms in float32 on one core, 0.24 against 0.16 ms a frame, next to the ~0.6 ms it takes
to decode a 640x360 frame to a thumbnail.

>>> engine = SlidingDistances(window=3.0, fps=25)
>>> for block in engine.blocks(frames):             # frames: (time, image) pairs   # doctest: +SKIP
...     block.dist.shape                            # (new frames, frames in the window)
(32, 107)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Iterator, Optional

import numpy as np

from ..errors import InvalidParameterError
from .blas import single_blas_thread

# New frames per product. Per frame, 150 px, a 3 s window at 25 fps, one core: 0.43 ms at 8, 0.33 at
# 16, 0.25-0.28 from 24 to 64 (bigger blocks compare against more frames outside the window).
BLOCK = 32
# A ring of uint8 frames is converted to float64 for every block: on 150 px thumbnails that took
# 0.18 of 0.42 s per 720 frames. A float64 ring (0.16 s) is used while it fits in this budget
# (150 px, 3 s at 30 fps: 47 MB); bigger frames (720p: 22 MB each in float64) stay uint8.
_FLOAT_RING_BYTES = 64 << 20
_CHUNK_BYTES = 8 << 20  # float64 slices made from a uint8 ring for one product stay under this


@dataclass(frozen=True)
class DistanceBlock:
    """Distances from a block of new frames (rows) to every frame in the window (columns).

    Columns are frames ``first, first + 1, ...`` in time order and the rows are the last
    ``len(dist)`` of them. ``dist[r, c]`` is NaN unless column ``c`` comes before row ``r`` and
    ``row_time - column_time <= window`` (MoviePy's test, as the same float expression).
    """

    first: int
    times: np.ndarray
    dist: np.ndarray

    @property
    def row_offset(self) -> int:
        """Column position of the first row."""
        return len(self.times) - len(self.dist)

    @property
    def row_times(self) -> np.ndarray:
        return self.times[self.row_offset:]


class SlidingDistances:
    """Stream frames through a window of ``window`` seconds; yield ``DistanceBlock``s.

    ``fps`` (optional) sizes the ring up front; without it the ring grows as the window fills.
    ``window`` may be ``math.inf`` (every pair; memory then grows with the video).
    """

    def __init__(self, window: float, fps: Optional[float] = None, block: int = BLOCK):
        self.window = float(window)
        self.block = int(block)
        self.frames_seen = 0
        frames = math.ceil(self.window * fps) + 1 if fps and math.isfinite(self.window) else 2 * self.block
        self._capacity = frames + 2 * self.block
        self._ring = None  # (capacity, pixels); frame k lives in row k % capacity
        self._norm = self._times = None  # per ring row: |F|^2 / N (MoviePy's "|F|sq") and time
        self._lo = self._start = self._n = 0  # window = frames [lo, n); the open block = [start, n)
        self._shape = None
        self._integral = False  # uint8 input: a float64 ring may be traded for a uint8 one

    def blocks(self, frames: Iterable[tuple[float, np.ndarray]]) -> Iterator[DistanceBlock]:
        """Consume ``(time, image)`` pairs (times increasing) and yield one block per ``block`` frames."""
        for time, image in frames:
            image = np.asarray(image)
            if self._ring is None:
                self._allocate(image)
            elif image.shape != self._shape:
                raise InvalidParameterError(
                    f"frame {self.frames_seen} is {_size(image.shape)} but the first was {_size(self._shape)}; "
                    "give frames of one size")
            if self._n == self._start:
                self._open_block(float(time))
            self._store(float(time), image)
            if self._n - self._start == self.block:
                yield self._flush()
        if self._ring is not None and self._n > self._start:
            yield self._flush()

    # -- ring ----------------------------------------------------------------------------------

    def _allocate(self, image: np.ndarray) -> None:
        self._shape = image.shape
        self._integral = image.dtype == np.uint8
        self._ring = np.zeros((self._capacity, image.size), self._ring_dtype(self._capacity, image.size))
        self._norm = np.empty(self._capacity)
        self._times = np.empty(self._capacity)

    def _ring_dtype(self, capacity: int, pixels: int):
        return np.uint8 if self._integral and capacity * pixels * 8 > _FLOAT_RING_BYTES else np.float64

    def _open_block(self, t0: float) -> None:
        """Forget frames no later frame can match, and make sure one more block fits."""
        window = np.arange(self._lo, self._n)
        self._lo += int(np.count_nonzero((t0 - self._times[window % self._capacity]) > self.window))
        if self._n + self.block - self._lo > self._capacity:  # more frames in the window than expected
            self._grow(max(self._n + 2 * self.block - self._lo, self._capacity * 3 // 2))
        self._start = self._n

    def _grow(self, capacity: int) -> None:
        frames = np.arange(self._lo, self._n)
        old, new = frames % self._capacity, frames % capacity
        ring = np.zeros((capacity, self._ring.shape[1]), self._ring_dtype(capacity, self._ring.shape[1]))
        ring[new] = self._ring[old]
        norm, times = np.empty(capacity), np.empty(capacity)
        norm[new], times[new] = self._norm[old], self._times[old]
        self._ring, self._norm, self._times, self._capacity = ring, norm, times, capacity

    def _store(self, time: float, image: np.ndarray) -> None:
        row = self._n % self._capacity
        self._ring[row] = image.reshape(-1)
        self._times[row] = time
        self._n += 1
        self.frames_seen += 1

    # -- distances -----------------------------------------------------------------------------

    def _flush(self) -> DistanceBlock:
        rows = np.arange(self._start, self._n) % self._capacity
        cols = np.arange(self._lo, self._n) % self._capacity
        new = self._runs(self._start, self._n)
        for run in new:  # |F|^2 / N of the new frames: exact sums of integers (einsum needs no BLAS)
            exact = self._ring[run].astype(np.float64, copy=False)
            self._norm[run] = np.einsum("ij,ij->i", exact, exact) / self._ring.shape[1]
        with single_blas_thread():  # see blas.py: 16x faster next to the decoder on 2 cores
            dot = self._products(new, self._runs(self._lo, self._n))
        # MoviePy's operations in MoviePy's order: sqrt(u + v - 2 * uv), each term divided by N.
        sq = (self._norm[rows, None] + self._norm[None, cols]) - 2.0 * (dot / self._ring.shape[1])
        np.maximum(sq, 0.0, out=sq)  # rounding must not turn into NaN under the square root
        dist = np.sqrt(sq, out=sq)
        times = self._times[cols]
        row_pos = np.arange(self._start - self._lo, self._n - self._lo)
        later = np.arange(len(cols))[None, :] >= row_pos[:, None]
        dist[later | ((times[row_pos, None] - times[None, :]) > self.window)] = np.nan
        block = DistanceBlock(first=self._lo, times=times, dist=dist)
        self._start = self._n
        return block

    def _runs(self, first: int, stop: int) -> list[slice]:
        """Frames ``first .. stop - 1`` as at most two contiguous slices of the ring, in time order."""
        a, b = first % self._capacity, stop % self._capacity
        if stop - first == self._capacity or (b <= a and stop > first):
            return [slice(a, self._capacity), slice(0, b)] if b else [slice(a, self._capacity)]
        return [slice(a, b)]

    def _products(self, rows: list[slice], runs: list[slice]) -> np.ndarray:
        """Exact dot products of the block's frames with the window's, columns in time order
        (float64 sums of integers). Only the window's slots are multiplied: a third fewer than the
        whole ring at 25 fps."""
        ring = self._ring
        if ring.dtype == np.float64:
            return np.block([[ring[row] @ ring[run].T for run in runs] for row in rows])
        height = sum(row.stop - row.start for row in rows)
        width = sum(run.stop - run.start for run in runs)
        step = max(256, _CHUNK_BYTES // (8 * (height + width)))
        out = np.zeros((height, width))
        for c0 in range(0, ring.shape[1], step):
            piece = np.concatenate([ring[run, c0:c0 + step] for run in runs]).astype(np.float64)
            new = np.concatenate([ring[row, c0:c0 + step] for row in rows]).astype(np.float64)
            out += new @ piece.T
        return out


def _size(shape) -> str:
    return f"{shape[1]}x{shape[0]}" if len(shape) >= 2 else f"{shape[0]} values"
