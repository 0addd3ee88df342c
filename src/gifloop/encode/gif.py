"""Animated GIF writer: exact delays, frame differencing, transparent unchanged pixels, merged
duplicates, per-frame palettes and lossy compression.

The file structure (header, palettes, loop extension, per-frame control blocks) is written here;
the LZW compression of each frame's pixels is ``lzw.py`` (a C coder, exact or lossy; a third faster
than Pillow's on whole frames).

Each new frame is compared, by colour, with what the viewer currently sees. Only the rectangle
that changed is stored; inside it, pixels that did not change become the transparent index (long
runs of one value compress well). A frame with no change adds its delay to the previous frame.
Because the comparison is by colour, a frame may bring its own palette (a local colour table)
and still only store what changed.

>>> with open("out.gif", "wb") as fp:                                          # doctest: +SKIP
...     gif = GifWriter(fp, (640, 480), palette, loop=0)
...     for t, indices, rgb in frames:
...         gif.add(t, indices, rgb)
...     gif.close(end_time=2.0)
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import IO, Optional

import numpy as np

from ..quantize.palette import ALPHA_CUT
from ._cdiff import difference
from .lzw import colour_table, lzw_image, table_bits

MIN_DELAY_CS = 2  # browsers play delays of 0 or 1 cs as 10 cs, so frames never get less than 2
_MAX_DELAY_CS = 0xFFFF


def centiseconds(seconds: float) -> int:
    """Round a time to whole centiseconds (half up), the unit of GIF delays.

    >>> [centiseconds(k / 12) for k in range(4)]
    [0, 8, 17, 25]
    """
    return int(np.floor(seconds * 100 + 0.5))


@dataclass
class _Encoded:
    """A frame already compressed, held back until we know it is not followed by a duplicate."""

    delay: int
    transparent: bool
    body: bytes  # image descriptor (+ local colour table) + LZW data
    disposal: int = 1  # 1: leave the frame for the next; 2: clear it to transparent after showing
    transparent_index: int = 0


class GifWriter:
    """Writes frames given as palette indices with their start times (seconds).

    ``palette`` is the global table of real colours (at most 255 when ``transparency`` is on, which
    reserves the index right after them); a frame may come with its own palette instead (same
    rule). ``tolerance`` lets pixels whose source colour moved by at most that many levels (per
    channel) keep what is on screen, which hides compression noise from the differ. ``lossy``
    (0-200) lets the LZW coder use a nearby colour where that makes a longer match.
    """

    def __init__(self, fp: IO[bytes], size: tuple[int, int], palette: np.ndarray, *, loop: int = 0,
                 transparency: bool = True, tolerance: int = 0, alpha: bool = False, lossy: int = 0):
        self.fp = fp
        self.width, self.height = size
        self.palette = np.asarray(palette, np.uint8).reshape(-1, 3)
        count = len(self.palette)
        # With alpha, transparent pixels must really be transparent: every frame is stored whole and
        # cleared after it is shown (differencing would let the previous frame show through).
        self.alpha = alpha and count < 256
        self.transparency = (transparency or self.alpha) and count < 256
        self.tolerance = tolerance
        self.lossy = lossy
        self._canvas: Optional[np.ndarray] = None  # colours on screen, packed RGBA words
        self._shown: Optional[np.ndarray] = None  # source colours of those pixels, packed RGBA
        self._pending: Optional[tuple[int, np.ndarray, Optional[np.ndarray], np.ndarray]] = None
        self._held: Optional[_Encoded] = None
        self.frames_written = 0
        self.palettes_written = 1
        # Bytes each added frame cost in the file (0 for one merged into the frame before): the size
        # search scales these up from a sample of frames.
        self.bytes_per_frame: list[int] = []
        self._write_header(loop)

    # -- public --------------------------------------------------------------------------------

    def add(self, time: float, indices: np.ndarray, rgb: Optional[np.ndarray] = None,
            palette: Optional[np.ndarray] = None) -> None:
        """Add a frame that starts at ``time`` seconds; times must increase. ``palette`` (n, 3) uint8
        is the frame's own colour table; by default the global one."""
        start = centiseconds(time)
        palette = self.palette if palette is None else palette
        if self._pending is not None:
            pending_start = self._pending[0]
            if start - pending_start < MIN_DELAY_CS:
                # Too soon to be seen on its own: it replaces the pending frame at the same start.
                self._pending = (pending_start, indices, rgb, palette)
                self.bytes_per_frame.append(0)
                return
            self._commit(start - pending_start)
        self._pending = (start, indices, rgb, palette)
        self.bytes_per_frame.append(0)

    def close(self, end_time: float) -> None:
        """Finish the file; the last frame lasts until ``end_time`` seconds."""
        if self._pending is not None:
            end = max(centiseconds(end_time), self._pending[0] + MIN_DELAY_CS)
            self._commit(end - self._pending[0])
        self._flush_held()
        self.fp.write(b";")

    # -- frames --------------------------------------------------------------------------------

    def _commit(self, delay: int) -> None:
        _, indices, rgb, palette = self._pending
        self._pending = None
        local = None if palette is self.palette else palette
        transparent_index = len(palette) if self.transparency else None
        if self.alpha:
            self._commit_whole(delay, indices, rgb, palette, local, transparent_index)
            return
        under = None
        if self._canvas is None:  # first frame: all of it
            box = (0, 0, self.width, self.height)
            patch = indices
            self._canvas = _packed(palette)[indices]
            self._shown = None if rgb is None else _packed(rgb).copy()  # it may view a read-only frame
            transparent = False
        else:
            found = self._difference(indices, palette, rgb, transparent_index)
            if found is None:  # nothing changed on screen: show the previous frame longer
                self._held.delay += delay
                return
            box, transparent, patch, under = found
        self._flush_held()
        body = self._image(patch, box, palette, local, transparent_index, under)
        self._held = _Encoded(delay, transparent, body, transparent_index=transparent_index or 0)
        self._count(self._held)

    def _commit_whole(self, delay, indices, rgb, palette, local, transparent_index) -> None:
        if rgb is not None and rgb.shape[-1] == 4:
            indices = np.where(rgb[..., 3] < ALPHA_CUT, np.uint8(transparent_index), indices)
        colours = np.append(_packed(palette), np.uint32(0xFF000000))[indices]  # transparent: alpha byte set
        if self._canvas is not None and np.array_equal(colours, self._canvas):
            self._held.delay += delay
            return
        self._canvas = colours
        self._flush_held()
        body = self._image(indices, (0, 0, self.width, self.height), palette, local, transparent_index)
        self._held = _Encoded(delay, True, body, disposal=2, transparent_index=transparent_index)
        self._count(self._held)

    def _count(self, frame: _Encoded) -> None:
        """Charge a frame's bytes (its control block and body) to the frame being committed, always
        the last one added (``add`` commits the pending frame before it takes the next)."""
        self.bytes_per_frame[-1] += 8 + len(frame.body)

    def _image(self, patch, box, palette, local, transparent_index, under=None) -> bytes:
        if local is not None:
            self.palettes_written += 1
        code_size = self._code_size(palette)
        if local is not None and self.transparency:
            # The table must hold the transparent index too (len(palette)), as the global one does:
            # 4 colours + transparency need 8 entries, not 4.
            local = np.concatenate([local, np.zeros((1, 3), np.uint8)])
        if not self.lossy:
            return lzw_image(patch, box, code_size=code_size, local_palette=local)
        return lzw_image(patch, box, code_size=code_size, palette=palette, lossy=self.lossy,
                         transparent_index=transparent_index, local_palette=local, under=under)

    def _code_size(self, palette: np.ndarray) -> int:
        """LZW minimum code size for frames using ``palette``: the bits of its colour table."""
        return max(2, table_bits(len(palette) + (1 if self.transparency else 0)))

    def _difference(self, indices, palette, rgb, transparent_index):
        """The box this frame changes on screen, whether it leaves pixels transparent, its indices
        there and, for lossy coding, the index of the colour on screen under each transparent pixel
        (None when there are none); updates the canvas. None when nothing visible changed. (One compiled pass:
        the same steps in numpy took ten passes over the frame.)"""
        indices = np.ascontiguousarray(indices)
        patch = np.empty(indices.size, np.uint8)
        # Lossy coding may write the colour on screen (or one near it) where the frame is
        # transparent: the transparent pixels stop breaking its strings.
        under = np.empty(indices.size, np.uint8) if self.lossy and transparent_index is not None else None
        found = difference(indices, np.ascontiguousarray(_packed(palette)), self._canvas,
                           None if rgb is None else rgba_view(rgb), self._shown, self.tolerance,
                           -1 if transparent_index is None else transparent_index, self.width, patch, under)
        if found is None:
            return None
        x0, y0, x1, y1, transparent = found
        shape, count = (y1 - y0, x1 - x0), (x1 - x0) * (y1 - y0)
        under = under[:count].reshape(shape) if under is not None and transparent else None
        return (x0, y0, x1, y1), transparent, patch[:count].reshape(shape), under

    def _flush_held(self) -> None:
        held = self._held
        if held is None:
            return
        delay = held.delay
        while delay > _MAX_DELAY_CS:  # a very long still: split into several max-length frames
            self._write_frame(_MAX_DELAY_CS, held)
            delay -= _MAX_DELAY_CS
            held = held if held.disposal == 2 else self._still_frame(delay)
        held.delay = delay
        self._write_frame(delay, held)
        self._held = None

    def _still_frame(self, delay: int) -> _Encoded:
        """A frame that changes nothing: one transparent pixel (or the pixel already shown)."""
        code_size = self._code_size(self.palette)
        if self.transparency:
            index = len(self.palette)
            pixel = np.full((1, 1), index, np.uint8)
            return _Encoded(delay, True, lzw_image(pixel, (0, 0, 1, 1), code_size=code_size), transparent_index=index)
        matches = np.flatnonzero(_packed(self.palette) == self._canvas[0, 0])
        pixel = np.full((1, 1), matches[0] if matches.size else 0, np.uint8)
        return _Encoded(delay, False, lzw_image(pixel, (0, 0, 1, 1), code_size=code_size))

    def _write_frame(self, delay: int, frame: _Encoded) -> None:
        flags = (frame.disposal << 2) | (1 if frame.transparent else 0)
        index = frame.transparent_index if frame.transparent else 0
        self.fp.write(struct.pack("<4BHBB", 0x21, 0xF9, 4, flags, delay, index, 0))
        self.fp.write(frame.body)
        self.frames_written += 1

    # -- file structure ------------------------------------------------------------------------

    def _write_header(self, loop: int) -> None:
        bits = table_bits(len(self.palette) + (1 if self.transparency else 0))
        flags = 0x80 | ((bits - 1) << 4) | (bits - 1)  # global table, colour resolution, table size
        self.fp.write(b"GIF89a" + struct.pack("<HHBBB", self.width, self.height, flags, 0, 0))
        self.fp.write(colour_table(self.palette, bits))
        if loop != 1:  # no loop block = play once; N > 1 plays N times, so it repeats N - 1
            repeats = 0 if loop == 0 else loop - 1
            self.fp.write(b"\x21\xff\x0bNETSCAPE2.0\x03\x01" + struct.pack("<H", repeats) + b"\x00")


def _packed(rgb: np.ndarray) -> np.ndarray:
    """An (...) uint32 view of RGBA pixels (..., 4) (one word per pixel); RGB is padded first.

    >>> _packed(np.array([[1, 2, 3]], np.uint8)).shape
    (1,)
    """
    if rgb.shape[-1] == 3:
        rgb = np.concatenate([rgb, np.zeros(rgb.shape[:-1] + (1,), np.uint8)], axis=-1)
    return np.ascontiguousarray(rgb).view(np.uint32)[..., 0]


def rgba_view(image: np.ndarray) -> np.ndarray:
    """The frame as (H, W, 4) bytes with packed pixels, for the C kernels: the frame itself when it
    already is (PyAV's RGBA rows, padded or not), else a padded copy.

    >>> rgba_view(np.zeros((2, 3, 3), np.uint8)).shape
    (2, 3, 4)
    """
    if image.shape[-1] == 4 and image.strides[1:] == (4, 1):
        return image
    return _packed(image).view(np.uint8).reshape(*image.shape[:2], 4)
