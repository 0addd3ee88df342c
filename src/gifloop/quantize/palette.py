"""Plan one palette for a whole animation: a colour histogram of every frame, then median cut
refined by weighted k-means in OKLab.

Planning (this module) and applying (``remap``) are separate steps, so other palette strategies
(per frame, per scene) can sit behind the same two calls.

>>> hist = ColorHistogram()
>>> hist.add(frame)                                   # doctest: +SKIP
>>> palette = plan_palette(hist, colors=255)          # (n, 3) uint8 sRGB   # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from .colorspace import oklab_to_srgb, srgb_to_oklab

_BITS = 6  # 64 levels per channel: 262144 bins
_LEVELS = 1 << _BITS
# Counting every third pixel in each direction gives the same palette at a ninth of the cost.
_SUBSAMPLE = 3
_KMEANS_ROUNDS = 8
ALPHA_CUT = 128  # GIF pixels are opaque or transparent: alpha below this becomes transparent


class ColorHistogram:
    """Counts of colours, 6 bits per channel (a bin's centre is within 2 levels of its colours)."""

    _BATCH = 1 << 20  # pixels gathered before one bincount: one pass over the bins per ~1M pixels

    def __init__(self) -> None:
        self.counts = np.zeros(_LEVELS ** 3, np.int64)
        self._pending: list[np.ndarray] = []
        self._pending_size = 0

    def add(self, image: np.ndarray) -> None:
        """Count the colours of one RGB(A) frame (H, W, 3|4) uint8; transparent pixels do not count."""
        sample = image[::_SUBSAMPLE, ::_SUBSAMPLE]
        q = sample[..., :3] >> (8 - _BITS)
        bins = q[..., 0].astype(np.int32) << (2 * _BITS)
        bins |= q[..., 1].astype(np.int32) << _BITS
        bins |= q[..., 2]
        bins = bins.ravel()
        if image.shape[-1] == 4:
            opaque = sample[..., 3].ravel() >= ALPHA_CUT
            if not opaque.all():
                bins = bins[opaque]
        self._pending.append(bins)
        self._pending_size += bins.size
        if self._pending_size >= self._BATCH:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            self.counts += np.bincount(np.concatenate(self._pending), minlength=self.counts.size)
            self._pending, self._pending_size = [], 0

    def colors(self) -> tuple[np.ndarray, np.ndarray]:
        """The colours seen (bin centres, (n, 3) float sRGB) and how often each was seen."""
        self._flush()
        used = np.nonzero(self.counts)[0]
        mask = _LEVELS - 1
        levels = np.stack([used >> (2 * _BITS), (used >> _BITS) & mask, used & mask], axis=1)
        centres = (levels << (8 - _BITS)) + (1 << (7 - _BITS))
        return centres.astype(np.float64), self.counts[used].astype(np.float64)


def plan_palette(hist: ColorHistogram, colors: int = 256) -> np.ndarray:
    """Choose up to ``colors`` sRGB colours (uint8, shape (n, 3)) for the counted pixels.

    >>> h = ColorHistogram(); h.add(np.zeros((4, 4, 3), np.uint8))
    >>> plan_palette(h, 16).tolist()  # the centre of black's histogram bin
    [[2, 2, 2]]
    """
    means, weights = hist.colors()
    if len(means) == 0:
        return np.zeros((1, 3), np.uint8)
    if len(means) <= colors:
        return np.unique(np.round(means).astype(np.uint8), axis=0)
    lab = srgb_to_oklab(means)
    centres = _median_cut(lab, weights, colors)
    centres = _kmeans(lab, weights, centres, _KMEANS_ROUNDS)
    return np.unique(oklab_to_srgb(centres), axis=0)


def _median_cut(points: np.ndarray, weights: np.ndarray, count: int) -> np.ndarray:
    """Split the weighted points into ``count`` boxes, always splitting the box with the largest
    weighted spread at its weighted median along its widest axis; return the boxes' means."""
    boxes = [np.arange(len(points))]
    scores = [_spread(points, weights, boxes[0])]
    while len(boxes) < count:
        i = int(np.argmax(scores))
        if scores[i] <= 0:
            break
        members = boxes[i]
        pts = points[members]
        axis = int(np.argmax(pts.max(0) - pts.min(0)))
        order = members[np.argsort(pts[:, axis], kind="stable")]
        cum = np.cumsum(weights[order])
        cut = int(np.searchsorted(cum, cum[-1] / 2))
        cut = min(max(cut, 1), len(order) - 1)
        left, right = order[:cut], order[cut:]
        boxes[i], scores[i] = left, _spread(points, weights, left)
        boxes.append(right)
        scores.append(_spread(points, weights, right))
    return np.array([np.average(points[b], axis=0, weights=weights[b]) for b in boxes])


def _spread(points: np.ndarray, weights: np.ndarray, members: np.ndarray) -> float:
    if len(members) < 2:
        return 0.0
    w = weights[members]
    pts = points[members]
    mean = np.average(pts, axis=0, weights=w)
    return float(np.sum(w[:, None] * (pts - mean) ** 2))


def _kmeans(points: np.ndarray, weights: np.ndarray, centres: np.ndarray, rounds: int) -> np.ndarray:
    """Weighted Lloyd iterations: move each centre to the weighted mean of the points nearest it."""
    for _ in range(rounds):
        _, nearest = cKDTree(centres).query(points)
        total = np.bincount(nearest, weights=weights, minlength=len(centres))
        moved = np.stack([np.bincount(nearest, weights=weights * points[:, c], minlength=len(centres))
                          for c in range(3)], axis=1)
        keep = total > 0
        centres = centres.copy()
        centres[keep] = moved[keep] / total[keep, None]
    return centres
