"""The one orchestration layer: open a video, and run the conversion pipeline.

    decode (PyAV, FFmpeg filter graph) ──▶ effects ──▶ count colours + keep frames (render.py)
        ──▶ plan palette ──▶ map frames to the palette (dither) ──▶ GIF writer (diff, transparency,
        delays) ──▶ rename

>>> import gifloop
>>> clip = gifloop.open("phone.mp4").crop(0, 0, 1800, 1392).resize(width=640).with_fps(12)  # doctest: +SKIP
>>> clip.write_gif("top.gif")                                                              # doctest: +SKIP
GifFile('top.gif', 640x495, 180 frames, 15.00 s, 2.1 MB)
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import Optional

from .clip import Clip
from .encode.atomic import atomic_output, check_output_path
from .encode.gif import GifWriter
from .encode.video import encode_video, format_for
from .errors import InvalidParameterError
from .quantize.palette import plan_palette
from .quantize.remap import DITHER_METHODS, Remapper
from .parallel import ordered_map
from .render import Progress
from .source.probe import probe

# Pixels whose source colour moved by at most this many levels (of 255, per channel) keep what is
# on screen: it hides codec noise from the frame differ. On the seed recipe (6 s) tolerance 0/1/2/3
# gave 9.6/8.8/7.3/6.1 MB at FLIP 0.021/0.022/0.026/0.034; 2 keeps FLIP well below ffmpeg's 0.040.
DIFF_TOLERANCE = 2


def open(path: str | os.PathLike) -> Clip:  # noqa: A001 - mirrors the builtin on purpose
    """Open a video file (anything FFmpeg decodes) as a lazy ``Clip``.

    >>> clip = gifloop.open("clip.mp4")          # doctest: +SKIP
    >>> clip.size, clip.duration                 # doctest: +SKIP
    ((1280, 720), 10.05)
    """
    return Clip(probe(path))


@dataclass(frozen=True)
class GifFile:
    """A written animation (GIF, or WebP/APNG/MP4 from ``write``): where it is and what it holds.
    Shows itself inline in Jupyter."""

    path: str
    size: tuple[int, int]
    frames: int
    duration: float
    bytes: int
    colors: int

    def __fspath__(self) -> str:
        return self.path

    def __repr__(self) -> str:
        return (f"GifFile({self.path!r}, {self.size[0]}x{self.size[1]}, {self.frames} frames, "
                f"{self.duration:.2f} s, {self.bytes / 1e6:.1f} MB)")

    def _repr_html_(self) -> str:
        from .preview import animation_html

        return animation_html(self.path, self.size)


def write_gif(clip: Clip, path: str | os.PathLike, **options) -> GifFile:
    """Encode ``clip`` as an animated GIF at ``path`` (atomically: all or nothing).

    Options: ``colors`` 2-256 (one entry is kept for transparency when differencing frames),
    ``dither`` one of bayer / floyd-steinberg / none, ``dither_strength``, ``loop`` 0 = forever or
    N = play N times, ``overwrite``, ``progress(stage, done, total)``.
    """
    return write_rendered(clip, path, **options)


def write_rendered(source, path: str | os.PathLike, *, colors: int = 256, dither: str = "bayer",
                   dither_strength: float = 1.0, loop: int = 0, overwrite: bool = False,
                   progress: Optional[Progress] = None) -> GifFile:
    """Encode anything with ``render()`` and ``source_paths`` (a ``Clip``, a ``Composite``) as a GIF."""
    if not isinstance(colors, int) or not 2 <= colors <= 256:
        raise InvalidParameterError(f"colors must be a whole number from 2 to 256, got {colors!r}")
    if dither not in DITHER_METHODS:
        raise InvalidParameterError(f"unknown dither {dither!r}; choose one of {', '.join(DITHER_METHODS)}")
    # Pass 1 (in _rendered_into): decode once, apply effects, keep every frame, count its colours.
    with _rendered_into(source, path, loop, overwrite, progress) as (fp, rendered, notify):
        # Pass 2: one palette for the whole animation, then map and write every frame.
        transparency = colors > 8  # below that, a palette entry is worth more than transparency
        palette = plan_palette(rendered.histogram, colors - 1 if transparency else colors)
        remapper = Remapper(palette, dither, dither_strength)
        writer = GifWriter(fp, rendered.size, palette, loop=loop, transparency=transparency,
                           tolerance=DIFF_TOLERANCE if dither != "floyd-steinberg" else 0,
                           alpha=rendered.has_alpha)
        shots = rendered.timeline.shots
        mapped = ordered_map(lambda item: (item[0], remapper.remap(item[1]), item[1]), rendered.frames())
        for i, (time, indices, image) in enumerate(mapped):
            writer.add(time, indices, image)
            notify("encode", i + 1, len(shots))
        writer.close(rendered.timeline.end)
    return GifFile(os.fspath(path), rendered.size, writer.frames_written, rendered.timeline.end,
                   os.path.getsize(path), len(palette))


def write(source, path: str | os.PathLike, *, loop: int = 0, overwrite: bool = False,
          progress: Optional[Progress] = None, quality: int = 80, lossless: bool = False, **gif_options) -> GifFile:
    """Write ``source`` (a ``Clip`` or ``Composite``) in the format its file name asks for.

    ``.gif`` goes to ``write_rendered`` (``gif_options``: colors, dither, ...); ``.webp`` (``quality``,
    ``lossless``), ``.png``/``.apng`` and ``.mp4`` (``quality`` -> x264's crf) stream through PyAV.

    >>> clip.write("clip.webp", quality=75)                      # doctest: +SKIP
    """
    fmt = format_for(path)
    if fmt is None:
        if not str(path).lower().endswith(".gif"):
            raise InvalidParameterError(
                f"cannot tell the format of {os.fspath(path)!r}; end it in .gif, .webp, .png/.apng or .mp4")
        return write_rendered(source, path, loop=loop, overwrite=overwrite, progress=progress, **gif_options)
    if gif_options:
        raise InvalidParameterError(f"{', '.join(sorted(gif_options))} only apply to GIFs, not .{fmt} files")
    with _rendered_into(source, path, loop, overwrite, progress) as (fp, rendered, notify):
        frames = encode_video(rendered, fp, fmt, loop=loop, quality=quality, lossless=lossless, notify=notify)
    return GifFile(os.fspath(path), rendered.size, frames, rendered.timeline.end, os.path.getsize(path), 0)


@contextlib.contextmanager
def _rendered_into(source, path, loop, overwrite: bool, progress: Optional[Progress]):
    """Check the loop count and the output path, open the atomic output, render the source into it:
    yields ``(file, rendered, notify)``; the output appears only if the block finishes."""
    if not isinstance(loop, int) or loop < 0:
        raise InvalidParameterError(f"loop must be 0 (forever) or a positive count, got {loop!r}")
    check_output_path(path, overwrite, source.source_paths)
    notify = progress or (lambda stage, done, total: None)
    with atomic_output(path, overwrite, source.source_paths) as fp:
        rendered = source.render(progress=notify)
        try:
            yield fp, rendered, notify
        finally:
            rendered.close()


def prepare(source: str | os.PathLike, *, start=None, end=None, duration=None, crop=None, width=None,
            height=None, scale=None, fps=None, speed=None) -> Clip:
    """Open ``source`` and apply the usual window, geometry and timing options, in the CLI's order."""
    clip = open(source)
    if start is not None or end is not None or duration is not None:
        clip = clip.trim(start or 0, end, duration)
    if crop is not None:
        clip = clip.crop(*crop)
    if speed is not None:
        clip = clip.speed(speed)
    if width is not None or height is not None or scale is not None:
        clip = clip.resize(width=width, height=height, scale=scale)
    if fps is not None:
        clip = clip.with_fps(fps)
    return clip


def convert(source: str | os.PathLike, output: str | os.PathLike, *, start=None, end=None, duration=None,
            crop=None, width=None, height=None, scale=None, fps=None, speed=None, **gif_options) -> GifFile:
    """Convert a video file to a GIF in one call.

    >>> gifloop.convert("in.mp4", "out.gif", start="0:03", duration=2, width=480, fps=12)  # doctest: +SKIP
    """
    clip = prepare(source, start=start, end=end, duration=duration, crop=crop, width=width, height=height,
                   scale=scale, fps=fps, speed=speed)
    return clip.write_gif(output, **gif_options)
