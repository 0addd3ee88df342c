"""The GIF writer: delays, frame differencing, transparency, duplicates, loop count, and decodability."""

import io

import numpy as np
import pytest
from PIL import Image

from gifloop.encode.gif import GifWriter, centiseconds
from conftest import gif_frames, parse_gif

PALETTE = np.array([[0, 0, 0], [255, 0, 0], [0, 255, 0], [0, 0, 255]], np.uint8)


def write(frames, end, **options):
    buffer = io.BytesIO()
    writer = GifWriter(buffer, (frames[0][1].shape[1], frames[0][1].shape[0]), PALETTE, **options)
    for t, indices in frames:
        writer.add(t, indices)
    writer.close(end)
    buffer.seek(0)
    return buffer


def decoded(buffer):
    buffer.seek(0)
    im = Image.open(buffer)
    colours = []
    for i in range(im.n_frames):
        im.seek(i)
        colours.append(np.asarray(im.convert("RGB")))
    return colours


def test_12_fps_delays_accumulate_rounding_and_total_matches(tmp_path):
    frames = [(k / 12, np.full((4, 4), k % 4, np.uint8)) for k in range(24)]
    buffer = write(frames, end=2.0)
    path = tmp_path / "a.gif"
    path.write_bytes(buffer.getvalue())
    delays = [f["delay"] for f in parse_gif(path)["frames"]]
    assert delays[:6] == [8, 9, 8, 8, 9, 8]
    assert sum(delays) == 200


def test_duplicate_frames_merge_into_the_previous_delay(tmp_path):
    a, b = np.zeros((4, 4), np.uint8), np.ones((4, 4), np.uint8)
    buffer = write([(0.0, a), (0.1, a), (0.2, a), (0.3, b)], end=0.5)
    path = tmp_path / "d.gif"
    path.write_bytes(buffer.getvalue())
    info = parse_gif(path)
    assert [f["delay"] for f in info["frames"]] == [30, 20]


def test_only_the_changed_rectangle_is_stored_with_unchanged_pixels_transparent(tmp_path):
    a = np.zeros((10, 10), np.uint8)
    b = a.copy()
    b[2, 3] = 1
    b[5, 6] = 2
    buffer = write([(0.0, a), (0.1, b)], end=0.2)
    path = tmp_path / "r.gif"
    path.write_bytes(buffer.getvalue())
    second = parse_gif(path)["frames"][1]
    assert second["rect"] == (3, 2, 4, 4)
    assert second["transparent"] == len(PALETTE)
    shown = decoded(buffer)[1]
    assert tuple(shown[2, 3]) == (255, 0, 0) and tuple(shown[5, 6]) == (0, 255, 0)
    assert tuple(shown[3, 4]) == (0, 0, 0)  # transparent inside the rectangle: previous pixel shows


def test_frames_closer_than_2_cs_are_dropped_not_played_slowly(tmp_path):
    frames = [(k / 100, np.full((2, 2), k % 3, np.uint8)) for k in range(10)]  # 100 fps
    buffer = write(frames, end=0.1)
    path = tmp_path / "f.gif"
    path.write_bytes(buffer.getvalue())
    delays = [f["delay"] for f in parse_gif(path)["frames"]]
    assert all(d >= 2 for d in delays) and sum(delays) == 10


@pytest.mark.parametrize("loop, stored", [(0, 0), (3, 2), (1, None)])
def test_loop_count(tmp_path, loop, stored):
    buffer = write([(0.0, np.zeros((2, 2), np.uint8))], end=1.0, loop=loop)
    path = tmp_path / "l.gif"
    path.write_bytes(buffer.getvalue())
    assert parse_gif(path)["loop"] == stored


def test_decoded_pixels_are_the_palette_colours_of_the_indices():
    rng = np.random.default_rng(1)
    frames = [(k / 10, rng.integers(0, 4, (16, 24)).astype(np.uint8)) for k in range(5)]
    shown = decoded(write(frames, end=0.5))
    for (_, indices), image in zip(frames, shown):
        assert np.array_equal(image, PALETTE[indices])


def test_tolerance_keeps_pixels_whose_source_barely_moved():
    rgb0 = np.full((4, 4, 3), 100, np.uint8)
    rgb1 = rgb0.copy()
    rgb1[0, 0] += 2   # noise: within tolerance
    rgb1[3, 3] += 50  # a real change
    idx0 = np.zeros((4, 4), np.uint8)
    idx1 = idx0.copy()
    idx1[0, 0] = 1
    idx1[3, 3] = 2
    buffer = io.BytesIO()
    writer = GifWriter(buffer, (4, 4), PALETTE, tolerance=3)
    writer.add(0.0, idx0, rgb0)
    writer.add(0.1, idx1, rgb1)
    writer.close(0.2)
    shown = decoded(buffer)[1]
    assert tuple(shown[0, 0]) == (0, 0, 0)  # kept what was on screen
    assert tuple(shown[3, 3]) == (0, 255, 0)


