"""Every error gifloop raises, in one tree.

    GifloopError                      base of everything below
    ├── InputError                    the user's input is wrong: CLI exit code 2
    │   ├── SourceNotFoundError       (also FileNotFoundError) no such file
    │   ├── SourceReadError           (also OSError) a directory, unreadable file
    │   ├── NotAVideoError            (also ValueError) empty, text, audio-only file
    │   ├── CorruptSourceError        (also ValueError) FFmpeg cannot parse the file
    │   ├── InvalidParameterError     (also ValueError) bad time, size, crop, fps ...
    │   └── OutputPathError           (also OSError) output exists, is the input, folder missing
    └── ConversionError               something failed during the work: CLI exit code 1

    TruncatedSourceWarning            (UserWarning) the file ends early; what decoded was kept
    BackgroundWarning                 (UserWarning) background removal found no still background

Each message is one line that says what is wrong and, after "; ", what to do about it.
Leaves also subclass the matching builtin, so ``except ValueError`` keeps working:

>>> try:
...     raise InvalidParameterError("fps must be positive, got -1; pass a value such as 12")
... except ValueError as e:
...     print(e)
fps must be positive, got -1; pass a value such as 12
"""

from __future__ import annotations


class GifloopError(Exception):
    """Base class of every gifloop error."""

    exit_code = 1


class InputError(GifloopError):
    """The input (file, option or value) is wrong; nothing was written."""

    exit_code = 2


class SourceNotFoundError(InputError, FileNotFoundError):
    """The source file does not exist."""


class SourceReadError(InputError, OSError):
    """The source path exists but cannot be read as a file."""


class NotAVideoError(InputError, ValueError):
    """The file opens but holds no video stream (empty, text, audio only)."""


class CorruptSourceError(InputError, ValueError):
    """FFmpeg cannot parse the file's container or decode its first frame."""


class InvalidParameterError(InputError, ValueError):
    """A time, size, crop rectangle, frame rate or other value is out of range."""


class OutputPathError(InputError, OSError):
    """The output path cannot be used (exists, equals the input, folder missing)."""


class ConversionError(GifloopError):
    """Decoding or encoding failed part-way; no output was left behind."""


class TruncatedSourceWarning(UserWarning):
    """The source ended before its header said; the frames that decoded were used."""


class BackgroundWarning(UserWarning):
    """Background removal could not tell a still background from the subject (moving camera?)."""

