"""Map RGB frames onto a palette, with optional dithering.

Nearest colours come from a lookup table over 6-bit-per-channel RGB (perceptually nearest in OKLab,
exact search in C), filled lazily for the cells frames actually use, so a palette used for one frame costs
little. Ordered dithers (Bayer, blue noise) add the same threshold texture to every frame: a pixel
whose colour does not change keeps its index, which keeps still areas still and lets the GIF writer
skip them. Error diffusion (Floyd-Steinberg, Sierra) runs in a compiled kernel (``dither.py``) and
can hold still pixels to their previous index (``keep=``, ``previous=``).

>>> remapper = Remapper(palette, dither="blue-noise")   # doctest: +SKIP
>>> indices = remapper.remap(frame)                   # (H, W) uint8 palette indices  # doctest: +SKIP
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np

from ..errors import InvalidParameterError
from .colorspace import srgb_cube_to_oklab, srgb_to_oklab
from .dither import KERNELS, bayer_texture, blue_noise_texture, diffuse, error_limits, neighbour_distances
from ._ckernels import remap_ordered
from .nearest import nearest
from .palette import pack_rgb

ORDERED_DITHERS = ("bayer", "blue-noise")
DIFFUSION_DITHERS = tuple(KERNELS)  # floyd-steinberg, sierra
DITHER_METHODS = ORDERED_DITHERS + DIFFUSION_DITHERS + ("none",)

_LUT_BITS = 6
_SHIFT = 8 - _LUT_BITS


_TEXTURE_BITS = 8  # ordered-dither thresholds in 1/256 steps
_DENSE_SHARE, _SPARSE_COLOURS = 0.75, 16  # error diffusion: see Remapper.__init__
_UNSET = -1


class Remapper:
    """Turns RGB frames into palette indices for one fixed palette.

    The ordered dithers' amplitude follows the palette locally: around each palette colour it is the
    gap to that colour's nearest neighbour, so sparse regions (a sky with few shades) get enough
    dither to hide bands, and dense ones (skin tones) get little noise. ``strength`` scales it
    (0 = no dither, 1 = the default); for error diffusion it scales the error passed on.
    """

    def __init__(self, palette: np.ndarray, dither: str = "bayer", strength: float = 1.0, exact: bool = False):
        check_dither(dither, strength)
        self.palette = np.asarray(palette, np.uint8).reshape(-1, 3)
        # ``exact``: the palette holds every colour of the frames (few-colour clips), so each pixel
        # maps to its own colour and dithering would only add noise.
        self.exact = exact
        self.dither = dither if strength > 0 and not exact else "none"
        self.strength = strength
        self._lut = _LazyTable.for_palette(self.palette)
        # Per palette entry, the ordered dithers' amplitude in levels (see _tile): the distance to
        # the nearest other colour per channel (Euclidean / sqrt 3; two greys 255 apart are 441 apart
        # in RGB, and a threshold spread of 255 per channel reproduces every grey in between).
        distances = neighbour_distances(self.palette)
        gaps = np.nan_to_num(distances / np.sqrt(3), posinf=0.0)
        self._amplitude = np.round(strength * gaps).astype(np.int32)
        # Error diffusion's limits: once per palette, not per frame.
        self._limits = error_limits(self.palette, distances) if self.diffuses else None
        # Error diffusion passes on three quarters of each pixel's error when the palette is dense:
        # with 256 colours the full error adds more noise than it removes (480 px cuts, FLIP/bytes
        # at 0.75 against 1: squirrel 0.0198/2042 kB vs 0.0222/2052, screen recording 0.0239/93 vs
        # 0.0248/103, water 0.0361 vs 0.0383 at +3 % bytes, bbb and fire within 0.001 at -2-3 %;
        # SSIM better on all). A sparse palette needs all of it to keep average tones.
        self._share = _DENSE_SHARE if len(self.palette) > _SPARSE_COLOURS else 1.0
        # Exact palettes: each colour as 0xRRGGBB, for the compiled mapping's hash lookup.
        self._exact_keys = np.ascontiguousarray(pack_rgb(*self.palette.T), np.int32) if exact else None
        self._pattern: np.ndarray | None = None

    @property
    def diffuses(self) -> bool:
        """True for error diffusion, whose output depends on the previous frame's (see ``remap``)."""
        return self.dither in DIFFUSION_DITHERS

    def remap(self, image: np.ndarray, keep: np.ndarray | None = None,
              previous: np.ndarray | None = None) -> np.ndarray:
        """Palette indices (H, W) uint8 for an RGB(A) frame (H, W, 3|4) uint8.

        For error diffusion, ``keep`` (H, W) bool marks pixels that take their index from
        ``previous`` (the last frame's indices) instead of being dithered again.
        """
        if self.diffuses:
            return diffuse(image, self.palette, self._lut.complete(), kernel=self.dither,
                           strength=self.strength * self._share, keep=keep, previous=previous,
                           limits=self._limits)
        return self._ordered(image)

    def _ordered(self, image: np.ndarray) -> np.ndarray:
        """Look each pixel up, offset every channel by the threshold texture scaled to the local
        palette gap, look up again (one compiled pass, which fills cells not yet in the table).
        An exact palette maps each pixel to its own colour, and only strays to the nearest."""
        if image.strides[1] != image.shape[2]:
            image = np.ascontiguousarray(image)
        tile = self._tile()
        out = np.empty(image.shape[:2], np.uint8)
        extra = () if self._exact_keys is None else (self._exact_keys,)
        remap_ordered(image, self._lut.table, self._amplitude, tile, tile.shape[-1], out, _grid_oklab(),
                      self._lut.oklab, *extra)
        return out

    def _tile(self) -> np.ndarray:
        """The threshold texture's tile in 1/256 steps from -128 to +127 (int32; empty: no dither)."""
        if self._pattern is None:
            if self.dither == "none":
                self._pattern = np.zeros((0, 0), np.int32)
            else:
                tile = bayer_texture(8) if self.dither == "bayer" else blue_noise_texture()
                self._pattern = np.ascontiguousarray(np.round(tile * (1 << _TEXTURE_BITS)).astype(np.int32))
        return self._pattern


