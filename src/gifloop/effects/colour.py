"""Colour effects: black and white, gamma, brightness and contrast. Whole-frame NumPy lookups.

>>> BlackWhite().apply(np.array([[[255, 0, 0]]], np.uint8), 0.0).tolist()  # red's light, 0.2126, in sRGB
[[[127, 127, 127]]]
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import InvalidParameterError
from .base import PixelEffect

# Rec. 709 luma weights: the share each primary contributes to perceived brightness.
_LUMA = np.array([0.2126, 0.7152, 0.0722], np.float32)


@dataclass(frozen=True)
class BlackWhite(PixelEffect):
    """Replace colour by its luminance (Rec. 709 weights, on linear light so brightness is kept)."""

    def apply(self, image: np.ndarray, time: float) -> np.ndarray:
        linear = _TO_LINEAR[image[..., :3]]
        luma = linear @ _LUMA
        grey = _TO_SRGB[np.clip((luma * 4095 + 0.5).astype(np.int32), 0, 4095)]
        out = image.copy()
        out[..., :3] = grey[..., None]
        return out


@dataclass(frozen=True)
class Levels(PixelEffect):
    """Gamma, brightness and contrast through one 256-entry table per frame.

    ``gamma`` > 1 brightens mid-tones, ``brightness`` adds (-1..1 of full scale), ``contrast``
    scales around mid-grey (1 = unchanged).
    """

    gamma: float = 1.0
    brightness: float = 0.0
    contrast: float = 1.0

    def __post_init__(self):
        if not (math.isfinite(self.gamma) and self.gamma > 0):
            raise InvalidParameterError(f"gamma must be positive, got {self.gamma!r}; 1 leaves the image as it is")
        if not -1 <= self.brightness <= 1:
            raise InvalidParameterError(f"brightness must be between -1 and 1, got {self.brightness!r}")
        if not (math.isfinite(self.contrast) and self.contrast >= 0):
            raise InvalidParameterError(f"contrast must be 0 or more, got {self.contrast!r}; 1 leaves it as it is")

    def table(self) -> np.ndarray:
        x = np.arange(256) / 255.0
        x = x ** (1.0 / self.gamma)
        x = (x - 0.5) * self.contrast + 0.5 + self.brightness
        return np.clip(np.round(x * 255), 0, 255).astype(np.uint8)

    def apply(self, image: np.ndarray, time: float) -> np.ndarray:
        out = image.copy()
        out[..., :3] = self.table()[image[..., :3]]
        return out


def _srgb_tables() -> tuple[np.ndarray, np.ndarray]:
    c = np.arange(256) / 255.0
    to_linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4).astype(np.float32)
    l = np.arange(4096) / 4095.0
    to_srgb = np.where(l <= 0.0031308, l * 12.92, 1.055 * l ** (1 / 2.4) - 0.055)
    return to_linear, np.clip(np.round(to_srgb * 255), 0, 255).astype(np.uint8)


_TO_LINEAR, _TO_SRGB = _srgb_tables()
