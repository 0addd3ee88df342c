"""Compiled kernels of the loop finder (numba): per-frame sums and block features, exact dot products.

Frames are rows of a uint8 ring, zero-padded to a multiple of ``ALIGN`` bytes (zeros add nothing to
a dot product). Every result is an exact integer, so the distances built from them are bit-identical
to MoviePy's float64 sums (which are exact too: products of 0-255 values summed below 2**53).

Why integers: with AVX-512 VNNI (``vpdpbusd``: 64 byte products per instruction) a dot product of
two 150 px thumbnails (37,800 bytes) takes ~0.3 us in 4 x 4 tiles, against ~1.8 us for float64 BLAS
at its peak on this machine, and the ring needs no conversion. Without VNNI, a plain loop that LLVM
vectorises (``vpmaddwd``) is used: exact too, ~1.2 us.

>>> ring = np.zeros((4, 128), np.uint8); ring[:, :3] = [[1, 2, 3], [4, 5, 6], [0, 0, 0], [9, 9, 9]]
>>> out = np.zeros(2, np.int64)
>>> pair_dots(ring, np.array([0, 0]), np.array([1, 3]), out); out        # 1*4+2*5+3*6, 1*9+2*9+3*9
array([32, 54])
"""

from __future__ import annotations

import threading
from typing import Iterable, Iterator

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

ALIGN = 64  # bytes: one 512-bit vector
# Bytes of each frame per pass, so that a tile's row pieces stay in L1 while they meet their columns
# (4 x 4 tiles of 150 px frames, on a loaded 2-core machine: 2 KiB 0.38 us a pair, 4 KiB 0.31,
# 8 KiB 0.28; 4 and 8 KiB made no measurable difference to whole runs). A multiple of ALIGN, and
# small enough for exact int32 lanes (each step adds at most 4 * 255 * 128 to a lane).
CHUNK = 4096


def _has_vnni() -> bool:
    """Does numba compile for a CPU with AVX-512 VNNI? (Not when NUMBA_CPU_NAME picks another CPU.)"""
    try:
        import llvmlite.binding as llvm

        if numba.config.CPU_NAME or numba.config.CPU_FEATURES:
            return False
        features = llvm.get_host_cpu_features()
        return bool(features.get("avx512vnni") and features.get("avx512bw"))
    except Exception:  # an unknown platform: the portable kernel is always right
        return False


VNNI = _has_vnni()

_I32x16 = ir.VectorType(ir.IntType(32), 16)
_I8x64 = ir.VectorType(ir.IntType(8), 64)


def _vnni_tile(row_count: int):
    """An intrinsic: dot products of ``row_count`` ring rows with 4 ring rows (the columns), bytes
    ``start..stop`` (multiples of 64), as ``sum(col * (row - 128))``: ``vpdpbusd`` multiplies unsigned
    by signed bytes, and ``row ^ 0x80`` read as signed is ``row - 128`` (the caller adds
    ``128 * sum(col)``). Results row by row. Each loaded vector serves several products, as in a
    matrix-product micro-kernel: 4 x 4 tiles took 0.28 us a pair of 150 px frames, 1 x 4 0.57."""

    @intrinsic
    def tile(typingctx, ring, rows, cols, start, stop):
        sig = types.UniTuple(types.int64, 4 * row_count)(ring, rows, cols, start, stop)

        def codegen(context, builder, signature, args):
            array = context.make_array(signature.args[0])(context, builder, args[0])
            stride = builder.extract_value(array.strides, 0)
            row_ids = [builder.extract_value(args[1], k) for k in range(row_count)]
            col_ids = [builder.extract_value(args[2], k) for k in range(4)]
            first, last = args[3], args[4]
            i64 = first.type

            def address(index, offset):
                at = builder.add(builder.mul(index, stride), builder.add(first, offset))
                return builder.bitcast(builder.gep(array.data, [at]), _I8x64.as_pointer())

            fnty = ir.FunctionType(_I32x16, [_I32x16, _I8x64, _I8x64])
            vpdpbusd = cgutils.get_or_insert_function(builder.module, fnty, "llvm.x86.avx512.vpdpbusd.512")
            flip = ir.Constant(_I8x64, [0x80] * 64)
            # one accumulator per product: independent chains hide vpdpbusd's latency
            accs = [[cgutils.alloca_once_value(builder, ir.Constant(_I32x16, None)) for _ in col_ids]
                    for _ in row_ids]
            steps = builder.udiv(builder.sub(last, first), ir.Constant(i64, 64))
            with cgutils.for_range(builder, steps) as loop:
                offset = builder.mul(loop.index, ir.Constant(i64, 64))
                signed_rows = [builder.xor(builder.load(address(r, offset), align=1), flip) for r in row_ids]
                unsigned_cols = [builder.load(address(c, offset), align=1) for c in col_ids]
                for i, row_vector in enumerate(signed_rows):
                    for j, col_vector in enumerate(unsigned_cols):
                        acc = accs[i][j]
                        builder.store(builder.call(vpdpbusd, [builder.load(acc), col_vector, row_vector]), acc)
            totals = []
            for acc in (a for row in accs for a in row):
                wide = builder.sext(builder.load(acc), ir.VectorType(ir.IntType(64), 16))
                total = builder.extract_element(wide, ir.Constant(ir.IntType(32), 0))
                for k in range(1, 16):
                    total = builder.add(total, builder.extract_element(wide, ir.Constant(ir.IntType(32), k)))
                totals.append(total)
            return context.make_tuple(builder, signature.return_type, totals)

        return sig, codegen

    return tile


