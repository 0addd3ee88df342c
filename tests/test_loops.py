"""The loop finder (gifloop.loops).

1. MoviePy's own tests of moviepy.video.tools.cuts, re-expressed on tiny exact frames built from colour
   letters (as MoviePy's BitmapClip does) and fed through a MoviePy-style clip object: same results.
2. MoviePy's bugs, fixed: fps ignored, one-row files, select_scenes blind to motion, best(percent).
3. The engine: exact blocked distances equal a brute-force MoviePy computation, bit for bit.
4. find_loops on ground truths: a repeated real segment, a rotating pattern, a static shot, the long
   video's hard cuts, fades and blank frames; bad input; the ``loops`` command.
"""

import json
import math
import os

import numpy as np
import pytest
from click.testing import CliRunner

import gifloop
from conftest import write_frames
from gifloop.errors import InvalidParameterError
from gifloop.loops import (FramesMatch, FramesMatches, LoopCandidate, detect_scenes, find_loops,
                           find_video_period)
from gifloop.loops import kernels
from gifloop.loops.bounds import Blocks
from gifloop.loops.command import loops_command
from gifloop.loops.distances import DistanceBlock, SlidingDistances

# MoviePy's BitmapClip colours
COLORS = {"R": (255, 0, 0), "G": (0, 255, 0), "B": (0, 0, 255), "O": (0, 0, 0), "W": (255, 255, 255),
          "A": (89, 225, 62), "C": (113, 157, 108), "D": (215, 182, 143), "E": (57, 26, 252), "F": (225, 135, 33)}


def bitmap(frames):
    """[["RRR", "GGG"], ...] -> list of (H, W, 3) uint8 frames, one letter per pixel."""
    return [np.array([[COLORS[c] for c in row] for row in frame], np.uint8) for frame in frames]


class FakeMoviePyClip:
    """What gifloop.loops needs of a MoviePy clip: fps, duration, get_frame, iter_frames (MoviePy's times)."""

    def __init__(self, frames, fps):
        self.frames, self.fps = list(frames), fps
        self.duration = len(self.frames) / fps
        self.h, self.w = self.frames[0].shape[:2]

    def get_frame(self, t):
        return self.frames[min(int(t * self.fps + 1e-9), len(self.frames) - 1)]

    def iter_frames(self, fps=None, with_times=False, logger=None, dtype=None):
        fps = fps or self.fps
        for k in range(int(self.duration * fps)):
            t = k / fps
            yield (t, self.get_frame(t)) if with_times else self.get_frame(t)


def rows(matches, digits=4):
    return [tuple(round(float(v), digits) for v in m) for m in matches]


def rotating_frames(count=100, period=32, size=64):
    """A wedge and a dot turning once every ``period`` frames: frame k == frame k + period, exactly."""
    yy, xx = np.mgrid[:size, :size] - (size - 1) / 2
    angle, radius = np.arctan2(yy, xx), np.hypot(yy, xx)
    frames = []
    for k in range(count):
        a = 2 * np.pi * k / period
        image = np.full((size, size, 3), (40, 40, 60), np.uint8)
        image[(np.cos(angle - a) > 0.9) & (radius < 0.44 * size)] = (250, 200, 40)
        image[np.hypot(yy - 0.28 * size * np.sin(a), xx - 0.28 * size * np.cos(a)) < size / 12] = (30, 220, 250)
        frames.append(image)
    return frames


@pytest.fixture(scope="module")
def rotating_clip(tmp_path_factory):
    """4 s at 25 fps, period 32 frames = 1.28 s, losslessly coded."""
    return write_frames(tmp_path_factory.mktemp("loops") / "rotating.mp4", rotating_frames(), fps=25)


# -- 1. MoviePy's tests (tests/test_videotools.py), same inputs, same expected values ---------------

SEQUENCE = [["RRR", "GGG", "BBB"], ["WWW"] * 3, ["WWW"] * 3, ["WWW"] * 3, ["RRR", "GGG", "BBB"],
            ["RRR", "GGG", "BBB"], ["WWW"] * 3, ["RRR", "GGG", "BBB"], ["WWW"] * 3]


@pytest.mark.parametrize("frames, threshold, max_duration, expected", [
    (SEQUENCE, 1, math.inf,
     [(1, 2, 0, 0), (1, 3, 0, 0), (2, 3, 0, 0), (0, 4, 0, 0), (0, 5, 0, 0), (4, 5, 0, 0), (1, 6, 0, 0),
      (2, 6, 0, 0), (3, 6, 0, 0), (0, 7, 0, 0), (4, 7, 0, 0), (5, 7, 0, 0), (1, 8, 0, 0), (2, 8, 0, 0),
      (3, 8, 0, 0), (6, 8, 0, 0)]),
    (SEQUENCE, 1, 2, [(1, 2, 0, 0), (1, 3, 0, 0), (2, 3, 0, 0), (4, 5, 0, 0), (5, 7, 0, 0), (6, 8, 0, 0)]),
    ([["RRR", "GGG", "BBB"], ["RRR", "GGG", "BBR"], ["RRR", "GGG", "BBB"], ["RRR", "GGG", "BRR"]], 70, 2,
     [(0, 2, 0, 0), (0, 1, 69.4022, 69.4022), (1, 2, 69.4022, 69.4022), (1, 3, 69.4022, 69.4022)]),
], ids=["threshold=1-max_duration=inf", "threshold=1-max_duration=2", "threshold=70-max_duration=2"])
def test_from_clip_gives_moviepys_matches(frames, threshold, max_duration, expected):
    matches = FramesMatches.from_clip(FakeMoviePyClip(bitmap(frames), fps=1), threshold, max_duration, logger=None)
    assert isinstance(matches, FramesMatches) and isinstance(matches[0], FramesMatch)
    assert rows(matches) == expected  # same pairs, same distances, same order (by distance, then time)


def test_filter_as_in_moviepy():
    matches = FramesMatches([FramesMatch(1, 2, 0, 0), FramesMatch(1, 2, 0.8, 0.8), FramesMatch(1, 2, 0.8, 0)])
    kept = matches.filter(lambda m: not m.min_distance and not m.max_distance)
    assert list(kept) == [FramesMatch(1, 2, 0, 0)] and isinstance(kept, FramesMatches)