def check_dither(dither: str, strength: float = 1.0) -> None:
    """Raise a one-line error for an unknown dither name or a strength outside 0-2."""
    if dither not in DITHER_METHODS:
        raise InvalidParameterError(f"unknown dither {dither!r}; choose one of {', '.join(DITHER_METHODS)}")
    if not isinstance(strength, (int, float)) or not 0 <= strength <= 2:
        raise InvalidParameterError(f"dither strength must be between 0 and 2, got {strength!r}")


class _LazyTable:
    """The nearest palette index of every 6-bit RGB cell, looked up in OKLab on first use.

    A frame touches a few thousand of the 262,144 cells; filling only those makes a palette cheap
    enough to plan one per frame. Threads may race to fill the same cells: they write the same
    values, so no lock is needed.
    """

    _recent: "OrderedDict[bytes, _LazyTable]" = OrderedDict()  # by palette, most recent last
    _RECENT = 8

    def __init__(self, palette: np.ndarray):
        self.table = np.full(1 << (3 * _LUT_BITS), _UNSET, np.int16)  # -1 where not filled yet
        self._complete: np.ndarray | None = None
        self.oklab = np.ascontiguousarray(srgb_to_oklab(palette))

    @classmethod
    def for_palette(cls, palette: np.ndarray) -> "_LazyTable":
        """The table of this palette, shared by its remappers: the size search maps the same
        palette with several dither strengths, and each would otherwise fill its table again."""
        key = palette.tobytes()
        with _shared_lock:
            table = cls._recent.pop(key, None) or cls(palette)
            cls._recent[key] = table
            while len(cls._recent) > cls._RECENT:
                cls._recent.popitem(last=False)
        return table

    def complete(self) -> np.ndarray:
        """The whole table as uint8 (for the compiled error-diffusion kernel, which may go anywhere)."""
        if self._complete is None:
            missing = np.flatnonzero(self.table < 0)
            if missing.size:
                self.fill(missing)
            self._complete = self.table.astype(np.uint8)
        return self._complete

    def fill(self, cells: np.ndarray) -> None:
        """Look up these cells (flat indices) in OKLab."""
        self.table[cells] = nearest(_grid_oklab()[cells], self.oklab)[0]


_grid: list[np.ndarray] = []
_shared_lock = threading.Lock()  # guards the shared grid and the table cache


def _grid_oklab() -> np.ndarray:
    """OKLab of the centre of every lookup-table cell (the same for every palette: computed once,
    by whichever worker thread needs it first; the others wait rather than compute it again)."""
    with _shared_lock:
        if not _grid:
            centres = (np.arange(1 << _LUT_BITS) << _SHIFT) + (1 << _SHIFT) // 2
            _grid.append(np.ascontiguousarray(srgb_cube_to_oklab(centres)))
        return _grid[0]
