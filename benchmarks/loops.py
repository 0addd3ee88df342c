"""Benchmark the loop finder against MoviePy's ``FramesMatches.from_clip``.

Side by side in one run, on each input, each runner in its own child process (wall seconds; peak RSS of
that child via ``os.wait4``, plus a sampled sum over its subprocesses, which matters for MoviePy's
ffmpeg reader):

* ``floor``              decoding to 150 px wide thumbnails, nothing else (gifloop, PyAV)
* ``gifloop from_clip``  ``FramesMatches.from_clip(gifloop.open(src).resize(width=150), 10, 3)``
* ``gifloop find_loops`` ``find_loops(src, max_duration=3)`` (150 px thumbnails, ranked candidates)
* ``moviepy from_clip``  MoviePy 2.2.1: ``FramesMatches.from_clip(VideoFileClip(src).resized(width=150), 10, 3)``

and "matching alone": the same 150 px frames already in memory (decoded once by gifloop, not timed),
matched by gifloop (``FramesMatches.from_frames``) and by MoviePy (``from_clip`` on a MoviePy
``VideoClip`` serving those frames at MoviePy's own times k/fps). Both first match 64 frames, timed
apart and reported in the notes (a warm-up: gifloop's C kernels need no loading, but the first call
still touches code and allocators once), then the whole video up to 5 times (fewer once 10 s are
spent: MoviePy on the long video runs once), and the fastest pass counts, as with timeit; the first
pass is in the notes. The two lists of matches are compared value for value. (The file runners
cannot agree exactly: MoviePy scales with Pillow, gifloop with FFmpeg's area filter, so their
thumbnails differ.)

A file runner's wall time includes starting Python and importing (gifloop's loop finder is a C
extension since its numba kernels moved: nothing to load or compile).

Run it::

    .venv/bin/pip install -r benchmarks/requirements.txt
    .venv/bin/python benchmarks/loops.py [--inputs bbb,long] [--only NAME,...] [--threshold 10]
                                         [--max-duration 3] [--media DIR] [--repeat N]

``--repeat N`` runs every runner N times, round robin, and reports the fastest (all times in the
notes): the machine this was written on has 2 cores and other people's jobs. The MoviePy runs
dominate: 30-90 s each on the 8 min 47 s video. Results also go to
~/.cache/gifloop-bench/loops_results.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from seed_recipe import TreeSampler, child_env  # noqa: E402  (shared: process-tree memory, child env)

REPO = Path(__file__).resolve().parents[1]
DEFAULT_MEDIA = REPO.parent / "shared" / "media"
RESULTS = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "gifloop-bench" / "loops_results.json"

INPUTS = {
    "bbb": "real/big_buck_bunny_0-30s_1280x720_vp8.webm",
    "long": "long/assembled_open_clips_640x360_8m47s.mp4",
}
WIDTH = 150
RUNNERS = ["floor", "gifloop from_clip", "gifloop find_loops", "moviepy from_clip",
           "memory: gifloop", "memory: moviepy"]


# --------------------------------------------------------------------------
# Child side: one runner, prints one JSON line
# --------------------------------------------------------------------------

def thumbnails(src: str):
    import gifloop

    return gifloop.open(src).resize(width=WIDTH)


def run_floor(src, threshold, max_duration, out):
    return {"frames": sum(1 for _ in thumbnails(src).frames())}


def run_gifloop_from_clip(src, threshold, max_duration, out):
    from gifloop.loops import FramesMatches

    return {"matches": len(FramesMatches.from_clip(thumbnails(src), threshold, max_duration))}


def run_gifloop_find_loops(src, threshold, max_duration, out):
    from gifloop.loops import find_loops

    loops = find_loops(src, max_duration=max_duration, thumb_width=WIDTH)
    best = loops[0] if loops else None
    return {"loops": len(loops), "best": None if best is None else [round(best.start, 2), round(best.end, 2),
                                                                     round(best.score, 3)]}


def run_moviepy_from_clip(src, threshold, max_duration, out):
    from moviepy import VideoFileClip
    from moviepy.video.tools.cuts import FramesMatches

    clip = VideoFileClip(src, audio=False).resized(width=WIDTH)
    matches = FramesMatches.from_clip(clip, threshold, max_duration, logger=None)
    clip.close()
    return {"matches": len(matches), "size": list(clip.size)}


def frames_in_memory(src):
    clip = thumbnails(src)
    return [image for _, image in clip.frames()], clip.fps


# "Matching alone" times each matcher over the whole video up to MATCH_PASSES times in its process and
# counts the fastest pass, as timeit does: a 15 ms computation's first pass also measures page faults
# and cold caches (the first pass is in the notes). No further pass once the passes so far took
# MATCH_BUDGET seconds (MoviePy on the long video: one pass).
MATCH_PASSES = 5
MATCH_BUDGET = 10.0


def timed_passes(match) -> tuple[list, list[float]]:
    times = []
    while len(times) < MATCH_PASSES and sum(times) < MATCH_BUDGET:
        start = time.perf_counter()
        matches = match()
        times.append(time.perf_counter() - start)
    return matches, times


def run_memory_gifloop(src, threshold, max_duration, out):
    import numpy as np
    from gifloop.loops import FramesMatches

    frames, fps = frames_in_memory(src)
    # Warm-up, as for MoviePy: timed and reported, not counted in the matching. (With numba it loaded
    # the kernels, ~0.3 s; the C kernels need nothing, so it is now a few milliseconds.)
    start = time.perf_counter()
    FramesMatches.from_frames(((k / fps, f) for k, f in enumerate(frames[:64])), threshold, max_duration, fps=fps)
    warm_up = time.perf_counter() - start
    matches, times = timed_passes(lambda: FramesMatches.from_frames(
        ((k / fps, f) for k, f in enumerate(frames)), threshold, max_duration, fps=fps))
    np.save(out, np.array([tuple(m) for m in matches], dtype=float).reshape(-1, 4))
    return {"matches": len(matches), "match_seconds": min(times), "pass_seconds": times, "frames": len(frames),
            "warm_up_seconds": warm_up}


def run_memory_moviepy(src, threshold, max_duration, out):
    import numpy as np
    from moviepy import VideoClip
    from moviepy.video.tools.cuts import FramesMatches

    frames, fps = frames_in_memory(src)
    clip = VideoClip(frame_function=lambda t: frames[min(int(round(t * fps)), len(frames) - 1)],
                     duration=len(frames) / fps).with_fps(fps)
    # the same warm-up as gifloop's (MoviePy has nothing to load; it keeps the runs alike)
    start = time.perf_counter()
    FramesMatches.from_clip(clip.subclipped(0, 64 / fps), threshold, max_duration, logger=None)
    warm_up = time.perf_counter() - start
    matches, times = timed_passes(lambda: FramesMatches.from_clip(clip, threshold, max_duration, logger=None))
    np.save(out, np.array([tuple(map(float, m)) for m in matches], dtype=float).reshape(-1, 4))
    return {"matches": len(matches), "match_seconds": min(times), "pass_seconds": times, "frames": len(frames),
            "warm_up_seconds": warm_up}


CHILD_RUNNERS = {
    "floor": run_floor,
    "gifloop from_clip": run_gifloop_from_clip,
    "gifloop find_loops": run_gifloop_find_loops,
    "moviepy from_clip": run_moviepy_from_clip,
    "memory: gifloop": run_memory_gifloop,
    "memory: moviepy": run_memory_moviepy,
}


def child_main(name: str, src: str, threshold: float, max_duration: float, out: str) -> int:
    try:
        result = CHILD_RUNNERS[name](src, threshold, max_duration, out)
    except BaseException as exc:  # report anything, including SystemExit from a library
        print(f"error: {type(exc).__name__}: {exc}".splitlines()[0][:300], file=sys.stderr)
        return 1
    print(json.dumps(result))
    return 0


# --------------------------------------------------------------------------
# Parent side
# --------------------------------------------------------------------------

@dataclass
class Row:
    input: str
    name: str
    seconds: float | None = None
    peak_mb: float | None = None
    tree_peak_mb: float | None = None
    result: dict = field(default_factory=dict)
    error: str | None = None
    notes: list[str] = field(default_factory=list)


def measure(row: Row, src: Path, args, out: Path) -> None:
    argv = [sys.executable, str(Path(__file__).resolve()), "--child", row.name, str(src),
            str(args.threshold), str(args.max_duration), str(out)]
    with tempfile.TemporaryFile() as stdout, tempfile.TemporaryFile() as stderr:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr, env=child_env())
        sampler = TreeSampler(proc.pid)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        row.seconds = time.perf_counter() - start
        sampler.done.set()
        sampler.join()
        row.peak_mb, row.tree_peak_mb = usage.ru_maxrss / 1024.0, sampler.peak_mb
        stdout.seek(0)
        stderr.seek(0)
        lines = stdout.read().decode("utf-8", "replace").strip().splitlines()
        errors = stderr.read().decode("utf-8", "replace").strip().splitlines()
    if os.waitstatus_to_exitcode(status) != 0 or not lines:
        row.error = (errors[-1:] or ["error: no result"])[0]
        return
    row.result = json.loads(lines[-1])
    if "match_seconds" in row.result:  # matching alone: the decode before it is not the point
        passes = row.result.get("pass_seconds", [row.result["match_seconds"]])
        row.notes.append(f"matching {row.result['match_seconds']:.3f} s, fastest of {len(passes)} passes in "
                         f"{row.seconds:.2f} s (first {passes[0]:.3f} s; decode to memory and a "
                         f"{row.result['warm_up_seconds']:.3f} s warm-up on 64 frames not counted)")
        row.seconds = row.result["match_seconds"]
    if row.tree_peak_mb > 1.1 * row.peak_mb:
        row.notes.append(f"with its ffmpeg reader ~{row.tree_peak_mb:.0f} MB (sampled sum)")


def compare_matches(gifloop_file: Path, moviepy_file: Path) -> str:
    """Do the two runs hold the same matches, in the same order, with the same distances?"""
    import numpy as np

    ours, theirs = np.load(gifloop_file), np.load(moviepy_file)
    if ours.shape == theirs.shape and np.array_equal(ours, theirs):
        return f"identical: {len(ours)} matches, same order, bit-identical distances"
    pairs = {(round(s, 9), round(e, 9)): d for s, e, d, _ in ours.tolist()}
    other = {(round(s, 9), round(e, 9)): d for s, e, d, _ in theirs.tolist()}
    common = pairs.keys() & other.keys()
    worst = max((abs(pairs[k] - other[k]) for k in common), default=0.0)
    return (f"differ: {len(pairs)} vs {len(other)} matches, {len(pairs.keys() - other.keys())} only in gifloop, "
            f"{len(other.keys() - pairs.keys())} only in MoviePy, largest distance difference {worst:.2e}")


def fastest(tries: list[Row]) -> Row:
    """The fastest successful try (or the last failure), with the spread of all tries in its notes."""
    good = [r for r in tries if not r.error]
    if not good:
        return tries[-1]
    best = min(good, key=lambda r: r.seconds)
    if len(tries) > 1:
        times = sorted(r.seconds for r in good)
        best.notes.insert(0, f"fastest of {len(tries)}: {', '.join(f'{t:.3g}' for t in times)} s")
        best.result["all_seconds"] = times
    return best


def ratio_notes(rows: list[Row]) -> None:
    by = {(r.input, r.name): r for r in rows if r.seconds and not r.error}
    for r in rows:
        floor = by.get((r.input, "floor"))
        if r.name.startswith("memory"):
            base = by.get((r.input, "memory: gifloop"))
        else:
            base = by.get((r.input, "gifloop from_clip"))
        r.result["x_floor"] = None if floor is None or r.name.startswith("memory") or not r.seconds \
            else r.seconds / floor.seconds
        r.result["x_gifloop"] = None if base is None or not r.seconds else r.seconds / base.seconds


def table(rows: list[Row]) -> str:
    lines = ["| input | runner | seconds | peak MB | matches | x floor | x gifloop | notes |",
             "|---|---|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        if r.error:
            lines.append(f"| {r.input} | {r.name} | - | - | - | - | - | {r.error} |")
            continue
        count = r.result.get("matches", r.result.get("loops", r.result.get("frames", "")))
        if "loops" in r.result:
            count = f"{count} loops"
        elif "frames" in r.result and "matches" not in r.result:
            count = f"{count} frames"
        x_floor = "-" if r.result.get("x_floor") is None else f"{r.result['x_floor']:.2f}"
        x_gif = "-" if r.result.get("x_gifloop") is None else f"{r.result['x_gifloop']:.2f}"
        seconds = f"{r.seconds:.3f}" if r.seconds < 1 else f"{r.seconds:.2f}"
        lines.append(f"| {r.input} | {r.name} | {seconds} | {r.peak_mb:.0f} | {count} | {x_floor} | {x_gif} "
                     f"| {'; '.join(r.notes)} |")
    return "\n".join(lines)


def versions() -> dict:
    """Installed distributions (moviepy 2.2.1's own ``__version__`` still says 2.1.2)."""
    from importlib.metadata import PackageNotFoundError, version

    found = {"python": platform.python_version()}
    for name in ("numpy", "av", "moviepy"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return found


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--inputs", default="bbb,long", help=f"comma-separated: {', '.join(INPUTS)}")
    parser.add_argument("--only", help=f"comma-separated runners: {', '.join(RUNNERS)}")
    parser.add_argument("--threshold", type=float, default=10.0, help="from_clip distance_threshold (default 10)")
    parser.add_argument("--max-duration", type=float, default=3.0, help="from_clip max_duration (default 3)")
    parser.add_argument("--media", type=Path, default=DEFAULT_MEDIA)
    parser.add_argument("--repeat", type=int, default=1,
                        help="runs of each runner, round robin; the fastest is reported (default 1)")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    if argv[:1] == ["--child"]:
        name, src, threshold, max_duration, out = argv[1:6]
        return child_main(name, src, float(threshold), float(max_duration), out)
    args = parse_args(argv)
    inputs = [i.strip() for i in args.inputs.split(",") if i.strip()]
    runners = RUNNERS if not args.only else [r.strip() for r in args.only.split(",")]
    missing = [INPUTS[i] for i in inputs if not (args.media / INPUTS[i]).exists()]
    if missing:
        print(f"test media not found ({', '.join(missing)} in {args.media}); nothing to do")
        return 0
    load_before = os.getloadavg()
    repeat = max(1, args.repeat)
    tries: dict[tuple[str, str], list[Row]] = {(key, name): [] for key in inputs for name in runners}
    comparisons = {}
    with tempfile.TemporaryDirectory() as tmp:
        # round robin: each pass runs every runner once, so a burst of load hits all of them alike
        for attempt in range(repeat):
            for key in inputs:
                src = args.media / INPUTS[key]
                for name in runners:
                    row = Row(key, name)
                    print(f"{key}: {name} ({attempt + 1}/{repeat}) ...", file=sys.stderr, flush=True)
                    measure(row, src, args, Path(tmp) / f"{key}-{name.split()[-1]}.npy")
                    tries[key, name].append(row)
                ours, theirs = Path(tmp) / f"{key}-gifloop.npy", Path(tmp) / f"{key}-moviepy.npy"
                if ours.exists() and theirs.exists():
                    comparisons[key] = compare_matches(ours, theirs)
    rows = [fastest(found) for found in tries.values()]
    ratio_notes(rows)
    load = os.getloadavg()
    print(f"\nfrom_clip(distance_threshold={args.threshold:g}, max_duration={args.max_duration:g}) on {WIDTH} px "
          f"thumbnails; fastest of {repeat}; 1-min load average {load_before[0]:.2f} before, {load[0]:.2f} after")
    print(table(rows))
    for key, verdict in comparisons.items():
        print(f"matches in memory, {key}: {verdict}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"when": time.strftime("%Y-%m-%d %H:%M:%S"), "versions": versions(),
                                   "repeat": repeat, "threshold": args.threshold, "max_duration": args.max_duration,
                                   "load_average": {"before": load_before, "after": load},
                                   "inputs": {k: INPUTS[k] for k in inputs},
                                   "rows": [asdict(r) for r in rows], "comparisons": comparisons}, indent=2))
    print(f"results: {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
