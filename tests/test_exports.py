"""The public surface is deliberate: adding or removing a name must show up here."""

import gifloop


def test_all_is_pinned():
    assert sorted(gifloop.__all__) == sorted([
        "Clip", "Composite", "ConversionError", "CorruptSourceError", "GifFile", "GifSettings", "GifloopError", "InputError",
        "InvalidParameterError", "Layer", "LoopCandidate", "NotAVideoError", "OutputPathError", "QualityReport", "SourceInfo", "SourceNotFoundError",
        "SourceReadError", "TruncatedSourceWarning", "__version__", "composite", "convert", "find_loops", "format_time", "open",
        "parse_time", "probe", "quality", "write_gif",
    ])
    for name in gifloop.__all__:
        assert hasattr(gifloop, name), name


def test_errors_are_also_builtins():
    assert issubclass(gifloop.SourceNotFoundError, FileNotFoundError)
    assert issubclass(gifloop.InvalidParameterError, ValueError)
    assert issubclass(gifloop.NotAVideoError, ValueError)
    assert issubclass(gifloop.OutputPathError, OSError)
    assert all(issubclass(e, gifloop.InputError) for e in (
        gifloop.SourceNotFoundError, gifloop.SourceReadError, gifloop.NotAVideoError,
        gifloop.CorruptSourceError, gifloop.InvalidParameterError, gifloop.OutputPathError))
    assert gifloop.InputError.exit_code == 2 and gifloop.ConversionError.exit_code == 1


def test_importing_gifloop_loads_nothing_heavy():
    """The names load on first use: ``gifloop.__main__`` relies on NumPy not being loaded yet when it
    sets up the process (one OpenBLAS thread)."""
    import subprocess
    import sys

    code = "import sys, gifloop; print(sorted(m for m in ('numpy', 'av', 'PIL') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    code = "import sys, gifloop; gifloop.open; print('numpy' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "True"
