"""Geometry: map a crop in displayed pixels to the coded picture, and build the FFmpeg filter chain.

Users see the picture after the pixel aspect ratio and the rotation tag are applied, so crops are given
in those displayed pixels. Cropping happens first in the filter graph (on the coded picture, before any
rotation or scaling) so FFmpeg never converts or turns pixels that are thrown away.

>>> rect = Rect(0, 0, 1800, 1392)
>>> filter_chain(coded_rect=rect, rotation=0, out_size=(640, 495), pix_fmt="rgb24")
[('crop', 'w=1800:h=1392:x=0:y=0:exact=1'), ('scale', 'w=640:h=495:flags=area+accurate_rnd'), ('format', 'pix_fmts=rgb24')]
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Optional

from ..errors import InvalidParameterError

# swscale's "area" averages every source pixel when shrinking (no aliasing on 3x reductions, and
# cheaper than lanczos); bicubic is the better choice when enlarging.
_SHRINK_FLAGS = "area+accurate_rnd"
_GROW_FLAGS = "bicubic+accurate_rnd"


@dataclass(frozen=True)
class Rect:
    """A rectangle in pixels: left, top, width, height."""

    x: int
    y: int
    w: int
    h: int

    @property
    def size(self) -> tuple[int, int]:
        return self.w, self.h


def validate_crop(rect: Rect, frame_size: tuple[int, int]) -> Rect:
    """Check that ``rect`` lies inside a frame of ``frame_size``; raise a one-line error if not."""
    fw, fh = frame_size
    if rect.w <= 0 or rect.h <= 0:
        raise InvalidParameterError(
            f"crop size must be positive, got {rect.w}x{rect.h}; give X,Y,WIDTH,HEIGHT with WIDTH and HEIGHT > 0"
        )
    if rect.x < 0 or rect.y < 0 or rect.x + rect.w > fw or rect.y + rect.h > fh:
        raise InvalidParameterError(
            f"crop {rect.x},{rect.y},{rect.w},{rect.h} goes outside the {fw}x{fh} frame; "
            f"keep X+WIDTH <= {fw} and Y+HEIGHT <= {fh}"
        )
    return rect


def display_to_coded(rect: Rect, rotation: int, sample_aspect: Fraction,
                     unrotated_display: tuple[int, int], coded: tuple[int, int]) -> Rect:
    """Map a rectangle in displayed pixels to the coded picture (undo rotation, then pixel aspect).

    >>> display_to_coded(Rect(0, 0, 100, 50), 90, Fraction(1), (1920, 1080), (1920, 1080))
    Rect(x=0, y=980, w=50, h=100)
    """
    dw, dh = unrotated_display
    x, y, w, h = rect.x, rect.y, rect.w, rect.h
    if rotation == 90:  # the player turned the picture clockwise
        x, y, w, h = y, dh - x - w, h, w
    elif rotation == 180:
        x, y = dw - x - w, dh - y - h
    elif rotation == 270:
        x, y, w, h = dw - y - h, x, h, w
    if sample_aspect != 1:
        cw = coded[0]
        left = int(round(x / sample_aspect))
        right = int(round((x + w) / sample_aspect))
        x, w = min(left, cw - 1), max(1, min(right, cw) - min(left, cw - 1))
    return Rect(x, y, w, h)


def filter_chain(*, coded_rect: Optional[Rect], rotation: int, out_size: tuple[int, int],
                 pix_fmt: str, unscaled_size: Optional[tuple[int, int]] = None) -> list[tuple[str, str]]:
    """FFmpeg filters, in order, that turn a decoded frame into the output picture.

    ``unscaled_size`` is the size the picture has after crop and rotation (no scale filter is added
    when it already equals ``out_size``).
    """
    chain: list[tuple[str, str]] = []
    if coded_rect is not None:
        r = coded_rect
        chain.append(("crop", f"w={r.w}:h={r.h}:x={r.x}:y={r.y}:exact=1"))
    if rotation == 90:
        chain.append(("transpose", "dir=clock"))
    elif rotation == 270:
        chain.append(("transpose", "dir=cclock"))
    elif rotation == 180:
        chain += [("hflip", ""), ("vflip", "")]
    if unscaled_size != out_size:
        grow = unscaled_size is not None and out_size[0] * out_size[1] > unscaled_size[0] * unscaled_size[1]
        flags = _GROW_FLAGS if grow else _SHRINK_FLAGS
        chain.append(("scale", f"w={out_size[0]}:h={out_size[1]}:flags={flags}"))
    chain.append(("format", f"pix_fmts={pix_fmt}"))
    return chain
