"""Benchmark gifloop's effects against MoviePy 2.2.1 doing the same thing, on the seed recipe.

Same source and recipe as ``seed_recipe.py`` (its cached 1800x2784 30 fps 15 s H.264 source, crop the
upper half, 640 px wide, 12 fps, animated GIF), each run in its own child process (wall seconds,
Python start-up and imports included; peak RSS from ``os.wait4``), with these effects:

* ``plain``       the seed recipe itself (no effect)
* ``boomerang``   forwards then backwards
* ``freeze``      everything outside the 300x300 rectangle at (150, 100) frozen as it is at t = 1 s
* ``text``        "In my nightmares\\nI see rabbits." at the bottom, 36 px
* ``background``  background removal (gifloop only: MoviePy has no built-in)

gifloop::

    clip = gifloop.open(src).crop(0, 0, 1800, 1392).resize(width=640).with_fps(12)
    clip.boomerang() | clip.freeze_region(outside=(150, 100, 300, 300), t=1)
    | clip.text("In my nightmares\\nI see rabbits.", position="bottom", size=36) | clip.remove_background()
    .write_gif(out)

MoviePy 2.2.1 (``clip = VideoFileClip(src).cropped(x1=0, y1=0, x2=1800, y2=1392).resized(width=640)``,
written with ``write_gif(out, fps=12, logger=None)``)::

    boomerang   concatenate_videoclips([clip, clip.with_effects([vfx.TimeMirror()])])
    freeze      CompositeVideoClip([clip.to_ImageClip(t=1, duration=clip.duration),
                                    clip.cropped(x1=150, y1=100, width=300, height=300).with_position((150, 100))])
    text        CompositeVideoClip([clip, TextClip(text=..., font_size=36, color="white", stroke_color="black",
                                    stroke_width=2, font=<DejaVuSans.ttf>).with_duration(clip.duration)
                                    .with_position(("center", "bottom"))])

Targets (effects issue): every effect adds at most 25 % to plain gifloop, and is at least 5x faster
than MoviePy's version.

Run it (about 7.5 minutes on 2 cores; see benchmarks/README.md)::

    .venv/bin/python benchmarks/effects.py [--only EFFECT|TOOL|TOOL:EFFECT,...] [--repeat N] [--keep DIR]
                                           [--timeout SECONDS]

MoviePy's boomerang reads the clip backwards, which restarts its ffmpeg reader with a seek for every
frame; on this source (keyframes at 0 and 8.33 s only) that takes far longer than 5 minutes, so each
run is stopped at ``--timeout`` (default 300 s) and its time is then reported as a lower bound.
"""

from __future__ import annotations

import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from seed_recipe import (  # noqa: E402  (shared helpers: source cache, child-process measuring)
    CROP,
    DEFAULT_CACHE,
    DEFAULT_MEDIA,
    GIF_FPS,
    REPO,
    SOURCE,
    child_env,
    ensure_source,
    git_state,
    fmt,
    measure,
    media_missing,
    run_gifloop,
    run_moviepy,
    versions,
)

EFFECTS = ["plain", "boomerang", "freeze", "text", "background"]
TOOLS = ["gifloop", "moviepy"]

# The effects' parameters, in output (640-wide) pixels and clip seconds.
FREEZE_RECT = (150, 100, 300, 300)  # x, y, w, h: this rectangle moves, everything else is frozen
FREEZE_T = 1.0
TEXT = "In my nightmares\nI see rabbits."
TEXT_SIZE = 36

# Targets from the effects issue.
MAX_OVERHEAD = 0.25  # an effect costs at most 25 % on top of the plain conversion
MIN_RATIO = 5.0  # and is at least 5x faster than MoviePy's version

FONT_CANDIDATES = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
]

NOT_IN_MOVIEPY = {"background": "MoviePy has no background removal (no built-in effect)"}


