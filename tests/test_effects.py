"""Effects: each checks what it promises on exact synthetic clips, plus CLI flags and bad input."""

import numpy as np
import pytest
from PIL import Image

import gifloop
from gifloop import InvalidParameterError
from gifloop.cli import main
from gifloop.timeline import Timeline
from conftest import frame_index, gif_delays_cs, gif_frames, write_frames


# -- timelines -----------------------------------------------------------------------------------

def test_timeline_reverse_keeps_each_frames_duration():
    t = Timeline.identity([0.0, 0.1, 0.3], end=0.6).reversed()
    assert [s.sources[0][0] for s in t.shots] == [2, 1, 0]
    assert t.durations == pytest.approx([0.3, 0.2, 0.1]) and t.end == pytest.approx(0.6)


def test_timeline_boomerang_does_not_repeat_the_turning_frames():
    t = Timeline.identity([0, 1, 2, 3], end=4).boomerang()
    assert [s.sources[0][0] for s in t.shots] == [0, 1, 2, 3, 2, 1]
    assert t.end == 6


def test_timeline_crossfade_weights_sum_to_one_and_lead_back_to_the_start():
    t = Timeline.identity([i / 10 for i in range(20)], end=2.0).crossfade_loop(0.5)
    assert t.end == pytest.approx(1.5)
    assert t.shots[0].sources == ((5, 1.0),)  # starts where the fade-in ends
    for shot in t.shots:
        assert sum(w for _, w in shot.sources) == pytest.approx(1.0)
    last = dict(t.shots[-1].sources)
    assert last[4] >= 0.79  # the last frame is mostly the frame just before the first one


# -- time effects on real pixels -----------------------------------------------------------------

def test_reverse_plays_the_frames_backwards(level_clip):
    frames = list(gifloop.open(level_clip).trim(0, 0.4).reverse().frames())
    assert [frame_index(f.image) for f in frames] == list(range(9, -1, -1))
    assert frames[0].time == 0.0


def test_boomerang_gif_reads_forward_then_backward(level_clip, tmp_path):
    clip = gifloop.open(level_clip).trim(0, 0.4).boomerang()
    out = clip.write_gif(tmp_path / "b.gif")
    shown = [frame_index(image) for image, _ in gif_frames(out.path)]
    assert shown == list(range(10)) + list(range(8, 0, -1))
    assert sum(gif_delays_cs(out.path)) == 72  # 18 frames of 4 cs


def test_loop_repeats_and_duration_follows(level_clip):
    clip = gifloop.open(level_clip).trim(0, 0.2).loop(3)
    assert clip.duration == pytest.approx(0.6)
    assert [frame_index(f.image) for f in clip.frames()] == [0, 1, 2, 3, 4] * 3


def test_make_loopable_last_frame_is_close_to_the_first(level_clip):
    plain = [f.image for f in gifloop.open(level_clip).frames()]
    looped = list(gifloop.open(level_clip).make_loopable(0.4).frames())
    assert looped[-1].time < 1.6 and len(looped) == 40
    jump_plain = np.abs(plain[-1].astype(int) - plain[0]).mean()
    jump_loop = np.abs(looped[-1].image.astype(int) - looped[0].image).mean()
    assert jump_plain > 200 and jump_loop < 20


def test_fades_start_black_and_end_dark(level_clip):
    frames = [f.image for f in gifloop.open(level_clip).trim(1.0).fade_in(0.4).fade_out(0.4).frames()]
    assert frames[0].max() == 0
    assert frames[12].mean() == pytest.approx(5 * (25 + 12), abs=3)  # untouched in the middle
    assert frames[-1].mean() < 0.15 * 5 * 49


# -- regions -------------------------------------------------------------------------------------

def test_frozen_rectangle_stays_constant_and_the_rest_moves(moving_clip):
    clip = gifloop.open(moving_clip).freeze_region((10, 5, 12, 10), t=0.5)
    frames = [f.image.astype(int) for f in clip.frames()]
    snapshot = [f.image for f in gifloop.open(moving_clip).frames()][5]
    for image in frames:
        assert np.array_equal(image[5:15, 10:22], snapshot[5:15, 10:22])
    assert np.abs(frames[0][:, 30:] - frames[-1][:, 30:]).mean() > 50


def test_freeze_outside_moves_only_inside(moving_clip):
    frames = [f.image.astype(int) for f in gifloop.open(moving_clip).freeze_region(outside=(10, 5, 12, 10)).frames()]
    assert np.array_equal(frames[0][:, :10], frames[-1][:, :10])
    assert np.abs(frames[0][5:15, 10:22] - frames[-1][5:15, 10:22]).mean() > 50


