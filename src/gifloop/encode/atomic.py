"""Write outputs atomically: into a temporary file beside the target, renamed into place at the end.

A failure or Ctrl-C part-way leaves the target untouched (absent, or as it was) and no temp file.

>>> with atomic_output("out.gif", overwrite=True) as fp:     # doctest: +SKIP
...     fp.write(b"GIF89a...")
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from typing import IO, Iterator, Optional

from ..errors import OutputPathError


def check_output_path(path: str | os.PathLike, overwrite: bool, inputs: tuple[str, ...] = ()) -> str:
    """Return ``path`` if a file may be written there; raise a one-line error otherwise."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise OutputPathError(f"output {path!r} is a folder; give a file name such as {os.path.join(path, 'out.gif')!r}")
    for source in inputs:
        if os.path.exists(path) and os.path.exists(source) and os.path.samefile(path, source):
            raise OutputPathError(f"output {path!r} is the input file; choose another output name")
    if not os.path.isdir(folder):
        raise OutputPathError(f"output folder {folder!r} does not exist; create it first")
    if os.path.exists(path) and not overwrite:
        raise OutputPathError(f"{path!r} already exists; pass -y/--overwrite to replace it")
    if not os.access(folder, os.W_OK):
        raise OutputPathError(f"cannot write to folder {folder!r}: permission denied")
    return path


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, overwrite: bool = False,
                  inputs: tuple[str, ...] = ()) -> Iterator[IO[bytes]]:
    """Open a temporary file next to ``path``; on success rename it to ``path``, else delete it."""
    path = check_output_path(path, overwrite, inputs)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".part", dir=folder)
    fp: Optional[IO[bytes]] = None
    try:
        os.close(fd)
        fp = open(tmp, "wb")  # noqa: SIM115 - a named file object: fp.name is the temporary path
        yield fp
        fp.flush()
        os.fsync(fp.fileno())
        fp.close()
        # Keep the permissions a newly created file would get (mkstemp makes it 0600).
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        if fp is not None and not fp.closed:
            fp.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
