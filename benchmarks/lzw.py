"""GIF LZW: gifloop's encoder (``gifloop.encode.lzw``, C kernels) against Pillow's C encoder, and the
size/error curve of its lossy mode (gifsicle's ``--lossy`` beside it when ``gifsicle`` is installed).

Frames: ``real/squirrel_1280x720_h264.mp4`` from the shared media (or ``--clip``), every 10th frame,
resized to 640 wide, quantised to 255 colours with ``plan_palette`` + ``Remapper`` (Bayer dither).

Prints:

* lossless: ms/frame and bytes/frame, Pillow vs gifloop, on one thread and on two threads (frames
  shared out by a thread pool: both encoders release the GIL; throughput in ms/frame of wall time);
* lossy: for several ``lossy`` values, judged against the wanted indices' colours and against the
  source frames (``rgb=``), bytes (and % of lossless), mean and max colour error (the
  encoder's redmean distance, RGB levels), mean FLIP against the source frames when
  ``flip_evaluator`` is installed, ms/frame;
* the first call's time in a new Python process (importing ``gifloop.encode.lzw`` and its C module,
  one lossless and one lossy call on an 8x8 patch).

Run::

    .venv/bin/python benchmarks/lzw.py [--clip real/NAME] [--frames N] [--width W] [--media DIR]

Times are best of ``--repeat`` runs (default 3). Without the shared media it prints a note and exits 0.
"""

from __future__ import annotations

import argparse
import io
import shutil
import struct
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import av
import numpy as np
from PIL import GifImagePlugin, Image

from gifloop.encode.lzw import lossy_budget, lzw_image
from gifloop.metrics import flip, flip_available
from gifloop.quantize.palette import ColorHistogram, plan_palette
from gifloop.quantize.remap import Remapper

REPO = Path(__file__).resolve().parents[1]
LOSSY_LEVELS = (10, 20, 40, 80, 140, 200)


def load_frames(path: Path, count: int, width: int) -> list[np.ndarray]:
    frames = []
    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i % 10 == 0:
                height = int(round(frame.height * width / frame.width / 2)) * 2
                frames.append(frame.reformat(width=width, height=height, format="rgb24").to_ndarray())
                if len(frames) == count:
                    break
    return frames


def pillow_body(patch: np.ndarray) -> bytes:
    image = Image.frombuffer("L", patch.shape[::-1], np.ascontiguousarray(patch), "raw", "L", 0, 1)
    return b"".join(GifImagePlugin.getdata(image, offset=(0, 0)))


def gifloop_body(patch: np.ndarray, palette=None, lossy=0, rgb=None) -> bytes:
    h, w = patch.shape
    return lzw_image(patch, (0, 0, w, h), code_size=8, palette=palette, lossy=lossy, rgb=rgb)


