"""``Clip``: an immutable, lazy recipe — a source plus trim, crop, size, frame rate and speed.

Every method returns a new clip; nothing is decoded until frames are asked for. When they are, the
recipe compiles into a ``SourcePlan``: one time window and one FFmpeg filter chain.

>>> clip = gifloop.open("phone.mp4")                                    # doctest: +SKIP
>>> gif = clip.trim(1, 4).crop(0, 0, 1800, 1392).resize(width=640).with_fps(12)   # doctest: +SKIP
>>> gif.size, gif.duration, gif.fps                                      # doctest: +SKIP
((640, 495), 3.0, 12.0)
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Iterator, Optional

import numpy as np

from .effects import (BlackWhite, Boomerang, Fade, FreezeRegion, Levels, Loop, MakeLoopable, Placed, Reverse, Text,
                      TimeEffect)
from .effects.time import FadeAlpha, Hold
from .effects.background import RemoveBackground
from .effects.region import image_mask, rect_mask
from .effects.text import load_font
from .errors import InvalidParameterError
from .source.decode import Frame, FrameReader, Window
from .source.geometry import Rect, display_to_coded, filter_chain, validate_crop
from .source.probe import SourceInfo
from .timecode import TimeLike, format_time, parse_time

GIF_MAX_FPS = 50.0  # GIF delays are whole centiseconds and browsers slow down delays under 2 cs
_MAX_SIDE = 65535  # GIF stores sizes in 16 bits


@dataclass(frozen=True)
class SourcePlan:
    """What the decoder must do for a clip: the window, the filters and the size they produce."""

    info: SourceInfo
    window: Window
    chain: list
    size: tuple[int, int]
    pix_fmt: str

    def reader(self) -> FrameReader:
        return FrameReader(self.info, self.window, self.chain)


@dataclass(frozen=True)
class Clip:
    """A video clip recipe. Build one with ``gifloop.open(path)``."""

    source: SourceInfo
    start: float = 0.0  # source seconds
    end: Optional[float] = None  # source seconds; None = to the end of the stream
    region: Optional[tuple[float, float, float, float]] = None  # crop in displayed source pixels
    out_size: Optional[tuple[int, int]] = None  # None = the region's size
    out_fps: Optional[float] = None  # None = the source's frames (capped at 50 fps)
    speed_factor: float = 1.0
    effects: tuple = ()  # Placed effects, applied in order when the clip is rendered

    # -- properties ----------------------------------------------------------------------------

    @property
    def size(self) -> tuple[int, int]:
        """Output (width, height) in pixels."""
        if self.out_size is not None:
            return self.out_size
        x, y, w, h = self._region()
        return max(1, round(w)), max(1, round(h))

    @property
    def duration(self) -> Optional[float]:
        """Length in seconds on the output timeline; None when the source does not say.

        Time effects say how they change it (``TimeEffect.length``), before anything is decoded.
        """
        end = self._source_end()
        if end is None:
            return None
        length = max(0.0, end - self.start) / self.speed_factor
        for placed in self.effects:
            if isinstance(placed.effect, TimeEffect):
                length = placed.effect.length(length, 1.0 / self.fps)
        return length

    @property
    def fps(self) -> float:
        """Output frame rate (for variable-rate sources: the nominal rate)."""
        if self.out_fps is not None:
            return self.out_fps
        rate = self.source.fps * self.speed_factor
        return rate / math.ceil(rate / GIF_MAX_FPS) if rate > GIF_MAX_FPS else rate

    # -- time ----------------------------------------------------------------------------------

    def trim(self, start: TimeLike = 0, end: Optional[TimeLike] = None,
             duration: Optional[TimeLike] = None) -> "Clip":
        """Keep ``start`` to ``end`` (or ``start + duration``) of this clip; negative times count
        from the end.

        >>> clip.trim("0:01.5", duration=2)                 # doctest: +SKIP
        """
        self._before_effects("trim")
        if end is not None and duration is not None:
            raise InvalidParameterError("give an end or a duration, not both")
        s = self._resolve(parse_time(start, "start"), "start")
        if duration is not None:
            d = parse_time(duration, "duration")
            if d <= 0:
                raise InvalidParameterError(f"duration must be positive, got {d:g} s")
            e: Optional[float] = s + d
        elif end is not None:
            e = self._resolve(parse_time(end, "end"), "end")
        else:
            e = None
        if e is not None and e <= s:
            raise InvalidParameterError(
                f"end {format_time(e)} is not after start {format_time(s)}; give an end later than the start"
            )
        length = self.duration
        if length is not None and s >= length:
            raise InvalidParameterError(
                f"start {format_time(s)} is past the end of the clip ({format_time(length)}); choose an earlier start"
            )
        new_start = self.start + s * self.speed_factor
        new_end = self.end if e is None else self.start + e * self.speed_factor
        if self.end is not None and new_end is not None:
            new_end = min(new_end, self.end)
        return dataclasses.replace(self, start=new_start, end=new_end)

    def with_fps(self, fps: float) -> "Clip":
        """Resample to ``fps`` frames per second: frame k is the one on screen at ``k / fps``."""
        self._before_effects("with_fps")
        fps = _positive_number(fps, "fps")
        if fps > GIF_MAX_FPS * 2:
            raise InvalidParameterError(f"fps {fps:g} is too high; GIFs play at most {GIF_MAX_FPS:g} fps")
        return dataclasses.replace(self, out_fps=fps)

    def speed(self, factor: float) -> "Clip":
        """Play ``factor`` times faster (0.5 = half speed)."""
        self._before_effects("speed")
        factor = _positive_number(factor, "speed")
        return dataclasses.replace(self, speed_factor=self.speed_factor * factor)

    # -- space ---------------------------------------------------------------------------------

    def crop(self, x: int = 0, y: int = 0, width: Optional[int] = None, height: Optional[int] = None) -> "Clip":
        """Keep the ``width`` x ``height`` rectangle whose top-left corner is (``x``, ``y``), in this
        clip's pixels (width/height default to the rest of the frame)."""
        self._before_effects("crop")
        cw, ch = self.size
        width = cw - x if width is None else width
        height = ch - y if height is None else height
        for name, value in (("x", x), ("y", y), ("width", width), ("height", height)):
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value != int(value):
                raise InvalidParameterError(f"crop {name} must be a whole number of pixels, got {value!r}")
        validate_crop(Rect(int(x), int(y), int(width), int(height)), (cw, ch))
        rx, ry, rw, rh = self._region()
        sx, sy = rw / cw, rh / ch
        region = (rx + x * sx, ry + y * sy, width * sx, height * sy)
        size = None if self.out_size is None else (int(width), int(height))
        return dataclasses.replace(self, region=region, out_size=size)

    def resize(self, width: Optional[int] = None, height: Optional[int] = None,
               scale: Optional[float] = None) -> "Clip":
        """Scale to ``width`` and/or ``height`` (one alone keeps the aspect ratio) or by ``scale``."""
        cw, ch = self.size
        if scale is not None:
            if width is not None or height is not None:
                raise InvalidParameterError("give a scale or a width/height, not both")
            scale = _positive_number(scale, "scale")
            new = (max(1, round(cw * scale)), max(1, round(ch * scale)))
        elif width is not None and height is not None:
            new = (_side(width, "width"), _side(height, "height"))
        elif width is not None:
            w = _side(width, "width")
            new = (w, max(1, round(ch * w / cw)))
        elif height is not None:
            h = _side(height, "height")
            new = (max(1, round(cw * h / ch)), h)
        else:
            return self
        if max(new) > _MAX_SIDE:
            raise InvalidParameterError(f"size {new[0]}x{new[1]} is too large; GIF sides are at most {_MAX_SIDE} pixels")
        return dataclasses.replace(self, out_size=new)

    # -- frames --------------------------------------------------------------------------------

    def frames(self, alpha: bool = False) -> Iterator[Frame]:
        """Decode and yield ``(time, image)`` pairs: output seconds and an (H, W, 3) uint8 RGB array
        (H, W, 4 RGBA with ``alpha=True``: source alpha and background removal show there)."""
        pix_fmt = "rgba" if alpha else "rgb24"
        if not self.effects:
            return iter(self.plan(pix_fmt).reader())
        return self._rendered_frames(pix_fmt)

    def _rendered_frames(self, pix_fmt: str) -> Iterator[Frame]:
        from .render import render

        rendered = render(self, pix_fmt="rgba")  # effects such as background removal add alpha
        try:
            for time, image in rendered.frames():
                yield Frame(time, image if pix_fmt == "rgba" else np.ascontiguousarray(image[..., :3]))
        finally:
            rendered.close()

    def without_effects(self) -> "Clip":
        """This clip's source, window and geometry, with no effects."""
        return dataclasses.replace(self, effects=())

    def snapshot_image(self, t: TimeLike = 0.0) -> "np.ndarray":
        """The (H, W, 3) RGB frame on screen at ``t`` (clip seconds), ignoring effects."""
        t = self._resolve(parse_time(t, "snapshot time"), "snapshot time")
        length = self.without_effects().duration
        if length is not None and t >= length:
            raise InvalidParameterError(
                f"snapshot time {format_time(t)} is past the end of the clip ({format_time(length)})")
        base = dataclasses.replace(self, effects=(), out_fps=None)
        for frame in base.trim(t).frames():
            return frame.image
        raise InvalidParameterError(f"no frame at {format_time(t)}; choose an earlier time")  # pragma: no cover

    # -- effects -------------------------------------------------------------------------------

    def reverse(self) -> "Clip":
        """Play backwards."""
        return self._with(Reverse())

    def boomerang(self) -> "Clip":
        """Play forwards then backwards (turning frames not repeated), so it loops smoothly."""
        return self._with(Boomerang())

    def loop(self, n: int = 2) -> "Clip":
        """Repeat the clip ``n`` times in a row (the GIF's own loop count is ``write_gif(loop=...)``)."""
        return self._with(Loop(n))

    def make_loopable(self, overlap: TimeLike = 0.5) -> "Clip":
        """Crossfade the clip's start over its end so the loop has no jump; ``overlap`` s shorter.

        >>> clip.trim(0, 3).make_loopable(0.5).duration        # doctest: +SKIP
        2.5
        """
        overlap = parse_time(overlap, "crossfade")
        length = self.duration
        if overlap <= 0:
            raise InvalidParameterError(f"crossfade must be positive, got {overlap:g} s")
        if length is not None and 2 * overlap > length + 1e-9:
            raise InvalidParameterError(
                f"crossfade {overlap:g} s is too long for a {length:.2f} s clip; use at most half its length")
        return self._with(MakeLoopable(overlap))

    def fade_in(self, duration: TimeLike = 0.5, color="black") -> "Clip":
        """Fade in from ``color`` over the first ``duration`` seconds (of the final timeline)."""
        return self._with(Fade(parse_time(duration, "fade"), True, color))

    def fade_out(self, duration: TimeLike = 0.5, color="black") -> "Clip":
        """Fade out to ``color`` over the last ``duration`` seconds (of the final timeline)."""
        return self._with(Fade(parse_time(duration, "fade"), False, color))

    def freeze_region(self, region=None, *, outside=None, mask=None, line=None, t: TimeLike = 0.0) -> "Clip":
        """Keep part of the picture still, as it is at ``t``, while the rest moves.

        Give one of: ``region=(x, y, w, h)``; ``outside=(x, y, w, h)`` (everything but the
        rectangle freezes); ``mask="mask.png"`` (grey levels blend: white frozen); or
        ``line=((x1, y1), (x2, y2), grad_width)`` (frozen on the left of the line from the first
        point to the second, with a soft edge ``grad_width`` px wide).

        >>> clip.freeze_region(outside=(120, 80, 200, 150), t=1.0)      # doctest: +SKIP
        """
        given = [v is not None for v in (region, outside, mask, line)]
        if sum(given) != 1:
            raise InvalidParameterError("give exactly one of region, outside, mask or line to freeze_region")
        if region is not None:
            spec = ("rect", _rect(region))
        elif outside is not None:
            spec = ("outside", _rect(outside))
        elif mask is not None:
            spec = ("image", str(mask))
        else:
            try:
                p1, p2, width = line
                spec = ("line", tuple(map(float, p1)), tuple(map(float, p2)), float(width))
            except (TypeError, ValueError):
                raise InvalidParameterError("line must be ((x1, y1), (x2, y2), grad_width)") from None
        t = self._resolve(parse_time(t, "freeze time"), "freeze time")
        if self.duration is not None and t >= self.duration:
            raise InvalidParameterError(
                f"freeze time {format_time(t)} is past the end of the clip ({format_time(self.duration)})")
        effect = FreezeRegion(spec, t)
        # Check the region against the frame now (the snapshot is decoded only when rendering).
        if spec[0] in ("rect", "outside"):
            rect_mask(self.size, spec[1])
        elif spec[0] == "image":
            image_mask(spec[1], self.size)
        return self._with(effect)

    def text(self, text: str, position="bottom", size: int = 32, color="white", stroke="black",
             stroke_width: Optional[int] = None, font: Optional[str] = None, start: TimeLike = 0,
             end: Optional[TimeLike] = None) -> "Clip":
        """Write ``text`` (lines split by "\\n") on the frames, optionally only from ``start`` to ``end``.

        ``position`` is a name (``"bottom"``, ``"top-left"``, ``"center"``, ...) or ``(x, y)`` of the
        text's top-left corner; ``font`` a TTF/OTF file (default: Pillow's bundled font).

        >>> clip.text("In my nightmares\\nI see rabbits.", "bottom", size=28)    # doctest: +SKIP
        """
        effect = Text(str(text), position, int(size), color, stroke, stroke_width, font,
                      parse_time(start, "text start"), None if end is None else parse_time(end, "text end"))
        if font is not None:
            load_font(font, int(size))
        return self._with(effect)

    def remove_background(self, threshold: float = 30.0, *, times=None, min_area: float = 0.001,
                          feather: float = 1.5) -> "Clip":
        """Make the still background transparent (static camera, moving subject).

        The background is the median of frames across the clip (or at ``times``); pixels differing
        from it by more than ``threshold`` (0-255) stay; see ``gifloop.effects.background``.

        >>> clip.remove_background(threshold=25).write_gif("subject.gif")     # doctest: +SKIP
        """
        parsed = None if times is None else tuple(parse_time(t, "background time") for t in times)
        return self._with(RemoveBackground(float(threshold), float(min_area), float(feather), parsed))

    def snapshot(self, t: TimeLike = 0.0, duration: Optional[TimeLike] = None) -> "Clip":
        """A still clip: the frame at ``t`` held for ``duration`` seconds (default: this clip's length).

        >>> still = clip.snapshot(1.0)          # the background of a cinemagraph   # doctest: +SKIP
        """
        self._before_effects("snapshot")
        t = self._resolve(parse_time(t, "snapshot time"), "snapshot time")
        hold = self.duration if duration is None else parse_time(duration, "duration")
        if hold is None or hold <= 0:
            raise InvalidParameterError("give the snapshot a positive duration; this video does not say its length")
        still = self.trim(t, t + 0.5 / self.fps) if self.duration is None or t + 0.5 / self.fps < self.duration \
            else self.trim(t)
        return still._with(Hold(hold))

    def crossfade_in(self, duration: TimeLike = 0.5) -> "Clip":
        """Fade this clip's opacity in from 0 over ``duration`` s (shows in a composite)."""
        return self._with(FadeAlpha(parse_time(duration, "crossfade")))

    def black_white(self) -> "Clip":
        """Black and white, keeping each pixel's luminance."""
        return self._with(BlackWhite())

    def gamma(self, value: float) -> "Clip":
        """Gamma correction: above 1 brightens mid-tones, below 1 darkens them."""
        return self._with(Levels(gamma=_positive_number(value, "gamma")))

    def brightness_contrast(self, brightness: float = 0.0, contrast: float = 1.0) -> "Clip":
        """Add ``brightness`` (-1..1 of full scale) and scale ``contrast`` around mid-grey (1 = same)."""
        return self._with(Levels(brightness=float(brightness), contrast=float(contrast)))

    def _with(self, effect) -> "Clip":
        return dataclasses.replace(self, effects=self.effects + (Placed(effect, self.size),))

    def _before_effects(self, method: str) -> None:
        if self.effects:
            raise InvalidParameterError(
                f"call {method}() before adding effects (reverse, text, freeze_region, ...); "
                "effects apply to the clip as it is when they are added")

    def plan(self, pix_fmt: str = "rgb24") -> SourcePlan:
        """Compile the recipe into one decoding window and one filter chain producing ``pix_fmt``."""
        info = self.source
        x, y, w, h = self._region()
        rect = Rect(int(round(x)), int(round(y)), max(1, int(round(w))), max(1, int(round(h))))
        full = (rect.x, rect.y, rect.size) == (0, 0, info.display_size)
        coded = None if full else display_to_coded(
            rect, info.rotation, info.sample_aspect, info.unrotated_display_size, info.coded_size)
        cw, ch = coded.size if coded else info.coded_size
        unscaled = (ch, cw) if info.rotation in (90, 270) else (cw, ch)
        chain = filter_chain(coded_rect=coded, rotation=info.rotation, out_size=self.size,
                             pix_fmt=pix_fmt, unscaled_size=unscaled)
        fps = self.out_fps
        if fps is None and self.fps < info.fps * self.speed_factor - 1e-6:
            fps = self.fps  # a source faster than GIFs can play: resample evenly
        window = Window(start=self.start, end=self.end, fps=fps, speed=self.speed_factor)
        return SourcePlan(info, window, chain, self.size, pix_fmt)

    def write_gif(self, path, **options):
        """Encode this clip as an animated GIF at ``path``; see ``gifloop.api.write_gif`` for options.

        >>> gifloop.open("in.mp4").resize(width=480).write_gif("out.gif")      # doctest: +SKIP
        """
        from .api import write_gif

        return write_gif(self, path, **options)

    def write(self, path, **options):
        """Write this clip as .gif, .webp, .png/.apng or .mp4, chosen by the file name.

        >>> gifloop.open("in.mp4").resize(width=480).write("out.webp", quality=75)    # doctest: +SKIP
        """
        from .api import write

        return write(self, path, **options)

    @property
    def source_paths(self) -> tuple[str, ...]:
        return (self.source.path,)

    def render(self, progress=None):
        """Decode and apply effects now: a ``gifloop.render.Rendered`` (RGBA frames and timeline)."""
        from .render import render

        return render(self, pix_fmt="rgba", progress=progress)

    def _repr_html_(self) -> str:
        from .preview import clip_preview_html

        return clip_preview_html(self)

    def __repr__(self) -> str:
        length = "?" if self.duration is None else f"{self.duration:.2f}s"
        w, h = self.size
        return f"<Clip {self.source.path!r} {w}x{h} {self.fps:.3g}fps {length}>"

    # -- helpers -------------------------------------------------------------------------------

    def _region(self) -> tuple[float, float, float, float]:
        if self.region is not None:
            return self.region
        w, h = self.source.display_size
        return (0.0, 0.0, float(w), float(h))

    def _source_end(self) -> Optional[float]:
        known = self.source.duration
        if self.end is None:
            return known
        return self.end if known is None else min(self.end, known)

    def _resolve(self, t: float, name: str) -> float:
        if t >= 0:
            return t
        length = self.duration
        if length is None:
            raise InvalidParameterError(
                f"{name} {t:g} counts from the end, but this video does not say how long it is; give a positive time"
            )
        if -t > length:
            raise InvalidParameterError(f"{name} {t:g} s is before the start of the {length:.2f} s clip")
        return length + t


_EXAMPLES = {"fps": "12", "speed": "2 or 0.5", "scale": "0.5", "width": "640", "height": "480"}


def _positive_number(value, name: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidParameterError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(number) or number <= 0:
        raise InvalidParameterError(
            f"{name} must be positive, got {value!r}; pass a value such as {_EXAMPLES.get(name, '1')}")
    return number


def _rect(value) -> tuple[int, int, int, int]:
    try:
        x, y, w, h = (int(v) for v in value)
    except (TypeError, ValueError):
        raise InvalidParameterError(f"a region is (x, y, width, height) in whole pixels, got {value!r}") from None
    return x, y, w, h


def _side(value, name: str) -> int:
    number = _positive_number(value, name)
    if number != int(number):
        raise InvalidParameterError(f"{name} must be a whole number of pixels, got {value!r}")
    return int(number)
