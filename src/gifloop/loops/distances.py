"""Distances between every frame and the frames up to ``window`` seconds before it, in blocks.

The distance is MoviePy's: the RMS difference of 0-255 values over all pixels and channels,
``d(a, b) = sqrt(u + v - 2 uv)`` with ``u = |a|^2 / N``, ``v = |b|^2 / N``, ``uv = a.b / N``, so
thresholds carry over. Frames stream through a ring just big enough for the window (memory follows
``window``, not the length of the video); every ``block`` new frames, a ``DistanceBlock`` covers
the new frames (rows) against every frame in the window (columns), and computes on demand:

- ``matches(threshold, ...)``: the pairs under a distance threshold, and motion peaks, deciding
  most pairs on cheap rigorous bounds (``bounds.py``) and computing exactly only the rest: on the
  benchmark's thumbnails 27 % (Big Buck Bunny) to 42 % (the long video) of the pairs, and another
  6-7 % over half their bytes (below);
- ``dist``: every pair exactly (``find_loops`` wants them all).

Both needs of ``matches`` are decided on bounds first: (1) the pairs at most ``max_duration`` apart
under the threshold: only those whose lower bound is under it are computed exactly (the norms
alone rule out many before their features are read); (2) per window frame, the exact largest
distance to a frame at most ``motion_span`` after it: per column, the best value known (the running
peak, the exact pairs of 1), then the near pair with the highest lower bound if it can beat it,
then every near pair whose upper bound still beats it: the others cannot be the maximum. A far
candidate of (1) is computed over the first half of its bytes first: that exact part plus the
bound of the other half drops a third of those that are not matches.

The frames live in a ``kernels.Ring`` (C): storing a block of frames is one call that pulls them
from the caller's iterator, copies each into the ring and measures it (sums, block features), and
screening and matching a block is one call too, so Python runs per block, not per frame or pair.
That call can also be split in two (``start_matches``, ``finish_matches``): the ring's helper thread
(C, no GIL) matches the block, in parts of 8 rows, while the engine stores the next one, and the
caller takes the parts still left when it comes for the result; ``FramesMatches.from_frames`` works
this way (Big Buck Bunny's 720 thumbnails: 9.8 ms instead of 15.6 with both cores free). The ring
keeps the last block's window apart from the next block's slots, and each part is the same
computation whichever thread runs it.
Exact values come from exact integer dot products, so they are bit-identical to MoviePy's float64
sums. Frames that are not uint8 (a MoviePy clip with float frames) take a plain float64 path:
every pair by matrix products.

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
from . import kernels
from .blas import single_blas_thread
from .bounds import MARGIN, Blocks

# New frames per block: each block costs some fixed work (a dozen NumPy operations, kernel calls),
# which bigger blocks spread; but the ring holds ``2 * block`` frames beyond the window.
BLOCK = 32
_END = object()  # next()'s default: the frames have run out


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
        self._store = engine._store if engine._integral else None  # (the engine's is replaced when the ring grows)
        self._started = None
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
        bounds cannot settle are computed (see the module docstring), in one call to the ring."""
        self.start_matches(threshold, max_duration, motion_span, floor)
        return self.finish_matches()

    def start_matches(self, threshold: float, max_duration: float, motion_span: float, floor: np.ndarray) -> None:
        """``matches``, started: the ring matches the block in its helper thread while the engine stores
        the next block (ask for it now); ``finish_matches`` returns the result. Start before asking for
        the next block; finish before starting another."""
        self._check()
        if self._started is not None:
            raise RuntimeError("this block's matches are started already; call finish_matches()")
        if not self._engine._integral:
            self._started = self._dense_matches(threshold, max_duration, motion_span, floor)
            return
        cells = self.shape[0] * self.shape[1]
        out_r, out_c, out_d = np.empty(cells, np.int64), np.empty(cells, np.int64), np.empty(cells)
        peaks = np.array(floor, np.float64)  # the ring writes the peaks here
        first, window = self.first, self._engine.window
        self._store.match_start(first, first + self.row_offset, first + len(self.times), window, max_duration,
                                threshold, motion_span, peaks, out_r, out_c, out_d)
        self._started = out_r, out_c, out_d, peaks

    def finish_matches(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The result of ``start_matches`` (what ``matches`` returns), once it is ready."""
        if self._started is None:
            raise RuntimeError("finish_matches() without start_matches()")
        started, self._started = self._started, None
        if not self._engine._integral:
            return started
        out_r, out_c, out_d, peaks = started
        n = self._store.match_finish()
        return out_r[:n].copy(), out_c[:n].copy(), out_d[:n].copy(), peaks

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
        frames = iter(frames)
        for time, image in frames:  # the first frame of a block: the window moves on before it is stored
            if self._ring is None:
                self._allocate(np.asarray(image))
            self._open_block(float(time))
            self._add(time, image)
            self._fill(frames)
            if self._n - self._start == self.block:
                yield self._flush()
        if self._ring is not None and self._n > self._start:
            yield self._flush()

    def _fill(self, frames: Iterator) -> None:
        """Store frames until the open block is full or ``frames`` ends. uint8 frames go through the
        ring's ``fill`` (C: no Python per frame); it stops at anything it cannot take as it is (a
        frame that is not a NumPy array, or of another size or type), which ``_add`` then converts or
        refuses with a message."""
        while self._n - self._start < self.block:
            wanted = self.block - (self._n - self._start)
            if self._integral:
                taken = self._store.fill(frames, self._n, wanted)
                self._n += taken
                self.frames_seen += taken
                item = self._store.refused
                if item is None:
                    if taken < wanted:
                        return
                    continue
            else:
                item = next(frames, _END)
                if item is _END:
                    return
            time, image = item
            self._add(time, image)

    def _add(self, time, image) -> None:
        """Store one frame (any array-like), checking its size and type."""
        if type(image) is not np.ndarray:
            image = np.asarray(image)
        if image.shape != self._shape:
            raise InvalidParameterError(
                f"frame {self.frames_seen} is {_size(image.shape)} but the first was {_size(self._shape)}; "
                "give frames of one size")
        if self._integral:
            if image.dtype != np.uint8:
                raise InvalidParameterError(
                    f"frame {self.frames_seen} is {image.dtype} but the first was uint8; give frames of one type")
            if not _rows_contiguous(image):
                image = np.ascontiguousarray(image)
            self._store.put(image, float(time), self._n)
        else:
            row = self._n % self._capacity
            self._ring[row] = image.reshape(-1)
            self._times[row] = time
        self._n += 1
        self.frames_seen += 1

    # -- ring ----------------------------------------------------------------------------------

    def _allocate(self, image: np.ndarray) -> None:
        if not image.size:
            raise InvalidParameterError(f"frame 0 is {_size(image.shape)}: empty; give frames with pixels")
        self._shape = image.shape
        self._values = int(image.size)
        self._integral = image.dtype == np.uint8
        self._times = np.empty(self._capacity)
        if self._integral:
            self._blocks = Blocks(self._shape)
            self._width = -(-self._values // kernels.ALIGN) * kernels.ALIGN  # zero padding adds nothing
            lanes = kernels.FEATURE_LANES
            # means, then rests, each padded; then a few sums (kernels.FEATURE_EXTRA)
            features = 2 * (-(-self._blocks.count // lanes) * lanes) + kernels.FEATURE_EXTRA
            self._ring = _aligned_zeros(self._capacity, self._width)
            self._sums = np.zeros(self._capacity, np.int64)
            self._squares = np.zeros(self._capacity, np.int64)
            self._features = np.zeros((self._capacity, features))
            self._bind()
        else:
            self._ring = np.zeros((self._capacity, self._values))
            self._squares = np.zeros(self._capacity)

    def _open_block(self, t0: float) -> None:
        """Forget frames no later frame can match, and make sure one more block fits beside the last
        block's window (its matches may still be running: ``start_matches``)."""
        last = self._lo
        window = np.arange(self._lo, self._n)
        self._lo += int(np.count_nonzero((t0 - self._times[window % self._capacity]) > self.window))
        if self._n + self.block - last > self._capacity:  # more frames in the window than expected
            self._grow(max(self._n + 2 * self.block - last, self._capacity * 3 // 2))
        self._start = self._n

    def _grow(self, capacity: int) -> None:
        frames = np.arange(self._lo, self._n)
        old, new = frames % self._capacity, frames % capacity
        for name in ("_ring", "_times", "_sums", "_squares", "_features"):
            array = getattr(self, name, None)
            if array is None:
                continue
            grown = _aligned_zeros(capacity, self._width) if name == "_ring" and self._integral else \
                np.zeros((capacity,) + array.shape[1:], array.dtype)
            grown[new] = array[old]
            setattr(self, name, grown)
        self._capacity = capacity
        if self._integral:
            self._bind()

    def _bind(self) -> None:
        """The C ring over this engine's arrays (again after they grow)."""
        self._store = kernels.Ring(self._ring, self._times, self._sums, self._squares, self._features,
                                   *self._blocks.kernel_args(), MARGIN, kernels.VNNI)
        self._store.background = kernels.BACKGROUND

    def _flush(self) -> DistanceBlock:
        self._generation += 1
        rows = np.arange(self._start, self._n) % self._capacity
        cols = np.arange(self._lo, self._n) % self._capacity
        if not self._integral:  # (the ring measured uint8 frames as they came)
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
            out = np.empty(len(rows))
            self._store.exact(np.ascontiguousarray(rows, np.int64), np.ascontiguousarray(cols, np.int64), out)
            return out
        # float frames: one product of the distinct rows and columns (exact for integer values)
        row_set, row_at = np.unique(rows, return_inverse=True)
        col_set, col_at = np.unique(cols, return_inverse=True)
        with single_blas_thread():  # see blas.py
            dots = self._ring[row_set] @ self._ring[col_set].T
        return self._distances(rows, cols, dots[row_at, col_at])


_HUGE_PAGE = 2 << 20


def _aligned_zeros(rows: int, width: int) -> np.ndarray:
    """A zeroed (rows, width) uint8 array starting on a 64-byte boundary (ring rows: whole vectors).

    A ring of 2 MiB or more starts on a 2 MiB boundary and is padded to a whole number of them:
    NumPy asks for transparent huge pages on big arrays, and the kernel gives them to aligned ranges
    only. Writing the first frames into a 5 MB ring then takes 3 page faults, not 750, which cost
    ~4 ms on this machine's virtual CPUs (a third of matching a 30 s clip's frames)."""
    size = rows * width
    align = _HUGE_PAGE if size >= _HUGE_PAGE else kernels.ALIGN
    raw = np.zeros(-(-size // align) * align + align, np.uint8)
    skip = -raw.ctypes.data % align
    return raw[skip:skip + size].reshape(rows, width)


def _rows_contiguous(image: np.ndarray) -> bool:
    """Is every row (all dimensions after the first) contiguous, as the ring copies it? Decoded
    frames are: their rows are padded, not their pixels."""
    return image[0].flags.c_contiguous if image.ndim > 1 else image.flags.c_contiguous


def _size(shape) -> str:
    return f"{shape[1]}x{shape[0]}" if len(shape) >= 2 else f"{shape[0]} values"
