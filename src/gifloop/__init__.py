"""gifloop: turn any video FFmpeg can decode into a fast, small, good-looking animated GIF.

>>> import gifloop
>>> gifloop.open("clip.mp4").trim(1, 4).resize(width=480).with_fps(12).write_gif("clip.gif")  # doctest: +SKIP

The names below load on first use (PEP 562), so ``import gifloop`` alone imports nothing heavy:
the command line (``gifloop.__main__``) can set up the process before NumPy loads.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from .errors import (
    ConversionError,
    CorruptSourceError,
    GifloopError,
    InputError,
    InvalidParameterError,
    NotAVideoError,
    OutputPathError,
    SourceNotFoundError,
    SourceReadError,
    TruncatedSourceWarning,
)

__version__ = "0.1.0"

if TYPE_CHECKING:  # type checkers and editors see the names; at run time they load on first use
    from .api import GifFile, convert, open, write_gif
    from .clip import Clip
    from .encode.pipeline import GifSettings
    from .layers import Composite, Layer, composite
    from .loops import LoopCandidate, find_loops
    from .metrics import QualityReport, quality
    from .source.probe import SourceInfo, probe
    from .timecode import format_time, parse_time

# public name -> the module that defines it
_LAZY = {
    "GifFile": "api", "convert": "api", "open": "api", "write_gif": "api",
    "Clip": "clip",
    "Composite": "layers", "Layer": "layers", "composite": "layers",
    "GifSettings": "encode.pipeline",
    "QualityReport": "metrics", "quality": "metrics",
    "SourceInfo": "source.probe", "probe": "source.probe",
    "format_time": "timecode", "parse_time": "timecode",
    "LoopCandidate": "loops", "find_loops": "loops",
}


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'gifloop' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # next time, a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "Clip",
    "Composite",
    "ConversionError",
    "CorruptSourceError",
    "GifFile",
    "GifSettings",
    "GifloopError",
    "InputError",
    "InvalidParameterError",
    "Layer",
    "LoopCandidate",
    "NotAVideoError",
    "OutputPathError",
    "QualityReport",
    "SourceInfo",
    "SourceNotFoundError",
    "SourceReadError",
    "TruncatedSourceWarning",
    "__version__",
    "composite",
    "convert",
    "find_loops",
    "format_time",
    "open",
    "parse_time",
    "probe",
    "quality",
    "write_gif",
]
