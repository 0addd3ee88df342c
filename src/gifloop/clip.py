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
        """Length in seconds on the output timeline; None when the source does not say."""
        end = self._source_end()
        if end is None:
            return None
        return max(0.0, end - self.start) / self.speed_factor

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
        fps = _positive_number(fps, "fps")
        if fps > GIF_MAX_FPS * 2:
            raise InvalidParameterError(f"fps {fps:g} is too high; GIFs play at most {GIF_MAX_FPS:g} fps")
        return dataclasses.replace(self, out_fps=fps)

    def speed(self, factor: float) -> "Clip":
        """Play ``factor`` times faster (0.5 = half speed)."""
        factor = _positive_number(factor, "speed")
        return dataclasses.replace(self, speed_factor=self.speed_factor * factor)

    # -- space ---------------------------------------------------------------------------------

    def crop(self, x: int = 0, y: int = 0, width: Optional[int] = None, height: Optional[int] = None) -> "Clip":
        """Keep the ``width`` x ``height`` rectangle whose top-left corner is (``x``, ``y``), in this
        clip's pixels (width/height default to the rest of the frame)."""
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

    def frames(self) -> Iterator[Frame]:
        """Decode and yield ``(time, image)`` pairs: output seconds and an (H, W, 3) uint8 RGB array."""
        return iter(self.plan().reader())

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


def _side(value, name: str) -> int:
    number = _positive_number(value, name)
    if number != int(number):
        raise InvalidParameterError(f"{name} must be a whole number of pixels, got {value!r}")
    return int(number)
