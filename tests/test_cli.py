"""The command line: one-line errors, exit codes, no tracebacks, info and demo."""

import json
import os
import subprocess
import sys

import pytest

from gifloop.cli import main
from conftest import parse_gif


def run(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_convert_writes_a_gif_and_says_so(capsys, sample_clip, tmp_path):
    target = tmp_path / "out.gif"
    code, out, err = run(capsys, "convert", sample_clip, str(target), "--width", "80", "--fps", "10",
                         "--start", "0:00.5", "--duration", "1")
    assert code == 0 and err == ""
    assert out.startswith(f"wrote {target}: 80x60, ")
    info = parse_gif(target)
    assert info["size"] == (80, 60) and sum(f["delay"] for f in info["frames"]) == 100


def test_no_command_shows_the_help_not_an_error(capsys):
    code, out, err = run(capsys)
    assert code == 2 and out == ""
    assert err.startswith("Usage: gifloop [OPTIONS] COMMAND") and "convert" in err and "gifloop: error" not in err


def test_the_command_runs_as_a_process_and_exits_with_the_code():
    """``python -m gifloop`` (the ``gifloop`` command's code: it ends with os._exit): output flushed,
    the exit code kept."""
    ok = subprocess.run([sys.executable, "-m", "gifloop", "--version"], capture_output=True, text=True)
    assert ok.returncode == 0 and ok.stdout.startswith("gifloop, version ")
    bad = subprocess.run([sys.executable, "-m", "gifloop", "info", "/no/such/file.mp4"], capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.startswith("gifloop: error: no such file") and bad.stdout == ""


def test_quiet_prints_nothing(capsys, sample_clip, tmp_path):
    code, out, err = run(capsys, "convert", sample_clip, str(tmp_path / "q.gif"), "-w", "40", "-q")
    assert (code, out, err) == (0, "", "")


def test_crop_option(capsys, quadrant_clip, tmp_path):
    code, out, _ = run(capsys, "convert", quadrant_clip, str(tmp_path / "c.gif"), "--crop", "0,20,40,20")
    assert code == 0 and "40x20" in out


@pytest.mark.parametrize("args, fragment", [
    (["--crop", "0,0,999,10"], "outside"),
    (["--crop", "1,2,3"], "X,Y,WIDTH,HEIGHT"),
    (["--start", "9"], "past the end"),
    (["--start", "zz"], "not a time"),
    (["--width", "0"], "positive"),
    (["--fps", "-1"], "positive"),
    (["--speed", "0"], "positive"),
    (["--colors", "1"], "2 to 256"),
    (["--width", "abc"], "not a valid integer"),
    (["--dither", "sparkle"], "sparkle"),
    (["--palette", "best"], "'global', 'scene', 'frame'"),
    (["--lossy", "500"], "0<=x<=200"),
    (["--max-size", "lots"], "write it like 2MB"),
    (["--max-size", "3kB", "-w", "160"], "cannot fit this clip in 3 kB"),
    (["--bogus"], "No such option"),
])
def test_bad_options_give_one_line_and_exit_2(capsys, sample_clip, tmp_path, args, fragment):
    target = tmp_path / "x.gif"
    code, out, err = run(capsys, "convert", sample_clip, str(target), *args)
    assert code == 2
    assert err.startswith("gifloop: error: ") and err.count("\n") == 1 and fragment in err
    assert "Traceback" not in err and not target.exists()


def test_max_size_says_what_it_chose(capsys, sample_clip, tmp_path):
    target = tmp_path / "fit.gif"
    code, out, err = run(capsys, "convert", sample_clip, str(target), "-w", "160", "--max-size", "60kB")
    assert code == 0 and err == ""
    assert 57_000 <= target.stat().st_size <= 60_000
    assert "to fit 60kB: " in out and "lossy" in out


def test_gif_options_are_refused_for_other_formats(capsys, sample_clip, tmp_path):
    code, out, err = run(capsys, "convert", sample_clip, str(tmp_path / "x.webp"), "--lossy", "20", "--max-size", "1MB")
    assert code == 2 and "--lossy, --max-size only apply to .gif output" in err
    assert not (tmp_path / "x.webp").exists()


def test_missing_input_and_bad_output_paths(capsys, sample_clip, tmp_path):
    code, _, err = run(capsys, "convert", str(tmp_path / "nope.mp4"), str(tmp_path / "x.gif"))
    assert code == 2 and "no such file" in err
    code, _, err = run(capsys, "convert", str(tmp_path), str(tmp_path / "x.gif"))
    assert code == 2 and "folder" in err
    code, _, err = run(capsys, "convert", sample_clip, str(tmp_path / "missing" / "x.gif"))
    assert code == 2 and "does not exist" in err
    code, _, err = run(capsys, "convert", sample_clip, str(tmp_path / "x.webm"))
    assert code == 2 and ".gif" in err


def test_existing_output_needs_overwrite(capsys, sample_clip, tmp_path):
    target = tmp_path / "o.gif"
    target.write_bytes(b"keep")
    code, _, err = run(capsys, "convert", sample_clip, str(target), "-w", "20")
    assert code == 2 and "--overwrite" in err and target.read_bytes() == b"keep"
    code, _, _ = run(capsys, "convert", sample_clip, str(target), "-w", "20", "-y")
    assert code == 0 and target.read_bytes()[:3] == b"GIF"


def test_empty_and_text_files_are_refused(capsys, tmp_path):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n")
    for path, fragment in ((empty, "empty"), (text, "not a video")):
        code, _, err = run(capsys, "convert", str(path), str(tmp_path / "x.gif"))
        assert code == 2 and fragment in err and err.count("\n") == 1


def test_unreadable_file(capsys, sample_clip, tmp_path, monkeypatch):
    # Root reads any file, so stand in for a chmod 000 file by making the access check say no.
    import gifloop.source.probe as probe

    monkeypatch.setattr(probe.os, "access", lambda path, mode: False)
    code, _, err = run(capsys, "convert", sample_clip, str(tmp_path / "x.gif"))
    assert code == 2 and "permission denied" in err and err.count("\n") == 1


def test_debug_shows_the_traceback(sample_clip, tmp_path):
    with pytest.raises(Exception) as info:
        main(["--debug", "convert", sample_clip, str(tmp_path / "x.gif"), "--width", "0"])
    assert "positive" in str(info.value)


def test_info_prints_the_facts(capsys, sample_clip):
    code, out, _ = run(capsys, "info", sample_clip)
    assert code == 0 and "320x240 displayed" in out and "fps: 30" in out
    code, out, _ = run(capsys, "info", sample_clip, "--json")
    facts = json.loads(out)
    assert facts["display_size"] == [320, 240] and facts["rotation"] == 0 and facts["alpha"] is False


def test_demo_makes_a_sample_and_a_gif(capsys, tmp_path):
    code, out, _ = run(capsys, "demo", str(tmp_path / "demo"), "-q")
    assert code == 0
    assert (tmp_path / "demo" / "sample.gif").exists() and "wrote" in out
    assert parse_gif(tmp_path / "demo" / "sample.gif")["size"] == (360, 320)


def test_installed_command_has_no_traceback_on_error(tmp_path):
    exe = os.path.join(os.path.dirname(sys.executable), "gifloop")
    result = subprocess.run([exe, "convert", str(tmp_path / "none.mp4"), str(tmp_path / "x.gif")],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.startswith("gifloop: error: no such file") and "Traceback" not in result.stderr
    assert result.stdout == ""


def test_version(capsys):
    code, out, _ = run(capsys, "--version")
    assert code == 0 and "0.1.0" in out
