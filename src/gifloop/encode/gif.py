"""Animated GIF writer: exact delays, frame differencing, transparent unchanged pixels, merged duplicates.

The file structure (header, palette, loop extension, per-frame control blocks) is written here;
the LZW compression of each frame's pixels is Pillow's C encoder.

Each new frame is compared with what the viewer currently sees. Only the rectangle that changed is
stored; inside it, pixels that did not change become the transparent index (long runs of one value
compress well). A frame with no change adds its delay to the previous frame instead.

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
from PIL import GifImagePlugin, Image

from ..quantize.palette import ALPHA_CUT

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
    body: bytes  # image descriptor + LZW data
    disposal: int = 1  # 1: leave the frame for the next; 2: clear it to transparent after showing


class GifWriter:
    """Writes frames given as palette indices with their start times (seconds).

    ``palette`` holds the real colours (at most 255 when ``transparency`` is on, which reserves the
    index right after them). ``tolerance`` lets pixels whose source colour moved by at most that many
    levels (per channel) keep what is on screen, which hides compression noise from the differ.
    """

    def __init__(self, fp: IO[bytes], size: tuple[int, int], palette: np.ndarray, *, loop: int = 0,
                 transparency: bool = True, tolerance: int = 0, alpha: bool = False):
        self.fp = fp
        self.width, self.height = size
        self.palette = np.asarray(palette, np.uint8).reshape(-1, 3)
        count = len(self.palette)
        # With alpha, transparent pixels must really be transparent: every frame is stored whole and
        # cleared after it is shown (differencing would let the previous frame show through).
        self.alpha = alpha and count < 256
        self.transparency = (transparency or self.alpha) and count < 256
        self.transparent_index = count if self.transparency else None
        self.tolerance = tolerance
        entries = count + (1 if self.transparency else 0)
        self._table_bits = max(1, int(np.ceil(np.log2(max(entries, 2)))))
        self._canvas: Optional[np.ndarray] = None  # indices on screen
        self._shown: Optional[np.ndarray] = None  # source colours of those indices, packed RGBA
        self._pending: Optional[tuple[int, np.ndarray, Optional[np.ndarray]]] = None
        self._held: Optional[_Encoded] = None
        self.frames_written = 0
        self._write_header(loop)

    # -- public --------------------------------------------------------------------------------

    def add(self, time: float, indices: np.ndarray, rgb: Optional[np.ndarray] = None) -> None:
        """Add a frame that starts at ``time`` seconds; times must increase."""
        start = centiseconds(time)
        if self._pending is not None:
            pending_start = self._pending[0]
            if start - pending_start < MIN_DELAY_CS:
                # Too soon to be seen on its own: it replaces the pending frame at the same start.
                self._pending = (pending_start, indices, rgb)
                return
            self._commit(start - pending_start)
        self._pending = (start, indices, rgb)

    def close(self, end_time: float) -> None:
        """Finish the file; the last frame lasts until ``end_time`` seconds."""
        if self._pending is not None:
            end = max(centiseconds(end_time), self._pending[0] + MIN_DELAY_CS)
            self._commit(end - self._pending[0])
        self._flush_held()
        self.fp.write(b";")

    # -- frames --------------------------------------------------------------------------------

    def _commit(self, delay: int) -> None:
        _, indices, rgb = self._pending
        self._pending = None
        if self.alpha:
            self._commit_whole(delay, indices, rgb)
            return
        packed = None if rgb is None else _packed(rgb)
        changed = self._changed(indices, packed)
        if changed is None:  # first frame: all of it
            box = (0, 0, self.width, self.height)
            patch = indices
            self._canvas = indices.copy()
            self._shown = None if packed is None else packed.copy()
            transparent = False
        else:
            box = _bounding_box(changed)
            if box is None:  # nothing changed on screen: show the previous frame longer
                self._held.delay += delay
                return
            x0, y0, x1, y1 = box
            region = changed[y0:y1, x0:x1]
            patch = indices[y0:y1, x0:x1]
            transparent = self.transparency and not region.all()
            if transparent:
                patch = np.where(region, patch, np.uint8(self.transparent_index))
            np.copyto(self._canvas, indices, where=changed)
            if self._shown is not None:
                np.copyto(self._shown, packed, where=changed)
        self._flush_held()
        self._held = _Encoded(delay, transparent, _lzw_image(patch, box))

    def _commit_whole(self, delay: int, indices: np.ndarray, rgb: Optional[np.ndarray]) -> None:
        if rgb is not None and rgb.shape[-1] == 4:
            indices = np.where(rgb[..., 3] < ALPHA_CUT, np.uint8(self.transparent_index), indices)
        if self._canvas is not None and np.array_equal(indices, self._canvas):
            self._held.delay += delay
            return
        self._canvas = indices
        self._flush_held()
        self._held = _Encoded(delay, True, _lzw_image(indices, (0, 0, self.width, self.height)), disposal=2)

    def _changed(self, indices: np.ndarray, packed: Optional[np.ndarray]) -> Optional[np.ndarray]:
        if self._canvas is None:
            return None
        changed = indices != self._canvas
        if self.tolerance and packed is not None and self._shown is not None:
            changed &= _moved(packed, self._shown, self.tolerance)
        return changed

    def _flush_held(self) -> None:
        held = self._held
        if held is None:
            return
        delay = held.delay
        while delay > _MAX_DELAY_CS:  # a very long still: split into several max-length frames
            self._write_frame(_MAX_DELAY_CS, held.transparent, held.body, held.disposal)
            delay -= _MAX_DELAY_CS
            held = held if held.disposal == 2 else self._still_frame(delay)
        self._write_frame(delay, held.transparent, held.body, held.disposal)
        self._held = None

    def _still_frame(self, delay: int) -> _Encoded:
        """A frame that changes nothing: one transparent pixel (or the pixel already shown)."""
        if self.transparency:
            return _Encoded(delay, True, _lzw_image(np.full((1, 1), self.transparent_index, np.uint8), (0, 0, 1, 1)))
        return _Encoded(delay, False, _lzw_image(self._canvas[:1, :1].copy(), (0, 0, 1, 1)))

    def _write_frame(self, delay: int, transparent: bool, body: bytes, disposal: int = 1) -> None:
        flags = (disposal << 2) | (1 if transparent else 0)
        index = self.transparent_index if transparent else 0
        self.fp.write(struct.pack("<4BHBB", 0x21, 0xF9, 4, flags, delay, index, 0))
        self.fp.write(body)
        self.frames_written += 1

    # -- file structure ------------------------------------------------------------------------

    def _write_header(self, loop: int) -> None:
        bits = self._table_bits
        table = np.zeros((1 << bits, 3), np.uint8)
        table[: len(self.palette)] = self.palette
        flags = 0x80 | ((bits - 1) << 4) | (bits - 1)  # global table, colour resolution, table size
        self.fp.write(b"GIF89a" + struct.pack("<HHBBB", self.width, self.height, flags, 0, 0))
        self.fp.write(table.tobytes())
        if loop != 1:  # no loop block = play once; N > 1 plays N times, so it repeats N - 1
            repeats = 0 if loop == 0 else loop - 1
            self.fp.write(b"\x21\xff\x0bNETSCAPE2.0\x03\x01" + struct.pack("<H", repeats) + b"\x00")


def _packed(rgb: np.ndarray) -> np.ndarray:
    """An (H, W) uint32 view of an RGBA frame (one word per pixel); RGB frames are padded first."""
    if rgb.shape[-1] == 3:
        rgb = np.dstack([rgb, np.zeros(rgb.shape[:2], np.uint8)])
    return np.ascontiguousarray(rgb).view(np.uint32)[..., 0]


def _moved(packed: np.ndarray, shown: np.ndarray, tolerance: int) -> np.ndarray:
    """Pixels where any channel differs from ``shown`` by more than ``tolerance`` levels.

    Works on whole frames of bytes (no widening, no per-channel passes): |a - b| is
    max(a, b) - min(a, b), which cannot wrap around (a plain uint8 a - b would make 0 vs 255 look
    like a difference of 1).
    """
    h, w = packed.shape
    a, b = packed.view(np.uint8), shown.view(np.uint8)
    delta = np.maximum(a, b)
    delta -= np.minimum(a, b)
    outside = delta > tolerance
    return outside.view(np.uint32).reshape(h, w) != 0


def _bounding_box(mask: np.ndarray) -> Optional[tuple[int, int, int, int]]:
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask[rows[0]: rows[-1] + 1].any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def _lzw_image(patch: np.ndarray, box: tuple[int, int, int, int]) -> bytes:
    """Image descriptor and LZW-compressed pixels of ``patch`` placed at ``box``."""
    image = Image.frombuffer("L", (patch.shape[1], patch.shape[0]), np.ascontiguousarray(patch), "raw", "L", 0, 1)
    return b"".join(GifImagePlugin.getdata(image, offset=box[:2]))
