"""WebP, APNG and MP4 outputs: chosen by the file name, exact timing, loop count, transparency."""

import av
import numpy as np
import pytest
from PIL import Image

import gifloop
from gifloop.cli import main
from conftest import frame_index


def pillow_frames(path):
    out = []
    with Image.open(path) as im:
        for i in range(im.n_frames):
            im.seek(i)
            im.load()
            out.append((np.asarray(im.convert("RGBA")), im.info.get("duration"), im.info.get("loop")))
    return out


@pytest.mark.parametrize("ext", ["webp", "png", "apng"])
def test_webp_and_apng_keep_timing_frames_and_loop(level_clip, tmp_path, ext):
    clip = gifloop.open(level_clip).trim(0, 1).with_fps(12).boomerang()
    out = clip.write(tmp_path / f"b.{ext}", loop=3, lossless=(ext == "webp"))
    frames = pillow_frames(out.path)
    assert len(frames) == 22 and out.frames == 22
    assert sum(d for _, d, _ in frames) == pytest.approx(1000 * out.duration, abs=2)
    assert {round(d) for _, d, _ in frames} <= {83, 84}
    assert frames[0][2] == 3
    levels = [frame_index(image[..., :3]) for image, _, _ in frames]
    assert levels[:12] == [int(k * 25 / 12) for k in range(12)] and levels[12:] == levels[10:0:-1]


@pytest.mark.parametrize("ext", ["webp", "png"])
def test_a_short_last_frame_keeps_its_duration(level_clip, tmp_path, ext):
    """A trim that ends between frames: the last frame lasts only until the end, as in the GIF
    (libwebp_anim would show it as long as the frame before)."""
    clip = gifloop.open(level_clip).trim(0, 0.95).with_fps(10)
    durations = [round(d) for _, d, _ in pillow_frames(clip.write(tmp_path / f"s.{ext}").path)]
    gif = [round(d) for _, d, _ in pillow_frames(clip.write_gif(tmp_path / "s.gif").path)]
    assert durations == gif == [100] * 9 + [50]


def test_mp4_is_h264_with_even_sides_and_real_timestamps(level_clip, tmp_path):
    out = gifloop.open(level_clip).resize(width=33).with_fps(10).write(tmp_path / "v.mp4", quality=90)
    with av.open(out.path) as container:
        stream = container.streams.video[0]
        frames = list(container.decode(stream))
        assert stream.codec_context.name == "h264"
    assert (frames[0].width, frames[0].height) == (32, 24)
    assert len(frames) == 20
    assert [round(f.time, 3) for f in frames[:3]] == [0.0, 0.1, 0.2]
    assert frame_index(frames[7].to_ndarray(format="rgb24")) == 17


def test_mp4_lasts_as_long_as_the_clip(level_clip, tmp_path):
    """The last frame keeps its time on screen (MP4 takes it from the last packet's duration; it was
    a millisecond), also when the encoder reorders frames (B-frames) and when it is cut short."""
    for clip in (gifloop.open(level_clip).trim(0, 0.95).with_fps(10),
                 gifloop.open(level_clip).trim(0, 1).with_fps(10).boomerang()):
        out = clip.write(tmp_path / "d.mp4", overwrite=True)
        with av.open(out.path) as container:
            frames = list(container.decode(video=0))
            assert container.duration / 1e6 == pytest.approx(out.duration, abs=0.002)
        last = frames[-1]
        assert float(last.time + last.duration * last.time_base) == pytest.approx(out.duration, abs=0.002)


def test_transparency_is_kept_in_webp_and_apng(tmp_path, still_scene):
    clip = gifloop.open(still_scene).remove_background()
    for ext in ("webp", "png"):
        image = pillow_frames(clip.write(tmp_path / f"t.{ext}").path)[10][0]
        assert image[:15, :, 3].max() < 20 and image[35:45, 60:70, 3].min() > 200


def test_cli_writes_webp_and_refuses_unknown_formats(capsys, level_clip, tmp_path):
    assert main(["convert", level_clip, str(tmp_path / "x.webp"), "--quality", "60", "-q"]) == 0
    assert (tmp_path / "x.webp").read_bytes()[8:12] == b"WEBP"
    assert main(["convert", level_clip, str(tmp_path / "x.avi")]) == 2
    assert ".webp" in capsys.readouterr().err and not (tmp_path / "x.avi").exists()


def test_gif_only_options_are_refused_for_other_formats(level_clip, tmp_path):
    with pytest.raises(gifloop.InvalidParameterError, match="only apply to GIFs"):
        gifloop.open(level_clip).write(tmp_path / "x.mp4", colors=64)
    with pytest.raises(gifloop.InvalidParameterError, match="format"):
        gifloop.open(level_clip).write(tmp_path / "x.bmp")
