"""gifloop: turn any video FFmpeg can decode into a fast, small, good-looking animated GIF.

>>> import gifloop
>>> gifloop.open("clip.mp4").trim(1, 4).resize(width=480).with_fps(12).write_gif("clip.gif")  # doctest: +SKIP
"""

from .api import GifFile, convert, open, write_gif
from .clip import Clip
from .composite import Composite, Layer, composite
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
from .encode.pipeline import GifSettings
from .quality import QualityReport, quality
from .source.probe import SourceInfo, probe
from .timecode import format_time, parse_time

__version__ = "0.1.0"


def __getattr__(name: str):
    # Imported on first use, not with gifloop: converting a clip does not need the loop finder.
    if name in ("LoopCandidate", "find_loops"):
        from . import loops

        return getattr(loops, name)
    raise AttributeError(f"module 'gifloop' has no attribute {name!r}")

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