_vnni_1x4 = _vnni_tile(1)
_vnni_4x4 = _vnni_tile(4)
GROUP = 4  # rows per tile


@numba.njit(cache=True, nogil=True)
def _tiles(rows, cols, slots):
    """Plan the tiles for pairs sorted by row: groups of up to ``GROUP`` consecutive distinct rows,
    each against the union of their columns (rows of similar frames want similar columns: the union
    costs 10-30 % more products, each at half the price). Returns the group rows (-1: none), each
    group's first union entry, the union columns, and for each (row of the group, union column) the
    pair's index or -1."""
    count = rows.shape[0]
    group_rows = np.full((count, GROUP), -1, np.int64)
    group_start = np.zeros(count + 1, np.int64)
    union = np.empty(count, np.int64)
    where = np.full((count, GROUP), -1, np.int64)
    seen = np.full(slots, -1, np.int64)  # union position of a column, within the current group
    groups = 0
    used = 0
    p = 0
    while p < count:
        group_start[groups] = used
        first_used = used
        for g in range(GROUP):
            if p >= count:
                break
            r = rows[p]
            group_rows[groups, g] = r
            while p < count and rows[p] == r:
                c = cols[p]
                if seen[c] < first_used:
                    seen[c] = used
                    union[used] = c
                    used += 1
                where[seen[c], g] = p
                p += 1
        groups += 1
    group_start[groups] = used
    return groups, group_rows, group_start, union, where


@numba.njit(cache=True, nogil=True)
def _pair_dots_vnni(ring, rows, cols, out, sums):
    """``out[p] += ring[rows[p]] . ring[cols[p]]`` (rows sorted), in tiles; by pieces of ``CHUNK``
    bytes so that a tile's rows stay in L1 while they meet their columns."""
    groups, group_rows, group_start, union, where = _tiles(rows, cols, ring.shape[0])
    width = ring.shape[1]
    for start in range(0, width, CHUNK):
        stop = min(width, start + CHUNK)
        for g in range(groups):
            r = group_rows[g]
            full = r[GROUP - 1] >= 0
            for u in range(group_start[g], group_start[g + 1], 4):
                last = group_start[g + 1] - 1  # a short last tile repeats a column; its sums are dropped
                c = (union[u], union[min(u + 1, last)], union[min(u + 2, last)], union[min(u + 3, last)])
                if full:
                    v = _vnni_4x4(ring, (r[0], r[1], r[2], r[3]), c, start, stop)
                    for i in range(GROUP):
                        for j in range(4):
                            if u + j <= last and where[u + j, i] >= 0:
                                out[where[u + j, i]] += v[4 * i + j]
                else:
                    for i in range(GROUP):
                        if r[i] < 0:
                            break
                        v1 = _vnni_1x4(ring, (r[i],), c, start, stop)
                        for j in range(4):
                            if u + j <= last and where[u + j, i] >= 0:
                                out[where[u + j, i]] += v1[j]
    for p in range(rows.shape[0]):
        out[p] += 128 * sums[cols[p]]


