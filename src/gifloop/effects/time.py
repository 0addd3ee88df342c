"""Time effects: reverse, boomerang, loop, crossfaded (seamless) loops, and fades.

>>> Boomerang().retime(Timeline.identity([0, 1, 2], 3)).shots[-1].sources
((1, 1.0),)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..errors import InvalidParameterError
from ..timeline import Timeline
from .base import PixelEffect, RenderContext, TimeEffect
from .text import parse_colour


@dataclass(frozen=True)
class Reverse(TimeEffect):
    def retime(self, timeline: Timeline) -> Timeline:
        return timeline.reversed()


@dataclass(frozen=True)
class Boomerang(TimeEffect):
    def retime(self, timeline: Timeline) -> Timeline:
        return timeline.boomerang()

    def length(self, length: float, frame: float) -> float:
        return max(length, 2 * length - 2 * frame)  # the two turning frames are not repeated


@dataclass(frozen=True)
class Loop(TimeEffect):
    times: int = 2

    def __post_init__(self):
        if not isinstance(self.times, int) or self.times < 1:
            raise InvalidParameterError(f"loop count must be a whole number of 1 or more, got {self.times!r}")

    def retime(self, timeline: Timeline) -> Timeline:
        return timeline.repeated(self.times)

    def length(self, length: float, frame: float) -> float:
        return length * self.times


@dataclass(frozen=True)
class MakeLoopable(TimeEffect):
    overlap: float = 0.5

    def retime(self, timeline: Timeline) -> Timeline:
        return timeline.crossfade_loop(self.overlap)

    def length(self, length: float, frame: float) -> float:
        return length - self.overlap


@dataclass(frozen=True)
class Fade(PixelEffect):
    """Fade from (``fade_in``) or to (``fade_out``) a colour over ``duration`` seconds."""

    duration: float
    fade_in: bool = True
    color: object = "black"
    clip_length: float = 0.0  # output length, set by prepare (fade-outs count back from it)
    rgb: Optional[np.ndarray] = None  # the colour, parsed by prepare
    time_dependent = True

    def __post_init__(self):
        if not self.duration > 0:
            raise InvalidParameterError(f"fade duration must be positive, got {self.duration!r}")
        parse_colour(self.color, "fade colour")

    def prepare(self, context: RenderContext) -> "Fade":
        if context.duration is not None and self.duration > context.duration + 1e-9:
            raise InvalidParameterError(
                f"fade of {self.duration:g} s is longer than the {context.duration:.2f} s clip"
            )
        return dataclasses.replace(self, clip_length=context.duration or 0.0,
                                   rgb=np.array(parse_colour(self.color), np.float32))

    def apply(self, image: np.ndarray, time: float) -> np.ndarray:
        progress = time / self.duration if self.fade_in else (self.clip_length - time) / self.duration
        if progress >= 1:
            return image
        keep = max(0.0, progress)
        out = image.copy()
        out[..., :3] = (image[..., :3] * keep + self.rgb * (1 - keep) + 0.5).astype(np.uint8)
        return out


@dataclass(frozen=True)
class Hold(TimeEffect):
    """Show the first frame for ``duration`` seconds (a still, for snapshots)."""

    duration: float

    def retime(self, timeline: Timeline) -> Timeline:
        return Timeline(timeline.shots[:1], self.duration)

    def length(self, length: float, frame: float) -> float:
        return self.duration


@dataclass(frozen=True)
class FadeAlpha(PixelEffect):
    """Opacity rises from 0 to 1 over the first ``duration`` seconds (MoviePy's crossfadein)."""

    duration: float
    time_dependent = True

    def __post_init__(self):
        if not self.duration > 0:
            raise InvalidParameterError(f"crossfade duration must be positive, got {self.duration!r}")

    def apply(self, image: np.ndarray, time: float) -> np.ndarray:
        if time >= self.duration or image.shape[-1] != 4:
            return image
        out = image.copy()
        out[..., 3] = (image[..., 3] * max(0.0, time / self.duration) + 0.5).astype(np.uint8)
        return out

