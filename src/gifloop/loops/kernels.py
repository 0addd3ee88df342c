"""The loop finder's compiled kernels (``_ckernels.c``, C99): frames into the ring with their sums and
block features, exact dot products, bounds, luma statistics.

Frames are rows of a uint8 ring, zero-padded to a multiple of ``ALIGN`` bytes (zeros add nothing to
a dot product). Every result is an exact integer, so the distances built from them are bit-identical
to MoviePy's float64 sums (which are exact too: products of 0-255 values summed below 2**53).

Why integers: with AVX-512 VNNI (``vpdpbusd``: 64 byte products per instruction) a dot product of
two 150 px thumbnails (37,800 bytes) takes ~0.3 us in 4 x 4 tiles, against ~1.8 us for float64 BLAS
at its peak on this machine, and the ring needs no conversion. Without VNNI a plain loop that GCC
vectorises (``pmaddwd``) is used: exact too. ``VNNI`` chooses (tests set it False to run the
portable kernels: frame measurement, feature dot products and exact dot products).

The kernels are C, not numba: loading them costs nothing measurable, where numba took ~0.3 s and
~100 MB a process (a fifth of the whole job on a 30 s clip).

>>> ring = np.zeros((4, 128), np.uint8); ring[:, :3] = [[1, 2, 3], [4, 5, 6], [0, 0, 0], [9, 9, 9]]
>>> out = np.zeros(2, np.int64)
>>> pair_dots(ring, np.array([0, 0]), np.array([1, 3]), out); out        # 1*4+2*5+3*6, 1*9+2*9+3*9
array([32, 54])
"""

from __future__ import annotations

import numpy as np

from . import _ckernels
from .bounds import MARGIN

ALIGN = _ckernels.ALIGN  # bytes: one 512-bit vector
FEATURE_LANES = _ckernels.FEATURE_LANES  # feature vectors in the ring are padded to a multiple
FEATURE_EXTRA = _ckernels.FEATURE_EXTRA  # numbers after a slot's features (sums around its split)
VNNI = _ckernels.AVX512  # this CPU has AVX-512 F, BW and VNNI: use those kernels
Ring = _ckernels.Ring
# Ring.match_start: 1 matches a block in a helper thread when it is big enough (storing the next block
# meanwhile), 0 never (every block in the caller), 2 always (tests: both give the same results)
BACKGROUND = 1 if _ckernels.THREADS else 0
luma_stats = _ckernels.luma_stats  # luma_stats(image, step) -> (mean, std) of an (H, W, 3+) uint8 image
frames_matches = _ckernels.frames_matches  # (cls, times, starts, ends, dists) -> [cls(t_s, t_e, d, d), ...]


def pair_dots(ring: np.ndarray, rows: np.ndarray, cols: np.ndarray, out: np.ndarray,
              sums: np.ndarray | None = None, vnni: bool | None = None) -> None:
    """``out[p] = ring[rows[p]] . ring[cols[p]]``, exact (int64).

    ``ring``: (slots, width) uint8, C-contiguous, ``width`` a multiple of ``ALIGN``. Pairs of one row
    should be together (rows sorted) for the VNNI tiles. ``sums[slot]``: the byte sum of each slot
    (computed when not given; the VNNI kernel needs it). ``vnni`` forces a kernel (tests).
    """
    rows = np.ascontiguousarray(rows, np.int64)
    cols = np.ascontiguousarray(cols, np.int64)
    use_vnni = VNNI if vnni is None else vnni
    if use_vnni and sums is None:
        sums = ring.sum(axis=1, dtype=np.int64)
    _ckernels.pair_dots(ring, rows, cols, out, sums, use_vnni)


def store_frame(image: np.ndarray, ring: np.ndarray, slot: int, rows: int, row_bytes: int, block_rows: int,
                block_bytes: int, sums: np.ndarray, squares: np.ndarray, block_sums: np.ndarray,
                block_squares: np.ndarray, vnni: bool | None = None) -> None:
    """Copy a frame (``image``: ``rows`` rows of ``row_bytes`` contiguous bytes, rows may be padded,
    as decoders give them) into ``ring[slot]``, flat, and measure it on the way: its byte sum, its
    sum of squares, and per block of ``block_rows`` rows x ``block_bytes`` bytes the sum and sum of
    squares (int32; the features of ``bounds.py``). ``SlidingDistances`` does this through ``Ring``.
    """
    _ckernels.store_frame(image, ring, slot, rows, row_bytes, block_rows, block_bytes, sums, squares,
                          block_sums, block_squares, VNNI if vnni is None else vnni)


def pair_bounds(square_a: int, square_b: int, fa: np.ndarray, fb: np.ndarray, values: int) -> tuple[float, float]:
    """``(lower, upper)`` bounds of MoviePy's distance between two frames, from their exact sums of
    squares and their feature vectors (``Blocks.features``), widened by ``bounds.MARGIN``."""
    return _ckernels.pair_bounds(int(square_a), int(square_b), np.ascontiguousarray(fa, np.float64),
                                 np.ascontiguousarray(fb, np.float64), int(values), MARGIN)
