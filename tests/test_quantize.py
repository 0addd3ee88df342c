import numpy as np

from gifloop.quantize.colorspace import oklab_to_srgb, srgb_cube_to_oklab, srgb_to_oklab
from gifloop.quantize.palette import ColorHistogram, plan_palette
from gifloop.quantize.remap import Remapper


def test_a_cube_of_colours_converts_as_each_colour_does():
    levels = np.array([0, 3, 17, 128, 200, 255])
    r, g, b = np.meshgrid(levels, levels, levels, indexing="ij")
    each = srgb_to_oklab(np.stack([r, g, b], -1).reshape(-1, 3))
    assert np.allclose(srgb_cube_to_oklab(levels), each, rtol=0, atol=1e-14)


def test_oklab_round_trip_is_exact_on_8_bit_colours():
    rgb = np.random.default_rng(0).integers(0, 256, (5000, 3)).astype(np.uint8)
    assert np.array_equal(oklab_to_srgb(srgb_to_oklab(rgb)), rgb)


def test_few_colours_are_kept_within_histogram_precision():
    image = np.zeros((30, 30, 3), np.uint8)
    image[:10] = (200, 30, 30)
    image[10:20] = (20, 180, 40)
    image[20:] = (250, 250, 250)
    hist = ColorHistogram()
    hist.add(image)
    palette = plan_palette(hist, 16)
    assert len(palette) == 3
    for colour in ((200, 30, 30), (20, 180, 40), (250, 250, 250)):
        assert np.abs(palette.astype(int) - colour).max(axis=1).min() <= 2


def test_palette_size_is_respected_and_covers_a_gradient():
    x = np.linspace(0, 255, 256, dtype=np.uint8)
    image = np.stack(np.meshgrid(x, x), -1)
    image = np.concatenate([image, np.full((256, 256, 1), 128, np.uint8)], -1)
    hist = ColorHistogram()
    hist.add(image)
    palette = plan_palette(hist, 64)
    assert 32 <= len(palette) <= 64
    indices = Remapper(palette, dither="none").remap(image)
    error = np.abs(palette[indices].astype(int) - image).mean()
    assert error < 12


def test_ordered_dither_is_stable_and_keeps_the_mean_colour():
    palette = np.array([[0, 0, 0], [255, 255, 255]], np.uint8)
    grey = np.full((64, 64, 3), 64, np.uint8)
    remapper = Remapper(palette, dither="bayer", strength=2.0)
    a, b = remapper.remap(grey), remapper.remap(grey.copy())
    assert np.array_equal(a, b)  # same input, same output: nothing flickers
    plain = Remapper(palette, dither="none").remap(grey)
    assert palette[plain].mean() == 0  # without dither, grey 64 collapses to black
    assert 20 < palette[a].mean() < 110  # with it, the average stays near 64


def test_exact_palette_colours_map_to_themselves():
    palette = np.array([[10, 20, 30], [200, 100, 50], [0, 255, 0]], np.uint8)
    image = palette[np.array([[0, 1, 2], [2, 1, 0]])]
    for method in ("none", "floyd-steinberg"):
        assert np.array_equal(Remapper(palette, dither=method).remap(image), [[0, 1, 2], [2, 1, 0]])
