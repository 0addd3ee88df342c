"""Editing effects, one module per family: time, region, text, colour.

Pixel effects are NumPy functions of whole frames; time effects rewrite the timeline of stored
frames. ``Clip`` methods (``reverse``, ``boomerang``, ``freeze_region``, ``text``, ``black_white``, ...)
record them; ``gifloop.api`` applies them when the clip is rendered.
"""

from .background import RemoveBackground
from .base import PixelEffect, Placed, RenderContext, TimeEffect
from .colour import BlackWhite, Levels
from .region import FreezeRegion
from .text import Text
from .time import Boomerang, Fade, Loop, MakeLoopable, Reverse

__all__ = [
    "BlackWhite", "Boomerang", "Fade", "FreezeRegion", "Levels", "Loop", "MakeLoopable", "PixelEffect",
    "Placed", "RemoveBackground", "RenderContext", "Reverse", "Text", "TimeEffect",
]
