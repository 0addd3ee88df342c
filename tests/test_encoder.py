"""The GIF pass's choices: dithers, palette strategies, lossy LZW, byte budgets, and their errors."""

import numpy as np
import pytest

import gifloop
from conftest import gif_frames, parse_gif, write_frames
from gifloop.encode import budget as budget_module
from gifloop.encode.budget import parse_size, settings_at
from gifloop.encode.pipeline import GifSettings
from gifloop.errors import InvalidParameterError
from gifloop.quantize.dither import blue_noise_texture, diffuse
from gifloop.quantize.remap import DITHER_METHODS, Remapper
from gifloop.quantize.strategy import _scenes

BW = np.array([[0, 0, 0], [255, 255, 255]], np.uint8)


def test_blue_noise_texture_is_a_permutation_without_low_frequencies():
    tex = blue_noise_texture()
    ranks = np.round((tex + 0.5) * tex.size).astype(int)
    assert sorted(ranks.ravel()) == list(range(tex.size))  # every threshold once
    # Blue noise: 8x8 block averages stay near the middle (white noise would wander ~0.036).
    blocks = tex.reshape(8, 8, 8, 8).mean(axis=(1, 3))
    assert np.abs(blocks).max() < 0.04 and blocks.std() < 0.015
    white = np.random.default_rng(0).permutation(tex.size).reshape(tex.shape) / tex.size - 0.5
    assert blocks.std() < 0.5 * white.reshape(8, 8, 8, 8).mean(axis=(1, 3)).std()


@pytest.mark.parametrize("method", [m for m in DITHER_METHODS if m != "none"])
@pytest.mark.parametrize("level", [32, 64, 128, 192])
def test_every_dither_makes_greys_between_two_colours(method, level):
    grey = np.full((64, 64, 3), level, np.uint8)
    shown = BW[Remapper(BW, dither=method).remap(grey)].mean()
    if method in ("floyd-steinberg", "sierra"):
        assert abs(shown - level) < 4  # error diffusion keeps the average exactly
    else:
        # Ordered dithers pick the perceptually nearest colour of each offset pixel (OKLab), which
        # pulls the average towards the perceptual middle grey; it still follows the level.
        assert level - 10 < shown < level + 30


@pytest.mark.parametrize("method", ["floyd-steinberg", "sierra"])
def test_error_diffusion_keeps_kept_pixels_and_is_deterministic(method):
    rng = np.random.default_rng(1)
    palette = rng.integers(0, 256, (32, 3)).astype(np.uint8)
    remapper = Remapper(palette, dither=method)
    frame = rng.integers(0, 256, (40, 50, 3)).astype(np.uint8)
    first = remapper.remap(frame)
    assert np.array_equal(first, remapper.remap(frame.copy()))
    keep = np.ones(first.shape, bool)
    keep[10:20, 10:30] = False
    moved = frame.copy()
    moved[10:20, 10:30] = 255 - moved[10:20, 10:30]
    second = remapper.remap(moved, keep, first)
    assert np.array_equal(second[keep], first[keep])
    assert not np.array_equal(second[~keep], first[~keep])


def test_error_diffusion_beats_no_dither_on_a_gradient():
    ramp = np.tile(np.linspace(0, 255, 256).astype(np.uint8)[None, :, None], (32, 1, 3))
    palette = np.array([[v, v, v] for v in range(0, 256, 51)], np.uint8)  # 6 greys
    lut = Remapper(palette, dither="none")._lut.complete()
    plain = palette[Remapper(palette, dither="none").remap(ramp)].astype(float)
    sierra = palette[diffuse(ramp, palette, lut, kernel="sierra")].astype(float)
    # Averaged over 8x8 blocks (what the eye does), the diffused ramp is much closer to the source.
    def blur(a):
        return a[..., 0].reshape(4, 8, 32, 8).mean(axis=(1, 3))
    src = blur(ramp.astype(float))
    assert np.abs(blur(sierra) - src).mean() < 0.4 * np.abs(blur(plain) - src).mean()


