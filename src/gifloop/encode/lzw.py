"""GIF LZW compression of one frame, lossless or lossy, compiled with Numba.

``lzw_image`` returns what follows a frame's Graphic Control Extension in a GIF file: the Image
Descriptor (with an optional local colour table), the LZW minimum code size, the compressed pixels in
sub-blocks of at most 255 bytes, and the empty block that ends them.

Lossless coding is plain GIF LZW. The string table (up to 4096 codes) is a small hash table, so
extending the current string is nearly always one load from 64 KB. When the table is full the
encoder sends a clear code and starts again, as Pillow and giflib do: on video frames a "deferred
clear" (keep coding with the full table until the strings get shorter) made files 2-30 % larger,
because what a frame looks like changes down the picture. The kernels release the GIL, so frames
can be compressed on several threads.

Lossy coding (``lossy > 0``: the idea of gifsicle's ``--lossy``, written afresh). The first pixel of
each string is kept exact; from there the encoder searches the string table (depth first, exact
matches first, at most a few hundred entries per string) for the longest string whose pixels are
each either the wanted index or an index whose colour is close to the wanted colour. Fewer, longer
strings mean fewer codes, so fewer bytes; the decoded picture differs from the input by small colour
errors, which dithered frames hide well.

``lossy`` uses gifsicle's scale (0-200; 20 light, 80 strong, 200 very strong) and sets an error
budget in RGB levels of ``lossy_budget(lossy) = 1.75 * sqrt(lossy)`` (20 -> 7.8, 80 -> 15.7,
200 -> 24.7), calibrated so that a frame comes out about as small, and FLIP about as good, as with
gifsicle at the same number. Colour error is the "redmean" weighted RGB distance, scaled so that a
grey shift of d levels counts d (green weighs most, red and blue less). Two limits hold:

- each pixel's own error (colour written vs colour wanted) is at most the budget;
- so is the error carried along the row: a running sum of the substitutions' error vectors that
  decays by half per pixel. A substitution that would push the same way as the ones just before it
  is refused, one that cancels them is welcome, so the average colour of a run stays close to the
  source (error diffusion's idea, used as a limit).

With the source pixels (``rgb``), substitutions are judged against the true colour instead: a
substitute may be as far from the source colour s as ``(|wanted - s|^p + budget^p)^(1/p)`` (p = 1 by
default: the dither's own error plus the budget; colours within twice the budget of the wanted one
are tried), and the carried error is the running sum of the written colours' errors against the
source (exact pixels included), which a substitute may take no further than the wanted colour would,
or than the budget. On 480-px clips (3 s, 15 fps, Bayer) this was 5-7 % smaller at equal FLIP on a
fireplace, ~1.5 % on animation, and neutral to 1 % larger on a squirrel (Sierra: larger), so the GIF
writer does not pass the source; it is kept as an option to measure.

The transparent index (``transparent_index``) and indices outside the palette are never substituted
and never used as substitutes: where a frame is transparent it keeps what is on screen, so a colour
turned transparent (or the other way) would be a hole or a patch in the picture.

>>> patch = np.array([[0, 1, 1, 1], [1, 1, 1, 0]], np.uint8)
>>> data = lzw_image(patch, (0, 0, 4, 2), code_size=2)
>>> data[:10].hex(" "), data[-1]
('2c 00 00 00 00 04 00 02 00 00', 0)
"""

from __future__ import annotations

import struct
import threading
from typing import Optional

import numpy as np

