"""Encoder quality benchmark: gifloop's GIF presets against gifski, ffmpeg and MoviePy, same frames.

For each clip (six by default, one per kind of content: animation, live action, screen recording,
black-and-white film, water, fire) a few seconds are cut once with gifloop (PyAV) at 480 px wide and
12.5 fps, and stored twice, with identical pixels: as PNG files (what gifski, ffmpeg and MoviePy
read) and as PNG-in-QuickTime (what gifloop reads; checked frame by frame against the PNGs). Then
every encoder setting turns those frames into a GIF in its own child process (wall time = seconds),
and ``gifloop.quality`` scores each GIF against the frames: mean FLIP (lower is better), SSIM and
PSNR (higher is better), over evenly spaced frames.

Encoders (each with a size-quality curve):

* ``gifski``       gifski 1.7.1 from npm, ``--quality`` 50 / 70 / 90 (its default) / 100
* ``ffmpeg``       ``palettegen=max_colors=N`` + ``paletteuse`` (defaults), N = 64 / 128 / 256
* ``ffmpeg-diff``  ``palettegen=stats_mode=diff`` + ``paletteuse=dither=bayer:diff_mode=rectangle``
* ``moviepy``      MoviePy 2.2.1 ``ImageSequenceClip(pngs, fps).write_gif`` (Pillow via imageio)
* ``gifloop``      ``gifloop.open(frames.mov).write_gif(out, **preset)`` for each preset in
                   ``GIFLOOP_PRESETS`` below; a preset whose options gifloop does not take (yet)
                   prints "skipped: <error>"

Run it::

    .venv/bin/pip install -r benchmarks/requirements.txt      # MoviePy, scikit-image, FLIP ...
    .venv/bin/python benchmarks/quality.py                     # all six clips, ~15-20 min on 2 cores
    .venv/bin/python benchmarks/quality.py --clips water --only gifski,gifloop --frames 8

gifski is installed by this script with npm into ``~/.cache/gifloop-bench/npm`` when absent; if that
fails, its rows are skipped with a note. Results also go to
``~/.cache/gifloop-bench/quality_results.json``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))
from seed_recipe import child_env, ffmpeg_exe, git_state  # noqa: E402  (shared: children import gifloop from src/)

REPO = Path(__file__).resolve().parents[1]
DEFAULT_MEDIA = REPO.parent / "shared" / "media"
DEFAULT_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "gifloop-bench"

# 12.5 fps = 80 ms a frame, a whole number of centiseconds: every writer can store the timing
# exactly (at 12 fps some write 8 cs for 83.3 ms and the GIF drifts), so timing differences
# between encoders do not leak into the image scores.
FPS = 12.5
WIDTH = 480
DEFAULT_FRAMES = 16  # frames scored per GIF; FLIP costs ~0.3 s per 480x270 frame
CUT_RECIPE = 1  # bump when the way cuts are made changes (invalidates the cache)

GIFSKI_VERSION = "1.7.1"
GIFSKI_QUALITIES = [50, 70, 90, 100]
GIFSKI_DEFAULT = 90
FFMPEG_COLORS = [64, 128, 256]


@dataclass(frozen=True)
class Cut:
    name: str
    kind: str
    path: str  # under the media folder
    start: float
    duration: float


CUTS = [
    Cut("bbb", "animation", "real/big_buck_bunny_0-30s_1280x720_vp8.webm", 16.0, 4.0),  # the bird, sky
    Cut("squirrel", "live action", "real/squirrel_1280x720_h264.mp4", 2.0, 4.0),
    Cut("screencast", "screen recording", "real/gnome_screencast_display-dual-monitors_1024x768_vp8.webm", 14.0, 4.0),
    Cut("chaplin", "B/W film", "real/chaplin_640x360_h264.mp4", 2.0, 4.0),
    Cut("water", "water", "loops/stream_of_water_480x360_h264.mp4", 0.0, 3.0),
    Cut("fire", "fire", "loops/fireplace_dog_1280x720_h264_vfr.mp4", 0.0, 2.3),  # the whole 2.38 s clip
]
# Not run by default; ask with --clips.
EXTRA_CUTS = [
    Cut("friday", "B/W film", "real/his_girl_friday_640x480_h264.mp4", 1.0, 4.0),
    Cut("screen-vfr", "screen recording", "formats/screen_recording_3026x1386_h264_vfr.mp4", 0.0, 4.0),
]

# gifloop presets: (name, options for clip.write_gif(path, **options)). Edit freely. An option value
# "@gifski" stands for the bytes of gifski's default (quality 90) GIF of the same clip, for max_size.
# Presets whose options gifloop does not accept are reported as "skipped: <error>".
GIFLOOP_PRESETS: list[tuple[str, dict]] = [
    ("default", {}),
    ("64 colours", {"colors": 64}),
    ("128 colours", {"colors": 128}),
    ("floyd-steinberg", {"dither": "floyd-steinberg"}),
    ("sierra", {"dither": "sierra"}),
    ("blue-noise", {"dither": "blue-noise"}),
    ("scene palettes", {"palette": "scene"}),
    ("lossy 10", {"lossy": 10}),
    ("lossy 40", {"lossy": 40}),
    ("floyd-steinberg + lossy 10", {"dither": "floyd-steinberg", "lossy": 10}),
    ("max_size = gifski q90", {"max_size": "@gifski"}),
]
GIFLOOP_DEFAULT = "default"
ENCODERS = ["gifski", "ffmpeg", "ffmpeg-diff", "moviepy", "gifloop"]
SKIPPED_EXIT = 3  # a child's exit code for "these options are not supported"


# --------------------------------------------------------------------------
# Settings: one GIF each
# --------------------------------------------------------------------------


@dataclass
class Setting:
    encoder: str
    label: str
    params: dict
    main: bool = False  # the encoder's default: the row the summary compares

    @property
    def key(self) -> str:
        return f"{self.encoder}:{self.label}"

    @property
    def file_stem(self) -> str:
        return "".join(c if c.isalnum() else "_" for c in self.key).strip("_")


def all_settings() -> list[Setting]:
    out = [Setting("gifski", f"q{q}", {"quality": q}, q == GIFSKI_DEFAULT) for q in GIFSKI_QUALITIES]
    out += [Setting("ffmpeg", f"{n} colours", {"max_colors": n}, n == 256) for n in FFMPEG_COLORS]
    out.append(Setting("ffmpeg-diff", "diff+bayer+rect", {}, True))
    out.append(Setting("moviepy", "write_gif", {}, True))
    out += [Setting("gifloop", name, dict(opts), name == GIFLOOP_DEFAULT) for name, opts in GIFLOOP_PRESETS]
    return out


# --------------------------------------------------------------------------
# Children (python runners)
# --------------------------------------------------------------------------


def child_gifloop(src: str, out: str, options_json: str) -> int:
    """Encode the PNG-in-MOV frames with gifloop; options that are not supported exit with SKIPPED_EXIT.
    The process lives as the ``gifloop`` command's does (``gifloop.__main__``: one BLAS thread, and
    ``os._exit`` once the work is done, see ``main``), but calls the API, so the encode can be timed
    inside and its settings kept."""
    import gifloop.__main__  # noqa: F401  (the command's process set-up, before NumPy loads)
    import gifloop
    from gifloop.errors import InvalidParameterError

    options = json.loads(options_json)
    start = time.perf_counter()
    try:
        gif = gifloop.open(src).write_gif(out, overwrite=True, **options)
    except InvalidParameterError as exc:
        print(f"skipped: {exc}".splitlines()[0][:300], file=sys.stderr)
        return SKIPPED_EXIT
    except TypeError as exc:
        if "unexpected keyword argument" not in str(exc):
            raise
        print(f"skipped: {exc}".splitlines()[0][:300], file=sys.stderr)
        return SKIPPED_EXIT
    settings = getattr(gif, "settings", None)
    info = {"encode_seconds": time.perf_counter() - start, "frames": gif.frames, "colors": gif.colors,
            "settings": getattr(settings, "describe", lambda: None)() if settings is not None else None}
    Path(out + ".json").write_text(json.dumps(info))
    return 0


def child_moviepy(frames_dir: str, out: str, fps: str) -> int:
    from moviepy import ImageSequenceClip

    start = time.perf_counter()
    files = sorted(str(p) for p in Path(frames_dir).glob("frame*.png"))
    clip = ImageSequenceClip(files, fps=float(fps))
    clip.write_gif(out, fps=float(fps), logger=None)
    Path(out + ".json").write_text(json.dumps({"encode_seconds": time.perf_counter() - start}))
    return 0


def child_main(kind: str, *args: str) -> int:
    try:
        return {"gifloop": child_gifloop, "moviepy": child_moviepy}[kind](*args)
    except BaseException as exc:  # one line for the table, whatever it was
        print(f"error: {type(exc).__name__}: {exc}".splitlines()[0][:300], file=sys.stderr)
        return 1


# --------------------------------------------------------------------------
# The cut: same frames for everyone
# --------------------------------------------------------------------------


@dataclass
class Prepared:
    cut: Cut
    folder: Path
    frames_dir: Path
    mov: Path  # the same frames as PNG-in-MOV
    count: int
    size: tuple[int, int]


def cut_key(cut: Cut, media: Path) -> str:
    src = media / cut.path
    recipe = {"recipe": CUT_RECIPE, "path": cut.path, "bytes": src.stat().st_size, "start": cut.start,
              "duration": cut.duration, "width": WIDTH, "fps": FPS}
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:12]


def prepare_cut(cut: Cut, media: Path, cache: Path) -> Prepared:
    """Decode the cut once (gifloop), keep it as PNGs and as PNG-in-MOV, and check both hold the same
    pixels at the same times. Cached under ``cache/quality/``."""
    import numpy as np
    from PIL import Image

    import gifloop

    folder = cache / "quality" / f"{cut.name}-{cut_key(cut, media)}"
    frames_dir, mov, done = folder / "frames", folder / "frames.mov", folder / "cut.json"
    if not done.exists():
        shutil.rmtree(folder, ignore_errors=True)
        frames_dir.mkdir(parents=True)
        print(f"[{cut.name}] cutting {cut.path} {cut.start:g}+{cut.duration:g} s -> {WIDTH} px, {FPS:g} fps ...",
              file=sys.stderr, flush=True)
        clip = gifloop.open(media / cut.path).trim(cut.start, duration=cut.duration).resize(width=WIDTH).with_fps(FPS)
        images = [image for _, image in clip.frames()]
        for k, image in enumerate(images):
            Image.fromarray(image).save(frames_dir / f"frame{k:04d}.png")
        write_png_mov(mov, images, FPS)
        done.write_text(json.dumps({"cut": cut.__dict__, "frames": len(images), "size": list(clip.size)}))
    meta = json.loads(done.read_text())
    # Check on every run: gifloop must read from the MOV exactly the frames the PNGs hold, at k / FPS.
    pngs = sorted(frames_dir.glob("frame*.png"))
    decoded = list(gifloop.open(mov).frames())
    if len(decoded) != len(pngs):
        raise RuntimeError(f"{mov}: {len(decoded)} frames but {len(pngs)} PNGs")
    for k, ((t, image), png) in enumerate(zip(decoded, pngs)):
        if abs(t - k / FPS) > 1e-3 or not np.array_equal(image, np.asarray(Image.open(png).convert("RGB"))):
            raise RuntimeError(f"{mov}: frame {k} (t={t:.3f}) differs from {png.name}")
    return Prepared(cut, folder, frames_dir, mov, meta["frames"], tuple(meta["size"]))


def write_png_mov(path: Path, images: list, fps: float) -> None:
    """Lossless RGB frames in QuickTime MOV (PNG codec: rgb24 in, rgb24 out, no colour conversion;
    this FFmpeg will not put PNG in Matroska)."""
    import av

    rate = Fraction(fps).limit_denominator(1000)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("png", rate=rate)
        h, w = images[0].shape[:2]
        stream.width, stream.height, stream.pix_fmt = w, h, "rgb24"
        stream.time_base = 1 / rate
        for k, image in enumerate(images):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts, frame.time_base = k, 1 / rate
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))


# --------------------------------------------------------------------------
# gifski from npm
# --------------------------------------------------------------------------


def ensure_gifski(cache: Path) -> tuple[Optional[str], str]:
    """The gifski binary (installed from npm into the cache when absent) and a note; None if unavailable."""
    prefix = cache / "npm"
    binary = prefix / "node_modules" / "gifski" / "bin" / "debian" / "gifski"
    if platform.system() != "Linux" or platform.machine() not in ("x86_64", "AMD64"):
        return None, f"gifski skipped: the npm package ships a Linux x86_64 binary, this is {platform.machine()}"
    if not binary.exists():
        npm = shutil.which("npm")
        if npm is None:
            return None, "gifski skipped: npm not found (install Node.js/npm, or put gifski in " + str(binary) + ")"
        print(f"installing gifski {GIFSKI_VERSION} with npm into {prefix} ...", file=sys.stderr, flush=True)
        prefix.mkdir(parents=True, exist_ok=True)
        result = subprocess.run([npm, "install", "--prefix", str(prefix), "--no-audit", "--no-fund",
                                 f"gifski@{GIFSKI_VERSION}"], capture_output=True, text=True)
        if result.returncode != 0 or not binary.exists():
            tail = (result.stderr.strip().splitlines() or ["no output"])[-1]
            return None, f"gifski skipped: npm install failed ({tail[:200]})"
    try:
        version = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"gifski skipped: {binary} does not run ({exc})"
    return str(binary), version


# --------------------------------------------------------------------------
# Running one setting
# --------------------------------------------------------------------------


@dataclass
class Result:
    clip: str
    setting: Setting
    seconds: Optional[float] = None
    bytes: Optional[int] = None
    flip: Optional[float] = None
    ssim: Optional[float] = None
    psnr: Optional[float] = None
    status: str = "ok"  # ok / skipped / error / not run
    message: str = ""
    notes: list[str] = field(default_factory=list)
    info: dict = field(default_factory=dict)
    path: Optional[Path] = None


def argv_for(s: Setting, prep: Prepared, out: Path, gifski: Optional[str], budget: Optional[int]) -> list[str]:
    quiet = ["-hide_banner", "-nostdin", "-loglevel", "error", "-y"]
    pngs = sorted(str(p) for p in prep.frames_dir.glob("frame*.png"))
    if s.encoder == "gifski":
        return [gifski, "--fps", f"{FPS:g}", "--quality", str(s.params["quality"]), "--quiet", "-o", str(out), *pngs]
    if s.encoder in ("ffmpeg", "ffmpeg-diff"):
        if s.encoder == "ffmpeg":
            graph = f"split[a][b];[a]palettegen=max_colors={s.params['max_colors']}[p];[b][p]paletteuse"
        else:
            graph = "split[a][b];[a]palettegen=stats_mode=diff[p];[b][p]paletteuse=dither=bayer:diff_mode=rectangle"
        return [ffmpeg_exe(), *quiet, "-framerate", f"{FPS:g}", "-i", str(prep.frames_dir / "frame%04d.png"),
                "-vf", graph, str(out)]
    me = [sys.executable, str(Path(__file__).resolve()), "--child"]
    if s.encoder == "moviepy":
        return [*me, "moviepy", str(prep.frames_dir), str(out), f"{FPS:g}"]
    options = {k: (budget if v == "@gifski" else v) for k, v in s.params.items()}
    return [*me, "gifloop", str(prep.mov), str(out), json.dumps(options)]


def timed_run(argv: list[str], timeout: float) -> tuple[float, int, str]:
    """Run one child; wall seconds (os.wait4 on exactly it), exit code, last stderr line."""
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err, env=child_env())
        timer = threading.Timer(timeout, proc.kill) if timeout > 0 else None
        if timer:
            timer.start()
        _, status, _ = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        if timer:
            timer.cancel()
        proc.returncode = code = os.waitstatus_to_exitcode(status)
        err.seek(0)
        lines = err.read().decode("utf-8", "replace").strip().splitlines()
    if timer and seconds >= timeout and code < 0:
        return seconds, code, f"error: stopped after {timeout:g} s"
    return seconds, code, (lines[-1] if lines else "")


def run_setting(s: Setting, prep: Prepared, out_dir: Path, gifski: Optional[str], gifski_note: str,
                budget: Optional[int], repeat: int, timeout: float) -> Result:
    result = Result(prep.cut.name, s)
    if s.encoder == "gifski" and gifski is None:
        result.status, result.message = "not run", gifski_note
        return result
    if "@gifski" in s.params.values() and budget is None:
        result.status, result.message = "not run", "needs gifski's q90 GIF for the budget"
        return result
    out = out_dir / f"{prep.cut.name}_{s.file_stem}.gif"
    for attempt in range(repeat):
        out.unlink(missing_ok=True)
        print(f"[{prep.cut.name}] {s.key} ({attempt + 1}/{repeat}) ...", file=sys.stderr, flush=True)
        seconds, code, tail = timed_run(argv_for(s, prep, out, gifski, budget), timeout)
        if code == SKIPPED_EXIT and s.encoder == "gifloop":
            result.status, result.message = "skipped", tail.removeprefix("skipped: ")
            print(f"[{prep.cut.name}] {s.key}: skipped: {result.message}", file=sys.stderr, flush=True)
            return result
        if code != 0:
            result.status, result.message = "error", tail.removeprefix("error: ") or f"exit {code}"
            return result
        result.seconds = seconds if result.seconds is None else min(result.seconds, seconds)
        sidecar = Path(str(out) + ".json")  # what a Python child says about its run
        if sidecar.exists():
            info = json.loads(sidecar.read_text())
            sidecar.unlink()
            if "encode_seconds" in result.info:  # fastest of the repeats, like the wall time
                info["encode_seconds"] = min(info["encode_seconds"], result.info["encode_seconds"])
            result.info.update(info)
    if not out.exists() or out.stat().st_size == 0:
        result.status, result.message = "error", "no GIF written"
        return result
    result.path, result.bytes = out, out.stat().st_size
    if budget is not None and "@gifski" in s.params.values():
        result.info["budget"] = budget
        result.notes.append(f"{100 * result.bytes / budget:.1f} % of the {budget:,} B budget")
    if result.info.get("settings") and s.params.get("max_size"):
        result.notes.append(f"chose {result.info['settings']}")
    asked = s.params.get("colors", 256) if s.encoder == "gifloop" else None
    if asked and result.info.get("colors") and result.info["colors"] < asked - 1:  # one may go to transparency
        result.notes.append(f"palette of {result.info['colors']} colours")
    return result


def score(result: Result, prep: Prepared, frames: Optional[int]) -> None:
    """FLIP/SSIM/PSNR against the cut's frames, with gifloop.quality (FLIP on one OpenMP thread:
    on a shared 2-core machine two threads wait on each other more than they help)."""
    from threadpoolctl import threadpool_limits

    import gifloop
    from gifloop.errors import InvalidParameterError
    from gifloop.metrics import quality

    start = time.perf_counter()
    try:
        with threadpool_limits(1, user_api="openmp"):
            report = quality(gifloop.open(prep.mov), result.path, frames=frames)
    except InvalidParameterError as exc:  # e.g. max_size chose a smaller frame size
        result.notes.append(f"not scored: {exc}")
        return
    result.flip, result.ssim, result.psnr = report.flip, report.ssim, report.psnr
    result.info.update(gif_frames=report.animation_frames, gif_seconds=report.animation_duration,
                       compared=report.compared, metric_seconds=round(time.perf_counter() - start, 1))
    if report.animation_frames != prep.count:  # merged repeats (a dropped frame shows as a repeat) or drops
        result.notes.append(f"{report.animation_frames} GIF frames for {prep.count}")
    length = prep.count / FPS
    if report.animation_duration and abs(report.animation_duration - length) > 0.01 * length:
        result.notes.append(f"plays {report.animation_duration:.2f} s, not {length:.2f} s")


# --------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------


def fmt(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def clip_table(results: list[Result]) -> str:
    head = ["encoder", "setting", "bytes", "FLIP", "SSIM", "PSNR dB", "seconds", "in-process s", "notes"]
    lines = ["| " + " | ".join(head) + " |", "|---|---|" + "---:|" * 6 + "---|"]
    for r in results:
        notes = "; ".join(([f"{r.status}: {r.message}"] if r.status != "ok" else []) + r.notes)
        label = f"**{r.setting.label}**" if r.setting.main else r.setting.label
        cells = [r.setting.encoder, label, fmt(r.bytes, ","), fmt(r.flip, ".4f"), fmt(r.ssim, ".4f"),
                 fmt(r.psnr, ".2f"), fmt(r.seconds, ".2f"), fmt(r.info.get("encode_seconds"), ".2f"), notes]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def summarize(clip: str, results: list[Result]) -> dict:
    """gifloop's best preset at no more bytes than gifski's default, against gifski's default."""
    ok = [r for r in results if r.status == "ok" and r.bytes is not None]
    gifski = next((r for r in ok if r.setting.encoder == "gifski" and r.setting.main), None)
    default = next((r for r in ok if r.setting.encoder == "gifloop" and r.setting.main), None)
    row = {"clip": clip, "gifski_bytes": None, "gifski_flip": None, "gifski_seconds": None, "best": None,
           "best_bytes": None, "best_flip": None, "best_seconds": None, "flip_met": None, "speed_ratio": None,
           "default_speed_ratio": None, "max_size_percent": None}
    budget_row = next((r for r in ok if "@gifski" in r.setting.params.values()), None)
    if budget_row is not None and budget_row.info.get("budget"):
        row["max_size_percent"] = 100 * budget_row.bytes / budget_row.info["budget"]
    if gifski is None:
        return row
    row.update(gifski_bytes=gifski.bytes, gifski_flip=gifski.flip, gifski_seconds=gifski.seconds)
    if default is not None and default.seconds:
        row["default_speed_ratio"] = gifski.seconds / default.seconds
    fits = [r for r in ok if r.setting.encoder == "gifloop" and r.bytes <= gifski.bytes and r.flip is not None]
    if fits:
        best = min(fits, key=lambda r: r.flip)
        row.update(best=best.setting.label, best_bytes=best.bytes, best_flip=best.flip, best_seconds=best.seconds,
                   speed_ratio=gifski.seconds / best.seconds if best.seconds else None)
        if gifski.flip is not None:
            row["flip_met"] = best.flip <= gifski.flip
    return row


