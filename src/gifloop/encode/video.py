"""Animated WebP, APNG and MP4 (H.264) through PyAV's encoders, streaming frame by frame.

Frames keep their exact start times (millisecond timestamps), so variable frame rates, merged
stills and boomerangs play as in the GIF; WebP and APNG keep transparency, MP4 drops it.

>>> encode_video(rendered, fp, "webp", loop=0, quality=80)              # doctest: +SKIP
"""

from __future__ import annotations

import io
from fractions import Fraction
from typing import IO, Callable, Optional

import av
import numpy as np

from ..errors import InvalidParameterError

FORMATS = {".webp": "webp", ".png": "apng", ".apng": "apng", ".mp4": "mp4"}
_MS = Fraction(1, 1000)


def format_for(path: str) -> Optional[str]:
    """The animation format a file name asks for (``None`` for .gif and anything unknown)."""
    lower = str(path).lower()
    for suffix, name in FORMATS.items():
        if lower.endswith(suffix):
            return name
    return None


def encode_video(rendered, fp: IO[bytes], fmt: str, *, loop: int = 0, quality: int = 80, lossless: bool = False,
                 notify: Optional[Callable] = None) -> int:
    """Write ``rendered``'s frames to ``fp`` as ``fmt`` (webp, apng or mp4); returns the frame count."""
    if not 0 <= quality <= 100:
        raise InvalidParameterError(f"quality must be from 0 to 100, got {quality!r}")
    width, height = rendered.size
    if fmt == "mp4":  # H.264 in 4:2:0 needs even sides: drop the odd last column or row
        width, height = max(2, width - width % 2), max(2, height - height % 2)
    # MP4's faststart rewrites the file by name at the end (moov before the data), so it gets the
    # temporary file's path rather than the file object.
    target = fp.name if fmt == "mp4" and isinstance(getattr(fp, "name", None), str) else fp
    if fmt == "webp":  # written here first: its last frame's duration is set afterwards (below)
        target = io.BytesIO()
    shots = rendered.timeline.shots
    last = (rendered.timeline.end - shots[-1].time) if shots else 0.1
    # Each packet carries its frame's duration (to the next frame's time, the last one's to the end):
    # MP4 takes the last frame's from it; without one it lasted a millisecond (1 s played as 0.9 s).
    starts = [int(round(shot.time * 1000)) for shot in shots] + [int(round(rendered.timeline.end * 1000))]
    durations = {start: max(1, end - start) for start, end in zip(starts, starts[1:])}  # ms, by start
    container = av.open(target, mode="w", format=fmt, options=_muxer_options(fmt, loop, last))
    try:
        stream = _add_stream(container, fmt, width, height, quality, lossless, rendered.has_alpha)
        count = 0
        for i, (time, image) in enumerate(rendered.frames()):
            frame = _frame(image, width, height, stream.pix_fmt)
            frame.pts = int(round(time * 1000))
            frame.time_base = _MS
            _mux(container, stream.encode(frame), durations)
            count += 1
            if notify:
                notify("encode", i + 1, len(shots))
        _mux(container, stream.encode(None), durations)
    finally:
        container.close()
    if fmt == "webp":
        # libwebp_anim shows the last frame as long as the one before it; the timeline says how long.
        total = round(rendered.timeline.end * 1000) - (round(shots[0].time * 1000) if shots else 0)
        fp.write(with_total_duration(target.getvalue(), total))
    return count


def with_total_duration(webp: bytes, total_ms: int) -> bytes:
    """An animated WebP whose last frame lasts until ``total_ms`` (the frames' durations summed).

    >>> with_total_duration(data, 950)   # frames of 100 ms, the last cut to 50   # doctest: +SKIP
    """
    chunks, pos = [], 12  # after "RIFF", the size, "WEBP"
    while pos + 8 <= len(webp):
        size = int.from_bytes(webp[pos + 4:pos + 8], "little")
        if webp[pos:pos + 4] == b"ANMF" and size >= 16:
            chunks.append(pos + 8)
        pos += 8 + size + (size & 1)
    if not chunks:
        return webp
    duration_at = chunks[-1] + 12  # ANMF: x, y, width - 1, height - 1 (3 bytes each), then the duration
    before = sum(int.from_bytes(webp[c + 12:c + 15], "little") for c in chunks[:-1])
    last = total_ms - before
    if not 0 < last < 1 << 24:
        return webp
    return webp[:duration_at] + last.to_bytes(3, "little") + webp[duration_at + 3:]


def _muxer_options(fmt: str, loop: int, last_duration: float) -> dict:
    if fmt == "webp":
        return {"loop": str(loop)}
    if fmt == "apng":  # the muxer cannot know how long the last frame lasts: tell it
        return {"plays": str(loop), "final_delay": f"{last_duration:.3f}"}
    return {"movflags": "+faststart"}  # playable while it downloads


def _add_stream(container, fmt: str, width: int, height: int, quality: int, lossless: bool, alpha: bool):
    if fmt == "webp":
        stream = container.add_stream("libwebp_anim", rate=1000)
        stream.pix_fmt = "yuva420p" if alpha and not lossless else ("bgra" if lossless else "yuv420p")
        stream.options = {"lossless": "1" if lossless else "0", "quality": str(quality)}
    elif fmt == "apng":
        stream = container.add_stream("apng", rate=1000)
        stream.pix_fmt = "rgba" if alpha else "rgb24"
    else:
        stream = container.add_stream("libx264", rate=1000)
        stream.pix_fmt = "yuv420p"
        # quality 0-100 -> x264's constant rate factor 51-10 (80 -> crf 18: visually lossless).
        stream.options = {"crf": str(round(51 - 0.41 * quality)), "preset": "medium"}
    stream.width, stream.height = width, height
    stream.time_base = _MS
    return stream


def _mux(container, packets, durations: dict) -> None:
    """Mux the encoder's packets (in decode order), each with its frame's duration (``durations``:
    ms by start time in ms; encoders with B-frames emit the frames out of display order)."""
    for packet in packets:
        if packet.pts is not None and packet.time_base:
            ms = durations.get(int(round(packet.pts * packet.time_base * 1000)))
            if ms:
                packet.duration = max(1, int(round(ms / 1000 / packet.time_base)))
        container.mux(packet)


def _frame(image: np.ndarray, width: int, height: int, pix_fmt: str) -> av.VideoFrame:
    rgba = np.ascontiguousarray(image[:height, :width])
    source = "rgba" if rgba.shape[-1] == 4 else "rgb24"
    return av.VideoFrame.from_ndarray(rgba, format=source).reformat(format=pix_fmt)
