"""End to end on clips made at test time: frames, timing, geometry, atomic output."""

import os

import numpy as np
import pytest

import gifloop
from gifloop import OutputPathError
from gifloop.samples import make_sample
from conftest import frame_index, gif_delays_cs, gif_frames, parse_gif, write_frames


def test_trim_is_frame_exact(level_clip, tmp_path):
    frames = list(gifloop.open(level_clip).trim(0.4, 1.0).frames())
    assert [frame_index(f.image) for f in frames] == list(range(10, 25))
    assert frames[0].time == 0.0


def test_fps_picks_the_frames_at_start_plus_k_over_fps(level_clip):
    frames = list(gifloop.open(level_clip).trim(0.2).with_fps(10).frames())
    # 25 fps source: the frame on screen at 0.2 + k/10 is index 5 + floor(2.5 k)
    assert [frame_index(f.image) for f in frames] == [5 + int(2.5 * k) for k in range(18)]


def test_gif_timing_matches_the_window(level_clip, tmp_path):
    out = gifloop.open(level_clip).with_fps(12).write_gif(tmp_path / "t.gif")
    delays = gif_delays_cs(out.path)
    assert sum(delays) == 200
    assert set(delays) <= {8, 9}
    assert out.duration == pytest.approx(2.0)


def test_written_gif_looks_like_the_source(sample_clip, tmp_path):
    clip = gifloop.open(sample_clip).resize(width=160).with_fps(10)
    reference = [f.image for f in clip.frames()]
    out = clip.write_gif(tmp_path / "s.gif")
    shown = [image for image, _ in gif_frames(out.path)]
    assert out.size == (160, 120) and len(shown) == len(reference) == 20
    for ref, image in zip(reference, shown):
        error = np.abs(ref.astype(int) - image.astype(int)).mean()
        assert error < 6, error


def test_crop_keeps_the_requested_quadrant(quadrant_clip, tmp_path):
    out = gifloop.open(quadrant_clip).crop(40, 0, 40, 20).write_gif(tmp_path / "q.gif")
    image = gif_frames(out.path)[0][0]
    assert image.shape == (20, 40, 3)
    assert np.abs(image.astype(int) - (0, 255, 0)).max() <= 12


def test_rotation_tag_is_applied_and_crops_are_in_displayed_pixels(tmp_path):
    # Coded 80x40 landscape (red left half, blue right half), tagged to display turned 90 degrees.
    image = np.zeros((40, 80, 3), np.uint8)
    image[:, :40] = (255, 0, 0)
    image[:, 40:] = (0, 0, 255)
    path = tmp_path / "rot.mp4"
    write_frames(path, [image] * 5)
    tagged = tmp_path / "tagged.mp4"
    _retag_rotation(path, tagged, -90)
    clip = gifloop.open(tagged)
    assert clip.source.rotation == 90 and clip.size == (40, 80)
    shown = next(iter(clip.frames())).image
    # Turned clockwise: the red (left) half ends up on top.
    assert shown.shape == (80, 40, 3)
    assert shown[5, 20, 0] > 200 and shown[75, 20, 2] > 200
    top = next(iter(clip.crop(0, 0, 40, 40).frames())).image
    assert top.shape == (40, 40, 3) and top[..., 0].mean() > 200 and top[..., 2].mean() < 30


def _retag_rotation(src, dst, angle):
    import av

    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        istream = inp.streams.video[0]
        ostream = out.add_stream_from_template(istream)
        ostream.set_display_rotation(angle)
        for packet in inp.demux(istream):
            if packet.dts is None:
                continue
            packet.stream = ostream
            out.mux(packet)


def test_non_square_pixels_are_shown_at_display_aspect(tmp_path):
    from fractions import Fraction

    image = np.zeros((40, 40, 3), np.uint8)
    image[:, :20] = (255, 255, 255)
    path = write_frames(tmp_path / "sar.mp4", [image] * 3, sar=Fraction(2, 1))
    clip = gifloop.open(path)
    assert clip.size == (80, 40)
    shown = next(iter(clip.frames())).image
    assert shown.shape == (40, 80, 3)
    assert shown[:, :38].mean() > 200 and shown[:, 42:].mean() < 30
    left = next(iter(clip.crop(0, 0, 40, 40).frames())).image
    assert left.shape == (40, 40, 3) and left.mean() > 200


