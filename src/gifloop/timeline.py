"""Timelines: which stored frames make up each output frame, and when it starts.

Time effects (reverse, boomerang, loop, crossfaded loops) never touch pixels: they rewrite a
``Timeline`` of ``Shot``s, each a weighted blend of frames kept by the decoder. Pixels are only
combined when the output frames are rendered.

>>> t = Timeline.identity([0.0, 0.5, 1.0], end=1.5)
>>> [s.time for s in t.reversed().shots], [s.sources[0][0] for s in t.reversed().shots]
([0.0, 0.5, 1.0], [2, 1, 0])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from .errors import InvalidParameterError

Source = tuple[int, float]  # (index of a stored frame, weight)


@dataclass(frozen=True)
class Shot:
    """One output frame: start time (s) and the stored frames blended into it."""

    time: float
    sources: tuple[Source, ...]

    @property
    def single(self) -> bool:
        return len(self.sources) == 1 and self.sources[0][1] == 1.0


@dataclass(frozen=True)
class Timeline:
    """Output frames in order and the time the last one ends."""

    shots: tuple[Shot, ...]
    end: float

    @classmethod
    def identity(cls, times: Sequence[float], end: float) -> "Timeline":
        return cls(tuple(Shot(t, ((i, 1.0),)) for i, t in enumerate(times)), end)

    @property
    def durations(self) -> list[float]:
        starts = [s.time for s in self.shots]
        return [b - a for a, b in zip(starts, starts[1:] + [self.end])]

    @property
    def blends(self) -> bool:
        """Whether any output frame mixes stored frames (so new colours appear)."""
        return any(not s.single for s in self.shots)

    def _rebuilt(self, shots_and_durations) -> "Timeline":
        shots, t = [], 0.0
        for sources, duration in shots_and_durations:
            shots.append(Shot(t, sources))
            t += duration
        return Timeline(tuple(shots), t)

    def reversed(self) -> "Timeline":
        """Play backwards; every frame keeps its own duration."""
        pairs = list(zip((s.sources for s in self.shots), self.durations))
        return self._rebuilt(reversed(pairs))

    def boomerang(self) -> "Timeline":
        """Forward, then backward without repeating the two turning frames, so it loops smoothly."""
        pairs = list(zip((s.sources for s in self.shots), self.durations))
        return self._rebuilt(pairs + pairs[-2:0:-1])

    def repeated(self, times: int) -> "Timeline":
        """The whole timeline ``times`` times in a row."""
        pairs = list(zip((s.sources for s in self.shots), self.durations))
        return self._rebuilt(pairs * times)

    def crossfade_loop(self, overlap: float) -> "Timeline":
        """Fade the start in over the last ``overlap`` seconds so the loop has no jump.

        The result is ``overlap`` shorter: it starts at ``overlap`` and, over its last ``overlap``
        seconds, blends the ending with the clip's first seconds, so its last frame leads into its
        first (MoviePy's ``make_loopable``, on stored frames).
        """
        length = self.end - (self.shots[0].time if self.shots else 0.0)
        if overlap <= 0:
            raise InvalidParameterError(f"crossfade must be positive, got {overlap:g} s")
        if overlap * 2 > length + 1e-9:
            raise InvalidParameterError(
                f"crossfade {overlap:g} s is too long for a {length:.2f} s clip; use at most half its length"
            )
        times = [s.time for s in self.shots]
        out: list[Shot] = []
        new_end = length - overlap
        fade_start = new_end - overlap
        for shot in self.shots:
            if shot.time < overlap - 1e-9:
                continue  # the first `overlap` seconds only appear faded in at the end
            u = shot.time - overlap
            if u < fade_start - 1e-9:
                out.append(Shot(u, shot.sources))
                continue
            alpha = min(1.0, max(0.0, (u - fade_start) / overlap))
            early = _on_screen(times, u - fade_start)
            sources = tuple((i, w * (1 - alpha)) for i, w in shot.sources)
            sources += tuple((i, w * alpha) for i, w in self.shots[early].sources)
            out.append(Shot(u, _merge(sources)))
        return Timeline(tuple(out), new_end)


def _on_screen(times: Sequence[float], t: float) -> int:
    """Index of the shot on screen at ``t``."""
    import bisect

    return max(0, bisect.bisect_right(times, t + 1e-9) - 1)


def _merge(sources: tuple[Source, ...]) -> tuple[Source, ...]:
    weights: dict[int, float] = {}
    for index, weight in sources:
        if weight > 1e-6:
            weights[index] = weights.get(index, 0.0) + weight
    return tuple(weights.items())
