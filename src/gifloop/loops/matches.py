"""``FramesMatch`` / ``FramesMatches``: MoviePy's ``moviepy.video.tools.cuts`` API, at decoding speed.

Names, arguments and results are MoviePy's, so a script ports by changing its import. What differs
(each is a MoviePy bug, pinned by a test):

- ``from_clip(..., fps=...)`` samples the clip at ``fps``; MoviePy ignores the argument.
- ``load`` reads a file of one match; MoviePy crashes on it (``np.loadtxt`` returns one row as 1-D).
- ``select_scenes`` checks for motion with distances measured by ``from_clip`` for every frame, not
  with the matches it kept, so it no longer needs a loose ``distance_threshold`` to see motion; the
  0.6 s MoviePy hard-codes is ``motion_span``.
- ``best(percent=...)`` always returns a ``FramesMatches``; MoviePy returns a bare match when the
  percentage comes to one.

>>> clip = gifloop.open("foo.mp4").resize(width=150)                        # doctest: +SKIP
>>> matches = FramesMatches.from_clip(clip, distance_threshold=10, max_duration=3)  # doctest: +SKIP
>>> best = matches.filter(lambda m: m.time_span > 1.5).best()               # doctest: +SKIP
>>> clip.trim(best.start_time, best.end_time).write_gif("foo.gif")          # doctest: +SKIP
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from itertools import groupby
from typing import Callable, Iterable, NamedTuple, Optional

import numpy as np

from ..errors import InvalidParameterError, SourceNotFoundError, SourceReadError
from . import kernels
from .buffers import GrowingArray
from .checks import non_negative, positive
from .distances import SlidingDistances
from .frames import as_clip, subclip, timed_frames

MOTION_SPAN = 0.6  # seconds: MoviePy's select_scenes looks this far ahead for motion (hard-coded there)


class FramesMatch(NamedTuple):
    """Two frames that look alike: ``start_time``, ``end_time`` (seconds) and bounds on their distance.

    gifloop computes every distance exactly, so ``min_distance == max_distance`` in its results.

    >>> FramesMatch(1.0, 2.5, 0.8, 0.8).time_span
    1.5
    """

    start_time: float
    end_time: float
    min_distance: float
    max_distance: float

    @property
    def time_span(self) -> float:
        return self.end_time - self.start_time


@dataclass(frozen=True)
class Motion:
    """For each frame, the largest distance to a frame at most ``span`` seconds after it (NaN: none).

    ``from_clip`` measures it from every pair it computes, whatever its ``distance_threshold``.
    """

    span: float
    times: np.ndarray
    peaks: np.ndarray

    def at(self, time: float) -> float:
        """The peak of the frame at ``time`` (within 1 ms, what ``save`` keeps); NaN if unknown."""
        k = int(np.searchsorted(self.times, time))
        best = min((i for i in (k - 1, k) if 0 <= i < len(self.times)),
                   key=lambda i: abs(self.times[i] - time), default=None)
        if best is None or abs(self.times[best] - time) > 1e-3:
            return math.nan
        return float(self.peaks[best])


class FramesMatches(list):
    """A list of ``FramesMatch``, sorted by ``max_distance`` (stable: ties keep their order).

    Build one with ``from_clip``, ``from_frames`` or ``load``, or from any list of matches or
    4-tuples.

    >>> FramesMatches([(0, 2, 5.0, 5.0), (1, 2, 0.0, 0.0)]).best()
    FramesMatch(start_time=1, end_time=2, min_distance=0.0, max_distance=0.0)
    """

    def __init__(self, lst: Iterable = (), motion: Optional[Motion] = None):
        matches = (m if isinstance(m, FramesMatch) else FramesMatch(*m) for m in lst)
        super().__init__(sorted(matches, key=lambda m: m.max_distance))
        self.motion = motion

    # -- building --------------------------------------------------------------------------------

    @staticmethod
    def from_clip(clip, distance_threshold: float, max_duration: float, fps: Optional[float] = None,
                  logger=None, motion_span: float = MOTION_SPAN) -> "FramesMatches":
        """All pairs of frames at most ``max_duration`` apart whose distance is under ``distance_threshold``.

        ``clip`` is a gifloop ``Clip`` (resize it first: ``clip.resize(width=150)`` decodes straight
        to thumbnails), a path, or a MoviePy clip. ``fps`` samples the clip at that rate (default:
        every frame of a gifloop clip, ``clip.fps`` for a MoviePy clip). ``logger`` is accepted for
        MoviePy scripts and ignored. ``motion_span``: see ``select_scenes``. A clip of one frame
        gives no matches.

        >>> matches = FramesMatches.from_clip(gifloop.open("a.mp4").resize(width=150), 10, 3)  # doctest: +SKIP
        """
        clip = as_clip(clip)
        threshold = _threshold(distance_threshold, "distance_threshold", "10")
        max_duration = positive(max_duration, "max_duration", "3", allow_inf=True)
        motion_span = positive(motion_span, "motion_span", "0.6")
        rate = positive(fps, "fps", "12") if fps is not None else getattr(clip, "fps", None)
        return FramesMatches.from_frames(timed_frames(clip, fps), threshold, max_duration, motion_span=motion_span,
                                         fps=rate)

    @staticmethod
    def from_frames(frames: Iterable[tuple[float, np.ndarray]], distance_threshold: float,
                    max_duration: float, motion_span: float = MOTION_SPAN,
                    fps: Optional[float] = None) -> "FramesMatches":
        """``from_clip`` on ``(time, image)`` pairs already at hand (``fps``, optional, sizes buffers).

        >>> FramesMatches.from_frames([(0, a), (1, b), (2, a)], 1, 3)    # doctest: +SKIP
        [FramesMatch(start_time=0, end_time=2, min_distance=0.0, max_distance=0.0)]
        """
        threshold = _threshold(distance_threshold, "distance_threshold", "10")
        max_duration = positive(max_duration, "max_duration", "3", allow_inf=True)
        motion_span = positive(motion_span, "motion_span", "0.6")
        engine = SlidingDistances(max(max_duration, motion_span), fps=fps)
        starts, ends, dists = [], [], []
        times, peaks = GrowingArray(), GrowingArray()

        def finish(block):
            # row-major: by end time, then start time, as MoviePy appends them
            r, c, d, peaks.values[block.first:block.first + len(block.times)] = block.finish_matches()
            starts.append(block.first + c)  # frame numbers
            ends.append(block.first + block.row_offset + r)
            dists.append(d)

        running = None  # a block being matched (in the ring's helper thread) while the next is stored
        for block in engine.blocks(frames):
            if running is not None:
                finish(running)  # its peaks are the next block's floor
            rows = block.row_times
            times.extend(rows)
            peaks.extend(np.full(len(rows), np.nan))
            block.start_matches(threshold, max_duration, motion_span,
                                peaks.values[block.first:block.first + len(block.times)])
            running = block
        if running is not None:
            finish(running)
        motion = Motion(motion_span, times.values.copy(), peaks.values.copy())
        if not starts:
            return FramesMatches(motion=motion)
        starts, ends, dists = (np.concatenate(a) for a in (starts, ends, dists))
        return FramesMatches._presorted(_matches(motion.times, starts, ends, dists), motion)

    @classmethod
    def _presorted(cls, matches: list, motion: Optional[Motion]) -> "FramesMatches":
        out = cls.__new__(cls)
        list.__init__(out, matches)
        out.motion = motion
        return out

    # -- choosing --------------------------------------------------------------------------------

    def best(self, n: int = 1, percent: Optional[float] = None):
        """The best match (``n=1``: a ``FramesMatch``), or the ``n`` best / best ``percent`` % as
        ``FramesMatches``.

        >>> matches.best(percent=10)     # always a FramesMatches, even when 10 % is one match  # doctest: +SKIP
        """
        if percent is not None:
            if not isinstance(percent, (int, float)) or isinstance(percent, bool) or not 0 < percent <= 100:
                raise InvalidParameterError(
                    f"percent must be above 0 and at most 100, got {percent!r}; e.g. percent=10")
            return self._presorted(self[: int(len(self) * percent / 100)], self.motion)
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise InvalidParameterError(f"n must be a whole number of matches, 1 or more, got {n!r}; e.g. n=5")
        if n == 1:
            if not self:
                raise InvalidParameterError(
                    "there are no matches to choose from; raise distance_threshold or max_duration")
            return self[0]
        return self._presorted(self[:n], self.motion)

    def filter(self, condition: Callable[[FramesMatch], bool]) -> "FramesMatches":
        """The matches for which ``condition(match)`` is true.

        >>> matches.filter(lambda m: m.time_span > 1)        # doctest: +SKIP
        """
        return self._presorted([m for m in self if condition(m)], self.motion)

    def select_scenes(self, match_threshold: float, min_time_span: float, nomatch_threshold: Optional[float] = None,
                      time_distance: float = 0, motion_span: Optional[float] = None) -> "FramesMatches":
        """For each start time (in order, at least ``time_distance`` after the last one chosen), the
        longest match with ``max_distance < match_threshold`` and ``time_span > min_time_span``,
        provided the picture moves: some frame within ``motion_span`` seconds (default 0.6, MoviePy's
        fixed value) is more than ``nomatch_threshold`` (default ``match_threshold``) away.

        The motion test uses every distance ``from_clip`` measured (``self.motion``), so it works with
        any ``distance_threshold``. Without them (matches built from a list, or a file saved by
        MoviePy), it falls back to MoviePy's test on the stored matches.

        >>> FramesMatches.from_clip(clip, 10, 3).select_scenes(1, 2, nomatch_threshold=0)  # doctest: +SKIP
        """
        match_threshold = _threshold(match_threshold, "match_threshold", "1")
        min_time_span = non_negative(min_time_span, "min_time_span", "2")
        nomatch = match_threshold if nomatch_threshold is None else _threshold(
            nomatch_threshold, "nomatch_threshold", "0")
        time_distance = non_negative(time_distance, "time_distance", "0")
        moves = self._motion_test(nomatch, motion_span)
        chosen = []
        min_start = -math.inf
        for start, group in groupby(sorted(self, key=lambda m: m.start_time), key=lambda m: m.start_time):
            if start < min_start:
                continue
            group = list(group)
            good = [m for m in group if m.max_distance < match_threshold and m.end_time - start > min_time_span]
            if not good or not moves(start, group):
                continue
            longest = max(m.end_time for m in good)
            chosen.append(next(m for m in good if m.end_time == longest))  # the first, in distance order
            min_start = start + time_distance
        return FramesMatches(chosen, motion=self.motion)

    def _motion_test(self, nomatch: float, motion_span: Optional[float]):
        """``moves(start, matches_from_start)``: does the picture change soon after ``start``?"""
        if self.motion is not None:
            span = self.motion.span if motion_span is None else positive(motion_span, "motion_span", "0.6")
            if abs(span - self.motion.span) > 1e-9:
                raise InvalidParameterError(
                    f"these matches measured motion over {self.motion.span:g} s; pass motion_span="
                    f"{self.motion.span:g} or run from_clip(..., motion_span={span:g})")
            return lambda start, group: self.motion.at(start) > nomatch
        span = MOTION_SPAN if motion_span is None else positive(motion_span, "motion_span", "0.6")
        # MoviePy's test: a stored match that starts here, ends within the span and is far enough.
        return lambda start, group: any(m.end_time - start <= span and m.min_distance > nomatch for m in group)

    # -- files -----------------------------------------------------------------------------------

    def save(self, filename) -> None:
        """Write the matches as MoviePy does (tab-separated start, end, min, max; 3 decimals unless a
        value needs more); the motion measurements follow as ``#`` lines, which MoviePy's ``load``
        skips.

        >>> matches.save("matches.txt"); FramesMatches.load("matches.txt")     # doctest: +SKIP
        """
        lines = ["\t".join(_number(v) for v in m) for m in self]
        if self.motion is not None:
            lines.append(f"#motion_span\t{_number(self.motion.span)}")
            lines += [f"#motion\t{_number(t)}\t{_number(p)}" for t, p in zip(self.motion.times, self.motion.peaks)]
        with open(filename, "w") as f:
            f.write("".join(line + "\n" for line in lines))

    @staticmethod
    def load(filename) -> "FramesMatches":
        """Read a file written by ``save`` (gifloop's or MoviePy's); one match, or none, is fine.

        >>> FramesMatches.load("matches.txt")       # doctest: +SKIP
        """
        text = _read_text(filename)
        matches, span, times, peaks = [], None, [], []
        for number, line in enumerate(text.splitlines(), 1):
            fields = line.split("#", 1)
            values = fields[0].split()
            if values:
                if len(values) != 4:
                    raise InvalidParameterError(
                        f"line {number} of {os.fspath(filename)!r} has {len(values)} values, not 4 "
                        "(start, end, min, max); give a file written by FramesMatches.save")
                matches.append(FramesMatch(*(_parse(v, filename, number) for v in values)))
            elif len(fields) == 2:
                parts = fields[1].split()
                if parts[:1] == ["motion_span"] and len(parts) == 2:
                    span = _parse(parts[1], filename, number)
                elif parts[:1] == ["motion"] and len(parts) == 3:
                    times.append(_parse(parts[1], filename, number))
                    peaks.append(_parse(parts[2], filename, number))
        motion = Motion(span, np.array(times), np.array(peaks)) if span is not None else None
        return FramesMatches(matches, motion=motion)

    def write_gifs(self, clip, gifs_dir, **kwargs) -> list[str]:
        """Write each match of ``clip`` as ``gifs_dir/SSSSSSSS_EEEEEEEE.gif`` (times in centiseconds);
        ``kwargs`` go to ``write_gif``. Makes ``gifs_dir`` if needed; returns the paths.

        >>> matches.write_gifs(gifloop.open("a.mp4").resize(width=320), "gifs", overwrite=True)  # doctest: +SKIP
        """
        clip = as_clip(clip)
        os.makedirs(gifs_dir, exist_ok=True)
        paths = []
        for start, end, _, _ in self:
            # round, not MoviePy's %d truncation, which names 1.15 s "00000114"
            path = os.path.join(os.fspath(gifs_dir), f"{round(100 * start):08d}_{round(100 * end):08d}.gif")
            part = subclip(clip, start, end)
            part.write_gif(path, **kwargs)
            paths.append(path)
        return paths


def _matches(times: np.ndarray, starts: np.ndarray, ends: np.ndarray, dists: np.ndarray) -> list:
    """``[FramesMatch(times[s], times[e], d, d), ...]`` for frame numbers ``s``, ``e``, sorted by
    distance, stably as MoviePy's ``sorted()`` (ties keep their row-major order), built in C
    (``kernels.frames_matches``): for the long test video's 303,472 matches, ``FramesMatch(...)``
    took 0.26 s, ``tuple.__new__`` from Python 0.05 s and NumPy's stable argsort 0.02 s more."""
    return kernels.frames_matches(FramesMatch, np.ascontiguousarray(times, np.float64),
                                  np.ascontiguousarray(starts, np.int64), np.ascontiguousarray(ends, np.int64),
                                  np.ascontiguousarray(dists, np.float64))


def _threshold(value, name: str, example: str) -> float:
    """A distance threshold: 0 or more; ``math.inf`` means no limit."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value == math.inf:
        return math.inf
    return non_negative(value, name, example)


def _number(value: float) -> str:
    """MoviePy's ``%.3f`` when it is exact to 1e-9, else 6 decimals (times of 24 fps frames)."""
    if math.isnan(value):
        return "nan"
    short = f"{value:.3f}"
    return short if abs(float(short) - value) < 1e-9 else f"{value:.6f}"


def _parse(text: str, filename, line: int) -> float:
    try:
        return float(text)
    except ValueError:
        raise InvalidParameterError(
            f"line {line} of {os.fspath(filename)!r} has {text!r}, not a number; "
            "give a file written by FramesMatches.save") from None


def _read_text(filename) -> str:
    try:
        with open(filename) as f:
            return f.read()
    except FileNotFoundError:
        raise SourceNotFoundError(f"no matches file {os.fspath(filename)!r}; check the path") from None
    except (IsADirectoryError, UnicodeDecodeError, PermissionError) as exc:
        raise SourceReadError(f"cannot read matches from {os.fspath(filename)!r} ({exc.__class__.__name__}); "
                              "give a text file written by FramesMatches.save") from None

