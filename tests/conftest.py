"""Shared fixtures: real media from ../shared/media (skipped when absent) and synthetic clips made here."""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from gifloop.samples import make_sample

REPO = Path(__file__).resolve().parents[1]
MEDIA = Path(os.environ.get("GIFLOOP_MEDIA", REPO.parent / "shared" / "media"))


@pytest.fixture
def media():
    """``media("real/x.mp4")`` -> path of a shared test file; skips the test when it is not there."""

    def find(name: str) -> str:
        path = MEDIA / name
        if not path.exists():
            pytest.skip(f"shared media {name} not available ({MEDIA})")
        return str(path)

    return find


def write_frames(path, frames, fps=25, codec="libx264", pix_fmt="yuv444p", options=None, sar=None):
    """Encode RGB uint8 frames (a list of (H, W, 3) arrays) into a video file at ``fps``."""
    h, w = frames[0].shape[:2]
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, pix_fmt
        stream.time_base = Fraction(1, fps)
        stream.options = options if options is not None else ({"qp": "0", "preset": "ultrafast"} if codec == "libx264" else {})
        if sar is not None:
            stream.codec_context.sample_aspect_ratio = sar
        for i, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24").reformat(format=pix_fmt)
            frame.pts, frame.time_base = i, Fraction(1, fps)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return str(path)


def level_frames(count=50, size=(64, 48)):
    """Frame i is a flat grey of level 5*i: a frame's index can be read back from its pixels."""
    w, h = size
    return [np.full((h, w, 3), 5 * i, np.uint8) for i in range(count)]


def frame_index(image) -> int:
    """Read back the index of a ``level_frames`` frame (robust to small coding errors)."""
    return int(round(float(np.asarray(image, np.float64)[..., :3].mean()) / 5))


@pytest.fixture(scope="session")
def level_clip(tmp_path_factory):
    """50 frames at 25 fps (2 s), losslessly coded, frame i grey level 5*i."""
    return write_frames(tmp_path_factory.mktemp("clips") / "levels.mp4", level_frames())


@pytest.fixture(scope="session")
def sample_clip(tmp_path_factory):
    """A 2 s 320x240 testsrc2 clip at 30 fps (H.264)."""
    return make_sample(tmp_path_factory.mktemp("clips") / "sample.mp4", seconds=2, size=(320, 240),
                       graph="testsrc2=size={w}x{h}:rate={fps}:duration={seconds}")


@pytest.fixture(scope="session")
def moving_clip(tmp_path_factory):
    """40x30, 20 frames at 10 fps, every pixel changing every frame: value (7 * i + 3 * x) % 256."""
    frames = []
    for i in range(20):
        row = (7 * i + np.arange(40) * 3) % 256
        frames.append(np.repeat(np.repeat(row[None, :, None], 30, 0), 3, 2).astype(np.uint8))
    return write_frames(tmp_path_factory.mktemp("clips") / "moving.mp4", frames, fps=10)


@pytest.fixture(scope="session")
def still_scene(tmp_path_factory):
    """A still textured background (120x80) with a bright square walking across it, 20 frames at 10 fps."""
    rng = np.random.default_rng(3)
    background = rng.integers(40, 90, (80, 120, 3)).astype(np.uint8)
    frames = []
    for i in range(20):
        image = background.copy()
        image[30:50, 5 + 5 * i: 25 + 5 * i] = (240, 220, 40)
        frames.append(image)
    return write_frames(tmp_path_factory.mktemp("clips") / "scene.mp4", frames, fps=10)


@pytest.fixture(scope="session")
def quadrant_clip(tmp_path_factory):
    """A 1 s 80x40 clip whose picture has four known colours: red, green (top), blue, white (bottom)."""
    image = np.zeros((40, 80, 3), np.uint8)
    image[:20, :40] = (255, 0, 0)
    image[:20, 40:] = (0, 255, 0)
    image[20:, :40] = (0, 0, 255)
    image[20:, 40:] = (255, 255, 255)
    return write_frames(tmp_path_factory.mktemp("clips") / "quadrants.mp4", [image] * 25)


def gif_frames(path):
    """Decode a GIF: list of (RGB array, duration in ms) per frame, composited as a viewer sees them."""
    out = []
    with Image.open(path) as im:
        for i in range(im.n_frames):
            im.seek(i)
            out.append((np.asarray(im.convert("RGB")), im.info.get("duration", 0)))
    return out


def parse_gif(path):
    """Walk a GIF's blocks. Returns {"size", "table_size", "loop", "frames": [dict per image]} where a
    frame holds its delay (cs), disposal, transparent index (or None), rectangle (x, y, w, h) and
    local colour table size (0: none)."""
    data = Path(path).read_bytes()
    assert data[:6] in (b"GIF87a", b"GIF89a"), "not a GIF"
    width, height, flags = int.from_bytes(data[6:8], "little"), int.from_bytes(data[8:10], "little"), data[10]
    pos = 13
    table = 0
    if flags & 0x80:
        table = 2 << (flags & 7)
        pos += 3 * table
    info = {"size": (width, height), "table_size": table, "loop": None, "frames": []}
    control = {}

    def skip_blocks(p):
        while data[p]:
            p += data[p] + 1
        return p + 1

    while True:
        kind = data[pos]
        if kind == 0x3B:
            return info
        if kind == 0x21:
            label = data[pos + 1]
            if label == 0xF9:
                packed = data[pos + 3]
                control = {
                    "delay": int.from_bytes(data[pos + 4: pos + 6], "little"),
                    "disposal": (packed >> 2) & 7,
                    "transparent": data[pos + 6] if packed & 1 else None,
                }
            elif label == 0xFF and data[pos + 3: pos + 14] == b"NETSCAPE2.0":
                info["loop"] = int.from_bytes(data[pos + 16: pos + 18], "little")
            pos = skip_blocks(pos + 2)
        elif kind == 0x2C:
            x, y, w, h = (int.from_bytes(data[pos + 1 + 2 * k: pos + 3 + 2 * k], "little") for k in range(4))
            packed = data[pos + 9]
            pos += 10
            local = 2 << (packed & 7) if packed & 0x80 else 0
            pos += 3 * local
            pos = skip_blocks(pos + 1)  # LZW minimum code size, then the data sub-blocks
            info["frames"].append({"rect": (x, y, w, h), "delay": None, "disposal": 0, "transparent": None,
                                   "local_table": local, **control})
            control = {}
        else:
            raise AssertionError(f"unexpected GIF block 0x{kind:02x} at byte {pos}")


def gif_delays_cs(path):
    """The centisecond delay of every frame of a GIF."""
    return [frame["delay"] for frame in parse_gif(path)["frames"]]