def test_save_load_as_in_moviepy(tmp_path):
    matches = [FramesMatch(1, 2, 0, 0), FramesMatch(1, 2, 0.8, 0), FramesMatch(1, 2, 0.8, 0.8)]
    path = tmp_path / "matches.txt"
    FramesMatches(matches).save(path)
    assert path.read_text() == "1.000\t2.000\t0.000\t0.000\n1.000\t2.000\t0.800\t0.000\n1.000\t2.000\t0.800\t0.800\n"
    assert list(FramesMatches.load(path)) == matches


def test_detect_scenes_as_in_moviepy():
    """Red for 1 s then green for 1 s at 10 fps: one cut, at 1 s."""
    red, green = np.zeros((48, 64, 3), np.uint8), np.zeros((48, 64, 3), np.uint8)
    red[..., 0], green[..., 1] = 255, 200
    cuts, luminosities = detect_scenes(FakeMoviePyClip([red] * 10 + [green] * 10, fps=10), fps=10)
    assert cuts == [(0, 1.0), (1.0, 2.0)] and len(luminosities) == 20
    # the luminosities of a previous run give the same cuts without decoding
    assert detect_scenes(luminosities=luminosities, fps=10)[0] == cuts


def test_detect_scenes_on_a_gifloop_clip(tmp_path):
    red, green = np.zeros((32, 32, 3), np.uint8), np.zeros((32, 32, 3), np.uint8)
    red[..., 0], green[..., 1] = 255, 200
    path = write_frames(tmp_path / "rg.mp4", [red] * 10 + [green] * 10, fps=10)
    cuts, _ = detect_scenes(gifloop.open(path))
    assert [tuple(round(t, 6) for t in cut) for cut in cuts] == [(0, 1.0), (1.0, 2.0)]


def test_find_video_period_as_in_moviepy():
    """MoviePy loops half a second of film twice and needs fps=70 to get 0.5 exactly."""
    rng = np.random.default_rng(0)
    half_second = [rng.integers(0, 256, (12, 16, 3), dtype=np.uint8) for _ in range(13)]  # 25 fps
    looped = FakeMoviePyClip(half_second[:12] + [half_second[12]], fps=25)
    looped.duration = 1.0
    looped.get_frame = lambda t: half_second[int(round((t % 0.5) * 25, 6))]
    assert round(find_video_period(looped, fps=70), 6) == 0.5


def test_find_video_period_on_a_gifloop_clip(tmp_path):
    path = write_frames(tmp_path / "spin.mp4", rotating_frames(count=50, period=12, size=32), fps=25)
    assert find_video_period(gifloop.open(path), start_time=0.2) == pytest.approx(0.48, abs=1e-6)


# -- 2. MoviePy's bugs, fixed ------------------------------------------------------------------------

def test_from_clip_honours_fps(tmp_path, rotating_clip):
    """MoviePy ignores from_clip's fps: it always samples at clip.fps."""
    clip = FakeMoviePyClip(bitmap([["R"], ["G"], ["R"], ["G"]] * 5), fps=10)
    every_frame = FramesMatches.from_clip(clip, 1, 1)
    at_5fps = FramesMatches.from_clip(clip, 1, 1, fps=5)
    assert any(round(m.start_time * 10) % 2 for m in every_frame)
    assert at_5fps and all(round(m.start_time * 5, 6).is_integer() and round(m.end_time * 5, 6).is_integer()
                           for m in at_5fps)
    thumbs = gifloop.open(rotating_clip).resize(width=32)
    assert {round(m.start_time * 8, 6) % 1 for m in FramesMatches.from_clip(thumbs, 1, 2, fps=8)} == {0}


def test_load_one_row_file(tmp_path):
    """MoviePy's load crashes on a file of one match (np.loadtxt returns a 1-D row)."""
    path = tmp_path / "one.txt"
    path.write_text("1.000\t2.000\t0.500\t0.500\n")  # as MoviePy writes it
    assert list(FramesMatches.load(path)) == [FramesMatch(1.0, 2.0, 0.5, 0.5)]
    path.write_text("")
    assert list(FramesMatches.load(path)) == []


def test_load_says_what_is_wrong(tmp_path):
    with pytest.raises(gifloop.SourceNotFoundError, match="no matches file"):
        FramesMatches.load(tmp_path / "missing.txt")
    (tmp_path / "bad.txt").write_text("1.0\t2.0\t0.5\n")
    with pytest.raises(InvalidParameterError, match="line 1 .* 3 values, not 4"):
        FramesMatches.load(tmp_path / "bad.txt")


# R G B repeating at 10 fps: frame k == frame k + 3, and the picture changes every frame.
CYCLE = FakeMoviePyClip(bitmap([["R"], ["G"], ["B"]] * 3 + [["R"]]), fps=10)
SCENES = [(0, 0.9), (0.1, 0.7), (0.2, 0.8), (0.3, 0.9)]


def test_select_scenes_sees_motion_whatever_the_threshold():
    """MoviePy only sees motion in matches it stored, so a tight from_clip threshold finds no scene."""
    tight = FramesMatches.from_clip(CYCLE, distance_threshold=1, max_duration=1)
    loose = FramesMatches.from_clip(CYCLE, distance_threshold=1000, max_duration=1)
    assert rows(tight.select_scenes(1, 0.5, nomatch_threshold=0), 6) == [s + (0, 0) for s in SCENES]
    assert rows(loose.select_scenes(1, 0.5, nomatch_threshold=0), 6) == [s + (0, 0) for s in SCENES]
    # Without from_clip's measurements (a plain list) it is MoviePy's test, with MoviePy's blind spot:
    assert FramesMatches(list(tight)).select_scenes(1, 0.5, nomatch_threshold=0) == []
    expected = [s + (0, 0) for s in SCENES]
    assert rows(FramesMatches(list(loose)).select_scenes(1, 0.5, nomatch_threshold=0), 6) == expected
    spaced = tight.select_scenes(1, 0.5, nomatch_threshold=0, time_distance=0.2)
    assert rows(spaced, 6) == [(0, 0.9, 0, 0), (0.2, 0.8, 0, 0)]


