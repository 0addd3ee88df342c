"""Benchmark the gifloop "seed recipe" against the usual ways of making a GIF.

The seed recipe: a 1800x2784 portrait H.264 recording -> crop the upper half
(x=0, y=0, w=1800, h=1392) -> scale to 640x495 -> 12 fps -> animated GIF.

What it measures, side by side in one run, each runner in its own child
process (wall seconds; peak RSS of that child via ``os.wait4``, plus a sampled
sum over its subprocesses, which matters for MoviePy's ffmpeg reader):

* ``gifloop``        gifloop.open(src).crop(...).resize(width=640).with_fps(12).write_gif(out)
* ``gifloop-floor``  the same pipeline iterated with ``.frames()``, nothing written
* ``ffmpeg-floor``   ``ffmpeg -threads 2 -i src -vf fps,crop,scale -f null -``
* ``moviepy``        MoviePy 2.2.1 cropped().resized().write_gif()
* ``opencv+pillow``  cv2.VideoCapture + cv2.resize(INTER_AREA) + Pillow save_all
* ``ffmpeg-palette`` one ffmpeg command with palettegen/paletteuse (defaults)

Then, for every GIF produced, the quality against reference frames decoded by
PyAV at the GIF's display times t = k/12: mean NVIDIA FLIP (LDR, default
parameters; lower is better) and mean SSIM (higher is better).

The 15 s, 30 fps source is built once with PyAV from two real 720p clips in
the shared test media and cached outside the repo (~/.cache/gifloop-bench).

Run it (``make bench`` does exactly this)::

    .venv/bin/pip install -r benchmarks/requirements.txt
    .venv/bin/python benchmarks/seed_recipe.py [--only gifloop,moviepy] [--keep DIR]
                                               [--frames N|all] [--repeat N]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_MEDIA = REPO.parent / "shared" / "media"
DEFAULT_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "gifloop-bench"

# The recipe.
CROP = (0, 0, 1800, 1392)  # x, y, w, h
OUT_SIZE = (640, 495)  # width=640 with the crop's aspect kept
GIF_FPS = 12

# The source.
SOURCE = {
    "recipe": 1,  # bump when the way the source is built changes
    "size": [1800, 2784],
    "fps": 30,
    "seconds": 15,
    "codec": "libx264",
    "pix_fmt": "yuv420p",
    "crf": 20,
    "preset": "veryfast",
    "colors": "bt709, limited range (tagged)",
    "scaler": "LANCZOS",
    "top": "real/squirrel_1280x720_h264.mp4",
    "bottom": "real/cockatoo_1280x720_h264.mp4",
    "fill": "each clip looped from its start to cover 15 s",
}
SRC_W, SRC_H = SOURCE["size"]
SRC_FPS = SOURCE["fps"]
N_SRC_FRAMES = SRC_FPS * SOURCE["seconds"]
N_GIF_FRAMES = GIF_FPS * SOURCE["seconds"]

# FLIP takes ~0.3 s per 640x495 frame on 2 cores; with SSIM and the choice of
# reference about 0.5 s, i.e. ~90 s for all 180 frames of one GIF. So by
# default the metrics use every 3rd GIF time (60 frames, ~30 s per GIF).
DEFAULT_QUALITY_STEP = 3
# A GIF whose frame delays add up to more than 1 % off the source's length
# (e.g. 83 ms written as 8 cs) is compared on its own, stretched timeline, and
# also at the real display times (reported in the notes).
TIMING_TOLERANCE = 0.01

FFMPEG_FILTER = "fps={fps},crop={w}:{h}:{x}:{y},scale={ow}:{oh}".format(
    fps=GIF_FPS, x=CROP[0], y=CROP[1], w=CROP[2], h=CROP[3], ow=OUT_SIZE[0], oh=OUT_SIZE[1]
)


# --------------------------------------------------------------------------
# Runners (executed inside the child process)
# --------------------------------------------------------------------------


def run_gifloop(src: str, out: str) -> None:
    import gifloop

    gifloop.open(src).crop(0, 0, 1800, 1392).resize(width=640).with_fps(12).write_gif(out)


def run_gifloop_floor(src: str, out: str) -> None:
    import gifloop

    for t, frame in gifloop.open(src).crop(0, 0, 1800, 1392).resize(width=640).with_fps(12).frames():
        pass


def run_moviepy(src: str, out: str) -> None:
    from moviepy import VideoFileClip

    with VideoFileClip(src) as clip:
        clip.cropped(x1=0, y1=0, x2=1800, y2=1392).resized(width=640).write_gif(out, fps=12, logger=None)


def run_opencv_pillow(src: str, out: str) -> None:
    import cv2
    from PIL import Image

    cap = cv2.VideoCapture(src)
    if not cap.isOpened():
        raise RuntimeError(f"cv2.VideoCapture cannot open {src}")
    fps = cap.get(cv2.CAP_PROP_FPS)
    frames, index, k = [], 0, 0
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        # Frame `index` is on screen during [index/fps, (index+1)/fps): keep it
        # for every GIF time k/12 that falls in that interval.
        while k / 12 < (index + 1) / fps - 1e-9:
            top = bgr[0:1392, 0:1800]
            small = cv2.resize(top, (640, 495), interpolation=cv2.INTER_AREA)
            frames.append(Image.fromarray(cv2.cvtColor(small, cv2.COLOR_BGR2RGB)))
            k += 1
        index += 1
    cap.release()
    frames[0].save(out, save_all=True, append_images=frames[1:], duration=int(1000 / 12), loop=0)


CHILD_RUNNERS = {
    "gifloop": run_gifloop,
    "gifloop-floor": run_gifloop_floor,
    "moviepy": run_moviepy,
    "opencv+pillow": run_opencv_pillow,
}


def child_main(name: str, src: str, out: str) -> int:
    """Entry point of the per-runner child process."""
    try:
        CHILD_RUNNERS[name](src, out)
    except BaseException as exc:  # report anything, including SystemExit from a library
        print(f"error: {type(exc).__name__}: {exc}".splitlines()[0][:300], file=sys.stderr)
        return 1
    return 0


# --------------------------------------------------------------------------
# Runner table (parent side)
# --------------------------------------------------------------------------


@dataclass
class Runner:
    name: str
    writes_gif: bool


RUNNERS = [
    Runner("gifloop", writes_gif=True),
    Runner("gifloop-floor", writes_gif=False),
    Runner("ffmpeg-floor", writes_gif=False),
    Runner("moviepy", writes_gif=True),
    Runner("opencv+pillow", writes_gif=True),
    Runner("ffmpeg-palette", writes_gif=True),
]


def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def runner_argv(name: str, src: Path, out: Path) -> list[str]:
    quiet = ["-hide_banner", "-nostdin", "-loglevel", "error"]
    if name == "ffmpeg-floor":
        return [ffmpeg_exe(), *quiet, "-threads", "2", "-i", str(src), "-vf", FFMPEG_FILTER, "-f", "null", "-"]
    if name == "ffmpeg-palette":
        graph = FFMPEG_FILTER + ",split[a][b];[a]palettegen[p];[b][p]paletteuse"
        return [ffmpeg_exe(), *quiet, "-y", "-i", str(src), "-vf", graph, str(out)]
    return [sys.executable, str(Path(__file__).resolve()), "--child", name, str(src), str(out)]


def child_env() -> dict[str, str]:
    """Children import gifloop from the work tree even when it is not installed."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in [str(REPO / "src"), env.get("PYTHONPATH", "")] if p)
    return env


