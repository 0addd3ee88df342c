"""sRGB <-> OKLab, vectorised: distances in OKLab follow what the eye sees far better than RGB.

OKLab is Björn Ottosson's perceptual colour space (2020); the matrices are his published constants.

>>> lab = srgb_to_oklab(np.array([[255, 255, 255]], np.uint8))
>>> np.round(lab, 3).tolist() == [[1.0, 0.0, 0.0]]
True
"""

from __future__ import annotations

import numpy as np

_RGB_TO_LMS = np.array([
    [0.4122214708, 0.5363325363, 0.0514459929],
    [0.2119034982, 0.6806995451, 0.1073969566],
    [0.0883024619, 0.2817188376, 0.6299787005],
])
_LMS_TO_LAB = np.array([
    [0.2104542553, 0.7936177850, -0.0040720468],
    [1.9779984951, -2.4285922050, 0.4505937099],
    [0.0259040371, 0.7827717662, -0.8086757660],
])
_LAB_TO_LMS = np.linalg.inv(_LMS_TO_LAB)
_LMS_TO_RGB = np.linalg.inv(_RGB_TO_LMS)


def srgb_to_linear(values: np.ndarray) -> np.ndarray:
    """sRGB values 0-255 to linear light 0-1."""
    c = np.asarray(values, dtype=np.float64) / 255.0
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(linear: np.ndarray) -> np.ndarray:
    """Linear light 0-1 to sRGB values 0-255 (float, not rounded)."""
    c = np.clip(linear, 0.0, 1.0)
    return 255.0 * np.where(c <= 0.0031308, c * 12.92, 1.055 * np.power(c, 1 / 2.4) - 0.055)


def srgb_to_oklab(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) sRGB 0-255 to (..., 3) OKLab (L in 0-1)."""
    lms = _transform(srgb_to_linear(rgb), _RGB_TO_LMS)
    return _transform(np.cbrt(lms), _LMS_TO_LAB)


def srgb_cube_to_oklab(levels: np.ndarray) -> np.ndarray:
    """OKLab of every colour ``(levels[i], levels[j], levels[k])``, as a (n**3, 3) array in that
    (i, j, k) order. The first matrix product is linear, so it is the sum of three small tables
    (one per channel) instead of a product per colour: 3x faster for the lookup table's grid.

    >>> srgb_cube_to_oklab(np.array([0, 255])).shape
    (8, 3)
    """
    shares = srgb_to_linear(levels)[:, None] * _RGB_TO_LMS.T[:, None, :]  # (channel, level, lms)
    lms = shares[0][:, None, None] + shares[1][None, :, None] + shares[2][None, None, :]
    return _transform(np.cbrt(lms.reshape(-1, 3)), _LMS_TO_LAB)


def oklab_to_srgb(lab: np.ndarray) -> np.ndarray:
    """(..., 3) OKLab to (..., 3) sRGB 0-255 as uint8."""
    lms = _transform(np.asarray(lab, dtype=np.float64), _LAB_TO_LMS) ** 3
    return np.round(linear_to_srgb(_transform(lms, _LMS_TO_RGB))).astype(np.uint8)


def _transform(values: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """``values @ matrix.T`` for (..., 3) arrays, without BLAS: a 3x3 product gains nothing from it,
    and OpenBLAS's threads, woken from the encoder's worker threads, spun against them for 0.4 s."""
    return np.einsum("...j,ij->...i", values, matrix)