def text_font() -> str | None:
    """A TTF for MoviePy's TextClip: DejaVu Sans if installed, else whatever fc-list names first."""
    for path in FONT_CANDIDATES:
        if os.path.isfile(path):
            return path
    try:
        listed = subprocess.run(["fc-list", ":fontformat=TrueType", "file"], capture_output=True, text=True).stdout
    except OSError:
        return None  # MoviePy 2.2.1 then falls back to Pillow's bundled font
    files = sorted(line.split(":")[0].strip() for line in listed.splitlines() if line.strip())
    return files[0] if files else None


# --------------------------------------------------------------------------
# Runners (executed inside the child process)
# --------------------------------------------------------------------------


def gifloop_effect(src: str, out: str, effect: str) -> None:
    if effect == "plain":
        return run_gifloop(src, out)  # exactly seed_recipe.py's gifloop runner
    import gifloop

    clip = gifloop.open(src).crop(*CROP).resize(width=640).with_fps(GIF_FPS)
    if effect == "boomerang":
        clip = clip.boomerang()
    elif effect == "freeze":
        clip = clip.freeze_region(outside=FREEZE_RECT, t=FREEZE_T)
    elif effect == "text":
        clip = clip.text(TEXT, position="bottom", size=TEXT_SIZE)
    elif effect == "background":
        clip = clip.remove_background()
    else:
        raise ValueError(effect)
    clip.write_gif(out)


def moviepy_effect(src: str, out: str, effect: str) -> None:
    if effect == "plain":
        return run_moviepy(src, out)  # exactly seed_recipe.py's MoviePy runner
    from moviepy import CompositeVideoClip, TextClip, VideoFileClip, concatenate_videoclips, vfx

    x, y, w, h = CROP
    with VideoFileClip(src) as video:
        clip = video.cropped(x1=x, y1=y, x2=x + w, y2=y + h).resized(width=640)
        if effect == "boomerang":
            final = concatenate_videoclips([clip, clip.with_effects([vfx.TimeMirror()])])
        elif effect == "freeze":
            fx, fy, fw, fh = FREEZE_RECT
            snapshot = clip.to_ImageClip(t=FREEZE_T, duration=clip.duration)
            moving = clip.cropped(x1=fx, y1=fy, width=fw, height=fh).with_position((fx, fy))
            final = CompositeVideoClip([snapshot, moving])
        elif effect == "text":
            caption = TextClip(text=TEXT, font_size=TEXT_SIZE, color="white", stroke_color="black", stroke_width=2,
                               font=text_font())
            final = CompositeVideoClip([clip, caption.with_duration(clip.duration).with_position(("center", "bottom"))])
        else:
            raise ValueError(effect)
        final.write_gif(out, fps=GIF_FPS, logger=None)


def child_main(name: str, src: str, out: str, info_path: str) -> int:
    """Entry point of the per-run child: ``name`` is ``tool:effect``. Warnings and any traceback go to
    ``info_path`` (JSON), one line of the error to stderr."""
    import warnings

    tool, effect = name.split(":")
    info: dict = {"warnings": []}
    code = 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            (gifloop_effect if tool == "gifloop" else moviepy_effect)(src, out, effect)
        except BaseException as exc:  # report anything, including SystemExit from a library
            info["traceback"] = traceback.format_exc()
            print(f"error: {type(exc).__name__}: {exc}".splitlines()[0][:300], file=sys.stderr)
            code = 1
    seen = set()
    for w in caught:
        text = f"{w.category.__name__}: {w.message}"
        if text not in seen and not issubclass(w.category, (DeprecationWarning, PendingDeprecationWarning)):
            seen.add(text)
            info["warnings"].append(text)
    Path(info_path).write_text(json.dumps(info))
    return code


# --------------------------------------------------------------------------
# Parent side
# --------------------------------------------------------------------------


@dataclass
class Run:
    tool: str
    effect: str
    seconds: float | None = None
    peak_mb: float | None = None
    tree_peak_mb: float | None = None
    bytes: int | None = None
    gif: dict | None = None  # frames, seconds, size (read from the file's blocks)
    error: str | None = None
    timed_out: bool = False  # stopped at --timeout: seconds is a lower bound
    traceback: str | None = None
    warnings: list[str] = field(default_factory=list)
    all_seconds: list[float] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"{self.tool}:{self.effect}"


