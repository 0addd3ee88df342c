"""Fit a GIF into a byte budget (``max_size``): the best settings whose file is at most N bytes.

The knobs are put on one path from "as asked" (q = 0) to "smallest we would make" (q = 1), in the
order that costs the least quality per byte saved: first a higher redraw tolerance (pixels whose
source changed by at most 3, then 4 levels keep what is on screen: grain and codec noise stop
costing bytes), then lossy LZW (noise the eye hardly sees), then fewer pixels (a smaller GIF looks
sharp; a noisy one does not), and last half the frame rate and fewer colours. Bytes fall along the
path, so the search is a bisection:

1. Trial encodes of a sample (a few runs of consecutive frames, so frame differencing behaves as in
   the full file) estimate the bytes at any q; bisection finds the q whose estimate is ~97.5 % of
   the budget.
2. One full encode at that q. If it lands outside 95-100 % of the budget, the next try comes from
   interpolating between full encodes that bracket the budget, or from the estimates corrected by
   the ratio of real to estimated bytes (at most a few tries). Where one pixel of width moves the
   size by more than the window, lossiness alone closes the gap (``_fine_tune``), or failing that a
   gentler dither (``_soften``); if the settings
   asked for fit with room to spare, a lower frame-difference tolerance spends it (``_upgrade``).
   When the fit used the tolerance's top level and some lossiness, one level less with more
   lossiness is tried too, and the larger file within the budget wins (``_last_level_lossy``).
   The result is never over the budget; if even q = 1 is, the budget is impossible and we say so.

>>> parse_size("2MB"), parse_size("500 kB"), parse_size("1.5MiB"), parse_size(5000)
(2000000, 500000, 1572864, 5000)
"""

from __future__ import annotations

import io
import math
import re
from dataclasses import dataclass
from typing import IO, Callable, Optional

from ..errors import InvalidParameterError
from .pipeline import MAX_LOSSY, EncodedGif, GifSettings, encode_gif, output_size

LOW, AIM = 0.95, 0.975  # land within 95-100 % of the budget, aiming at the middle
# The trial sample: runs of 6 consecutive frames, about a sixth of the frames (at least 2 runs, at
# most 8), so a trial costs a fraction of a full encode even for short clips.
_RUN_LENGTH, _MIN_RUNS, _MAX_RUNS, _SAMPLE_SHARE = 6, 2, 8, 1 / 6
_BISECTIONS = 10  # q to within 1/1024
_FULL_TRIES = 6
_TUNE_TRIES = 4
# The redraw tolerance rises first, by up to 2 levels (to 4), over the first stretch of the path: per
# byte saved it costs less FLIP than lossy LZW. Floyd-Steinberg (max_size's dither), whole 480 px cuts
# and the seed recipe's first 6 s, bytes / FLIP at tolerance 3 and 4 against lossy 5 and 10:
#   squirrel  tol 4: 1,388 kB / 0.0289    lossy 10: 1,546 kB / 0.0315
#   bbb       tol 3: 726 kB / 0.0534      lossy 10: 757 kB / 0.0581
#   water     tol 3: 3,575 kB / 0.0378    lossy 5: 3,562 kB / 0.0391
#   chaplin   tol 4 + lossy 6: 1,319 kB / 0.0217    tol 2 + lossy 40: 1,354 kB / 0.0264
#   seed      tol 3: 6.17 MB / 0.0250     lossy 5: 6.18 MB / 0.0272
#   fire      tol 4: 1,766 kB / 0.0456    lossy 5: 1,772 kB / 0.0446 (the one where lossy is ahead)
_TOLERANCE_RAMP, _MAX_TOLERANCE, _TOLERANCE_END = 2, 4, 0.15
_LOSSY_RAMP = 30  # lossy rises to this next (on real video, 0-30 costs little FLIP; more looks noisy)
_MIN_SIDE = 16  # never shrink frames below this many pixels on a side
_MAX_WINDOWS = 4  # palettes in turn the size search may spend spare bytes on

