"""Hold the frames of one conversion between its two passes, in memory up to a budget, then on disk.

A whole-animation palette needs every frame before the first can be mapped. Frames beyond the
memory budget go to an unlinked temporary file, so memory stays bounded however long the clip is.

>>> store = FrameStore(memory_budget=64 << 20)
>>> store.append(0.0, np.zeros((2, 2, 3), np.uint8))
>>> [t for t, _ in store]
[0.0]
"""

from __future__ import annotations

import os
import tempfile
from typing import Iterator, Optional

import numpy as np

# Bytes of frames kept in RAM before spilling to disk. Small on purpose: the decoder of a 1800x2784
# H.264 stream alone peaks near 200 MB, and spilled frames sit in the OS page cache, not our memory.
DEFAULT_MEMORY_BUDGET = 32 << 20


class FrameStore:
    """An append-only, replayable sequence of ``(time, image)`` pairs."""

    def __init__(self, memory_budget: int = DEFAULT_MEMORY_BUDGET):
        self.memory_budget = memory_budget
        self._times: list[float] = []
        self._memory: list[np.ndarray] = []
        self._in_memory = 0
        self._spill = None
        self._spilled: list[tuple[int, tuple, np.dtype]] = []  # offset, shape, dtype

    def __len__(self) -> int:
        return len(self._times)

    def append(self, time: float, image: np.ndarray) -> None:
        self._times.append(time)
        if self._in_memory + image.nbytes <= self.memory_budget and not self._spilled:
            self._memory.append(image)
            self._in_memory += image.nbytes
            return
        if self._spill is None:
            self._spill = tempfile.TemporaryFile(prefix="gifloop-frames-")
        offset = self._spill.seek(0, 2)
        np.ascontiguousarray(image).tofile(self._spill)  # no intermediate bytes copy
        self._spilled.append((offset, image.shape, image.dtype))

    def image(self, index: int) -> np.ndarray:
        """Frame ``index``; safe to call from several threads at once (the GIF pass does)."""
        if index < len(self._memory):
            return self._memory[index]
        offset, shape, dtype = self._spilled[index - len(self._memory)]
        image = np.empty(shape, dtype)
        # A positional read: no shared file position for another thread's seek to move.
        view = memoryview(image).cast("B")
        done = 0
        while done < len(view):
            got = os.preadv(self._spill.fileno(), [view[done:]], offset + done)
            if got <= 0:
                raise OSError(f"frame store: short read of frame {index}")
            done += got
        return image

    def time(self, index: int) -> float:
        return self._times[index]

    def __iter__(self) -> Iterator[tuple[float, np.ndarray]]:
        for i in range(len(self._times)):
            yield self._times[i], self.image(i)

    def close(self) -> None:
        self._memory.clear()
        if self._spill is not None:
            self._spill.close()
            self._spill = None

    def __enter__(self) -> "FrameStore":
        return self

    def __exit__(self, *exc) -> Optional[bool]:
        self.close()
        return None
