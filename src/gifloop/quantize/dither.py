"""Dither patterns and error diffusion: the threshold textures for ordered dithering, and a compiled
serpentine error-diffusion kernel (Floyd-Steinberg or Sierra; C, ``diffuse_rows`` in
``gifloop/encode/_ckernels.c``) that can keep still pixels still.

Ordered dithering adds a fixed threshold texture to every frame, so an unchanged pixel keeps its
index. Error diffusion carries each pixel's rounding error to its neighbours: smoother gradients,
but a change anywhere ripples through everything after it in scan order, which makes still areas
shimmer between frames and defeats frame differencing. ``diffuse(..., keep=, previous=)`` fixes
pixels whose source did not change to the index they had in the previous frame, and diffuses
from there, so only what moved is re-dithered.

>>> bayer_texture().shape, blue_noise_texture().shape
((8, 8), (64, 64))
>>> float(blue_noise_texture().min()), float(blue_noise_texture().max())
(-0.5, 0.499755859375)
"""

from __future__ import annotations

import functools

import numpy as np

from ..encode._ckernels import diffuse_rows

# Error-diffusion kernels as (dy, dx, weight) taps relative to the current pixel, for a left-to-right
# row; right-to-left rows mirror dx. Weights sum to 1.
KERNELS = {
    "floyd-steinberg": ((0, 1, 7 / 16), (1, -1, 3 / 16), (1, 0, 5 / 16), (1, 1, 1 / 16)),
    # Frankie Sierra's three-row filter: spreads error wider than Floyd-Steinberg, fewer worm artefacts.
    "sierra": ((0, 1, 5 / 32), (0, 2, 3 / 32),
               (1, -2, 2 / 32), (1, -1, 4 / 32), (1, 0, 5 / 32), (1, 1, 4 / 32), (1, 2, 2 / 32),
               (2, -1, 2 / 32), (2, 0, 3 / 32), (2, 1, 2 / 32)),
}

# Diffused error is clamped to this many levels per channel, or to the gap between the chosen
# colour and its nearest neighbour if that is wider: unbounded error makes streaks after edges in
# colours the palette lacks, while a clamp below the gap would bias the average (a black-and-white
# palette must be free to pass on up to half of 255).
_ERROR_LIMIT = 40.0


def bayer_texture(n: int = 8) -> np.ndarray:
    """The n x n Bayer threshold matrix as offsets in [-0.5, 0.5) (n a power of two)."""
    m = np.zeros((1, 1), np.int64)
    while m.shape[0] < n:
        m = np.block([[4 * m, 4 * m + 2], [4 * m + 3, 4 * m + 1]])
    return (m / (n * n) - 0.5).astype(np.float64)


