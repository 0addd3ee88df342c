"""The GIF LZW encoder (gifloop.encode.lzw): exact round trips through Pillow's and FFmpeg's GIF
decoders, the byte layout, and the limits lossy coding keeps (colour budget, transparency); the C
module's bytes pinned to those of the Numba kernels it replaced, its argument checks, and its other
kernel, error diffusion, against a plain Python version."""

from __future__ import annotations

import io
import struct
from concurrent.futures import ThreadPoolExecutor

import av
import numpy as np
import pytest
from PIL import GifImagePlugin, Image

from gifloop.encode import _ckernels
from gifloop.encode.lzw import lossy_budget, lzw_image
from gifloop.quantize.dither import KERNELS, diffuse, error_limits
from gifloop.quantize.palette import ColorHistogram, plan_palette
from gifloop.quantize.remap import Remapper

# -- helpers ---------------------------------------------------------------------------------------


def _key_palette(bits: int = 8) -> np.ndarray:
    """A colour table whose red channel is the index: decoded RGB tells the index back."""
    k = np.arange(1 << bits)
    return np.stack([k, 255 - k, (k * 37) & 255], axis=1).astype(np.uint8)


def _gif(body: bytes, size: tuple[int, int], table: np.ndarray) -> bytes:
    """A one-frame GIF: header with the global colour table ``table`` (a power of two long), ``body``."""
    bits = int(len(table) - 1).bit_length()
    w, h = size
    flags = 0x80 | ((bits - 1) << 4) | (bits - 1)
    return b"GIF89a" + struct.pack("<HHBBB", w, h, flags, 0, 0) + table.tobytes() + body + b";"


def _encode(patch, code_size=8, **kw) -> bytes:
    h, w = patch.shape
    return lzw_image(patch, (0, 0, w, h), code_size=code_size, **kw)


def _pillow_indices(body: bytes, size, bits: int = 8) -> np.ndarray:
    image = Image.open(io.BytesIO(_gif(body, size, _key_palette(bits))))
    image.load()
    assert image.mode == "P"
    return np.asarray(image)


def _ffmpeg_indices(body: bytes, size, bits: int = 8) -> np.ndarray:
    with av.open(io.BytesIO(_gif(body, size, _key_palette(bits))), format="gif") as container:
        frame = next(container.decode(video=0))
    rgb = frame.to_ndarray(format="rgb24")
    return rgb[..., 0]  # the key palette's red channel is the index


def _round_trip(patch: np.ndarray, code_size: int = 8, ffmpeg: bool = False) -> bytes:
    h, w = patch.shape
    bits = max(1, code_size)
    body = _encode(patch, code_size)
    np.testing.assert_array_equal(_pillow_indices(body, (w, h), bits), patch)
    if ffmpeg:
        np.testing.assert_array_equal(_ffmpeg_indices(body, (w, h), bits), patch)
    return body


def _pillow_body(patch: np.ndarray) -> bytes:
    """What gif.py wrote before: Pillow's encoder (code size 8 for an "L" image)."""
    image = Image.frombuffer("L", patch.shape[::-1], np.ascontiguousarray(patch), "raw", "L", 0, 1)
    return b"".join(GifImagePlugin.getdata(image, offset=(0, 0)))