_MAX_CODES = 4096
_MAX_WIDTH = 12
_HASH_BITS = 14  # string table look-ups: 16384 slots for at most 4096 strings
# Lossy coding (see the module docstring).
_BUDGET_SCALE = 1.75  # budget in RGB levels = _BUDGET_SCALE * sqrt(lossy)
_CARRY = 0.5  # decay per pixel of the carried error
_DRIFT = 1.0  # limit of the carried error, in budgets
_REACH = 2.0  # with the source: substitutes are looked for within this many budgets of the wanted colour
_SOURCE_NORM = 1.0  # with the source: reach = (own error ** p + budget ** p) ** (1 / p); 0 means max
_SOURCE_DRIFT = 1.0  # with the source: limit of the carried error against the source, in budgets
_SEARCH_NODES = 256  # table entries expanded per string at most (1024 gains ~1-3 %, costs more)
_STACK = 1 << 15  # search stack entries


def lzw_image(patch: np.ndarray, box: tuple[int, int, int, int], *, code_size: int,
              palette: Optional[np.ndarray] = None, lossy: int = 0, transparent_index: Optional[int] = None,
              local_palette: Optional[np.ndarray] = None, rgb: Optional[np.ndarray] = None) -> bytes:
    """Image descriptor and LZW-compressed pixels of ``patch`` ((h, w) uint8 indices) placed at ``box``.

    ``box`` is (left, top, right, bottom) on the logical screen; its size must be the patch's.
    ``code_size`` is the LZW minimum code size, max(2, bits of the colour table), 2..8; every index
    must be below ``1 << code_size``. ``palette`` ((n, 3) uint8, the colours the indices stand for) is
    needed when ``lossy > 0``; ``transparent_index`` is never substituted nor used as a substitute.
    ``local_palette`` ((n, 3) uint8) is written as the frame's local colour table (padded to a power
    of two, at least 2 entries); without it the frame uses the global table. Lossy coding compares the
    colours of the table the frame uses: ``local_palette`` when given, else ``palette``.
    ``lossy`` is on gifsicle's 0-200 scale (see ``lossy_budget``); 0 is exact.
    ``rgb`` ((h, w, 3) uint8, the source pixels of the patch) makes lossy coding judge substitutions
    against the source colour instead of the wanted index's colour (see the module docstring); it is
    ignored when ``lossy`` is 0.
    """
    patch = np.asarray(patch)
    if patch.ndim != 2 or patch.dtype != np.uint8:
        raise ValueError(f"patch must be a 2-D uint8 array, got {patch.dtype} {patch.shape}")
    h, w = patch.shape
    left, top, right, bottom = (int(v) for v in box)
    if (right - left, bottom - top) != (w, h):
        raise ValueError(f"box {tuple(box)} is {right - left}x{bottom - top}, patch is {w}x{h}")
    if h == 0 or w == 0:
        raise ValueError("a GIF frame has at least one pixel")
    if not 2 <= code_size <= 8:
        raise ValueError(f"LZW code size must be 2..8, got {code_size}")
    pixels = np.ascontiguousarray(patch).reshape(-1)
    if code_size < 8 and int(pixels.max()) >> code_size:
        raise ValueError(f"index {int(pixels.max())} does not fit LZW code size {code_size}")
    if lossy < 0:
        raise ValueError(f"lossy must be >= 0, got {lossy}")
    head = _descriptor(left, top, w, h, local_palette)
    if not _compiled:
        _compile()
    if lossy > 0:
        if palette is None and local_palette is None:
            raise ValueError("lossy LZW needs the palette")
        budget = lossy_budget(lossy)
        table = palette if local_palette is None else local_palette
        if rgb is None:
            near = _near_table(table, code_size, transparent_index, budget)
            source = np.zeros((1, 3), np.float32)
        else:
            rgb = np.asarray(rgb)
            if rgb.shape[:2] != (h, w) or rgb.ndim != 3 or rgb.shape[2] < 3:
                raise ValueError(f"rgb must be the patch's source pixels, ({h}, {w}, 3), got {rgb.shape}")
            near = _near_table(table, code_size, transparent_index, _REACH * budget)
            source = np.ascontiguousarray(rgb[..., :3], np.float32).reshape(-1, 3)
        drift = _DRIFT if rgb is None else _SOURCE_DRIFT
        data = _encode_lossy(pixels, code_size, *near, budget, _CARRY, drift, _SEARCH_NODES, source,
                             rgb is not None, _SOURCE_NORM)
    else:
        data = _encode(pixels, code_size)
    return head + bytes((code_size,)) + data.tobytes()


