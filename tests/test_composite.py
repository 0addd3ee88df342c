"""Composition: snapshots, layers with positions, start times, masks, opacity and crossfades."""

import numpy as np
import pytest
from PIL import Image

import gifloop
from gifloop import InvalidParameterError, Layer
from conftest import frame_index, gif_delays_cs, gif_frames, write_frames


def test_snapshot_is_one_frame_held(level_clip, tmp_path):
    still = gifloop.open(level_clip).snapshot(0.4, duration=1.5)
    frames = list(still.frames())
    assert len(frames) == 1 and frame_index(frames[0].image) == 10
    out = still.write_gif(tmp_path / "still.gif")
    assert sum(gif_delays_cs(out.path)) == 150


def test_the_article_cinemagraph_by_composition(moving_clip, tmp_path):
    clip = gifloop.open(moving_clip)
    gif = gifloop.composite([clip.snapshot(1.0), Layer(clip.crop(10, 5, 12, 10), position=(10, 5))])
    frames = [image.astype(int) for _, image in gif.frames()]
    reference = [f.image.astype(int) for f in clip.freeze_region(outside=(10, 5, 12, 10), t=1.0).frames()]
    assert len(frames) == len(reference) == 20
    for ours, theirs in zip(frames, reference):
        assert np.abs(ours[..., :3] - theirs).max() <= 1
    out = gif.write_gif(tmp_path / "cinemagraph.gif")
    assert out.size == (40, 30) and sum(gif_delays_cs(out.path)) == 200


def test_layer_start_time_and_position(level_clip, black_clip_small):
    base = gifloop.open(black_clip_small)  # 60x40 black, 2 s
    small = gifloop.open(level_clip).resize(width=16)
    frames = list(gifloop.composite([base, Layer(small, position=(30, 10), start=1.0)], fps=10).frames())
    early, late = frames[5][1][..., :3], frames[15][1][..., :3]
    assert early.max() == 0
    assert late[10:22, 30:46, 0].mean() == pytest.approx(5 * 12, abs=6)  # source frame 12 at 1.5 - 1.0 s
    assert late[:, :30].max() == 0


@pytest.fixture(scope="module")
def black_clip_small(tmp_path_factory):
    return write_frames(tmp_path_factory.mktemp("blk") / "black.mp4", [np.zeros((40, 60, 3), np.uint8)] * 50)


def test_mask_and_opacity(moving_clip, black_clip_small):
    mask = np.zeros((30, 40), np.uint8)
    mask[:, :20] = 255
    clip = gifloop.open(moving_clip)
    layered = gifloop.composite([gifloop.open(black_clip_small), Layer(clip, mask=mask, opacity=0.5)], size=(60, 40))
    image = next(iter(layered.frames()))[1].astype(int)
    first = next(iter(clip.frames())).image.astype(int)
    assert np.abs(image[:30, :20, :3] - first[:, :20] * 0.5).max() <= 1
    assert image[:30, 20:40, :3].max() == 0


def test_crossfade_in_between_two_clips(level_clip, black_clip_small):
    first = gifloop.open(black_clip_small).trim(0, 1.0)
    second = gifloop.open(level_clip).resize(width=60, height=40).crossfade_in(0.4)
    frames = list(gifloop.composite([first, Layer(second, start=0.6)], fps=10).frames())
    means = [image[..., :3].mean() for _, image in frames]
    assert means[5] == 0  # before the second clip starts
    assert 0 < means[7] < 5 * 1  # fading in (second clip frame ~5 at 20 %)
    assert means[12] == pytest.approx(5 * 15, abs=4)  # fully in


def test_transparent_canvas_gives_a_transparent_gif(level_clip, tmp_path):
    small = gifloop.open(level_clip).resize(width=16)
    out = gifloop.composite([Layer(small, position="center")], size=(40, 40), background=None).write_gif(
        tmp_path / "t.gif")
    with Image.open(out.path) as im:
        im.seek(3)
        alpha = np.asarray(im.convert("RGBA"))[..., 3]
    assert alpha[0, 0] == 0 and alpha[20, 20] == 255


@pytest.mark.parametrize("make", [
    lambda c: gifloop.composite([]),
    lambda c: gifloop.composite([c], background="blurple"),
    lambda c: Layer(c, opacity=2),
    lambda c: Layer(c, start=-1),
    lambda c: Layer(c, position="middle"),
    lambda c: c.snapshot(99),
    lambda c: c.crossfade_in(0),
    lambda c: gifloop.composite([Layer(c, mask=np.zeros((3, 3)))]).write_gif("/tmp/never.gif", overwrite=True),
])
def test_bad_composition_input(moving_clip, make):
    with pytest.raises(InvalidParameterError):
        make(gifloop.open(moving_clip))
