"""``find_loops``: the segments of a video that loop well, ranked best first.

One forward decode straight to thumbnails, then:

    exact distances over a sliding window (distances.py)
      ──▶ for each end frame j, the start frames i whose picture matches j (local minima), but
          not a shorter loop played twice or more (its start also matches 1/m of the way in)
      ──▶ and the whole clip, when it fits: does its last frame lead into its first? (wholeclip.py)
      ──▶ rejected: still inside, a cut or a fade inside, a blank (uniform) seam frame, and
          (automatic threshold) frames around the seam that match worse than 1.5 frame steps
      ──▶ scored: the seam against the segment's normal frame-to-frame change, averaged over the
          frames around it, as in Schödl et al., "Video Textures" (2000): d(i+k, j+k), k = -2..2
      ──▶ suppression of duplicates: overlapping candidates, and candidates of one run of a
          periodic motion (the same cycle at other phases; ranking.Runs)

A candidate plays frames i .. j-1 and then i again, so frame j is the one that must look like i:
``clip.trim(start, end)`` is exactly that. A whole-clip candidate plays every frame.

>>> for loop in gifloop.loops.find_loops("waves.mp4", max_duration=3, top=3):     # doctest: +SKIP
...     print(f"{loop.start:.2f}-{loop.end:.2f} s  score {loop.score:.2f}  {'; '.join(loop.reasons)}")
4.12-6.08 s  score 0.93  seam 0.4 vs 3.1 per frame; motion carries on across the seam; moves up to 24
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

from ..clip import Clip
from ..errors import InvalidParameterError
from .buffers import GrowingArray, LagBand
from .checks import non_negative, positive
from .distances import BLOCK, SlidingDistances
from .frames import as_clip, clip_fps, frames_with_stats, subclip, thumbnails
from .ranking import Runs, seam_score, step_scale, suppress
from .wholeclip import crossing_errors

MAX_ANALYSIS_FPS = 30.0  # faster sources are sampled at 30 fps: a GIF seam needs no finer timing
# Frames around the seam compared for motion continuity, with binomial weights (Schödl et al.).
CONTEXT = np.arange(-2, 3)
CONTEXT_WEIGHTS = np.array([1.0, 4.0, 6.0, 4.0, 1.0])
# threshold=None: a seam at most 1.5 frame steps of its own segment (step_scale: 0.5-10 levels).
# At 1.0 the best seams of rippling water (10.2 against 7.1 a frame) were all refused.
AUTO_SEAM = 1.5
# The frame step of a segment is the mean of its steps above this: repeated frames (a 10 fps source
# shown at 25 fps, re-encoded: 0.1-0.4 levels at 150 px) would otherwise halve it.
REPEAT_STEP = 0.5
PER_END_FRAME = 3  # best start frames kept per end frame before suppression (bounds the work)
# Still: the picture never gets this far (RMS levels) from the first frame. 150 px thumbnails of
# static cameras move 0.4 (screen recording) to 1.3 (H.264 parking lot) levels a frame from noise.
STILL_EXCURSION = 3.0
# A cut: one frame step above CUT_MIN and CUT_RATIO x the median of the 5 steps on each side.
# On the long test video (96 px) hard cuts measured 68-124 against medians of 1.5-4.5 (ratio >= 15);
# the fastest flashes of the Big Buck Bunny trailer 31-66 against 16-48 (ratio <= 4).
CUT_MIN, CUT_RATIO, CUT_NEIGHBOURS = 15.0, 4.0, 5
FADE_CONTRAST = 0.5  # a frame inside with less than half the seam frames' contrast: a fade or flash
BLANK_CONTRAST = 6.0  # luma standard deviation under 6 levels: a black, white or flat frame
_DELAY = max(int(CONTEXT[-1]), CUT_NEIGHBOURS)  # frames after j needed before j can be judged

_OK, _CUT, _FADE, _BLANK, _STILL, _JUMP = range(6)


@dataclass
class LoopCandidate:
    """A segment that loops: play ``start`` to ``end`` (seconds) and back to ``start``.

    ``distance``: RMS difference (0-255 levels, on the thumbnails) between the frames at ``start``
    and ``end``. ``score``: 1 = invisible seam, 0.5 = a seam like one normal frame step, 0 = rejected.
    ``reasons``: why it scored so (or why it was rejected).

    >>> loop.to_clip(gifloop.open("in.mp4")).resize(width=480).write_gif("loop.gif")   # doctest: +SKIP
    """

    start: float
    end: float
    duration: float
    distance: float
    score: float
    reasons: list[str] = field(default_factory=list)

    def to_clip(self, clip, blend: float = 0.0):
        """The segment as a clip, ready to write as a looping GIF (``subclipped`` for a MoviePy clip).

        ``blend`` > 0 crossfades the seam: the segment is read ``blend`` seconds past its end and
        that tail is faded over its start (``Clip.make_loopable``), so a near-miss loops smoothly
        and the result keeps the candidate's length.

        >>> candidate.to_clip(clip, blend=0.3).write_gif("loop.gif")        # doctest: +SKIP
        """
        clip = as_clip(clip)
        if not blend:
            return subclip(clip, self.start, self.end)
        if not isinstance(clip, Clip):
            raise InvalidParameterError("seam blending needs a gifloop Clip; pass gifloop.open(path)")
        if blend < 0 or 2 * blend > self.duration:
            raise InvalidParameterError(
                f"blend must be between 0 and half the loop ({self.duration / 2:.2f} s), got {blend:g}")
        if clip.duration is None or self.end + blend <= clip.duration:
            return clip.trim(self.start, self.end + blend).make_loopable(blend)
        if self.start - blend >= 0:  # no room after the end: fade in what comes before the start
            return clip.trim(self.start - blend, self.end).make_loopable(blend)
        raise InvalidParameterError(f"no room around {self.start:.2f}-{self.end:.2f} s for a {blend:g} s blend; "
                                    "use a smaller blend")


def find_loops(clip, max_duration: float = 3.0, min_duration: float = 0.5, threshold: Optional[float] = None,
               top: Optional[int] = None, thumb_width: int = 150, fps: Optional[float] = None,
               max_overlap: float = 0.3, keep_rejected: bool = False,
               progress: Optional[Callable[[str, int, Optional[int]], None]] = None) -> list[LoopCandidate]:
    """Find the segments of ``clip`` (a path, a gifloop ``Clip`` or a MoviePy clip) that loop well.

    ``max_duration`` / ``min_duration``: loop length in seconds. ``threshold``: the largest seam
    distance to accept (RMS of 0-255 levels on the thumbnails); default: automatic, at most 1.5 times
    the segment's typical frame-to-frame change, for the seam and for the frames around it.
    ``top``: how many to return (default all). ``thumb_width``: analysis width in pixels.
    ``fps``: analysis rate (default the clip's, at most 30). ``max_overlap``: candidates overlapping
    a better one by more than this (intersection over union) are dropped.
    ``keep_rejected``: also return the rejected candidates (score 0), after the others.
    ``progress(stage, done, total)`` is called as frames are analysed (stage ``"analyse"``; total is
    None when the clip's length is unknown), as ``gifloop.write_gif`` does.

    Contradictory parameters raise ``InvalidParameterError``; a video with nothing that loops (one
    frame, shorter than ``min_duration``, static) gives an empty list.

    >>> loops = find_loops(gifloop.open("in.mp4"), max_duration=3, top=5)        # doctest: +SKIP
    """
    clip = as_clip(clip)
    max_duration = positive(max_duration, "max_duration", "3")
    min_duration = non_negative(min_duration, "min_duration", "0.5")
    if min_duration > max_duration:
        raise InvalidParameterError(
            f"min_duration {min_duration:g} s is longer than max_duration {max_duration:g} s; lower min_duration")
    threshold = None if threshold is None else non_negative(threshold, "threshold", "5")
    if top is not None and (not isinstance(top, int) or isinstance(top, bool) or top < 1):
        raise InvalidParameterError(f"top must be a whole number, 1 or more, got {top!r}; e.g. top=10")
    if not isinstance(thumb_width, int) or isinstance(thumb_width, bool) or thumb_width < 16:
        raise InvalidParameterError(f"thumb_width must be a whole number of pixels, 16 or more, got {thumb_width!r}")
    if not 0 <= max_overlap <= 1:
        raise InvalidParameterError(f"max_overlap must be from 0 to 1, got {max_overlap!r}; e.g. max_overlap=0.3")
    rate = positive(fps, "fps", "12") if fps is not None else min(clip_fps(clip), MAX_ANALYSIS_FPS)
    max_lag = math.floor(max_duration * rate + 1e-6)
    if max_lag < 1:
        raise InvalidParameterError(
            f"max_duration {max_duration:g} s is shorter than one frame at {rate:g} fps; pass at least {1 / rate:.3g}")
    min_lag = max(1, math.ceil(min_duration * rate - 1e-6))

    stats: list = []
    frames = frames_with_stats(thumbnails(clip, thumb_width, rate), stats)
    scanner = _Scanner(max_lag, min_lag, threshold)
    engine = SlidingDistances((max_lag + 0.5) / rate, fps=rate)
    duration = getattr(clip, "duration", None)
    total = round(duration * rate) if duration else None
    for block in engine.blocks(frames):
        scanner.add(block, stats)
        if progress is not None:
            progress("analyse", engine.frames_seen, total)
    return _rank(scanner.finish(rate, duration, min_duration), top, max_overlap, keep_rejected)


class _Scanner:
    """Turns distance blocks into judged candidates, one end frame at a time, ``_DELAY`` frames late."""

    def __init__(self, max_lag: int, min_lag: int, threshold: Optional[float]):
        self.max_lag, self.min_lag, self.threshold = max_lag, min_lag, threshold
        self.band = LagBand(max_lag, depth=max_lag + BLOCK + _DELAY + 8)
        self.times, self.steps = GrowingArray(), GrowingArray()
        # over frames 1..k: the sum and the count of the steps that change the picture (see REPEAT_STEP)
        self.moving_sum, self.moving_count = GrowingArray(), GrowingArray()
        self.luma, self.contrast = GrowingArray(), GrowingArray()
        self.cut_count = GrowingArray()  # cut_count[k] = cuts among frames 0..k
        self.judged = 0  # end frames judged so far
        self.found: list[dict] = []
        self.runs = Runs()

    def add(self, block, stats: list) -> None:
        self.band.add(block)
        frames = np.arange(self.band.count - len(block.dist), self.band.count)
        self.times.extend(block.row_times)
        steps = self.band.at(frames, 1)
        self.steps.extend(steps)
        moving = np.nan_to_num(steps) > REPEAT_STEP
        for total, values in ((self.moving_sum, np.where(moving, steps, 0.0)), (self.moving_count, moving)):
            total.extend((total.values[-1] if len(total) else 0.0) + np.cumsum(values))
        new = len(block.dist)
        luma, contrast = np.array(stats[:new]).reshape(-1, 2).T
        del stats[:new]  # frames_with_stats appends one (mean, std) per frame; keep only the unread ones
        self.luma.extend(luma)
        self.contrast.extend(contrast)
        self._mark_cuts(self.band.count - CUT_NEIGHBOURS)
        self._judge(self.band.count - _DELAY)

    def finish(self, rate: float, duration: Optional[float], min_duration: float) -> dict:
        """Judge the last end frames and the whole clip; every candidate's numbers, as arrays."""
        self._mark_cuts(self.band.count)
        self._judge(self.band.count)
        self._whole_clip(rate, duration, min_duration)
        names = ("start", "end", "seam", "context", "step", "excursion", "verdict", "where", "run", "whole")
        if not self.found:
            return {name: np.zeros(0) for name in names}
        return {name: np.concatenate([f[name] for f in self.found]) for name in names}

    def _whole_clip(self, rate: float, duration: Optional[float], min_duration: float) -> None:
        """The clip itself as a loop, when it is at most ``max_lag`` frames long (wholeclip.py)."""
        frames = self.band.count
        if frames < 3 or frames - 1 > self.max_lag:
            return
        times = self.times.values
        # it ends where its last frame does: one analysis frame later, or the clip's own end
        end = times[-1] + 1.0 / rate
        if duration is not None and times[-1] < duration < end:
            end = duration
        if end - times[0] < min_duration - 1e-6:
            return
        seam, context = crossing_errors(self.band, frames)
        last = np.array([frames - 1])
        step = self.moving_sum.values[last] / np.maximum(self.moving_count.values[last], 1)
        details = self._verdicts(np.array([0]), last, last, np.array([context]), step)
        details.update({"start": times[:1], "end": np.array([end]), "seam": np.array([seam]),
                        "context": np.array([context]), "step": step, "run": np.array([self.runs.new()]),
                        "whole": np.array([True])})
        if self.threshold is not None and seam > self.threshold:
            return
        if self.threshold is None and seam > AUTO_SEAM * float(step_scale(step)[0]):
            return
        self.found.append(details)

    def _mark_cuts(self, upto: int) -> None:
        """Flag cuts among frames ``len(cut_count)`` .. ``upto - 1`` (their neighbours are known)."""
        first = len(self.cut_count)
        if upto <= first:
            return
        n = CUT_NEIGHBOURS
        steps = self.steps.values
        # only the steps around frames first .. upto - 1 (NaN past either end of the video)
        around = np.full(upto - first + 2 * n, np.nan)
        lo, hi = max(first - n, 0), min(upto + n, len(steps))
        around[lo - (first - n):hi - (first - n)] = steps[lo:hi]
        windows = np.lib.stride_tricks.sliding_window_view(around, 2 * n + 1)
        centre = windows[:, n]
        typical = _nan_median(np.delete(windows, n, axis=1))
        cuts = (centre > CUT_MIN) & (centre > CUT_RATIO * np.nan_to_num(typical))
        before = self.cut_count.values[-1] if len(self.cut_count) else 0.0
        self.cut_count.extend(before + np.cumsum(cuts))

    def _judge(self, upto: int) -> None:
        """Find and judge the candidates ending at frames ``judged`` .. ``upto - 1``."""
        if upto <= self.judged:
            return
        ends = np.arange(self.judged, upto)
        self.judged = upto
        lags = np.arange(1, self.max_lag + 1)
        starts = ends[:, None] - lags[None, :]
        seam = self.band.at(ends[:, None], lags[None, :])
        seam = np.where(np.isnan(seam) | (starts < 0) | (lags < self.min_lag), np.inf, seam)
        # Only local minima over the start frame: the neighbours of a good start are near-copies of it.
        pad = np.full((len(ends), 1), np.inf)
        local = (seam <= np.hstack([pad, seam[:, :-1]])) & (seam <= np.hstack([seam[:, 1:], pad]))
        first = np.clip(starts, 0, None)
        moved = self.moving_count.values[ends][:, None] - self.moving_count.values[first]
        step = (self.moving_sum.values[ends][:, None] - self.moving_sum.values[first]) / np.maximum(moved, 1)
        limit = AUTO_SEAM * step_scale(step) if self.threshold is None else self.threshold
        ratio = np.where(local & np.isfinite(seam) & (seam <= limit), seam / step_scale(step), np.inf)
        if ratio.shape[1] > PER_END_FRAME:
            best = np.argpartition(ratio, PER_END_FRAME - 1, axis=1)[:, :PER_END_FRAME]
            keep = np.zeros_like(ratio, bool)
            np.put_along_axis(keep, best, True, axis=1)
            ratio = np.where(keep, ratio, np.inf)
        r, c = np.nonzero(np.isfinite(ratio))  # by end frame, as Runs wants them
        limit = np.broadcast_to(limit, ratio.shape)[r, c]
        single = ~self._repeats_shorter(ends[r], lags[c], limit)
        r, c = r[single], c[single]
        if len(r):
            details = self._details(ends[r], lags[c], seam[r, c], step[r, c])
            details["run"] = self.runs.assign(ends[r], lags[c])
            details["whole"] = np.zeros(len(r), bool)
            self.found.append(details)

    def _repeats_shorter(self, ends: np.ndarray, lags: np.ndarray, limit: np.ndarray) -> np.ndarray:
        """True for segments (end frame, lag) that are a shorter loop played 2, 3, ... times: the start
        frame also matches the frame 1/m of the way in (within ``limit``), so the segment shows the
        same cycle again (a 2.56 s loop of a wheel turning in 1.28 s). Not for shorter loops under
        ``min_lag``: those were not asked for."""
        out = np.zeros(len(ends), bool)
        starts = ends - lags
        for m in range(2, int(lags.max(initial=0)) // self.min_lag + 1):
            for sub in (lags // m, -(-lags // m)):  # a period between whole frames: try both
                there = (sub >= self.min_lag) & ~out
                seam = self.band.at(np.where(there, starts + sub, ends), np.where(there, sub, 0))
                out |= there & (seam <= limit)
        return out

    def _details(self, j: np.ndarray, lag: np.ndarray, seam: np.ndarray, step: np.ndarray) -> dict:
        i = j - lag
        # The seam averaged over the frames around it: d(i + k, j + k).
        rows, first = j[:, None] + CONTEXT, i[:, None] + CONTEXT
        there = (first >= 0) & (rows < self.band.count)
        near = self.band.at(np.where(there, rows, j[:, None]), lag[:, None])
        weight = np.where(there & ~np.isnan(near), CONTEXT_WEIGHTS, 0.0)
        context = (np.nan_to_num(near) * weight).sum(axis=1) / weight.sum(axis=1)
        details = self._verdicts(i, j, lag, context, step)
        times = self.times.values
        details.update({"start": times[i], "end": times[j], "seam": seam, "context": context, "step": step})
        return details

    def _verdicts(self, i: np.ndarray, j: np.ndarray, lag: np.ndarray, context: np.ndarray,
                  step: np.ndarray) -> dict:
        """Excursion, verdict and where its reason is, for segments of frames ``i .. j``."""
        span = np.arange(0, self.max_lag + 1)
        inside = span[None, :] <= lag[:, None]  # frames i .. j
        # How far the picture gets from the start frame: d(i, i + m), 0 < m <= lag.
        reach = self.band.at(np.minimum(i[:, None] + span, j[:, None]), span)
        excursion = np.where(inside & (span > 0), np.nan_to_num(reach, nan=-np.inf), -np.inf).max(axis=1)
        # Contrast inside against the seam frames: fades, flashes, blank frames.
        contrast = self.contrast.values
        inner = np.where(inside, contrast[np.minimum(i[:, None] + span, j[:, None])], np.inf)
        seam_contrast = np.minimum(contrast[i], contrast[j])
        cut_count = self.cut_count.values
        verdict = np.full(len(j), _OK)
        if self.threshold is None:  # the frames around the seam must match about as well as the seam
            verdict[context > AUTO_SEAM * step_scale(step)] = _JUMP
        verdict[excursion < STILL_EXCURSION] = _STILL
        verdict[seam_contrast < BLANK_CONTRAST] = _BLANK
        verdict[inner.min(axis=1) < FADE_CONTRAST * seam_contrast] = _FADE
        verdict[cut_count[j] - cut_count[i] > 0] = _CUT
        # Where the reason is: the first cut inside, or the dimmest frame.
        where = np.where(verdict == _CUT, np.searchsorted(cut_count, cut_count[i], side="right"),
                         i + inner.argmin(axis=1))
        return {"excursion": excursion, "verdict": verdict, "where": self.times.values[np.minimum(where, j)]}


def _nan_median(values: np.ndarray) -> np.ndarray:
    """Median of each row ignoring NaN (NaN for a row of NaN): ``np.nanmedian`` without its masked
    arrays, which took a third of find_loops' own time on a long video."""
    ordered = np.sort(values, axis=1)  # NaN sort last
    count = np.count_nonzero(~np.isnan(values), axis=1)
    rows = np.arange(len(values))
    low, high = np.maximum(count - 1, 0) // 2, np.maximum(count, 1) // 2
    return np.where(count > 0, (ordered[rows, low] + ordered[rows, high]) / 2, np.nan)


def _rank(found: dict, top: Optional[int], max_overlap: float, keep_rejected: bool) -> list[LoopCandidate]:
    ok = found["verdict"] == _OK
    score = np.where(ok, seam_score(found["context"], found["step"]), 0.0)
    duration = np.round(found["end"] - found["start"], 6)  # 1.2 and 1.1999999999999997 are one length
    # Best score first; ties (exact repeats score 1) go to the smaller seam, the shorter loop, the earlier.
    order = np.lexsort((found["start"], duration, found["seam"], -score))
    chosen = []
    for group in (order[ok[order]], order[~ok[order]] if keep_rejected else order[:0]):
        kept = group[suppress(found["start"][group], found["end"][group], max_overlap, limit=top,
                              runs=found["run"][group])]
        chosen += [_candidate(found, k, score[k]) for k in kept]
    return chosen


def _candidate(found: dict, k: int, score: float) -> LoopCandidate:
    start, end = float(found["start"][k]), float(found["end"][k])
    seam, step, context = float(found["seam"][k]), float(found["step"][k]), float(found["context"][k])
    verdict, where, excursion = int(found["verdict"][k]), float(found["where"][k]), float(found["excursion"][k])
    if verdict == _OK and found["whole"][k]:
        reasons = [f"whole clip: its last frame leads into its first (seam {seam:.1f} vs {step:.1f} per frame)",
                   "motion carries on across the seam" if context <= float(step_scale(step))
                   else f"the frames around the seam differ more ({context:.1f})",
                   f"moves up to {excursion:.0f} from its first frame"]
    elif verdict == _OK:
        reasons = [f"seam {seam:.1f} vs {step:.1f} per frame",
                   "motion carries on across the seam" if context <= float(step_scale(step))
                   else f"the frames around the seam differ more ({context:.1f})",
                   f"moves up to {excursion:.0f} from its first frame"]
    else:
        reasons = [{_CUT: f"rejected: cut at {where:.2f} s",
                    _FADE: f"rejected: fade or flash at {where:.2f} s",
                    _BLANK: "rejected: blank (uniform) frame at the seam",
                    _STILL: f"rejected: still (moves at most {excursion:.1f})",
                    _JUMP: f"rejected: the frames around the seam differ ({context:.1f} vs {step:.1f} per frame)",
                    }[verdict]]
    return LoopCandidate(start, end, round(end - start, 6), seam, float(score), reasons)
