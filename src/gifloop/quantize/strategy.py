"""Palette strategies: which palette each frame of an animation is mapped to.

- ``global``: one palette for the whole animation, from the histogram ``render()`` counted. Cheapest,
  and still pixels never change colour.
- ``scene``: a new palette where the colours change (a cut, a fade to another place), planned from
  that scene's frames only; each later scene's palette goes in as a local colour table.
- ``frame``: every frame gets its own palette from its own colours (the best colours per frame, at
  the cost of a colour table per frame and a palette planned per frame).

``global`` may also be split in time (``windows``): that many equal stretches of frames, each with
a palette of its own colours. The size search spends spare bytes on it (every new palette redraws
the whole frame); it is not a choice of its own.

All strategies answer the same question, ``palette_for(i)`` for the i-th output frame, so the GIF
pass does not care which one it has.

>>> plan = plan_strategy("global", rendered_frames, colors=255, histogram=hist)   # doctest: +SKIP
>>> palette, remapper = plan.palette_for(0)                                          # doctest: +SKIP
"""

from __future__ import annotations

from typing import Callable, Iterable, Optional

import numpy as np

from ..errors import InvalidParameterError
from .palette import ColorHistogram, is_exact, plan_palette
from .remap import Remapper

PALETTE_STRATEGIES = ("global", "scene", "frame")

# A frame whose coarse colour histogram differs from its scene's by more than this (half the L1
# distance: the share of pixels whose colours went elsewhere) starts a new scene.
SCENE_CHANGE = 0.35
_MIN_SCENE_FRAMES = 3  # shorter "scenes" (flashes) are folded into the one before
_COARSE_BITS = 3  # 512 bins: enough to tell scenes apart, robust to noise and small motion


def check_strategy(name: str) -> None:
    if name not in PALETTE_STRATEGIES:
        raise InvalidParameterError(f"unknown palette strategy {name!r}; choose one of {', '.join(PALETTE_STRATEGIES)}")


class PalettePlan:
    """Palettes (and their remappers) per output frame."""

    def __init__(self, histograms: list[ColorHistogram], starts: list[int],
                 remapper: Callable[[np.ndarray, bool], Remapper], per_frame: bool = False, colors: int = 256):
        # One palette per histogram, in order; the first is the file's global table.
        self.palettes = [plan_palette(h, colors) for h in histograms]
        self.starts = starts  # output-frame index where each palette starts
        self._remappers = [remapper(p, is_exact(h, colors)) for p, h in zip(self.palettes, histograms)]
        self._make_remapper = remapper
        self.per_frame = per_frame
        self.colors = colors

    @property
    def remapper_diffuses(self) -> bool:
        return self._remappers[0].diffuses

    @property
    def global_palette(self) -> np.ndarray:
        return self.palettes[0]

    def palette_for(self, index: int, image: Optional[np.ndarray] = None) -> tuple[np.ndarray, Remapper]:
        """The palette and remapper for output frame ``index`` (``image`` is needed per frame)."""
        if self.per_frame and index > 0:
            hist = ColorHistogram()
            hist.add(image)
            palette = plan_palette(hist, self.colors)
            return palette, self._make_remapper(palette, is_exact(hist, self.colors))
        k = int(np.searchsorted(self.starts, index, side="right")) - 1
        return self.palettes[k], self._remappers[k]


def plan_strategy(name: str, frames: Callable[[], Iterable[np.ndarray]], colors: int,
                  histogram: Optional[ColorHistogram], remapper: Callable[[np.ndarray, bool], Remapper],
                  windows: int = 1, count: int = 0) -> PalettePlan:
    """Plan palettes with strategy ``name``. ``frames()`` iterates the output frames (called at most
    once, only by strategies that need a pass of their own); ``histogram`` counts all of them.
    ``windows`` > 1 splits ``global`` into that many palettes over the ``count`` frames."""
    check_strategy(name)
    if name == "global" and windows > 1 and count > 1:
        starts, histograms = _windows(frames(), min(windows, count), count)
        return PalettePlan(histograms, starts, remapper, colors=colors)
    if name == "global":
        return PalettePlan([histogram], [0], remapper, colors=colors)
    if name == "frame":
        # The first frame's palette is the global table; the others are planned as frames come.
        first = next(iter(frames()))
        hist = ColorHistogram()
        hist.add(first)
        return PalettePlan([hist], [0], remapper, per_frame=True, colors=colors)
    starts, histograms = _scenes(frames())
    return PalettePlan(histograms, starts, remapper, colors=colors)


def _windows(frames: Iterable[np.ndarray], windows: int, count: int) -> tuple[list[int], list[ColorHistogram]]:
    """Split ``count`` frames into ``windows`` equal stretches; one colour histogram per stretch.

    >>> starts, hists = _windows([np.zeros((2, 2, 3), np.uint8)] * 5, 2, 5)
    >>> starts
    [0, 2]
    """
    starts = [k * count // windows for k in range(windows)]
    histograms = [ColorHistogram() for _ in starts]
    for i, image in enumerate(frames):  # counted in the stretch whose palette maps it (as palette_for)
        histograms[int(np.searchsorted(starts, i, side="right")) - 1].add(image)
    return starts, histograms


def _scenes(frames: Iterable[np.ndarray]) -> tuple[list[int], list[ColorHistogram]]:
    """Split frames where their colours change; one colour histogram per scene.

    >>> red, blue = np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8, 3), np.uint8)
    >>> red[..., 0] = 255; blue[..., 2] = 255
    >>> starts, hists = _scenes([red] * 4 + [blue] * 4)
    >>> starts
    [0, 4]
    """
    starts: list[int] = []
    histograms: list[ColorHistogram] = []
    scene_mean = None
    scene_frames = 0
    for i, image in enumerate(frames):
        coarse = _coarse_histogram(image)
        changed = scene_mean is not None and 0.5 * np.abs(coarse - scene_mean / scene_frames).sum() > SCENE_CHANGE
        if scene_mean is None or (changed and scene_frames >= _MIN_SCENE_FRAMES):
            starts.append(i)
            histograms.append(ColorHistogram())
            scene_mean, scene_frames = np.zeros_like(coarse), 0
        scene_mean += coarse
        scene_frames += 1
        histograms[-1].add(image)
    return starts, histograms


def _coarse_histogram(image: np.ndarray) -> np.ndarray:
    sample = image[::4, ::4, :3] >> (8 - _COARSE_BITS)
    bins = (sample[..., 0].astype(np.int32) << (2 * _COARSE_BITS)) | (sample[..., 1].astype(np.int32) << _COARSE_BITS)
    bins |= sample[..., 2]
    counts = np.bincount(bins.ravel(), minlength=1 << (3 * _COARSE_BITS)).astype(np.float64)
    return counts / max(counts.sum(), 1)
