"""How close is an animation to the clip it was made from? Mean SSIM, PSNR and NVIDIA FLIP.

``quality(reference, path)`` decodes the animation (GIF, WebP, APNG, MP4 ... anything FFmpeg reads)
and, for every frame of the reference clip, compares the animation's frame *on screen at that
frame's time* with it. Timing therefore counts: a writer that drops, repeats or shifts frames scores
worse, as a viewer would see it.

>>> clip = gifloop.open("in.mp4").trim(2, 6).resize(width=480).with_fps(12)      # doctest: +SKIP
>>> clip.write_gif("out.gif")                                                    # doctest: +SKIP
>>> report = gifloop.quality(clip, "out.gif", frames=12)                         # doctest: +SKIP
>>> print(report)                                                                # doctest: +SKIP
out.gif: 2,104,332 bytes, 480x270, 48 frames (reference 48); 12 compared: SSIM 0.9318, PSNR 31.42 dB, FLIP 0.0468
>>> report.flip < 0.05                                                           # doctest: +SKIP
True

The metrics, each averaged over the compared frames:

* **SSIM** (Wang et al. 2004): 11-tap Gaussian window (sigma 1.5) on 0-255 values, K1 = 0.01,
  K2 = 0.03, averaged over the R, G and B channels, a 5-pixel border left out (as scikit-image does,
  whose ``structural_similarity(..., gaussian_weights=True, sigma=1.5, use_sample_covariance=False)``
  it matches). 1 = identical; higher is better.
* **PSNR** in dB over all three channels; a frame identical to its reference counts as 100 dB so
  that one lossless frame does not make the mean infinite. Higher is better.
* **FLIP** (NVIDIA's perceptual difference, LDR, 67 pixels per degree) when the optional
  ``flip_evaluator`` package is installed (``pip install gifloop[quality]``), else ``None``.
  0 = identical; lower is better. FLIP costs ~0.2-0.3 s per 640x480 frame, so pass ``frames=N`` to
  score N evenly spaced frames of a long clip.

Both pictures are what a viewer sees over a black page: transparent pixels count as black.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field
from typing import Iterator, Optional

import numpy as np

from .errors import InvalidParameterError
from .source.decode import EPSILON, FrameReader, Window
from .source.geometry import filter_chain
from .source.probe import probe

# GIF delays are whole centiseconds: a writer that rounds the start of frame k (k/12 s, say) to the
# nearest centisecond starts it up to 5 ms late. Such a frame still counts as on screen at k/12.
TIME_TOLERANCE = 0.006

# SSIM constants of Wang et al. (2004) for 8-bit values, and the window: a Gaussian of sigma 1.5
# truncated at 3.5 sigma, i.e. radius 5 (11 taps), as scikit-image's gaussian_weights=True uses.
_SSIM_SIGMA = 1.5
_SSIM_TRUNCATE = 3.5
_SSIM_RADIUS = int(_SSIM_TRUNCATE * _SSIM_SIGMA + 0.5)
_C1 = (0.01 * 255) ** 2
_C2 = (0.03 * 255) ** 2

PSNR_IDENTICAL = 100.0  # dB given to a frame with no error at all


@dataclass(frozen=True)
class FrameScore:
    """The scores of one compared reference frame."""

    index: int  # reference frame number
    time: float  # its time, seconds
    animation_index: int  # the animation frame on screen at that time
    animation_time: float  # when that animation frame starts, seconds
    ssim: float
    psnr: float
    flip: Optional[float]


@dataclass(frozen=True)
class QualityReport:
    """Mean scores of an animation against its reference clip; ``str()`` gives a one-line summary."""

    path: str
    bytes: int
    size: tuple[int, int]
    ssim: float  # mean SSIM, 1 = identical
    psnr: float  # mean PSNR in dB (a frame without error counts as 100 dB)
    flip: Optional[float]  # mean FLIP, 0 = identical; None without flip_evaluator
    compared: int  # frames scored
    reference_frames: int
    animation_frames: int
    reference_duration: Optional[float]  # seconds, as the clip says
    animation_duration: Optional[float]  # seconds, where the last frame ends
    per_frame: tuple[FrameScore, ...] = field(default=(), repr=False)

    def __str__(self) -> str:
        flip = "FLIP n/a (pip install flip-evaluator)" if self.flip is None else f"FLIP {self.flip:.4f}"
        return (f"{os.path.basename(self.path)}: {self.bytes:,} bytes, {self.size[0]}x{self.size[1]}, "
                f"{self.animation_frames} frames (reference {self.reference_frames}); {self.compared} compared: "
                f"SSIM {self.ssim:.4f}, PSNR {self.psnr:.2f} dB, {flip}")

    def as_dict(self, per_frame: bool = False) -> dict:
        """Plain values for JSON; the per-frame scores only when asked for."""
        data = asdict(self)
        data["size"] = list(self.size)
        if not per_frame:
            data.pop("per_frame")
        return data


# -- metrics on one pair of frames -----------------------------------------------------------------


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM of two (H, W, C) or (H, W) uint8 images: per channel, then averaged over channels.

    >>> x = np.random.default_rng(0).integers(0, 256, (32, 32, 3), np.uint8)
    >>> round(ssim(x, x), 6)
    1.0
    """
    x, y = _pair(a, b)
    if x.ndim == 2:
        x, y = x[..., None], y[..., None]
    return float(np.mean([_ssim_plane(x[..., c], y[..., c]) for c in range(x.shape[2])]))


