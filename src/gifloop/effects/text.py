"""Text on frames, rendered once with Pillow's FreeType and composited with NumPy.

The default font is the one Pillow bundles (no ImageMagick, no system fonts needed); any TTF/OTF
file can be named instead. The text is drawn once into an RGBA overlay; each frame only blends the
overlay's bounding box.

>>> Text("In my nightmares\\nI see rabbits.", position="bottom", size=24)       # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Optional, Union

import numpy as np

from ..errors import InvalidParameterError
from .base import PixelEffect, RenderContext

Position = Union[str, tuple[float, float]]
_NAMED = {
    "center": (0.5, 0.5), "top": (0.5, 0.0), "bottom": (0.5, 1.0), "left": (0.0, 0.5), "right": (1.0, 0.5),
    "top-left": (0.0, 0.0), "top-right": (1.0, 0.0), "bottom-left": (0.0, 1.0), "bottom-right": (1.0, 1.0),
}
_MARGIN = 0.04  # named positions keep this share of the frame's height away from the edges


def parse_colour(value, what: str = "colour") -> tuple[int, int, int]:
    """A colour name, ``#rrggbb`` or an (r, g, b) tuple, as an RGB tuple."""
    if isinstance(value, (tuple, list)) and len(value) == 3 and all(0 <= int(v) <= 255 for v in value):
        return tuple(int(v) for v in value)
    from PIL import ImageColor  # Pillow loads when text is drawn, not with every conversion (~30 ms)

    try:
        return ImageColor.getrgb(str(value))[:3]
    except ValueError:
        raise InvalidParameterError(
            f"unknown {what} {value!r}; use a name such as 'white', a hex code such as '#ffcc00' or (r, g, b)"
        ) from None


def load_font(font: Optional[str], size: int):
    """The named TTF/OTF file at ``size`` px, or Pillow's bundled font."""
    from PIL import ImageFont

    if font is None:
        return ImageFont.load_default(size=size)
    if not os.path.isfile(font):
        raise InvalidParameterError(f"font file {font!r} does not exist; give the path of a .ttf or .otf file")
    try:
        return ImageFont.truetype(font, size=size)
    except OSError as exc:
        raise InvalidParameterError(f"cannot load font {font!r} ({exc}); give a .ttf or .otf file") from None


@dataclass(frozen=True)
class Text(PixelEffect):
    """A line (or lines) of text at a position, optionally only between ``start`` and ``end``."""

    text: str
    position: Position = "bottom"
    size: int = 32
    color: object = "white"
    stroke_color: object = "black"
    stroke_width: Optional[int] = None  # default: size / 12
    font: Optional[str] = None
    start: float = 0.0
    end: Optional[float] = None
    overlay: Optional[np.ndarray] = None  # RGBA, set by prepare
    box: Optional[tuple[int, int, int, int]] = None  # x0, y0, x1, y1 of the overlay in the frame

    def __post_init__(self):
        if not str(self.text).strip():
            raise InvalidParameterError("text is empty; give the words to show")
        if int(self.size) <= 0:
            raise InvalidParameterError(f"font size must be positive, got {self.size!r}")
        parse_colour(self.color, "text colour")
        parse_colour(self.stroke_color, "stroke colour")
        if isinstance(self.position, str) and self.position not in _NAMED:
            raise InvalidParameterError(
                f"unknown text position {self.position!r}; use one of {', '.join(_NAMED)} or (x, y)"
            )

    @property
    def time_dependent(self) -> bool:  # type: ignore[override]
        return self.start > 0 or self.end is not None

    def prepare(self, context: RenderContext) -> "Text":
        sx, sy = context.scale
        size = max(1, round(self.size * sy))
        stroke = self.stroke_width if self.stroke_width is not None else max(1, round(self.size / 12))
        stroke = round(stroke * sy)
        font = load_font(self.font, size)
        from PIL import Image, ImageDraw

        probe = ImageDraw.Draw(Image.new("L", (1, 1)))
        left, top, right, bottom = probe.multiline_textbbox((0, 0), self.text, font=font, stroke_width=stroke,
                                                            align="center")
        left, top, right, bottom = (int(round(v)) for v in (left, top, right, bottom))
        tw, th = right - left, bottom - top
        layer = Image.new("RGBA", (tw, th), (0, 0, 0, 0))
        ImageDraw.Draw(layer).multiline_text(
            (-left, -top), self.text, font=font, fill=parse_colour(self.color) + (255,), align="center",
            stroke_width=stroke, stroke_fill=parse_colour(self.stroke_color) + (255,))
        x, y = self._place(context.size, (tw, th), (sx, sy))
        overlay = np.asarray(layer)
        # Clip the overlay to the frame (text may run past an edge).
        fw, fh = context.size
        cx0, cy0 = max(0, -x), max(0, -y)
        cx1, cy1 = min(tw, fw - x), min(th, fh - y)
        if cx1 <= cx0 or cy1 <= cy0:
            raise InvalidParameterError(f"text at {self.position!r} falls outside the {fw}x{fh} frame")
        overlay = overlay[cy0:cy1, cx0:cx1]
        box = (x + cx0, y + cy0, x + cx1, y + cy1)
        return dataclasses.replace(self, overlay=overlay, box=box)

    def _place(self, frame: tuple[int, int], text: tuple[int, int], scale) -> tuple[int, int]:
        fw, fh = frame
        tw, th = text
        if isinstance(self.position, str):
            ax, ay = _NAMED[self.position]
            margin = round(_MARGIN * fh)
            x = round(ax * (fw - tw) + (margin if ax == 0 else -margin if ax == 1 else 0))
            y = round(ay * (fh - th) + (margin if ay == 0 else -margin if ay == 1 else 0))
            return x, y
        px, py = self.position
        return round(px * scale[0]), round(py * scale[1])

    def apply(self, image: np.ndarray, time: float) -> np.ndarray:
        if time < self.start - 1e-9 or (self.end is not None and time >= self.end - 1e-9):
            return image
        x0, y0, x1, y1 = self.box
        out = image.copy()
        region = out[y0:y1, x0:x1, :3].astype(np.float32)
        alpha = self.overlay[..., 3:4].astype(np.float32) / 255.0
        region += (self.overlay[..., :3] - region) * alpha
        out[y0:y1, x0:x1, :3] = (region + 0.5).astype(np.uint8)
        return out
