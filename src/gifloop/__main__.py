"""The ``gifloop`` command (and ``python -m gifloop``): set up the process, run ``cli.main``, leave.

NumPy's OpenBLAS starts a thread per core when it loads, and gifloop never asks it for work
(its colour maths avoids BLAS, the loop finder pins it to one thread): on two cores that start-up
cost 40-120 ms of every command. A process that is only the command can go without those threads;
an explicit ``OPENBLAS_NUM_THREADS`` is kept. (This is done here, not in ``gifloop/__init__``,
so that importing gifloop as a library changes nothing about the caller's NumPy.)

>>> main(["info", "clip.mp4"])                                       # doctest: +SKIP
"""

import os
import sys

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from .cli import main as run_cli  # noqa: E402  (after the environment is set: it imports NumPy)


def main(argv=None) -> int:
    """Run the command and end the process with its exit code.

    When ``cli.main`` returns, every output is written, closed and renamed into place and every
    temporary file removed; what is left is the interpreter tearing down NumPy, PyAV and the other
    modules one by one (~45 ms, a tenth of a short conversion), which a finished command can skip.
    """
    code = run_cli(argv)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