def gif_summary(path: Path) -> dict:
    """Frames, total delay and size of a GIF, from its blocks (no decoding)."""
    data = path.read_bytes()
    width, height, flags = struct.unpack("<HHB", data[6:11])
    pos = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
    frames, centis, delay = 0, 0, 0

    def skip_sub_blocks(p: int) -> int:
        while data[p]:
            p += data[p] + 1
        return p + 1

    while pos < len(data):
        kind = data[pos]
        if kind == 0x3B:
            break
        if kind == 0x21:
            if data[pos + 1] == 0xF9:
                delay = struct.unpack("<H", data[pos + 4 : pos + 6])[0]
            pos = skip_sub_blocks(pos + 2)
        elif kind == 0x2C:
            local = data[pos + 9]
            pos += 10 + (3 << ((local & 7) + 1) if local & 0x80 else 0)
            pos = skip_sub_blocks(pos + 1)
            frames += 1
            centis += delay
            delay = 0
        else:
            raise ValueError(f"unexpected GIF block 0x{kind:02x} at byte {pos}")
    return {"frames": frames, "seconds": centis / 100.0, "size": [width, height]}


def run_one(tool: str, effect: str, src: Path, out_dir: Path, info_dir: Path, repeat: int, timeout: float) -> Run:
    """Run one tool/effect ``repeat`` times: fastest wall time, largest peak RSS."""
    run = Run(tool, effect)
    out = out_dir / f"{tool}_{effect}.gif"
    info_path = info_dir / f"{tool}_{effect}.json"
    argv = [sys.executable, str(Path(__file__).resolve()), "--child", run.name, str(src), str(out), str(info_path)]
    for attempt in range(repeat):
        out.unlink(missing_ok=True)
        print(f"running {run.name} ({attempt + 1}/{repeat}) ...", file=sys.stderr, flush=True)
        m = measure(["timeout", "--kill-after=10", str(timeout), *argv] if timeout else argv, child_env())
        run.all_seconds.append(round(m.seconds, 2))
        run.seconds = m.seconds if run.seconds is None else min(run.seconds, m.seconds)
        run.peak_mb = max(run.peak_mb or 0.0, m.peak_mb)
        run.tree_peak_mb = max(run.tree_peak_mb or 0.0, m.tree_peak_mb)
        info = json.loads(info_path.read_text()) if info_path.exists() else {}
        for w in info.get("warnings", []):
            if w not in run.warnings:
                run.warnings.append(w)
        if m.code != 0:
            if timeout and m.code in (124, 137) and m.seconds >= timeout - 1:
                run.timed_out, run.seconds = True, m.seconds
                run.warnings.append(f"stopped at the {timeout:g} s time limit (--timeout): seconds is a lower bound")
                return run
            else:
                tail = m.stderr_tail
                run.error = tail if tail.startswith("error:") else f"error: exit {m.code}: {tail}"
            run.traceback = info.get("traceback")
            run.seconds = None
            return run
        print(f"  {m.seconds:.2f} s, peak {m.peak_mb:.0f} MB", file=sys.stderr, flush=True)
    if out.exists() and out.stat().st_size > 0:
        run.bytes = out.stat().st_size
        try:
            run.gif = gif_summary(out)
        except (ValueError, IndexError, struct.error) as exc:
            run.warnings.append(f"GIF not parsed: {exc}")
    else:
        run.error = "error: no GIF written"
    return run


def ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b == 0 else a / b