@dataclass
class Row:
    name: str
    seconds: float | None = None
    peak_mb: float | None = None
    tree_peak_mb: float | None = None
    gif: Path | None = None
    bytes: int | None = None
    flip: float | None = None
    ssim: float | None = None
    x_floor: float | None = None
    error: str | None = None
    notes: list[str] = field(default_factory=list)
    quality: dict = field(default_factory=dict)


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0  # a zombie has no VmRSS


def tree_rss_mb(pid: int) -> float:
    """Summed RSS of a process and all its descendants (Linux /proc)."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            total += rss_kb(p)
            for task in os.listdir(f"/proc/{p}/task"):
                todo += [int(c) for c in Path(f"/proc/{p}/task/{task}/children").read_text().split()]
        except (OSError, ValueError):
            continue  # exited meanwhile
    return total / 1024.0


class TreeSampler(threading.Thread):
    """Samples the summed RSS of a process tree every 50 ms (subprocesses included)."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.peak_mb, self.done = pid, 0.0, threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.05):
            self.peak_mb = max(self.peak_mb, tree_rss_mb(self.pid))


@dataclass
class Measurement:
    seconds: float
    peak_mb: float  # ru_maxrss from wait4: the largest single process of the tree
    tree_peak_mb: float  # sampled sum over the process tree
    code: int
    stderr_tail: str