_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "m": 10 ** 6, "mb": 10 ** 6, "g": 10 ** 9, "gb": 10 ** 9,
          "kib": 1024, "mib": 1024 ** 2, "gib": 1024 ** 3}


def parse_size(value) -> int:
    """Bytes from a number or a text like "2MB", "750kB", "1.5MiB" (kB/MB are 1000-based, KiB/MiB 1024)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number, unit = float(value), ""
    else:
        match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*", str(value))
        if not match or match.group(2).lower() not in _UNITS:
            raise InvalidParameterError(
                f"cannot read the size {value!r}; write it like 2MB, 750kB, 1.5MiB or a number of bytes")
        number, unit = float(match.group(1)), match.group(2).lower()
    size = int(number * _UNITS[unit])
    if size < 1024:
        raise InvalidParameterError(f"max size {value!r} is too small for an animated GIF; allow at least 1 kB")
    return size


def settings_at(q: float, base: GifSettings, size: tuple[int, int]) -> GifSettings:
    """The settings at point ``q`` (0-1) of the path from ``base`` to the smallest GIF we make.

    >>> [settings_at(q, GifSettings(), (640, 360)).tolerance for q in (0, 0.05, 0.1, 0.5)]
    [2, 3, 4, 4]
    >>> s = settings_at(0.5, GifSettings(), (640, 360))
    >>> s.lossy, round(s.scale, 2), s.frame_step
    (30, 0.76, 1)
    """
    if q <= 0:
        return base
    raised = max(base.tolerance, min(_MAX_TOLERANCE, base.tolerance + _TOLERANCE_RAMP))
    if q <= _TOLERANCE_END:  # one level at a time: (0, 0.075] +1, (0.075, 0.15] +2
        return base.with_(tolerance=base.tolerance + math.ceil((raised - base.tolerance) * q / _TOLERANCE_END))
    base = base.with_(tolerance=raised)
    lossy = max(base.lossy, _LOSSY_RAMP)
    min_scale = min(1.0, max(_MIN_SIDE / min(size), 0.25))
    mid_scale = max(min_scale, 0.4)
    if q <= 0.35:
        share = (q - _TOLERANCE_END) / (0.35 - _TOLERANCE_END)
        return base.with_(lossy=round(base.lossy + (lossy - base.lossy) * share))
    if q <= 0.85:
        return base.with_(lossy=lossy, scale=mid_scale ** ((q - 0.35) / 0.5))
    # Half the frames is worth about sqrt(2) in scale: start the last stretch that much larger, and
    # bring in more loss and fewer colours gradually, so bytes do not fall off a cliff where the
    # frame rate halves (the search needs them continuous).
    t = (q - 0.85) / 0.15
    start = min(1.0, mid_scale * 2 ** 0.5)
    # Colours in two steps only: each palette is planned once per search (the histogram keeps it).
    colors = base.colors if t < 0.5 else min(base.colors, 128)
    return base.with_(lossy=round(lossy + lossy * t), colors=colors, frame_step=2,
                      scale=start * (min_scale / start) ** t)


@dataclass
class _Search:
    rendered: object
    budget: int
    base: GifSettings
    loop: int

    def __post_init__(self):
        shots = self.rendered.timeline.shots
        self.sample = _sample(shots)
        self._position = {id(shot): k for k, shot in enumerate(shots)}
        self._estimates: dict[GifSettings, float] = {}  # nearby q often give the same settings

    def estimate(self, q: float) -> float:
        """Bytes of the whole GIF at ``q``, extrapolated from a trial encode of the sample.

        The file is its first frame plus what each later frame changes; in the sample every run
        starts with a frame that changes much (the jump from the previous run), so those are left
        out of the average change per frame. (Counting them made a screen recording, whose first
        frame is 80 % of the file, look four times as big as it is.)
        """
        settings = self.settings(q)
        if settings not in self._estimates:
            buffer = io.BytesIO()
            encoded = encode_gif(self.rendered, buffer, settings, loop=self.loop, shots=self.sample)
            step = settings.frame_step
            positions = [self._position[id(shot)] for shot in self.sample[::step]]
            later = [size for k, size in enumerate(encoded.frame_bytes)
                     if k > 0 and positions[k] - positions[k - 1] <= step]
            frames = len(self.rendered.timeline.shots[::step])
            overhead = buffer.tell() - sum(encoded.frame_bytes)  # header, colour table, trailer
            if later:
                self._estimates[settings] = overhead + encoded.frame_bytes[0] + \
                    sum(later) / len(later) * (frames - 1)
            else:
                self._estimates[settings] = buffer.tell() * frames / max(1, len(positions))
        return self._estimates[settings]

    def settings(self, q: float) -> GifSettings:
        return settings_at(q, self.base, self.rendered.size)

    def solve(self, target: float) -> float:
        """The smallest q whose estimate is at most ``target`` bytes (0 or 1 at the ends)."""
        if self.estimate(0.0) <= target:
            return 0.0
        if self.estimate(1.0) > target:
            return 1.0
        lo, hi = 0.0, 1.0
        for _ in range(_BISECTIONS):
            mid = (lo + hi) / 2
            if self.estimate(mid) <= target:
                hi = mid
            else:
                lo = mid
        return hi

    def full(self, q: float) -> tuple[bytes, EncodedGif]:
        return self.full_with(self.settings(q))

    def full_with(self, settings: GifSettings) -> tuple[bytes, EncodedGif]:
        buffer = io.BytesIO()
        encoded = encode_gif(self.rendered, buffer, settings, loop=self.loop)
        return buffer.getvalue(), encoded


def encode_within(rendered, fp: IO[bytes], budget: int, base: GifSettings, *, loop: int = 0,
                  notify: Optional[Callable] = None) -> tuple[GifSettings, EncodedGif]:
    """Write the best GIF of ``rendered`` that fits in ``budget`` bytes to ``fp``; return what it used."""
    notify = notify or (lambda stage, done, total: None)
    search = _Search(rendered, budget, base, loop)
    lo, hi = 0.0, 1.0  # q known (or assumed) too big / small enough
    measured: dict[float, int] = {}  # q -> bytes of full encodes
    best = None  # (bytes, settings, encoded) of the largest full encode within the budget
    smallest = None
    q = search.solve(AIM * budget)
    seen = set()  # effective settings already encoded (frame sizes are whole pixels)
    for attempt in range(_FULL_TRIES):
        notify("fit", attempt, _FULL_TRIES)
        settings = search.settings(q)
        key = (output_size(rendered.size, settings.scale), settings.with_(scale=1.0))
        if key in seen:
            break  # the bracket is narrower than a pixel: lossiness closes the gap below
        seen.add(key)
        data, encoded = search.full(q)
        size = measured[q] = len(data)
        smallest = size if smallest is None else min(smallest, size)
        if size <= budget and (best is None or size > len(best[0])):
            best = (data, search.settings(q), encoded)
        if size <= budget and (size >= LOW * budget or q == 0.0):
            break  # in the window, or the settings asked for already fit
        if size > budget and q == 1.0:
            break  # even the smallest settings do not fit
        if size > budget:
            lo = q
        else:
            hi = q
        q = _next_try(search, measured, lo, hi, AIM * budget)
    if best is not None and len(best[0]) < LOW * budget and measured.get(lo, 0) > budget:
        best = _fine_tune(search, search.settings(lo), best)
        if len(best[0]) < LOW * budget:
            best = _soften(search, search.settings(lo), best)
    elif best is not None:
        best = _last_level_lossy(search, best)
    if best is not None and len(best[0]) < LOW * budget and best[1] == base:
        best = _upgrade(search, base, best)
    notify("fit", _FULL_TRIES, _FULL_TRIES)
    if best is None:
        small = search.settings(1.0)
        w, h = output_size(rendered.size, small.scale)
        raise InvalidParameterError(
            f"cannot fit this clip in {_human(budget)}: the smallest try ({w}x{h}, {small.colors} colours, "
            f"half the frame rate, lossy {small.lossy}) took {_human(smallest)}; allow more bytes, or "
            f"make the clip shorter or smaller")
    data, settings, encoded = best
    fp.write(data)
    return settings, encoded


def _upgrade(search: _Search, base: GifSettings, best: tuple) -> tuple:
    """The settings asked for fit with room to spare: spend it on accuracy. A lower frame-difference
    tolerance redraws pixels that drifted by a level or two (the last of codec noise and slow
    gradients); then a global palette is split in time, each stretch of frames getting a palette of
    its own colours (each new palette redraws a whole frame). The largest upgrade that fits wins.
    bbb at gifski's bytes (1,038 kB): every change redrawn 939 kB / FLIP 0.0498 / SSIM 0.891; two
    palettes 998 kB / 0.0481 / 0.893; three 1,065 kB / 0.0481 / 0.894 (a palette per frame: 3.5 MB /
    0.0477 / 0.895). A stronger dither also fills the budget, but worsens SSIM (1.15: 0.875)."""
    for tolerance in range(base.tolerance - 1, -1, -1):
        settings = base.with_(tolerance=tolerance)
        data, encoded = search.full_with(settings)
        if len(data) > search.budget:
            break
        best = (data, settings, encoded)
        if len(data) >= LOW * search.budget:
            return best
    most = min(_MAX_WINDOWS, len(search.rendered.timeline.shots[:: best[1].frame_step]))
    if best[1].palette != "global" or most < 2:
        return best
    # The most palettes first: with a budget far above the file (a cap, not a target) one encode
    # settles it; otherwise count up from two.
    for windows in (most, *range(2, most)):
        settings = best[1].with_(windows=windows)
        data, encoded = search.full_with(settings)
        if len(data) > search.budget:
            if windows == most:
                continue
            break
        best = (data, settings, encoded)
        if windows == most or len(data) >= LOW * search.budget:
            break
    return best


def _last_level_lossy(search: _Search, best: tuple) -> tuple:
    """The search fitted with the tolerance's top level and some lossiness. The level below it
    (without lossiness: earlier on the path, so too big) may fit with more lossiness instead, and then
    it wins if its file is larger (within the budget). Since lossy coding writes into transparent
    pixels, one redraw level less with more lossiness can look better at the same bytes. Whole
    480 px cuts, floyd-steinberg, bytes / FLIP:
      chaplin  tol 4 + lossy 7: 1,301 kB / 0.0218    tol 3 + lossy 13: 1,337 kB / 0.0207
      fire     tol 4: 1,766 kB / 0.0456              tol 3 + lossy 3: 1,739 kB / 0.0448
      squirrel tol 4: 1,388 kB / 0.0289              tol 3 + lossy 5: 1,410 kB / 0.0290 (even)
    Only this last step: from tolerance 2 to 3 (water: 3,575 kB / 0.0378 against lossy 5's 3,562 kB /
    0.0391) tolerance stays ahead."""
    top, base = best[1], search.base
    over = top.with_(tolerance=top.tolerance - 1, lossy=base.lossy)
    if not (top.lossy > base.lossy and top.tolerance - 1 > base.tolerance
            and over.with_(tolerance=base.tolerance) == base  # nothing else changed: the lossy stretch
            and 2 * top.lossy + 4 <= _LOSSY_RAMP):  # past that, more lossiness looks noisier than it saves
        return best
    return _bisect(search, over, best, "lossy", too_big=over.lossy, fits=min(MAX_LOSSY, 2 * top.lossy + 4),
                   fill=True)


def _fine_tune(search: _Search, over: GifSettings, best: tuple) -> tuple:
    """Close the last gap with lossiness alone. Near the end of the search, a pixel more or less of
    width can move the size by several per cent (small frames), so from the nearest settings that
    were too big, raise only ``lossy`` (bisecting) until the file fits."""
    high = min(MAX_LOSSY, 2 * over.lossy + 20)
    if best[1] == over.with_(lossy=best[1].lossy) and best[1].lossy > over.lossy:
        high = min(high, best[1].lossy)  # the best so far differs only in lossy: it bounds the search
    return _bisect(search, over, best, "lossy", too_big=over.lossy, fits=high)


def _soften(search: _Search, over: GifSettings, best: tuple) -> tuple:
    """Close the gap with a gentler dither. At small lossy values one step of ``lossy`` can cut the
    size by 15 % or more (a screen recording: lossy 2 -> 3 took 93 kB to 76), more than the window;
    dither strength moves bytes smoothly, so from the nearest settings that were too big it is
    lowered (bisecting, down to a third of what was asked) until the file fits."""
    if over.dither == "none" or over.dither_strength <= 0:
        return best
    return _bisect(search, over, best, "dither_strength", too_big=over.dither_strength,
                   fits=over.dither_strength / 3)


def _bisect(search: _Search, over: GifSettings, best: tuple, knob: str, too_big, fits, fill: bool = False) -> tuple:
    """Full encodes of ``over`` with ``knob`` between a value known too big and one that fits (or is
    assumed to), keeping the largest file within the budget; stops in the window (unless ``fill``:
    then at the edge) or after a few tries. Whole-number knobs stop when no value is left between
    the two."""
    whole = knob == "lossy"
    for _ in range(_TUNE_TRIES):
        if whole and abs(fits - too_big) < 2:
            break
        value = int(too_big + fits) // 2 if whole else round((too_big + fits) / 2, 3)
        settings = over.with_(**{knob: value})
        data, encoded = search.full_with(settings)
        if len(data) > search.budget:
            too_big = value
            continue
        fits = value
        if len(data) > len(best[0]):
            best = (data, settings, encoded)
        if len(data) >= LOW * search.budget and not fill:
            break
    return best


def _next_try(search: _Search, measured: dict, lo: float, hi: float, target: float) -> float:
    """Where to encode next: between two full encodes that bracket the target, interpolate log bytes;
    otherwise re-aim with the estimates corrected by the last full encode; else halve the bracket."""
    if lo in measured and hi in measured:
        a, b = math.log(measured[lo]), math.log(measured[hi])
        if a > b:
            guess = lo + (hi - lo) * (a - math.log(target)) / (a - b)
            if lo < guess < hi:
                return guess
    last = hi if hi in measured else lo
    guess = search.solve(target * search.estimate(last) / measured[last])
    if lo < guess < hi:
        return guess
    # The estimates are not smooth enough to re-aim: step from the last try along their slope.
    step = 1 / 32 if last == lo else -1 / 32
    slope = (math.log(search.estimate(min(1.0, max(0.0, last + step)))) - math.log(search.estimate(last))) / step
    if slope < 0:
        guess = last + (math.log(target) - math.log(measured[last])) / slope
        if lo < guess < hi:
            return guess
    return (lo + hi) / 2


def _sample(shots: list) -> list:
    """A few runs of consecutive shots spread over the timeline (all of them for very short clips)."""
    runs = min(_MAX_RUNS, max(_MIN_RUNS, round(len(shots) * _SAMPLE_SHARE / _RUN_LENGTH)))
    if len(shots) <= 2 * runs * _RUN_LENGTH:
        return list(shots)
    starts = [round(k * (len(shots) - _RUN_LENGTH) / (runs - 1)) for k in range(runs)]
    picked = []
    for s in starts:
        picked.extend(shots[s: s + _RUN_LENGTH])
    return picked


def _human(size: float) -> str:
    return f"{size / 1e6:.2f} MB" if size >= 1e6 else f"{size / 1e3:.0f} kB"