def _ssim_plane(a: np.ndarray, b: np.ndarray) -> float:
    # One channel at a time on contiguous 2-D planes: about twice as fast as filtering a stack.
    x = np.ascontiguousarray(a, dtype=np.float64)
    y = np.ascontiguousarray(b, dtype=np.float64)

    def blur(z: np.ndarray) -> np.ndarray:
        from scipy import ndimage  # here, not at import: a third of a second that converting never needs

        return ndimage.gaussian_filter(z, sigma=_SSIM_SIGMA, truncate=_SSIM_TRUNCATE, mode="reflect")

    mx, my = blur(x), blur(y)
    vx = blur(x * x) - mx * mx
    vy = blur(y * y) - my * my
    cov = blur(x * y) - mx * my
    s = ((2 * mx * my + _C1) * (2 * cov + _C2)) / ((mx * mx + my * my + _C1) * (vx + vy + _C2))
    # Leave out the border, where the window reaches past the picture (scikit-image does the same);
    # pictures too small for that are scored whole.
    r = _SSIM_RADIUS
    if s.shape[0] > 2 * r and s.shape[1] > 2 * r:
        s = s[r:-r, r:-r]
    return float(s.mean())


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of two uint8 images over all channels; identical images give 100 dB.

    >>> psnr(np.zeros((4, 4, 3), np.uint8), np.full((4, 4, 3), 255, np.uint8))
    0.0
    """
    x, y = _pair(a, b)
    d = x.astype(np.float64) - y.astype(np.float64)
    mse = float(np.mean(d * d))
    if mse == 0:
        return PSNR_IDENTICAL
    return min(PSNR_IDENTICAL, 10.0 * math.log10(255.0 ** 2 / mse))


def flip(a: np.ndarray, b: np.ndarray) -> Optional[float]:
    """Mean NVIDIA FLIP (LDR, default viewing conditions) of a reference ``a`` and a test ``b``,
    both (H, W, 3) uint8 sRGB; ``None`` when ``flip_evaluator`` is not installed.

    >>> x = np.zeros((8, 8, 3), np.uint8)
    >>> flip(x, x) in (0.0, None)
    True
    """
    evaluate = _flip_evaluate()
    if evaluate is None:
        return None
    x, y = _pair(a, b)
    ref = np.ascontiguousarray(x, dtype=np.float32) / np.float32(255)
    test = np.ascontiguousarray(y, dtype=np.float32) / np.float32(255)
    if x.shape[0] * x.shape[1] < _FLIP_ONE_THREAD_PIXELS:
        with _one_openmp_thread():
            _, mean, _ = evaluate(ref, test, "LDR", applyMagma=False)
    else:
        _, mean, _ = evaluate(ref, test, "LDR", applyMagma=False)
    return float(mean)


# FLIP runs on OpenMP threads. On small frames, waking and joining them costs more than they save,
# and far more when another process holds a core: a 64x48 frame took 8 ms on one thread and 130 ms
# on two on a busy 2-core machine. So small frames get one thread; large ones FLIP's default.
_FLIP_ONE_THREAD_PIXELS = 100_000
_controller = None


def _one_openmp_thread():
    global _controller
    if _controller is None:
        from threadpoolctl import ThreadpoolController

        _controller = ThreadpoolController()  # scanning the loaded libraries once is enough
    return _controller.limit(limits=1, user_api="openmp")


def flip_available() -> bool:
    """Whether FLIP can be computed (the optional ``flip_evaluator`` package imports)."""
    return _flip_evaluate() is not None


def _flip_evaluate():
    try:
        from flip_evaluator import evaluate
    except ImportError:
        return None
    return evaluate


def _pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise InvalidParameterError(f"images differ in shape: {a.shape} and {b.shape}; compare images of one size")
    return a, b


# -- the whole animation ---------------------------------------------------------------------------


def quality(reference, animation_path, *, frames: Optional[int] = None) -> QualityReport:
    """Score the animation at ``animation_path`` against ``reference``: a ``Clip`` (or a path, which
    is opened with ``gifloop.open``), or a ``Composite``.

    For each reference frame (time t), the animation frame on screen at t is compared with it: the
    last one starting at or before t (5 ms of centisecond rounding allowed), honouring every frame's
    own duration. Past the animation's end its last frame stays on screen. ``frames=N`` scores N
    evenly spaced reference frames instead of all of them (FLIP is slow).

    The animation must have the reference's size: make the reference with the same trim, crop,
    resize and fps as the animation was made with.

    >>> clip = gifloop.open("in.mp4").resize(width=320).with_fps(10)       # doctest: +SKIP
    >>> clip.write_gif("small.gif", colors=64)                             # doctest: +SKIP
    >>> gifloop.quality(clip, "small.gif").ssim                            # doctest: +SKIP
    0.912...
    """
    if frames is not None and (isinstance(frames, bool) or not isinstance(frames, int) or frames < 1):
        raise InvalidParameterError(f"frames must be a whole number of frames to score, 1 or more, got {frames!r}; "
                                    "or None for all")
    path = os.fspath(animation_path)
    info = probe(path)
    width, height = info.display_size
    ref = _Reference(reference)
    try:
        ref_w, ref_h = ref.size
        if (width, height) != (ref_w, ref_h):
            raise InvalidParameterError(
                f"{os.path.basename(path)} is {width}x{height} but the reference clip is {ref_w}x{ref_h}; "
                f"compare with the clip it was made from, e.g. reference.resize(width={width}, height={height})")
        animation = _Animation(info)
        scores, count = _score(ref.frames(), ref.chosen(frames), animation)
    finally:
        ref.close()
    flips = [s.flip for s in scores]
    return QualityReport(
        path=path,
        bytes=os.path.getsize(path),
        size=(width, height),
        ssim=float(np.mean([s.ssim for s in scores])),
        psnr=float(np.mean([s.psnr for s in scores])),
        flip=None if None in flips else float(np.mean(flips)),
        compared=len(scores),
        reference_frames=count,
        animation_frames=animation.count,
        reference_duration=ref.duration,
        animation_duration=animation.end_time,
        per_frame=tuple(scores),
    )


def _score(reference_frames, chosen: Optional[set[int]], animation: "_Animation") -> tuple[list[FrameScore], int]:
    """Walk the reference frames and the animation together, forward once; score the chosen ones.
    Returns the scores and how many reference frames there were."""
    scores: list[FrameScore] = []
    count = 0
    try:
        for count, (t, image) in enumerate(reference_frames, start=1):
            if chosen is not None and count - 1 not in chosen:
                continue
            shown = animation.at(t)
            ref, test = _over_black(image), shown.image
            scores.append(FrameScore(count - 1, float(t), shown.index, shown.time,
                                     ssim(ref, test), psnr(ref, test), flip(ref, test)))
        animation.finish()
    finally:
        animation.close()
    if not scores:  # pragma: no cover - a clip always yields a frame or raises
        raise InvalidParameterError("the reference has no frames; check its trim")
    return scores, count


class _Reference:
    """What ``quality`` needs of a reference: size, length, RGBA frames, and how many there will be.

    A ``Clip`` streams its frames (nothing is kept); anything else with ``render()`` (a
    ``Composite``) is rendered first, which also tells its exact frame count.
    """

    def __init__(self, reference):
        from .clip import Clip

        if isinstance(reference, (str, os.PathLike)):
            from .api import open as open_clip

            reference = open_clip(reference)
        self.clip = reference if isinstance(reference, Clip) else None
        self.rendered = None
        if self.clip is None:
            if not hasattr(reference, "render"):
                raise InvalidParameterError(
                    f"the reference must be a gifloop Clip, Composite or a video path, got {type(reference).__name__}")
            self.rendered = reference.render()
            self.size = tuple(self.rendered.size)
            self.duration: Optional[float] = self.rendered.timeline.end
            self.count: Optional[int] = len(self.rendered.timeline.shots)
        else:
            self.size = self.clip.size
            self.duration = self.clip.duration
            self.count = _expected_frames(self.clip)

    def frames(self):
        if self.rendered is not None:
            return self.rendered.frames()
        return self.clip.frames(alpha=True)

    def chosen(self, frames: Optional[int]) -> Optional[set[int]]:
        """Which frames to score: all (None) or ``frames`` evenly spaced indices."""
        if frames is None:
            return None
        total = self.count
        if total is None:  # the clip does not say how long it is: count its frames once
            total = sum(1 for _ in self.clip.frames())
        if frames >= total:
            return None
        return set(np.linspace(0, total - 1, frames).round().astype(int).tolist())

    def close(self) -> None:
        if self.rendered is not None:
            self.rendered.close()


def _expected_frames(clip) -> Optional[int]:
    """Frames a clip will yield, from its length and rate, without decoding: frame k is at k/fps
    and counts while k/fps is before the end (the decoder's own EPSILON)."""
    duration = clip.duration
    if duration is None or duration <= 0:
        return None
    return max(1, math.ceil((duration - EPSILON) * clip.fps))


def _over_black(image: np.ndarray) -> np.ndarray:
    """RGB as seen over black: RGBA pixels scaled by their alpha; opaque frames pass unchanged."""
    if image.ndim == 3 and image.shape[2] == 4:
        alpha = image[..., 3]
        rgb = image[..., :3]
        if alpha.min() == 255:
            return rgb
        scaled = rgb.astype(np.uint16) * alpha[..., None].astype(np.uint16)
        return ((scaled + 127) // 255).astype(np.uint8)
    return image


@dataclass
class _Shown:
    index: int
    time: float
    image: np.ndarray


class _Animation:
    """The animation's frames in time order, decoded once, forward only; ``at(t)`` gives the frame
    on screen at ``t``. Frame times and durations come from the file (PyAV, via the same reader
    gifloop decodes sources with); FFmpeg's GIF decoder composites each frame onto the previous ones
    (disposal methods included), so every frame is the whole picture a viewer sees."""

    def __init__(self, info):
        size = info.display_size
        chain = filter_chain(coded_rect=None, rotation=info.rotation, out_size=size, pix_fmt="rgba",
                             unscaled_size=_unscaled_size(info))
        self._reader = FrameReader(info, Window(), chain)
        self._frames: Iterator = iter(self._reader)
        self._current: Optional[_Shown] = None
        self._next = None  # the decoded frame after the current one (a gifloop Frame)
        self._done = False
        self.count = 0
        self.end_time: Optional[float] = None

    def _pull(self):
        if self._done:
            return None
        try:
            frame = next(self._frames)
        except StopIteration:
            self._done = True
            self.end_time = self._reader.end_time
            return None
        self.count += 1
        return frame

    def at(self, t: float) -> _Shown:
        if self._current is None:
            first = self._pull()
            if first is None:  # pragma: no cover - probe() already decoded a first frame
                raise InvalidParameterError("the animation has no frames; check the file")
            self._current = _Shown(0, first.time, _over_black(first.image))
            self._next = self._pull()
        # Advance while the next frame has started by t; only the frame that ends up shown is
        # composited over black.
        advanced = None
        while self._next is not None and self._next.time <= t + TIME_TOLERANCE:
            advanced = (self.count - 1, self._next)
            self._next = self._pull()
        if advanced is not None:
            index, frame = advanced
            self._current = _Shown(index, frame.time, _over_black(frame.image))
        return self._current

    def finish(self) -> None:
        """Read the rest, so the frame count and the end time are known."""
        while self._pull() is not None:
            pass

    def close(self) -> None:
        close = getattr(self._frames, "close", None)
        if close is not None:
            close()


def _unscaled_size(info) -> tuple[int, int]:
    # The picture's size after rotation, before any scaling: a scale filter is added only for
    # non-square pixels, to show the animation at the size a player would.
    w, h = info.coded_size
    return (h, w) if info.rotation in (90, 270) else (w, h)
