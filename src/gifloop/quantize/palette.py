"""Plan one palette for a whole animation: a colour histogram of every frame, then median cut
refined by weighted k-means in OKLab.

Planning (this module) and applying (``remap``) are separate steps, so other palette strategies
(per frame, per scene) can sit behind the same two calls.

>>> hist = ColorHistogram()
>>> hist.add(frame)                                   # doctest: +SKIP
>>> palette = plan_palette(hist, colors=255)          # (n, 3) uint8 sRGB   # doctest: +SKIP
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from ._ckernels import EXACT_COLOURS, EXACT_SLOTS, count_colours, median_cut
from .colorspace import oklab_to_srgb, srgb_to_oklab
from .nearest import nearest

_BITS = 6  # 64 levels per channel: 262144 bins
_LEVELS = 1 << _BITS
# Counting every third pixel in each direction gives the same palette at a ninth of the cost.
_SUBSAMPLE = 3
_KMEANS_ROUNDS = 8
ALPHA_CUT = 128  # GIF pixels are opaque or transparent: alpha below this becomes transparent


class ColorHistogram:
    """Counts of colours, 6 bits per channel (a bin's centre is within 2 levels of its colours); and,
    while there are few of them, the exact colours, so a clip of 221 greys or a flat screen
    recording keeps every colour exactly. Counting is one compiled pass a frame
    (``_ckernels.count_colours``)."""

    EXACT_LIMIT = EXACT_COLOURS  # exact colours are tracked until there are more than this many

    def __init__(self) -> None:
        self.counts = np.zeros(_LEVELS ** 3, np.int64)
        # the exact colours: an open-addressing table of 0xRRGGBB keys (free: all ones) and counts
        self._keys = np.full(EXACT_SLOTS, 0xFFFFFFFF, np.uint32)
        self._key_counts = np.zeros(EXACT_SLOTS, np.int64)
        self._exact_seen = 0  # exact colours seen so far; -1 once there were more than EXACT_LIMIT
        self._planned: dict[int, np.ndarray] = {}  # plan_palette's answers, until more pixels come

    def add(self, image: np.ndarray) -> None:
        """Count the colours of one RGB(A) frame (H, W, 3|4) uint8 (every third pixel of every third
        row: the same palette at a ninth of the cost); transparent pixels do not count."""
        self._planned.clear()
        self._exact_seen = count_colours(image, _SUBSAMPLE, ALPHA_CUT, self.counts, self._keys, self._key_counts,
                                       self._exact_seen)

    def exact_colors(self) -> Optional[tuple[np.ndarray, np.ndarray]]:
        """The exact colours seen ((n, 3) uint8, in 0xRRGGBB order) and their counts, or None if
        there were too many."""
        if self._exact_seen < 0:
            return None
        used = self._keys != 0xFFFFFFFF
        keys, counts = self._keys[used].astype(np.int32), self._key_counts[used]
        order = np.argsort(keys, kind="stable")
        return _unpack_rgb(keys[order]), counts[order]

    def colors(self) -> tuple[np.ndarray, np.ndarray]:
        """The colours seen (bin centres, (n, 3) float sRGB) and how often each was seen.

        Bin centres, not the means of the colours in each bin: the means score better in SSIM but
        worse in FLIP (squirrel, 480 px: 0.0293 against 0.0250).
        """
        used = np.nonzero(self.counts)[0]
        mask = _LEVELS - 1
        levels = np.stack([used >> (2 * _BITS), (used >> _BITS) & mask, used & mask], axis=1)
        centres = (levels << (8 - _BITS)) + (1 << (7 - _BITS))
        return centres.astype(np.float64), self.counts[used].astype(np.float64)


def pack_rgb(r: np.ndarray, g: np.ndarray, b: np.ndarray) -> np.ndarray:
    """One int32 per colour, 0xRRGGBB, from channel arrays (uint8 or int32).

    >>> int(pack_rgb(np.uint8(1), np.uint8(2), np.uint8(3))) == 0x010203
    True
    """
    return (np.asarray(r, np.int32) << 16) | (np.asarray(g, np.int32) << 8) | np.asarray(b, np.int32)


def is_exact(hist: ColorHistogram, colors: int) -> bool:
    """Does ``plan_palette(hist, colors)`` give every colour the frames had, exactly?"""
    exact = hist.exact_colors()
    return exact is not None and 0 < len(exact[0]) <= colors


def plan_palette(hist: ColorHistogram, colors: int = 256) -> np.ndarray:
    """Choose up to ``colors`` sRGB colours (uint8, shape (n, 3)) for the counted pixels.

    >>> h = ColorHistogram(); h.add(np.full((4, 4, 3), 20, np.uint8))
    >>> plan_palette(h, 16).tolist()  # few colours: exactly those
    [[20, 20, 20]]

    The answer is kept with the histogram (the size search asks for the same palette many times).
    """
    if colors not in hist._planned:
        hist._planned[colors] = _plan(hist, colors)
    return hist._planned[colors].copy()


def _plan(hist: ColorHistogram, colors: int) -> np.ndarray:
    if is_exact(hist, colors):
        return hist.exact_colors()[0]
    means, weights = hist.colors()
    if len(means) == 0:
        return np.zeros((1, 3), np.uint8)
    if len(means) <= colors:
        return _distinct_rows(np.round(means).astype(np.uint8))
    lab = srgb_to_oklab(means)
    centres = _median_cut(lab, weights, colors)
    centres = _kmeans(lab, weights, centres, _KMEANS_ROUNDS)
    return _distinct_rows(oklab_to_srgb(centres))


def _distinct(values: np.ndarray) -> np.ndarray:
    """``np.unique(values)`` for a 1-D array, by hand: NumPy's own imports numpy.ma (17 ms) on
    first use, a cost every conversion paid."""
    values = np.sort(values)
    return values[np.concatenate(([True], values[1:] != values[:-1]))] if values.size else values


def _distinct_rows(rgb: np.ndarray) -> np.ndarray:
    """``np.unique(rgb, axis=0)`` for (n, 3) uint8 colours (same order: 0xRRGGBB sorts as rows do).

    >>> _distinct_rows(np.array([[9, 0, 0], [1, 2, 3], [9, 0, 0]], np.uint8)).tolist()
    [[1, 2, 3], [9, 0, 0]]
    """
    return _unpack_rgb(_distinct(pack_rgb(rgb[:, 0], rgb[:, 1], rgb[:, 2])))


def _unpack_rgb(keys: np.ndarray) -> np.ndarray:
    """(n, 3) uint8 colours from 0xRRGGBB keys (``pack_rgb``'s inverse)."""
    return np.stack([keys >> 16, (keys >> 8) & 255, keys & 255], axis=1).astype(np.uint8)


def _median_cut(points: np.ndarray, weights: np.ndarray, count: int) -> np.ndarray:
    """Split the weighted points into ``count`` boxes, always splitting the box with the largest
    weighted spread (sum of weight x squared distance to its mean) at its weighted median along
    its widest axis; return the boxes' weighted means. In C (``_ckernels.median_cut``, 4-40x the
    NumPy steps it replaced, with their arithmetic: the same palettes, bit for bit).

    >>> _median_cut(np.array([[0.0, 0, 0], [0.1, 0, 0], [1, 0, 0]]), np.ones(3), 2).tolist()
    [[0.0, 0.0, 0.0], [0.55, 0.0, 0.0]]
    """
    out = np.empty((count, 3))
    boxes = median_cut(np.ascontiguousarray(points, np.float64), np.ascontiguousarray(weights, np.float64),
                       count, out)
    return out[:boxes]


def _kmeans(points: np.ndarray, weights: np.ndarray, centres: np.ndarray, rounds: int) -> np.ndarray:
    """Weighted Lloyd iterations: move each centre to the weighted mean of the points nearest it."""
    for _ in range(rounds):
        closest = nearest(points, centres)[0]
        total = np.bincount(closest, weights=weights, minlength=len(centres))
        moved = np.stack([np.bincount(closest, weights=weights * points[:, c], minlength=len(centres))
                          for c in range(3)], axis=1)
        keep = total > 0
        centres = centres.copy()
        centres[keep] = moved[keep] / total[keep, None]
    return centres