def test_scenes_split_where_colours_change_and_not_on_motion():
    rng = np.random.default_rng(2)
    warm = [np.clip(rng.normal((200, 80, 40), 20, (40, 60, 3)), 0, 255).astype(np.uint8) for _ in range(6)]
    cold = [np.clip(rng.normal((30, 90, 210), 20, (40, 60, 3)), 0, 255).astype(np.uint8) for _ in range(6)]
    starts, hists = _scenes(warm + cold)
    assert starts == [0, 6] and len(hists) == 2
    moving = [np.roll(warm[0], 5 * i, axis=1) for i in range(10)]  # same colours, moving
    assert _scenes(moving)[0] == [0]


@pytest.fixture(scope="module")
def two_scenes(tmp_path_factory):
    """1 s of a drifting warm ramp then 1 s of a cold one, 10 fps, 64x48."""
    ramp = np.linspace(0, 1, 64)[None, :, None]
    warm = (ramp * (255, 140, 40)).repeat(48, 0)
    cold = (ramp * (40, 150, 255)).repeat(48, 0)
    frames = [np.roll(warm, i, axis=1).astype(np.uint8) for i in range(10)]
    frames += [np.roll(cold, i, axis=1).astype(np.uint8) for i in range(10)]
    return write_frames(tmp_path_factory.mktemp("enc") / "two.mp4", frames, fps=10), frames


def _error(path, frames):
    shown = [f for f, _ in gif_frames(path)]
    assert len(shown) == len(frames)
    return float(np.mean([np.abs(a.astype(int) - b.astype(int)).mean() for a, b in zip(shown, frames)]))


def test_scene_palettes_use_local_tables_and_fit_each_scene_better(tmp_path, two_scenes):
    path, frames = two_scenes
    clip = gifloop.open(path)
    one = clip.write_gif(tmp_path / "g.gif", colors=16, dither="none")
    per_scene = clip.write_gif(tmp_path / "s.gif", colors=16, dither="none", palette="scene")
    tables = [f["local_table"] for f in parse_gif(per_scene.path)["frames"]]
    assert tables[:10] == [0] * 10 and all(t == 16 for t in tables[10:])  # 15 colours + transparency
    assert _error(per_scene.path, frames) < 0.7 * _error(one.path, frames)


def test_a_global_palette_split_in_time_starts_a_palette_every_stretch(tmp_path, two_scenes):
    """``windows`` (the size search's upgrade): equal stretches of frames, each with a palette of its
    own colours; here 4 stretches of 5 frames, so the warm and the cold halves get their own."""
    from gifloop.encode.pipeline import encode_gif

    path, frames = two_scenes
    rendered = gifloop.open(path).render()
    files, encoded = {}, {}
    for windows in (1, 4):
        files[windows] = tmp_path / f"w{windows}.gif"
        with open(files[windows], "wb") as fp:
            encoded[windows] = encode_gif(rendered, fp, GifSettings(colors=16, dither="none", windows=windows))
    tables = [f["local_table"] for f in parse_gif(files[4])["frames"]]
    assert tables[:5] == [0] * 5 and all(t == 16 for t in tables[5:])  # the first stretch's is global
    assert encoded[1].palettes == 1 and encoded[4].palettes == 16  # a local table on each later frame
    assert _error(files[4], frames) < 0.7 * _error(files[1], frames)


def test_palettes_in_turn_count_each_frame_in_the_stretch_that_maps_it():
    """With stretches of unequal length (5 frames in 2), a frame's colours go into the histogram of
    the stretch whose palette maps it (starts [0, 2]: frames 0-1, then 2-4)."""
    from gifloop.quantize.strategy import _windows

    frames = [np.full((2, 2, 3), 40 * i, np.uint8) for i in range(5)]
    starts, histograms = _windows(frames, 2, 5)
    assert starts == [0, 2]
    assert [len(h.exact_colors()[0]) for h in histograms] == [2, 3]


class _SizedByPalettes:
    """A stand-in size search: a redraw level less adds 10 kB, each palette in turn 30 kB."""

    base = GifSettings(dither="floyd-steinberg")

    def __init__(self, budget, frames=20):
        self.budget, self.tried = budget, []
        self.rendered = type("Rendered", (), {"timeline": type("Timeline", (), {"shots": list(range(frames))})})

    def full_with(self, settings):
        self.tried.append((settings.tolerance, settings.windows))
        return b"x" * (60_000 + 10_000 * (2 - settings.tolerance) + 30_000 * settings.windows), None


