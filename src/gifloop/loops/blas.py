"""One BLAS thread for the loop finder's matrix products (threadpoolctl).

Why: OpenBLAS's worker threads spin while they wait for work. Next to the decoder's frame threads
(or any other load) on 2 cores they starve each other: 40 s of the long test video at 96 px took
15.95 s with numpy's default of 2 BLAS threads and 0.99 s with 1; even with the frames already in
memory, on a busy machine, 1.3-2.5 s against 0.17 s. The products are small (32 new frames against a
window of ~100), so one thread loses little when the machine is idle.

>>> with single_blas_thread():
...     product = a @ b.T                                  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import functools
from typing import Iterator

from threadpoolctl import ThreadpoolController


@functools.lru_cache(maxsize=1)
def _controller() -> ThreadpoolController:
    # Finding the loaded BLAS libraries takes milliseconds: do it once per process.
    return ThreadpoolController()


@contextlib.contextmanager
def single_blas_thread() -> Iterator[None]:
    """Run the block with one BLAS thread; the previous setting is restored afterwards."""
    with _controller().limit(limits=1, user_api="blas"):
        yield
