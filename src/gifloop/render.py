"""Render a clip: decode once, apply pixel effects, keep frames, then play them through the timeline.

    decode ──▶ static pixel effects ──▶ colour count + frame store ──▶ timeline (time effects)
           ──▶ output frames: blend stored frames, apply timed effects (text with times, fades)

Clips without effects skip nothing but cost nothing extra: the timeline is the identity and output
frames are the stored arrays themselves.

>>> rendered = render(clip)                          # doctest: +SKIP
>>> for shot in rendered.timeline.shots:              # doctest: +SKIP
...     image = rendered.image(shot)
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable, Iterator, Optional

import numpy as np

from .effects.base import PixelEffect, RenderContext, TimeEffect
from .errors import ConversionError, GifloopError
from .framestore import FrameStore
from .parallel import ordered_map, read_ahead
from .quantize.palette import ColorHistogram
from .timeline import Shot, Timeline

# progress(stage, done, total): stage is "decode" or "encode"; total may be None when unknown.
Progress = Callable[[str, int, Optional[int]], None]
_DECODE_QUEUE = 8  # frames decoded ahead of the consumer


@dataclass
class Rendered:
    """Stored frames, the timeline that plays them, and their colour histogram."""

    store: FrameStore
    timeline: Timeline
    timed: list[PixelEffect]
    histogram: Optional[ColorHistogram]  # of the frames shown, set by render()
    size: tuple[int, int]
    has_alpha: bool = False  # some output pixel is transparent

    def image(self, shot: Shot) -> np.ndarray:
        """The output frame for ``shot``: its stored frame(s), blended, with timed effects applied."""
        if shot.single:
            image = self.store.image(shot.sources[0][0])
        else:
            total = None
            for index, weight in shot.sources:
                part = self.store.image(index).astype(np.float32) * weight
                total = part if total is None else total + part
            image = (total + 0.5).astype(np.uint8)
        for effect in self.timed:
            image = effect.apply(image, shot.time)
        return image

    def frames(self) -> Iterator[tuple[float, np.ndarray]]:
        for shot in self.timeline.shots:
            yield shot.time, self.image(shot)

    def close(self) -> None:
        self.store.close()


def render(clip, pix_fmt: str = "rgba", progress: Optional[Progress] = None) -> Rendered:
    """Decode ``clip`` once and prepare its output frames (see the module docstring)."""
    notify = progress or (lambda stage, done, total: None)
    plan = clip.plan(pix_fmt)
    base = clip.without_effects()
    static, timed, fitted, time_effects = _split(clip, plan.size, base)
    total = None if base.duration is None else max(1, round(base.duration * base.fps))

    store = FrameStore()
    # Effects that study the whole clip or need output times change what is shown: the colours are
    # counted after them instead.
    tally = _Tally() if not (fitted or timed) else None
    reader = plan.reader()
    try:
        for frame in decode_ahead(reader):
            image = frame.image
            for effect in static:
                image = effect.apply(image, frame.time)
            if tally is not None:
                tally.add(image)
            store.append(frame.time, image)
            notify("decode", len(store), total)
        if fitted:
            context = RenderContext(plan.size, plan.size, base, clip.duration, store)
            store, tally = _apply_fitted(fitted, store, context)
        timeline = Timeline.identity([store.time(i) for i in range(len(store))], reader.end_time)
        for effect in time_effects:
            timeline = effect.retime(timeline)
        context = RenderContext(plan.size, plan.size, base, timeline.end, store)
        timed = [_prepared(effect, size, context) for effect, size in timed]
        rendered = Rendered(store, timeline, timed, None, plan.size)
        if timed or timeline.blends:
            # Blends and timed effects make colours the stored frames do not have: count what is shown.
            tally = _Tally()
            for _, image in rendered.frames():
                tally.add(image)
        rendered.histogram, rendered.has_alpha = tally.histogram, tally.has_alpha
        return rendered
    except BaseException:
        store.close()
        raise


class _Tally:
    """The colours of the frames that will be shown, and whether any pixel is transparent."""

    def __init__(self) -> None:
        self.histogram = ColorHistogram()
        self.has_alpha = False

    def add(self, image: np.ndarray) -> None:
        self.histogram.add(image)
        if not self.has_alpha and image.shape[-1] == 4:
            self.has_alpha = bool(image[..., 3].min() < 255)


def _prepared(effect: PixelEffect, size: tuple[int, int], context: RenderContext) -> PixelEffect:
    return effect.prepare(replace(context, specified_size=size))


def _split(clip, size, base):
    """Pixel effects that run as frames are decoded, those that need output times, those that need
    the whole clip first (background removal), and time effects."""
    static, timed, fitted, time_effects = [], [], [], []
    for placed in clip.effects:
        effect = placed.effect
        if isinstance(effect, TimeEffect):
            time_effects.append(effect)
        elif getattr(effect, "needs_frames", False):
            fitted.append((effect, placed.size))
        elif effect.time_dependent:
            timed.append((effect, placed.size))
        else:
            context = RenderContext(size, placed.size, base, clip.duration)
            static.append(effect.prepare(context))
    return static, timed, fitted, time_effects


def _apply_fitted(fitted, store: FrameStore, context: RenderContext):
    """Fit effects that study the whole clip, then rewrite every stored frame through them (once,
    on two threads), counting colours on the way."""
    prepared = [_prepared(effect, size, context) for effect, size in fitted]

    def apply(item):
        time, image = item
        for effect in prepared:
            image = effect.apply(image, time)
        return time, image

    rewritten, tally = FrameStore(), _Tally()
    try:
        for time, image in ordered_map(apply, iter(store)):
            tally.add(image)
            rewritten.append(time, image)
    except BaseException:
        rewritten.close()
        raise
    finally:
        store.close()
    return rewritten, tally


def decode_ahead(reader):
    """Run the decoder a few frames ahead in a thread; its errors keep their gifloop type, anything
    else becomes a ``ConversionError``."""
    try:
        yield from read_ahead(reader, _DECODE_QUEUE, "gifloop-decode")
    except GifloopError:
        raise
    except Exception as exc:
        raise ConversionError(f"decoding failed: {exc}") from exc
