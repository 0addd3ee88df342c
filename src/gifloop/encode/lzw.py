"""GIF LZW compression of one frame, lossless or lossy; the kernels are C (``_ckernels.c``).

``lzw_image`` returns what follows a frame's Graphic Control Extension in a GIF file: the Image
Descriptor (with an optional local colour table), the LZW minimum code size, the compressed pixels in
sub-blocks of at most 255 bytes, and the empty block that ends them.

Lossless coding is plain GIF LZW. The string table (up to 4096 codes) is a small hash table, so
extending the current string is nearly always one load from 64 KB. When the table is full the
encoder sends a clear code and starts again, as Pillow and giflib do: on video frames a "deferred
clear" (keep coding with the full table until the strings get shorter) made files 2-30 % larger,
because what a frame looks like changes down the picture. The kernels are plain C in
``gifloop.encode._ckernels`` (``_ckernels.c``, loaded with the module: no compiler at run time) and
release the GIL, so frames can be compressed on several threads.

Lossy coding (``lossy > 0``: the idea of gifsicle's ``--lossy``, written afresh). The first pixel of
each string is kept exact; from there the encoder searches the string table (depth first, exact
matches first, at most a few hundred entries per string) for the longest string whose pixels are
each either the wanted index or an index whose colour is close to the wanted colour. Fewer, longer
strings mean fewer codes, so fewer bytes; the decoded picture differs from the input by small colour
errors, which dithered frames hide well.

The search, in detail: depth first over the table's tree from the string's first pixel; a child entry
extends the string when its index is the wanted one, or when its colour is one of the wanted colour's
near colours (within the budget, listed once per palette) and stays within the carried-error limit
below. The exact child is explored first; the longest string found (least summed squared error among
equals) wins, after at most ``_SEARCH_NODES`` entries were expanded; it is then extended by exact
matches as far as they go. The candidates are the entry's children (a bit set of 256 symbols per
entry) AND the wanted colour's near colours (a bit set per index), each then looked up in the hash
table. (With the source, the entry's child list is walked, or each near colour looked up when there
are fewer of them.)

``lossy`` uses gifsicle's scale (0-200; 20 light, 80 strong, 200 very strong) and sets an error
budget in RGB levels of ``lossy_budget(lossy) = 1.75 * sqrt(lossy)`` (20 -> 7.8, 80 -> 15.7,
200 -> 24.7), calibrated so that a frame comes out about as small, and FLIP about as good, as with
gifsicle at the same number. Colour error is the "redmean" weighted RGB distance, scaled so that a
grey shift of d levels counts d (green weighs most, red and blue less). Two limits hold:

- each pixel's own error (colour written vs colour wanted) is at most the budget;
- so is the error carried along the row: a running sum of the substitutions' error vectors that
  decays by half per pixel. A substitution that would push the same way as the ones just before it
  is refused, one that cancels them is welcome, so the average colour of a run stays close to the
  source (error diffusion's idea, used as a limit).

With the source pixels (``rgb``), substitutions are judged against the true colour instead: a
substitute may be as far from the source colour s as ``(|wanted - s|^p + budget^p)^(1/p)`` (p = 1 by
default: the dither's own error plus the budget; colours within twice the budget of the wanted one
are tried), and the carried error is the running sum of the written colours' errors against the
source (exact pixels included), which a substitute may take no further than the wanted colour would,
or than the budget. On 480-px clips (3 s, 15 fps, Bayer) this was 5-7 % smaller at equal FLIP on a
fireplace, ~1.5 % on animation, and neutral to 1 % larger on a squirrel (Sierra: larger), so the GIF
writer does not pass the source; it is kept as an option to measure.

The transparent index (``transparent_index``) and indices outside the palette are never used as
substitutes, and never substituted unless ``under`` says what is on screen there: where a frame is
transparent it keeps what is on screen, so a colour turned transparent (or the other way) would be a
hole or a patch in the picture. With ``under`` (the index of the colour on screen under each
transparent pixel, which the GIF writer's differ knows), a transparent pixel may be written as that
colour (the same picture) or as a colour near it (within the budget, carried error included, as for
any pixel): on differenced frames most pixels of the box are transparent (27-88 % on the benchmark
cuts), and each one used to break the strings. At the same lossy value (and FLIP within 0.0003) the
six benchmark cuts came out 0.6-7.5 % smaller (fire lossy 40: 1,193 -> 1,103 kB), but the search
has more to try: the GIF pass takes 0.9-2.5x as long (squirrel lossy 40: 0.20 -> 0.45 s for 50 frames
at 480x270), after two changes that took a third off: the search finds its candidates in bit sets
(each entry's children AND the wanted colour's near colours) instead of walking the children's list,
and expands 64 entries a string instead of 256 where frames have transparent pixels. Trying near
colours at a transparent pixel only where the transparent string does not go on halved the extra
time but kept only 40 % of the saving; the whole saving was preferred.

>>> patch = np.array([[0, 1, 1, 1], [1, 1, 1, 0]], np.uint8)
>>> data = lzw_image(patch, (0, 0, 4, 2), code_size=2)
>>> data[:10].hex(" "), data[-1]
('2c 00 00 00 00 04 00 02 00 00', 0)
"""