def test_speed_halves_the_gif_length(level_clip, tmp_path):
    out = gifloop.open(level_clip).speed(2).write_gif(tmp_path / "fast.gif")
    assert sum(gif_delays_cs(out.path)) == 100


def test_existing_output_is_kept_without_overwrite(sample_clip, tmp_path):
    target = tmp_path / "exists.gif"
    target.write_bytes(b"precious")
    with pytest.raises(OutputPathError, match="overwrite"):
        gifloop.open(sample_clip).write_gif(target)
    assert target.read_bytes() == b"precious"
    gifloop.open(sample_clip).resize(width=32).write_gif(target, overwrite=True)
    assert target.read_bytes()[:6] == b"GIF89a"


def test_failure_midway_leaves_no_file_behind(sample_clip, tmp_path):
    def explode(stage, done, total):
        if stage == "encode" and done == 3:
            raise KeyboardInterrupt

    target = tmp_path / "half.gif"
    with pytest.raises(KeyboardInterrupt):
        gifloop.open(sample_clip).write_gif(target, progress=explode)
    assert os.listdir(tmp_path) == []


def test_failure_midway_keeps_the_old_file_intact(sample_clip, tmp_path):
    target = tmp_path / "old.gif"
    target.write_bytes(b"old")

    def explode(stage, done, total):
        if stage == "decode" and done == 5:
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        gifloop.open(sample_clip).write_gif(target, overwrite=True, progress=explode)
    assert target.read_bytes() == b"old" and os.listdir(tmp_path) == ["old.gif"]


def test_output_equal_to_input_is_refused(tmp_path, sample_clip):
    gif = gifloop.open(sample_clip).resize(width=40).write_gif(tmp_path / "in.gif")
    with pytest.raises(OutputPathError, match="input"):
        gifloop.open(gif.path).write_gif(gif.path, overwrite=True)


def test_output_in_a_missing_folder_is_refused(sample_clip, tmp_path):
    with pytest.raises(OutputPathError, match="does not exist"):
        gifloop.open(sample_clip).write_gif(tmp_path / "nope" / "x.gif")


def test_gif_input_converts(tmp_path, sample_clip):
    first = gifloop.open(sample_clip).resize(width=64).with_fps(10).write_gif(tmp_path / "a.gif")
    again = gifloop.open(first.path).write_gif(tmp_path / "b.gif")
    assert again.size == (64, 48)
    assert sum(gif_delays_cs(again.path)) == pytest.approx(200, abs=1)


def test_colors_and_loop_options(sample_clip, tmp_path):
    out = gifloop.open(sample_clip).resize(width=64).write_gif(tmp_path / "c.gif", colors=16, loop=2)
    info = parse_gif(out.path)
    assert info["table_size"] == 16 and info["loop"] == 1
    assert out.colors <= 15


@pytest.mark.parametrize("options", [{"colors": 1}, {"colors": 300}, {"dither": "sparkle"}, {"loop": -1}])
def test_bad_encoder_options(sample_clip, tmp_path, options):
    with pytest.raises(gifloop.InvalidParameterError):
        gifloop.open(sample_clip).write_gif(tmp_path / "x.gif", **options)
    assert not (tmp_path / "x.gif").exists()


def test_unchanged_pixels_are_not_stored_again(tmp_path):
    # A still background with a small moving square: later frames must be small rectangles.
    frames = []
    for i in range(10):
        image = np.full((60, 80, 3), 90, np.uint8)
        image[10:20, 5 + 4 * i: 15 + 4 * i] = (250, 40, 40)
        frames.append(image)
    path = write_frames(tmp_path / "square.mp4", frames, fps=10)
    out = gifloop.open(path).write_gif(tmp_path / "square.gif")
    rects = [f["rect"] for f in parse_gif(out.path)["frames"]]
    assert rects[0] == (0, 0, 80, 60)
    assert all(w <= 16 and h <= 12 for _, _, w, h in rects[1:])