def test_select_scenes_motion_span_is_a_parameter(tmp_path):
    """MoviePy hard-codes 0.6 s; here it is from_clip's (and select_scenes') motion_span."""
    tight = FramesMatches.from_clip(CYCLE, 1, 1, motion_span=0.2)
    assert len(tight.select_scenes(1, 0.5, nomatch_threshold=0, motion_span=0.2)) == 4
    with pytest.raises(InvalidParameterError, match="measured motion over 0.2 s; pass motion_span=0.2"):
        tight.select_scenes(1, 0.5, motion_span=0.6)
    # the measurements survive save/load (as '#' lines, which MoviePy's loader skips)
    tight.save(tmp_path / "m.txt")
    assert np.loadtxt(tmp_path / "m.txt").shape == (len(tight), 4)
    assert FramesMatches.load(tmp_path / "m.txt").select_scenes(1, 0.5, nomatch_threshold=0) == \
        tight.select_scenes(1, 0.5, nomatch_threshold=0)


def test_best_percent_always_gives_frames_matches():
    """MoviePy returns a bare FramesMatch when the percentage comes to one match."""
    matches = FramesMatches([FramesMatch(0, k + 1, k, k) for k in range(10)])
    assert isinstance(matches.best(percent=10), FramesMatches) and len(matches.best(percent=10)) == 1
    assert matches.best() == FramesMatch(0, 1, 0, 0)  # n=1 stays a single match, as in MoviePy
    assert isinstance(matches.best(3), FramesMatches) and len(matches.best(3)) == 3
    with pytest.raises(InvalidParameterError, match="no matches to choose from"):
        FramesMatches([]).best()


def test_write_gifs_names_by_centiseconds(tmp_path, rotating_clip):
    clip = gifloop.open(rotating_clip).resize(width=32)
    paths = FramesMatches([(1.16, 2.44, 0, 0), (0.0, 1.28, 0, 0)]).write_gifs(clip, tmp_path / "gifs", colors=16)
    assert sorted(os.path.basename(p) for p in paths) == ["00000000_00000128.gif", "00000116_00000244.gif"]
    assert all(os.path.getsize(p) > 0 for p in paths)


# -- 3. the engine: exact, blocked, windowed ----------------------------------------------------------

def moviepy_distance(a, b):
    """MoviePy's arithmetic: float64, sqrt(u + v - 2 uv), each a sum of products divided by N."""
    a, b = 1.0 * a.flatten(), 1.0 * b.flatten()
    n = a.size
    return np.sqrt((a * a).sum() / n + (b * b).sum() / n - 2 * (a * b).sum() / n)


KERNELS = ["vnni", "portable", "float-frames"]


@pytest.fixture(params=KERNELS)
def kernel(request, monkeypatch):
    """Run a test with each way of computing the exact dot products."""
    if request.param == "vnni" and not kernels.VNNI:
        pytest.skip("this CPU has no AVX-512 VNNI")
    monkeypatch.setattr(kernels, "VNNI", request.param == "vnni")  # the ring's kernels: AVX-512 or portable
    return request.param


def test_blocks_equal_moviepys_distances_bit_for_bit(kernel):
    rng = np.random.default_rng(3)
    frames = [rng.integers(0, 256, (9, 11, 3), dtype=np.uint8) for _ in range(40)]
    frames[17] = frames[5].copy()  # identical frames are exactly 0 apart
    frames[20][:] = 255  # extremes: the largest products, a uniform frame
    frames[21][:] = 0
    if kernel == "float-frames":
        frames = [f.astype(np.float64) for f in frames]
    times = np.cumsum(rng.uniform(0.02, 0.12, 40))  # irregular (VFR) times
    window = 0.35
    seen = 0
    for block in SlidingDistances(window, block=4).blocks(zip(times, frames)):
        for r, j in enumerate(range(block.first + block.row_offset, block.first + len(block.times))):
            seen += 1
            for c, i in enumerate(range(block.first, block.first + len(block.times))):
                value = block.dist[r, c]
                if i < j and times[j] - times[i] <= window:
                    assert value == moviepy_distance(frames[j], frames[i])
                else:
                    assert np.isnan(value)
            # every frame inside the window is a column
            assert block.first <= min(i for i in range(j + 1) if times[j] - times[i] <= window)
    assert seen == 40
    assert FramesMatches.from_frames(zip(times, frames), 0.5, 1).best() == (times[5], times[17], 0.0, 0.0)


@pytest.mark.parametrize("vnni", [True, False], ids=["vnni", "portable"])
def test_exact_dot_products_of_big_frames(vnni):
    """Whole 150 px thumbnails at the extremes (all 255 against all 255: 37,800 * 65,025 > 2**31), and
    pairs in any row/column pattern (tiles of 4 rows, short groups, repeated columns), are exact."""
    if vnni and not kernels.VNNI:
        pytest.skip("this CPU has no AVX-512 VNNI")
    rng = np.random.default_rng(4)
    ring = np.zeros((9, 37824), np.uint8)
    ring[:, :37800] = rng.integers(0, 256, (9, 37800))
    ring[0, :37800], ring[1, :37800] = 255, 0
    rows = np.array([0, 0, 0, 0, 0, 0, 1, 2, 3, 3, 4, 4, 4, 5, 6, 8])
    cols = np.array([0, 1, 2, 3, 4, 5, 1, 0, 3, 0, 7, 6, 0, 2, 2, 7])
    out = np.zeros(len(rows), np.int64)
    kernels.pair_dots(ring, rows, cols, out, vnni=vnni)
    assert out.tolist() == [int(ring[r].astype(np.int64) @ ring[c].astype(np.int64)) for r, c in zip(rows, cols)]