def test_grey_mask_blends_by_its_level(moving_clip, tmp_path):
    mask = np.zeros((30, 40), np.uint8)
    mask[:, :20] = 255
    mask[:, 20:30] = 128
    Image.fromarray(mask).save(tmp_path / "mask.png")
    frames = [f.image.astype(int) for f in gifloop.open(moving_clip).freeze_region(mask=tmp_path / "mask.png").frames()]
    plain = [f.image.astype(int) for f in gifloop.open(moving_clip).frames()]
    assert np.array_equal(frames[-1][:, :20], plain[0][:, :20])  # white: frozen at t=0
    half = (plain[0][:, 20:30] + plain[-1][:, 20:30]) / 2
    assert np.abs(frames[-1][:, 20:30] - half).max() <= 2  # grey: halfway
    assert np.array_equal(frames[-1][:, 30:], plain[-1][:, 30:])  # black: moving


def test_line_split_freezes_one_side_with_a_soft_edge(moving_clip):
    clip = gifloop.open(moving_clip).freeze_region(line=((20, 0), (20, 30), 4))
    frames = [f.image.astype(int) for f in clip.frames()]
    plain = [f.image.astype(int) for f in gifloop.open(moving_clip).frames()]
    # Walking down the screen along x=20, the left-hand side is x > 20.
    assert np.array_equal(frames[-1][:, 25:], plain[0][:, 25:])
    assert np.array_equal(frames[-1][:, :15], plain[-1][:, :15])


def test_freeze_survives_a_later_resize(moving_clip):
    clip = gifloop.open(moving_clip).freeze_region((0, 0, 20, 30)).resize(width=80)
    frames = [f.image.astype(int) for f in clip.frames()]
    assert frames[0].shape == (60, 80, 3)
    assert np.abs(frames[0][:, :38] - frames[-1][:, :38]).max() <= 1


# -- text and colour -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def black_clip(tmp_path_factory):
    return write_frames(tmp_path_factory.mktemp("black") / "black.mp4", [np.zeros((120, 200, 3), np.uint8)] * 5)


def test_text_appears_where_asked(black_clip):
    image = next(iter(gifloop.open(black_clip).text("Hello\nGIF", "bottom", size=24).frames())).image
    lit = image.max(-1) > 128
    rows = np.flatnonzero(lit.any(1))
    assert rows.min() > 50 and rows.max() < 120  # in the lower part
    cols = np.flatnonzero(lit.any(0))
    assert abs((cols.min() + cols.max()) / 2 - 100) < 10  # centred
    top_left = next(iter(gifloop.open(black_clip).text("Hi", (5, 5), size=20).frames())).image
    assert top_left[:30, :40].max() > 200 and top_left[60:].max() == 0


def test_timed_text_shows_only_in_its_window(black_clip):
    frames = [f.image for f in gifloop.open(black_clip).text("X", "center", size=40, start=0.08, end=0.16).frames()]
    assert [bool(image.max() > 128) for image in frames] == [False, False, True, True, False]


def test_black_white_keeps_luminance(tmp_path):
    image = np.zeros((8, 24, 3), np.uint8)
    image[:, :8] = (255, 0, 0)
    image[:, 8:16] = (0, 255, 0)
    image[:, 16:] = (128, 128, 128)
    path = write_frames(tmp_path / "rgb.mp4", [image] * 2)
    grey = next(iter(gifloop.open(path).black_white().frames())).image.astype(int)
    assert np.abs(grey[..., 0] - grey[..., 2]).max() <= 1
    assert grey[4, 4, 0] == pytest.approx(127, abs=4)  # linear luminance of red is 0.2126
    assert grey[4, 12, 0] == pytest.approx(220, abs=4)
    assert grey[4, 20, 0] == pytest.approx(128, abs=3)


def test_levels(tmp_path):
    path = write_frames(tmp_path / "grey.mp4", [np.full((8, 8, 3), 64, np.uint8)] * 2)
    clip = gifloop.open(path)
    brighter = next(iter(clip.gamma(2.0).frames())).image.mean()
    assert brighter == pytest.approx(255 * (64 / 255) ** 0.5, abs=3)
    assert next(iter(clip.brightness_contrast(brightness=0.2).frames())).image.mean() == pytest.approx(115, abs=3)


# -- bad input -----------------------------------------------------------------------------------

@pytest.mark.parametrize("make", [
    lambda c: c.freeze_region((30, 0, 20, 10)),
    lambda c: c.freeze_region(outside=(0, 0, 0, 5)),
    lambda c: c.freeze_region((0, 0, 5, 5), outside=(0, 0, 5, 5)),
    lambda c: c.freeze_region(),
    lambda c: c.freeze_region((0, 0, 5, 5), t=99),
    lambda c: c.freeze_region(mask="/nonexistent/mask.png"),
    lambda c: c.freeze_region(line=((1, 1), (1, 1), 3)).frames().__next__(),
    lambda c: c.text("hi", font="/nonexistent/font.ttf"),
    lambda c: c.text("hi", color="blurple"),
    lambda c: c.text("hi", position="somewhere"),
    lambda c: c.text("   "),
    lambda c: c.make_loopable(1.5),
    lambda c: c.make_loopable(0),
    lambda c: c.loop(0),
    lambda c: c.fade_in(-1),
    lambda c: c.gamma(0),
    lambda c: c.brightness_contrast(brightness=3),
    lambda c: c.reverse().trim(0, 1),
    lambda c: c.text("a").crop(0, 0, 10, 10),
])
def test_bad_effect_parameters_raise_one_line_errors(moving_clip, make):
    with pytest.raises(InvalidParameterError) as info:
        make(gifloop.open(moving_clip))
    assert "\n" not in str(info.value)


