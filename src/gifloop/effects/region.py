"""Frozen regions (cinemagraphs): part of the picture stays as it was at one moment.

The frozen part is described by a mask in 0..1 (1 = frozen): a rectangle, everything outside a
rectangle, a grey-level image, or a soft split along a line through two points. The snapshot is the
clip's own frame at time ``t``, decoded once before the main pass.

>>> soft = line_mask((100, 50), (0, 0), (100, 50), 10)   # frozen on one side of the diagonal
>>> soft.shape
(50, 100)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..errors import InvalidParameterError
from .base import PixelEffect, RenderContext


def rect_mask(size: tuple[int, int], rect: tuple[int, int, int, int], outside: bool = False) -> np.ndarray:
    """A 0/1 mask of ``size`` (width, height) that is 1 inside ``rect`` (x, y, w, h), or outside it."""
    w, h = size
    x, y, rw, rh = rect
    if rw <= 0 or rh <= 0 or x < 0 or y < 0 or x + rw > w or y + rh > h:
        raise InvalidParameterError(
            f"region {x},{y},{rw},{rh} is not inside the {w}x{h} frame; keep X+WIDTH <= {w} and Y+HEIGHT <= {h}"
        )
    mask = np.zeros((h, w), np.float32)
    mask[y: y + rh, x: x + rw] = 1.0
    return 1.0 - mask if outside else mask


def line_mask(size: tuple[int, int], p1, p2, grad_width: float = 0.0) -> np.ndarray:
    """1 on the left of the line p1 -> p2 (seen walking from p1 to p2), 0 on the right, with a linear
    ramp ``grad_width`` pixels wide across the line (MoviePy's ``color_split`` geometry)."""
    w, h = size
    (x1, y1), (x2, y2) = p1, p2
    length = float(np.hypot(x2 - x1, y2 - y1))
    if length == 0:
        raise InvalidParameterError("the two points of a split line must differ")
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    # Signed distance to the line, positive on the left of someone walking from p1 to p2 on the
    # screen (y points down: walking down the screen, the left hand points to +x).
    distance = ((y2 - y1) * (xs - x1) - (x2 - x1) * (ys - y1)) / length
    if grad_width <= 0:
        return (distance > 0).astype(np.float32)
    return np.clip(0.5 + distance / grad_width, 0.0, 1.0).astype(np.float32)


def image_mask(path: str, size: tuple[int, int]) -> np.ndarray:
    """A mask from a grey-level image file (white = frozen), which must have the frame's size."""
    from PIL import Image  # Pillow loads when a mask is used, not with every conversion (~30 ms)

    try:
        with Image.open(path) as im:
            if im.size != size:
                raise InvalidParameterError(
                    f"mask {path!r} is {im.size[0]}x{im.size[1]} but the frames are {size[0]}x{size[1]}; "
                    "resize the mask or give it before resizing the clip"
                )
            grey = np.asarray(im.convert("L"), np.float32) / 255.0
    except FileNotFoundError:
        raise InvalidParameterError(f"mask file {path!r} does not exist; check the path") from None
    except OSError as exc:
        raise InvalidParameterError(f"cannot read mask {path!r} as an image ({exc}); give a PNG or similar") from None
    return grey


@dataclass(frozen=True)
class FreezeRegion(PixelEffect):
    """Show ``snapshot`` where ``mask`` is 1, the moving frame where it is 0, a blend in between."""

    mask_spec: tuple  # ("rect", rect) | ("outside", rect) | ("image", path) | ("line", p1, p2, width)
    t: float = 0.0
    snapshot: Optional[np.ndarray] = None
    mask: Optional[np.ndarray] = None
    rect: Optional[tuple[int, int, int, int]] = None  # set when the mask is a plain rectangle (fast path)

    def prepare(self, context: RenderContext) -> "FreezeRegion":
        size = context.specified_size
        kind = self.mask_spec[0]
        rect = None
        if kind in ("rect", "outside"):
            # Scale the rectangle itself (a resized mask would blur its edges) and keep it for slicing.
            sx, sy = context.scale
            x, y, w, h = self.mask_spec[1]
            x0, y0 = round(x * sx), round(y * sy)
            rect = (x0, y0, round((x + w) * sx) - x0, round((y + h) * sy) - y0)
            mask = rect_mask(context.size, rect, outside=kind == "outside")
        else:
            if kind == "image":
                mask = image_mask(self.mask_spec[1], size)
            elif kind == "line":
                mask = line_mask(size, *self.mask_spec[1:])
            else:  # pragma: no cover - built only by Clip methods
                raise InvalidParameterError(f"unknown region kind {kind!r}")
            if size != context.size:
                from PIL import Image

                mask = np.asarray(Image.fromarray(mask).resize(context.size, Image.Resampling.BILINEAR))
        snapshot = context.clip.snapshot_image(self.t)
        return FreezeRegion(self.mask_spec, self.t, snapshot, mask, rect)

    def apply(self, image: np.ndarray, time: float) -> np.ndarray:
        # The snapshot is RGB; frames may carry alpha, which stays the moving frame's.
        mask, snapshot = self.mask, self.snapshot
        out = image.copy()
        if self.rect is not None:  # slices: ten times faster than a boolean mask
            x, y, w, h = self.rect
            if self.mask_spec[0] == "rect":
                out[y: y + h, x: x + w, :3] = snapshot[y: y + h, x: x + w]
            else:
                out[..., :3] = snapshot
                out[y: y + h, x: x + w, :3] = image[y: y + h, x: x + w, :3]
            return out
        hard = mask == 1.0
        rgb = out[..., :3]
        np.copyto(rgb, snapshot, where=hard[..., None])
        soft = (mask > 0) & ~hard
        if soft.any():
            # Blend only the rows and columns where the mask is partial.
            rows = np.flatnonzero(soft.any(1))
            cols = np.flatnonzero(soft.any(0))
            y0, y1, x0, x1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
            m = mask[y0:y1, x0:x1, None]
            region = image[y0:y1, x0:x1, :3].astype(np.float32)
            frozen = snapshot[y0:y1, x0:x1].astype(np.float32)
            blended = ((region + (frozen - region) * m) + 0.5).astype(np.uint8)
            np.copyto(rgb[y0:y1, x0:x1], blended, where=soft[y0:y1, x0:x1, None])
        return out