@pytest.mark.parametrize("budget, windows, tries", [
    (200_000, 4, 3),  # 4 palettes fit: one try settles it
    (175_000, 3, 5),  # 4 too many, 2 below the window, 3 in it
    (145_000, 2, 4),  # 4 too many, 2 in the window
    (125_000, 1, 4),  # not even 2
])
def test_room_left_after_redrawing_every_change_goes_to_palettes_in_turn(budget, windows, tries):
    search = _SizedByPalettes(budget)
    asked = search.full_with(search.base)
    data, settings, _ = budget_module._upgrade(search, search.base, (asked[0], search.base, None))
    assert settings.tolerance == 0 and settings.windows == windows and len(data) <= budget
    assert len(search.tried) - 1 == tries


@pytest.mark.parametrize("frames, windows", [(1, 1), (3, 3)])
def test_no_more_palettes_in_turn_than_frames(frames, windows):
    search = _SizedByPalettes(10 ** 6, frames)
    _, settings, _ = budget_module._upgrade(search, search.base, (b"x", search.base, None))
    assert settings.windows == windows


def test_frame_palettes_and_differencing_by_colour(tmp_path, still_scene):
    out = gifloop.open(still_scene).write_gif(tmp_path / "f.gif", palette="frame", colors=32)
    info = parse_gif(out.path)
    assert all(f["local_table"] for f in info["frames"][1:])
    # Only the walking square's neighbourhood is stored after the first frame, though every frame
    # has its own palette: the still background is compared by colour and left transparent.
    w, h = info["size"]
    assert all(f["rect"][2] * f["rect"][3] < 0.3 * w * h for f in info["frames"][1:])


@pytest.mark.parametrize("dither", ["floyd-steinberg", "sierra"])
def test_error_diffused_gif_stores_only_what_moves(tmp_path, still_scene, dither):
    out = gifloop.open(still_scene).write_gif(tmp_path / "d.gif", dither=dither)
    info = parse_gif(out.path)
    w, h = info["size"]
    assert all(f["rect"][2] * f["rect"][3] < 0.3 * w * h for f in info["frames"][1:])


def test_lossy_shrinks_a_noisy_gif_and_stays_close(tmp_path, sample_clip):
    clip = gifloop.open(sample_clip).resize(width=240)
    exact = clip.write_gif(tmp_path / "0.gif")
    lossy = clip.write_gif(tmp_path / "60.gif", lossy=60)
    assert lossy.bytes < 0.85 * exact.bytes
    reference = [f.image[..., :3] for f in clip.frames()]
    assert _error(lossy.path, reference) < _error(exact.path, reference) + 4


def test_max_size_lands_within_the_budget(tmp_path, sample_clip):
    clip = gifloop.open(sample_clip)
    full = clip.write_gif(tmp_path / "full.gif")
    budget = int(full.bytes * 0.4)
    fitted = clip.write_gif(tmp_path / "fit.gif", max_size=budget)
    assert 0.95 * budget <= fitted.bytes <= budget, (fitted.bytes, budget)
    assert fitted.settings != full.settings
    assert fitted.bytes == (tmp_path / "fit.gif").stat().st_size


def test_max_size_with_room_to_spare_spends_it_on_accuracy(tmp_path, sample_clip):
    out = gifloop.open(sample_clip).write_gif(tmp_path / "l.gif", max_size="5MB")
    # every change redrawn, and the palette renewed in time as often as the search goes
    assert out.settings == GifSettings(dither="floyd-steinberg", tolerance=0, windows=4) and out.bytes < 5e6
    assert "4 palettes in turn" in out.settings.describe()


def test_max_size_keeps_a_dither_asked_for(tmp_path, sample_clip):
    out = gifloop.open(sample_clip).write_gif(tmp_path / "l.gif", max_size="5MB", dither="bayer")
    assert out.settings.dither == "bayer"


def test_impossible_budget_is_one_clear_error_and_no_file(tmp_path, sample_clip):
    with pytest.raises(InvalidParameterError, match=r"cannot fit this clip in 2 kB.*allow more bytes"):
        gifloop.open(sample_clip).write_gif(tmp_path / "x.gif", max_size="2kB")
    assert not (tmp_path / "x.gif").exists()


