"""The one orchestration layer: open a video, and run the conversion pipeline.

    decode (PyAV, FFmpeg filter graph) ──▶ effects ──▶ count colours + keep frames (render.py)
        ──▶ [max_size: trial encodes of sampled frames choose the settings (encode/budget.py)]
        ──▶ plan palettes (quantize/strategy.py) ──▶ map frames to them, dithered (quantize/remap.py)
        ──▶ GIF writer: diff, transparency, delays, (lossy) LZW (encode/gif.py) ──▶ rename

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
from .encode.budget import encode_within, parse_size
from .encode.pipeline import GifSettings, encode_gif
from .encode.video import encode_video, format_for
from .errors import InvalidParameterError
from .render import Progress
from .source.probe import probe


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
    settings: Optional[GifSettings] = None  # what the GIF encoder used (chosen by max_size, if given)

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
    ``dither`` bayer (default) / blue-noise / floyd-steinberg (default with max_size) / sierra / none,
    ``dither_strength`` 0-2,
    ``palette`` global / scene / frame, ``lossy`` 0-200, ``max_size`` (bytes, or "2MB": the best
    settings that fit, see ``GifFile.settings``), ``loop`` 0 = forever or N = play N times,
    ``overwrite``, ``progress(stage, done, total)``.

    >>> clip.write_gif("small.gif", max_size="2MB")        # doctest: +SKIP
    """
    return write_rendered(clip, path, **options)


def write_rendered(source, path: str | os.PathLike, *, colors: int = 256, dither: Optional[str] = None,
                   dither_strength: float = 1.0, palette: str = "global", lossy: int = 0,
                   max_size: int | str | None = None, loop: int = 0, overwrite: bool = False,
                   progress: Optional[Progress] = None) -> GifFile:
    """Encode anything with ``render()`` and ``source_paths`` (a ``Clip``, a ``Composite``) as a GIF."""
    budget = None if max_size is None else parse_size(max_size)
    if dither is None:
        # Bayer by default: the fastest (frames map on two threads; error diffusion goes one frame
        # after the other). With a byte budget, error diffusion: in benchmarks/quality.py it gave
        # the lower FLIP at gifski's bytes on 5 of 6 clips.
        dither = "bayer" if budget is None else "floyd-steinberg"
    settings = GifSettings(colors=colors, dither=dither, dither_strength=dither_strength, palette=palette,
                           lossy=lossy)
    # Pass 1 (in _rendered_into): decode once, apply effects, keep every frame, count its colours.
    with _rendered_into(source, path, loop, overwrite, progress) as (fp, rendered, notify):
        # Pass 2: plan palettes, map and write every frame; with a budget, trial encodes of sampled
        # frames choose the settings first.
        if budget is None:
            encoded = encode_gif(rendered, fp, settings, loop=loop, notify=notify)
        else:
            settings, encoded = encode_within(rendered, fp, budget, settings, loop=loop, notify=notify)
    return GifFile(os.fspath(path), encoded.size, encoded.frames, rendered.timeline.end,
                   os.path.getsize(path), encoded.colors, settings)


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
