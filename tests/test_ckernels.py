"""The small C kernels of the encoder against plain numpy versions of the same rules.

Each numpy reference below is the code the kernel replaced (nearest colour: brute force; frame
differencing and ordered remapping: the former numpy steps of gif.py and remap.py), so these
tests pin the kernels to the old results on random and structured inputs, including the edges
(ties, one centre, tolerance, no transparency, clipping at 0 and 255, a table filled lazily).
"""

import numpy as np
import pytest

from gifloop.encode._cdiff import difference, hold_still
from gifloop.quantize import remap as remap_module
from gifloop.quantize import palette as palette_module
from gifloop.quantize._ckernels import count_colours, median_cut, remap_ordered
from gifloop.quantize.palette import ColorHistogram
from gifloop.quantize.dither import bayer_texture
from gifloop.quantize.nearest import nearest
from gifloop.quantize.remap import Remapper

# -- colour counting -----------------------------------------------------------------------------


def numpy_histogram(frames, step=3, alpha_cut=128, limit=256):
    """What ColorHistogram counted in NumPy before its C pass: 6-bit bins of every ``step``-th
    pixel of every ``step``-th row (opaque ones), and the exact colours while there are <= limit."""
    counts, exact = np.zeros(1 << 18, np.int64), {}
    for image in frames:
        sample = image[::step, ::step]
        rgb = sample[..., :3].reshape(-1, 3).astype(np.int64)
        if image.shape[-1] == 4:
            rgb = rgb[sample[..., 3].reshape(-1) >= alpha_cut]
        q = rgb >> 2
        counts += np.bincount((q[:, 0] << 12) | (q[:, 1] << 6) | q[:, 2], minlength=1 << 18)
        if exact is not None:
            keys, n = np.unique((rgb[:, 0] << 16) | (rgb[:, 1] << 8) | rgb[:, 2], return_counts=True)
            for key, c in zip(keys.tolist(), n.tolist()):
                exact[key] = exact.get(key, 0) + c
            if len(exact) > limit:
                exact = None
    return counts, exact