def test_tolerance_never_hides_a_full_swing_of_a_channel():
    # 0 -> 255 in one channel must count as a change (a wrapping byte difference would call it 1).
    rgb0 = np.zeros((2, 2, 3), np.uint8)
    rgb1 = rgb0.copy()
    rgb1[..., 1] = 255
    rgb1[1, 1] = (254, 1, 0)
    buffer = io.BytesIO()
    writer = GifWriter(buffer, (2, 2), PALETTE, tolerance=2)
    writer.add(0.0, np.zeros((2, 2), np.uint8), rgb0)
    changed = np.full((2, 2), 2, np.uint8)
    changed[1, 1] = 1
    writer.add(0.1, changed, rgb1)
    writer.close(0.2)
    shown = decoded(buffer)[1]
    assert tuple(shown[0, 0]) == (0, 255, 0) and tuple(shown[1, 1]) == (255, 0, 0)


def test_centiseconds_rounds_half_up():
    assert [centiseconds(t) for t in (0.004, 0.005, 0.0833, 0.1667)] == [0, 1, 8, 17]


def test_a_local_table_holds_the_transparent_index(tmp_path):
    """A frame with its own 4-colour table that leaves pixels transparent (index 4) needs an 8-entry
    table, as the global table does; the unchanged pixels show through."""
    path = tmp_path / "local.gif"
    glob = np.array([[0, 0, 0], [255, 255, 255]], np.uint8)
    local = np.array([[0, 0, 0], [0, 255, 0], [0, 0, 255], [9, 9, 9]], np.uint8)
    with open(path, "wb") as fp:
        writer = GifWriter(fp, (4, 4), glob, transparency=True)
        writer.add(0.0, np.zeros((4, 4), np.uint8), np.zeros((4, 4, 3), np.uint8))
        indices, rgb = np.zeros((4, 4), np.uint8), np.zeros((4, 4, 3), np.uint8)
        indices[0, 0], rgb[0, 0] = 1, (0, 255, 0)
        indices[3, 3], rgb[3, 3] = 2, (0, 0, 255)
        writer.add(0.5, indices, rgb, local)
        writer.close(1.0)
    second = parse_gif(path)["frames"][1]
    assert second["transparent"] == 4 and second["local_table"] == 8
    shown, _ = gif_frames(path)[1]
    assert np.array_equal(shown, rgb)


def test_lossy_frames_stay_within_the_budget_of_what_they_should_show():
    """Lossy LZW may write colours into the transparent pixels of a differenced frame (near what is on
    screen there): every decoded frame stays within the lossy budget of its indices' colours, and
    the lossy file is smaller than the exact one."""
    from gifloop.encode.lzw import lossy_budget

    rng = np.random.default_rng(8)
    palette = np.clip(np.arange(64)[:, None] * 4 + np.array([[0, 3, 7]]), 0, 255).astype(np.uint8)  # a ramp
    frame = rng.integers(0, 64, (48, 64))
    frames = []
    for k in range(6):  # a slow drift: a third of the pixels step by one shade a frame
        step = rng.random(frame.shape) < 0.33
        frame = np.clip(frame + step * rng.integers(-1, 2, frame.shape), 0, 63)
        frames.append((k / 10, frame.astype(np.uint8)))
    sizes = {}
    for lossy in (0, 80):
        buffer = io.BytesIO()
        writer = GifWriter(buffer, (64, 48), palette, lossy=lossy)
        for t, indices in frames:
            writer.add(t, indices)
        writer.close(0.6)
        sizes[lossy] = buffer.tell()
        for (_, indices), image in zip(frames, decoded(buffer)):
            d = image.astype(float) - palette[indices]
            red = (image[..., 0].astype(float) + palette[indices][..., 0]) / 2
            error = np.sqrt(((2 + red / 256) * d[..., 0] ** 2 + 4 * d[..., 1] ** 2
                             + (2 + (255 - red) / 256) * d[..., 2] ** 2) / 9)
            assert error.max() <= lossy_budget(lossy) + 1e-3
    assert sizes[80] < 0.9 * sizes[0], sizes