def measure(argv: list[str], env: dict[str, str]) -> Measurement:
    """Run one child and wait for exactly it (os.wait4 gives its own rusage)."""
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err, env=env)
        sampler = TreeSampler(proc.pid)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        sampler.done.set()
        sampler.join()
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        tail = err.read().decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
    return Measurement(seconds, usage.ru_maxrss / 1024.0, sampler.peak_mb, proc.returncode, tail[0])


def run_one(runner: Runner, src: Path, out_dir: Path, repeat: int) -> Row:
    """Run a runner `repeat` times: fastest wall time, largest peak RSS."""
    row = Row(runner.name)
    out = out_dir / f"{runner.name.replace('+', '_')}.gif"
    for attempt in range(repeat):
        out.unlink(missing_ok=True)
        print(f"running {runner.name} ({attempt + 1}/{repeat}) ...", file=sys.stderr, flush=True)
        m = measure(runner_argv(runner.name, src, out), child_env())
        row.seconds = m.seconds if row.seconds is None else min(row.seconds, m.seconds)
        row.peak_mb = max(row.peak_mb or 0.0, m.peak_mb)
        row.tree_peak_mb = max(row.tree_peak_mb or 0.0, m.tree_peak_mb)
        if m.code != 0:
            tail = m.stderr_tail
            row.error = tail if tail.startswith("error:") else f"error: exit {m.code}: {tail}"
            return row
    if row.tree_peak_mb > 1.1 * row.peak_mb:
        row.notes.append(f"with its subprocesses ~{row.tree_peak_mb:.0f} MB (sampled sum)")
    if runner.writes_gif:
        if out.exists() and out.stat().st_size > 0:
            row.gif, row.bytes = out, out.stat().st_size
        else:
            row.error = "error: no GIF written"
    return row


# --------------------------------------------------------------------------
# Source video (built once with PyAV, cached)
# --------------------------------------------------------------------------


def source_path(media: Path, cache: Path) -> Path:
    desc = dict(SOURCE, inputs={k: (media / SOURCE[k]).stat().st_size for k in ("top", "bottom")})
    key = hashlib.sha256(json.dumps(desc, sort_keys=True).encode()).hexdigest()[:12]
    return cache / f"seed_{SRC_W}x{SRC_H}_{SRC_FPS}fps_{SOURCE['seconds']}s_{key}.mp4"


class LoopingClip:
    """Frames of a clip at arbitrary times, looping it from the start, scaled."""

    def __init__(self, path: Path, width: int, height: int):
        import av

        self.path, self.width, self.height = path, width, height
        with av.open(str(path)) as probe:
            stream = probe.streams.video[0]
            self.duration = float(stream.frames / stream.average_rate)
        self._open()

    def _open(self) -> None:
        import av

        self.container = av.open(str(self.path))
        self.decoded = self.container.decode(video=0)
        self.current = next(self.decoded)
        self.upcoming = next(self.decoded, None)
        self.scaled = None

    def close(self) -> None:
        self.container.close()

    def yuv_at(self, t: float):
        """Packed yuv420p array (h*3/2, w) of the frame on screen at t (looped)."""
        local = t % self.duration
        if local + 1e-9 < self.current.time:
            self.close()
            self._open()
        while self.upcoming is not None and self.upcoming.time <= local + 1e-9:
            self.current, self.upcoming, self.scaled = self.upcoming, next(self.decoded, None), None
        if self.scaled is None:
            frame = self.current.reformat(self.width, self.height, "yuv420p", interpolation=SOURCE["scaler"])
            self.scaled = frame.to_ndarray()
        return self.scaled


