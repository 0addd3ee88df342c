"""The GIF pass: rendered frames ──▶ palette plan ──▶ map to palette (dither) ──▶ GIF writer.

``GifSettings`` holds every choice that changes the GIF's bytes; ``encode_gif`` runs one pass over
already rendered frames, so the size search (``budget.py``) can encode the same frames many times
without decoding again.

>>> settings = GifSettings(colors=128, dither="blue-noise", lossy=40)
>>> settings.describe()
'128 colours, blue-noise dither, global palette, lossy 40'
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import IO, Callable, Iterator, Optional, Sequence

import numpy as np

from ..errors import InvalidParameterError
from ..parallel import ordered_map, read_ahead
from ..quantize.remap import Remapper, check_dither
from ..quantize.strategy import check_strategy, plan_strategy
from ._cdiff import hold_still
from .gif import GifWriter, _packed, rgba_view

# Pixels whose source colour moved by at most this many levels (of 255, per channel) keep what is
# on screen: it hides codec noise from the frame differ. On the seed recipe (6 s) tolerance 0/1/2/3
# gave 9.6/8.8/7.3/6.1 MB at FLIP 0.021/0.022/0.026/0.034; 2 keeps FLIP well below ffmpeg's 0.040.
DIFF_TOLERANCE = 2
MAX_LOSSY = 200


@dataclass(frozen=True)
class GifSettings:
    """What the GIF pass does with rendered frames.

    ``scale`` (< 1 shrinks frames) and ``frame_step`` (keep every n-th frame) let the size search
    trade resolution and frame rate for bytes without decoding again.
    """

    colors: int = 256
    dither: str = "bayer"
    dither_strength: float = 1.0
    palette: str = "global"
    lossy: int = 0
    tolerance: int = DIFF_TOLERANCE
    scale: float = 1.0
    frame_step: int = 1
    windows: int = 1  # the global palette split into this many stretches of frames (the size search's)

    def __post_init__(self):
        if isinstance(self.colors, bool) or not isinstance(self.colors, (int, np.integer)) or not 2 <= self.colors <= 256:
            raise InvalidParameterError(f"colors must be a whole number from 2 to 256, got {self.colors!r}")
        check_dither(self.dither, self.dither_strength)
        check_strategy(self.palette)
        if isinstance(self.lossy, bool) or not isinstance(self.lossy, (int, np.integer)) or not 0 <= self.lossy <= MAX_LOSSY:
            raise InvalidParameterError(f"lossy must be a whole number from 0 (off) to {MAX_LOSSY}, got {self.lossy!r}")
        if not 0 <= self.tolerance <= 64:
            raise InvalidParameterError(f"tolerance must be between 0 and 64 levels, got {self.tolerance!r}")
        if not 0 < self.scale <= 1:
            raise InvalidParameterError(f"scale must be in (0, 1], got {self.scale!r}")
        if self.frame_step < 1:
            raise InvalidParameterError(f"frame_step must be 1 or more, got {self.frame_step!r}")
        if self.windows < 1:
            raise InvalidParameterError(f"windows must be 1 or more, got {self.windows!r}")

    def describe(self) -> str:
        dither = f"{self.dither} dither" + (f" at {self.dither_strength:g}" if self.dither_strength != 1 else "")
        palette = f"{self.palette} palette" if self.windows == 1 else f"{self.windows} palettes in turn"
        parts = [f"{self.colors} colours", dither, palette]
        if self.lossy:
            parts.append(f"lossy {self.lossy}")
        if self.scale < 1:
            parts.append(f"scale {self.scale:.2f}")
        if self.frame_step > 1:
            parts.append(f"every {self.frame_step} frames")
        if self.tolerance != DIFF_TOLERANCE:
            parts.append(f"redraw at {self.tolerance + 1} levels of change" if self.tolerance else "redraw every change")
        return ", ".join(parts)

    def with_(self, **changes) -> "GifSettings":
        return replace(self, **changes)


@dataclass(frozen=True)
class EncodedGif:
    size: tuple[int, int]
    frames: int  # GIF frames written (after merging duplicates)
    colors: int  # colours in the global palette
    palettes: int  # colour tables written (1 + local tables)
    frame_bytes: tuple = ()  # bytes in the file for each frame encoded (0: merged into the one before)


def output_size(size: tuple[int, int], scale: float) -> tuple[int, int]:
    """The frame size after ``scale`` (at least 1x1)."""
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


def encode_gif(rendered, fp: IO[bytes], settings: GifSettings, *, loop: int = 0,
               shots: Optional[Sequence] = None, notify: Optional[Callable] = None) -> EncodedGif:
    """Write ``rendered`` (from ``render()``) to ``fp`` as a GIF with ``settings``.

    ``shots`` (default: all of the timeline's) picks which output frames to encode, e.g. a sample
    for a trial encode; times stay the timeline's, so a sample keeps its real delays.
    """
    notify = notify or (lambda stage, done, total: None)
    all_shots = rendered.timeline.shots if shots is None else shots
    chosen = list(all_shots[:: settings.frame_step])
    end = rendered.timeline.end if shots is None else _sample_end(rendered, chosen)
    size = output_size(rendered.size, settings.scale)

    def frame(shot) -> np.ndarray:
        image = rendered.image(shot)
        if size != rendered.size:
            from PIL import Image  # only the size search shrinks frames: Pillow loads then (~30 ms)

            image = np.asarray(Image.fromarray(image).resize(size, Image.Resampling.LANCZOS))
        return image

    # Transparency costs a palette entry: below 9 colours, an entry is worth more.
    transparency = settings.colors > 8
    colors = settings.colors - 1 if transparency else settings.colors

    def remapper(palette, exact):
        return Remapper(palette, settings.dither, settings.dither_strength, exact=exact)

    # One palette for the whole animation comes from the histogram render() counted (of every
    # frame at full size: shrunk or sampled frames have nearly the same colours). The size search
    # encodes many times with the same colours: the histogram keeps the palettes planned from it,
    # and remappers of one palette share its lookup table, so neither is made again.
    plan = plan_strategy(settings.palette, lambda: (frame(s) for s in chosen), colors, rendered.histogram, remapper,
                         settings.windows, len(chosen))
    tolerance = settings.tolerance
    writer = GifWriter(fp, size, plan.global_palette, loop=loop, transparency=transparency,
                       tolerance=tolerance, alpha=rendered.has_alpha, lossy=settings.lossy)

    diffusing = plan.remapper_diffuses

    def prepare(item):
        i, shot = item
        image = frame(shot)
        palette, mapper = plan.palette_for(i, image)
        # Ordered dithers map frames independently, here on the worker threads; error diffusion
        # depends on the previous frame's indices, so it runs in order below.
        indices = None if diffusing else mapper.remap(image)
        return shot.time, image, palette, mapper, indices

    prepared = ordered_map(prepare, enumerate(chosen))
    mapped = read_ahead(_diffused(prepared, tolerance), depth=4, name="gifloop-dither") if diffusing else prepared
    for i, (time, image, palette, _, indices) in enumerate(mapped):
        writer.add(time, indices, image, palette if palette is not plan.global_palette else None)
        notify("encode", i + 1, len(chosen))
    writer.close(end)
    return EncodedGif(size, writer.frames_written, len(plan.global_palette), writer.palettes_written,
                      tuple(writer.bytes_per_frame))


def _diffused(prepared: Iterator, tolerance: int) -> Iterator:
    """Error diffusion, one frame after the other. A pixel whose source stayed within ``tolerance``
    of the colour it had when last drawn (the GIF writer's own test) keeps its previous index, as
    long as the palette is the same: still areas do not shimmer and the writer can skip them."""
    shown = indices = last_palette = None
    for time, image, palette, mapper, _ in prepared:
        keep = None
        source = rgba_view(image)
        if shown is not None and last_palette is palette:
            keep = np.empty(image.shape[:2], bool)
            hold_still(source, shown, tolerance, keep)  # and shown takes the pixels that moved
        else:
            shown = _packed(source).copy()
        indices = mapper.remap(image, keep, indices)
        last_palette = palette
        yield time, image, palette, mapper, indices


def _sample_end(rendered, chosen: Sequence) -> float:
    """End time of a sample of shots: the last one lasts as long as it does in the full timeline."""
    shots = rendered.timeline.shots
    last = chosen[-1]
    k = shots.index(last)
    return shots[k + 1].time if k + 1 < len(shots) else rendered.timeline.end
