"""Small threading helpers: an ordered, bounded map over a few threads.

NumPy, SciPy's filters and Pillow's encoder release the GIL for their heavy loops, so two threads
keep two cores busy while the main thread feeds them and consumes results in order.

>>> list(ordered_map(lambda x: x * x, range(5)))
[0, 1, 4, 9, 16]
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable, Iterator, TypeVar

T = TypeVar("T")
R = TypeVar("R")

WORKERS = 2  # the machines we target have 2+ cores


def ordered_map(function: Callable[[T], R], items: Iterable[T], workers: int = WORKERS,
                ahead: int = 2 * WORKERS) -> Iterator[R]:
    """``map(function, items)`` on a few threads, in order, at most ``ahead`` results in flight.

    NumPy releases the GIL in the remapping, so a second core works while this thread writes.
    """
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="gifloop-map") as pool:
        pending: deque = deque()
        for item in items:
            pending.append(pool.submit(function, item))
            if len(pending) >= ahead:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
