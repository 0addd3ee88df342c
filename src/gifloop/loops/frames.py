"""Frames for the loop finder: one forward pass over a gifloop ``Clip``, a path, or a MoviePy clip.

Everything in ``gifloop.loops`` reads frames through ``timed_frames``, so a MoviePy script can pass its
own clip object (anything with ``iter_frames()`` and ``fps``) and get the same results as MoviePy.

>>> for t, image in timed_frames(gifloop.open("in.mp4").resize(width=150), fps=10):   # doctest: +SKIP
...     t, image.shape
(0.0, (84, 150, 3))
"""

from __future__ import annotations

import contextlib
import os
from typing import Iterable, Iterator, Optional

import numpy as np

from ..clip import Clip
from ..errors import InvalidParameterError
from . import kernels
from .checks import positive

TimedFrames = Iterator[tuple[float, np.ndarray]]


def as_clip(clip):
    """A gifloop ``Clip`` for a path, or ``clip`` itself (a ``Clip`` or a MoviePy-style clip)."""
    if isinstance(clip, (str, os.PathLike)):
        from ..api import open as open_clip

        return open_clip(clip)
    if isinstance(clip, Clip) or hasattr(clip, "iter_frames"):
        return clip
    raise InvalidParameterError(
        f"expected a video path, a gifloop Clip or a clip with iter_frames(), got {type(clip).__name__}; "
        "pass gifloop.open(path)")


def clip_fps(clip, fps: Optional[float] = None) -> float:
    """``fps`` if given, else the clip's own rate; an error that says what to pass when neither exists."""
    rate = fps if fps is not None else getattr(clip, "fps", None)
    if rate is None:
        raise InvalidParameterError("this clip has no fps; pass fps=..., e.g. fps=25")
    return positive(rate, "fps", "25")


def timed_frames(clip, fps: Optional[float] = None) -> TimedFrames:
    """Yield ``(seconds, image)`` for every frame of ``clip``, or for the frames at ``k / fps``.

    A gifloop ``Clip`` decodes forward once (``fps`` resamples it inside the decoder), in this thread:
    the decoder's own threads already keep both cores busy, and matching a frame costs 2-5 % of
    decoding it, so a read-ahead thread only added hand-overs (measured: no faster, more CPU).
    A MoviePy-style clip is read with ``iter_frames(fps=...)``, so its times are MoviePy's own
    (``k / fps``). Images are (H, W, 3) arrays, an alpha channel is dropped; MoviePy clips may give
    int64 or float.
    """
    clip = as_clip(clip)
    if isinstance(clip, Clip):
        source = clip.with_fps(fps) if fps is not None else clip
        return iter(source.frames())
    return _moviepy_frames(clip, clip_fps(clip, fps))


def subclip(clip, start: float, end: float):
    """``start`` to ``end`` of ``clip``: ``trim`` for a gifloop clip, ``subclipped`` for a MoviePy one."""
    if isinstance(clip, Clip):
        return clip.trim(start, end)
    cut = getattr(clip, "subclipped", None) or getattr(clip, "subclip", None)  # MoviePy 2, MoviePy 1
    if cut is None:
        raise InvalidParameterError(f"cannot cut a {type(clip).__name__}; pass a gifloop Clip (gifloop.open(path))")
    return cut(start, end)


def first_frame(clip) -> Optional[np.ndarray]:
    """The first frame of ``clip`` (decoding nothing more), or None when it has none."""
    clip = as_clip(clip)
    frames = iter(clip.frames()) if isinstance(clip, Clip) else _moviepy_frames(clip, clip_fps(clip))
    with contextlib.closing(frames):
        for _, image in frames:
            return _rgb(image)
    return None


def thumbnails(clip, width: int, fps: Optional[float] = None) -> TimedFrames:
    """``timed_frames`` at most ``width`` pixels wide: scaled in the decoder for a gifloop clip, by
    averaging pixel blocks for other clips (only when it is at least twice too wide)."""
    clip = as_clip(clip)
    if isinstance(clip, Clip):
        if clip.size[0] > width:
            clip = clip.resize(width=width)
        return timed_frames(clip, fps)
    return ((t, shrink(image, width)) for t, image in timed_frames(clip, fps))


def shrink(image: np.ndarray, width: int) -> np.ndarray:
    """Average ``f x f`` pixel blocks, ``f = width_of_image // width`` (no-op when ``f < 2``)."""
    factor = image.shape[1] // width
    if factor < 2:
        return image
    h, w = (image.shape[0] // factor) * factor, (image.shape[1] // factor) * factor
    blocks = image[:h, :w].reshape(h // factor, factor, w // factor, factor, -1)
    return blocks.mean(axis=(1, 3)).round().astype(np.uint8)


def _moviepy_frames(clip, fps: float) -> TimedFrames:
    try:
        frames = clip.iter_frames(fps=fps, with_times=True, logger=None)
    except TypeError:  # a minimal duck-typed clip: iter_frames() alone, frames at k / fps
        frames = ((k / fps, image) for k, image in enumerate(clip.iter_frames()))
    for t, image in frames:
        yield float(t), _rgb(image)


def _rgb(image) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[2] == 4:
        image = image[..., :3]
    return image


def frames_with_stats(frames: Iterable[tuple[float, np.ndarray]], sink: list, step: int = 4) -> TimedFrames:
    """Pass frames through, appending ``(mean, std)`` of each frame's luma (0-255) to ``sink``.

    Every ``step``-th pixel of every ``step``-th row is plenty for brightness and contrast (on a 150 px
    thumbnail, 800 pixels: ~1 us a frame in C, against 70 us for every other pixel in NumPy).
    """
    weights = np.array([0.299, 0.587, 0.114])  # Rec. 601 luma
    for t, image in frames:
        if image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] >= 3 and image.size:
            sink.append(kernels.luma_stats(image, step))
        else:
            sample = np.asarray(image[::step, ::step], np.float64)
            luma = sample[..., :3] @ weights if sample.ndim == 3 else sample
            sink.append((float(luma.mean()), float(luma.std())))
        yield t, image
