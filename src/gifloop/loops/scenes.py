"""MoviePy's other two cut tools, reading the video forward once: ``detect_scenes`` and
``find_video_period``.

Both keep MoviePy's meaning and arguments. They work on the clip as given, like MoviePy, so give
them a small one: ``clip.resize(width=150)`` decodes straight to thumbnails.

>>> cuts, luminosities = detect_scenes(gifloop.open("film.mp4").resize(width=150), fps=10)  # doctest: +SKIP
>>> find_video_period(gifloop.open("spin.mp4").resize(width=150), fps=50)                    # doctest: +SKIP
0.8
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from ..clip import Clip
from ..errors import InvalidParameterError
from ..timecode import parse_time
from .checks import non_negative
from .frames import as_clip, clip_fps, first_frame, timed_frames


def detect_scenes(clip=None, luminosities=None, luminosity_threshold: float = 10, logger=None,
                  fps: Optional[float] = None):
    """Cut a clip into scenes where its luminosity jumps; returns ``(cuts, luminosities)``.

    ``luminosities`` (one per frame: the sum of all pixel values, MoviePy's measure) can be given
    instead of decoding ``clip`` again, e.g. from a previous run (then ``fps`` or ``clip`` gives the
    timing). A scene changes between two frames whose luminosities differ by more than
    ``luminosity_threshold`` times the average difference. ``cuts`` is ``[(0, t1), (t1, t2), ...,
    (tn, end)]``. ``logger`` is accepted for MoviePy scripts and ignored.

    >>> cuts, lum = detect_scenes(gifloop.open("film.mp4").resize(width=150), fps=10)   # doctest: +SKIP
    >>> cuts                                                                             # doctest: +SKIP
    [(0, 4.2), (4.2, 10.0)]
    """
    threshold = non_negative(luminosity_threshold, "luminosity_threshold", "10")
    if clip is None and luminosities is None:
        raise InvalidParameterError("give a clip or the luminosities of a previous run")
    clip = None if clip is None else as_clip(clip)
    times = None
    end = None
    if luminosities is None:
        times, sums, end = _luminosities(clip, fps)
        luminosities = np.array(sums, dtype=float)
    else:
        luminosities = np.array(luminosities, dtype=float)
    rate = clip_fps(clip, fps) if clip is not None else clip_fps(None, fps)
    if end is None:
        end = clip.duration if clip is not None and clip.duration is not None else len(luminosities) / rate
    jumps = np.abs(np.diff(luminosities))
    average = jumps.mean() if len(jumps) else 0.0
    frames = 1 + np.nonzero(jumps > threshold * average)[0]
    # MoviePy times a cut at frame k as k / fps; frames decoded here carry their own times.
    timings = [0] + [float(times[k]) if times is not None else (1.0 / rate) * int(k) for k in frames] + [end]
    return list(zip(timings, timings[1:])), luminosities


def find_video_period(clip, fps: Optional[float] = None, start_time=0.3) -> float:
    """The period of a video: the time after ``start_time`` whose frame correlates best with the
    first frame (MoviePy's method; frames at ``start_time + k / fps``, k >= 1).

    >>> find_video_period(gifloop.open("spin.mp4").resize(width=150), fps=50)   # doctest: +SKIP
    0.8
    """
    clip = as_clip(clip)
    rate = clip_fps(clip, fps)
    start_time = parse_time(start_time, "start_time")
    if start_time < 0:
        raise InvalidParameterError(f"start_time must be 0 or more, got {start_time:g}; e.g. start_time=0.3")
    first = first_frame(clip)
    if first is None:
        raise InvalidParameterError("the clip has no frames; give a clip with a picture")
    ref = _centred(first)
    ref_norm = np.sqrt(ref @ ref)
    best, best_time = -np.inf, None
    for k, image in _frames_after(clip, start_time, rate):
        frame = _centred(image)
        norm = np.sqrt(frame @ frame) * ref_norm
        corr = (frame @ ref) / norm if norm > 0 else -np.inf  # a uniform frame correlates with nothing
        if corr > best:
            best, best_time = corr, start_time + k * (1.0 / rate)  # np.arange's start + k * step
    if best_time is None:
        raise InvalidParameterError(
            f"no frame after start_time={start_time:g} s correlates with the first one (uniform frames, or "
            "a clip too short); lower start_time or give a longer clip")
    return best_time


def _luminosities(clip, fps):
    """Times, MoviePy luminosities (sum of all values) and end time of every frame, in one pass."""
    times, sums = [], []
    if isinstance(clip, Clip):
        source = clip.with_fps(fps) if fps is not None else clip
        reader = source.plan().reader()
        for t, image in reader:
            times.append(t)
            sums.append(int(image.sum(dtype=np.uint64)))
        return times, sums, reader.end_time
    for t, image in timed_frames(clip, fps):
        times.append(t)
        sums.append(float(np.asarray(image).sum(dtype=np.float64)))
    return times, sums, None


def _frames_after(clip, start_time: float, rate: float):
    """``(k, image)`` for the frames at ``start_time + k / rate``, k = 1, 2, ... before the end."""
    if isinstance(clip, Clip):
        if clip.duration is not None and start_time >= clip.duration:
            return
        for k, (_, image) in enumerate(timed_frames(clip.trim(start_time), rate)):
            if k:
                yield k, image
        return
    times = np.arange(start_time, clip.duration, 1.0 / rate)[1:]
    for k, t in enumerate(times, 1):
        yield k, clip.get_frame(t)


def _centred(image) -> np.ndarray:
    flat = np.asarray(image, dtype=np.float64).reshape(-1)
    return flat - flat.mean()