def measured(frames):
    """Ring, sums of squares and features of uint8 frames, as the engine stores them (slot k = frame k)."""
    blocks = Blocks(frames[0].shape)
    width = -(-frames[0].size // kernels.ALIGN) * kernels.ALIGN
    ring, sums, squares = np.zeros((len(frames), width), np.uint8), np.zeros(len(frames), np.int64), \
        np.zeros(len(frames), np.int64)
    block_sums = np.zeros((len(frames), blocks.count), np.int32)
    block_squares = np.zeros((len(frames), blocks.count), np.int32)
    for k, frame in enumerate(frames):
        kernels.store_frame(frame.reshape(blocks.rows, blocks.row_bytes), ring, k, *blocks.kernel_args(), sums,
                            squares, block_sums, block_squares)
    return ring, sums, squares, blocks.features(block_sums, block_squares)


@pytest.mark.parametrize("shape", [(84, 150, 3), (9, 11, 3), (7, 13), (50,)], ids=str)
def test_bounds_hold(shape):
    """lower <= MoviePy's distance <= upper, for random, extreme, near-identical and shifted frames."""
    rng = np.random.default_rng(5)
    base = rng.integers(0, 256, shape, dtype=np.uint8)
    frames = [base, base.copy(), np.zeros(shape, np.uint8), np.full(shape, 255, np.uint8),
              np.roll(base, 1, axis=-1), np.clip(base.astype(int) + 1, 0, 255).astype(np.uint8)]
    frames[1].reshape(-1)[0] ^= 1
    frames += [rng.integers(0, 256, shape, dtype=np.uint8) for _ in range(4)]
    ring, sums, squares, features = measured(frames)
    assert (sums == [f.astype(np.int64).sum() for f in frames]).all()
    assert (squares == [(f.astype(np.int64) ** 2).sum() for f in frames]).all()
    for a in range(len(frames)):
        for b in range(len(frames)):
            low, high = kernels.pair_bounds(squares[a], squares[b], features[a], features[b], base.size)
            d = moviepy_distance(frames[a], frames[b])
            assert low <= d <= high, (a, b, low, d, high)
            if a == b:
                assert low == 0.0


def brute_force_matches(frames, times, threshold, max_duration):
    """MoviePy's result, pair by pair, with MoviePy's arithmetic: (start, end, d) by distance (stable)."""
    found = []
    for j in range(len(frames)):
        for i in range(j):
            if not times[j] - times[i] > max_duration:
                d = moviepy_distance(frames[j], frames[i])
                if d < threshold:
                    found.append((times[i], times[j], d, d))
    return sorted(found, key=lambda m: m[2])


@pytest.mark.parametrize("seed, shape", [(0, (24, 40, 3)), (1, (24, 40, 3)), (2, (48, 20, 3)), (3, (48, 20, 3))])
def test_screening_never_drops_a_true_match(kernel, seed, shape, monkeypatch):
    """Random frames, near-identical frames (a few pixels changed) and pairs within a hair of the
    threshold: the lower-bound screening keeps exactly MoviePy's matches. (Frames of 6 block rows:
    far pairs are also dropped on their exact first half plus the bound of the rest.)"""
    computed, dropped = [], []  # pairs computed exactly (in the ring for uint8 frames), dropped half way
    exact = SlidingDistances._exact
    monkeypatch.setattr(SlidingDistances, "_exact", lambda self, r, c: computed.append(len(r)) or exact(self, r, c))
    finish = DistanceBlock.finish_matches

    def counted(self):  # (a ring adds a block's counts when its match is finished)
        store = self._store
        before = (store.computed, store.dropped) if store else (0, 0)
        out = finish(self)
        if store:
            computed.append(store.computed - before[0])
            dropped.append(store.dropped - before[1])
        return out

    monkeypatch.setattr(DistanceBlock, "finish_matches", counted)
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, shape, dtype=np.uint8)
    frames = []
    for k in range(60):
        kind = k % 4
        if kind == 0:
            frame = rng.integers(0, 256, base.shape, dtype=np.uint8)  # far from everything
        elif kind == 1:
            frame = base.copy()  # the base with a few changed pixels: small distances
            frame.reshape(-1)[rng.choice(base.size, rng.integers(0, 40), replace=False)] ^= 0xFF
        elif kind == 2:  # a blurred (low-pass) copy: block means agree, the rest differs
            frame = (base.astype(np.int32) + np.roll(base, 1, axis=1) + np.roll(base, 1, axis=0)) // 3
            frame = frame.astype(np.uint8)
        else:  # a shifted copy with noise: the bound is loosest here
            frame = np.clip(np.roll(base, k % 3, axis=1).astype(np.int16) + rng.integers(-3, 4, base.shape), 0, 255)
            frame = frame.astype(np.uint8)
        frames.append(frame)
    times = np.arange(60) / 10.0
    distances = sorted({moviepy_distance(frames[j], frames[i]) for j in range(60) for i in range(max(0, j - 30), j)})
    # thresholds just above, at and just below actual distances: the strict "<" must match MoviePy
    thresholds = [distances[len(distances) // q] for q in (2, 3, 5, 9)]
    thresholds += [np.nextafter(t, np.inf) for t in thresholds] + [np.nextafter(t, -np.inf) for t in thresholds]
    thresholds += [0.0, 10.0, 60.0, math.inf]
    if kernel == "float-frames":
        frames = [f.astype(np.float64) for f in frames]
    skipped = 0
    for threshold in thresholds:
        expected = brute_force_matches(frames, times, threshold, 3.0)
        for motion_span in (0.6, 0.1):  # a short span leaves more pairs to the bounds alone
            computed.clear()
            ours = FramesMatches.from_frames(zip(times, frames), threshold, 3.0, motion_span=motion_span)
            assert [tuple(m) for m in ours] == expected, (threshold, motion_span)
            skipped += 1335 - sum(computed)  # 1,335 pairs at most 3 s apart
    assert kernel == "float-frames" or skipped > 1000  # the bounds did settle pairs
    assert kernel == "float-frames" or shape[0] < 32 or sum(dropped) > 0  # and the exact first halves


def test_motion_peaks_are_exact(kernel):
    """from_clip's motion measurements (the largest distance within motion_span) are the exact maxima,
    whatever the bounds allowed it to skip."""
    rng = np.random.default_rng(7)
    base = rng.integers(0, 256, (16, 20, 3), dtype=np.uint8)
    amplitudes = [(k % 7) * 4 for k in range(50)]  # noise that comes and goes: peaks far and near
    frames = [np.clip(base.astype(np.int16) + rng.integers(-a, a + 1, base.shape), 0, 255).astype(np.uint8)
              for a in amplitudes]
    if kernel == "float-frames":
        frames = [f.astype(np.float64) for f in frames]
    times = np.arange(50) / 25.0
    motion = FramesMatches.from_frames(zip(times, frames), 5, 1, motion_span=0.3).motion
    for i in range(50):
        later = [moviepy_distance(frames[j], frames[i]) for j in range(i + 1, 50) if times[j] - times[i] <= 0.3]
        assert (motion.peaks[i] == max(later)) if later else np.isnan(motion.peaks[i])


def block_sums_of(frame, blocks):
    """Per-block sums and sums of squares of a frame, in NumPy."""
    image = frame.reshape(blocks.rows, blocks.row_bytes).astype(np.int64)
    sums, squares = [], []
    for y in range(0, blocks.rows, blocks.block_rows):
        for x in range(0, blocks.row_bytes, blocks.block_bytes):
            part = image[y:y + blocks.block_rows, x:x + blocks.block_bytes]
            sums.append(part.sum())
            squares.append((part ** 2).sum())
    return sums, squares


@pytest.mark.parametrize("vnni", [True, False], ids=["avx512", "portable"])
@pytest.mark.parametrize("shape, pad", [((84, 150, 3), 126), ((84, 150, 3), 0), ((9, 11, 3), 7), ((7, 13), 0),
                                        ((50,), 0), ((17, 200, 3), 5), ((16, 64), 0), ((2, 300, 3), 64)], ids=str)
def test_frames_are_stored_and_measured_exactly(shape, pad, vnni):
    """Both kernels copy a frame into its ring slot (padded rows as decoders give them, rows shorter
    than a vector, longer than the fused kernel takes) without touching the next slot, with exact
    sums, sums of squares and block sums."""
    if vnni and not kernels.VNNI:
        pytest.skip("this CPU has no AVX-512 VNNI")
    rng = np.random.default_rng(8)
    blocks = Blocks(shape)
    size = int(np.prod(shape))
    frames = []
    for k in range(3):
        wide = rng.integers(0, 256, (blocks.rows, blocks.row_bytes + pad), dtype=np.uint8)
        if k == 2:
            wide[:] = 255
        frames.append(wide[:, :blocks.row_bytes] if len(shape) > 1 else wide.reshape(-1))
    width = -(-size // kernels.ALIGN) * kernels.ALIGN
    ring = np.full((4, width), 77, np.uint8)
    ring[:, size:] = 0
    sums, squares = np.zeros(4, np.int64), np.zeros(4, np.int64)
    block_sums, block_squares = np.zeros((4, blocks.count), np.int32), np.zeros((4, blocks.count), np.int32)
    for k, frame in enumerate(frames):
        kernels.store_frame(frame, ring, k, *blocks.kernel_args(), sums, squares, block_sums, block_squares, vnni=vnni)
    for k, frame in enumerate(frames):
        flat = np.ascontiguousarray(frame).reshape(-1)
        assert (ring[k, :size] == flat).all() and not ring[k, size:].any()
        assert sums[k] == flat.astype(np.int64).sum() and squares[k] == (flat.astype(np.int64) ** 2).sum()
        expected_sums, expected_squares = block_sums_of(flat, blocks)
        assert block_sums[k].tolist() == expected_sums and block_squares[k].tolist() == expected_squares
    assert (ring[3, :size] == 77).all()  # the next slot is untouched


@pytest.mark.parametrize("vnni", [True, False], ids=["avx512", "portable"])
def test_ring_features_are_blocks_features(vnni, monkeypatch):
    """The features the ring computes as frames arrive are ``Blocks.features``, bit for bit."""
    if vnni and not kernels.VNNI:
        pytest.skip("this CPU has no AVX-512 VNNI")
    monkeypatch.setattr(kernels, "VNNI", vnni)
    rng = np.random.default_rng(9)
    frames = [rng.integers(0, 256, (20, 30, 3), dtype=np.uint8) for _ in range(5)] + [np.full((20, 30, 3), 255, np.uint8)]
    engine = SlidingDistances(10.0, block=8)
    list(engine.blocks((k / 10, f) for k, f in enumerate(frames)))
    blocks = Blocks(frames[0].shape)
    for k, frame in enumerate(frames):
        sums, squares = block_sums_of(frame, blocks)
        expected = blocks.features(np.array([sums]), np.array([squares]))[0]
        half = (engine._features.shape[1] - kernels.FEATURE_EXTRA) // 2
        got = np.concatenate([engine._features[k, :blocks.count], engine._features[k, half:half + blocks.count]])
        assert got.tolist() == expected.tolist()


def test_frames_of_any_array_type_give_the_same_distances(kernel):
    """Lists, padded views, Fortran-ordered and strided arrays are taken as their values."""
    rng = np.random.default_rng(10)
    base = [rng.integers(0, 256, (6, 10, 3), dtype=np.uint8) for _ in range(12)]
    if kernel == "float-frames":
        base = [f.astype(np.float64) for f in base]
    wide = [np.concatenate([f, f[:, :3]], axis=1)[:, :10] for f in base]  # padded rows
    mixed = [base[0].tolist(), wide[1], np.asfortranarray(base[2]), np.repeat(base[3], 2, axis=1)[:, ::2]] + wide[4:]
    runs = []
    for frames in (base, mixed):
        dist = [block.dist.copy() for block in SlidingDistances(0.5, block=4).blocks(zip(np.arange(12) / 10, frames))]
        runs.append(dist)
    for ours, theirs in zip(*runs):
        assert np.array_equal(ours, theirs, equal_nan=True)


def test_frames_of_another_type_are_refused():
    frames = [(0.0, np.zeros((4, 4, 3), np.uint8)), (0.1, np.zeros((4, 4, 3), np.float32))]
    with pytest.raises(InvalidParameterError, match="frame 1 is float32 but the first was uint8"):
        list(SlidingDistances(1).blocks(frames))


def test_matches_are_sorted_stably_by_distance():
    """Ties keep their row-major order (MoviePy's sorted()), whatever the distances' magnitudes."""
    from gifloop.loops.matches import _matches

    rng = np.random.default_rng(11)
    dists = rng.choice([0.0, 1e-300, 0.5, 0.5000000000000001, 3.0, 7.25, 1e300], 2000)
    starts, ends = rng.integers(0, 50, 2000), rng.integers(50, 100, 2000)
    times = np.arange(100) / 7
    expected = sorted(zip(times[starts], times[ends], dists, dists), key=lambda m: m[2])
    assert [tuple(m) for m in _matches(times, starts, ends, dists)] == expected


def _near_threshold_frames(rng, shape, count):
    """Random frames, copies of one base with a few changed pixels, and noisy copies: distances from 0
    to far, many close together (some pairs within a hair of a threshold taken from them)."""
    base = rng.integers(0, 256, shape, dtype=np.uint8)
    frames = []
    for k in range(count):
        if k % 3 == 0:
            frames.append(rng.integers(0, 256, shape, dtype=np.uint8))
        elif k % 3 == 1:
            frame = base.copy()
            frame.reshape(-1)[rng.choice(base.size, min(base.size, int(rng.integers(0, 30))), replace=False)] ^= 0xFF
            frames.append(frame)
        else:
            noise = rng.integers(-4, 5, shape)
            frames.append(np.clip(base.astype(np.int16) + noise, 0, 255).astype(np.uint8))
    return frames


def _results(m):
    return [tuple(x) for x in m], m.motion.times.tolist(), m.motion.peaks.tobytes()


@pytest.mark.parametrize("shape, count, block, fps", [
    ((84, 150, 3), 70, 32, 25), ((84, 150, 3), 40, 1, 25), ((7, 13), 50, 4, None), ((50,), 33, 1, 10),
    ((9, 11, 3), 1, 32, 25), ((24, 40, 3), 65, 5, None)], ids=str)
def test_matching_in_the_helper_thread_gives_the_callers_results(kernel, shape, count, block, fps, monkeypatch):
    """Blocks matched in the ring's helper thread while the next block is stored (BACKGROUND 2: every
    block, however small) give the results of blocks matched in the caller (0), bit for bit: matches,
    their order, distances and motion peaks; with irregular times, blocks of one frame, odd shapes,
    one frame in all, and a ring that grows while a block is being matched (no fps)."""
    from gifloop.loops import distances

    rng = np.random.default_rng(count)
    frames = _near_threshold_frames(rng, shape, count)
    if kernel == "float-frames":
        frames = [f.astype(np.float64) for f in frames]
    times = np.cumsum(rng.uniform(0.02, 0.08, count))  # irregular (VFR) times
    monkeypatch.setattr(distances.SlidingDistances.__init__, "__defaults__", (None, block))
    pairs = sorted({moviepy_distance(frames[j], frames[i]) for j in range(count) for i in range(max(0, j - 40), j)})
    thresholds = [10.0] + ([pairs[len(pairs) // 3], np.nextafter(pairs[len(pairs) // 3], np.inf)] if pairs else [])
    for threshold in thresholds:
        runs = []
        for mode in (0, 2, 0, 2):
            monkeypatch.setattr(kernels, "BACKGROUND", mode)
            runs.append(_results(FramesMatches.from_frames(zip(times, frames), threshold, 1.0, motion_span=0.3,
                                                           fps=fps)))
        assert runs[0] == runs[1] == runs[2] == runs[3]
        assert [m[:3] for m in runs[0][0]] == [m[:3] for m in brute_force_matches(frames, times, threshold, 1.0)]


def test_a_started_match_keeps_its_frames():
    """While a block is being matched, the ring refuses to store frames over its window, a second
    match, or a finish without a start; finishing gives what ``match`` gives."""
    rng = np.random.default_rng(12)
    frames = [rng.integers(0, 256, (9, 11, 3), dtype=np.uint8) for _ in range(12)]
    engine = SlidingDistances(10.0, block=4)
    blocks = engine.blocks((k / 10, f) for k, f in enumerate(frames))
    block = next(blocks)
    floor = np.full(len(block.times), np.nan)
    expected = block.matches(50, 10, 0.6, floor)
    store = block._store
    store.background = 2
    block.start_matches(50, 10, 0.6, floor)
    with pytest.raises(RuntimeError, match="started already"):
        block.start_matches(50, 10, 0.6, floor)
    with pytest.raises(RuntimeError, match="a match is started"):
        store.match(0, 0, 4, 10.0, 10.0, 50.0, 0.6, floor.copy(), np.empty(16, np.int64), np.empty(16, np.int64),
                    np.empty(16))
    with pytest.raises(RuntimeError, match="overwrite frames 0..3"):
        store.put(frames[0], 0.0, 2)
    with pytest.raises(RuntimeError, match="overwrite frames 0..3"):
        store.fill(iter([]), engine._capacity, 1)  # slot 0 again
    store.put(frames[4], 0.4, 4)  # after the block, in other slots: fine
    got = block.finish_matches()
    assert all(np.array_equal(a, b, equal_nan=True) for a, b in zip(got, expected))
    with pytest.raises(RuntimeError, match="no match was started"):
        store.match_finish()
    with pytest.raises(RuntimeError, match="without start_matches"):
        block.finish_matches()


def test_a_ring_with_a_running_match_can_be_dropped():
    """A ring dropped (or an engine abandoned by an exception) while its helper matches a block waits
    for it and frees everything."""
    rng = np.random.default_rng(13)
    frames = [rng.integers(0, 256, (84, 150, 3), dtype=np.uint8) for _ in range(8)]
    for _ in range(3):
        engine = SlidingDistances(10.0, block=4)
        block = next(engine.blocks((k / 10, f) for k, f in enumerate(frames)))
        block._store.background = 2
        block.start_matches(50, 10, 0.6, np.full(len(block.times), np.nan))
        del engine, block  # the ring goes with the engine's last reference

    def failing():
        yield from ((k / 10, f) for k, f in enumerate(frames))
        raise ValueError("decoder failed")

    with pytest.raises(ValueError, match="decoder failed"):
        FramesMatches.from_frames(failing(), 50, 10)


def test_frames_of_another_size_are_refused():
    frames = [(0.0, np.zeros((4, 4, 3), np.uint8)), (0.1, np.zeros((4, 5, 3), np.uint8))]
    with pytest.raises(InvalidParameterError, match="frame 1 is 5x4 but the first was 4x4"):
        list(SlidingDistances(1).blocks(frames))


# -- 4. find_loops -------------------------------------------------------------------------------------

def test_a_repeated_real_segment_is_found(media, tmp_path):
    """1.2 s of real footage played three times: the 1.2 s loop ranks first, with a seamless seam."""
    segment = gifloop.open(media("real/squirrel_1280x720_h264.mp4")).trim(2, duration=1.2).resize(width=160)
    images = [image for _, image in segment.frames()]
    assert len(images) == 30
    path = write_frames(tmp_path / "repeated.mp4", images * 3, fps=25)
    loops = find_loops(path, max_duration=3, top=3)
    assert loops and loops[0].duration == pytest.approx(1.2, abs=1e-6)
    assert loops[0].distance < 0.5 and loops[0].score > 0.9
    # the same loop at other phases (0.68 s, 1.36 s ... later) or played twice (2.4 s) is one loop
    assert not [loop for loop in loops[1:] if abs(loop.duration % 1.2 - 0.6) > 0.6 - 0.05]


def test_a_rotating_pattern_loops_at_its_period(rotating_clip):
    loops = find_loops(gifloop.open(rotating_clip), max_duration=3, top=5)
    assert loops[0].duration == pytest.approx(1.28, abs=1e-6) and loops[0].start == 0.0
    assert loops[0].score == 1.0 and "motion carries on across the seam" in loops[0].reasons
    # near-duplicates (the same loop a frame later) are suppressed: no two overlap by more than 30%
    for a in loops:
        for b in loops:
            if a is not b:
                inter = min(a.end, b.end) - max(a.start, b.start)
                assert inter <= 0.3 * (max(a.end, b.end) - min(a.start, b.start)) + 1e-9
    assert loops[0].to_clip(gifloop.open(rotating_clip)).duration == pytest.approx(1.28, abs=1e-6)


def test_one_loop_per_periodic_motion(rotating_clip):
    """The turning pattern repeats every 1.28 s for 4 s: its phases (0.72 s apart, overlapping too
    little for the overlap test) and its double turn (2.56 s) are the same loop, listed once."""
    loops = find_loops(gifloop.open(rotating_clip), max_duration=3)
    assert [(loop.start, loop.duration) for loop in loops] == [(0.0, 1.28)]


def test_a_clip_that_is_one_loop_is_found_whole(tmp_path):
    """32 frames of one turn: the last frame leads into the first, so the loop is the whole clip,
    though no frame inside matches the first one."""
    path = write_frames(tmp_path / "one_turn.mp4", rotating_frames(count=32), fps=25)
    loops = find_loops(path)
    assert len(loops) == 1 and (loops[0].start, loops[0].end) == (0.0, pytest.approx(1.28, abs=1e-6))
    assert loops[0].score > 0.95 and loops[0].reasons[0].startswith("whole clip")
    # a turn and a half: the whole clip jumps at its seam; the loop is the turn inside it
    path = write_frames(tmp_path / "turn_and_a_half.mp4", rotating_frames(count=48), fps=25)
    loops = find_loops(path)
    assert [(loop.start, loop.duration) for loop in loops] == [(0.0, 1.28)]
    assert not loops[0].reasons[0].startswith("whole clip")


@pytest.mark.parametrize("name, max_duration, length, score", [
    ("loops/cv_joint_rotating_320x240.gif", 3, 1.1, 0.8),         # 22 frames at 20 fps
    ("loops/newtons_cradle_200x150.gif", 3, 0.82, 0.8),           # a GIF with its own frame delays
    # 4 s, no container duration; its water jumps at the seam (10.7 from the last frame to the first,
    # 5.1 a step; the decoded stream has no frame at 0.04 s), but nothing inside loops better
    ("loops/xine_water_logo_loop_384x288_mpeg1.mpv", 5, 4.04, 0.45),
])
def test_clips_made_to_loop_are_found_whole(media, name, max_duration, length, score):
    loops = find_loops(media(name), max_duration=max_duration)
    assert loops and loops[0].start == 0.0 and loops[0].end == pytest.approx(length, abs=0.021)
    assert loops[0].reasons[0].startswith("whole clip: its last frame leads into its first")
    assert loops[0].score > score
    # with loops shorter than the clip asked for, the whole clip is not offered
    shorter = find_loops(media(name), max_duration=length * 0.9)
    assert not [loop for loop in shorter if loop.end - loop.start > length * 0.9]


def test_a_moviepy_clip_works_too():
    loops = find_loops(FakeMoviePyClip(rotating_frames(), fps=25), top=1)
    assert loops[0].duration == pytest.approx(1.28, abs=1e-6)


def test_a_static_shot_gives_nothing(tmp_path):
    rng = np.random.default_rng(1)
    still = rotating_frames(count=1)[0].astype(np.int16)
    frames = [np.clip(still + rng.integers(-2, 3, still.shape), 0, 255).astype(np.uint8) for _ in range(75)]
    path = write_frames(tmp_path / "still.mp4", frames, fps=25)
    assert find_loops(path) == []
    rejected = find_loops(path, threshold=50, keep_rejected=True)
    assert rejected and all(loop.score == 0 and loop.reasons[0].startswith("rejected: still") for loop in rejected)


def test_the_long_videos_hard_cuts_are_not_loops(media):
    """40 s of the assembled video holding four hard cuts (MANIFEST), 96 px thumbnails."""
    clip = gifloop.open(media("long/assembled_open_clips_640x360_8m47s.mp4")).trim(490, duration=40)
    cuts = [t - 490 for t in (498.88, 509.60, 516.36, 521.36)]
    # a huge threshold makes every local best match a candidate, so the cuts have to be recognised
    everything = find_loops(clip, thumb_width=96, threshold=1000, keep_rejected=True)
    seen = {float(loop.reasons[0].split(" at ")[1][:-2]) for loop in everything if "rejected: cut" in loop.reasons[0]}
    for cut in cuts:
        assert any(abs(cut - t) < 0.05 for t in seen), (cut, sorted(seen))
    accepted = [loop for loop in everything if loop.score > 0]
    assert not [loop for loop in accepted for cut in cuts if loop.start + 0.02 < cut < loop.end - 0.02]
    assert find_loops(clip, thumb_width=96) == []  # and nothing there loops by the automatic threshold


def test_fades_and_blank_frames_are_rejected(tmp_path):
    """A turning pattern that fades to black and back: matches across the fade are not loops; nor are
    matches between two black frames."""
    frames = rotating_frames(count=120, period=20, size=48)
    gain = np.ones(120)
    gain[40:60] = np.abs(np.linspace(-1, 1, 20))  # fade out and in again around frame 50
    gain[100:] = 0  # black at the end
    frames = [(f * g).astype(np.uint8) for f, g in zip(frames, gain)]
    path = write_frames(tmp_path / "fade.mp4", frames, fps=25)
    loops = find_loops(path, keep_rejected=True, max_overlap=1.0)
    accepted = [loop for loop in loops if loop.score > 0]
    reasons = " | ".join(loop.reasons[0] for loop in loops if loop.score == 0)
    assert "rejected: fade or flash" in reasons and "rejected: blank (uniform) frame at the seam" in reasons
    assert accepted and all(not (loop.start < 2.0 < loop.end) for loop in accepted)  # 2.0 s: the black frame
    assert all(loop.end <= 4.0 for loop in accepted)


@pytest.mark.parametrize("kwargs, message", [
    ({"max_duration": -1}, "max_duration must be positive, got -1; pass e.g. max_duration=3"),
    ({"threshold": -2}, "threshold must be 0 or more, got -2; pass e.g. threshold=5"),
    ({"min_duration": 4, "max_duration": 3}, "min_duration 4 s is longer than max_duration 3 s"),
    ({"top": 0}, "top must be a whole number, 1 or more"),
    ({"max_duration": 0.01, "min_duration": 0}, "max_duration 0.01 s is shorter than one frame at 25 fps"),
    ({"thumb_width": 4}, "thumb_width must be"),
])
def test_find_loops_bad_parameters(rotating_clip, kwargs, message):
    with pytest.raises(InvalidParameterError, match=message):
        find_loops(rotating_clip, **kwargs)


def test_bad_parameters_of_the_moviepy_api():
    with pytest.raises(InvalidParameterError, match="distance_threshold must be 0 or more, got -1"):
        FramesMatches.from_clip(CYCLE, -1, 3)
    with pytest.raises(InvalidParameterError, match="max_duration must be positive"):
        FramesMatches.from_clip(CYCLE, 1, 0)
    with pytest.raises(InvalidParameterError, match="match_threshold must be 0 or more"):
        FramesMatches([]).select_scenes(-1, 1)
    with pytest.raises(InvalidParameterError, match="percent must be above 0 and at most 100"):
        FramesMatches([]).best(percent=150)
    with pytest.raises(InvalidParameterError, match="expected a video path, a gifloop Clip"):
        find_loops(42)


def test_tiny_videos_give_empty_results(tmp_path, rotating_clip):
    one = write_frames(tmp_path / "one.mp4", rotating_frames(count=1), fps=25)
    assert find_loops(one) == [] and FramesMatches.from_clip(gifloop.open(one), 100, 3) == []
    # a window longer than the clip is fine: loops up to the clip's length
    assert find_loops(rotating_clip, max_duration=30, min_duration=4.5) == []  # the clip is 4 s
    assert find_loops(rotating_clip, max_duration=30)[0].duration == pytest.approx(1.28, abs=1e-6)


def test_to_clip(rotating_clip):
    loop = LoopCandidate(0.52, 1.8, 1.28, 0.0, 1.0, [])
    part = loop.to_clip(gifloop.open(rotating_clip))
    assert part.duration == pytest.approx(1.28) and len(list(part.frames())) == 32
    assert loop.to_clip(rotating_clip, blend=0.2).duration == pytest.approx(1.28)


# -- the command ---------------------------------------------------------------------------------------

def test_loops_command_prints_and_writes(tmp_path, rotating_clip):
    out, report = tmp_path / "out", tmp_path / "loops.json"
    result = CliRunner().invoke(loops_command, [rotating_clip, "--top", "2", "--out", str(out),
                                                "--json", str(report), "--width", "32"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split()[:3] == ["#", "start", "end"] and lines[1].split()[:4] == ["1", "0.00", "1.28", "1.28"]
    document = json.loads(report.read_text())
    assert [item["rank"] for item in document["loops"]] == [1]  # one turning pattern: one loop (its phases are one)
    page = (out / "index.html").read_text()
    for item in document["loops"]:
        assert (out / item["gif"]).stat().st_size > 0 and f'src="{item["gif"]}"' in page
    assert "score 1.00" in page and "0.00&ndash;1.28 s" in page


def test_loops_command_errors_are_gifloop_errors(tmp_path):
    result = CliRunner().invoke(loops_command, [str(tmp_path / "missing.mp4")])
    assert isinstance(result.exception, gifloop.SourceNotFoundError)
    result = CliRunner().invoke(loops_command, [str(tmp_path), "--top", "0"])
    assert result.exit_code == 2 and "Invalid value for '--top'" in result.output


def test_loops_command_says_when_nothing_loops(tmp_path):
    path = write_frames(tmp_path / "still.mp4", rotating_frames(count=30)[:1] * 30, fps=25)
    result = CliRunner().invoke(loops_command, [path])
    assert result.exit_code == 0 and result.output.startswith("no loops found in ")


def test_candidate_seam_blend_keeps_the_length_and_closes_the_loop(tmp_path):
    """to_clip(blend=...) crossfades the seam: same length, last frame close to the first."""
    import gifloop
    from gifloop.loops import LoopCandidate
    from conftest import level_frames, write_frames

    path = write_frames(tmp_path / "levels.mp4", level_frames(50), fps=25)
    clip = gifloop.open(path)
    candidate = LoopCandidate(start=0.4, end=1.2, duration=0.8, distance=0.0, score=1.0, reasons=[])
    plain = [f.image.astype(int) for f in candidate.to_clip(clip).frames()]
    blended = candidate.to_clip(clip, blend=0.2)
    frames = [f.image.astype(int) for f in blended.frames()]
    assert blended.duration == pytest.approx(0.8) and len(frames) == len(plain) == 20
    assert np.abs(plain[-1] - plain[0]).mean() > 90  # a plain cut jumps from level 145 back to 50
    assert np.abs(frames[-1] - frames[0]).mean() < 20  # blended: the end leads into the start
    with pytest.raises(gifloop.InvalidParameterError):
        candidate.to_clip(clip, blend=0.5)
