"""Small threading helpers: an ordered, bounded map over a few threads, and a read-ahead thread.

NumPy, SciPy's filters and Pillow's encoder release the GIL for their heavy loops, so two threads
keep two cores busy while the main thread feeds them and consumes results in order.

>>> list(ordered_map(lambda x: x * x, range(5)))
[0, 1, 4, 9, 16]
"""

from __future__ import annotations

import contextlib
import queue
import threading
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


def read_ahead(items: Iterable[T], depth: int = 8, name: str = "gifloop-read") -> Iterator[T]:
    """Iterate over ``items`` in a thread, up to ``depth`` items ahead of the consumer.

    PyAV releases the GIL while decoding, so the next frames decode while this thread works on the
    last ones. The first error on either side stops both; the producer's is raised here as it was.
    """
    buffer: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def produce():
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        buffer.put((None, item), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            buffer.put((done, None))
        except BaseException as exc:  # handed to the consumer, which raises it
            buffer.put((done, exc))

    worker = threading.Thread(target=produce, name=name, daemon=True)
    worker.start()
    try:
        while True:
            marker, item = buffer.get()
            if marker is done:
                if item is not None:
                    raise item
                return
            yield item
    finally:
        stop.set()
        while worker.is_alive():  # unblock a producer waiting on a full queue
            with contextlib.suppress(queue.Empty):
                buffer.get_nowait()
            worker.join(timeout=0.05)