@pytest.mark.parametrize("options, message", [
    (dict(colors=1), "colors must be a whole number from 2 to 256"),
    (dict(colors=300), "colors must be a whole number from 2 to 256"),
    (dict(dither="atkinson"), "unknown dither 'atkinson'; choose one of bayer, blue-noise, floyd-steinberg"),
    (dict(palette="best"), "unknown palette strategy 'best'; choose one of global, scene, frame"),
    (dict(lossy=500), "lossy must be a whole number from 0"),
    (dict(max_size="two megs"), "cannot read the size 'two megs'; write it like 2MB"),
    (dict(max_size=10), "too small"),
])
def test_bad_encoder_options_fail_before_any_work(tmp_path, level_clip, options, message):
    with pytest.raises(InvalidParameterError, match=message):
        gifloop.open(level_clip).write_gif(tmp_path / "bad.gif", **options)
    assert not (tmp_path / "bad.gif").exists()


def test_sizes_parse_in_decimal_and_binary_units():
    assert parse_size("2MB") == 2_000_000 and parse_size("2 MiB") == 2 * 1024 ** 2
    assert parse_size("800kB") == 800_000 and parse_size(" 1.5mb ") == 1_500_000


def test_budget_path_gets_smaller_settings_as_it_goes():
    base = GifSettings()
    path = [settings_at(q, base, (640, 360)) for q in np.linspace(0, 1, 11)]
    assert path[0] == base
    tolerance = [s.tolerance for s in path]
    assert tolerance[:3] == [2, 4, 4] and tolerance == sorted(tolerance)  # redraw tolerance first,
    assert path[1].lossy == 0 and path[3].lossy > 0  # then lossy
    lossy = [s.lossy for s in path]
    scale = [s.scale for s in path]
    assert lossy == sorted(lossy) and scale == sorted(scale, reverse=True)
    assert path[-1].frame_step == 2 and path[-1].colors == 128


def test_writer_charges_each_frame_its_bytes(tmp_path):
    import io

    from gifloop.encode.pipeline import encode_gif

    rng = np.random.default_rng(4)
    background = rng.integers(0, 256, (60, 80, 3)).astype(np.uint8)
    frames = []
    for i in range(10):
        image = background.copy()
        image[20:30, 5 * min(i, 5): 5 * min(i, 5) + 10] = 255  # still from frame 5 on
        frames.append(image)
    source = write_frames(tmp_path / "s.mp4", frames, fps=10, codec="libx264rgb", pix_fmt="rgb24",
                          options={"qp": "0", "preset": "ultrafast"})
    rendered = gifloop.open(source).render()
    buffer = io.BytesIO()
    encoded = encode_gif(rendered, buffer, GifSettings())
    sizes = encoded.frame_bytes
    assert len(sizes) == len(rendered.timeline.shots)
    header = 13 + 3 * 256 + 19  # screen descriptor, colour table, loop block
    assert sum(sizes) + header + 1 == buffer.tell()  # + the trailer
    assert sizes[0] > 10 * max(sizes[1:])  # the whole first frame, then only the walking square
    assert sizes[6:] == (0,) * 4  # frames merged into the one before cost nothing


def test_size_estimate_of_a_still_scene_is_not_fooled_by_the_sample_runs(tmp_path):
    """A big still picture with a small moving square: the sample's runs each start with a costly
    frame, which a plain average would count again and again."""
    rng = np.random.default_rng(9)
    background = rng.integers(0, 256, (120, 200, 3)).astype(np.uint8)
    frames = []
    for i in range(90):
        image = background.copy()
        image[50:62, 2 * i: 2 * i + 12] = (250, 250, 250)
        frames.append(image)
    source = write_frames(tmp_path / "still.mp4", frames, fps=30, codec="libx264rgb", pix_fmt="rgb24",
                          options={"qp": "0", "preset": "ultrafast"})
    rendered = gifloop.open(source).render()
    search = budget_module._Search(rendered, 10 ** 6, GifSettings(), 0)
    assert len(search.sample) < len(rendered.timeline.shots)
    real = len(search.full(0.0)[0])
    assert 0.8 * real < search.estimate(0.0) < 1.25 * real, (search.estimate(0.0), real)


