"""Decode a time window of a video into RGB NumPy frames, streaming forward once.

The decoder seeks once (to the keyframe before the window), then decodes forward. Frame choice
happens on timestamps alone, before any pixel is touched; only the chosen frames go through the
FFmpeg filter graph (crop, rotate, scale, convert) and become arrays.

>>> reader = FrameReader(info, Window(start=1.0, end=3.0, fps=12), chain)   # doctest: +SKIP
>>> for frame in reader:                                                     # doctest: +SKIP
...     frame.time, frame.image.shape
(0.0, (495, 640, 3))
"""

from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Callable, Iterable, Iterator, NamedTuple, Optional, Union

import av
import numpy as np
from av.filter import Graph

from ..errors import CorruptSourceError, InvalidParameterError, TruncatedSourceWarning
from ..timecode import format_time
from .probe import SourceInfo, open_container

# Timestamps are rounded by containers (1 ms in MP4/MKV); a frame counts as shown at t when its
# timestamp is at most this much after t.
EPSILON = 0.0015

# A stream that ends this much before its header's duration is reported as truncated.
_TRUNCATION_SLACK = 0.5
_SEEK_BACK = 10.0  # seconds: how far before the start to seek again when a seek lands between keyframes


@dataclass(frozen=True)
class Window:
    """Which part of the source to read, in source seconds, and how to resample it.

    ``fps=None`` keeps the source's own frames; ``speed`` divides output times.
    """

    start: float = 0.0
    end: Optional[float] = None
    fps: Optional[float] = None
    speed: float = 1.0


class Frame(NamedTuple):
    """One output frame: when it starts on the output timeline (seconds) and its pixels."""

    time: float
    image: np.ndarray


def select_frames(timed: Iterable[tuple[float, Any]], window: Window,
                  last_duration: Union[float, Callable[[], float]]) -> Iterator[tuple[float, Any]]:
    """Choose, from ``(source_time, item)`` pairs in time order, the items a viewer sees in the window.

    Yields ``(output_time, item)``; with ``window.fps`` the item is the one on screen at each
    ``start + k * speed / fps``; without it every frame that is on screen inside the window.
    When exhausted, the generator's return value is the output time the last frame ends at;
    ``last_duration`` (seconds, or a function giving them once the input is exhausted) says how long
    the source's last frame lasts.

    >>> list(select_frames([(0.0, "a"), (0.1, "b"), (0.2, "c")], Window(fps=5), 0.1))
    [(0.0, 'a'), (0.2, 'c')]
    """
    start, end, speed = window.start, window.end, window.speed
    step = window.fps and speed / window.fps
    stop = float("inf") if end is None else end
    k = 0  # index of the next resampled frame
    prev: Optional[tuple[float, Any]] = None

    def emit(t0: float, t1: float, item: Any) -> Iterator[tuple[float, Any]]:
        nonlocal k
        if step:
            while True:
                target = start + k * step
                if target >= stop - EPSILON or target >= t1 - EPSILON:
                    return
                if target >= t0 - EPSILON:
                    yield (k * step) / speed, item
                k += 1
        elif t1 > start + EPSILON and t0 < stop - EPSILON:
            yield (max(t0, start) - start) / speed, item

    for time, item in timed:
        if prev is not None:
            yield from emit(prev[0], time, prev[1])
            if time >= stop - EPSILON:
                prev = None
                return (stop - start) / speed
        prev = (time, item)
    if prev is None:
        return 0.0
    source_end = prev[0] + (last_duration() if callable(last_duration) else last_duration)
    yield from emit(prev[0], source_end, prev[1])
    return (min(stop, source_end) - start) / speed