@numba.njit(cache=True, nogil=True, inline="always")
def _dot_piece(a, b):
    # int32 arithmetic (numba would widen to int64 and lose half the vector lanes); exact for a
    # piece of at most 32768 bytes: 32768 * 255 * 255 < 2**31
    total = np.int32(0)
    for k in range(a.shape[0]):
        total = np.int32(total + np.int32(np.int32(a[k]) * np.int32(b[k])))
    return total


@numba.njit(cache=True, nogil=True)
def _pair_dots_portable(ring, rows, cols, out, sums):
    width = ring.shape[1]
    for start in range(0, width, CHUNK):
        stop = min(width, start + CHUNK)
        for p in range(rows.shape[0]):
            out[p] += _dot_piece(ring[rows[p], start:stop], ring[cols[p], start:stop])


def pair_dots(ring: np.ndarray, rows: np.ndarray, cols: np.ndarray, out: np.ndarray,
              sums: np.ndarray | None = None, vnni: bool | None = None) -> None:
    """Add the exact dot products ``ring[rows[p]] . ring[cols[p]]`` to ``out[p]`` (int64).

    ``ring``: (slots, width) uint8, C-contiguous, ``width`` a multiple of ``ALIGN``. ``rows`` must be
    sorted (pairs of one row together). ``sums[slot]``: the byte sum of each slot (computed when not
    given; the VNNI kernel needs it). ``vnni`` forces a kernel (tests).
    """
    rows = np.ascontiguousarray(rows, np.int64)
    cols = np.ascontiguousarray(cols, np.int64)
    if not len(rows):
        return
    use_vnni = VNNI if vnni is None else vnni
    if use_vnni:
        if sums is None:
            sums = ring.sum(axis=1, dtype=np.int64)
        _pair_dots_vnni(ring, rows, cols, out, sums)
    else:
        _pair_dots_portable(ring, rows, cols, out, np.zeros(1, np.int64))