def split_yuv420(packed, height: int):
    """Y, U, V planes of a packed yuv420p array, each flattened in raster order."""
    y = packed[:height].ravel()
    quarter = height // 4
    u = packed[height : height + quarter].ravel()
    v = packed[height + quarter : height + 2 * quarter].ravel()
    return y, u, v


def stack_yuv420(top, bottom, half_height: int, width: int):
    """Stack two packed yuv420p frames vertically (plane by plane)."""
    import numpy as np

    ty, tu, tv = split_yuv420(top, half_height)
    by, bu, bv = split_yuv420(bottom, half_height)
    return stack_planes(np.concatenate([ty, by]), np.concatenate([tu, bu]), np.concatenate([tv, bv]), width)


def tag_bt709(target) -> None:
    target.colorspace = 1  # BT.709 matrix
    target.color_primaries = 1
    target.color_trc = 1
    target.color_range = 1  # MPEG / limited


def build_source(media: Path, dest: Path) -> None:
    import av

    half = SRC_H // 2
    top = LoopingClip(media / SOURCE["top"], SRC_W, half)
    bottom = LoopingClip(media / SOURCE["bottom"], SRC_W, half)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(".partial.mp4")
    with av.open(str(tmp), "w") as out:
        stream = out.add_stream(SOURCE["codec"], rate=SRC_FPS)
        stream.width, stream.height, stream.pix_fmt = SRC_W, SRC_H, SOURCE["pix_fmt"]
        stream.options = {"crf": str(SOURCE["crf"]), "preset": SOURCE["preset"]}
        tag_bt709(stream.codec_context)
        for i in range(N_SRC_FRAMES):
            t = i / SRC_FPS
            packed = stack_yuv420(top.yuv_at(t), bottom.yuv_at(t), half, SRC_W)
            frame = av.VideoFrame.from_ndarray(packed, format="yuv420p")
            tag_bt709(frame)
            frame.pts, frame.time_base = i, Fraction(1, SRC_FPS)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    top.close()
    bottom.close()
    tmp.replace(dest)