def _redmean(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The encoder's colour distance: redmean weighted RGB, a grey shift of d counting d."""
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    d = b - a
    red = (a[..., 0] + b[..., 0]) / 2
    return np.sqrt(((2 + red / 256) * d[..., 0] ** 2 + 4 * d[..., 1] ** 2
                    + (2 + (255 - red) / 256) * d[..., 2] ** 2) / 9)


def _quantised(rgb: np.ndarray, colors: int = 255, dither: str = "bayer") -> tuple[np.ndarray, np.ndarray]:
    hist = ColorHistogram()
    hist.add(rgb)
    palette = plan_palette(hist, colors)
    return Remapper(palette, dither=dither).remap(rgb), palette


def _scene(h: int = 180, w: int = 320) -> np.ndarray:
    """A picture with gradients, shapes, edges and a little sensor noise (video-like statistics)."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    rgb = np.stack([
        120 + 90 * np.sin(x / 41 + y / 67),
        110 + 80 * np.cos(y / 29) * np.sin(x / 83),
        130 + 70 * np.sin((x + y) / 57),
    ], axis=-1)
    rgb[40:110, 60:150] = (200, 60, 40)
    rgb[(x - 230) ** 2 + (y - 90) ** 2 < 45 ** 2] = (30, 160, 220)
    rgb += np.random.default_rng(5).normal(0, 4, rgb.shape)
    return np.clip(rgb, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def dithered():
    """(indices, palette): a synthetic scene quantised to 255 colours with the Bayer dither."""
    return _quantised(_scene())


@pytest.fixture
def real_frame(media):
    """(indices, palette): a frame of real video, 320 wide, quantised to 255 colours (Bayer)."""
    with av.open(media("real/squirrel_1280x720_h264.mp4")) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i == 12:
                rgb = frame.reformat(width=320, height=180, format="rgb24").to_ndarray()
                break
    return _quantised(rgb)


# -- lossless ------------------------------------------------------------------------------------


def test_round_trip_quantised_scene(dithered):
    indices, _ = dithered
    _round_trip(indices, ffmpeg=True)


def test_round_trip_real_frame(real_frame):
    indices, _ = real_frame
    _round_trip(indices, ffmpeg=True)
    _round_trip(indices[7:101, 13:250])  # a sub-rectangle (a strided view) like the writer passes


@pytest.mark.parametrize("code_size", range(2, 9))
def test_round_trip_every_code_size(code_size):
    rng = np.random.default_rng(code_size)
    top = 1 << code_size
    shapes = [(1, 1), (1, 2), (2, 1), (1, 37), (3, 5), (64, 64), (120, 250)]
    for h, w in shapes:
        _round_trip(rng.integers(0, top, (h, w), dtype=np.uint8), code_size)  # noise
        _round_trip(np.full((h, w), top - 1, np.uint8), code_size)  # flat
        runs = (np.arange(h * w).reshape(h, w) // 7 % top).astype(np.uint8)
        _round_trip(runs, code_size)


@pytest.mark.parametrize("code_size", [2, 5, 8])
def test_table_overflow(code_size):
    """Noise fills the 4096-code table many times over: clear codes, 12-bit codes, both decoders."""
    rng = np.random.default_rng(1)
    patch = rng.integers(0, 1 << code_size, (400, 300), dtype=np.uint8)
    _round_trip(patch, code_size, ffmpeg=True)
    # noise with structure: repeated rows make long strings right when the table is full
    tiled = np.tile(rng.integers(0, 1 << code_size, (7, 300), dtype=np.uint8), (60, 1))
    _round_trip(tiled, code_size, ffmpeg=True)


def test_flat_frame_long_strings():
    patch = np.full((480, 640), 3, np.uint8)
    body = _round_trip(patch, ffmpeg=True)
    assert len(body) < 2000  # strings grow by one pixel per code: ~780 codes


def test_layout():
    patch = np.random.default_rng(0).integers(0, 16, (40, 90), dtype=np.uint8)
    body = lzw_image(patch, (17, 5, 107, 45), code_size=4)
    assert body[0] == 0x2C
    assert struct.unpack("<HHHHB", body[1:10]) == (17, 5, 90, 40, 0)
    assert body[10] == 4  # LZW minimum code size
    at = 11
    while body[at]:
        assert body[at] <= 255
        at += body[at] + 1
    assert at == len(body) - 1  # the empty block ends the data and the body
    image = Image.open(io.BytesIO(_gif(body, (120, 60), _key_palette(4))))
    image.load()
    assert image.mode == "P"
    np.testing.assert_array_equal(np.asarray(image)[5:45, 17:107], patch)


def test_local_palette():
    patch = np.array([[0, 1, 2], [2, 1, 0]], np.uint8)
    local = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255]], np.uint8)
    body = lzw_image(patch, (0, 0, 3, 2), code_size=2, local_palette=local)
    assert body[9] == 0x80 | 1  # local table of 4 entries, no interlace
    np.testing.assert_array_equal(np.frombuffer(body[10:22], np.uint8).reshape(4, 3)[:3], local)
    assert body[22] == 2
    image = Image.open(io.BytesIO(_gif(body, (3, 2), np.zeros((2, 3), np.uint8))))
    rgb = np.asarray(image.convert("RGB"))
    np.testing.assert_array_equal(rgb, local[patch])


def test_local_palette_padding():
    body = lzw_image(np.zeros((1, 1), np.uint8), (0, 0, 1, 1), code_size=2, local_palette=np.zeros((1, 3), np.uint8))
    assert body[9] == 0x80 and len(body) == 10 + 6 + 1 + 4  # 1 colour padded to 2 entries


def test_size_matches_pillow(dithered):
    """Same clear policy as Pillow's encoder: within 1 % of its bytes (in practice within 0.1 %)."""
    indices, _ = dithered
    ours, pillow = len(_encode(indices)), len(_pillow_body(indices))
    assert abs(ours - pillow) <= 0.01 * pillow


def test_two_threads_same_bytes(dithered):
    indices, palette = dithered
    jobs = [(np.roll(indices, k, axis=1), lossy) for k in range(6) for lossy in (0, 60)]

    def run(job):
        patch, lossy = job
        return _encode(patch, palette=palette, lossy=lossy)

    serial = [run(job) for job in jobs]
    with ThreadPoolExecutor(2) as pool:
        assert list(pool.map(run, jobs)) == serial


@pytest.mark.parametrize("bad, message", [
    (dict(patch=np.full((2, 2), 4, np.uint8), code_size=2), "does not fit"),
    (dict(patch=np.zeros((2, 2), np.uint8), code_size=9), "code size"),
    (dict(patch=np.zeros((2, 2), np.uint8), box=(0, 0, 3, 2)), "patch is 2x2"),
    (dict(patch=np.zeros((2, 2), np.int32)), "uint8"),
    (dict(patch=np.zeros((2, 2), np.uint8), lossy=20), "palette"),
])
def test_bad_input(bad, message):
    args = dict(patch=np.zeros((2, 2), np.uint8), box=(0, 0, 2, 2), code_size=8)
    args.update(bad)
    patch, box = args.pop("patch"), args.pop("box")
    with pytest.raises(ValueError, match=message):
        lzw_image(patch, box, **args)


# -- lossy ---------------------------------------------------------------------------------------


def _lossy_decoded(indices, palette, lossy, **kw):
    h, w = indices.shape
    body = _encode(indices, palette=palette, lossy=lossy, **kw)
    return body, _pillow_indices(body, (w, h))


@pytest.mark.parametrize("lossy", [5, 20, 80, 200])
def test_lossy_error_within_budget(dithered, lossy):
    indices, palette = dithered
    body, decoded = _lossy_decoded(indices, palette, lossy)
    np.testing.assert_array_equal(_ffmpeg_indices(body, indices.shape[::-1]), decoded)
    error = _redmean(palette[indices], palette[decoded])
    assert error.max() <= lossy_budget(lossy) + 1e-3
    assert (decoded != indices).any()
    # the carried error keeps runs from drifting: 8x8 block means stay much closer than the budget
    h, w = indices.shape
    blocks = lambda img: img[: h // 8 * 8, : w // 8 * 8].astype(np.float64).reshape(h // 8, 8, w // 8, 8, 3).mean(axis=(1, 3))
    drift = np.abs(blocks(palette[indices]) - blocks(palette[decoded])).mean()
    assert drift < lossy_budget(lossy) / 4


def test_lossy_zero_is_lossless(dithered):
    indices, palette = dithered
    assert _encode(indices, palette=palette, lossy=0, transparent_index=3) == _encode(indices)


def test_lossy_shrinks(dithered):
    indices, palette = dithered
    sizes = [len(_encode(indices, palette=palette, lossy=lossy)) for lossy in (0, 10, 20, 40, 80, 200)]
    assert all(b <= a * 1.01 for a, b in zip(sizes, sizes[1:])), sizes
    assert sizes[3] <= 0.85 * sizes[0], sizes  # moderate: at least 15 % smaller


def test_lossy_shrinks_real_frame(real_frame):
    indices, palette = real_frame
    lossless = len(_encode(indices))
    lossy = len(_encode(indices, palette=palette, lossy=40))
    assert lossy <= 0.85 * lossless


@pytest.mark.parametrize("where", ["after", "inside"])
def test_lossy_transparency_exact(dithered, where):
    """Transparent pixels stay transparent, opaque pixels stay opaque, also when the transparent
    index is a colour close to many others (``inside`` the palette)."""
    indices, palette = dithered
    indices = indices.copy()
    h, w = indices.shape
    if where == "after":  # how the GIF writer does it: the index after the palette's colours
        transparent = len(palette)
        table = palette
    else:  # the most used colour doubles as the transparent index
        transparent = int(np.bincount(indices.ravel()).argmax())
        table = palette
    rng = np.random.default_rng(3)
    holes = rng.random((h, w)) < 0.3  # scattered: transparent next to every kind of colour
    holes[50:120, 100:220] = True
    indices[holes] = transparent
    for lossy in (40, 200):
        _, decoded = _lossy_decoded(indices, table, lossy, transparent_index=transparent)
        np.testing.assert_array_equal(decoded == transparent, indices == transparent)
        opaque = indices != transparent
        error = _redmean(palette[np.minimum(indices, len(palette) - 1)], palette[np.minimum(decoded, len(palette) - 1)])
        assert error[opaque].max() <= lossy_budget(lossy) + 1e-3


def test_lossy_under_writes_the_colour_on_screen_or_a_near_one(dithered):
    """With ``under`` (what is on screen under each transparent pixel), a transparent pixel may be
    written as that colour or one within the budget of it; where the screen is unknown it stays
    transparent; opaque pixels stay opaque within the budget. Scattered transparency stops breaking
    the strings, so the frame gets smaller."""
    indices, palette = dithered
    h, w = indices.shape
    transparent = len(palette)
    rng = np.random.default_rng(4)
    holes = rng.random((h, w)) < 0.6  # as on a differenced frame: most of the box is unchanged
    patch = np.where(holes, np.uint8(transparent), indices)
    under = np.where(holes, indices, np.uint8(transparent))  # on screen there: the picture itself
    unknown = holes & (rng.random((h, w)) < 0.1)
    under[unknown] = transparent
    for lossy in (20, 80):
        plain, _ = _lossy_decoded(patch, palette, lossy, transparent_index=transparent)
        body, decoded = _lossy_decoded(patch, palette, lossy, transparent_index=transparent, under=under)
        assert len(body) < {20: 0.99, 80: 0.93}[lossy] * len(plain), (len(body), len(plain))  # 0.97, 0.89 when written
        np.testing.assert_array_equal(decoded[unknown], transparent)
        assert (decoded[~holes] != transparent).all()
        assert (decoded[holes & ~unknown] != transparent).any()  # colours were written into holes
        screen = palette[np.where(decoded == transparent, under, decoded) % transparent]
        error = _redmean(palette[indices], screen)
        assert error[~unknown].max() <= lossy_budget(lossy) + 1e-3


def test_lossy_under_checked(dithered):
    indices, palette = dithered
    h, w = indices.shape
    with pytest.raises(ValueError, match="under must be"):
        _encode(indices, palette=palette, lossy=20, transparent_index=255, under=np.zeros((h, w - 1), np.uint8))
    with pytest.raises(ValueError, match="under must be"):  # the source rule does not take it
        _encode(indices, palette=palette, lossy=20, transparent_index=255, under=indices,
                rgb=np.zeros((h, w, 3), np.uint8))
    with pytest.raises(ValueError, match="does not fit LZW code size 4"):
        _encode(indices % 8, code_size=4, palette=palette[:8], lossy=20, transparent_index=8,
                under=np.full((h, w), 200, np.uint8))


def test_lossy_indices_outside_palette_exact(dithered):
    """Indices with no colour in the palette are never substituted."""
    indices, palette = dithered
    small = palette[:100]
    _, decoded = _lossy_decoded(indices, small, 200)
    outside = indices >= 100
    np.testing.assert_array_equal(decoded[outside], indices[outside])
    assert (decoded[~outside] < 100).all()


def test_lossy_uses_local_palette(dithered):
    """With a local colour table, colour errors are measured on its colours."""
    indices, palette = dithered
    h, w = indices.shape
    ramp = np.arange(256)
    local = np.stack([ramp, ramp, 255 - ramp], axis=1).astype(np.uint8)  # red tells the index back
    body = lzw_image(indices, (0, 0, w, h), code_size=8, palette=palette, local_palette=local, lossy=20)
    image = Image.open(io.BytesIO(_gif(body, (w, h), np.zeros((2, 3), np.uint8))))
    decoded = np.asarray(image.convert("RGB"))[..., 0]
    assert _redmean(local[indices], local[decoded]).max() <= lossy_budget(20) + 1e-3
    assert (decoded != indices).any()


def test_lossy_tiny_and_flat():
    palette = np.array([[0, 0, 0], [4, 4, 4], [255, 255, 255]], np.uint8)
    for patch in (np.zeros((1, 1), np.uint8), np.full((1, 5), 2, np.uint8), np.full((50, 70), 1, np.uint8)):
        body = _encode(patch, code_size=2, palette=palette, lossy=100)
        np.testing.assert_array_equal(_pillow_indices(body, patch.shape[::-1], 2), patch)


@pytest.mark.parametrize("code_size", [2, 4, 8])
def test_lossy_code_sizes(code_size):
    rng = np.random.default_rng(code_size)
    top = 1 << code_size
    palette = rng.integers(0, 256, (top, 3), dtype=np.uint8)
    palette[1] = palette[0] + 3  # a near pair
    patch = rng.integers(0, top, (90, 120), dtype=np.uint8)
    patch[:, ::3] = rng.integers(0, 2, (90, 40), dtype=np.uint8)
    for lossy in (10, 100):
        body = _encode(patch, code_size, palette=palette, lossy=lossy)
        decoded = _pillow_indices(body, (120, 90), code_size)
        np.testing.assert_array_equal(_ffmpeg_indices(body, (120, 90), code_size), decoded)
        assert _redmean(palette[patch], palette[decoded]).max() <= lossy_budget(lossy) + 1e-3


# -- lossy against the source colours (rgb=) -------------------------------------------------------


@pytest.fixture(scope="module")
def scene_dithered():
    """(source rgb, indices, palette): the synthetic scene and its Bayer-dithered indices."""
    rgb = _scene()
    indices, palette = _quantised(rgb)
    return rgb, indices, palette


@pytest.mark.parametrize("lossy", [5, 20, 80, 200])
def test_lossy_source_within_budget(scene_dithered, lossy):
    """With the source given, no pixel ends further from its source colour than the wanted index's
    colour is, plus the budget; and the result is a valid stream both decoders agree on."""
    rgb, indices, palette = scene_dithered
    h, w = indices.shape
    body = _encode(indices, palette=palette, lossy=lossy, rgb=rgb)
    decoded = _pillow_indices(body, (w, h))
    np.testing.assert_array_equal(_ffmpeg_indices(body, (w, h)), decoded)
    assert (decoded != indices).any()
    own = _redmean(rgb, palette[indices])
    error = _redmean(rgb, palette[decoded])
    assert (error <= own + lossy_budget(lossy) + 1e-3).all()
    # the carried error keeps runs from drifting: 8x8 block means stay close to the source's
    blocks = lambda img: img[: h // 8 * 8, : w // 8 * 8].astype(np.float64).reshape(h // 8, 8, w // 8, 8, 3).mean(axis=(1, 3))
    drift = np.abs(blocks(rgb) - blocks(palette[decoded])).mean()
    dither_drift = np.abs(blocks(rgb) - blocks(palette[indices])).mean()
    assert drift < dither_drift + lossy_budget(lossy) / 4


def test_lossy_source_smaller_than_index_rule(scene_dithered):
    """Judged against the source, a dithered frame compresses further at the same lossiness."""
    rgb, indices, palette = scene_dithered
    for lossy in (20, 80):
        by_index = len(_encode(indices, palette=palette, lossy=lossy))
        by_source = len(_encode(indices, palette=palette, lossy=lossy, rgb=rgb))
        assert by_source < by_index


@pytest.mark.parametrize("where", ["after", "inside"])
def test_lossy_source_transparency_exact(scene_dithered, where):
    """Transparent pixels (whatever their source colour) stay transparent; opaque ones stay opaque
    and within the budget of their source."""
    rgb, indices, palette = scene_dithered
    indices = indices.copy()
    h, w = indices.shape
    transparent = len(palette) if where == "after" else int(np.bincount(indices.ravel()).argmax())
    rng = np.random.default_rng(4)
    holes = rng.random((h, w)) < 0.3
    holes[50:120, 100:220] = True
    indices[holes] = transparent
    for lossy in (40, 200):
        body = _encode(indices, palette=palette, lossy=lossy, transparent_index=transparent, rgb=rgb)
        decoded = _pillow_indices(body, (w, h))
        np.testing.assert_array_equal(decoded == transparent, indices == transparent)
        opaque = indices != transparent
        own = _redmean(rgb, palette[np.minimum(indices, len(palette) - 1)])
        error = _redmean(rgb, palette[np.minimum(decoded, len(palette) - 1)])
        assert (error[opaque] <= own[opaque] + lossy_budget(lossy) + 1e-3).all()


def test_lossy_source_ignored_when_lossless(scene_dithered):
    rgb, indices, palette = scene_dithered
    assert _encode(indices, palette=palette, lossy=0, rgb=rgb) == _encode(indices)


def test_lossy_source_bad_shape(scene_dithered):
    rgb, indices, palette = scene_dithered
    with pytest.raises(ValueError, match="rgb must be"):
        _encode(indices, palette=palette, lossy=20, rgb=rgb[:-1])


# -- the C kernels: bytes as before, argument checks, error diffusion -------------------------------


def _pinned_inputs():
    """Source pixels, indices (nearest of 200 random colours, brute force) and palette: numpy only."""
    rng = np.random.default_rng(11)
    palette = rng.integers(0, 256, (200, 3)).astype(np.uint8)
    h, w = 90, 140
    y, x = np.mgrid[0:h, 0:w]
    rgb = np.stack([128 + 100 * np.sin(x / 23), 128 + 90 * np.cos(y / 17), (x + 2 * y) % 256], -1)
    rgb = np.clip(rgb + rng.normal(0, 6, rgb.shape), 0, 255).astype(np.uint8)
    d2 = ((rgb.reshape(-1, 1, 3).astype(np.int64) - palette[None].astype(np.int64)) ** 2).sum(-1)
    return rgb, d2.argmin(1).astype(np.uint8).reshape(h, w), palette


# sha256 (first 16 hex digits) of what the Numba kernels wrote for these inputs; the C port writes
# the same bytes (checked on real frames too when it was made).
_NUMBA_BYTES = {
    "lossless": "021a106940018772",
    "lossy20": "14eca4843e76bc4e",
    "lossy80": "61c2c83fb21ec122",
    "lossy200": "16052191015c7dbb",
    "lossy40_rgb": "b586448208161fe0",
    "lossy60_transparent": "8aa5c69bfa3d2001",
    "lossy60_rgb_transparent": "075b13e5083d2d4e",
    "code4": "71eb6bb909459072",
    # Re-pinned when the index rule began to find substitutes in bit sets: equal candidates are now
    # tried in index order, not in the order the table grew (the Numba kernels wrote b1ef2f6c3eac00d6).
    "code4_lossy": "e973277a6620370d",
}


def test_same_bytes_as_the_numba_encoder():
    import hashlib

    rgb, indices, palette = _pinned_inputs()
    h, w = indices.shape
    transparent = int(indices[0, 0])
    cases = {
        "lossless": dict(),
        "lossy20": dict(palette=palette, lossy=20),
        "lossy80": dict(palette=palette, lossy=80),
        "lossy200": dict(palette=palette, lossy=200),
        "lossy40_rgb": dict(palette=palette, lossy=40, rgb=rgb),
        "lossy60_transparent": dict(palette=palette, lossy=60, transparent_index=transparent),
        "lossy60_rgb_transparent": dict(palette=palette, lossy=60, transparent_index=transparent, rgb=rgb),
    }
    got = {name: lzw_image(indices, (0, 0, w, h), code_size=8, **kw) for name, kw in cases.items()}
    small = indices[:40, :60] % 16
    grey = np.repeat(np.arange(0, 96, 6, dtype=np.uint8)[:, None], 3, axis=1)
    got["code4"] = lzw_image(small, (0, 0, 60, 40), code_size=4)
    got["code4_lossy"] = lzw_image(small, (0, 0, 60, 40), code_size=4, palette=grey, lossy=100)
    assert len(set(got.values())) == len(got)  # every case differs: the lossy ones did substitute
    assert {name: hashlib.sha256(data).hexdigest()[:16] for name, data in got.items()} == _NUMBA_BYTES


def test_kernels_check_their_arrays():
    pixels = np.zeros((4, 6), np.uint8)
    assert _ckernels.lzw_lossless(pixels, 8)[-1] == 0
    with pytest.raises(TypeError, match="pixels must be uint8"):
        _ckernels.lzw_lossless(pixels.astype(np.int32), 8)
    with pytest.raises(ValueError, match="C-contiguous"):
        _ckernels.lzw_lossless(pixels[:, ::2], 8)
    with pytest.raises(TypeError, match="buffer protocol"):
        _ckernels.lzw_lossless([0, 1], 8)
    with pytest.raises(ValueError, match="code size"):
        _ckernels.lzw_lossless(pixels, 1)
    with pytest.raises(ValueError, match="at least one pixel"):
        _ckernels.lzw_lossless(np.zeros(0, np.uint8), 8)
    with pytest.raises(ValueError, match="does not fit"):
        _ckernels.lzw_lossless(np.full(3, 9, np.uint8), 3)
    colours = np.zeros((4, 3), np.float32)
    usable = np.ones(4, np.bool_)
    near = (np.zeros(5, np.int32), np.zeros(0, np.int32), np.full((4, 4), -1, np.int32), np.zeros((0, 4)))
    source = np.zeros((1, 3), np.float32)
    assert _ckernels.lzw_lossy(pixels % 4, 2, colours, usable, *near, 5.0, 0.5, 1.0, 256, source, False, 1.0)
    with pytest.raises(ValueError, match="colour tables"):
        _ckernels.lzw_lossy(pixels, 8, colours, usable, *near, 5.0, 0.5, 1.0, 256, source, False, 1.0)
    with pytest.raises(TypeError, match="colours must be float32"):
        _ckernels.lzw_lossy(pixels % 4, 2, colours.astype(np.float64), usable, *near, 5.0, 0.5, 1.0, 256, source,
                            False, 1.0)
    with pytest.raises(ValueError, match="source must be"):
        _ckernels.lzw_lossy(pixels % 4, 2, colours, usable, *near, 5.0, 0.5, 1.0, 256, source, True, 1.0)
    bad_near = (np.array([0, 0, 0, 0, 1], np.int32),) + near[1:]
    with pytest.raises(ValueError, match="inconsistent"):
        _ckernels.lzw_lossy(pixels % 4, 2, colours, usable, *bad_near, 5.0, 0.5, 1.0, 256, source, False, 1.0)


def _diffusion_args(h=5, w=7, colours=4):
    rng = np.random.default_rng(0)
    taps = np.array(KERNELS["floyd-steinberg"])
    palette = rng.integers(0, 256, (colours, 3)).astype(np.float32)
    return dict(rgb=rng.integers(0, 256, (h, w, 3), dtype=np.uint8), palette=palette,
                lut=rng.integers(0, colours, 1 << 18).astype(np.uint8), dys=taps[:, 0].astype(np.int64),
                dxs=taps[:, 1].astype(np.int64), weights=taps[:, 2].astype(np.float32),
                limits=error_limits(palette), keep=np.zeros((1, 1), np.bool_), previous=np.zeros((1, 1), np.uint8),
                out=np.empty((h, w), np.uint8))


@pytest.mark.parametrize("change, error, message", [
    (dict(rgb=np.zeros((5, 7, 2), np.uint8)), ValueError, "rgb must be"),
    (dict(rgb=np.zeros((5, 6, 3), np.uint8)), ValueError, "rgb must be"),
    (dict(rgb=np.zeros((5, 7, 3), np.float32)), TypeError, "rgb must be uint8"),
    (dict(palette=np.zeros((4, 3), np.float64)), TypeError, "palette must be float32"),
    (dict(lut=np.zeros(1 << 12, np.uint8)), ValueError, "lut must have"),
    (dict(dys=np.array([0, 1, 1, 3])), ValueError, "dys must be"),
    (dict(weights=np.ones(3, np.float32)), ValueError, "one entry a tap"),
    (dict(limits=np.ones(3, np.float32)), ValueError, "limits"),
    (dict(keep=np.ones((5, 7), np.bool_)), ValueError, "previous must be"),
    (dict(keep=np.ones((5, 7), np.bool_), previous=np.full((5, 7), 9, np.uint8)), ValueError, "outside the palette"),
    (dict(lut=np.full(1 << 18, 4, np.uint8)), ValueError, "outside the palette"),
    (dict(out=np.empty((5, 7), np.uint8)[:, ::-1]), ValueError, "C-contiguous"),
    (dict(out=np.frombuffer(bytes(35), np.uint8).reshape(5, 7)), ValueError, "writable"),
])
def test_diffusion_kernel_checks_its_arrays(change, error, message):
    args = _diffusion_args()
    _ckernels.diffuse_rows(*args.values())
    args.update(change)
    with pytest.raises(error, match=message):
        _ckernels.diffuse_rows(*args.values())


def _reference_diffusion(rgb, palette, lut, kernel, strength, limits, keep=None, previous=None):
    """The serpentine error diffusion in plain Python, with the kernel's types and order of operations
    (float32 colours and errors, rounding in double precision)."""
    h, w = rgb.shape[:2]
    taps = KERNELS[kernel]
    weights = (np.array([t[2] for t in taps]) * strength).astype(np.float32)
    palette = np.asarray(palette, np.float32)
    err = np.zeros((3, w, 3), np.float32)
    out = np.empty((h, w), np.uint8)
    for y in range(h):
        forward = y % 2 == 0
        for i in range(w):
            x = i if forward else w - 1 - i
            c = rgb[y, x].astype(np.float32) + err[y % 3, x]
            if keep is not None and keep[y, x]:
                index = previous[y, x]
            else:
                r, g, b = (min(max(int(float(v) + 0.5), 0), 255) for v in c)
                index = lut[(r >> 2) << 12 | (g >> 2) << 6 | (b >> 2)]
            out[y, x] = index
            e = np.minimum(np.maximum(c - palette[index], -limits[index]), limits[index])
            for (dy, dx, _), wt in zip(taps, weights):
                xx = x + (dx if forward else -dx)
                if 0 <= xx < w:
                    err[(y + dy) % 3, xx] += e * wt
        err[y % 3] = 0
    return out


@pytest.mark.parametrize("kernel", sorted(KERNELS))
def test_diffusion_matches_python_reference(kernel):
    """Same indices as the plain version, bit for bit, on a gradient with noise, with and without
    kept pixels, a weaker strength, and a palette whose errors hit the clamp."""
    rng = np.random.default_rng(2)
    h, w = 23, 31
    y, x = np.mgrid[0:h, 0:w]
    rgb = np.stack([x * 8, y * 11, (x + y) * 5], -1) + rng.normal(0, 9, (h, w, 3))
    rgb = np.clip(rgb, 0, 255).astype(np.uint8)
    palette = rng.integers(0, 256, (12, 3)).astype(np.uint8)
    cells = (np.arange(1 << 18)[:, None] >> np.array([12, 6, 0]) & 63) * 4 + 2
    lut = ((cells[:, None, :] - palette[None].astype(np.int64)) ** 2).sum(-1).argmin(1).astype(np.uint8)
    limits = error_limits(palette)
    for strength in (1.0, 0.55):
        expected = _reference_diffusion(rgb, palette, lut, kernel, strength, limits)
        got = diffuse(rgb, palette, lut, kernel=kernel, strength=strength)
        np.testing.assert_array_equal(got, expected)
        keep = rng.random((h, w)) < 0.4
        previous = rng.integers(0, len(palette), (h, w)).astype(np.uint8)
        expected = _reference_diffusion(rgb, palette, lut, kernel, strength, limits, keep, previous)
        got = diffuse(rgb, palette, lut, kernel=kernel, strength=strength, keep=keep, previous=previous)
        np.testing.assert_array_equal(got, expected)
        # RGBA with padded rows, as the decoder leaves frames, read in place; reversed rows and columns
        rows = np.zeros((h, w * 4 + 24), np.uint8)
        rgba = rows[:, : w * 4].reshape(h, w, 4)
        rgba[..., :3] = rgb
        rgba[..., 3] = 255
        got = diffuse(rgba, palette, lut, kernel=kernel, strength=strength, keep=keep, previous=previous)
        np.testing.assert_array_equal(got, expected)
        flipped = np.ascontiguousarray(rgb[::-1, ::-1])[::-1, ::-1]
        got = diffuse(flipped, palette, lut, kernel=kernel, strength=strength, keep=keep, previous=previous)
        np.testing.assert_array_equal(got, expected)