def best_time(run, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best


def gif_file(bodies: list[bytes], palette: np.ndarray, size: tuple[int, int]) -> bytes:
    table = np.zeros((256, 3), np.uint8)
    table[: len(palette)] = palette
    w, h = size
    out = [b"GIF89a", struct.pack("<HHBBB", w, h, 0xF7, 0, 0), table.tobytes()]
    for body in bodies:
        out.append(b"\x21\xf9\x04\x04\x0a\x00\x00\x00")  # 0.1 s, leave in place
        out.append(body)
    out.append(b";")
    return b"".join(out)


def decode_frames(data: bytes) -> list[np.ndarray]:
    """Each frame's palette indices as stored (no compositing: every frame covers the screen)."""
    image = Image.open(io.BytesIO(data))
    frames = []
    for k in range(getattr(image, "n_frames", 1)):
        image.seek(k)
        frames.append(np.asarray(image.convert("RGB")))
    return frames


def redmean(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    d = b - a
    red = (a[..., 0] + b[..., 0]) / 2
    return np.sqrt(((2 + red / 256) * d[..., 0] ** 2 + 4 * d[..., 1] ** 2 + (2 + (255 - red) / 256) * d[..., 2] ** 2) / 9)


def first_call_seconds() -> float:
    code = ("import time, numpy as np; t = time.perf_counter(); from gifloop.encode.lzw import lzw_image; "
            "p = np.zeros((8, 8), np.uint8); lzw_image(p, (0, 0, 8, 8), code_size=8); "
            "lzw_image(p, (0, 0, 8, 8), code_size=8, palette=np.zeros((256, 3), np.uint8), lossy=20); "
            "print(time.perf_counter() - t)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--media", type=Path, default=REPO.parent / "shared" / "media")
    parser.add_argument("--clip", default="real/squirrel_1280x720_h264.mp4")
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    path = args.media / args.clip
    if not path.exists():
        print(f"shared media {path} not found: nothing to measure")
        return 0

    rgb = load_frames(path, args.frames, args.width)
    hist = ColorHistogram()
    for frame in rgb:
        hist.add(frame)
    palette = plan_palette(hist, 255)
    remapper = Remapper(palette, dither="bayer")
    frames = [remapper.remap(frame) for frame in rgb]
    h, w = frames[0].shape
    n = len(frames)
    print(f"{args.clip}: {n} frames {w}x{h}, {len(palette)} colours, Bayer dither")

    first = first_call_seconds()
    gifloop_body(frames[0])
    gifloop_body(frames[0], palette, 20)

    print("\nlossless          bytes/frame   ms/frame (1 thread)   ms/frame (2 threads)")
    with ThreadPoolExecutor(2) as pool:
        for name, encode in (("Pillow", pillow_body), ("gifloop", gifloop_body)):
            size = sum(len(encode(f)) for f in frames) / n
            one = best_time(lambda: [encode(f) for f in frames], args.repeat) / n * 1e3
            two = best_time(lambda: list(pool.map(encode, frames)), args.repeat) / n * 1e3
            print(f"  {name:10s} {size:16,.0f} {one:21.2f} {two:22.2f}")
    exact = [gifloop_body(f) for f in frames]
    lossless_bytes = sum(len(b) for b in exact)

    use_flip = flip_available()
    flip_note = "" if use_flip else " (flip_evaluator not installed)"
    print(f"\nlossy (budget = 1.75*sqrt(lossy) RGB levels)  vs source frames: FLIP{flip_note}")
    print("  lossy  budget   bytes/frame   % of lossless   mean err   max err     FLIP   ms/frame")
    gifsicle = shutil.which("gifsicle")
    gifsicle_rows = []
    source_rows = []
    for lossy in (0,) + LOSSY_LEVELS:
        for judged in ("index", "source"):
            if judged == "source" and not lossy:
                continue
            sources = rgb if judged == "source" else [None] * n
            bodies = [gifloop_body(f, palette, lossy, s) for f, s in zip(frames, sources)]
            ms = best_time(lambda: [gifloop_body(f, palette, lossy, s) for f, s in zip(frames, sources)],
                           args.repeat) / n * 1e3
            decoded = decode_frames(gif_file(bodies, palette, (w, h)))
            error = np.concatenate([redmean(palette[f], d).ravel() for f, d in zip(frames, decoded)])
            quality = np.mean([flip(src, d) for src, d in zip(rgb, decoded)]) if use_flip else float("nan")
            size = sum(len(b) for b in bodies)
            row = (f"  {lossy:5d} {lossy_budget(lossy):7.1f} {size / n:13,.0f} {100 * size / lossless_bytes:14.1f}% "
                   f"{error.mean():10.2f} {error.max():9.2f} {quality:8.4f} {ms:10.2f}")
            (print if judged == "index" else source_rows.append)(row)
        if gifsicle and lossy:
            source = gif_file(exact, palette, (w, h))
            start = time.perf_counter()
            out = subprocess.run([gifsicle, f"--lossy={lossy}"], input=source, capture_output=True, check=True).stdout
            seconds = time.perf_counter() - start
            decoded = decode_frames(out)
            error = np.concatenate([redmean(palette[f], d).ravel() for f, d in zip(frames, decoded)])
            quality = np.mean([flip(src, d) for src, d in zip(rgb, decoded)]) if use_flip else float("nan")
            body_bytes = len(out) - len(source) + lossless_bytes  # same header and control blocks
            gifsicle_rows.append((lossy, body_bytes, error, quality, seconds / n * 1e3))
    if source_rows:
        print("\nlossy judged against the source colours (lzw_image(..., rgb=frame); errors still vs the indices)")
        for row in source_rows:
            print(row)
    if gifsicle_rows:
        print(f"\ngifsicle --lossy ({gifsicle}; bytes exclude the same file header; ms includes parsing)")
        for lossy, size, error, quality, ms in gifsicle_rows:
            print(f"  {lossy:5d} {'':7s} {size / n:13,.0f} {100 * size / lossless_bytes:14.1f}% "
                  f"{error.mean():10.2f} {error.max():9.2f} {quality:8.4f} {ms:10.2f}")
    print(f"\nfirst call in a new process (import + one lossless and one lossy call): {first:.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
