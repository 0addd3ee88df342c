"""Open a video file with PyAV and describe its video stream (``SourceInfo``).

Turns every way a file can be wrong into a one-line gifloop error, so nothing later has to.

>>> info = probe("clip.mp4")                                      # doctest: +SKIP
>>> info.display_size, info.fps, info.rotation                    # doctest: +SKIP
((1080, 1920), 30.0, 90)
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from fractions import Fraction
from typing import Optional

import av

from ..errors import (
    CorruptSourceError,
    NotAVideoError,
    SourceNotFoundError,
    SourceReadError,
)

# Containers whose duration FFmpeg can only guess from the bit rate (raw elementary streams);
# `xine_water_logo_loop.mpv` claims 0.04 s but holds 4 s of frames.
_RAW_STREAM_FORMATS = {"mpegvideo", "h264", "hevc", "m4v", "mjpeg", "rawvideo", "cavsvideo", "vc1"}

# A file whose average rate differs from its base rate by more than this is variable-rate.
_VFR_TOLERANCE = 0.01


@dataclass(frozen=True)
class SourceInfo:
    """What a video's first video stream looks like, as a viewer would see it."""

    path: str
    container: str
    codec: str
    pix_fmt: str
    coded_size: tuple[int, int]
    sample_aspect: Fraction
    rotation: int  # clockwise degrees a player turns the picture: 0, 90, 180 or 270
    fps: float  # nominal frame rate (average when known)
    variable_fps: bool
    duration: Optional[float]  # seconds; None when the container does not say (or guesses)
    frame_count: Optional[int]
    start_time: float  # pts of the stream's first frame, seconds
    has_alpha: bool
    stream_index: int

    @property
    def display_size(self) -> tuple[int, int]:
        """Width and height shown to a viewer: pixel aspect applied, then rotation."""
        width, height = self.unrotated_display_size
        return (height, width) if self.rotation in (90, 270) else (width, height)

    @property
    def unrotated_display_size(self) -> tuple[int, int]:
        width, height = self.coded_size
        if self.sample_aspect != 1:
            width = max(1, round(width * self.sample_aspect))
        return width, height

    def describe(self) -> dict:
        """A plain dict for printing (``gifloop info``) or JSON."""
        return {
            "path": self.path,
            "container": self.container,
            "codec": self.codec,
            "pixel_format": self.pix_fmt,
            "display_size": list(self.display_size),
            "coded_size": list(self.coded_size),
            "rotation": self.rotation,
            "pixel_aspect": f"{self.sample_aspect.numerator}:{self.sample_aspect.denominator}",
            "fps": round(self.fps, 3),
            "variable_fps": self.variable_fps,
            "duration": None if self.duration is None else round(self.duration, 3),
            "frame_count": self.frame_count,
            "alpha": self.has_alpha,
        }


def check_readable(path: str | os.PathLike) -> str:
    """Return ``path`` as a string if it names a readable, non-empty file; raise a gifloop error if not."""
    path = os.fspath(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise SourceNotFoundError(f"no such file: {path!r}; check the path") from None
    except OSError as exc:
        raise SourceReadError(f"cannot read {path!r}: {exc.strerror}; check the path and permissions") from None
    if stat.S_ISDIR(st.st_mode):
        raise SourceReadError(f"{path!r} is a folder, not a video file; name a file inside it")
    if not os.access(path, os.R_OK):
        raise SourceReadError(f"cannot read {path!r}: permission denied; check its permissions")
    if st.st_size == 0:
        raise NotAVideoError(f"{path!r} is empty (0 bytes); it may still be downloading or copying")
    return path


def open_container(path: str) -> av.container.InputContainer:
    """Open ``path`` with PyAV, turning FFmpeg's errors into gifloop errors."""
    try:
        return av.open(path, mode="r", metadata_errors="ignore")
    except PermissionError:
        raise SourceReadError(f"cannot read {path!r}: permission denied; check its permissions") from None
    except (av.error.FFmpegError, OSError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise CorruptSourceError(
            f"cannot read {path!r} as a video ({reason}); the file is damaged, incomplete or not a video"
        ) from None


def probe(path: str | os.PathLike) -> SourceInfo:
    """Describe the first video stream of ``path``; decode its first frame to be sure it decodes."""
    path = check_readable(path)
    container = open_container(path)
    try:
        return _describe(path, container)
    finally:
        container.close()


def _describe(path: str, container) -> SourceInfo:
    if not container.streams.video:
        kinds = sorted({s.type for s in container.streams}) or ["nothing"]
        raise NotAVideoError(
            f"{path!r} has no video stream (it holds {', '.join(kinds)}); give a video file"
        )
    stream = container.streams.video[0]
    ctx = stream.codec_context
    first = first_frame(container, stream, path)

    fps, variable = _frame_rate(stream)
    if container.format.name in _RAW_STREAM_FORMATS:
        variable = False  # raw streams report field rates as their base rate (MPEG-1: 50 vs 25)
    duration = _duration(container, stream)
    sar = stream.sample_aspect_ratio or ctx.sample_aspect_ratio
    sar = Fraction(sar) if sar and sar > 0 else Fraction(1)
    pix_fmt = ctx.pix_fmt or first.format.name
    alpha = _has_alpha(first.format.name, stream)
    frames = stream.frames or None
    start = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
    return SourceInfo(
        path=path,
        container=container.format.name,
        codec=ctx.name,
        pix_fmt=pix_fmt,
        coded_size=(first.width, first.height),
        sample_aspect=sar,
        rotation=_clockwise_rotation(first),
        fps=fps,
        variable_fps=variable,
        duration=duration,
        frame_count=frames,
        start_time=start,
        has_alpha=alpha,
        stream_index=stream.index,
    )


def first_frame(container, stream, path: str):
    """Decode and return the first frame; a file that yields none is corrupt."""
    try:
        for frame in container.decode(stream):
            return frame
    except av.error.FFmpegError as exc:
        raise CorruptSourceError(
            f"cannot decode {path!r} ({exc.strerror or exc}); the file is damaged or incomplete"
        ) from None
    raise CorruptSourceError(f"{path!r} has a video stream but no frame decodes; the file is damaged or empty")


def _frame_rate(stream) -> tuple[float, bool]:
    avg, base = stream.average_rate, stream.base_rate
    rate = avg or stream.guessed_rate or base
    fps = float(rate) if rate else 25.0
    variable = bool(avg and base and abs(float(avg) - float(base)) / float(base) > _VFR_TOLERANCE)
    return fps, variable


def _duration(container, stream) -> Optional[float]:
    if container.format.name in _RAW_STREAM_FORMATS or container.format.name.endswith("_pipe"):
        return None
    if stream.duration is not None and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return None


def _clockwise_rotation(frame) -> int:
    # PyAV reports the display matrix angle counter-clockwise; players turn the other way.
    angle = getattr(frame, "rotation", 0) or 0
    return int(round(-angle / 90.0)) % 4 * 90


def _has_alpha(pix_fmt: str, stream) -> bool:
    # VP8/VP9 keep alpha in side data, announced by the container's alpha_mode tag.
    if stream.metadata.get("alpha_mode") == "1":
        return True
    return pix_fmt.startswith(("rgba", "bgra", "argb", "abgr", "ya", "yuva", "gbrap"))