def ensure_source(media: Path, cache: Path) -> Path:
    path = source_path(media, cache)
    if not path.exists():
        print(f"building source {path.name} (once) ...", file=sys.stderr, flush=True)
        start = time.perf_counter()
        build_source(media, path)
        print(f"  built in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return path


# --------------------------------------------------------------------------
# Quality: FLIP and SSIM against PyAV reference frames
# --------------------------------------------------------------------------


def gif_times(frames_arg: str | None) -> list[int]:
    """Indices k of the GIF times t = k/12 used for the metrics."""
    import numpy as np

    if frames_arg == "all":
        return list(range(N_GIF_FRAMES))
    if frames_arg is None:
        return list(range(0, N_GIF_FRAMES, DEFAULT_QUALITY_STEP))
    count = max(1, min(int(frames_arg), N_GIF_FRAMES))
    return sorted(set(np.linspace(0, N_GIF_FRAMES - 1, count).round().astype(int).tolist()))


def expected_source_index(k: int) -> int:
    """Source frame on screen at t = k/12 (30 fps: floor(2.5 k))."""
    return (k * SRC_FPS) // GIF_FPS


def candidate_indices(k: int) -> list[int]:
    e = expected_source_index(k)
    return [i for i in (e - 1, e, e + 1) if 0 <= i < N_SRC_FRAMES]


def reference_frame(frame):
    """Crop + scale one decoded source frame to an RGB uint8 array (PyAV, AREA)."""
    import av

    x, y, w, h = CROP
    assert (x, y, w) == (0, 0, SRC_W), "plane slicing below assumes a full-width top crop"
    packed = frame.to_ndarray(format="yuv420p")
    py, pu, pv = split_yuv420(packed, SRC_H)
    cw = SRC_W // 2
    cropped = av.VideoFrame.from_ndarray(
        stack_planes(py[: h * w], pu[: (h // 2) * cw], pv[: (h // 2) * cw], w), format="yuv420p"
    )
    rgb = cropped.reformat(
        OUT_SIZE[0],
        OUT_SIZE[1],
        "rgb24",
        src_colorspace="ITU709",
        src_color_range="MPEG",
        dst_color_range="JPEG",
        interpolation="AREA",
    )
    return rgb.to_ndarray()


def stack_planes(y, u, v, width: int):
    import numpy as np

    return np.concatenate([y, u, v]).reshape(-1, width)


def build_references(src: Path, indices: set[int]) -> dict:
    import av

    refs = {}
    with av.open(str(src)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i in indices:
                refs[i] = reference_frame(frame)
            if len(refs) == len(indices):
                break
    return refs


@dataclass
class Gif:
    frames: list  # RGB uint8 arrays, composited
    starts_ms: list[int]
    total_ms: int
    size: tuple[int, int]

    def frame_at(self, seconds: float):
        import bisect

        ms = (seconds * 1000.0) % self.total_ms  # a GIF loops
        return self.frames[bisect.bisect_right(self.starts_ms, ms + 1e-6) - 1]


def load_gif(path: Path) -> Gif:
    import numpy as np
    from PIL import Image

    frames, starts, t = [], [], 0
    with Image.open(path) as im:
        size = im.size
        for n in range(getattr(im, "n_frames", 1)):
            im.seek(n)
            duration = int(im.info.get("duration", 0))
            if duration <= 10:  # what browsers do with 0/10 ms delays
                duration = 100
            rgba = im.convert("RGBA")
            canvas = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
            canvas.alpha_composite(rgba)
            frame = canvas.convert("RGB")
            if frame.size != OUT_SIZE:
                frame = frame.resize(OUT_SIZE, Image.Resampling.LANCZOS)
            frames.append(np.asarray(frame))
            starts.append(t)
            t += duration
    return Gif(frames, starts, t, size)


def mse(a, b) -> float:
    import numpy as np

    d = a.astype(np.float32) - b.astype(np.float32)
    return float(np.mean(d * d))


def score_frame(test, ref) -> tuple[float, float]:
    import flip_evaluator
    from skimage.metrics import structural_similarity

    _, flip, _ = flip_evaluator.evaluate(ref / 255.0, test / 255.0, "LDR", applyMagma=False)
    ssim = structural_similarity(ref, test, channel_axis=-1, data_range=255)
    return float(flip), float(ssim)


def compare(gif: Gif, refs: dict, times: list[int], speed: float) -> tuple[float, float, dict]:
    """Mean FLIP, mean SSIM and reference-shift counts over the GIF times k/12.

    `speed` stretches the GIF timeline onto the source's (1.0 = real display
    times); the reference is the best of the source frames within +-1 of the
    expected one, chosen by lowest MSE.
    """
    flips, ssims, shifts = [], [], {-1: 0, 0: 0, 1: 0}
    for k in times:
        test = gif.frame_at(k / GIF_FPS * speed)
        best = min(candidate_indices(k), key=lambda i: mse(test, refs[i]))
        shifts[best - expected_source_index(k)] += 1
        flip, ssim = score_frame(test, refs[best])
        flips.append(flip)
        ssims.append(ssim)
    return sum(flips) / len(flips), sum(ssims) / len(ssims), shifts


def evaluate_gif(row: Row, refs: dict, times: list[int]) -> None:
    start = time.perf_counter()
    gif = load_gif(row.gif)
    speed = gif.total_ms / (1000.0 * SOURCE["seconds"])
    row.flip, row.ssim, shifts = compare(gif, refs, times, speed)
    row.quality = {
        "gif_size": list(gif.size),
        "gif_frames": len(gif.frames),
        "gif_seconds": gif.total_ms / 1000.0,
        "compared_times": len(times),
        "timeline_scale": speed,
        "best_reference_shift": {str(s): n for s, n in shifts.items()},
    }
    if abs(speed - 1.0) > TIMING_TOLERANCE:
        flip, ssim, strict_shifts = compare(gif, refs, times, 1.0)
        row.quality.update(flip_at_display_times=flip, ssim_at_display_times=ssim)
        row.notes.append(
            f"plays {gif.total_ms / 1000:.2f} s, not {SOURCE['seconds']} s: metrics on its own timeline "
            f"(at real display times FLIP {flip:.4f}, SSIM {ssim:.4f})"
        )
    row.quality["metric_seconds"] = round(time.perf_counter() - start, 1)
    add_quality_notes(row, gif, shifts, len(times))


def add_quality_notes(row: Row, gif: Gif, shifts: dict, compared: int) -> None:
    if gif.size != OUT_SIZE:
        row.notes.append(f"GIF {gif.size[0]}x{gif.size[1]}, resized to {OUT_SIZE[0]}x{OUT_SIZE[1]} for metrics")
    if len(gif.frames) != N_GIF_FRAMES:
        row.notes.append(f"{len(gif.frames)} frames (expected {N_GIF_FRAMES})")
    for shift, word in ((-1, "previous"), (1, "next")):
        if shifts[shift] * 2 > compared:
            row.notes.append(f"best ref is mostly the {word} source frame ({shifts[shift]}/{compared})")


# --------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------


def fmt(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def set_x_floor(rows: list[Row]) -> str:
    by_name = {r.name: r for r in rows}
    for floor_name in ("gifloop-floor", "ffmpeg-floor"):
        floor = by_name.get(floor_name)
        if floor and floor.error is None and floor.seconds:
            for row in rows:
                if row.error is None:
                    row.x_floor = row.seconds / floor.seconds
            return floor_name
    return ""


def table(rows: list[Row], floor_name: str) -> str:
    head = ["runner", "seconds", "peak MB", "bytes", "FLIP (lower better)", "SSIM", f"x floor ({floor_name or 'n/a'})", "notes"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] + ["---:"] * 6 + ["---"]) + "|"]
    for r in rows:
        notes = "; ".join(([r.error] if r.error else []) + r.notes)
        cells = [
            r.name,
            fmt(r.seconds, ".2f"),
            fmt(r.peak_mb, ".0f"),
            fmt(r.bytes, ","),
            fmt(r.flip, ".4f"),
            fmt(r.ssim, ".4f"),
            fmt(r.x_floor, ".2f"),
            notes,
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def git_state() -> dict:
    """The commit the benchmark ran at, and whether src/ had uncommitted changes."""
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True).stdout.strip()
        except OSError:
            return ""

    return {"commit": git("rev-parse", "HEAD"), "dirty": git("status", "--short", "--", "src").splitlines()}


def versions() -> dict:
    from importlib import metadata

    out = {"python": platform.python_version(), "cpus": os.cpu_count()}
    for dist in ("av", "moviepy", "opencv-python-headless", "pillow", "imageio-ffmpeg", "flip-evaluator", "scikit-image", "gifloop"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    try:
        first = subprocess.run([ffmpeg_exe(), "-version"], capture_output=True, text=True).stdout.splitlines()[0]
        out["ffmpeg"] = first
    except Exception as exc:  # only informational
        out["ffmpeg"] = f"unavailable: {exc}"
    return out


def write_json(path: Path, src: Path, rows: list[Row], floor_name: str, times: list[int], run: dict) -> None:
    data = {
        "benchmark": "seed_recipe",
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "run": run,
        "source": {"path": str(src), **SOURCE},
        "recipe": {"crop": CROP, "size": OUT_SIZE, "fps": GIF_FPS},
        "quality_times": {"count": len(times), "of": N_GIF_FRAMES},
        "x_floor_baseline": floor_name,
        "versions": versions(),
        "rows": [
            {
                "runner": r.name,
                "seconds": r.seconds,
                "peak_mb": r.peak_mb,
                "tree_peak_mb": r.tree_peak_mb,
                "bytes": r.bytes,
                "flip": r.flip,
                "ssim": r.ssim,
                "x_floor": r.x_floor,
                "error": r.error,
                "notes": r.notes,
                "quality": r.quality,
            }
            for r in rows
        ],
    }
    path.write_text(json.dumps(data, indent=2) + "\n")


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    names = [r.name for r in RUNNERS]
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--only", help=f"comma-separated subset of: {', '.join(names)}")
    p.add_argument("--keep", type=Path, help="keep the GIFs in this directory")
    p.add_argument(
        "--frames",
        help=f"GIF times used for FLIP/SSIM: N (evenly spaced) or 'all' "
        f"(default: every {DEFAULT_QUALITY_STEP}rd of {N_GIF_FRAMES}, FLIP is slow)",
    )
    p.add_argument("--repeat", type=int, default=1, help="runs per runner; the fastest is reported (default 1)")
    p.add_argument("--media", type=Path, default=DEFAULT_MEDIA, help=f"test media (default {DEFAULT_MEDIA})")
    p.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help=f"cache dir (default {DEFAULT_CACHE})")
    args = p.parse_args(argv)
    if args.only:
        wanted = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = sorted(set(wanted) - set(names))
        if unknown:
            p.error(f"unknown runner(s): {', '.join(unknown)}; choose from {', '.join(names)}")
        args.runners = [r for r in RUNNERS if r.name in wanted]
    else:
        args.runners = list(RUNNERS)
    if args.frames not in (None, "all") and not args.frames.isdigit():
        p.error("--frames takes a number or 'all'")
    return args


def media_missing(media: Path) -> bool:
    return not all((media / SOURCE[k]).is_file() for k in ("top", "bottom"))


def evaluate_all(rows: list[Row], src: Path, times: list[int]) -> None:
    gif_rows = [r for r in rows if r.gif is not None]
    if not gif_rows:
        return
    needed = {i for k in times for i in candidate_indices(k)}
    print(f"decoding {len(needed)} reference frames ...", file=sys.stderr, flush=True)
    refs = build_references(src, needed)
    for row in gif_rows:
        print(f"quality {row.name} over {len(times)} times ...", file=sys.stderr, flush=True)
        try:
            evaluate_gif(row, refs, times)
        except Exception as exc:  # keep the other rows
            row.notes.append(f"quality error: {type(exc).__name__}: {exc}")


def main(argv: list[str]) -> int:
    if argv[:1] == ["--child"]:
        return child_main(*argv[1:4])
    args = parse_args(argv)
    if media_missing(args.media):
        print(f"seed_recipe: test media not found in {args.media}; skipping the benchmark.")
        return 0
    src = ensure_source(args.media, args.cache)
    times = gif_times(args.frames)
    run = {"repeat": max(1, args.repeat), "load_average_before": round(os.getloadavg()[0], 2)}
    if run["load_average_before"] > 0.5:
        print(f"warning: load average {run['load_average_before']}: timings will be noisy", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="gifloop-bench-") as tmp:
        out_dir = args.keep or Path(tmp)
        out_dir.mkdir(parents=True, exist_ok=True)
        rows = [run_one(r, src, out_dir, max(1, args.repeat)) for r in args.runners]
        evaluate_all(rows, src, times)
    floor_name = set_x_floor(rows)
    result_path = args.cache / "seed_recipe_results.json"
    write_json(result_path, src, rows, floor_name, times, run)
    print(f"\nseed recipe: {SRC_W}x{SRC_H} {SRC_FPS} fps {SOURCE['seconds']} s H.264 -> crop {CROP} -> "
          f"{OUT_SIZE[0]}x{OUT_SIZE[1]} @ {GIF_FPS} fps; source {src}")
    print(f"FLIP/SSIM over {len(times)} of {N_GIF_FRAMES} GIF times; best of source frames +-1 (by MSE)\n")
    print(table(rows, floor_name))
    print(f"\nresults: {result_path}")
    if args.keep:
        print(f"GIFs kept in {args.keep}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