@numba.njit(cache=True, nogil=True)
def store_frame(image, ring, slot, height, row_bytes, block_h, block_w, sums, squares, block_sums, block_squares):
    """Copy a frame (``image``: (height, row_bytes), rows may be padded, as decoders give them) into
    ``ring[slot]``, flat, and measure it
    on the way: its byte sum, its sum of squares, and per block of ``block_h`` rows x ``block_w``
    bytes the sum and sum of squares (features for ``bounds.py``). One pass over the frame: the
    source is read once (from memory, for frames held in a list), the rest stays in cache.

    Exact integer sums (int32 inside a block: at most 32 rows x 65025 per column)."""
    blocks_x = (row_bytes + block_w - 1) // block_w
    frame = ring[slot]
    for y in range(height):  # explicit loops: numba's slice assignment was 10x slower here
        base = y * row_bytes
        for x in range(row_bytes):
            frame[base + x] = image[y, x]
    column_sum = np.zeros(row_bytes, np.int32)
    column_sq = np.zeros(row_bytes, np.int32)
    total = 0
    total_sq = 0
    for y0 in range(0, height, block_h):
        y1 = min(height, y0 + block_h)
        for x in range(row_bytes):
            column_sum[x] = 0
            column_sq[x] = 0
        for y in range(y0, y1):  # vertical sums first: contiguous bytes, vectorised
            line = frame[y * row_bytes:(y + 1) * row_bytes]
            for x in range(row_bytes):
                v = np.int32(line[x])
                column_sum[x] = np.int32(column_sum[x] + v)
                column_sq[x] = np.int32(column_sq[x] + v * v)
        # Horizontal: per block, the sums of its columns. RGB blocks (24 bytes) as three runs of 8,
        # which LLVM turns into vector adds (11.5 -> 7.4 us a 150 px frame, copy included).
        full = row_bytes // 24 if block_w == 24 else 0
        for bx in range(blocks_x):
            x0 = bx * block_w
            s = np.int32(0)
            q = np.int32(0)
            if bx < full:
                for o in range(8):
                    s = np.int32(s + column_sum[x0 + o] + column_sum[x0 + 8 + o] + column_sum[x0 + 16 + o])
                    q = np.int32(q + column_sq[x0 + o] + column_sq[x0 + 8 + o] + column_sq[x0 + 16 + o])
            else:
                for x in range(x0, min(row_bytes, x0 + block_w)):
                    s = np.int32(s + column_sum[x])
                    q = np.int32(q + column_sq[x])
            index = (y0 // block_h) * blocks_x + bx
            block_sums[slot, index] = s
            block_squares[slot, index] = q
            total += s
            total_sq += q
    sums[slot] = total
    squares[slot] = total_sq


@numba.njit(cache=True, nogil=True)
def luma_stats(image, step):
    """Mean and standard deviation of the Rec. 601 luma (0-255) of an (H, W, 3+) uint8 image, on every
    ``step``-th pixel of every ``step``-th row: plenty for brightness and contrast. Integer sums
    (luma x 1000), exact."""
    total = 0
    total_sq = 0
    count = 0
    for y in range(0, image.shape[0], step):
        line = image[y]
        for x in range(0, image.shape[1], step):
            luma = 299 * np.int64(line[x, 0]) + 587 * np.int64(line[x, 1]) + 114 * np.int64(line[x, 2])
            total += luma
            total_sq += luma * luma
            count += 1
    mean = total / (1000.0 * count)
    return mean, np.sqrt(max(total_sq / (1e6 * count) - mean * mean, 0.0))


# -- loading -----------------------------------------------------------------------------------------
# The first call of a compiled function in a process costs ~0.3 s however small the job (numba sets
# up its compiler, then loads each function from its cache): a tenth of a whole 30 s clip's job.
# It is done in a thread while the decoder starts, and the first frames wait in a bounded list.

_ready = threading.Event()
_loading = threading.Lock()
_started = False


def warm_up() -> threading.Event:
    """Start loading the kernels in a background thread (once per process); the event is set when
    they are loaded (or failed to: the first real call then raises the error itself).

    >>> warm_up().wait(); _ready.is_set()                                # doctest: +SKIP
    True
    """
    global _started
    with _loading:
        if not _started:
            _started = True
            threading.Thread(target=_load, name="gifloop-kernels", daemon=True).start()
    return _ready


def _load() -> None:
    try:
        from . import screen  # here: screen imports this module

        ring = np.zeros((4, ALIGN), np.uint8)
        sums, squares = np.zeros(4, np.int64), np.zeros(4, np.int64)
        block_values = np.zeros((4, 1), np.int32)
        for image in (np.zeros((1, 3), np.uint8), np.zeros((1, 6), np.uint8)[:, :3]):  # whole and padded rows
            store_frame(image, ring, 0, 1, 3, 1, 3, sums, squares, block_values, block_values.copy())
        pair_dots(ring, np.array([1]), np.array([0]), np.zeros(1, np.int64), sums)
        luma_stats(np.zeros((2, 4, 3), np.uint8)[:, :2], 2)  # decoded frames have padded rows
        features, times = np.zeros((4, 2)), np.arange(2.0)
        bounds = np.empty((1, 2)), np.empty((1, 2)), np.empty((1, 2))
        index = np.empty(2, np.int64), np.empty(2, np.int64)
        screen.screen_block(features, squares, 3, np.array([1]), np.array([0, 1]), times, 1, 3.0, 3.0, 10.0, 0.6,
                            *index, *bounds)
        screen.peak_candidates(bounds[0], bounds[1], bounds[2], np.zeros(2), True, *index)
        screen.column_peaks(bounds[0], bounds[2], np.zeros(2))
    except Exception:  # noqa: BLE001 - the real call reports it
        pass
    finally:
        _ready.set()


def after_loading(frames: Iterable, limit: int) -> Iterator:
    """``frames``, passed on once the kernels are loaded; until then up to ``limit`` of them wait in
    a list (the decoder keeps going meanwhile), so memory stays bounded."""
    ready = warm_up()
    pending: list = []
    for item in frames:
        if not ready.is_set() and len(pending) < limit:
            pending.append(item)
            continue
        ready.wait()
        if pending:
            yield from pending
            pending.clear()
        yield item
    ready.wait()
    yield from pending
