"""What every effect is: a pixel effect (a NumPy function of one frame) or a time effect (a
rewrite of the timeline). Effects are recorded on a ``Clip`` with the frame size they were asked
for, and scaled to the final size when the clip is rendered.

>>> class Invert(PixelEffect):
...     def apply(self, image, time):
...         out = image.copy(); out[..., :3] = 255 - image[..., :3]; return out
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..timeline import Timeline


class PixelEffect:
    """Changes pixels; ``time_dependent`` ones also look at the output time and length."""

    time_dependent = False

    def prepare(self, context: "RenderContext") -> "PixelEffect":
        """Return this effect ready for frames of ``context.size`` (scale coordinates, load images)."""
        return self

    def apply(self, image: np.ndarray, time: float) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError


class TimeEffect:
    """Reorders, repeats or blends frames in time; never touches pixels itself."""

    def retime(self, timeline: Timeline) -> Timeline:  # pragma: no cover - interface
        raise NotImplementedError

    def length(self, length: float, frame: float) -> float:
        """The output length for an input ``length`` (s) of frames ``frame`` s apart, before rendering."""
        return length


@dataclass(frozen=True)
class Placed:
    """An effect together with the (width, height) of the frames it was specified on."""

    effect: object
    size: tuple[int, int]


@dataclass
class RenderContext:
    """What effects may need to know when a clip is rendered."""

    size: tuple[int, int]  # final output (width, height)
    specified_size: tuple[int, int]  # size the effect's coordinates refer to
    clip: object = None  # the clip (without effects) that is being rendered
    duration: Optional[float] = None  # output length in seconds, once known
    store: object = None  # the decoded frames (FrameStore), for effects that study the whole clip

    @property
    def scale(self) -> tuple[float, float]:
        return self.size[0] / self.specified_size[0], self.size[1] / self.specified_size[1]
