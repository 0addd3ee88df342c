"""Every script in examples/ runs and does what it promises (needs ../shared/media)."""

import importlib
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import MEDIA, REPO, gif_delays_cs, gif_frames

pytestmark = pytest.mark.skipif(not MEDIA.exists(), reason=f"shared media not available ({MEDIA})")


@pytest.fixture(scope="module")
def example():
    sys.path.insert(0, str(REPO / "examples"))
    yield lambda name: importlib.import_module(name)
    sys.path.remove(str(REPO / "examples"))


def test_basic(example, tmp_path):
    out = example("basic_trim_resize").make(tmp_path)
    assert out.size == (288, 162) and sum(gif_delays_cs(out.path)) == 170


def test_freeze_region_keeps_the_outside_still(example, tmp_path):
    out = example("freeze_region").make(tmp_path)
    frames = [image.astype(int) for image, _ in gif_frames(out.path)]
    x, y, w, h = example("freeze_region").MOVING
    still = np.ones(frames[0].shape[:2], bool)
    still[y: y + h, x: x + w] = False
    assert all(np.array_equal(f[still], frames[0][still]) for f in frames)
    assert np.abs(frames[0][y: y + h, x: x + w] - frames[-1][y: y + h, x: x + w]).mean() > 3


def test_boomerang_reads_forward_then_backward(example, tmp_path):
    out = example("boomerang").make(tmp_path)
    frames = [image.astype(int) for image, _ in gif_frames(out.path)]
    n = len(frames)
    assert n % 2 == 0
    half = n // 2 + 1  # forward frames 0..half-1, then half-2 .. 1
    for k in range(1, half - 1):
        assert np.abs(frames[half - 1 + k] - frames[half - 1 - k]).mean() < 4


def test_loopable_last_frame_is_close_to_the_first(example, tmp_path):
    out = example("loopable_castle").make(tmp_path)
    frames = [image.astype(int) for image, _ in gif_frames(out.path)]
    seam = np.abs(frames[-1] - frames[0]).mean()
    step = np.mean([np.abs(a - b).mean() for a, b in zip(frames, frames[1:])])
    assert seam < 2 * step + 2


def test_caption_pixels_are_at_the_bottom(example, tmp_path):
    out = example("text_caption").make(tmp_path)
    image = gif_frames(out.path)[-1][0]
    white = (image.min(-1) > 235)
    rows = np.flatnonzero(white.sum(1) > 10)
    assert rows.size and rows.min() > image.shape[0] * 0.6


def test_split_freezes_one_side(example, tmp_path):
    out = example("cary_grant_split").make(tmp_path)
    frames = [image.astype(int) for image, _ in gif_frames(out.path)]
    left = frames[0][:, :100]
    assert all(np.abs(f[:, :100] - left).max() <= 2 for f in frames)
    assert np.abs(frames[0][:, 260:] - frames[-1][:, 260:]).mean() > 2


def test_slow_motion_black_and_white(example, tmp_path):
    out = example("slow_motion_bw").make(tmp_path)
    assert sum(gif_delays_cs(out.path)) == 600
    image = gif_frames(out.path)[10][0].astype(int)
    assert np.abs(image[..., 0] - image[..., 1]).max() <= 24  # grey up to dithering


def test_background_removal_is_transparent_around_people(example, tmp_path):
    out = example("remove_background").make(tmp_path)
    with Image.open(out.path) as im:
        im.seek(30)
        alpha = np.asarray(im.convert("RGBA"))[..., 3]
    assert (alpha == 0).mean() > 0.8 and (alpha == 255).mean() > 0.003
