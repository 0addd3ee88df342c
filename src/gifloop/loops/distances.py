"""Distances between every frame and the frames up to ``window`` seconds before it, in blocks.

The distance is MoviePy's: the RMS difference of 0-255 values over all pixels and channels,
``d(a, b) = sqrt(u + v - 2 uv)`` with ``u = |a|^2 / N``, ``v = |b|^2 / N``, ``uv = a.b / N``, so
thresholds carry over. Frames stream through a ring just big enough for the window (memory follows
``window``, not the length of the video); every ``block`` new frames, a ``DistanceBlock`` covers
the new frames (rows) against every frame in the window (columns), and computes on demand:

- ``matches(threshold, ...)``: the pairs under a distance threshold, and motion peaks, deciding
  most pairs on cheap rigorous bounds (``bounds.py``, ``screen.py``) and computing exactly only the
  rest: on the benchmark's thumbnails 33 % (Big Buck Bunny) to 48 % (the long video) of the pairs;
- ``dist``: every pair exactly (``find_loops`` wants them all).

Exact values come from exact integer dot products (``kernels.py``), so they are bit-identical to
MoviePy's float64 sums. Frames that are not uint8 (a MoviePy clip with float frames) take a plain
float64 path: every pair by matrix products.

>>> engine = SlidingDistances(window=3.0, fps=25)
>>> for block in engine.blocks(frames):             # frames: (time, image) pairs   # doctest: +SKIP
...     r, c, d, peaks = block.matches(10, 3.0, 0.6, np.full(len(block.times), np.nan))
...     block.dist.shape                            # (new frames, frames in the window)
(32, 107)
"""

from __future__ import annotations

import math
from typing import Iterable, Iterator, Optional

import numpy as np

from ..errors import InvalidParameterError
from . import kernels, screen
from .blas import single_blas_thread
from .bounds import Blocks

# New frames per block: each block costs some fixed work (a dozen NumPy operations, kernel calls),
# which bigger blocks spread; but the ring holds ``2 * block`` frames beyond the window.
BLOCK = 32


