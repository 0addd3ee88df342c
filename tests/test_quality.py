"""gifloop.quality: SSIM/PSNR/FLIP of an animation against the clip it was made from.

All on small generated clips (conftest fixtures), so FLIP stays cheap.
"""

import sys

import numpy as np
import pytest
from PIL import Image

import gifloop
from gifloop.errors import InvalidParameterError
from gifloop.metrics import QualityReport, flip_available, psnr, quality, ssim

from conftest import gif_delays_cs

quality_module = sys.modules["gifloop.metrics"]


@pytest.fixture(scope="module")
def small_testcard(tmp_path_factory):
    """A 1 s, 160x120, 10 fps testsrc2 clip (detailed colours) and two GIFs of it: 256 and 4 colours."""
    from gifloop.samples import make_sample

    folder = tmp_path_factory.mktemp("quality")
    source = make_sample(folder / "card.mp4", seconds=1, size=(160, 120), fps=10,
                         graph="testsrc2=size={w}x{h}:rate={fps}:duration={seconds}")
    clip = gifloop.open(source)
    clip.write_gif(folder / "c256.gif")
    clip.write_gif(folder / "c4.gif", colors=4)
    return clip, folder / "c256.gif", folder / "c4.gif"


# -- SSIM and PSNR on single images --------------------------------------------------------------------


def test_ssim_matches_scikit_image(small_testcard):
    skimage_metrics = pytest.importorskip("skimage.metrics")
    rng = np.random.default_rng(5)
    clip, gif256, _ = small_testcard
    reference = next(iter(clip.frames())).image
    shown = quality(clip, gif256, frames=1)  # the decoded GIF frame comes from the same path as the metric
    pairs = [
        (reference, np.clip(reference.astype(int) + rng.integers(-20, 21, reference.shape), 0, 255).astype(np.uint8)),
        (rng.integers(0, 256, (37, 53, 3), np.uint8), rng.integers(0, 256, (37, 53, 3), np.uint8)),
        (reference[..., 1], np.roll(reference[..., 1], 3, axis=1)),  # one channel
    ]
    for a, b in pairs:
        expected = skimage_metrics.structural_similarity(
            a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
            channel_axis=-1 if a.ndim == 3 else None, data_range=255)
        assert ssim(a, b) == pytest.approx(expected, abs=1e-3)
    assert shown.ssim == pytest.approx(shown.per_frame[0].ssim)


def test_ssim_and_psnr_of_identical_and_opposite_images():
    x = np.random.default_rng(1).integers(0, 256, (24, 24, 3), np.uint8)
    assert ssim(x, x) == pytest.approx(1.0)
    assert psnr(x, x) == 100.0
    assert psnr(np.zeros_like(x), np.full_like(x, 255)) == 0.0
    with pytest.raises(InvalidParameterError, match="one size"):
        ssim(x, x[:10])


# -- whole animations ------------------------------------------------------------------------------


def test_identical_animation_scores_perfect(level_clip, tmp_path):
    clip = gifloop.open(level_clip)
    clip.write(tmp_path / "same.apng")  # lossless: the very frames of the clip
    report = quality(clip, tmp_path / "same.apng")
    assert isinstance(report, QualityReport)
    assert (report.ssim, report.psnr) == (pytest.approx(1.0), 100.0)
    assert report.flip == (0.0 if flip_available() else None)
    assert report.compared == report.reference_frames == report.animation_frames == 50
    assert report.size == (64, 48) and report.bytes == (tmp_path / "same.apng").stat().st_size
    assert report.animation_duration == pytest.approx(2.0, abs=0.01)
    # A GIF against itself (opened as the reference by its path) is identical too.
    gif = clip.write_gif(tmp_path / "levels.gif")
    same = quality(gif.path, gif.path)
    assert same.ssim == pytest.approx(1.0) and same.flip in (0.0, None)


def test_fewer_colours_score_worse(small_testcard):
    clip, gif256, gif4 = small_testcard
    good = quality(clip, gif256, frames=3)
    bad = quality(clip, gif4, frames=3)
    assert good.compared == bad.compared == 3
    assert bad.ssim < good.ssim - 0.05
    assert bad.psnr < good.psnr - 3
    if flip_available():
        assert bad.flip > good.flip + 0.02
    assert bad.bytes < good.bytes


def test_size_mismatch_is_one_clear_line(level_clip, tmp_path):
    clip = gifloop.open(level_clip)
    clip.resize(width=32).write_gif(tmp_path / "half.gif")
    with pytest.raises(InvalidParameterError) as info:
        quality(clip, tmp_path / "half.gif")
    message = str(info.value)
    assert "\n" not in message
    assert "32x24" in message and "64x48" in message and "resize(width=32, height=24)" in message


