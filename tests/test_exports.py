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