@functools.lru_cache(maxsize=None)
def blue_noise_texture(size: int = 64, sigma: float = 1.5, seed: int = 7) -> np.ndarray:
    """A size x size blue-noise threshold texture in [-0.5, 0.5), made by Ulichney's void-and-cluster
    method (1993) on a torus, so it tiles without seams.

    Blue noise has no low-frequency structure: dithered flat areas look like fine even grain instead
    of the Bayer matrix's cross-hatch. The texture is the same on every call (fixed seed), and thus
    the same on every frame, so still pixels keep their index.
    """
    n = size * size
    kernel = _torus_gaussian(size, sigma)
    rng = np.random.default_rng(seed)
    ones = np.zeros(n, bool)
    ones[rng.choice(n, n // 10, replace=False)] = True
    energy = np.zeros(n)
    for p in np.flatnonzero(ones):
        energy += _shifted(kernel, p, size)

    # 1. Relax the random start into an even prototype: move the tightest cluster into the largest
    # void until the two coincide.
    while True:
        cluster = int(np.argmax(np.where(ones, energy, -np.inf)))
        ones[cluster] = False
        energy -= _shifted(kernel, cluster, size)
        void = int(np.argmin(np.where(ones, np.inf, energy)))
        ones[void] = True
        energy += _shifted(kernel, void, size)
        if void == cluster:
            break

    rank = np.zeros(n, np.int64)
    prototype, prototype_energy = ones.copy(), energy.copy()
    # 2. Rank the prototype's points: removing the tightest cluster each time gives descending ranks.
    count = int(ones.sum())
    for r in range(count - 1, -1, -1):
        cluster = int(np.argmax(np.where(ones, energy, -np.inf)))
        ones[cluster] = False
        energy -= _shifted(kernel, cluster, size)
        rank[cluster] = r
    # 3. Fill the rest: filling the largest void each time gives ascending ranks.
    ones, energy = prototype, prototype_energy
    for r in range(count, n):
        void = int(np.argmin(np.where(ones, np.inf, energy)))
        ones[void] = True
        energy += _shifted(kernel, void, size)
        rank[void] = r
    return (rank.reshape(size, size) / n - 0.5).astype(np.float64)


def _torus_gaussian(size: int, sigma: float) -> np.ndarray:
    d = np.minimum(np.arange(size), size - np.arange(size)).astype(np.float64)
    g = np.exp(-(d ** 2) / (2 * sigma ** 2))
    return np.outer(g, g).ravel()


def _shifted(kernel: np.ndarray, position: int, size: int) -> np.ndarray:
    """The torus Gaussian centred on ``position`` (flat index), flattened."""
    y, x = divmod(position, size)
    return np.roll(kernel.reshape(size, size), (y, x), axis=(0, 1)).ravel()


def diffuse(rgb: np.ndarray, palette: np.ndarray, lut: np.ndarray, *, kernel: str = "floyd-steinberg",
            strength: float = 1.0, keep: np.ndarray | None = None, previous: np.ndarray | None = None,
            limits: np.ndarray | None = None) -> np.ndarray:
    """Palette indices (H, W) uint8 for ``rgb`` (H, W, 3+) by serpentine error diffusion.

    ``lut`` maps 6-bit-per-channel RGB cells (r << 12 | g << 6 | b) to the nearest palette index.
    With ``keep`` (H, W) bool and ``previous`` (H, W) uint8, kept pixels take their previous index
    (the error they make is still passed on, so their neighbours stay consistent with them).
    ``limits`` (from ``error_limits``) can be passed in by a caller that maps many frames to one palette.

    >>> pal = np.array([[0, 0, 0], [255, 255, 255]], np.uint8)
    >>> lut = np.where(np.arange(1 << 18) >> 17, 1, 0).astype(np.uint8)  # red's top bit decides
    >>> grey = np.full((4, 4, 3), 128, np.uint8)
    >>> int(diffuse(grey, pal, lut).sum())  # about half the pixels turn white
    8
    """
    taps = np.array(KERNELS[kernel], np.float64)
    palette = np.asarray(palette, np.float32).reshape(-1, 3)
    h, w = rgb.shape[:2]
    if keep is None or previous is None:
        keep = np.zeros((1, 1), np.bool_)
        previous = np.zeros((1, 1), np.uint8)
    out = np.empty((h, w), np.uint8)
    # The kernel reads RGB(A) through its strides: no copy of a decoded frame's padded RGBA rows.
    diffuse_rows(np.asarray(rgb), palette, np.ascontiguousarray(lut, np.uint8),
                 taps[:, 0].astype(np.int64), taps[:, 1].astype(np.int64), (taps[:, 2] * strength).astype(np.float32),
                 error_limits(palette) if limits is None else np.ascontiguousarray(limits, np.float32),
                 np.ascontiguousarray(keep, np.bool_), np.ascontiguousarray(previous, np.uint8), out)
    return out


def neighbour_distances(palette: np.ndarray) -> np.ndarray:
    """Per palette colour, the RGB (Euclidean) distance to its nearest other colour (inf when alone)."""
    palette = np.asarray(palette, np.float64).reshape(-1, 3)
    if len(palette) < 2:
        return np.full(len(palette), np.inf)
    # At most 256 x 256 pairs: a plain distance matrix is cheaper than building any search tree.
    d2 = ((palette[:, None, :] - palette[None, :, :]) ** 2).sum(axis=2)
    np.fill_diagonal(d2, np.inf)
    return np.sqrt(d2.min(axis=1))


def error_limits(palette: np.ndarray, distances: np.ndarray | None = None) -> np.ndarray:
    """Per palette entry, how far (per channel) the error it leaves may go (see _ERROR_LIMIT).
    ``distances``: the palette's ``neighbour_distances``, when the caller has them already."""
    distances = neighbour_distances(palette) if distances is None else distances
    limits = np.maximum(_ERROR_LIMIT, distances / 2)
    return np.minimum(limits, 255).astype(np.float32)