class _SizedByStrength:
    """A stand-in size search: a file's bytes grow with dither strength, and a lossy step jumps."""

    budget = 100_000

    def __init__(self):
        self.tried = []

    def full_with(self, settings):
        self.tried.append(settings.dither_strength)
        size = int(60_000 + 45_000 * settings.dither_strength) - 20_000 * settings.lossy
        return b"x" * size, None


def test_a_gentler_dither_closes_a_gap_one_lossy_step_jumps_over():
    search = _SizedByStrength()
    over = GifSettings(dither="floyd-steinberg", lossy=0)  # 105,000 bytes: too big
    fits = (b"x" * 85_000, over.with_(lossy=1), None)  # one lossy step: 85 %, below the window
    data, settings, _ = budget_module._soften(search, over, fits)
    assert 0.95 * search.budget <= len(data) <= search.budget
    assert settings.lossy == 0 and 0.33 < settings.dither_strength < 1
    assert len(search.tried) <= budget_module._TUNE_TRIES


def test_no_dither_means_nothing_to_soften():
    search = _SizedByStrength()
    fits = (b"x" * 85_000, GifSettings(dither="none", lossy=1), None)
    assert budget_module._soften(search, GifSettings(dither="none"), fits) is fits and not search.tried


class _SizedByTolerance:
    """A stand-in size search: each redraw level saves 15 kB, each lossy step 3 kB."""

    budget = 100_000
    base = GifSettings(dither="floyd-steinberg")

    def __init__(self):
        self.tried = []

    def full_with(self, settings):
        self.tried.append((settings.tolerance, settings.lossy))
        return b"x" * (160_000 - 15_000 * settings.tolerance - 3_000 * settings.lossy), None


def test_one_redraw_level_less_with_more_lossiness_wins_when_it_fills_more():
    search = _SizedByTolerance()
    best = (b"x" * 91_000, search.base.with_(tolerance=4, lossy=3), None)  # as the search found it
    data, settings, _ = budget_module._last_level_lossy(search, best)  # tolerance 3 alone: 115 kB
    assert (settings.tolerance, settings.lossy, len(data)) == (3, 5, 100_000)  # lossy 4 is 103 kB
    assert search.tried[0] == (3, 5) and len(search.tried) <= budget_module._TUNE_TRIES


def test_the_last_redraw_level_is_kept_when_nothing_else_fits_better():
    search = _SizedByTolerance()
    first = (b"x" * 97_000, search.base.with_(tolerance=3, lossy=1), None)  # lossy with the first raise
    assert budget_module._last_level_lossy(search, first) is first and not search.tried
    plain = (b"x" * 70_000, search.base.with_(tolerance=4), None)  # no lossiness to trade
    assert budget_module._last_level_lossy(search, plain) is plain and not search.tried
    scaled = (b"x" * 97_000, search.base.with_(tolerance=4, lossy=30, scale=0.8), None)  # past the lossy stretch
    assert budget_module._last_level_lossy(search, scaled) is scaled and not search.tried


def test_clips_with_few_colours_keep_them_exactly(tmp_path):
    """A B/W film has at most 256 greys: with as many palette entries the GIF should be lossless."""
    ramp = np.linspace(0, 255, 200).astype(np.uint8)  # 200 greys
    frames = [np.repeat(np.roll(ramp, 7 * i)[None, :, None], 40, 0).repeat(3, 2) for i in range(10)]
    source = write_frames(tmp_path / "greys.mp4", frames, fps=10, codec="libx264rgb", pix_fmt="rgb24",
                          options={"qp": "0", "preset": "ultrafast"})
    clip = gifloop.open(source)
    reference = [f.image[..., :3] for f in clip.frames()]
    out = clip.write_gif(tmp_path / "g.gif")
    assert out.colors == 200
    assert _error(out.path, reference) == 0


def test_exact_colours_are_given_up_past_the_limit():
    from gifloop.quantize.palette import ColorHistogram

    hist = ColorHistogram()
    hist.add(np.full((30, 30, 3), 7, np.uint8))
    assert len(hist.exact_colors()[0]) == 1
    hist.add(np.random.default_rng(0).integers(0, 256, (60, 60, 3)).astype(np.uint8))  # 400 sampled colours
    assert hist.exact_colors() is None