def test_mask_of_the_wrong_size(moving_clip, tmp_path):
    Image.new("L", (10, 10), 255).save(tmp_path / "small.png")
    with pytest.raises(InvalidParameterError, match="10x10 but the frames are 40x30"):
        gifloop.open(moving_clip).freeze_region(mask=tmp_path / "small.png")


# -- command line --------------------------------------------------------------------------------

def test_cli_effect_flags(capsys, moving_clip, tmp_path):
    target = tmp_path / "fx.gif"
    code = main(["convert", moving_clip, str(target), "--boomerang", "--freeze", "0,0,10,10@0.5", "--bw",
                 "--text", "hi\\nthere", "--text-pos", "top", "--font-size", "10", "-q"])
    assert code == 0
    frames = [image for image, _ in gif_frames(target)]
    assert len(frames) == 38
    assert all(np.abs(f[..., 0].astype(int) - f[..., 2]).max() <= 40 for f in frames)  # grey (dithered)


@pytest.mark.parametrize("args, fragment", [
    (["--freeze", "1,2,3"], "X,Y,WIDTH,HEIGHT"),
    (["--freeze", "0,0,100,100"], "not inside"),
    (["--crossfade", "5"], "too long"),
    (["--font", "/no/such.ttf", "--text", "x"], "does not exist"),
    (["--text", "x", "--text-pos", "a,b"], "X,Y"),
])
def test_cli_bad_effect_flags(capsys, moving_clip, tmp_path, args, fragment):
    code = main(["convert", moving_clip, str(tmp_path / "x.gif"), *args])
    err = capsys.readouterr().err
    assert code == 2 and fragment in err and err.count("\n") == 1
    assert not (tmp_path / "x.gif").exists()


# -- transparency: background removal and alpha sources ------------------------------------------

def test_remove_background_makes_the_background_transparent(still_scene, tmp_path):
    clip = gifloop.open(still_scene).remove_background()
    frames = [f.image for f in clip.frames(alpha=True)]
    alpha = frames[10][..., 3]
    assert alpha[35:45, 60:70].min() == 255  # the subject (x 55-75 at frame 10) is opaque
    assert alpha[:20].max() == 0 and alpha[60:].max() == 0  # the background is transparent
    out = clip.write_gif(tmp_path / "cut.gif")
    with Image.open(out.path) as im:
        im.seek(10)
        rgba = np.asarray(im.convert("RGBA"))
    assert rgba[:20, :, 3].max() == 0 and rgba[35:45, 60:70, 3].min() == 255
    assert np.abs(rgba[40, 65, :3].astype(int) - (240, 220, 40)).max() < 30


def test_transparent_gif_frames_do_not_leave_trails(still_scene, tmp_path):
    out = gifloop.open(still_scene).remove_background().write_gif(tmp_path / "trail.gif")
    with Image.open(out.path) as im:
        im.seek(15)
        rgba = np.asarray(im.convert("RGBA"))
    assert rgba[30:50, 5:25, 3].max() == 0  # where the square was at the start: transparent again


def test_moving_camera_warns(tmp_path):
    rng = np.random.default_rng(5)
    texture = rng.integers(0, 255, (60, 400, 3)).astype(np.uint8)
    frames = [np.ascontiguousarray(texture[:, 10 * i: 10 * i + 80]) for i in range(20)]
    path = write_frames(tmp_path / "pan.mp4", frames, fps=10)
    with pytest.warns(gifloop.errors.BackgroundWarning, match="moving camera"):
        list(gifloop.open(path).remove_background().frames())


def test_alpha_source_gives_a_transparent_gif(media, tmp_path):
    clip = gifloop.open(media("formats/alpha_200x200_vp9.webm"))
    assert clip.source.has_alpha
    out = clip.with_fps(10).write_gif(tmp_path / "alpha.gif")
    with Image.open(out.path) as im:
        im.seek(20)
        alpha = np.asarray(im.convert("RGBA"))[..., 3]
    assert 0.5 < (alpha == 0).mean() < 1.0 and (alpha == 255).any()


def test_background_removal_on_a_real_still_camera(media):
    clip = gifloop.open(media("formats/opencv_vtest_768x576_msmpeg4v3.avi")).trim(0, 5).resize(width=192)
    frames = [f.image for f in clip.remove_background().frames(alpha=True)]
    opaque = np.mean([(f[..., 3] > 127).mean() for f in frames])
    assert 0.005 < opaque < 0.2  # the walkers, not the square
