"""Find the moments of a video that loop well.

Two levels:

- ``find_loops(clip, max_duration=3, ...)``: ranked ``LoopCandidate``s (still segments, cuts and
  fades rejected; seams scored with the motion around them; near-duplicates suppressed).
- MoviePy's ``moviepy.video.tools.cuts`` API, same names and results, fixed bugs:
  ``FramesMatches`` / ``FramesMatch``, ``detect_scenes``, ``find_video_period``.

Both decode the video forward once and compare frames over a sliding window (``distances.py``)
with exact integer dot products, deciding most pairs on cheap bounds first, so the work is mostly
decoding.

    frames.py     one forward pass over a gifloop Clip, a path or a MoviePy clip; thumbnails
    distances.py  exact RMS distances over a sliding window, in blocks (the engine)
    kernels.py    the compiled kernels (C: _ckernels.c): the ring of frames with their sums and
                  features, a block screened and matched in one call, exact dot products
    bounds.py     block features: rigorous lower and upper bounds of a distance
    blas.py       one BLAS thread during matrix products (OpenBLAS threads starve the decoder)
    matches.py    FramesMatch, FramesMatches (MoviePy-compatible)
    scenes.py     detect_scenes, find_video_period (MoviePy-compatible)
    finder.py     find_loops, LoopCandidate: candidates, rejections, scores
    wholeclip.py  the whole clip as a loop: does its last frame lead into its first?
    ranking.py    the seam score, runs of one periodic motion, suppression of duplicates
    buffers.py    growing per-frame arrays, the band of recent lag distances
    report.py     table, JSON and the HTML contact sheet for the command line
    command.py    ``gifloop loops`` (click)
    checks.py     parameter checks with one-line messages

>>> from gifloop.loops import find_loops
>>> find_loops("waves.mp4", top=1)                                      # doctest: +SKIP
[LoopCandidate(start=4.12, end=6.08, duration=1.96, distance=0.4, score=0.93, reasons=[...])]
"""

from .finder import LoopCandidate, find_loops
from .matches import FramesMatch, FramesMatches
from .scenes import detect_scenes, find_video_period

__all__ = ["FramesMatch", "FramesMatches", "LoopCandidate", "detect_scenes", "find_loops", "find_video_period"]