class FrameReader:
    """Iterate over the output frames of one source window, as RGB(A) arrays.

    After iteration, ``end_time`` is where the last frame ends (output seconds).
    """

    def __init__(self, info: SourceInfo, window: Window, chain: list[tuple[str, str]]):
        self.info = info
        self.window = window
        self.chain = chain
        self.end_time: Optional[float] = None
        self.frames_out = 0
        self._graph_key: Optional[tuple] = None
        self._graph: Optional[Graph] = None
        self._decoded_until: Optional[float] = None  # source time of the last frame decoded
        self._last_duration = 1.0 / info.fps  # how long that frame is shown

    def __iter__(self) -> Iterator[Frame]:
        container = open_container(self.info.path)
        try:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"  # frame + slice threads: decoding is the floor of everything
            timed = self._decode(container, stream)
            selector = select_frames(timed, self.window, lambda: self._last_duration)
            while True:
                try:
                    time, av_frame = next(selector)
                except StopIteration as done:
                    self.end_time = done.value
                    break
                self.frames_out += 1
                yield Frame(time, self._convert(av_frame))
        finally:
            container.close()
        if self.frames_out == 0:
            length = self.info.duration if self.info.duration is not None else self._decoded_until
            raise InvalidParameterError(
                f"start {format_time(self.window.start)} is past the end of the video "
                f"({format_time(length or 0.0)}); choose an earlier --start"
            )

    # -- decoding ------------------------------------------------------------------------------

    def _decode(self, container, stream) -> Iterator[tuple[float, Any]]:
        """Yield ``(source_seconds, av_frame)`` in presentation order from the window start on."""
        start = self.window.start
        # A seek may land between keyframes (WebM clusters without cue points: the decoder then
        # refuses every packet until the next keyframe, maybe never): seek earlier, then from the top.
        tries = [start] + [t for t in (start - _SEEK_BACK, 0.0) if 0 <= t < start]
        for k, seek_to in enumerate(tries):
            if k and seek_to == 0.0:
                container.seek(0)
            frames = self._frames_from(container, stream, seek_to, seek=k == 0 or seek_to > 0)
            try:
                first = next(frames, None)
                break
            except av.error.FFmpegError as exc:
                if k == len(tries) - 1:
                    self._truncated(None, f"decoding failed: {exc.strerror or exc}")
        if first is not None and start > 0 and self._time(first, None) > start + 1.0 / self.info.fps + EPSILON:
            # The seek landed after the start (a bad keyframe index): decode from the top instead.
            container.seek(0)
            frames = self._frames_from(container, stream, 0.0, seek=False)
        elif first is not None:
            frames = itertools.chain([first], frames)
        yield from self._timed(frames)

    def _time(self, frame, last: Optional[float]) -> float:
        nominal = 1.0 / self.info.fps
        t = frame.time
        t = (t - self.info.start_time) if t is not None else (last + nominal if last is not None else 0.0)
        if last is not None and t <= last:  # broken or missing timestamps: keep the order
            t = last + nominal
        return t

    def _frame_duration(self, frame) -> float:
        """How long ``frame`` is shown: its own duration when the container says, else 1/fps."""
        duration, base = getattr(frame, "duration", None), frame.time_base
        if duration and base and duration > 0:
            return float(duration * base)
        return 1.0 / self.info.fps

    def _timed(self, frames) -> Iterator[tuple[float, Any]]:
        last = None
        try:
            for frame in frames:
                last = self._time(frame, last)
                self._decoded_until = last
                self._last_duration = self._frame_duration(frame)
                yield last, frame
        except av.error.FFmpegError as exc:
            self._truncated(last, f"decoding stopped: {exc.strerror or exc}")
            return
        self._check_complete(last)

    def _frames_from(self, container, stream, start: float, seek: bool = True):
        if seek and start > 0:
            target = int((start + self.info.start_time) / stream.time_base)
            try:
                container.seek(target, stream=stream, backward=True, any_frame=False)
            except av.error.FFmpegError:
                container.seek(0)
        decoder = _alpha_decoder(self.info)
        if decoder is None:
            return iter(container.decode(stream))
        return _decode_with(decoder, container, stream)

    def _check_complete(self, last: Optional[float]) -> None:
        duration = self.info.duration
        end = self.window.end
        if last is None or duration is None:
            return
        wanted = duration if end is None else min(end, duration)
        if last + self._last_duration < wanted - _TRUNCATION_SLACK:
            self._truncated(last, "the file ends early")

    def _truncated(self, last: Optional[float], why: str) -> None:
        if last is None:
            raise CorruptSourceError(
                f"cannot decode {self.info.path!r} ({why}); the file is damaged or incomplete"
            )
        said = f" although its header says {format_time(self.info.duration)}" if self.info.duration else ""
        warnings.warn(
            f"{self.info.path}: video ends at {format_time(last)}{said} ({why}); converted what decoded",
            TruncatedSourceWarning,
            stacklevel=2,
        )

    # -- pixels --------------------------------------------------------------------------------

    def _convert(self, frame) -> np.ndarray:
        key = (frame.width, frame.height, frame.format.name)
        if key != self._graph_key:
            self._graph = self._build_graph(frame)
            self._graph_key = key
        self._graph.vpush(frame)
        return self._graph.vpull().to_ndarray()

    def _build_graph(self, frame) -> Graph:
        graph = Graph()
        nodes = [graph.add_buffer(width=frame.width, height=frame.height, format=frame.format,
                                  time_base=frame.time_base or Fraction(1, 90000))]
        for name, args in self.chain:
            nodes.append(graph.add(name, args) if args else graph.add(name))
        nodes.append(graph.add("buffersink"))
        graph.link_nodes(*nodes).configure()
        return graph


# FFmpeg's own VP8/VP9 decoders ignore the alpha plane that WebM stores beside the picture; the
# libvpx decoders (in PyAV's wheels) read it and return yuva420p frames.
_ALPHA_DECODERS = {"vp8": "libvpx", "vp9": "libvpx-vp9"}


def _alpha_decoder(info: SourceInfo):
    name = _ALPHA_DECODERS.get(info.codec)
    if not info.has_alpha or name is None or name not in av.codecs_available:
        return None
    decoder = av.CodecContext.create(name, "r")
    decoder.thread_type = "AUTO"
    return decoder


def _decode_with(decoder, container, stream):
    for packet in container.demux(stream):
        yield from decoder.decode(packet)