def rows_of(runs: list[Run]) -> list[dict]:
    by = {(r.tool, r.effect): r for r in runs}
    plain = by.get(("gifloop", "plain"))
    base = plain.seconds if plain and plain.error is None else None
    rows = []
    for effect in EFFECTS:
        g, m = by.get(("gifloop", effect)), by.get(("moviepy", effect))
        if g is None and m is None:
            continue
        gs = g.seconds if g and g.error is None and not g.timed_out else None
        ms = m.seconds if m and m.error is None else None  # a lower bound when MoviePy timed out
        overhead = None if effect == "plain" or gs is None or base is None else gs / base - 1.0
        x = ratio(ms, gs)
        notes = []
        for r in (g, m):
            if r is None:
                continue
            if r.error:
                notes.append(f"{r.tool}: {r.error}")
            for w in r.warnings:
                notes.append(f"{r.tool} warned: {w[:200]}")
            if r.gif:
                notes.append(f"{r.tool} GIF {r.gif['size'][0]}x{r.gif['size'][1]}, {r.gif['frames']} frames, "
                             f"{r.gif['seconds']:.2f} s")
            if r.tree_peak_mb and r.peak_mb and r.tree_peak_mb > 1.1 * r.peak_mb:
                notes.append(f"{r.tool} peak {r.peak_mb:.0f} MB, ~{r.tree_peak_mb:.0f} MB with its subprocesses")
            elif r.tool == "moviepy" and r.peak_mb:
                notes.append(f"moviepy peak {r.peak_mb:.0f} MB")
        if effect in NOT_IN_MOVIEPY and m is None:
            notes.append(f"moviepy: n/a, {NOT_IN_MOVIEPY[effect]}")
        verdict = []
        if overhead is not None:
            verdict.append(f"overhead {'ok' if overhead <= MAX_OVERHEAD else 'MISSED'}")
        if x is not None:
            missed = "unknown (MoviePy stopped early)" if m.timed_out else "MISSED"
            verdict.append(f"vs MoviePy {'ok' if x >= MIN_RATIO else missed}")
        rows.append({
            "effect": effect,
            "gifloop_seconds": gs,
            "gifloop_overhead": overhead,
            "moviepy_seconds": ms,
            "moviepy_timed_out": bool(m and m.timed_out),
            "moviepy_over_gifloop": x,
            "gifloop_peak_mb": g.peak_mb if g else None,
            "moviepy_peak_mb": m.peak_mb if m else None,
            "moviepy_tree_peak_mb": m.tree_peak_mb if m else None,
            "gifloop_bytes": g.bytes if g else None,
            "moviepy_bytes": m.bytes if m else None,
            "targets": ", ".join(verdict),
            "notes": notes,
            "moviepy_na": effect in NOT_IN_MOVIEPY,
        })
    return rows


def table(rows: list[dict]) -> str:
    head = ["effect", "gifloop s", "overhead vs plain", "MoviePy s", "MoviePy/gifloop", "gifloop peak MB",
            "gifloop bytes", "MoviePy bytes", "targets (≤25 %, ≥5x)", "notes"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] + ["---:"] * 7 + ["---", "---"]) + "|"]
    for r in rows:
        na = "n/a" if r["moviepy_na"] and r["moviepy_seconds"] is None else "-"
        overhead = r["gifloop_overhead"]
        cells = [
            r["effect"],
            fmt(r["gifloop_seconds"], ".2f"),
            "(baseline)" if r["effect"] == "plain" else ("-" if overhead is None else f"{overhead * 100:+.0f} %"),
            (">" if r["moviepy_timed_out"] else "") + fmt(r["moviepy_seconds"], ".2f")
            if r["moviepy_seconds"] is not None else na,
            (">" if r["moviepy_timed_out"] else "") + f"{r['moviepy_over_gifloop']:.1f}x"
            if r["moviepy_over_gifloop"] is not None else na,
            fmt(r["gifloop_peak_mb"], ".0f"),
            fmt(r["gifloop_bytes"], ","),
            fmt(r["moviepy_bytes"], ",") if r["moviepy_bytes"] is not None else na,
            r["targets"] or "-",
            "; ".join(r["notes"]),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--only", help=f"comma-separated effects ({', '.join(EFFECTS)}), tools ({', '.join(TOOLS)}) "
                   "or tool:effect pairs; gifloop:plain is added whenever a gifloop effect runs (the baseline)")
    p.add_argument("--repeat", type=int, default=1, help="runs per tool/effect; the fastest is reported (default 1)")
    p.add_argument("--keep", type=Path, help="keep the GIFs in this directory")
    p.add_argument("--timeout", type=float, default=300,
                   help="stop a run after this many seconds and report it as a lower bound (default 300; 0 = none)")
    p.add_argument("--media", type=Path, default=DEFAULT_MEDIA, help=f"test media (default {DEFAULT_MEDIA})")
    p.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help=f"cache dir (default {DEFAULT_CACHE})")
    p.add_argument("--source", type=Path, help="use this 1800x2784 video instead of the cached seed source (smoke tests)")
    args = p.parse_args(argv)
    pairs = [(t, e) for t in TOOLS for e in EFFECTS if not (t == "moviepy" and e in NOT_IN_MOVIEPY)]
    if args.only:
        wanted = set()
        for item in (s.strip() for s in args.only.split(",")):
            if not item:
                continue
            tool, _, effect = item.partition(":") if ":" in item else ((item, "", "") if item in TOOLS else ("", "", item))
            if (tool and tool not in TOOLS) or (effect and effect not in EFFECTS):
                p.error(f"unknown {item!r}; give effects ({', '.join(EFFECTS)}), tools ({', '.join(TOOLS)}) or tool:effect")
            if tool == "moviepy" and effect in NOT_IN_MOVIEPY:
                p.error(f"{item}: {NOT_IN_MOVIEPY[effect]}")
            wanted |= {(t, e) for t, e in pairs if (not tool or t == tool) and (not effect or e == effect)}
        if any(t == "gifloop" for t, _ in wanted):
            wanted.add(("gifloop", "plain"))
        pairs = [pe for pe in pairs if pe in wanted]
    args.pairs = pairs
    return args


