"""Background removal for a still camera: transparent everywhere the picture matches its background.

The background is the per-pixel median of frames spread over the clip (a moving subject covers any
one pixel in only a few of them). A pixel whose colour differs from it by more than ``threshold``
is foreground; specks are opened away, small blobs dropped, holes filled, and the edge softened
before it becomes the alpha channel (GIF cuts alpha at 128; WebP/APNG keep it).

>>> clip.remove_background(threshold=30).write_gif("cut-out.gif")      # doctest: +SKIP
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..errors import BackgroundWarning, InvalidParameterError
from .base import PixelEffect, RenderContext

_SAMPLES = 25  # frames in the median: enough for subjects that stay put for a while
# Still cameras gave 1-5 % foreground on average (vtest, bottle detection); panning shots 24-50 %.
_MOVING_CAMERA = 0.2


@dataclass(frozen=True)
class RemoveBackground(PixelEffect):
    """Make the still background transparent (see the module docstring)."""

    threshold: float = 30.0  # colour difference (0-255, largest channel) that counts as foreground
    min_area: float = 0.001  # blobs smaller than this share of the frame are dropped
    feather: float = 1.5  # softness of the edge, pixels (Gaussian sigma)
    times: Optional[tuple] = None  # output times of the frames to build the background from
    background: Optional[np.ndarray] = None
    needs_frames = True  # applied to the stored frames once the whole clip has been decoded

    def __post_init__(self):
        if not 0 < self.threshold < 255:
            raise InvalidParameterError(f"background threshold must be between 0 and 255, got {self.threshold!r}")
        if not 0 <= self.min_area < 1:
            raise InvalidParameterError(f"min_area is a share of the frame, 0 to 1; got {self.min_area!r}")
        if self.feather < 0:
            raise InvalidParameterError(f"feather must be 0 or more pixels, got {self.feather!r}")

    def prepare(self, context: RenderContext) -> "RemoveBackground":
        store = context.store
        count = len(store)
        if count < 3:
            raise InvalidParameterError(
                f"background removal needs a few frames to compare, this clip has {count}; use a longer clip")
        if self.times:
            times = [store.time(i) for i in range(count)]
            picks = sorted({int(np.clip(np.searchsorted(times, t, side="right") - 1, 0, count - 1))
                            for t in self.times})
        else:
            picks = sorted(set(np.linspace(0, count - 1, min(_SAMPLES, count)).round().astype(int)))
        stack = np.stack([store.image(i)[..., :3] for i in picks])
        background = np.median(stack, axis=0).astype(np.uint8)
        prepared = RemoveBackground(self.threshold, self.min_area, self.feather, self.times, background)
        share = float(np.mean([prepared.foreground(frame).mean() for frame in stack[:: max(1, len(stack) // 8)]]))
        if share > _MOVING_CAMERA:
            warnings.warn(
                f"the background could not be separated: on average {share:.0%} of the picture differs from it "
                "(a moving camera?); background removal needs a still camera",
                BackgroundWarning, stacklevel=2)
        return prepared

    def foreground(self, image: np.ndarray) -> np.ndarray:
        """Boolean mask, at half resolution, of the pixels that differ from the background, cleaned up.

        Half resolution: the morphology costs a quarter (38 -> 8 ms per 640x495 frame, measured), and
        a GIF's cut-out edge is smoothed and thresholded anyway.
        """
        a, b = image[::2, ::2], self.background[::2, ::2]
        difference = None
        for c in range(3):  # per channel: a reduction over a length-3 axis is several times slower
            d = np.maximum(a[..., c], b[..., c])
            d -= np.minimum(a[..., c], b[..., c])
            difference = d if difference is None else np.maximum(difference, d)
        mask = difference > self.threshold
        from scipy import ndimage  # here, not at import: it costs a third of a second to load

        mask = ndimage.binary_opening(mask)  # single-pixel noise
        labels, count = ndimage.label(mask)
        if count:
            sizes = np.bincount(labels.ravel())
            keep = sizes >= self.min_area * mask.size
            keep[0] = False
            mask = keep[labels]
        mask = ndimage.binary_closing(mask, iterations=2)
        return ndimage.binary_fill_holes(mask)

    def apply(self, image: np.ndarray, time: float) -> np.ndarray:
        from scipy import ndimage

        h, w = image.shape[:2]
        mask = self.foreground(image).astype(np.float32)
        if self.feather > 0:
            mask = ndimage.gaussian_filter(mask, self.feather / 2)  # half resolution: half the sigma
        alpha = (mask * 255 + 0.5).astype(np.uint8)
        alpha = np.repeat(np.repeat(alpha, 2, axis=0), 2, axis=1)[:h, :w]
        if image.shape[-1] == 4:
            out = image.copy()
            np.minimum(out[..., 3], alpha, out=out[..., 3])
        else:
            out = np.dstack([image, alpha])
        return out
