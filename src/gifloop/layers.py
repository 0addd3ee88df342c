"""Composition: clips stacked on a canvas, each with a position, a start time, a mask and an opacity.

Each layer is rendered on its own (decoded once, effects applied); the composite then builds every
output frame by alpha-blending the layers' frames on screen at that time, bottom layer first.

>>> still = clip.snapshot(1.0)                                                    # doctest: +SKIP
>>> gif = gifloop.composite([still, Layer(clip.crop(120, 80, 200, 150), position=(120, 80))])  # doctest: +SKIP
>>> gif.write_gif("cinemagraph.gif")                                              # doctest: +SKIP
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field
from typing import Optional, Sequence, Union

import numpy as np
from PIL import Image

from .errors import InvalidParameterError
from .effects.text import parse_colour
from .quantize.palette import ColorHistogram
from .timeline import Shot, Timeline

GIF_MAX_FPS = 50.0


@dataclass(frozen=True)
class Layer:
    """One clip on the canvas: top-left ``position`` (or "center"), ``start`` time (s), an optional
    grey-level ``mask`` (file or array the size of the clip; white = visible) and ``opacity``."""

    clip: object
    position: Union[tuple[int, int], str] = (0, 0)
    start: float = 0.0
    mask: object = None
    opacity: float = 1.0

    def __post_init__(self):
        if not 0 <= self.opacity <= 1:
            raise InvalidParameterError(f"opacity must be between 0 and 1, got {self.opacity!r}")
        if self.start < 0:
            raise InvalidParameterError(f"a layer's start must be 0 or later, got {self.start!r}")
        if isinstance(self.position, str) and self.position != "center":
            raise InvalidParameterError(f"position must be (x, y) or 'center', got {self.position!r}")


@dataclass(frozen=True)
class Composite:
    """Layers composed on a canvas of ``size`` (default: the first layer's), for ``duration`` seconds
    (default: until the last layer ends), at ``fps`` (default: the fastest layer's, at most 50).
    ``background`` is a colour, or None for a transparent canvas."""

    layers: tuple[Layer, ...]
    size: Optional[tuple[int, int]] = None
    duration: Optional[float] = None
    fps: Optional[float] = None
    background: object = "black"

    def write_gif(self, path, **options):
        """Encode the composition as a GIF; options as ``Clip.write_gif``."""
        from .api import write_rendered

        return write_rendered(self, path, **options)

    def write(self, path, **options):
        """Write as .gif, .webp, .png/.apng or .mp4, chosen by the file name."""
        from .api import write

        return write(self, path, **options)

    def frames(self):
        """Yield ``(time, image)`` with (H, W, 4) RGBA arrays."""
        rendered = self.render()
        try:
            yield from rendered.frames()
        finally:
            rendered.close()

    @property
    def source_paths(self) -> tuple[str, ...]:
        return tuple(layer.clip.source.path for layer in self.layers)

    def render(self, progress=None) -> "RenderedComposite":
        from .render import render

        parts = []
        try:
            for layer in self.layers:
                parts.append(render(layer.clip, pix_fmt="rgba", progress=progress))
            return RenderedComposite(self, parts)
        except BaseException:
            for part in parts:
                part.close()
            raise


def composite(layers: Sequence, size: Optional[tuple[int, int]] = None, duration: Optional[float] = None,
              fps: Optional[float] = None, background="black") -> Composite:
    """Stack clips (or ``Layer``s) into one animation, the first at the bottom.

    >>> gifloop.composite([background_clip, Layer(logo_clip, position="center", start=1)])  # doctest: +SKIP
    """
    wrapped = tuple(layer if isinstance(layer, Layer) else Layer(layer) for layer in layers)
    if not wrapped:
        raise InvalidParameterError("composite needs at least one clip")
    if background is not None:
        parse_colour(background, "background colour")
    if fps is not None and not (math.isfinite(fps) and 0 < fps <= GIF_MAX_FPS * 2):
        raise InvalidParameterError(f"fps must be positive and at most {GIF_MAX_FPS * 2:g}, got {fps!r}")
    return Composite(wrapped, size, duration, fps, background)


class RenderedComposite:
    """The composite's output frames, with the interface the GIF encoder reads (like ``Rendered``)."""

    def __init__(self, spec: Composite, parts: list):
        self.spec = spec
        self.parts = parts
        self.size = spec.size or parts[0].size
        fps = spec.fps or min(GIF_MAX_FPS, max(layer.clip.fps for layer in spec.layers))
        ends = [layer.start + part.timeline.end for layer, part in zip(spec.layers, parts)]
        end = spec.duration if spec.duration is not None else max(ends)
        count = max(1, int(math.ceil(end * fps - 1e-6)))
        self.timeline = Timeline(tuple(Shot(k / fps, ((k, 1.0),)) for k in range(count)), end)
        self._starts = [[s.time for s in part.timeline.shots] for part in parts]
        self._masks = [self._mask(layer, part.size) for layer, part in zip(spec.layers, parts)]
        self._places = [self._place(layer, part.size) for layer, part in zip(spec.layers, parts)]
        w, h = self.size
        self._blank = np.zeros((h, w, 4), np.float32)  # the canvas every frame starts from
        if spec.background is not None:
            self._blank[..., :3] = parse_colour(spec.background)
            self._blank[..., 3] = 255
        self.histogram = ColorHistogram()
        self.has_alpha = spec.background is None
        for _, image in self.frames():
            self.histogram.add(image)
            if not self.has_alpha and image[..., 3].min() < 255:
                self.has_alpha = True

    def frames(self):
        for shot in self.timeline.shots:
            yield shot.time, self.image(shot)

    def image(self, shot: Shot) -> np.ndarray:
        canvas = self._blank.copy()
        for layer, part, starts, mask, place in zip(self.spec.layers, self.parts, self._starts, self._masks,
                                                    self._places):
            local = shot.time - layer.start
            if local < -1e-9 or local >= part.timeline.end - 1e-9:
                continue
            index = max(0, bisect.bisect_right(starts, local + 1e-9) - 1)
            frame = part.image(part.timeline.shots[index])
            _blend(canvas, frame, place, mask, layer.opacity)
        return (canvas + 0.5).astype(np.uint8)

    def close(self) -> None:
        for part in self.parts:
            part.close()

    def _place(self, layer: Layer, size: tuple[int, int]) -> tuple[int, int]:
        if layer.position == "center":
            return (self.size[0] - size[0]) // 2, (self.size[1] - size[1]) // 2
        x, y = layer.position
        return int(round(x)), int(round(y))

    @staticmethod
    def _mask(layer: Layer, size: tuple[int, int]) -> Optional[np.ndarray]:
        if layer.mask is None:
            return None
        if isinstance(layer.mask, np.ndarray):
            mask = layer.mask.astype(np.float32)
            mask = mask / 255.0 if mask.max() > 1 else mask
        else:
            from .effects.region import image_mask

            mask = image_mask(str(layer.mask), size)
        if mask.shape != (size[1], size[0]):
            raise InvalidParameterError(
                f"layer mask is {mask.shape[1]}x{mask.shape[0]} but its clip is {size[0]}x{size[1]}")
        return mask


def _blend(canvas: np.ndarray, frame: np.ndarray, place: tuple[int, int], mask, opacity: float) -> None:
    """Alpha-blend ``frame`` (RGBA uint8) onto ``canvas`` (float RGBA) at ``place``, clipped to it."""
    ch, cw = canvas.shape[:2]
    fh, fw = frame.shape[:2]
    x, y = place
    x0, y0, x1, y1 = max(0, x), max(0, y), min(cw, x + fw), min(ch, y + fh)
    if x1 <= x0 or y1 <= y0:
        return
    part = frame[y0 - y: y1 - y, x0 - x: x1 - x].astype(np.float32)
    alpha = part[..., 3:4] / 255.0 * opacity
    if mask is not None:
        alpha = alpha * mask[y0 - y: y1 - y, x0 - x: x1 - x, None]
    under = canvas[y0:y1, x0:x1]
    # Porter-Duff "over": the layer covers what is below in proportion to its alpha.
    below = under[..., 3:4] / 255.0 * (1 - alpha)
    total = alpha + below
    under[..., :3] = (part[..., :3] * alpha + under[..., :3] * below) / np.maximum(total, 1e-6)
    under[..., 3:4] = total * 255
