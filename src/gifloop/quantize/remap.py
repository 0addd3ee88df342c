"""Map RGB frames onto a palette, with optional dithering, as whole-frame NumPy operations.

Nearest colours come from a lookup table over 6-bit-per-channel RGB (built once per palette with a
KD-tree in OKLab), so mapping a frame is a handful of array operations. The default ordered (Bayer)
dither adds the same threshold pattern to every frame: a pixel whose colour does not change keeps
its index, which is what keeps still areas still and lets the GIF writer skip them.

>>> remapper = Remapper(palette, dither="bayer")     # doctest: +SKIP
>>> indices = remapper.remap(frame)                   # (H, W) uint8 palette indices  # doctest: +SKIP
"""

from __future__ import annotations

import functools

import numpy as np
from PIL import Image
from scipy.spatial import cKDTree

from ..errors import InvalidParameterError
from .colorspace import srgb_to_oklab

DITHER_METHODS = ("bayer", "floyd-steinberg", "none")

_LUT_BITS = 6
_SHIFT = 8 - _LUT_BITS


def _bayer(n: int) -> np.ndarray:
    """The n x n Bayer threshold matrix (n a power of two) with values 0 .. n*n-1."""
    m = np.zeros((1, 1), np.int64)
    while m.shape[0] < n:
        m = np.block([[4 * m, 4 * m + 2], [4 * m + 3, 4 * m + 1]])
    return m


_BAYER8_LEVELS = _bayer(8)  # 0..63


class Remapper:
    """Turns RGB frames into palette indices for one fixed palette.

    The ordered dither's amplitude follows the palette locally: around each palette colour it is the
    gap to that colour's nearest neighbour, so sparse regions (a sky with few shades) get enough
    dither to hide bands, and dense ones (skin tones) get little noise. ``strength`` scales it
    (0 = no dither, 1 = the default).
    """

    def __init__(self, palette: np.ndarray, dither: str = "bayer", strength: float = 1.0):
        if dither not in DITHER_METHODS:
            raise InvalidParameterError(f"unknown dither {dither!r}; choose one of {', '.join(DITHER_METHODS)}")
        if not 0 <= strength <= 2:
            raise InvalidParameterError(f"dither strength must be between 0 and 2, got {strength:g}")
        self.palette = np.asarray(palette, np.uint8).reshape(-1, 3)
        self.dither = dither if strength > 0 else "none"
        self._lut = _lookup_table(self.palette)
        # Per palette entry, the dither amplitude in 1/64 units of the Bayer matrix (see _threshold).
        self._amplitude = np.round(strength * _neighbour_gaps(self.palette)).astype(np.int32)
        self._pattern: dict[tuple[int, int], np.ndarray] = {}
        self._pil_palette = _pil_palette(self.palette) if self.dither == "floyd-steinberg" else None

    def remap(self, image: np.ndarray) -> np.ndarray:
        """Palette indices (H, W) uint8 for an RGB(A) frame (H, W, 3|4) uint8."""
        if self.dither == "floyd-steinberg":
            return self._error_diffusion(image[..., :3])
        # One int32 plane per channel: whole-plane operations, no broadcasting over a length-3 axis
        # (that alone cost more than everything else here).
        r, g, b = (image[..., c].astype(np.int32) for c in range(3))
        nearest = self._lut[_cell_index(r, g, b)]
        if self.dither == "none":
            return nearest
        # Offset every channel by the Bayer threshold scaled to the local palette gap, look up again.
        offset = self._amplitude[nearest] * self._threshold(image.shape[:2])
        offset >>= 6
        for plane in (r, g, b):
            plane += offset
            np.clip(plane, 0, 255, out=plane)
        return self._lut[_cell_index(r, g, b)]

    def _threshold(self, shape: tuple[int, int]) -> np.ndarray:
        """The Bayer matrix tiled over the frame, in 1/64 steps from -32 to +31 (int32)."""
        pattern = self._pattern.get(shape)
        if pattern is None:
            h, w = shape
            reps = (-(-h // 8), -(-w // 8))
            pattern = (np.tile(_BAYER8_LEVELS, reps)[:h, :w] - 32).astype(np.int32)
            self._pattern[shape] = pattern
        return pattern

    def _error_diffusion(self, rgb: np.ndarray) -> np.ndarray:
        # Pillow's C Floyd-Steinberg; it flickers between frames, so it is not the default.
        img = Image.fromarray(np.ascontiguousarray(rgb))
        out = img.quantize(palette=self._pil_palette, dither=Image.Dither.FLOYDSTEINBERG)
        indices = np.asarray(out, np.uint8)
        return np.minimum(indices, len(self.palette) - 1)


def _pil_palette(palette: np.ndarray) -> Image.Image:
    """A Pillow palette image for ``quantize`` (unused entries repeat the last colour)."""
    image = Image.new("P", (1, 1))
    flat = palette.reshape(-1).tolist()
    image.putpalette(flat + flat[-3:] * (256 - len(palette)))
    return image


def _cell_index(r: np.ndarray, g: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Lookup-table cell of each pixel, from int32 channel planes with values 0-255."""
    index = r >> _SHIFT
    index <<= 2 * _LUT_BITS
    high = g >> _SHIFT
    high <<= _LUT_BITS
    index |= high
    index |= b >> _SHIFT
    return index


def _neighbour_gaps(palette: np.ndarray) -> np.ndarray:
    """Per palette colour, the distance to its nearest neighbour per channel (Euclidean / sqrt 3).

    Two greys 255 apart are 441 apart in RGB; a threshold spread of 255 per channel is what makes an
    ordered dither between them reproduce every grey in between.
    """
    if len(palette) < 2:
        return np.zeros(len(palette))
    distances, _ = cKDTree(palette.astype(np.float64)).query(palette.astype(np.float64), k=2)
    return distances[:, 1] / np.sqrt(3)


def _lookup_table(palette: np.ndarray) -> np.ndarray:
    """For every 6-bit RGB cell, the index of the perceptually nearest palette colour."""
    _, nearest = cKDTree(srgb_to_oklab(palette)).query(_grid_oklab())
    return nearest.astype(np.uint8)


@functools.lru_cache(maxsize=1)
def _grid_oklab() -> np.ndarray:
    """OKLab of the centre of every lookup-table cell (the same for every palette: computed once)."""
    levels = 1 << _LUT_BITS
    centres = (np.arange(levels) << _SHIFT) + (1 << _SHIFT) // 2
    grid = np.stack(np.meshgrid(centres, centres, centres, indexing="ij"), axis=-1).reshape(-1, 3)
    return srgb_to_oklab(grid)