def lossy_budget(lossy: float) -> float:
    """The colour error (RGB levels, weighted distance) that ``lossy`` allows each pixel: 1.75 * sqrt(lossy).

    >>> [round(lossy_budget(v), 1) for v in (0, 20, 80, 200)]
    [0.0, 7.8, 15.7, 24.7]
    """
    return _BUDGET_SCALE * float(lossy) ** 0.5


def _descriptor(left: int, top: int, width: int, height: int, local_palette: Optional[np.ndarray]) -> bytes:
    """The Image Descriptor (no interlace), followed by the local colour table when there is one."""
    if local_palette is None:
        return struct.pack("<BHHHHB", 0x2C, left, top, width, height, 0)
    table = np.asarray(local_palette, np.uint8).reshape(-1, 3)
    if not 1 <= len(table) <= 256:
        raise ValueError(f"a local colour table has 1..256 colours, got {len(table)}")
    bits = max(1, int(len(table) - 1).bit_length())
    padded = np.zeros((1 << bits, 3), np.uint8)
    padded[: len(table)] = table
    return struct.pack("<BHHHHB", 0x2C, left, top, width, height, 0x80 | (bits - 1)) + padded.tobytes()


def _near_table(palette: np.ndarray, code_size: int, transparent_index: Optional[int], budget: float) -> tuple:
    """The colours (float32, one row per index of the code size) and, for each index, the others
    within ``budget`` (see ``_near_colours``); the last few are kept, as frames share them."""
    table = np.asarray(palette, np.uint8).reshape(-1, 3)
    size = 1 << code_size
    colours = np.zeros((size, 3), np.float32)
    usable = np.zeros(size, np.bool_)
    count = min(len(table), size)
    colours[:count] = table[:count]
    usable[:count] = True
    if transparent_index is not None and 0 <= transparent_index < size:
        usable[transparent_index] = False  # only ever itself
    key = (colours.tobytes(), usable.tobytes(), budget)
    near = _near_cache.get(key)
    if near is None:
        near = (colours, usable) + tuple(a.copy() for a in _near_colours(colours, usable, budget * budget))
        with _near_lock:
            while len(_near_cache) >= 8:
                del _near_cache[next(iter(_near_cache))]
            _near_cache[key] = near
    return near


_near_cache: dict = {}
_near_lock = threading.Lock()


# -- kernels -------------------------------------------------------------------------------------
# Compiled with Numba (nopython, GIL released, cached on disk) on first use: importing numba costs
# ~100 MB and a few tenths of a second, which a program that never writes a GIF should not pay.
# Bit writer state lives in local variables of each kernel; the output holds the sub-blocks directly:
# a length byte is reserved at the start of each block and filled in when the block is closed.

_KERNELS = ("_emit", "_finish", "_end", "_slot", "_encode", "_distance2", "_near_colours", "_push",
            "_source_push", "_encode_lossy")
_compiled = False
_compile_lock = threading.Lock()


def _compile() -> None:
    """Replace the kernels below by their compiled versions (kernels calling kernels find the compiled
    ones as module globals when Numba compiles them)."""
    global _compiled
    with _compile_lock:
        if _compiled:
            return
        import numba

        jit = numba.njit(cache=True, nogil=True)
        names = globals()
        for name in _KERNELS:
            names[name] = jit(names[name])
        _compiled = True


def _emit(out, pos, block, acc, nbits, code, width):
    """Append one code of ``width`` bits; returns the new (pos, block, acc, nbits)."""
    acc |= np.uint64(code) << np.uint64(nbits)
    nbits += width
    while nbits >= 8:
        if pos - block == 256:  # block full: 255 data bytes after its length byte
            out[block] = 255
            block = pos
            pos += 1
        out[pos] = np.uint8(acc & np.uint64(0xFF))
        pos += 1
        acc >>= np.uint64(8)
        nbits -= 8
    return pos, block, acc, nbits