@pytest.mark.parametrize("kind", ["few colours", "many colours", "alpha", "padded rows", "crossing the limit"])
def test_colour_counting_matches_numpy(kind):
    rng = np.random.default_rng(len(kind))
    if kind == "few colours":  # 200 greys: tracked exactly throughout
        frames = [np.repeat(rng.integers(0, 200, (37, 53, 1), dtype=np.uint8), 3, axis=2) for _ in range(5)]
    elif kind == "many colours":
        frames = [rng.integers(0, 256, (40, 61, 3), dtype=np.uint8) for _ in range(3)]
    elif kind == "alpha":
        frames = [rng.integers(0, 256, (31, 29, 4), dtype=np.uint8) // 40 * 40 for _ in range(3)]
    elif kind == "padded rows":  # PyAV's RGBA rows: wider than the picture
        frames = [rng.integers(0, 256, (30, 48, 4), dtype=np.uint8)[:, :41] // 64 * 64 for _ in range(3)]
    else:  # exact for two frames (250 colours), then one more frame brings 10 new: no longer exact
        palette = rng.choice(1 << 24, 260, replace=False)
        def frame(keys):
            px = rng.choice(keys, (21, 21))
            return np.stack([px >> 16, (px >> 8) & 255, px & 255], -1).astype(np.uint8)
        frames = [frame(palette[:250]), frame(palette[:250]), frame(palette)]
    hist = ColorHistogram()
    for k, image in enumerate(frames):
        hist.add(image)
        want_counts, want_exact = numpy_histogram(frames[:k + 1])
        assert np.array_equal(hist.counts, want_counts)
        got = hist.exact_colors()
        if want_exact is None:
            assert got is None
        else:
            colours, counts = got
            keys = (colours[:, 0].astype(np.int64) << 16) | (colours[:, 1].astype(np.int64) << 8) | colours[:, 2]
            assert keys.tolist() == sorted(want_exact) and counts.tolist() == [want_exact[x] for x in sorted(want_exact)]


def test_colour_counting_refuses_bad_buffers():
    hist = ColorHistogram()
    with pytest.raises(ValueError, match="count_colours: rgb"):
        hist.add(np.zeros((4, 4), np.uint8))
    with pytest.raises(ValueError, match="count_colours: step"):
        count_colours(np.zeros((4, 4, 3), np.uint8), 0, 128, hist.counts, hist._keys, hist._key_counts, 0)


# -- median cut --------------------------------------------------------------------------------


def numpy_median_cut(points, weights, count):
    """The NumPy median cut palette.py ran before its C kernel: the reference, step for step."""
    def mean(pts, w):
        return (pts * w[:, None]).sum(axis=0) / w.sum()

    def spread(members):
        if len(members) < 2:
            return 0.0
        w, pts = weights[members], points[members]
        return float(np.sum(w[:, None] * (pts - mean(pts, w)) ** 2))

    boxes = [np.arange(len(points))]
    scores = [spread(boxes[0])]
    while len(boxes) < count:
        i = int(np.argmax(scores))
        if scores[i] <= 0:
            break
        members = boxes[i]
        pts = points[members]
        axis = int(np.argmax(pts.max(0) - pts.min(0)))
        order = members[np.argsort(pts[:, axis], kind="stable")]
        cum = np.cumsum(weights[order])
        cut = min(max(int(np.searchsorted(cum, cum[-1] / 2)), 1), len(order) - 1)
        boxes[i], scores[i] = order[:cut], spread(order[:cut])
        boxes.append(order[cut:])
        scores.append(spread(order[cut:]))
    return np.array([mean(points[b], weights[b]) for b in boxes])


@pytest.mark.parametrize("seed, n, count", [(0, 5000, 255), (1, 300, 64), (2, 40, 255), (3, 1, 16), (4, 2000, 1),
                                            (5, 129, 2), (6, 7, 7)])
def test_median_cut_is_the_numpy_median_cut_bit_for_bit(seed, n, count):
    """Random weighted points, and points on a coarse grid (ties along every axis, equal extents,
    equal scores): the same boxes in the same order, with identical means."""
    rng = np.random.default_rng(seed)
    for points in (rng.random((n, 3)) * [1, 0.4, 0.4] - [0, 0.2, 0.2], rng.integers(0, 4, (n, 3)) / 4.0):
        weights = rng.integers(1, 1000, n).astype(np.float64) * rng.random()
        got = palette_module._median_cut(points, weights, count)
        assert np.array_equal(got, numpy_median_cut(points, weights, count))


def test_median_cut_stops_when_no_box_can_split():
    points = np.repeat([[0.5, 0.0, 0.0], [0.2, 0.1, 0.0]], 50, axis=0)
    got = palette_module._median_cut(points, np.ones(100), 255)
    assert 2 <= len(got) < 20  # boxes of one colour have no spread: splitting ends long before 255
    assert np.array_equal(got, numpy_median_cut(points, np.ones(100), 255))


def test_median_cut_refuses_bad_buffers():
    out = np.empty((4, 3))
    with pytest.raises(ValueError, match="median_cut: points"):
        median_cut(np.zeros((5, 2)), np.ones(5), 4, out)
    with pytest.raises(ValueError, match="median_cut: out"):
        median_cut(np.zeros((5, 3)), np.ones(5), 5, out)
    with pytest.raises(ValueError, match="needs a point"):
        median_cut(np.zeros((0, 3)), np.ones(0), 4, out)



# -- nearest -----------------------------------------------------------------------------------


def brute_nearest(points, centres):
    d2 = ((points[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)
    return d2.argmin(axis=1), d2.min(axis=1)  # argmin: the lowest index among ties


@pytest.mark.parametrize("k", [1, 2, 7, 256])
def test_nearest_matches_brute_force(k):
    rng = np.random.default_rng(k)
    centres = rng.random((k, 3))
    points = rng.random((5000, 3))
    index, dist2 = nearest(points, centres)
    want_index, want_dist2 = brute_nearest(points, centres)
    assert np.array_equal(index, want_index)
    assert np.allclose(dist2, want_dist2, rtol=0, atol=1e-15)


def test_nearest_breaks_ties_towards_the_lower_index():
    # Duplicated centres and points exactly between two centres.
    centres = np.array([[0.5, 0, 0], [0.0, 0, 0], [1.0, 0, 0], [0.0, 0, 0], [0.5, 0, 0]])
    points = np.array([[0.0, 0, 0], [0.25, 0, 0], [0.5, 0, 0], [0.75, 0, 0], [0.0, 1, 0]])
    index, _ = nearest(points, centres)
    assert index.tolist() == [1, 0, 0, 0, 1]
    assert np.array_equal(index, brute_nearest(points, centres)[0])


def test_nearest_on_a_grid_of_integer_colours_with_many_ties():
    rng = np.random.default_rng(3)
    centres = rng.integers(0, 4, (40, 3)).astype(np.float64)  # many equal distances
    points = rng.integers(0, 4, (2000, 3)).astype(np.float64) + 0.5
    assert np.array_equal(nearest(points, centres)[0], brute_nearest(points, centres)[0])


def test_nearest_with_no_points_and_bad_input():
    index, dist2 = nearest(np.zeros((0, 3)), np.zeros((3, 3)))
    assert index.shape == dist2.shape == (0,)
    with pytest.raises(ValueError, match="at least one centre"):
        nearest(np.zeros((2, 3)), np.zeros((0, 3)))


# -- frame differencing ------------------------------------------------------------------------


def numpy_difference(indices, colours, canvas, packed, shown, tolerance, transparent_index):
    """gif.py's former numpy steps; returns (result, patch) and updates canvas/shown in place."""
    frame = colours[indices]
    changed = frame != canvas
    if tolerance and packed is not None and shown is not None:
        a, b = packed.view(np.uint8).reshape(*packed.shape, 4), shown.view(np.uint8).reshape(*shown.shape, 4)
        changed &= (np.maximum(a, b) - np.minimum(a, b) > tolerance).any(axis=2)
    rows, cols = np.flatnonzero(changed.any(axis=1)), np.flatnonzero(changed.any(axis=0))
    if rows.size == 0:
        return None, None
    x0, y0, x1, y1 = int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1
    region = changed[y0:y1, x0:x1]
    patch = indices[y0:y1, x0:x1]
    transparent = transparent_index >= 0 and not region.all()
    if transparent:
        patch = np.where(region, patch, np.uint8(transparent_index))
        np.copyto(canvas, frame, where=changed)
        if shown is not None and packed is not None:
            np.copyto(shown, packed, where=changed)
    else:
        canvas[y0:y1, x0:x1] = frame[y0:y1, x0:x1]
        if shown is not None and packed is not None:
            shown[y0:y1, x0:x1] = packed[y0:y1, x0:x1]
    return (x0, y0, x1, y1, transparent), patch


def numpy_under(result, patch, colours, canvas, transparent_index):
    """What is on screen under each transparent pixel of the box, as the first index of that colour."""
    none = max(transparent_index, 0)
    x0, y0, x1, y1, transparent = result
    under = np.full(patch.shape, none, np.uint8)
    if transparent:
        for (y, x), value in np.ndenumerate(patch):
            found = np.flatnonzero(colours == canvas[y0 + y, x0 + x])
            if value == transparent_index and found.size:
                under[y, x] = found[0]
    return under


def run_both(indices, colours, canvas, packed, shown, tolerance, transparent_index):
    h, w = indices.shape
    canvas_c, shown_c = canvas.copy(), None if shown is None else shown.copy()
    patch, under = np.empty(h * w, np.uint8), np.empty(h * w, np.uint8)
    source = None
    if packed is not None:  # as PyAV hands frames over: RGBA rows padded to a wider stride
        padded = np.zeros((h, w + 5, 4), np.uint8)
        padded[:, :w] = packed.view(np.uint8).reshape(h, w, 4)
        source = padded[:, :w]
    got = difference(indices, colours, canvas_c, source, shown_c, tolerance, transparent_index, w, patch, under)
    want, want_patch = numpy_difference(indices, colours, canvas, packed, shown, tolerance, transparent_index)
    assert got == want
    if got is not None:
        x0, y0, x1, y1, _ = got
        shape = (y1 - y0, x1 - x0)
        assert np.array_equal(patch[: shape[0] * shape[1]].reshape(shape), want_patch)
        want_under = numpy_under(got, want_patch, colours, canvas, transparent_index)
        assert np.array_equal(under[: shape[0] * shape[1]].reshape(shape), want_under)
    assert np.array_equal(canvas_c, canvas)
    if shown is not None:
        assert np.array_equal(shown_c, shown)
    return got


@pytest.mark.parametrize("tolerance", [0, 1, 2, 40])
@pytest.mark.parametrize("transparent_index", [-1, 200])
@pytest.mark.parametrize("with_source", [True, False])
def test_difference_matches_numpy(tolerance, transparent_index, with_source):
    rng = np.random.default_rng(tolerance * 7 + transparent_index + 1)
    h, w = 37, 53
    colours = rng.integers(0, 1 << 24, 200).astype(np.uint32)
    colours[5] = colours[6]  # two indices with the same colour: changing between them is no change
    indices = rng.integers(0, 200, (h, w)).astype(np.uint8)
    canvas = colours[indices].copy()
    canvas[12, 7:9] = 1 << 25  # on screen, but in no palette entry (an older palette's colour)
    new = indices.copy()
    new[10:20, 5:30] = rng.integers(0, 200, (10, 25))  # a changed block ...
    new[3, 40] = 5 if indices[3, 40] != 5 else 6  # ... a lone pixel ...
    new[new == 5] = 6  # ... and same-colour swaps
    packed = rng.integers(0, 1 << 32, (h, w), dtype=np.uint64).astype(np.uint32)
    shown = packed.copy()
    # Source colours that moved by 0-3 levels in one byte here and there.
    nudged = shown.view(np.uint8).reshape(h, w, 4)
    nudged[::3, ::2, 1] = np.clip(nudged[::3, ::2, 1].astype(int) + rng.integers(-3, 4, nudged[::3, ::2, 1].shape),
                                  0, 255)
    source = (packed, shown) if with_source else (None, None)
    result = run_both(new, colours, canvas, *source, tolerance, transparent_index)
    if tolerance < 3 or not with_source:
        assert result is not None


def test_difference_no_change_and_whole_frame():
    colours = np.arange(4, dtype=np.uint32) * 1000
    indices = np.tile(np.arange(4, dtype=np.uint8), (3, 2))
    canvas = colours[indices].copy()
    assert run_both(indices, colours, canvas, None, None, 0, 4) is None
    assert run_both((indices + 1) % 4, colours, canvas, None, None, 0, 4) == (0, 0, 8, 3, False)


def test_difference_under_names_the_colour_on_screen():
    """Under each transparent pixel: the index whose colour is on screen (the first of equal ones),
    or the transparent index when no index has it; drawn pixels get the transparent index."""
    colours = np.array([10, 20, 30, 40, 20], np.uint32)  # 4 repeats 1's colour
    canvas = np.array([[10, 20, 99, 40], [10, 10, 10, 10]], np.uint32)  # 99: an older palette's colour
    new = np.array([[0, 4, 2, 0], [1, 1, 1, 1]], np.uint8)
    source = np.zeros((2, 4, 4), np.uint8)
    shown = source.reshape(-1, 4).view(np.uint32).reshape(2, 4).copy()
    source[1] = source[0, 3] = 50  # these sources moved; (0, 2) changed colour but its source did not
    patch, under = np.empty(8, np.uint8), np.empty(8, np.uint8)
    got = difference(new, colours, canvas, source, shown, 5, 5, 4, patch, under)
    assert got == (0, 0, 4, 2, True)
    np.testing.assert_array_equal(patch.reshape(2, 4), [[5, 5, 5, 0], [1, 1, 1, 1]])
    np.testing.assert_array_equal(under.reshape(2, 4), [[0, 1, 5, 5], [5, 5, 5, 5]])


def test_difference_rejects_mismatched_buffers():
    colours = np.arange(4, dtype=np.uint32)
    indices = np.zeros((4, 4), np.uint8)
    with pytest.raises(ValueError, match="canvas"):
        difference(indices, colours, np.zeros(15, np.uint32), None, None, 0, 4, 4, np.empty(16, np.uint8))
    with pytest.raises(ValueError, match="source must be"):
        difference(indices, colours, np.zeros(16, np.uint32), np.zeros((4, 4, 3), np.uint8), None, 0, 4, 4,
                   np.empty(16, np.uint8))
    with pytest.raises(ValueError, match="only 4 colours"):
        difference(indices + 9, colours, np.zeros(16, np.uint32), None, None, 0, 4, 4, np.empty(16, np.uint8))
    with pytest.raises(ValueError, match="under"):
        difference(indices, colours, np.zeros(16, np.uint32), None, None, 0, 4, 4, np.empty(16, np.uint8),
                   np.empty(15, np.uint8))


@pytest.mark.parametrize("tolerance", [0, 2, 9])
def test_hold_still_matches_numpy(tolerance):
    rng = np.random.default_rng(tolerance)
    h, w = 23, 31
    shown = rng.integers(0, 1 << 32, (h, w), dtype=np.uint64).astype(np.uint32)
    source = np.zeros((h, w + 3, 4), np.uint8)[:, :w]  # padded rows, as decoded frames have
    source[:] = shown.view(np.uint8).reshape(h, w, 4)
    source[::2, ::3, rng.integers(0, 4)] += rng.integers(0, 12, source[::2, ::3, 0].shape).astype(np.uint8)
    a, b = source.astype(int), shown.view(np.uint8).reshape(h, w, 4).astype(int)
    want_keep = ~(np.abs(a - b) > tolerance).any(axis=2)
    want_shown = np.where(want_keep, shown, np.ascontiguousarray(source).view(np.uint32)[..., 0])
    keep = np.empty((h, w), bool)
    hold_still(source, shown, tolerance, keep)
    assert np.array_equal(keep, want_keep) and np.array_equal(shown, want_shown)
    assert (~keep).any() and keep.any()


# -- ordered remapping -------------------------------------------------------------------------


def own_table(remapper: Remapper) -> Remapper:
    """The remapper with a lookup table of its own (remappers of one palette share theirs), so a
    reference computation cannot read what the kernel under test filled."""
    remapper._lut = remap_module._LazyTable(remapper.palette)
    return remapper


def cell_index(r, g, b):
    return ((r >> 2) << 12) | ((g >> 2) << 6) | (b >> 2)


def table_lookup(remapper: Remapper, cells: np.ndarray) -> np.ndarray:
    table = remapper._lut.table
    missing = table[cells] < 0
    if missing.any():
        remapper._lut.fill(np.unique(cells[missing]))
    return table[cells].astype(np.uint8)


def numpy_ordered(remapper: Remapper, image: np.ndarray) -> np.ndarray:
    """remap.py's former numpy steps of an ordered dither (or none)."""
    r, g, b = (image[..., c].astype(np.int32) for c in range(3))
    nearest_index = table_lookup(remapper, cell_index(r, g, b))
    if remapper.dither == "none":
        return nearest_index
    tile = remapper._tile()
    h, w = image.shape[:2]
    reps = (-(-h // tile.shape[0]), -(-w // tile.shape[1]))
    offset = remapper._amplitude[nearest_index] * np.tile(tile, reps)[:h, :w]
    offset >>= 8
    for plane in (r, g, b):
        plane += offset
        np.clip(plane, 0, 255, out=plane)
    return table_lookup(remapper, cell_index(r, g, b))


@pytest.mark.parametrize("dither", ["bayer", "blue-noise", "none"])
@pytest.mark.parametrize("channels", [3, 4])
def test_ordered_remap_matches_numpy(dither, channels):
    rng = np.random.default_rng(len(dither) + channels)
    palette = rng.integers(0, 256, (64, 3)).astype(np.uint8)
    palette[:2] = [[0, 0, 0], [255, 255, 255]]
    # A gradient (clipping at both ends), noise, and a view with padded rows (a crop of a wider frame).
    y, x = np.mgrid[0:70, 0:150]
    wide = np.zeros((70, 150, channels), np.uint8)
    wide[..., 0] = x * 255 // 149
    wide[..., 1] = y * 255 // 69
    wide[..., 2] = rng.integers(0, 256, (70, 150))
    image = wide[5:65, 7:137]  # rows padded: strides[0] != width * channels
    got = own_table(Remapper(palette, dither)).remap(image)  # fills the lazy table as it goes
    want = numpy_ordered(own_table(Remapper(palette, dither)), np.ascontiguousarray(image))
    assert got.dtype == np.uint8 and got.shape == image.shape[:2]
    assert np.array_equal(got, want)


def test_ordered_remap_rejects_bad_buffers():
    table = np.zeros(1 << 18, np.int16)
    amplitude = np.zeros(4, np.int32)
    tile = np.ascontiguousarray(np.round(bayer_texture(8) * 256).astype(np.int32))
    out = np.empty((2, 2), np.uint8)
    grid, centres = remap_module._grid_oklab(), np.zeros((4, 3))
    with pytest.raises(ValueError, match="rgb must be"):
        remap_ordered(np.zeros((2, 2, 2), np.uint8), table, amplitude, tile, 8, out, grid, centres)
    with pytest.raises(ValueError, match="wrong size"):
        remap_ordered(np.zeros((2, 2, 3), np.uint8), table[:-1], amplitude, tile, 8, out, grid, centres)
    with pytest.raises(ValueError, match="wrong size"):  # amplitude and centres disagree on the palette
        remap_ordered(np.zeros((2, 2, 3), np.uint8), table, amplitude[:3], tile, 8, out, grid, centres)
    table[0] = 9  # names a colour beyond the 4 of the palette
    with pytest.raises(ValueError, match="palette lacks"):
        remap_ordered(np.zeros((2, 2, 3), np.uint8), table, amplitude, tile, 8, out, grid, centres)


def test_ordered_remap_fills_the_table_as_the_numpy_lookup_would():
    rng = np.random.default_rng(11)
    palette = rng.integers(0, 256, (100, 3)).astype(np.uint8)
    image = rng.integers(0, 256, (40, 60, 3)).astype(np.uint8)
    compiled = own_table(Remapper(palette, "bayer"))
    compiled.remap(image)
    filled = compiled._lut.table >= 0
    assert 0 < filled.sum() < filled.size  # lazily: only cells the frame used
    reference = own_table(Remapper(palette, "bayer"))
    reference._lut.fill(np.flatnonzero(filled))  # the numpy path: nearest() on the same cells
    assert np.array_equal(compiled._lut.table, reference._lut.table)


def test_exact_palette_maps_each_colour_to_its_own_entry_and_strays_to_the_nearest():
    rng = np.random.default_rng(5)
    greys = np.unique(rng.integers(0, 256, 120)).astype(np.uint8)
    palette = np.repeat(greys[:, None], 3, axis=1)
    rng.shuffle(palette)  # any order: the mapping must not assume a sorted palette
    image = palette[rng.integers(0, len(palette), (30, 40))]
    image[0, :5] = [[1, 2, 3], [250, 0, 0], [0, 0, 0], [255, 255, 255], [7, 7, 8]]  # strays
    got = own_table(Remapper(palette, "bayer", exact=True)).remap(image)
    # The former numpy steps: binary search in the sorted keys, the table for the rest.
    keys = (palette[:, 0].astype(np.int32) << 16) | (palette[:, 1].astype(np.int32) << 8) | palette[:, 2]
    order = np.argsort(keys)
    r, g, b = (image[..., c].astype(np.int32) for c in range(3))
    packed = (r << 16) | (g << 8) | b
    pos = np.minimum(np.searchsorted(keys[order], packed), len(keys) - 1)
    nearest_index = table_lookup(own_table(Remapper(palette, "none")), cell_index(r, g, b))
    want = np.where(keys[order][pos] == packed, order[pos], nearest_index)
    assert np.array_equal(got, want)
    assert np.array_equal(palette[got[1:]], image[1:])  # every pixel of a palette colour is exact


def test_remappers_of_one_palette_share_their_table():
    rng = np.random.default_rng(2)
    palette = rng.integers(0, 256, (50, 3)).astype(np.uint8)
    first, second = Remapper(palette, "bayer", 1.0), Remapper(palette, "floyd-steinberg", 0.5)
    assert first._lut is second._lut
    assert Remapper(palette[::-1].copy(), "bayer")._lut is not first._lut
