"""Cheap, rigorous lower and upper bounds on MoviePy's frame distance, from block features.

Cut a frame ``a`` into blocks (8 rows x 8 pixels x all channels). In block ``k`` (``m`` values) write
``a = mean_k + r_k``: the block's mean, repeated, plus what is left. The two parts are orthogonal
(the rest sums to zero over the block), so for two frames, by Pythagoras,

    ||a - b||^2 = sum_k  m (mean_k(a) - mean_k(b))^2  +  ||r_k(a) - r_k(b)||^2

and by the triangle inequality  (|r_k(a)| - |r_k(b)|)^2 <= ||r_k(a) - r_k(b)||^2 <= (|r_k(a)| + |r_k(b)|)^2.
With the feature vector ``f(a) = [sqrt(m) mean_k(a) ..., |r_k(a)| ...]``:

    lower^2 = ||f(a) - f(b)||^2             <= ||a - b||^2 <=  lower^2 + 4 sum_k |r_k(a)| |r_k(b)|

``||f(a)||^2 == ||a||^2``, so both need only the dot product of the features: 418 numbers per 150 px
thumbnail instead of 37,800 bytes (and before it the norms alone, ``| |a| - |b| | <= |a - b|``).
The bounds are widened by far more than their float64 rounding (and MoviePy's own), so a pair
whose lower bound reaches the threshold can be dropped without computing it: screening never drops
a true match.

On the benchmark's 150 px thumbnails (3 s window, threshold 10), the lower bound rules out 72 % of
the pairs of Big Buck Bunny and 57 % of the long test video (where 31 % of all pairs match).

``Blocks`` cuts frames and turns block sums into features; ``kernels.pair_bounds`` computes the bounds
(the ring in ``_ckernels.c`` computes both as frames arrive).

>>> blocks = Blocks((84, 150, 3)); blocks.count, 2 * blocks.count     # blocks, features per frame
(209, 418)
"""

from __future__ import annotations

import numpy as np

BLOCK_ROWS = 8
BLOCK_PIXELS = 8  # x channels: one block holds every channel of 8x8 pixels
# Relative widening of the squared bounds. Their rounding error is below 1e-13 of
# (||a||^2 + ||b||^2) (products of at most ~1000 float64 features); MoviePy's own rounding of
# u + v - 2uv below 1e-15 of it.
MARGIN = 1e-9


class Blocks:
    """How frames of ``shape`` ((H, W), (H, W, C), ...) are cut: ``rows`` rows of ``row_bytes`` values,
    in blocks of ``block_rows`` x ``block_bytes`` (8 x 8 pixels with all their channels); ``sizes``:
    the values in each block (smaller at the right and bottom edges), in row-major block order.

    >>> blocks = Blocks((84, 150, 3))
    >>> blocks.count, blocks.sizes[:2].tolist(), int(blocks.sizes[-1])    # 11 x 19 blocks; 4 rows x 18 bytes
    (209, [192, 192], 72)
    """

    def __init__(self, shape: tuple):
        if len(shape) < 2:
            self.rows, self.row_bytes = 1, int(np.prod(shape))
            self.block_rows, self.block_bytes = 1, BLOCK_ROWS * BLOCK_PIXELS
        else:
            self.rows, self.row_bytes = int(shape[0]), int(np.prod(shape[1:]))
            channels = self.row_bytes // shape[1] if shape[1] else 1
            self.block_rows = BLOCK_ROWS
            # int32 sums of squares inside a block stay exact below 33,000 values
            self.block_bytes = max(1, min(BLOCK_PIXELS * channels, 4096))
        heights = np.diff(np.minimum(np.arange(0, self.rows + self.block_rows, self.block_rows), self.rows))
        widths = np.diff(np.minimum(np.arange(0, self.row_bytes + self.block_bytes, self.block_bytes), self.row_bytes))
        heights, widths = heights[heights > 0], widths[widths > 0]
        self.sizes = np.outer(heights, widths).ravel()
        self.count = len(self.sizes)

    def kernel_args(self) -> tuple[int, int, int, int]:
        """The layout as ``kernels.store_frame`` and ``kernels.Ring`` take it."""
        return self.rows, self.row_bytes, self.block_rows, self.block_bytes

    def features(self, sums: np.ndarray, squares: np.ndarray) -> np.ndarray:
        """Feature vectors (frames, 2 * count) from per-block sums and sums of squares (exact integers):
        ``sqrt(m) * mean = s / sqrt(m)``, then the norm of the rest, ``sqrt((m q - s^2) / m)``."""
        sums = sums.astype(np.float64)
        spread = self.sizes * squares - sums * sums  # exact: below 2**53 for blocks under 33,000 values
        spread = np.maximum(spread, 0.0)
        return np.concatenate([sums / np.sqrt(self.sizes), np.sqrt(spread / self.sizes)], axis=1)
