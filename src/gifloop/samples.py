"""Make sample videos from FFmpeg's built-in pattern generators (lavfi), through PyAV only.

Used by ``gifloop demo`` and by the tests; nothing is downloaded.

>>> make_sample("sample.mp4", seconds=2, size=(320, 240))        # doctest: +SKIP
'sample.mp4'
"""

from __future__ import annotations

import os
from fractions import Fraction
from typing import Optional

import av

# A portrait "phone recording": a moving test card on top, drifting colour gradients below.
DEMO_GRAPH = (
    "testsrc2=size={w}x{half}:rate={fps}:duration={seconds}[top];"
    "gradients=size={w}x{half}:rate={fps}:duration={seconds}:speed=0.02:n=4:seed=7[bottom];"
    "[top][bottom]vstack[out0]"
)


def make_sample(path: str | os.PathLike, *, seconds: float = 4.0, size: tuple[int, int] = (720, 1280),
                fps: int = 30, graph: Optional[str] = None, codec: str = "libx264",
                pix_fmt: str = "yuv420p", options: Optional[dict] = None,
                rotation: Optional[int] = None) -> str:
    """Encode ``seconds`` of a lavfi pattern into ``path`` (container from the extension).

    ``graph`` is a lavfi description (``{w}``, ``{h}``, ``{half}``, ``{fps}``, ``{seconds}`` are filled
    in); the default is the demo's two-part portrait picture. ``rotation`` adds a display-matrix tag
    (degrees counter-clockwise, as FFmpeg stores it).
    """
    w, h = size
    description = (graph or DEMO_GRAPH).format(w=w, h=h, half=h // 2, fps=fps, seconds=seconds)
    path = os.fspath(path)
    source = av.open(description, format="lavfi")
    try:
        with av.open(path, mode="w") as out:
            stream = out.add_stream(codec, rate=fps)
            stream.width, stream.height, stream.pix_fmt = w, h, pix_fmt
            stream.time_base = Fraction(1, fps)
            stream.options = {"preset": "veryfast", "crf": "20"} if codec == "libx264" else {}
            stream.options.update(options or {})
            if rotation is not None:
                stream.set_display_rotation(rotation)
            for i, frame in enumerate(source.decode(video=0)):
                frame = frame.reformat(width=w, height=h, format=pix_fmt)
                frame.pts, frame.time_base = i, Fraction(1, fps)
                out.mux(stream.encode(frame))
            out.mux(stream.encode(None))
    finally:
        source.close()
    return path