class DistanceBlock:
    """Distances from a block of new frames (rows) to every frame in the window (columns).

    Columns are frames ``first, first + 1, ...`` in time order and the rows are the last
    ``len(row_times)`` of them. ``pairs[r, c]`` is True when column ``c`` comes before row ``r`` and
    ``row_time - column_time <= window`` (MoviePy's test, as the same float expression); the
    matrices here are NaN where it is False. A block reads the engine's ring: use it before asking
    the engine for the next one.
    """

    def __init__(self, engine: "SlidingDistances", first: int, times: np.ndarray, rows: np.ndarray,
                 cols: np.ndarray):
        self._engine = engine
        self._generation = engine._generation
        self.first = first
        self.times = times
        self._row_slots, self._col_slots = rows, cols
        self._dist = None

    @property
    def row_offset(self) -> int:
        """Column position of the first row."""
        return len(self.times) - len(self._row_slots)

    @property
    def row_times(self) -> np.ndarray:
        return self.times[self.row_offset:]

    @property
    def shape(self) -> tuple[int, int]:
        return len(self._row_slots), len(self.times)

    @property
    def pairs(self) -> np.ndarray:
        """Which (row, column) cells are pairs of the window."""
        row_pos = np.arange(self.row_offset, len(self.times))
        later = np.arange(len(self.times))[None, :] >= row_pos[:, None]
        return ~(later | ((self.times[row_pos, None] - self.times[None, :]) > self._engine.window))

    @property
    def dist(self) -> np.ndarray:
        """Every pair's exact distance (NaN where there is no pair)."""
        if self._dist is None:
            pairs = self.pairs
            dist = np.full(pairs.shape, np.nan)
            r, c = np.nonzero(pairs)  # row-major: sorted by row, as the kernels want
            dist[r, c] = self.pair_distances(r, c)
            self._dist = dist
        return self._dist

    def pair_distances(self, r: np.ndarray, c: np.ndarray) -> np.ndarray:
        """Exact distances of the pairs (row ``r[p]``, column ``c[p]``), ``r`` sorted."""
        self._check()
        return self._engine._exact(self._row_slots[r], self._col_slots[c])

    def matches(self, threshold: float, max_duration: float, motion_span: float,
                floor: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(r, c, d, peaks)``: the pairs at most ``max_duration`` apart closer than ``threshold``
        (row-major, exact distances ``d``), and per column the largest exact distance to a row at most
        ``motion_span`` later, or ``floor`` (NaN: none) if that is larger. Only the pairs that the
        bounds cannot settle are computed (``screen.py``)."""
        self._check()
        if not self._engine._integral:
            return self._dense_matches(threshold, max_duration, motion_span, floor)
        engine = self._engine
        shape = self.shape
        out_r, out_c = np.empty(shape[0] * shape[1], np.int64), np.empty(shape[0] * shape[1], np.int64)
        lower, upper, values = np.empty(shape), np.empty(shape), np.empty(shape)
        n = screen.screen_block(engine._features, engine._squares, engine._values, self._row_slots,
                                self._col_slots, self.times, self.row_offset, engine.window, max_duration,
                                threshold, motion_span, out_r, out_c, lower, upper, values)
        r, c = out_r[:n].copy(), out_c[:n].copy()
        d = self.pair_distances(r, c)
        values[r, c] = d
        keep = d < threshold
        for first_pass in (True, False):
            m = screen.peak_candidates(lower, upper, values, floor, first_pass, out_r, out_c)
            if m:
                values[out_r[:m], out_c[:m]] = self.pair_distances(out_r[:m], out_c[:m])
        return r[keep], c[keep], d[keep], screen.column_peaks(lower, values, floor)

    def _dense_matches(self, threshold, max_duration, motion_span, floor):
        """``matches`` for float frames: every pair exactly."""
        dist = self.dist
        span = self.row_times[:, None] - self.times[None, :]
        r, c = np.nonzero((dist < threshold) & ~(span > max_duration))
        near = np.where(span <= motion_span, dist, np.nan)
        peaks = np.where(np.isnan(near), -np.inf, near).max(axis=0, initial=-np.inf)
        peaks = np.fmax(floor, np.where(np.isinf(peaks), np.nan, peaks))
        return r, c, dist[r, c], peaks

    def _check(self) -> None:
        if self._generation != self._engine._generation:
            raise RuntimeError("this DistanceBlock's frames have left the ring; use a block before the next one")


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
        self._ring = None  # (capacity, width); frame k lives in row k % capacity
        self._times = None
        self._lo = self._start = self._n = 0  # window = frames [lo, n); the open block = [start, n)
        self._shape = None
        self._values = 0  # numbers per frame: MoviePy's N
        self._integral = True  # uint8 frames: integer kernels and bounds; else float64 products
        self._generation = 0  # bumped whenever a block is flushed: older blocks may not read the ring

    def blocks(self, frames: Iterable[tuple[float, np.ndarray]]) -> Iterator[DistanceBlock]:
        """Consume ``(time, image)`` pairs (times increasing) and yield one block per ``block`` frames."""
        store = kernels.store_frame  # the loop runs once a frame: ~3 us of Python is 20 % of the matching
        for time, image in frames:
            if type(image) is not np.ndarray:
                image = np.asarray(image)
            if self._ring is None:
                self._allocate(image)
            elif image.shape != self._shape:
                raise InvalidParameterError(
                    f"frame {self.frames_seen} is {_size(image.shape)} but the first was {_size(self._shape)}; "
                    "give frames of one size")
            if self._n == self._start:
                self._open_block(float(time))
            row = self._n % self._capacity
            if self._integral:  # copied and measured in one pass
                store(image.reshape(self._rows_shape), self._ring, row, *self._store_args)
            else:
                self._ring[row] = image.reshape(-1)
            self._times[row] = time
            self._n += 1
            self.frames_seen += 1
            if self._n - self._start == self.block:
                yield self._flush()
        if self._ring is not None and self._n > self._start:
            yield self._flush()

    # -- ring ----------------------------------------------------------------------------------

    def _allocate(self, image: np.ndarray) -> None:
        self._shape = image.shape
        self._values = int(image.size)
        self._integral = image.dtype == np.uint8
        if self._integral:
            width = -(-self._values // kernels.ALIGN) * kernels.ALIGN  # zero padding adds nothing
            self._ring = np.zeros((self._capacity, width), np.uint8)
            self._blocks = Blocks(self._shape)
            self._sums = np.zeros(self._capacity, np.int64)
            self._squares = np.zeros(self._capacity, np.int64)
            self._block_sums = np.zeros((self._capacity, self._blocks.count), np.int32)
            self._block_squares = np.zeros((self._capacity, self._blocks.count), np.int32)
            self._features = np.zeros((self._capacity, 2 * self._blocks.count))
            self._bind()
        else:
            self._ring = np.zeros((self._capacity, self._values))
            self._squares = np.zeros(self._capacity)
        self._times = np.empty(self._capacity)

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
        for name in ("_ring", "_times", "_sums", "_squares", "_block_sums", "_block_squares", "_features"):
            array = getattr(self, name, None)
            if array is None:
                continue
            grown = np.zeros((capacity,) + array.shape[1:], array.dtype)
            grown[new] = array[old]
            setattr(self, name, grown)
        self._capacity = capacity
        if self._integral:
            self._bind()

    def _bind(self) -> None:
        """The arguments of ``kernels.store_frame`` after the frame, the ring row: made once, not per frame."""
        self._rows_shape = (self._blocks.rows, self._blocks.row_bytes)  # a view for decoded (padded) frames
        self._store_args = (*self._blocks.kernel_args(), self._sums, self._squares, self._block_sums,
                            self._block_squares)

    def _flush(self) -> DistanceBlock:
        self._generation += 1
        rows = np.arange(self._start, self._n) % self._capacity
        cols = np.arange(self._lo, self._n) % self._capacity
        if self._integral:
            self._features[rows] = self._blocks.features(self._block_sums[rows], self._block_squares[rows])
        else:
            exact = self._ring[rows]
            self._squares[rows] = np.einsum("ij,ij->i", exact, exact)
        block = DistanceBlock(self, self._lo, self._times[cols], rows, cols)
        self._start = self._n
        return block

    # -- arithmetic, for DistanceBlock -----------------------------------------------------------

    def _distances(self, rows: np.ndarray, cols: np.ndarray, dots: np.ndarray) -> np.ndarray:
        # MoviePy's operations in MoviePy's order: sqrt(u + v - 2 * uv), each term divided by N
        # (u: the later frame). All three sums are exact integers, as MoviePy's are.
        n = self._values
        sq = (self._squares[rows] / n + self._squares[cols] / n) - 2.0 * (dots / n)
        np.maximum(sq, 0.0, out=sq)  # rounding must not turn into NaN under the square root
        return np.sqrt(sq, out=sq)

    def _exact(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Exact distances of the pairs (ring slots ``rows[p]``, ``cols[p]``), rows sorted."""
        if self._integral:
            dots = np.zeros(len(rows), np.int64)
            kernels.pair_dots(self._ring, rows, cols, dots, self._sums)
            return self._distances(rows, cols, dots.astype(np.float64))
        # float frames: one product of the distinct rows and columns (exact for integer values)
        row_set, row_at = np.unique(rows, return_inverse=True)
        col_set, col_at = np.unique(cols, return_inverse=True)
        with single_blas_thread():  # see blas.py
            dots = self._ring[row_set] @ self._ring[col_set].T
        return self._distances(rows, cols, dots[row_at, col_at])


def _size(shape) -> str:
    return f"{shape[1]}x{shape[0]}" if len(shape) >= 2 else f"{shape[0]} values"