from __future__ import annotations

import struct
import threading
from typing import Optional

import numpy as np

from . import _ckernels

# Lossy coding (see the module docstring).
_BUDGET_SCALE = 1.75  # budget in RGB levels = _BUDGET_SCALE * sqrt(lossy)
_CARRY = 0.5  # decay per pixel of the carried error
_DRIFT = 1.0  # limit of the carried error, in budgets
_REACH = 2.0  # with the source: substitutes are looked for within this many budgets of the wanted colour
_SOURCE_NORM = 1.0  # with the source: reach = (own error ** p + budget ** p) ** (1 / p); 0 means max
_SOURCE_DRIFT = 1.0  # with the source: limit of the carried error against the source, in budgets
_SEARCH_NODES = 256  # table entries expanded per string at most (1024 gains ~1-3 %, costs more)
# With ``under`` every transparent pixel brings its near colours into the search: a quarter of the
# entries keeps nearly all of the gain (seed recipe, lossy 29: 7.80 MB in 4.9 s at 256, 7.83 MB in
# 3.1 s at 64, 7.94 MB in 2.6 s at 32; 8.10 MB in 1.5 s without ``under``).
_SEARCH_NODES_UNDER = 64


def lzw_image(patch: np.ndarray, box: tuple[int, int, int, int], *, code_size: int,
              palette: Optional[np.ndarray] = None, lossy: int = 0, transparent_index: Optional[int] = None,
              local_palette: Optional[np.ndarray] = None, rgb: Optional[np.ndarray] = None,
              under: Optional[np.ndarray] = None) -> bytes:
    """Image descriptor and LZW-compressed pixels of ``patch`` ((h, w) uint8 indices) placed at ``box``.

    ``box`` is (left, top, right, bottom) on the logical screen; its size must be the patch's.
    ``code_size`` is the LZW minimum code size, max(2, bits of the colour table), 2..8; every index
    must be below ``1 << code_size``. ``palette`` ((n, 3) uint8, the colours the indices stand for) is
    needed when ``lossy > 0``; ``transparent_index`` is never substituted nor used as a substitute.
    ``local_palette`` ((n, 3) uint8) is written as the frame's local colour table (padded to a power
    of two, at least 2 entries); without it the frame uses the global table. Lossy coding compares the
    colours of the table the frame uses: ``local_palette`` when given, else ``palette``.
    ``lossy`` is on gifsicle's 0-200 scale (see ``lossy_budget``); 0 is exact.
    ``rgb`` ((h, w, 3) uint8, the source pixels of the patch) makes lossy coding judge substitutions
    against the source colour instead of the wanted index's colour (see the module docstring); it is
    ignored when ``lossy`` is 0.
    ``under`` ((h, w) uint8, lossy coding by the index rule only) gives, at each transparent pixel,
    the index of the colour on screen there (``transparent_index`` where it is unknown): that colour,
    or one near it, may be written instead of the transparent index (see the module docstring).
    """
    patch = np.asarray(patch)
    if patch.ndim != 2 or patch.dtype != np.uint8:
        raise ValueError(f"patch must be a 2-D uint8 array, got {patch.dtype} {patch.shape}")
    h, w = patch.shape
    left, top, right, bottom = (int(v) for v in box)
    if (right - left, bottom - top) != (w, h):
        raise ValueError(f"box {tuple(box)} is {right - left}x{bottom - top}, patch is {w}x{h}")
    if h == 0 or w == 0:
        raise ValueError("a GIF frame has at least one pixel")
    if not 2 <= code_size <= 8:
        raise ValueError(f"LZW code size must be 2..8, got {code_size}")
    pixels = np.ascontiguousarray(patch).reshape(-1)
    if code_size < 8 and int(pixels.max()) >> code_size:
        raise ValueError(f"index {int(pixels.max())} does not fit LZW code size {code_size}")
    if lossy < 0:
        raise ValueError(f"lossy must be >= 0, got {lossy}")
    head = _descriptor(left, top, w, h, local_palette)
    if lossy > 0:
        if palette is None and local_palette is None:
            raise ValueError("lossy LZW needs the palette")
        budget = lossy_budget(lossy)
        table = palette if local_palette is None else local_palette
        if rgb is None:
            near = _near_table(table, code_size, transparent_index, budget)
            source = np.zeros((1, 3), np.float32)
        else:
            rgb = np.asarray(rgb)
            if rgb.shape[:2] != (h, w) or rgb.ndim != 3 or rgb.shape[2] < 3:
                raise ValueError(f"rgb must be the patch's source pixels, ({h}, {w}, 3), got {rgb.shape}")
            near = _near_table(table, code_size, transparent_index, _REACH * budget)
            source = np.ascontiguousarray(rgb[..., :3], np.float32).reshape(-1, 3)
        drift = _DRIFT if rgb is None else _SOURCE_DRIFT
        nodes = _SEARCH_NODES if under is None else _SEARCH_NODES_UNDER
        if under is not None:
            under = np.asarray(under)
            if under.shape != (h, w) or under.dtype != np.uint8 or rgb is not None or transparent_index is None:
                raise ValueError(f"under must be ({h}, {w}) uint8, for lossy coding by the index rule with a "
                                 f"transparent index, got {under.dtype} {under.shape}")
            under = np.ascontiguousarray(under).reshape(-1)
        data = _ckernels.lzw_lossy(pixels, code_size, *near, budget, _CARRY, drift, nodes, source,
                                   rgb is not None, _SOURCE_NORM, under)
    else:
        data = _ckernels.lzw_lossless(pixels, code_size)
    return head + bytes((code_size,)) + data