def test_single_frame_video(tmp_path):
    path = write_frames(tmp_path / "one.mp4", [np.full((8, 8, 3), 200, np.uint8)])
    out = gifloop.open(path).write_gif(tmp_path / "one.gif")
    assert out.frames == 1 and len(parse_gif(out.path)["frames"]) == 1


def test_seed_recipe_on_a_synthetic_portrait(tmp_path):
    """1800x2784 portrait -> upper half (1800x1392) -> 640x495 -> 12 fps."""
    source = make_sample(tmp_path / "portrait.mp4", seconds=1, size=(1800, 2784), fps=30)
    clip = gifloop.open(source).crop(0, 0, 1800, 1392).resize(width=640).with_fps(12)
    assert clip.size == (640, 495)
    reference = [f.image for f in clip.frames()]
    out = clip.write_gif(tmp_path / "seed.gif")
    assert out.size == (640, 495) and sum(gif_delays_cs(out.path)) == 100
    shown = gif_frames(out.path)
    assert len(shown) == 12
    # The upper half is the test card (saturated colour bars), not the soft gradients below.
    assert np.abs(shown[0][0].astype(int) - reference[0].astype(int)).mean() < 8
    saturation = reference[0].max(-1).astype(int) - reference[0].min(-1)
    assert (saturation > 200).mean() > 0.2


def test_frames_yield_time_image_pairs(sample_clip):
    t, image = next(iter(gifloop.open(sample_clip).resize(width=32).frames()))
    assert t == 0.0 and image.shape == (24, 32, 3) and image.dtype == np.uint8


def test_notebook_display_of_a_clip_with_effects(sample_clip, tmp_path):
    html = gifloop.open(sample_clip).text("hi").boomerang()._repr_html_()
    assert html.startswith('<img src="data:image/gif;base64,R0lGOD')
    from PIL import Image

    Image.new("L", (320, 240), 255).save(tmp_path / "mask.png")
    masked = gifloop.open(sample_clip).freeze_region(mask=tmp_path / "mask.png")
    (tmp_path / "mask.png").unlink()  # gone by the time the notebook renders the preview
    assert "no preview: mask file" in masked._repr_html_()


def test_notebook_display(sample_clip, tmp_path):
    clip = gifloop.open(sample_clip).resize(width=64)
    html = clip._repr_html_()
    assert html.startswith('<img src="data:image/gif;base64,R0lGOD')  # "GIF8" in base64
    out = clip.write_gif(tmp_path / "n.gif")
    assert "data:image/gif;base64," in out._repr_html_() and os.fspath(out) == out.path


def test_frame_differencing_adds_no_visible_error(tmp_path):
    """Pixels kept from earlier frames must look as right as a fresh mapping of the frame would."""
    from PIL import Image

    from gifloop.quantize.remap import Remapper

    # A saturated test card with a sweeping rainbow line: channels jump between 0 and 255.
    source = make_sample(tmp_path / "card.mp4", seconds=4, size=(720, 640),
                         graph="testsrc2=size={w}x{h}:rate={fps}:duration={seconds}")
    clip = gifloop.open(source).resize(width=360).with_fps(12)
    reference = [f.image.astype(int) for f in clip.frames()]
    out = clip.write_gif(tmp_path / "d.gif")
    with Image.open(out.path) as im:
        palette = np.array(im.getpalette()[: 3 * out.colors], np.uint8).reshape(-1, 3)
    remapper = Remapper(palette)
    for k, (shown, _) in enumerate(gif_frames(out.path)):
        fresh = palette[remapper.remap(reference[k].astype(np.uint8))].astype(int)
        bad_gif = (np.abs(shown.astype(int) - reference[k]).max(-1) > 60).sum()
        bad_fresh = (np.abs(fresh - reference[k]).max(-1) > 60).sum()
        assert bad_gif <= 1.1 * bad_fresh + 10, (k, bad_gif, bad_fresh)
