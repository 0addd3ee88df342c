"""Inline display in Jupyter/Colab: a written GIF as an <img>, a clip as a short low-res preview.

>>> GifFile("out.gif", ...)._repr_html_()          # doctest: +SKIP
'<img src="data:image/gif;base64,..." width="640" height="495">'
"""

from __future__ import annotations

import base64
import os
import tempfile

PREVIEW_WIDTH = 320
PREVIEW_SECONDS = 3.0
PREVIEW_FPS = 10


def gif_html(path: str, size: tuple[int, int]) -> str:
    """An <img> tag holding the GIF at ``path`` inline (notebooks cannot read local files)."""
    with open(path, "rb") as fp:
        data = base64.b64encode(fp.read()).decode("ascii")
    return f'<img src="data:image/gif;base64,{data}" width="{size[0]}" height="{size[1]}">'


_MIME = {".gif": "image/gif", ".webp": "image/webp", ".png": "image/apng", ".apng": "image/apng"}


def animation_html(path: str, size: tuple[int, int]) -> str:
    """Inline HTML for a written animation: <img> for GIF/WebP/APNG, a looping <video> for MP4."""
    ext = os.path.splitext(path)[1].lower()
    if ext == ".mp4":
        with open(path, "rb") as fp:
            data = base64.b64encode(fp.read()).decode("ascii")
        return (f'<video autoplay loop muted playsinline width="{size[0]}" height="{size[1]}" '
                f'src="data:video/mp4;base64,{data}"></video>')
    if ext == ".gif":
        return gif_html(path, size)
    with open(path, "rb") as fp:
        data = base64.b64encode(fp.read()).decode("ascii")
    return f'<img src="data:{_MIME.get(ext, "image/gif")};base64,{data}" width="{size[0]}" height="{size[1]}">'


def clip_preview_html(clip) -> str:
    """A small GIF of the clip's first seconds, rendered now, as inline HTML.

    The preview is cut and shrunk before the clip's effects, which then apply as recorded (their
    coordinates scale with the frame). If that is not possible (say, a crossfade longer than the
    preview), the clip's text description is shown instead.
    """
    import dataclasses
    import html

    from .errors import GifloopError

    base = clip.without_effects()
    if base.duration is None or base.duration > PREVIEW_SECONDS:
        base = base.trim(0, duration=PREVIEW_SECONDS)
    if base.size[0] > PREVIEW_WIDTH:
        base = base.resize(width=PREVIEW_WIDTH)
    base = base.with_fps(min(PREVIEW_FPS, clip.fps))
    preview = dataclasses.replace(base, effects=clip.effects)
    fd, path = tempfile.mkstemp(suffix=".gif")
    os.close(fd)
    try:
        written = preview.write_gif(path, overwrite=True)
        return gif_html(path, written.size) + f"<pre>{html.escape(repr(clip))}</pre>"
    except GifloopError as exc:
        return f"<pre>{html.escape(repr(clip))}\n(no preview: {html.escape(str(exc))})</pre>"
    finally:
        os.unlink(path)