def _finish(out, pos, block, acc, nbits):
    """Flush the last bits, close the last block and add the terminator; returns the data."""
    if nbits > 0:
        pos, block, acc, nbits = _emit(out, pos, block, acc, nbits, 0, 8 - nbits)
    if pos - block > 1:
        out[block] = pos - block - 1
        out[pos] = 0
        return out[: pos + 1]
    out[block] = 0  # the reserved length byte becomes the terminator
    return out[: block + 1]


def _slot(table, key, shift):
    """Where ``key`` (prefix code << 8 | index) is in the hash table, or the empty slot it would go to."""
    h = np.uint32(key * np.uint32(2654435761)) >> shift
    mask = np.uint32(table.size - 1)
    while True:
        e = table[h]
        if e == 0 or (e >> np.uint32(12)) == key:
            return h, e
        h = (h + np.uint32(1)) & mask


def _encode(pixels, code_size):
    """Lossless GIF LZW of ``pixels`` (1-D uint8): data sub-blocks and terminator (uint8 array).

    The string table is a hash table of (prefix code << 8 | index) << 12 | code words, 0 = empty; it
    is at most a quarter full, so a look-up is nearly always one load from a 64 KB array.
    """
    n = pixels.size
    nsym = 1 << code_size
    clear = nsym
    eoi = nsym + 1
    first = nsym + 2
    width0 = code_size + 1
    table = np.zeros(1 << _HASH_BITS, np.uint32)
    shift = np.uint32(32 - _HASH_BITS)
    out = np.empty(n * 2 + 16 + (n >> 7), np.uint8)
    pos, block, acc, nbits = _emit(out, 1, 0, np.uint64(0), 0, clear, width0)
    width = width0
    nxt = first
    cur = np.uint32(pixels[0])
    for i in range(1, n):
        p = np.uint32(pixels[i])
        key = (cur << np.uint32(8)) | p
        h, e = _slot(table, key, shift)
        if e != 0:
            cur = e & np.uint32(0xFFF)
            continue
        pos, block, acc, nbits = _emit(out, pos, block, acc, nbits, cur, width)
        table[h] = (key << np.uint32(12)) | np.uint32(nxt)
        nxt += 1
        if nxt > (1 << width) and width < _MAX_WIDTH:
            width += 1
        if nxt == _MAX_CODES:  # table full: start again
            pos, block, acc, nbits = _emit(out, pos, block, acc, nbits, clear, width)
            table[:] = 0
            nxt = first
            width = width0
        cur = p
    return _end(out, pos, block, acc, nbits, cur, eoi, width, nxt)


def _end(out, pos, block, acc, nbits, cur, eoi, width, nxt):
    """Send the last string and the end code, then close the sub-blocks."""
    pos, block, acc, nbits = _emit(out, pos, block, acc, nbits, cur, width)
    if nxt < _MAX_CODES and nxt + 1 > (1 << width) and width < _MAX_WIDTH:
        width += 1  # the decoder adds an entry after reading that code: keep the width in step
    pos, block, acc, nbits = _emit(out, pos, block, acc, nbits, eoi, width)
    return _finish(out, pos, block, acc, nbits)


def _distance2(red, dr, dg, db):
    """Squared "redmean" distance of a colour difference (dr, dg, db) at mean red level ``red``,
    scaled so that a grey shift of d has distance d."""
    return ((2.0 + red / 256.0) * dr * dr + 4.0 * dg * dg + (2.0 + (255.0 - red) / 256.0) * db * db) / 9.0


