"""Screening one block of frame pairs with the bounds of ``bounds.py``, compiled (numba).

``FramesMatches.from_frames`` needs, per block of new frames against the window:

1. the pairs at most ``max_duration`` apart whose distance is under ``threshold`` (exactly), and
2. per window frame, the exact largest distance to a frame at most ``motion_span`` after it.

Both are decided on bounds first. (1) keeps the pairs whose lower bound is under the threshold: the
only ones computed exactly. (2) takes, per column, the best value known (the running peak, the
exact pairs of (1)), computes the pair with the highest lower bound if it can beat it, then every
pair whose upper bound still beats it: the others cannot be the maximum.

In NumPy the bookkeeping alone took ~0.6 ms a block (a hundred operations on 32 x 107 arrays);
compiled, a block costs about what its feature dot products do (~0.1 us a pair).

>>> count = screen_block(features, squares, 37800, rows, cols, times, first_row, 3.0, 3.0, 10.0, 0.6,
...                      out_r, out_c, lower, upper, values)                                 # doctest: +SKIP
"""

from __future__ import annotations

import numba
import numpy as np

from .bounds import MARGIN

# Reassociation lets LLVM vectorise the feature dot products; any summation order keeps the
# rounding far inside bounds.MARGIN.
_REASSOC = {"reassoc", "contract"}


@numba.njit(cache=True, nogil=True, fastmath=_REASSOC)
def _feature_dots(fa, fb, half):
    # one loop over both halves, through slices: with a runtime length the two-loop form was not
    # vectorised (275 against 100 ns a pair of 418 features)
    means = 0.0
    rests = 0.0
    a_means, b_means, a_rests, b_rests = fa[:half], fb[:half], fa[half:2 * half], fb[half:2 * half]
    for k in range(half):
        means += a_means[k] * b_means[k]
        rests += a_rests[k] * b_rests[k]
    return means, rests


@numba.njit(cache=True, nogil=True)
def pair_bounds(square_a, square_b, fa, fb, values):
    """``(lower, upper)`` bounds of MoviePy's distance between two frames, from their exact sums of
    squares and their feature vectors (see ``bounds.py``), widened by ``bounds.MARGIN``."""
    means, rests = _feature_dots(fa, fb, fa.shape[0] // 2)
    total = float(square_a) + float(square_b)
    slack = MARGIN * total
    low = total - 2.0 * (means + rests)
    high = low + 4.0 * rests + slack
    low = max(low - slack, 0.0)
    return np.sqrt(low / values), np.sqrt(high / values)


@numba.njit(cache=True, nogil=True)
def screen_block(features, squares, size, row_slots, col_slots, times, first_row, window, max_duration,
                 threshold, motion_span, out_r, out_c, lower, upper, values):
    """Bounds for one block: rows are columns ``first_row ..`` of ``col_slots`` (time order).

    ``size``: values per frame (MoviePy's N). Pairs (row r, column c before the row's own column)
    with ``t_r - t_c <= window`` exist. Writes the pairs at most ``max_duration`` apart whose lower
    bound is under ``threshold`` to ``out_r/out_c`` (row-major) and returns their count; for pairs
    at most ``motion_span`` apart fills ``lower``/``upper`` (elsewhere NaN, as ``values``, which the
    caller fills with exact distances).
    """
    count = 0
    # the norm test in the same units (sqrt(|a|^2 / N)), widened like the bounds
    norms = np.sqrt(squares / size)
    limit = threshold * (1.0 + MARGIN) + 1e-9
    for r in range(row_slots.shape[0]):
        own = first_row + r
        fr = features[row_slots[r]]
        norm_r = norms[row_slots[r]]
        for c in range(own):
            lower[r, c] = np.nan
            upper[r, c] = np.nan
            values[r, c] = np.nan
            span = times[own] - times[c]  # MoviePy's (t - t2), the same float expression
            if span > window:
                continue
            near = span <= motion_span
            wanted = not (span > max_duration) and threshold > 0.0
            if wanted and not near and abs(norm_r - norms[col_slots[c]]) > limit:
                continue  # |(|a| - |b|)| <= |a - b|: the norms alone rule it out, no features needed
            if not (near or wanted):
                continue
            low, high = pair_bounds(squares[row_slots[r]], squares[col_slots[c]], fr, features[col_slots[c]], size)
            if near:
                lower[r, c] = low
                upper[r, c] = high
            if wanted and low < threshold:
                out_r[count] = r
                out_c[count] = c
                count += 1
        for c in range(own, col_slots.shape[0]):
            lower[r, c] = np.nan
            upper[r, c] = np.nan
            values[r, c] = np.nan
    return count


@numba.njit(cache=True, nogil=True)
def _best_known(lower, values, floor):
    """Per column: the largest of ``floor`` and the exact values known for its near pairs (-inf: none)."""
    best = np.full(lower.shape[1], -np.inf)
    for c in range(lower.shape[1]):
        if not np.isnan(floor[c]):
            best[c] = floor[c]
    for r in range(lower.shape[0]):
        for c in range(lower.shape[1]):
            v = values[r, c]
            if not np.isnan(lower[r, c]) and not np.isnan(v) and v > best[c]:
                best[c] = v
    return best


@numba.njit(cache=True, nogil=True)
def peak_candidates(lower, upper, values, floor, first_pass, out_r, out_c):
    """Near pairs still to compute for the motion peaks, row-major in ``out_r/out_c``; returns the count.

    ``first_pass``: per column only the pair with the highest lower bound, if it can beat the best
    value known. Otherwise every pair whose upper bound beats it (call after the first pass's
    values are in ``values``).
    """
    best = _best_known(lower, values, floor)
    rows, cols = lower.shape
    chosen = np.full(cols, -1)
    if first_pass:
        for c in range(cols):
            top = -np.inf
            for r in range(rows):
                if not np.isnan(lower[r, c]) and np.isnan(values[r, c]) and lower[r, c] > top:
                    top = lower[r, c]
                    chosen[c] = r
            if top <= best[c]:
                chosen[c] = -1
    count = 0
    for r in range(rows):
        for c in range(cols):
            if first_pass:
                take = chosen[c] == r
            else:
                take = not np.isnan(lower[r, c]) and np.isnan(values[r, c]) and upper[r, c] > best[c]
            if take:
                out_r[count] = r
                out_c[count] = c
                count += 1
    return count


@numba.njit(cache=True, nogil=True)
def column_peaks(lower, values, floor):
    """Per column: the largest of ``floor`` and the exact values of its near pairs (NaN: none)."""
    best = _best_known(lower, values, floor)
    out = np.empty(lower.shape[1])
    for c in range(lower.shape[1]):
        out[c] = best[c] if best[c] > -np.inf else np.nan
    return out