def lossy_budget(lossy: float) -> float:
    """The colour error (RGB levels, weighted distance) that ``lossy`` allows each pixel: 1.75 * sqrt(lossy).

    >>> [round(lossy_budget(v), 1) for v in (0, 20, 80, 200)]
    [0.0, 7.8, 15.7, 24.7]
    """
    return _BUDGET_SCALE * float(lossy) ** 0.5


def table_bits(entries: int) -> int:
    """Bits of a GIF colour table holding ``entries`` colours (tables have 2, 4, ..., 256 entries).

    >>> [table_bits(n) for n in (1, 2, 3, 5, 256)]
    [1, 1, 2, 3, 8]
    """
    return max(1, (max(entries, 2) - 1).bit_length())


def colour_table(palette: np.ndarray, bits: int) -> bytes:
    """A GIF colour table: ``palette`` ((n, 3) uint8) padded with black to ``1 << bits`` entries."""
    table = np.zeros((1 << bits, 3), np.uint8)
    table[: len(palette)] = palette
    return table.tobytes()


def _descriptor(left: int, top: int, width: int, height: int, local_palette: Optional[np.ndarray]) -> bytes:
    """The Image Descriptor (no interlace), followed by the local colour table when there is one."""
    if local_palette is None:
        return struct.pack("<BHHHHB", 0x2C, left, top, width, height, 0)
    table = np.asarray(local_palette, np.uint8).reshape(-1, 3)
    if not 1 <= len(table) <= 256:
        raise ValueError(f"a local colour table has 1..256 colours, got {len(table)}")
    bits = table_bits(len(table))
    return struct.pack("<BHHHHB", 0x2C, left, top, width, height, 0x80 | (bits - 1)) + colour_table(table, bits)


def _near_table(palette: np.ndarray, code_size: int, transparent_index: Optional[int], budget: float) -> tuple:
    """The colours (float32, one row per index of the code size) and, for each index, the others
    within ``budget`` (see ``_near_colours``); the last few are kept, as frames share them."""
    table = np.asarray(palette, np.uint8).reshape(-1, 3)
    size = 1 << code_size
    colours = np.zeros((size, 3), np.float32)
    usable = np.zeros(size, np.bool_)
    count = min(len(table), size)
    colours[:count] = table[:count]
    usable[:count] = True
    if transparent_index is not None and 0 <= transparent_index < size:
        usable[transparent_index] = False  # only ever itself
    key = (colours.tobytes(), usable.tobytes(), budget)
    near = _near_cache.get(key)
    if near is None:
        near = (colours, usable) + _near_colours(colours, usable, budget * budget)
        with _near_lock:
            while len(_near_cache) >= 8:
                del _near_cache[next(iter(_near_cache))]
            _near_cache[key] = near
    return near


_near_cache: dict = {}
_near_lock = threading.Lock()


def _near_colours(colours: np.ndarray, usable: np.ndarray, limit: float) -> tuple:
    """For each index, the other usable indices whose colour is within the budget (squared "redmean"
    distance ``limit``, see the module docstring): CSR lists (start offsets, indices), where each pair
    is in them (-1: not near), and per pair the difference to the wanted colour and its squared distance
    (one row of four: dr, dg, db, distance)."""
    nsym = len(colours)
    start = np.empty(nsym + 1, np.int32)
    near = np.empty(nsym * nsym, np.int32)
    index = np.empty((nsym, nsym), np.int32)
    pairs = np.empty((nsym * nsym, 4), np.float64)
    count = _ckernels.near_colours(colours, usable, limit, start, near, index, pairs)
    return start, near[:count].copy(), index, pairs[:count].copy()