def _near_colours(colours, usable, limit):
    """For each index, the other usable indices whose colour is within the budget (squared distance
    ``limit``): CSR lists (start offsets, indices), where each pair is in them (-1: not near), and per
    pair the difference to the wanted colour and its squared distance."""
    nsym = colours.shape[0]
    start = np.zeros(nsym + 1, np.int32)
    index = np.full((nsym, nsym), -1, np.int32)
    near = np.empty(nsym * nsym, np.int32)
    diff = np.empty((nsym * nsym, 3), np.float64)
    dist = np.empty(nsym * nsym, np.float64)
    k = 0
    for a in range(nsym):
        start[a] = k
        if not usable[a]:
            continue
        for b in range(nsym):
            if b == a or not usable[b]:
                continue
            dr = colours[b, 0] - colours[a, 0]
            dg = colours[b, 1] - colours[a, 1]
            db = colours[b, 2] - colours[a, 2]
            d2 = _distance2(colours[a, 0] + 0.5 * dr, dr, dg, db)
            if d2 <= limit:
                near[k] = b
                index[a, b] = k
                diff[k, 0] = dr
                diff[k, 1] = dg
                diff[k, 2] = db
                dist[k] = d2
                k += 1
    start[nsym] = k
    return start, near[:k], index, diff[:k], dist[:k]