def test_frames_picks_evenly_spaced_frames(level_clip, tmp_path):
    clip = gifloop.open(level_clip)
    clip.write(tmp_path / "same.apng")
    report = quality(clip, tmp_path / "same.apng", frames=5)
    assert [s.index for s in report.per_frame] == [0, 12, 24, 37, 49]
    assert report.reference_frames == 50 and report.compared == 5
    assert len(quality(clip, tmp_path / "same.apng", frames=500).per_frame) == 50
    for bad in (0, -1, 2.5, True, "3"):
        with pytest.raises(InvalidParameterError, match="frames must be"):
            quality(clip, tmp_path / "same.apng", frames=bad)


def test_the_frame_on_screen_at_each_time_is_compared(level_clip, tmp_path):
    """Uneven frame durations: reference frame j (t = j/25 s) meets the animation frame on screen at t."""
    clip = gifloop.open(level_clip)  # frame j is grey 5*j, 25 fps
    images = [image for _, image in clip.frames()]
    picked, durations_ms = [0, 5, 20, 30], [200, 600, 400, 800]  # start at 0, 0.2, 0.8, 1.2 s
    frames = [Image.fromarray(images[i]) for i in picked]
    path = tmp_path / "uneven.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=durations_ms, loop=0)
    report = quality(clip, path)
    starts = np.cumsum([0] + durations_ms[:-1]) / 1000
    expected = [int(np.searchsorted(starts, j / 25, side="right")) - 1 for j in range(50)]
    assert [s.animation_index for s in report.per_frame] == expected
    exact = {s.index for s in report.per_frame if s.psnr == 100.0}
    assert exact == set(picked)  # where the animation shows the reference's own frame
    assert report.animation_frames == 4 and report.animation_duration == pytest.approx(2.0)


def test_centisecond_rounding_of_gif_delays_is_allowed(level_clip, tmp_path):
    """A 12 fps GIF starts frame k at k/12 rounded to whole centiseconds (up to 5 ms late); it still
    counts as on screen at k/12, so the 12 fps reference meets exactly its own frames."""
    reference = gifloop.open(level_clip).with_fps(12)
    gif = reference.write_gif(tmp_path / "twelve.gif")
    delays = gif_delays_cs(gif.path)
    starts = np.cumsum([0] + delays[:-1]) / 100
    assert max(starts[k] - k / 12 for k in range(len(starts))) > 0.003  # some frames do start late
    report = quality(reference, gif.path)
    assert [s.animation_index for s in report.per_frame] == list(range(report.reference_frames))
    assert report.psnr > 40  # the GIF's own colours, not a neighbouring frame (levels 10 apart: < 30 dB)
    # Against the 25 fps clip, each GIF frame stays on screen for two or three source frames.
    full = quality(gifloop.open(level_clip), gif.path)
    shown = [int(np.searchsorted(starts, j / 25 + 0.006, side="right")) - 1 for j in range(50)]
    assert [s.animation_index for s in full.per_frame] == shown
    assert shown[:8] == [0, 0, 1, 1, 1, 2, 2, 3]  # t = 0.16 s: frame 2 starts at 0.17 s, not yet shown


def test_report_prints_one_line_and_plain_values(level_clip, tmp_path, monkeypatch):
    clip = gifloop.open(level_clip)
    clip.write(tmp_path / "same.apng")
    monkeypatch.setattr(quality_module, "_flip_evaluate", lambda: None)  # as without flip-evaluator
    report = quality(clip, tmp_path / "same.apng", frames=2)
    line = str(report)
    assert "\n" not in line and line.startswith("same.apng: ") and "SSIM 1.0000" in line and "FLIP n/a" in line
    data = report.as_dict()
    assert data["flip"] is None and data["size"] == [64, 48] and "per_frame" not in data
    assert len(report.as_dict(per_frame=True)["per_frame"]) == 2
    with pytest.raises(AttributeError):
        report.ssim = 0.5  # frozen


def test_a_composite_is_a_reference_too(level_clip, tmp_path):
    scene = gifloop.composite([gifloop.open(level_clip)])
    scene.write(tmp_path / "scene.apng")
    report = quality(scene, tmp_path / "scene.apng", frames=4)
    assert report.compared == 4 and report.reference_frames == 50
    assert report.ssim == pytest.approx(1.0) and report.psnr == 100.0
    with pytest.raises(InvalidParameterError, match="Clip, Composite or a video path"):
        quality(42, tmp_path / "scene.apng")