def summary_table(rows: list[dict]) -> str:
    head = ["clip", "gifski q90 bytes", "gifski FLIP", "gifski s", "gifloop best ≤ those bytes", "bytes", "FLIP",
            "FLIP ≤ gifski", "s", "× faster (best)", "× faster (default)", "max_size % of budget"]
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * 3 + "---|" + "---:|" * 7]
    for r in rows:
        met = {True: "yes", False: "**no**", None: "-"}[r["flip_met"]]
        cells = [r["clip"], fmt(r["gifski_bytes"], ","), fmt(r["gifski_flip"], ".4f"), fmt(r["gifski_seconds"], ".2f"),
                 r["best"] or ("(none fits)" if r["gifski_bytes"] else "(no gifski row)"), fmt(r["best_bytes"], ","), fmt(r["best_flip"], ".4f"), met,
                 fmt(r["best_seconds"], ".2f"), fmt(r["speed_ratio"], ".2f"), fmt(r["default_speed_ratio"], ".2f"),
                 fmt(r["max_size_percent"], ".1f")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def versions(gifski_version: str) -> dict:
    from importlib import metadata

    out = {"python": platform.python_version(), "cpus": os.cpu_count(), "gifski": gifski_version}
    for dist in ("gifloop", "av", "numpy", "moviepy", "pillow", "imageio", "imageio-ffmpeg",
                 "flip-evaluator", "scikit-image"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    try:
        out["ffmpeg"] = subprocess.run([ffmpeg_exe(), "-version"], capture_output=True, text=True).stdout.splitlines()[0]
    except Exception as exc:  # informational only
        out["ffmpeg"] = f"unavailable: {exc}"
    return out


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    cuts = {c.name: c for c in CUTS + EXTRA_CUTS}
    presets = [name for name, _ in GIFLOOP_PRESETS]
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clips", help=f"comma-separated clips (default: {', '.join(c.name for c in CUTS)}; "
                   f"also {', '.join(c.name for c in EXTRA_CUTS)}; 'all' for every one)")
    p.add_argument("--only", help=f"comma-separated encoders ({', '.join(ENCODERS)}) or gifloop:PRESET "
                   f"(presets: {', '.join(presets)})")
    p.add_argument("--frames", default=str(DEFAULT_FRAMES),
                   help=f"frames scored per GIF, evenly spaced, or 'all' (default {DEFAULT_FRAMES}; FLIP is slow)")
    p.add_argument("--keep", type=Path, help="keep the GIFs in this directory")
    p.add_argument("--repeat", type=int, default=1, help="encodes per setting; the fastest is reported (default 1)")
    p.add_argument("--timeout", type=float, default=300, help="stop one encode after this many seconds (0 = never)")
    p.add_argument("--media", type=Path, default=DEFAULT_MEDIA, help=f"test media (default {DEFAULT_MEDIA})")
    p.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help=f"cache dir (default {DEFAULT_CACHE})")
    args = p.parse_args(argv)
    if args.clips in (None, ""):
        args.cuts = list(CUTS)
    elif args.clips == "all":
        args.cuts = CUTS + EXTRA_CUTS
    else:
        names = [n.strip() for n in args.clips.split(",") if n.strip()]
        unknown = [n for n in names if n not in cuts]
        if unknown:
            p.error(f"unknown clip(s): {', '.join(unknown)}; choose from {', '.join(cuts)}")
        args.cuts = [cuts[n] for n in names]
    settings = all_settings()
    if args.only:
        wanted = [w.strip() for w in args.only.split(",") if w.strip()]
        for w in wanted:
            if w not in ENCODERS and not (w.startswith("gifloop:") and w[8:] in presets):
                p.error(f"unknown {w!r}; choose encoders ({', '.join(ENCODERS)}) or gifloop:PRESET ({', '.join(presets)})")
        settings = [s for s in settings if s.encoder in wanted or s.key in wanted]
        if any("@gifski" in s.params.values() for s in settings):  # its budget comes from gifski's default
            settings = [s for s in all_settings() if s.encoder == "gifski" and s.main] + \
                       [s for s in settings if not (s.encoder == "gifski" and s.main)]
    args.settings = settings
    if args.frames == "all":
        args.frame_count = None
    elif args.frames.isdigit() and int(args.frames) > 0:
        args.frame_count = int(args.frames)
    else:
        p.error("--frames takes a positive number or 'all'")
    return args


def main(argv: list[str]) -> int:
    if argv[:1] == ["--child"]:
        code = child_main(*argv[1:])
        if argv[1:2] == ["gifloop"]:  # as the gifloop command ends: no interpreter teardown
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
        return code
    args = parse_args(argv)
    missing = [c.path for c in args.cuts if not (args.media / c.path).is_file()]
    if missing:
        print(f"quality: test media not found in {args.media} ({', '.join(missing)}); skipping the benchmark.")
        return 0
    started = time.perf_counter()
    run = {"repeat": max(1, args.repeat), "frames": args.frames, "fps": FPS, "width": WIDTH,
           "load_average_before": [round(x, 2) for x in os.getloadavg()], "git": git_state()}
    if run["load_average_before"][0] > 0.5:
        print(f"warning: load average {run['load_average_before'][0]}: timings will be noisy", file=sys.stderr)
    gifski, gifski_note = (None, "gifski not asked for")
    if any(s.encoder == "gifski" for s in args.settings):
        gifski, gifski_note = ensure_gifski(args.cache)
        if gifski is None:
            print(gifski_note, file=sys.stderr)
    per_clip: list[tuple[Prepared, list[Result]]] = []
    with tempfile.TemporaryDirectory(prefix="gifloop-quality-") as tmp:
        out_dir = args.keep or Path(tmp)
        out_dir.mkdir(parents=True, exist_ok=True)
        for cut in args.cuts:
            prep = prepare_cut(cut, args.media, args.cache)
            results: list[Result] = []
            budget = None
            # Encode everything first, then score: the metrics do not run while anything is timed.
            for s in args.settings:
                r = run_setting(s, prep, out_dir, gifski, gifski_note, budget, max(1, args.repeat), args.timeout)
                if s.encoder == "gifski" and s.main and r.status == "ok":
                    budget = r.bytes
                results.append(r)
            for r in results:
                if r.status == "ok":
                    print(f"[{cut.name}] scoring {r.setting.key} ...", file=sys.stderr, flush=True)
                    score(r, prep, args.frame_count)
            per_clip.append((prep, results))
    run["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    run["total_seconds"] = round(time.perf_counter() - started, 1)
    summary = [summarize(prep.cut.name, results) for prep, results in per_clip]
    result_path = args.cache / "quality_results.json"
    result_path.parent.mkdir(parents=True, exist_ok=True)
    result_path.write_text(json.dumps({
        "benchmark": "quality",
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "run": run,
        "versions": versions(gifski_note if gifski else "n/a"),
        "presets": [{"name": n, "options": o} for n, o in GIFLOOP_PRESETS],
        "clips": [{"cut": prep.cut.__dict__, "frames": prep.count, "size": list(prep.size),
                   "rows": [{"encoder": r.setting.encoder, "setting": r.setting.label, "params": r.setting.params,
                             "main": r.setting.main, "status": r.status, "message": r.message, "bytes": r.bytes,
                             "flip": r.flip, "ssim": r.ssim, "psnr": r.psnr, "seconds": r.seconds,
                             "notes": r.notes, "info": r.info} for r in results]}
                  for prep, results in per_clip],
        "summary": summary,
    }, indent=2) + "\n")
    scored = "all frames" if args.frame_count is None else f"{args.frame_count} evenly spaced frames"
    print(f"\nquality benchmark: {WIDTH} px wide, {FPS:g} fps, same frames for every encoder; FLIP/SSIM/PSNR over "
          f"{scored} (gifloop.quality); seconds = child process wall time (fastest of {run['repeat']})")
    if gifski is None:
        print(gifski_note)
    for prep, results in per_clip:
        c = prep.cut
        print(f"\n### {c.name} ({c.kind}): {c.path} {c.start:g}-{c.start + c.duration:g} s, "
              f"{prep.size[0]}x{prep.size[1]}, {prep.count} frames\n")
        print(clip_table(results))
    print("\n### Summary: gifloop's best preset at ≤ gifski q90 bytes\n")
    print(summary_table(summary))
    print(f"\n{run['total_seconds']:.0f} s in all; load average {run['load_average_before'][0]} before, "
          f"{run['load_average_after'][0]} after\nresults: {result_path}")
    if args.keep:
        print(f"GIFs kept in {args.keep}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