def _encode_lossy(pixels, code_size, colours, usable, near_start, near, near_index, near_diff, near_dist, budget, carry,
                  drift, search_nodes, source, use_source, norm):
    """Lossy GIF LZW: from each string start, the longest string in the table within the error limits.

    Depth-first search over the table's tree from the string's first pixel (kept exact): a child
    entry extends the string when its index is the wanted one, or when its colour is one of the wanted
    colour's near colours (within ``budget``) and stays within ``drift * budget`` with the carried
    error. The exact child is explored first; the longest string found (least squared error among
    equals) wins, after at most ``search_nodes`` entries were expanded; it is then extended by exact
    matches as far as they go. Children are found by walking the entry's child list, or, when it has
    more children than the wanted colour has near colours, by looking each near colour up.
    """
    n = pixels.size
    nsym = 1 << code_size
    clear = nsym
    eoi = nsym + 1
    first = nsym + 2
    width0 = code_size + 1
    limit = budget * budget
    drift_limit = limit * drift * drift
    table = np.zeros(1 << _HASH_BITS, np.uint32)
    shift = np.uint32(32 - _HASH_BITS)
    first_child = np.full(_MAX_CODES, -1, np.int32)
    children = np.zeros(_MAX_CODES, np.int32)
    sibling = np.empty(_MAX_CODES, np.int32)
    symbol = np.empty(_MAX_CODES, np.int32)
    # search stack: entry, position after it, carried error, summed squared error
    depth = min(search_nodes, _STACK // nsym) * nsym + nsym + 2
    st_node = np.empty(depth, np.int32)
    st_pos = np.empty(depth, np.int64)
    st_err = np.empty((depth, 3), np.float64)
    st_cost = np.empty(depth, np.float64)
    out = np.empty(n * 2 + 16 + (n >> 7), np.uint8)
    pos, block, acc, nbits = _emit(out, 1, 0, np.uint64(0), 0, clear, width0)
    width = width0
    nxt = first
    er = 0.0
    eg = 0.0
    eb = 0.0
    i = 0
    node = np.uint32(0)
    while i < n:
        root = pixels[i]
        if usable[root]:
            er *= carry
            eg *= carry
            eb *= carry
            if use_source:
                er += colours[root, 0] - source[i, 0]
                eg += colours[root, 1] - source[i, 1]
                eb += colours[root, 2] - source[i, 2]
        else:  # transparent: nothing to carry across it
            er = 0.0
            eg = 0.0
            eb = 0.0
        best = np.int64(root)
        best_pos = i + 1
        best_cost = 0.0
        ber = er
        beg = eg
        beb = eb
        st_node[0] = root
        st_pos[0] = i + 1
        st_err[0, 0] = er
        st_err[0, 1] = eg
        st_err[0, 2] = eb
        st_cost[0] = 0.0
        sp = 1
        expanded = 0
        while sp > 0 and expanded < search_nodes and sp < depth - nsym - 1:
            sp -= 1
            at = st_pos[sp]
            if at >= n:
                continue
            expanded += 1
            parent = np.uint32(st_node[sp])
            cost = st_cost[sp]
            cr = carry * st_err[sp, 0]
            cg = carry * st_err[sp, 1]
            cb = carry * st_err[sp, 2]
            want = pixels[at]
            wr = colours[want, 0]
            lo = near_start[want]
            hi = near_start[want + 1]
            base = sp
            exact = -1
            if use_source and usable[want]:
                # the wanted colour's own error against the source, and what a substitute may reach
                sr = source[at, 0]
                sg = source[at, 1]
                sb = source[at, 2]
                xr = colours[want, 0] - sr
                xg = colours[want, 1] - sg
                xb = colours[want, 2] - sb
                own2 = _distance2(sr + 0.5 * xr, xr, xg, xb)
                if norm <= 0.0:
                    reach2 = max(own2, budget * budget)
                elif norm == 2.0:
                    reach2 = own2 + budget * budget
                else:
                    reach = (own2 ** (0.5 * norm) + budget ** norm) ** (1.0 / norm)
                    reach2 = reach * reach
                # the carried error with the wanted colour; a substitute may carry as much, or the limit
                wer = cr + xr
                weg = cg + xg
                web = cb + xb
                carry_limit = max(_distance2(sr, wer, weg, web), drift_limit)
                if children[parent] > 2 * (hi - lo) + 2:
                    h, e = _slot(table, (parent << np.uint32(8)) | np.uint32(want), shift)
                    if e != 0:
                        exact = np.int64(e & np.uint32(0xFFF))
                    for k in range(lo, hi):
                        b = near[k]
                        h, e = _slot(table, (parent << np.uint32(8)) | np.uint32(b), shift)
                        if e == 0:
                            continue
                        sp = _source_push(st_node, st_pos, st_err, st_cost, sp, e & np.uint32(0xFFF), at + 1,
                                          colours[b, 0] - sr, colours[b, 1] - sg, colours[b, 2] - sb, sr, cr, cg, cb,
                                          reach2, carry_limit, cost - own2)
                else:
                    c = first_child[parent]
                    while c >= 0:
                        b = symbol[c]
                        if b == want:
                            exact = c
                        elif near_index[want, b] >= 0:
                            sp = _source_push(st_node, st_pos, st_err, st_cost, sp, c, at + 1,
                                              colours[b, 0] - sr, colours[b, 1] - sg, colours[b, 2] - sb, sr,
                                              cr, cg, cb, reach2, carry_limit, cost - own2)
                        c = sibling[c]
                if exact >= 0:
                    sp = _push(st_node, st_pos, st_err, st_cost, sp, exact, at + 1, wer, weg, web, cost)
            elif use_source:  # transparent or outside the palette: only itself, nothing carried
                h, e = _slot(table, (parent << np.uint32(8)) | np.uint32(want), shift)
                if e != 0:
                    sp = _push(st_node, st_pos, st_err, st_cost, sp, e & np.uint32(0xFFF), at + 1, cr, cg, cb, cost)
            elif children[parent] > 2 * (hi - lo) + 2:
                # many children: look the near colours up
                h, e = _slot(table, (parent << np.uint32(8)) | np.uint32(want), shift)
                if e != 0:
                    exact = np.int64(e & np.uint32(0xFFF))
                for k in range(lo, hi):
                    h, e = _slot(table, (parent << np.uint32(8)) | np.uint32(near[k]), shift)
                    if e == 0:
                        continue
                    tr = cr + near_diff[k, 0]
                    tg = cg + near_diff[k, 1]
                    tb = cb + near_diff[k, 2]
                    if _distance2(wr, tr, tg, tb) <= drift_limit:
                        sp = _push(st_node, st_pos, st_err, st_cost, sp, e & np.uint32(0xFFF), at + 1,
                                   tr, tg, tb, cost + near_dist[k])
            else:
                c = first_child[parent]
                while c >= 0:
                    s = symbol[c]
                    if s == want:
                        exact = c
                    else:
                        k = near_index[want, s]
                        if k >= 0:
                            tr = cr + near_diff[k, 0]
                            tg = cg + near_diff[k, 1]
                            tb = cb + near_diff[k, 2]
                            if _distance2(wr, tr, tg, tb) <= drift_limit:
                                sp = _push(st_node, st_pos, st_err, st_cost, sp, c, at + 1,
                                           tr, tg, tb, cost + near_dist[k])
                    c = sibling[c]
            if exact >= 0 and not use_source:  # pushed last: explored first
                sp = _push(st_node, st_pos, st_err, st_cost, sp, exact, at + 1, cr, cg, cb, cost)
            for k in range(base, sp):
                if at + 1 > best_pos or (at + 1 == best_pos and st_cost[k] < best_cost):
                    best = np.int64(st_node[k])
                    best_pos = at + 1
                    best_cost = st_cost[k]
                    ber = st_err[k, 0]
                    beg = st_err[k, 1]
                    beb = st_err[k, 2]
        # the search may have stopped early: follow exact matches from the best string
        node = np.uint32(best)
        at = best_pos
        er = ber
        eg = beg
        eb = beb
        h = np.uint32(0)
        key = np.uint32(0)
        while at < n:
            key = (node << np.uint32(8)) | np.uint32(pixels[at])
            h, e = _slot(table, key, shift)
            if e == 0:
                break
            node = e & np.uint32(0xFFF)
            er *= carry
            eg *= carry
            eb *= carry
            if use_source and usable[pixels[at]]:
                er += colours[pixels[at], 0] - source[at, 0]
                eg += colours[pixels[at], 1] - source[at, 1]
                eb += colours[pixels[at], 2] - source[at, 2]
            at += 1
        i = at
        if i >= n:
            break
        pos, block, acc, nbits = _emit(out, pos, block, acc, nbits, node, width)
        p = pixels[i]
        table[h] = (key << np.uint32(12)) | np.uint32(nxt)
        symbol[nxt] = p
        sibling[nxt] = first_child[node]
        first_child[node] = nxt
        children[node] += 1
        nxt += 1
        if nxt > (1 << width) and width < _MAX_WIDTH:
            width += 1
        if nxt == _MAX_CODES:
            pos, block, acc, nbits = _emit(out, pos, block, acc, nbits, clear, width)
            table[:] = 0
            first_child[:] = -1
            children[:] = 0
            nxt = first
            width = width0
    return _end(out, pos, block, acc, nbits, node, eoi, width, nxt)


def _push(st_node, st_pos, st_err, st_cost, sp, node, at, er, eg, eb, cost):
    st_node[sp] = node
    st_pos[sp] = at
    st_err[sp, 0] = er
    st_err[sp, 1] = eg
    st_err[sp, 2] = eb
    st_cost[sp] = cost
    return sp + 1


def _source_push(st_node, st_pos, st_err, st_cost, sp, node, at, dr, dg, db, red, cr, cg, cb, reach2, carry_limit, cost):
    """Push a substitute whose colour differs from the source by (dr, dg, db) (source red ``red``) if
    it is within ``reach2`` of the source and the carried error (cr, cg, cb) stays within ``carry_limit``."""
    d2 = _distance2(red + 0.5 * dr, dr, dg, db)
    if d2 > reach2:
        return sp
    tr = cr + dr
    tg = cg + dg
    tb = cb + db
    if _distance2(red, tr, tg, tb) > carry_limit:
        return sp
    return _push(st_node, st_pos, st_err, st_cost, sp, node, at, tr, tg, tb, cost + d2)