def main(argv: list[str]) -> int:
    if argv[:1] == ["--child"]:
        return child_main(*argv[1:5])
    args = parse_args(argv)
    if args.source is None and media_missing(args.media):
        print(f"effects: test media not found in {args.media}; skipping the benchmark.")
        return 0
    src = args.source or ensure_source(args.media, args.cache)
    repeat = max(1, args.repeat)
    run_info = {"repeat": repeat, "load_average_before": round(os.getloadavg()[0], 2), "git": git_state(),
                "moviepy_font": text_font()}
    if run_info["load_average_before"] > 0.5:
        print(f"warning: load average {run_info['load_average_before']}: timings will be noisy", file=sys.stderr)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="gifloop-effects-") as tmp:
        out_dir = args.keep or Path(tmp)
        out_dir.mkdir(parents=True, exist_ok=True)
        runs = [run_one(t, e, src, out_dir, Path(tmp), repeat, args.timeout) for t, e in args.pairs]
    run_info["load_average_after"] = round(os.getloadavg()[0], 2)
    run_info["total_seconds"] = round(time.perf_counter() - started, 1)
    rows = rows_of(runs)
    result_path = args.cache / "effects_results.json"
    result_path.parent.mkdir(parents=True, exist_ok=True)
    result_path.write_text(json.dumps({
        "benchmark": "effects",
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "run": run_info,
        "source": {"path": str(src), **SOURCE},
        "recipe": {"crop": CROP, "width": 640, "fps": GIF_FPS},
        "effects": {"freeze_outside": FREEZE_RECT, "freeze_t": FREEZE_T, "text": TEXT, "text_size": TEXT_SIZE},
        "targets": {"max_overhead": MAX_OVERHEAD, "min_moviepy_ratio": MIN_RATIO},
        "versions": versions(),
        "runs": [{**r.__dict__, "name": r.name} for r in runs],
        "rows": rows,
    }, indent=2) + "\n")
    print(f"\neffects on the seed recipe: {src.name} -> crop {CROP} -> 640 wide @ {GIF_FPS} fps "
          f"(fastest of {repeat}; {run_info['total_seconds']:.0f} s in all)\n")
    print(table(rows))
    for r in runs:
        if r.traceback:
            print(f"\n{r.name} failed:\n{r.traceback.rstrip()}")
    print(f"\nresults: {result_path}")
    if args.keep:
        print(f"GIFs kept in {args.keep}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
