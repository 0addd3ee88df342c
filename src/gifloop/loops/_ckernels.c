/* gifloop.loops._ckernels: the loop finder's compiled kernels (plain C99 + GCC attributes).

What is here, and why in C (numba's start-up cost ~0.3 s and ~100 MB a process, a tenth of a whole
job on a 30 s clip):

  Ring          the frame store of distances.py: frames of one size in the slots of a uint8 ring
                (zero-padded rows of ALIGN bytes), with per frame its time, byte sum, sum of
                squares and block features (bounds.py). One call stores a whole block of frames
                pulled from the caller's iterator; one call screens and matches a whole block, or
                starts that in the ring's helper thread while the caller stores the next block.
  pair_dots     exact integer dot products of ring rows (AVX-512 VNNI tiles, or a portable loop)
  store_frame   one frame into a ring slot with its sums and per-block sums (the tests' entry)
  pair_bounds   the lower and upper bound of one distance from two feature vectors (tests)
  luma_stats    mean and standard deviation of a frame's Rec. 601 luma, on a sparse grid

Every sum of bytes or byte products is an exact integer, so the distances built from them are
bit-identical to MoviePy's float64 sums (exact too: products of 0-255 values summed below 2**53);
the distance itself is MoviePy's float64 formula, in MoviePy's order.

Arrays arrive through the buffer protocol (shapes, strides and types are checked here); the work
runs without the GIL. The AVX-512 kernels are compiled for that ISA alone (function attributes) and
chosen at run time (__builtin_cpu_supports); every caller can ask for the portable ones instead,
so the tests run both.
*/
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <stddef.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

/* A helper thread matches a block while the caller stores the next one (POSIX threads; elsewhere,
   or -DGIFLOOP_NO_THREADS, the caller matches every block itself: same results). */
#if !defined(_WIN32) && !defined(GIFLOOP_NO_THREADS)
#define THREADS 1
#include <pthread.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>
#else
#define THREADS 0
#endif

#define ALIGN 64    /* bytes: one 512-bit vector; ring rows are padded to a multiple with zeros */
/* Bytes of each frame per pass of the VNNI kernel, so that a tile's row pieces stay in L1 while they
   meet their columns (4 KiB and 8 KiB measured alike on 150 px frames, 2 KiB slower); small enough
   for exact int32 lanes (a step adds at most 4 * 255 * 128 to a lane: 64 steps, 8.4e6). */
#define CHUNK 4096
#define GROUP 4     /* rows per tile */
#define FEATURE_LANES 8  /* feature vectors are padded to a multiple: one 512-bit vector of doubles */
/* After a slot's features: its byte sum and sum of squares before the split, and the sum of squares
   of the block rows after it (see Layout.split), as float64 (exact integers). */
#define FEATURE_EXTRA 8
enum { EXTRA_SUM, EXTRA_SQUARES, EXTRA_REST_SQUARES };

/* The AVX-512 kernels exist on x86-64 only (elsewhere the portable ones are all there is);
   -DGIFLOOP_PORTABLE_ONLY builds without them, to check that such a build works. */
#if (defined(__x86_64__) || defined(__i386__)) && !defined(GIFLOOP_PORTABLE_ONLY)
#define X86 1
#include <immintrin.h>
#define AVX512_TARGET __attribute__((target("avx512f,avx512bw,avx512vnni")))
#else
#define X86 0
#endif

static int cpu_avx512 = 0;  /* AVX-512 F, BW and VNNI, with the OS saving zmm state */

/* ---------------------------------------------------------------------------------------------
   Buffers */

enum kind { U8, I32, I64, F64 };

static const char *kind_name(enum kind kind) {
    switch (kind) {
    case U8: return "uint8";
    case I32: return "int32";
    case I64: return "int64";
    default: return "float64";
    }
}

/* Does the buffer hold ``kind`` values? (NumPy's formats: 'B', 'i', 'l' or 'q', 'd'.) */
static int is_kind(const Py_buffer *view, enum kind kind) {
    const char *f = view->format ? view->format : "B";
    if (*f == '@' || *f == '=' || *f == '<') f++;
    if (f[0] == 0 || f[1] != 0) return 0;
    switch (kind) {
    case U8: return view->itemsize == 1 && f[0] == 'B';
    case I32: return view->itemsize == 4 && (f[0] == 'i' || f[0] == 'l');
    case I64: return view->itemsize == 8 && (f[0] == 'l' || f[0] == 'q');
    default: return view->itemsize == 8 && f[0] == 'd';
    }
}

/* A C-contiguous array of ``ndim`` dimensions (0: any) and ``kind`` values; ValueError otherwise. */
static int get_array(PyObject *obj, Py_buffer *view, const char *name, int ndim, enum kind kind, int writable) {
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, view, flags) < 0) {
        PyErr_Clear();
        PyErr_Format(PyExc_ValueError, "%s must be a C-contiguous%s %s array", name, writable ? " writable" : "",
                     kind_name(kind));
        return -1;
    }
    if (!is_kind(view, kind) || (ndim && view->ndim != ndim)) {
        PyErr_Format(PyExc_ValueError, "%s must be a %d-dimensional %s array, got %d dimensions of format '%s'",
                     name, ndim ? ndim : 1, kind_name(kind), view->ndim, view->format ? view->format : "B");
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

static Py_ssize_t length(const Py_buffer *view) { return view->len / view->itemsize; }

/* ---------------------------------------------------------------------------------------------
   Frame layout and measurements: copy a frame into a ring slot; its sums, per-block sums, features */

typedef struct {
    Py_ssize_t rows, row_bytes;        /* a frame is ``rows`` rows of ``row_bytes`` values */
    Py_ssize_t block_rows, block_bytes;
    Py_ssize_t blocks_x, count;        /* blocks per block row, blocks per frame */
    Py_ssize_t values;                 /* rows * row_bytes: MoviePy's N */
    Py_ssize_t half;                   /* features: means at [0, count), rests at [half, half + count) */
    /* A far pair under screening gets its exact dot product first over bytes 0..split (a multiple
       of 64, about half the frame; 0: frames too small to bother), then that exact part plus the
       bound of the block rows from split_row on (blocks from split_block on) may rule it out. */
    Py_ssize_t split, split_row, split_block;
} Layout;

static int make_layout(Layout *lay, Py_ssize_t rows, Py_ssize_t row_bytes, Py_ssize_t block_rows,
                       Py_ssize_t block_bytes) {
    /* int32 block sums of squares stay exact up to 33,000 values a block (bounds.Blocks keeps to that) */
    if (rows < 1 || row_bytes < 1 || block_rows < 1 || block_bytes < 1 || block_rows * block_bytes > 33000) {
        PyErr_Format(PyExc_ValueError, "bad frame layout: %zd rows of %zd bytes in blocks of %zd x %zd "
                     "(at most 33,000 values a block)", rows, row_bytes, block_rows, block_bytes);
        return -1;
    }
    lay->rows = rows;
    lay->row_bytes = row_bytes;
    lay->block_rows = block_rows;
    lay->block_bytes = block_bytes;
    lay->blocks_x = (row_bytes + block_bytes - 1) / block_bytes;
    lay->count = lay->blocks_x * ((rows + block_rows - 1) / block_rows);
    lay->values = rows * row_bytes;
    lay->half = (lay->count + FEATURE_LANES - 1) / FEATURE_LANES * FEATURE_LANES;
    Py_ssize_t block_rows_in_frame = (rows + block_rows - 1) / block_rows;
    lay->split_row = block_rows_in_frame >= 4 ? block_rows_in_frame / 2 : 0;
    lay->split = lay->split_row * block_rows * row_bytes / ALIGN * ALIGN;
    lay->split_block = lay->split_row * lay->blocks_x;
    if (!lay->split) lay->split_row = lay->split_block = 0;
    return 0;
}

/* The extras of a frame (FEATURE_EXTRA) from its copy in the ring and its block sums: the sums
   before the split are those of the block rows before split_row, less the bytes from split to the
   end of that block row (fewer than 64). */
static void split_sums(const Layout *lay, const uint8_t *frame, const int32_t *block_sums,
                       const int32_t *block_squares, double *extra) {
    int64_t sum = 0, squares = 0, rest = 0;
    for (Py_ssize_t k = 0; k < lay->count; k++) {
        if (k < lay->split_block) {
            sum += block_sums[k];
            squares += block_squares[k];
        } else {
            rest += block_squares[k];
        }
    }
    for (Py_ssize_t x = lay->split; x < lay->split_row * lay->block_rows * lay->row_bytes; x++) {
        sum -= frame[x];
        squares -= (int64_t)frame[x] * frame[x];
    }
    extra[EXTRA_SUM] = (double)sum;
    extra[EXTRA_SQUARES] = (double)squares;
    extra[EXTRA_REST_SQUARES] = (double)rest;
    for (int k = EXTRA_REST_SQUARES + 1; k < FEATURE_EXTRA; k++) extra[k] = 0.0;
}

static Py_ssize_t min_ssize(Py_ssize_t a, Py_ssize_t b) { return a < b ? a : b; }

#if X86
/* The AVX-512 kernels' last step for block row ``by``: each block's sum and sum of squares from
   those of its groups of 8 bytes (``gs``, ``gq``). */
static void fold_groups(const Layout *lay, Py_ssize_t by, const int64_t *gs, const int64_t *gq, int32_t *block_sums,
                        int32_t *block_squares) {
    const Py_ssize_t per_block = lay->block_bytes / 8, groups = (lay->row_bytes + 7) / 8;
    for (Py_ssize_t bx = 0; bx < lay->blocks_x; bx++) {
        Py_ssize_t g0 = bx * per_block, g1 = min_ssize(groups, g0 + per_block);
        int64_t sum = 0, sq = 0;
        for (Py_ssize_t g = g0; g < g1; g++) {
            sum += gs[g];
            sq += gq[g];
        }
        block_sums[by * lay->blocks_x + bx] = (int32_t)sum;
        block_squares[by * lay->blocks_x + bx] = (int32_t)sq;
    }
}
#endif

/* Scratch for one frame's measurement: per-column (or column pair) sums of one block row. */
typedef struct {
    uint32_t *sums, *squares;  /* row_bytes + 64 entries each (used as int64 by the AVX-512 kernel) */
} Columns;

/* Portable, on one block row of the frame's copy (in cache): vertical sums per column (GCC
   vectorises the inner loop), then per block the sum of its columns. */
static void measure_portable(const Layout *lay, const uint8_t *frame, Py_ssize_t by, int32_t *block_sums,
                             int32_t *block_squares, Columns *cols) {
    const Py_ssize_t rb = lay->row_bytes, y0 = by * lay->block_rows, y1 = min_ssize(lay->rows, y0 + lay->block_rows);
    uint32_t *cs = cols->sums, *cq = cols->squares;
    memset(cs, 0, rb * sizeof(uint32_t));
    memset(cq, 0, rb * sizeof(uint32_t));
    for (Py_ssize_t y = y0; y < y1; y++) {
        const uint8_t *s = frame + y * rb;
        for (Py_ssize_t x = 0; x < rb; x++) {
            uint32_t v = s[x];
            cs[x] += v;
            cq[x] += v * v;
        }
    }
    for (Py_ssize_t bx = 0; bx < lay->blocks_x; bx++) {
        Py_ssize_t x0 = bx * lay->block_bytes, x1 = min_ssize(rb, x0 + lay->block_bytes);
        uint32_t s = 0, q = 0;
        for (Py_ssize_t x = x0; x < x1; x++) {
            s += cs[x];
            q += cq[x];
        }
        block_sums[by * lay->blocks_x + bx] = (int32_t)s;
        block_squares[by * lay->blocks_x + bx] = (int32_t)q;
    }
}

#if X86
/* AVX-512, on one block row of the frame's copy (in L1): 64 columns at a time down the block row,
   in registers (Zen 4 stores one 256-bit vector a cycle: accumulators kept in memory row by row made
   it store-bound). Per 8-byte group the byte sum (vpsadbw) and the sum of squares: the even and the
   odd bytes as 16-bit lanes (a mask, a shift: no widening shuffles), squared and summed in pairs by
   vpdpwssd, then the two dwords of each group added. A block is a whole number of 8-byte groups
   (bounds.Blocks: 8 pixels of all channels), so each block adds up its groups. The last piece of a
   row is loaded masked: bytes past the row read as zeros. */
AVX512_TARGET
static void measure_avx512(const Layout *lay, const uint8_t *frame, Py_ssize_t by, int32_t *block_sums,
                           int32_t *block_squares, Columns *cols) {
    const Py_ssize_t rb = lay->row_bytes, y0 = by * lay->block_rows;
    const uint8_t *top = frame + y0 * rb, *end = frame + min_ssize(lay->rows, y0 + lay->block_rows) * rb;
    int64_t *gs = (int64_t *)cols->sums;     /* per 8-byte group: byte sums */
    int64_t *gq = (int64_t *)cols->squares;  /* per 8-byte group: sums of squares */
    const __m512i zero = _mm512_setzero_si512(), low_bytes = _mm512_set1_epi16(0xff);
    for (Py_ssize_t x = 0; x < rb; x += 64) {
        __mmask64 mask = rb - x >= 64 ? ~(__mmask64)0 : ((__mmask64)1 << (rb - x)) - 1;
        __m512i sum = zero, even = zero, odd = zero;
        for (const uint8_t *row = top + x; row < end; row += rb) {
            __m512i v = _mm512_maskz_loadu_epi8(mask, row);
            __m512i e = _mm512_and_si512(v, low_bytes), o = _mm512_srli_epi16(v, 8);
            sum = _mm512_add_epi64(sum, _mm512_sad_epu8(v, zero));
            even = _mm512_dpwssd_epi32(even, e, e);
            odd = _mm512_dpwssd_epi32(odd, o, o);
        }
        __m512i sq = _mm512_add_epi32(even, odd);  /* dword k: bytes 4k..4k+3 */
        sq = _mm512_add_epi32(sq, _mm512_srli_epi64(sq, 32));
        _mm512_storeu_si512(gs + x / 8, sum);
        _mm512_storeu_si512(gq + x / 8, _mm512_and_si512(sq, _mm512_set1_epi64(0xffffffff)));
    }
    fold_groups(lay, by, gs, gq, block_sums, block_squares);
}

/* AVX-512, copy and measure in one pass, for rows of at most 512 bytes (thumbnails up to 170 px):
   a block row's accumulators for all 8 pieces of 64 bytes stay in registers (24 of 32), so the
   source is read once, row by row, as the prefetchers like it, and the arithmetic hides behind the
   reads (a decoded 150 px frame held in a list comes from memory: copied, 3.9 us; copied then
   measured, 6.1 us; both in one pass, 5.1 us). Same sums as measure_avx512. The last piece of a row is loaded masked and
   stored whole (its zeros land on the next row, which is stored after it), except where it would
   leave the frame (the last row; more with rows under 64 bytes). */
#define PIECE(j)                                                                                   \
    if (j < pieces) {                                                                              \
        __m512i v = j == pieces - 1 ? _mm512_maskz_loadu_epi8(tail, s + 64 * j) : _mm512_loadu_si512(s + 64 * j); \
        if (j == pieces - 1 && past_end)                                                           \
            _mm512_mask_storeu_epi8(d + 64 * j, tail, v);                                          \
        else                                                                                       \
            _mm512_storeu_si512(d + 64 * j, v);                                                    \
        __m512i e = _mm512_and_si512(v, low_bytes), o = _mm512_srli_epi16(v, 8);                   \
        sum##j = _mm512_add_epi64(sum##j, _mm512_sad_epu8(v, zero));                               \
        even##j = _mm512_dpwssd_epi32(even##j, e, e);                                              \
        odd##j = _mm512_dpwssd_epi32(odd##j, o, o);                                                \
    }
#define KEEP(j)                                                                                    \
    if (j < pieces) {                                                                              \
        __m512i sq = _mm512_add_epi32(even##j, odd##j);                                            \
        sq = _mm512_add_epi32(sq, _mm512_srli_epi64(sq, 32));                                      \
        _mm512_storeu_si512(gs + 8 * j, sum##j);                                                   \
        _mm512_storeu_si512(gq + 8 * j, _mm512_and_si512(sq, _mm512_set1_epi64(0xffffffff)));      \
    }

AVX512_TARGET
static void copy_measure_avx512(const Layout *lay, const uint8_t *src, Py_ssize_t stride, uint8_t *dst,
                                int32_t *block_sums, int32_t *block_squares, Columns *cols) {
    const Py_ssize_t rb = lay->row_bytes, pieces = (rb + 63) / 64;
    const __mmask64 tail = rb % 64 ? ((__mmask64)1 << (rb % 64)) - 1 : ~(__mmask64)0;
    int64_t *gs = (int64_t *)cols->sums, *gq = (int64_t *)cols->squares;
    const __m512i zero = _mm512_setzero_si512(), low_bytes = _mm512_set1_epi16(0xff);
    for (Py_ssize_t y0 = 0, by = 0; y0 < lay->rows; y0 += lay->block_rows, by++) {
        __m512i sum0 = zero, sum1 = zero, sum2 = zero, sum3 = zero, sum4 = zero, sum5 = zero, sum6 = zero, sum7 = zero;
        __m512i even0 = zero, even1 = zero, even2 = zero, even3 = zero, even4 = zero, even5 = zero, even6 = zero,
                even7 = zero;
        __m512i odd0 = zero, odd1 = zero, odd2 = zero, odd3 = zero, odd4 = zero, odd5 = zero, odd6 = zero, odd7 = zero;
        for (Py_ssize_t y = y0; y < min_ssize(lay->rows, y0 + lay->block_rows); y++) {
            const uint8_t *s = src + y * stride;
            uint8_t *d = dst + y * rb;
            int past_end = y * rb + 64 * pieces > lay->values;  /* a whole last piece would leave the frame */
            PIECE(0) PIECE(1) PIECE(2) PIECE(3) PIECE(4) PIECE(5) PIECE(6) PIECE(7)
        }
        KEEP(0) KEEP(1) KEEP(2) KEEP(3) KEEP(4) KEEP(5) KEEP(6) KEEP(7)
        fold_groups(lay, by, gs, gq, block_sums, block_squares);
    }
}

/* Padded rows (decoded frames: 576 bytes apart for 450 at 150 px) copied with 64-byte vectors, the
   last one ending at the row's end and overlapping the one before (no masked stores: slow on
   Zen 4); one memcpy call a row of 450 bytes cost ~1 us a frame. Rows of 64 bytes or more. */
AVX512_TARGET
static void copy_rows_avx512(const uint8_t *src, Py_ssize_t stride, uint8_t *dst, Py_ssize_t rb, Py_ssize_t rows) {
    for (Py_ssize_t y = 0; y < rows; y++, src += stride, dst += rb) {
        Py_ssize_t x = 0;
        for (; x + 64 <= rb; x += 64) _mm512_storeu_si512(dst + x, _mm512_loadu_si512(src + x));
        if (x < rb) _mm512_storeu_si512(dst + rb - 64, _mm512_loadu_si512(src + rb - 64));
    }
}

#endif

/* Copy a frame (rows of ``row_bytes`` contiguous bytes, ``stride`` apart) into ``dst`` and measure
   it: per-block sums and sums of squares, and their totals. Block row by block row, the copy
   first: the sums then read the copy from L1 (a frame held in a list is read from memory once, at
   the copy's speed). */
static void measure_frame(const Layout *lay, const uint8_t *src, Py_ssize_t stride, uint8_t *dst,
                          int32_t *block_sums, int32_t *block_squares, int64_t *sum, int64_t *square,
                          Columns *cols, int avx512) {
    const Py_ssize_t rb = lay->row_bytes;
    avx512 = X86 && avx512 && lay->block_bytes % 8 == 0;
#if X86
    if (avx512 && rb <= 512)
        copy_measure_avx512(lay, src, stride, dst, block_sums, block_squares, cols);
    else
#endif
        for (Py_ssize_t y0 = 0, by = 0; y0 < lay->rows; y0 += lay->block_rows, by++) {
            Py_ssize_t rows = min_ssize(lay->rows - y0, lay->block_rows);
            if (stride == rb)
                memcpy(dst + y0 * rb, src + y0 * rb, rows * rb);
#if X86
            else if (avx512 && rb >= 64)
                copy_rows_avx512(src + y0 * stride, stride, dst + y0 * rb, rb, rows);
#endif
            else
                for (Py_ssize_t y = y0; y < y0 + rows; y++) memcpy(dst + y * rb, src + y * stride, rb);
#if X86
            if (avx512)
                measure_avx512(lay, dst, by, block_sums, block_squares, cols);
            else
#endif
                measure_portable(lay, dst, by, block_sums, block_squares, cols);
        }
    int64_t s = 0, q = 0;
    for (Py_ssize_t k = 0; k < lay->count; k++) {
        s += block_sums[k];
        q += block_squares[k];
    }
    *sum = s;
    *square = q;
}

/* Per block its number of values ``m`` and ``sqrt(m)``, padded to ``half`` with ones. */
static int block_sizes(const Layout *lay, double **sizes, double **roots) {
    *sizes = PyMem_RawMalloc(lay->half * sizeof(double));
    *roots = PyMem_RawMalloc(lay->half * sizeof(double));
    if (!*sizes || !*roots) return -1;
    for (Py_ssize_t k = 0; k < lay->half; k++) {
        Py_ssize_t by = k / lay->blocks_x, bx = k % lay->blocks_x;
        Py_ssize_t h = min_ssize(lay->rows - by * lay->block_rows, lay->block_rows);
        Py_ssize_t w = min_ssize(lay->row_bytes - bx * lay->block_bytes, lay->block_bytes);
        (*sizes)[k] = k < lay->count ? (double)(h * w) : 1.0;
        (*roots)[k] = sqrt((*sizes)[k]);
    }
    return 0;
}

/* Feature vector of bounds.py from the block sums (zero-padded to ``half``): ``s / sqrt(m)``, then
   ``sqrt((m q - s^2) / m)``, the same float64 operations as ``Blocks.features`` (``m q - s^2`` is
   exact: below 2**53). Padding blocks (m = 1, no sums) give zeros. */
static void features_portable(Py_ssize_t half, const double *sizes, const double *roots, const int32_t *bs,
                              const int32_t *bq, double *out) {
    for (Py_ssize_t k = 0; k < half; k++) {
        double s = bs[k], spread = sizes[k] * (double)bq[k] - s * s;
        out[k] = s / roots[k];
        out[half + k] = sqrt((spread > 0.0 ? spread : 0.0) / sizes[k]);
    }
}

#if X86
/* The same, 8 blocks a step (libm's scalar sqrt took 1.5 us a 150 px frame). */
AVX512_TARGET
static void features_avx512(Py_ssize_t half, const double *sizes, const double *roots, const int32_t *bs,
                            const int32_t *bq, double *out) {
    for (Py_ssize_t k = 0; k < half; k += 8) {
        __m512d s = _mm512_cvtepi32_pd(_mm256_loadu_si256((const __m256i *)(bs + k)));
        __m512d q = _mm512_cvtepi32_pd(_mm256_loadu_si256((const __m256i *)(bq + k)));
        __m512d m = _mm512_loadu_pd(sizes + k);
        __m512d spread = _mm512_max_pd(_mm512_sub_pd(_mm512_mul_pd(m, q), _mm512_mul_pd(s, s)), _mm512_setzero_pd());
        _mm512_storeu_pd(out + k, _mm512_div_pd(s, _mm512_loadu_pd(roots + k)));
        _mm512_storeu_pd(out + half + k, _mm512_sqrt_pd(_mm512_div_pd(spread, m)));
    }
}

#endif

/* ---------------------------------------------------------------------------------------------
   Exact dot products of ring rows */

#if X86
/* VNNI tile: dot products of ``NR`` ring rows with 4 ring rows (the columns), bytes start..stop, as
   ``sum(col * (row - 128))``: vpdpbusd multiplies unsigned by signed bytes, and ``row ^ 0x80`` read
   as signed is ``row - 128`` (the caller adds ``128 * sum(col)``). Each loaded vector serves several
   products, as in a matrix-product micro-kernel: 4 x 4 tiles took 0.28 us a pair of 150 px frames,
   1 x 4 0.57. One accumulator per product: independent chains hide vpdpbusd's latency. */
#define DPBUSD(acc, col, row) acc = _mm512_dpbusd_epi32(acc, col, row)
#define ROW(k) _mm512_xor_si512(_mm512_loadu_si512(ring + r[k] * width + o), flip)

/* Named accumulators, not arrays: with arrays of vectors GCC copied accumulators and reloaded
   columns every step (0.37 against 0.2x us a pair). */
AVX512_TARGET
static void vnni_4x4(const uint8_t *ring, Py_ssize_t width, const Py_ssize_t *r, const Py_ssize_t *c,
                     Py_ssize_t start, Py_ssize_t stop, int32_t *out) {
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    const uint8_t *c0 = ring + c[0] * width, *c1 = ring + c[1] * width, *c2 = ring + c[2] * width,
                  *c3 = ring + c[3] * width;
    __m512i a00 = _mm512_setzero_si512(), a01 = a00, a02 = a00, a03 = a00, a10 = a00, a11 = a00, a12 = a00,
            a13 = a00, a20 = a00, a21 = a00, a22 = a00, a23 = a00, a30 = a00, a31 = a00, a32 = a00, a33 = a00;
    for (Py_ssize_t o = start; o < stop; o += 64) {
        __m512i y0 = _mm512_loadu_si512(c0 + o), y1 = _mm512_loadu_si512(c1 + o), y2 = _mm512_loadu_si512(c2 + o),
                y3 = _mm512_loadu_si512(c3 + o), x;
        x = ROW(0); DPBUSD(a00, y0, x); DPBUSD(a01, y1, x); DPBUSD(a02, y2, x); DPBUSD(a03, y3, x);
        x = ROW(1); DPBUSD(a10, y0, x); DPBUSD(a11, y1, x); DPBUSD(a12, y2, x); DPBUSD(a13, y3, x);
        x = ROW(2); DPBUSD(a20, y0, x); DPBUSD(a21, y1, x); DPBUSD(a22, y2, x); DPBUSD(a23, y3, x);
        x = ROW(3); DPBUSD(a30, y0, x); DPBUSD(a31, y1, x); DPBUSD(a32, y2, x); DPBUSD(a33, y3, x);
    }
    const __m512i acc[16] = {a00, a01, a02, a03, a10, a11, a12, a13, a20, a21, a22, a23, a30, a31, a32, a33};
    for (int k = 0; k < 16; k++) out[k] = _mm512_reduce_add_epi32(acc[k]);
}

AVX512_TARGET
static void vnni_1x4(const uint8_t *ring, Py_ssize_t width, const Py_ssize_t *r, const Py_ssize_t *c,
                     Py_ssize_t start, Py_ssize_t stop, int32_t *out) {
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    const uint8_t *c0 = ring + c[0] * width, *c1 = ring + c[1] * width, *c2 = ring + c[2] * width,
                  *c3 = ring + c[3] * width;
    __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
    for (Py_ssize_t o = start; o < stop; o += 64) {
        __m512i x = ROW(0);
        DPBUSD(a0, _mm512_loadu_si512(c0 + o), x);
        DPBUSD(a1, _mm512_loadu_si512(c1 + o), x);
        DPBUSD(a2, _mm512_loadu_si512(c2 + o), x);
        DPBUSD(a3, _mm512_loadu_si512(c3 + o), x);
    }
    out[0] = _mm512_reduce_add_epi32(a0);
    out[1] = _mm512_reduce_add_epi32(a1);
    out[2] = _mm512_reduce_add_epi32(a2);
    out[3] = _mm512_reduce_add_epi32(a3);
}

#endif

/* Portable: one pair, exact in uint32 pieces of 32,768 bytes (32,768 * 255 * 255 < 2**32); GCC
   vectorises the loop (pmaddwd). */
static int64_t dot_portable(const uint8_t *a, const uint8_t *b, Py_ssize_t n) {
    int64_t total = 0;
    for (Py_ssize_t start = 0; start < n; start += 32768) {
        Py_ssize_t stop = min_ssize(n, start + 32768);
        uint32_t piece = 0;
        for (Py_ssize_t k = start; k < stop; k++) piece += (uint32_t)a[k] * b[k];
        total += piece;
    }
    return total;
}

#if X86
/* The tiles for pairs sorted by row: groups of up to GROUP consecutive distinct rows, each against
   the union of their columns (rows of similar frames want similar columns: the union costs 10-30 %
   more products, each at half the price). ``where[u * GROUP + g]``: the pair of (row g of the group,
   union column u), or -1. */
typedef struct {
    Py_ssize_t groups;
    Py_ssize_t *rows;   /* [group * GROUP + g]: ring rows, -1 past the group's end */
    Py_ssize_t *start;  /* [group]: first union entry; start[groups] = entries */
    Py_ssize_t *uni;    /* union columns */
    Py_ssize_t *where;
    char *done;         /* pairs placed in a tile (a pair given twice in one group is not) */
} Tiles;

static void free_tiles(Tiles *t) {
    PyMem_RawFree(t->rows);
    PyMem_RawFree(t->start);
    PyMem_RawFree(t->uni);
    PyMem_RawFree(t->where);
    PyMem_RawFree(t->done);
}

static int plan_tiles(Tiles *t, const Py_ssize_t *rows, const Py_ssize_t *cols, Py_ssize_t count,
                      Py_ssize_t slots) {
    Py_ssize_t *seen = PyMem_RawMalloc(slots * sizeof(Py_ssize_t));  /* union position of a column */
    t->rows = PyMem_RawMalloc(count * GROUP * sizeof(Py_ssize_t));
    t->start = PyMem_RawMalloc((count + 1) * sizeof(Py_ssize_t));
    t->uni = PyMem_RawMalloc(count * sizeof(Py_ssize_t));
    t->where = PyMem_RawMalloc(count * GROUP * sizeof(Py_ssize_t));
    t->done = PyMem_RawCalloc(count, 1);
    if (!seen || !t->rows || !t->start || !t->uni || !t->where || !t->done) {
        PyMem_RawFree(seen);
        free_tiles(t);
        return -1;
    }
    for (Py_ssize_t k = 0; k < slots; k++) seen[k] = -1;
    for (Py_ssize_t k = 0; k < count * GROUP; k++) t->rows[k] = t->where[k] = -1;
    Py_ssize_t groups = 0, used = 0, p = 0;
    while (p < count) {
        Py_ssize_t first_used = used;
        t->start[groups] = used;
        for (int g = 0; g < GROUP && p < count; g++) {
            Py_ssize_t r = rows[p];
            t->rows[groups * GROUP + g] = r;
            for (; p < count && rows[p] == r; p++) {
                Py_ssize_t c = cols[p];
                if (seen[c] < first_used) {
                    seen[c] = used;
                    t->uni[used++] = c;
                }
                Py_ssize_t *slot = &t->where[seen[c] * GROUP + g];
                if (*slot < 0) {
                    *slot = p;
                    t->done[p] = 1;
                }
            }
        }
        groups++;
    }
    t->start[groups] = used;
    t->groups = groups;
    PyMem_RawFree(seen);
    return 0;
}

static void vnni_dots(const uint8_t *ring, Py_ssize_t width, Py_ssize_t from, Py_ssize_t to, const Tiles *t,
                      int64_t *out) {
    int32_t v[GROUP * 4];
    for (Py_ssize_t start = from; start < to; start += CHUNK) {
        Py_ssize_t stop = min_ssize(to, start + CHUNK);
        for (Py_ssize_t g = 0; g < t->groups; g++) {
            const Py_ssize_t *r = t->rows + g * GROUP, last = t->start[g + 1] - 1;
            for (Py_ssize_t u = t->start[g]; u <= last; u += 4) {
                Py_ssize_t c[4];  /* a short last tile repeats a column; its sums are dropped */
                for (int j = 0; j < 4; j++) c[j] = t->uni[min_ssize(u + j, last)];
                if (r[GROUP - 1] >= 0)
                    vnni_4x4(ring, width, r, c, start, stop, v);
                else  /* the last group of a list may be short */
                    for (int i = 0; i < GROUP && r[i] >= 0; i++) vnni_1x4(ring, width, r + i, c, start, stop, v + 4 * i);
                for (int i = 0; i < GROUP && r[i] >= 0; i++)
                    for (int j = 0; j < 4 && u + j <= last; j++) {
                        Py_ssize_t p = t->where[(u + j) * GROUP + i];
                        if (p >= 0) out[p] += v[4 * i + j];
                    }
            }
        }
    }
}

#endif

/* ``out[p] = ring[rows[p]] . ring[cols[p]]`` over bytes ``from..to`` (multiples of 64), exactly;
   rows sorted (pairs of one row together) for the VNNI tiles, which need every column's byte sum
   over those bytes (``sums``, by ring row). Without the GIL. */
static int pair_dots_c(const uint8_t *ring, Py_ssize_t width, Py_ssize_t slots, Py_ssize_t from, Py_ssize_t to,
                       const int64_t *sums, const Py_ssize_t *rows, const Py_ssize_t *cols, Py_ssize_t count,
                       int64_t *out, int vnni) {
    if (!X86 || !vnni) {
        for (Py_ssize_t p = 0; p < count; p++)
            out[p] = dot_portable(ring + rows[p] * width + from, ring + cols[p] * width + from, to - from);
        return 0;
    }
#if X86
    Tiles t;
    if (plan_tiles(&t, rows, cols, count, slots) < 0) return -1;
    memset(out, 0, count * sizeof(int64_t));
    vnni_dots(ring, width, from, to, &t, out);
    for (Py_ssize_t p = 0; p < count; p++) {
        if (t.done[p])
            out[p] += 128 * sums[cols[p]];
        else
            out[p] = dot_portable(ring + rows[p] * width + from, ring + cols[p] * width + from, to - from);
    }
    free_tiles(&t);
#endif
    return 0;
}

/* MoviePy's distance from exact integer sums: its operations in its order,
   sqrt(u + v - 2 uv), each term divided by N (u: the later frame). */
static double distance(int64_t square_row, int64_t square_col, int64_t dot, Py_ssize_t values) {
    double n = (double)values;
    double sq = ((double)square_row / n + (double)square_col / n) - 2.0 * ((double)dot / n);
    return sqrt(sq > 0.0 ? sq : 0.0);  /* rounding must not turn into NaN under the square root */
}

/* ---------------------------------------------------------------------------------------------
   Bounds (bounds.py): feature dot products, four columns at a time */

/* ``means[j] = a[:n] . b_j[:n]`` and ``rests[j] = a[half:half+n] . b_j[half:half+n]`` for 4 columns
   ``b_j``; n a multiple of FEATURE_LANES. Partial sums in FEATURE_LANES lanes (any order of
   summation keeps the rounding far inside the bounds' margin). */
static void feature_dots_portable(const double *a, const double *const *b, Py_ssize_t n, Py_ssize_t half,
                                  double *means, double *rests) {
    for (int j = 0; j < 4; j++) {
        double m[FEATURE_LANES] = {0}, r[FEATURE_LANES] = {0}, sm = 0.0, sr = 0.0;
        for (Py_ssize_t i = 0; i < n; i += FEATURE_LANES)
            for (int k = 0; k < FEATURE_LANES; k++) {  /* GCC vectorises the lanes */
                m[k] += a[i + k] * b[j][i + k];
                r[k] += a[half + i + k] * b[j][half + i + k];
            }
        for (int k = 0; k < FEATURE_LANES; k++) {
            sm += m[k];
            sr += r[k];
        }
        means[j] = sm;
        rests[j] = sr;
    }
}

/* The part of the feature dot products (means and rests) over blocks 0..split-1 of the pairs of
   feature_dots_2x4, lanes ``from..split-1`` only (the vector part took the rest). */
static void prefix_tail(const double *const *a, const double *const *b, Py_ssize_t half, Py_ssize_t from,
                        Py_ssize_t split, double *pre) {
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 4; j++)
            for (Py_ssize_t k = from; k < split; k++)
                pre[4 * i + j] += a[i][k] * b[j][k] + a[i][half + k] * b[j][half + k];
}

/* Two rows against the same 4 columns: ``means[4 i + j]``, ``rests[4 i + j]`` for row ``a[i]``, and
   ``pre[4 i + j]``: means and rests together over the blocks before ``split`` (Layout). */
static void feature_dots_2x4_portable(const double *const *a, const double *const *b, Py_ssize_t n, Py_ssize_t half,
                                      Py_ssize_t split, double *means, double *rests, double *pre) {
    feature_dots_portable(a[0], b, n, half, means, rests);
    feature_dots_portable(a[1], b, n, half, means + 4, rests + 4);
    for (int k = 0; k < 8; k++) pre[k] = 0.0;
    prefix_tail(a, b, half, 0, split, pre);
}

#if X86
/* One 512-bit vector a step; each column vector loaded serves both rows: 12 loads for 16 FMAs,
   against 10 for 8 a row at a time. (GCC's own vectorisation of the portable loops shuffled and
   spilled: 4x slower.) */
AVX512_TARGET
static void feature_dots_2x4_avx512(const double *const *a, const double *const *b, Py_ssize_t n, Py_ssize_t half,
                                    Py_ssize_t split, double *means, double *rests, double *pre) {
    __m512d m0 = _mm512_setzero_pd(), m1 = m0, m2 = m0, m3 = m0, m4 = m0, m5 = m0, m6 = m0, m7 = m0;
    __m512d r0 = m0, r1 = m0, r2 = m0, r3 = m0, r4 = m0, r5 = m0, r6 = m0, r7 = m0;
    __m512d at_split[8];  /* the sums of the whole vectors before the split */
    const double *a0 = a[0], *a1 = a[1], *b0 = b[0], *b1 = b[1], *b2 = b[2], *b3 = b[3];
    const Py_ssize_t split8 = split / 8 * 8;
    for (Py_ssize_t i = 0; i < n; i += 8) {
        if (i == split8) {
            at_split[0] = _mm512_add_pd(m0, r0), at_split[1] = _mm512_add_pd(m1, r1);
            at_split[2] = _mm512_add_pd(m2, r2), at_split[3] = _mm512_add_pd(m3, r3);
            at_split[4] = _mm512_add_pd(m4, r4), at_split[5] = _mm512_add_pd(m5, r5);
            at_split[6] = _mm512_add_pd(m6, r6), at_split[7] = _mm512_add_pd(m7, r7);
        }
        __m512d x0 = _mm512_loadu_pd(a0 + i), x1 = _mm512_loadu_pd(a1 + i), y;
        y = _mm512_loadu_pd(b0 + i); m0 = _mm512_fmadd_pd(x0, y, m0); m4 = _mm512_fmadd_pd(x1, y, m4);
        y = _mm512_loadu_pd(b1 + i); m1 = _mm512_fmadd_pd(x0, y, m1); m5 = _mm512_fmadd_pd(x1, y, m5);
        y = _mm512_loadu_pd(b2 + i); m2 = _mm512_fmadd_pd(x0, y, m2); m6 = _mm512_fmadd_pd(x1, y, m6);
        y = _mm512_loadu_pd(b3 + i); m3 = _mm512_fmadd_pd(x0, y, m3); m7 = _mm512_fmadd_pd(x1, y, m7);
        x0 = _mm512_loadu_pd(a0 + half + i);
        x1 = _mm512_loadu_pd(a1 + half + i);
        y = _mm512_loadu_pd(b0 + half + i); r0 = _mm512_fmadd_pd(x0, y, r0); r4 = _mm512_fmadd_pd(x1, y, r4);
        y = _mm512_loadu_pd(b1 + half + i); r1 = _mm512_fmadd_pd(x0, y, r1); r5 = _mm512_fmadd_pd(x1, y, r5);
        y = _mm512_loadu_pd(b2 + half + i); r2 = _mm512_fmadd_pd(x0, y, r2); r6 = _mm512_fmadd_pd(x1, y, r6);
        y = _mm512_loadu_pd(b3 + half + i); r3 = _mm512_fmadd_pd(x0, y, r3); r7 = _mm512_fmadd_pd(x1, y, r7);
    }
    const __m512d ms[8] = {m0, m1, m2, m3, m4, m5, m6, m7}, rs[8] = {r0, r1, r2, r3, r4, r5, r6, r7};
    for (int k = 0; k < 8; k++) {
        means[k] = _mm512_reduce_add_pd(ms[k]);
        rests[k] = _mm512_reduce_add_pd(rs[k]);
        pre[k] = split ? _mm512_reduce_add_pd(at_split[k]) : 0.0;
    }
    prefix_tail(a, b, half, split8, split, pre);
}
#endif

/* Lower and upper bounds of N times MoviePy's squared distance, from the exact sums of squares and
   the feature dot products (bounds.py), widened by ``margin`` relative to |a|^2 + |b|^2. */
static void squared_bounds(int64_t square_a, int64_t square_b, double means, double rests, double margin,
                           double *lower, double *upper) {
    double total = (double)square_a + (double)square_b, slack = margin * total;
    double low = total - 2.0 * (means + rests);
    *upper = low + 4.0 * rests + slack;
    *lower = low - slack > 0.0 ? low - slack : 0.0;
}

/* The same as distances: ``(lower, upper)`` bounds of MoviePy's distance. */
static void bounds_of(int64_t square_a, int64_t square_b, double means, double rests, Py_ssize_t values,
                      double margin, double *lower, double *upper) {
    squared_bounds(square_a, square_b, means, rests, margin, lower, upper);
    *lower = sqrt(*lower / (double)values);
    *upper = sqrt(*upper / (double)values);
}

/* ---------------------------------------------------------------------------------------------
   Luma statistics */

/* Mean and standard deviation of the Rec. 601 luma (0-255) of an (H, W, 3+) uint8 image, on every
   ``step``-th pixel of every ``step``-th row. Integer sums (luma x 1000), exact. */
static PyObject *luma_stats(PyObject *module, PyObject *args) {
    PyObject *obj;
    Py_ssize_t step;
    Py_buffer view;
    if (!PyArg_ParseTuple(args, "On:luma_stats", &obj, &step)) return NULL;
    if (step < 1) return PyErr_Format(PyExc_ValueError, "step must be 1 or more, got %zd", step);
    if (PyObject_GetBuffer(obj, &view, PyBUF_RECORDS_RO) < 0) return NULL;
    if (view.ndim != 3 || !is_kind(&view, U8) || view.shape[2] < 3 || view.shape[0] < 1 || view.shape[1] < 1) {
        PyBuffer_Release(&view);
        return PyErr_Format(PyExc_ValueError, "luma_stats needs an (H, W, 3+) uint8 image with pixels");
    }
    int64_t total = 0, total_sq = 0, count = 0;
    const Py_ssize_t *sh = view.shape, *st = view.strides;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t y = 0; y < sh[0]; y += step) {
        const uint8_t *line = (const uint8_t *)view.buf + y * st[0];
        for (Py_ssize_t x = 0; x < sh[1]; x += step) {
            const uint8_t *px = line + x * st[1];
            int64_t luma = 299 * (int64_t)px[0] + 587 * (int64_t)px[st[2]] + 114 * (int64_t)px[2 * st[2]];
            total += luma;
            total_sq += luma * luma;
            count++;
        }
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    double mean = (double)total / (1000.0 * (double)count);
    double var = (double)total_sq / (1e6 * (double)count) - mean * mean;
    return Py_BuildValue("dd", mean, sqrt(var > 0.0 ? var : 0.0));
}

/* ---------------------------------------------------------------------------------------------
   Module functions for direct use (tests, benchmarks) */

static int index_array(PyObject *obj, Py_buffer *view, const char *name, Py_ssize_t limit) {
    if (get_array(obj, view, name, 1, I64, 0) < 0) return -1;
    const int64_t *v = view->buf;
    for (Py_ssize_t k = 0; k < length(view); k++)
        if (v[k] < 0 || v[k] >= limit) {
            PyErr_Format(PyExc_ValueError, "%s[%zd] = %lld is not a ring row (0 to %zd)", name, k,
                         (long long)v[k], limit - 1);
            PyBuffer_Release(view);
            return -1;
        }
    return 0;
}

static PyObject *py_pair_dots(PyObject *module, PyObject *args) {
    PyObject *ring_o, *rows_o, *cols_o, *out_o, *sums_o;
    int vnni;
    Py_buffer ring, rows, cols, out, sums = {0};
    if (!PyArg_ParseTuple(args, "OOOOOp:pair_dots", &ring_o, &rows_o, &cols_o, &out_o, &sums_o, &vnni)) return NULL;
    if (vnni && !cpu_avx512) return PyErr_Format(PyExc_ValueError, "this CPU has no AVX-512 VNNI");
    if (get_array(ring_o, &ring, "ring", 2, U8, 0) < 0) return NULL;
    Py_ssize_t slots = ring.shape[0], width = ring.shape[1];
    PyObject *result = NULL;
    if (width % ALIGN) {
        PyErr_Format(PyExc_ValueError, "ring rows must be a multiple of %d bytes, got %zd", ALIGN, width);
        goto ring_done;
    }
    if (index_array(rows_o, &rows, "rows", slots) < 0) goto ring_done;
    if (index_array(cols_o, &cols, "cols", slots) < 0) goto rows_done;
    if (get_array(out_o, &out, "out", 1, I64, 1) < 0) goto cols_done;
    if (length(&rows) != length(&cols) || length(&out) != length(&rows)) {
        PyErr_SetString(PyExc_ValueError, "rows, cols and out must have one length");
        goto out_done;
    }
    if (sums_o != Py_None) {
        if (get_array(sums_o, &sums, "sums", 1, I64, 0) < 0) goto out_done;
        if (length(&sums) != slots) {
            PyErr_SetString(PyExc_ValueError, "sums needs one value per ring row");
            goto sums_done;
        }
    } else if (vnni) {
        PyErr_SetString(PyExc_ValueError, "the VNNI kernel needs the byte sum of every ring row (sums)");
        goto out_done;
    }
    int failed;
    Py_BEGIN_ALLOW_THREADS
    failed = pair_dots_c(ring.buf, width, slots, 0, width, sums.buf, (const Py_ssize_t *)rows.buf,
                         (const Py_ssize_t *)cols.buf, length(&rows), out.buf, vnni);
    Py_END_ALLOW_THREADS
    result = failed ? PyErr_NoMemory() : Py_NewRef(Py_None);
sums_done:
    if (sums.obj) PyBuffer_Release(&sums);
out_done:
    PyBuffer_Release(&out);
cols_done:
    PyBuffer_Release(&cols);
rows_done:
    PyBuffer_Release(&rows);
ring_done:
    PyBuffer_Release(&ring);
    return result;
}

static PyObject *py_pair_bounds(PyObject *module, PyObject *args) {
    long long sa, sb;
    PyObject *fa_o, *fb_o;
    Py_ssize_t values;
    double margin;
    Py_buffer fa, fb;
    if (!PyArg_ParseTuple(args, "LLOOnd:pair_bounds", &sa, &sb, &fa_o, &fb_o, &values, &margin)) return NULL;
    if (get_array(fa_o, &fa, "fa", 1, F64, 0) < 0) return NULL;
    if (get_array(fb_o, &fb, "fb", 1, F64, 0) < 0) {
        PyBuffer_Release(&fa);
        return NULL;
    }
    PyObject *result = NULL;
    Py_ssize_t n = length(&fa);
    if (n != length(&fb) || n % 2 || values < 1) {
        PyErr_SetString(PyExc_ValueError, "fa and fb must be feature vectors of one even length, values >= 1");
    } else {
        const double *a = fa.buf, *b = fb.buf;
        double means = 0.0, rests = 0.0, low, high;
        for (Py_ssize_t k = 0; k < n / 2; k++) {
            means += a[k] * b[k];
            rests += a[n / 2 + k] * b[n / 2 + k];
        }
        bounds_of(sa, sb, means, rests, values, margin, &low, &high);
        result = Py_BuildValue("dd", low, high);
    }
    PyBuffer_Release(&fa);
    PyBuffer_Release(&fb);
    return result;
}

/* A frame's rows: ``rows`` rows of ``row_bytes`` contiguous bytes, ``*stride`` apart. The buffer is
   (rows, ...) with every dimension after the first contiguous, or 1-D when ``rows`` is 1. */
static int frame_rows(const Py_buffer *view, const Layout *lay, Py_ssize_t *stride) {
    if (!is_kind(view, U8) || view->ndim < 1) return 0;
    Py_ssize_t expect = 1;
    for (int k = view->ndim - 1; k >= 1; k--) {
        if (view->shape[k] != 1 && view->strides[k] != expect) return 0;
        expect *= view->shape[k];
    }
    if (view->ndim == 1) {
        if (lay->rows != 1 || view->shape[0] != lay->row_bytes) return 0;
        if (view->shape[0] > 1 && view->strides[0] != 1) return 0;
        *stride = lay->row_bytes;
        return 1;
    }
    if (view->shape[0] != lay->rows || expect != lay->row_bytes) return 0;
    *stride = view->strides[0];
    return 1;
}

static PyObject *py_store_frame(PyObject *module, PyObject *args) {
    PyObject *image_o, *ring_o, *sums_o, *squares_o, *bs_o, *bq_o;
    Py_ssize_t slot, rows, row_bytes, block_rows, block_bytes;
    int avx512;
    Layout lay;
    if (!PyArg_ParseTuple(args, "OOnnnnnOOOOp:store_frame", &image_o, &ring_o, &slot, &rows, &row_bytes,
                          &block_rows, &block_bytes, &sums_o, &squares_o, &bs_o, &bq_o, &avx512))
        return NULL;
    if (avx512 && !cpu_avx512) return PyErr_Format(PyExc_ValueError, "this CPU has no AVX-512");
    if (make_layout(&lay, rows, row_bytes, block_rows, block_bytes) < 0) return NULL;
    Py_buffer image, bufs[5];
    PyObject *objs[5] = {ring_o, sums_o, squares_o, bs_o, bq_o};
    const char *names[5] = {"ring", "sums", "squares", "block_sums", "block_squares"};
    const int dims[5] = {2, 1, 1, 2, 2};
    const enum kind kinds[5] = {U8, I64, I64, I32, I32};
    int held = 0;
    PyObject *result = NULL;
    Columns cols = {NULL, NULL};
    Py_ssize_t stride = 0;
    if (PyObject_GetBuffer(image_o, &image, PyBUF_RECORDS_RO) < 0) return NULL;
    if (!frame_rows(&image, &lay, &stride)) {
        PyErr_Format(PyExc_ValueError, "image must be uint8, %zd rows of %zd contiguous bytes", rows, row_bytes);
        goto done;
    }
    for (; held < 5; held++)
        if (get_array(objs[held], &bufs[held], names[held], dims[held], kinds[held], 1) < 0) goto done;
    Py_ssize_t slots = bufs[0].shape[0];
    if (slot < 0 || slot >= slots || bufs[0].shape[1] < lay.values || length(&bufs[1]) != slots ||
        length(&bufs[2]) != slots || bufs[3].shape[0] != slots || bufs[4].shape[0] != slots ||
        bufs[3].shape[1] != lay.count || bufs[4].shape[1] != lay.count) {
        PyErr_SetString(PyExc_ValueError, "store_frame: slot or array shapes do not fit the ring");
        goto done;
    }
    cols.sums = PyMem_RawMalloc((row_bytes + 64) * sizeof(uint32_t));
    cols.squares = PyMem_RawMalloc((row_bytes + 64) * sizeof(uint32_t));
    if (!cols.sums || !cols.squares) {
        PyErr_NoMemory();
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    measure_frame(&lay, image.buf, stride, (uint8_t *)bufs[0].buf + slot * bufs[0].shape[1],
                  (int32_t *)bufs[3].buf + slot * lay.count, (int32_t *)bufs[4].buf + slot * lay.count,
                  (int64_t *)bufs[1].buf + slot, (int64_t *)bufs[2].buf + slot, &cols, avx512);
    Py_END_ALLOW_THREADS
    result = Py_NewRef(Py_None);
done:
    PyMem_RawFree(cols.sums);
    PyMem_RawFree(cols.squares);
    while (held-- > 0) PyBuffer_Release(&bufs[held]);
    PyBuffer_Release(&image);
    return result;
}

/* The order that sorts ``values`` stably (ties keep their order, as MoviePy's sorted()): an LSD
   radix sort on the float64 bit patterns, made order-preserving (negative values flipped), in
   11-bit digits, skipping the digits all values share. NumPy's stable argsort took 4 ms for 49,000
   values, 15 times this. Returns 0, or -1 when memory ran out. */
static int stable_order(const double *values, Py_ssize_t count, Py_ssize_t *order) {
    uint64_t *keys = PyMem_RawMalloc(2 * (count + 1) * sizeof(uint64_t));
    Py_ssize_t *other = PyMem_RawMalloc((count + 1) * sizeof(Py_ssize_t)), *counts = PyMem_RawMalloc(2049 * sizeof(Py_ssize_t));
    if (!keys || !other || !counts) {
        PyMem_RawFree(keys);
        PyMem_RawFree(other);
        PyMem_RawFree(counts);
        return -1;
    }
    uint64_t *key = keys, *key2 = keys + count + 1, any = 0, all = ~(uint64_t)0;
    for (Py_ssize_t k = 0; k < count; k++) {
        uint64_t bits;
        memcpy(&bits, &values[k], sizeof bits);
        key[k] = bits >> 63 ? ~bits : bits | ((uint64_t)1 << 63);
        any |= key[k];
        all &= key[k];
        order[k] = k;
    }
    for (int shift = 0; shift < 64; shift += 11) {
        if ((((any ^ all) >> shift) & 0x7ff) == 0) continue;  /* every value has this digit */
        memset(counts, 0, 2049 * sizeof(Py_ssize_t));
        for (Py_ssize_t k = 0; k < count; k++) counts[((key[k] >> shift) & 0x7ff) + 1]++;
        for (int d = 0; d < 2048; d++) counts[d + 1] += counts[d];
        for (Py_ssize_t k = 0; k < count; k++) {
            Py_ssize_t at = counts[(key[k] >> shift) & 0x7ff]++;
            key2[at] = key[k];
            other[at] = order[k];
        }
        uint64_t *swap_key = key;
        key = key2;
        key2 = swap_key;
        memcpy(order, other, count * sizeof(Py_ssize_t));
    }
    PyMem_RawFree(keys);
    PyMem_RawFree(other);
    PyMem_RawFree(counts);
    return 0;
}

/* frames_matches(cls, times, starts, ends, dists) -> [cls(times[s], times[e], d, d), ...] sorted by
   distance (stably): the matches as instances of ``cls`` (a tuple subclass: FramesMatch), made
   here because a Python loop took 0.25 us a match. One float object per frame time, shared by all
   its matches; the tuples hold floats only, so the cyclic GC need not track them (it would walk
   300,000 of them on every full collection otherwise), and it is off meanwhile. */
static PyObject *py_frames_matches(PyObject *module, PyObject *args) {
    PyTypeObject *cls;
    PyObject *objs[4];
    Py_buffer bufs[4];
    if (!PyArg_ParseTuple(args, "O!OOOO:frames_matches", &PyType_Type, &cls, &objs[0], &objs[1], &objs[2], &objs[3]))
        return NULL;
    if (!PyType_IsSubtype(cls, &PyTuple_Type))
        return PyErr_Format(PyExc_ValueError, "frames_matches needs a tuple subclass, got %s", cls->tp_name);
    const char *names[4] = {"times", "starts", "ends", "dists"};
    const enum kind kinds[4] = {F64, I64, I64, F64};
    int held = 0;
    PyObject *result = NULL, **shared = NULL;
    Py_ssize_t *order = NULL;
    for (; held < 4; held++)
        if (get_array(objs[held], &bufs[held], names[held], 1, kinds[held], 0) < 0) goto done;
    Py_ssize_t frames = length(&bufs[0]), count = length(&bufs[1]);
    const double *times = bufs[0].buf, *dists = bufs[3].buf;
    const int64_t *starts = bufs[1].buf, *ends = bufs[2].buf;
    if (length(&bufs[2]) != count || length(&bufs[3]) != count) {
        PyErr_SetString(PyExc_ValueError, "starts, ends and dists must have one length");
        goto done;
    }
    for (Py_ssize_t k = 0; k < count; k++)
        if (starts[k] < 0 || starts[k] >= frames || ends[k] < 0 || ends[k] >= frames) {
            PyErr_Format(PyExc_ValueError, "match %zd refers to a frame out of 0..%zd", k, frames - 1);
            goto done;
        }
    shared = PyMem_Calloc(frames + 1, sizeof(PyObject *));
    order = PyMem_RawMalloc((count + 1) * sizeof(Py_ssize_t));
    if (!shared || !order || stable_order(dists, count, order) < 0) {
        PyErr_NoMemory();
        goto done;
    }
    if (!(result = PyList_New(count))) goto done;
    int enabled = PyGC_Disable();
    for (Py_ssize_t k = 0; k < count; k++) {
        Py_ssize_t m = order[k];
        PyObject *match = cls->tp_alloc(cls, 4), *d = PyFloat_FromDouble(dists[m]);
        int64_t frame[2] = {starts[m], ends[m]};
        for (int i = 0; i < 2 && match; i++) {
            PyObject **time = &shared[frame[i]];
            if (!*time) *time = PyFloat_FromDouble(times[frame[i]]);
            if (!*time) Py_CLEAR(match);
            else PyTuple_SET_ITEM(match, i, Py_NewRef(*time));
        }
        if (!match || !d) {
            Py_XDECREF(match);
            Py_XDECREF(d);
            Py_CLEAR(result);
            break;
        }
        PyTuple_SET_ITEM(match, 2, Py_NewRef(d));
        PyTuple_SET_ITEM(match, 3, d);
        PyObject_GC_UnTrack(match);
        PyList_SET_ITEM(result, k, match);
    }
    if (enabled) PyGC_Enable();
done:
    if (shared) {
        for (Py_ssize_t k = 0; k < frames; k++) Py_XDECREF(shared[k]);
        PyMem_Free(shared);
    }
    PyMem_RawFree(order);
    while (held-- > 0) PyBuffer_Release(&bufs[held]);
    return result;
}

/* ---------------------------------------------------------------------------------------------
   Ring: the engine's frame store, and the screening of a block */

typedef struct {
    PyObject_HEAD
    Layout lay;
    Py_ssize_t capacity, width, fstride;  /* slots; bytes per ring row; doubles per feature row */
    int avx512;
    double margin;
    Py_buffer views[5];  /* ring, times, sums, squares, features: NumPy arrays owned by distances.py */
    int held;
    uint8_t *ring;
    double *times, *features;
    int64_t *sums, *squares;
    int32_t *block_sums, *block_squares;  /* scratch: one frame, zero-padded to ``half`` blocks */
    double *sizes, *roots;                /* per block: values, their square root */
    Columns cols;
    PyObject *refused;  /* the item ``fill`` could not take, for the caller to examine */
    Py_ssize_t computed, dropped;  /* pairs computed exactly; far candidates dropped half way (tests) */
    int background;     /* match_start: 0 matches in the caller, 1 in the helper when worth it, 2 always */
    struct Job *job;    /* the match started and not yet finished, or NULL */
    struct Helper *helper;  /* the helper thread, once started */
} Ring;

static void stop_helper(Ring *self);
static void drop_job(Ring *self);

static void ring_dealloc(Ring *self) {
    drop_job(self);  /* waits for a match still running: it reads the arrays released below */
    stop_helper(self);
    while (self->held > 0) PyBuffer_Release(&self->views[--self->held]);
    PyMem_RawFree(self->block_sums);
    PyMem_RawFree(self->block_squares);
    PyMem_RawFree(self->sizes);
    PyMem_RawFree(self->roots);
    PyMem_RawFree(self->cols.sums);
    PyMem_RawFree(self->cols.squares);
    Py_XDECREF(self->refused);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int ring_init(Ring *self, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"ring", "times", "sums", "squares", "features", "rows", "row_bytes", "block_rows",
                             "block_bytes", "margin", "avx512", NULL};
    PyObject *objs[5];
    Py_ssize_t rows, row_bytes, block_rows, block_bytes;
    int avx512;
    if (self->held) {
        PyErr_SetString(PyExc_RuntimeError, "Ring is already initialised");
        return -1;
    }
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OOOOOnnnndp:Ring", kwlist, &objs[0], &objs[1], &objs[2],
                                     &objs[3], &objs[4], &rows, &row_bytes, &block_rows, &block_bytes,
                                     &self->margin, &avx512))
        return -1;
    if (avx512 && !cpu_avx512) {
        PyErr_SetString(PyExc_ValueError, "this CPU has no AVX-512 VNNI");
        return -1;
    }
    self->avx512 = avx512;
    self->background = 1;
    if (make_layout(&self->lay, rows, row_bytes, block_rows, block_bytes) < 0) return -1;
    const char *names[5] = {"ring", "times", "sums", "squares", "features"};
    const int dims[5] = {2, 1, 1, 1, 2};
    const enum kind kinds[5] = {U8, F64, I64, I64, F64};
    for (; self->held < 5; self->held++)
        if (get_array(objs[self->held], &self->views[self->held], names[self->held], dims[self->held],
                      kinds[self->held], 1) < 0)
            return -1;
    Py_buffer *v = self->views;
    self->capacity = v[0].shape[0];
    self->width = v[0].shape[1];
    self->fstride = v[4].shape[1];
    if (self->width % ALIGN || self->width < self->lay.values || length(&v[1]) != self->capacity ||
        length(&v[2]) != self->capacity || length(&v[3]) != self->capacity || v[4].shape[0] != self->capacity ||
        self->fstride != 2 * self->lay.half + FEATURE_EXTRA) {
        PyErr_Format(PyExc_ValueError, "Ring: arrays do not fit %zd slots of %zd values (ring rows padded to a "
                     "multiple of %d bytes, %zd features a slot)", self->capacity, self->lay.values, ALIGN,
                     2 * self->lay.half + FEATURE_EXTRA);
        return -1;
    }
    self->ring = v[0].buf;
    self->times = v[1].buf;
    self->sums = v[2].buf;
    self->squares = v[3].buf;
    self->features = v[4].buf;
    self->block_sums = PyMem_RawCalloc(self->lay.half, sizeof(int32_t));
    self->block_squares = PyMem_RawCalloc(self->lay.half, sizeof(int32_t));
    if (block_sizes(&self->lay, &self->sizes, &self->roots) < 0) {
        PyErr_NoMemory();
        return -1;
    }
    self->cols.sums = PyMem_RawMalloc((row_bytes + 64) * sizeof(uint32_t));
    self->cols.squares = PyMem_RawMalloc((row_bytes + 64) * sizeof(uint32_t));
    if (!self->block_sums || !self->block_squares || !self->cols.sums || !self->cols.squares) {
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

static int ring_ready(Ring *self) {
    if (self->held == 5) return 1;
    PyErr_SetString(PyExc_RuntimeError, "Ring is not initialised");
    return 0;
}

/* Store one frame (a uint8 buffer of the layout's shape) at frame number ``index``; 0, or -1 with
   an exception when the buffer is not such a frame and ``strict``, or 1 when it is not and not
   ``strict``. */
static int ring_store(Ring *self, PyObject *image, double time, Py_ssize_t index, int strict) {
    Py_buffer view;
    Py_ssize_t stride;
    if (PyObject_GetBuffer(image, &view, PyBUF_RECORDS_RO) < 0) {
        if (!strict) {
            PyErr_Clear();
            return 1;
        }
        return -1;
    }
    if (!frame_rows(&view, &self->lay, &stride)) {
        PyBuffer_Release(&view);
        if (!strict) return 1;
        PyErr_Format(PyExc_ValueError, "a frame must be uint8, %zd rows of %zd contiguous bytes (%zd values)",
                     self->lay.rows, self->lay.row_bytes, self->lay.values);
        return -1;
    }
    Py_ssize_t slot = index % self->capacity;
    Py_BEGIN_ALLOW_THREADS
    measure_frame(&self->lay, view.buf, stride, self->ring + slot * self->width, self->block_sums,
                  self->block_squares, self->sums + slot, self->squares + slot, &self->cols, self->avx512);
    double *features = self->features + slot * self->fstride;
#if X86
    if (self->avx512)
        features_avx512(self->lay.half, self->sizes, self->roots, self->block_sums, self->block_squares, features);
    else
#endif
        features_portable(self->lay.half, self->sizes, self->roots, self->block_sums, self->block_squares, features);
    split_sums(&self->lay, self->ring + slot * self->width, self->block_sums, self->block_squares,
               features + 2 * self->lay.half);
    Py_END_ALLOW_THREADS
    self->times[slot] = time;
    PyBuffer_Release(&view);
    return 0;
}

static int storable(Ring *self, Py_ssize_t index, Py_ssize_t count);

static PyObject *ring_put(Ring *self, PyObject *args) {
    PyObject *image;
    double time;
    Py_ssize_t index;
    if (!ring_ready(self) || !PyArg_ParseTuple(args, "Odn:put", &image, &time, &index)) return NULL;
    if (index < 0) return PyErr_Format(PyExc_ValueError, "index must be 0 or more, got %zd", index);
    if (!storable(self, index, 1) || ring_store(self, image, time, index, 1) < 0) return NULL;
    Py_RETURN_NONE;
}

/* fill(frames, index, count): store up to ``count`` ``(time, image)`` items of the iterator
   ``frames`` as frames ``index, index + 1, ...``; returns how many. It stops early when the
   iterator ends, or at an item it cannot take as it is (not a pair, a time that is not a number,
   an image that is not a uint8 buffer of the first frame's layout): that item is left in
   ``refused`` for the caller (who converts it or says what is wrong). */
static PyObject *ring_fill(Ring *self, PyObject *args) {
    PyObject *frames;
    Py_ssize_t index, count, taken = 0;
    if (!ring_ready(self) || !PyArg_ParseTuple(args, "Onn:fill", &frames, &index, &count)) return NULL;
    if (index < 0) return PyErr_Format(PyExc_ValueError, "index must be 0 or more, got %zd", index);
    if (!PyIter_Check(frames)) return PyErr_Format(PyExc_TypeError, "fill needs an iterator of (time, image)");
    if (!storable(self, index, count)) return NULL;
    Py_CLEAR(self->refused);
    while (taken < count) {
        PyObject *item = PyIter_Next(frames);
        if (!item) {
            if (PyErr_Occurred()) return NULL;
            break;
        }
        int status = 1;
        if (PyTuple_Check(item) && PyTuple_GET_SIZE(item) == 2) {
            double time = PyFloat_AsDouble(PyTuple_GET_ITEM(item, 0));
            if (time == -1.0 && PyErr_Occurred())
                PyErr_Clear();
            else
                status = ring_store(self, PyTuple_GET_ITEM(item, 1), time, index + taken, 0);
        }
        if (status) {
            self->refused = item;
            break;
        }
        Py_DECREF(item);
        taken++;
    }
    return PyLong_FromSsize_t(taken);
}

/* A block's rows are screened and computed in parts of PART_ROWS (even, and a multiple of the VNNI
   tiles' GROUP), which the caller and the helper thread share (LANES: each has its own lists). */
#define PART_ROWS 8
#define LANES 2

/* Scratch of one ``match`` call. */
typedef struct {
    double *lower, *upper, *values;  /* rows x columns, read in the band of near pairs only: NaN where
                                        unknown or not a near pair */
    Py_ssize_t *band;                /* per row: the band's first column (it ends at the row's own) */
    double *norms, *best, *top;      /* per column */
    double *times;                   /* per column: its frame's time */
    Py_ssize_t *slot;                /* per column: its ring slot (no division in the loops) */
    Py_ssize_t *chosen, *list;       /* per column (list: 6 per column) */
    Py_ssize_t *pr, *pc, *prs, *pcs; /* pairs (row, column) and their ring slots */
    int64_t *dots, *dots2;
    double *dist;
    double *rest, *row_rest;         /* per candidate: its feature dot product past the split (NaN: near
                                        pair, computed whole); per row of a pair of rows: the same */
    int64_t *range, *range2;         /* by ring slot: byte sums before and after the split (VNNI tiles) */
    Py_ssize_t *parts;               /* per part of rows (PART_ROWS): matches (-1: out of memory),
                                        pairs computed, far candidates dropped */
    Py_ssize_t computed, dropped;    /* added to the Ring's counters when the match is finished (the
                                        helper never writes to the Ring) */
} Scratch;

static void free_scratch(Scratch *s) {
    void *all[] = {s->lower, s->upper, s->values, s->band, s->norms, s->best, s->top, s->times, s->slot, s->chosen, s->list,
                   s->pr, s->pc, s->prs, s->pcs, s->dots, s->dots2, s->dist, s->rest, s->row_rest, s->range, s->range2,
                   s->parts};
    for (size_t k = 0; k < sizeof(all) / sizeof(all[0]); k++) PyMem_RawFree(all[k]);
}

static int alloc_scratch(Scratch *s, Py_ssize_t rows, Py_ssize_t cols, Py_ssize_t slots) {
    size_t cells = (size_t)rows * cols + 1, per_col = (size_t)cols + 1;
    s->lower = PyMem_RawMalloc(cells * sizeof(double));
    s->upper = PyMem_RawMalloc(cells * sizeof(double));
    s->values = PyMem_RawMalloc(cells * sizeof(double));
    s->band = PyMem_RawMalloc((rows + 1) * sizeof(Py_ssize_t));
    s->norms = PyMem_RawMalloc(per_col * sizeof(double));
    s->best = PyMem_RawMalloc(per_col * sizeof(double));
    s->top = PyMem_RawMalloc(per_col * sizeof(double));
    s->times = PyMem_RawMalloc(per_col * sizeof(double));
    s->slot = PyMem_RawMalloc(per_col * sizeof(Py_ssize_t));
    s->chosen = PyMem_RawMalloc(per_col * sizeof(Py_ssize_t));
    /* per lane (LANES threads): 2 rows' lists, their union, 2 rows' pairs */
    s->list = PyMem_RawMalloc(LANES * 6 * per_col * sizeof(Py_ssize_t));
    s->pr = PyMem_RawMalloc(cells * sizeof(Py_ssize_t));
    s->pc = PyMem_RawMalloc(cells * sizeof(Py_ssize_t));
    s->prs = PyMem_RawMalloc(cells * sizeof(Py_ssize_t));
    s->pcs = PyMem_RawMalloc(cells * sizeof(Py_ssize_t));
    s->dots = PyMem_RawMalloc(cells * sizeof(int64_t));
    s->dist = PyMem_RawMalloc(cells * sizeof(double));
    s->dots2 = PyMem_RawMalloc(cells * sizeof(int64_t));
    s->rest = PyMem_RawMalloc(cells * sizeof(double));
    s->row_rest = PyMem_RawMalloc(LANES * 2 * per_col * sizeof(double));
    s->range = PyMem_RawMalloc((slots + 1) * sizeof(int64_t));
    s->range2 = PyMem_RawMalloc((slots + 1) * sizeof(int64_t));
    s->parts = PyMem_RawMalloc(3 * (rows / PART_ROWS + 1) * sizeof(Py_ssize_t));
    if (!s->lower || !s->upper || !s->values || !s->band || !s->norms || !s->best || !s->top || !s->times ||
        !s->slot || !s->chosen || !s->list || !s->pr || !s->pc || !s->prs || !s->pcs || !s->dots || !s->dist ||
        !s->dots2 || !s->rest || !s->row_rest || !s->range || !s->range2 || !s->parts)
        return -1;
    return 0;
}

/* Exact distances of ``count`` slot pairs (rows sorted) into ``out``. */
static int ring_exact_c(Ring *self, const Py_ssize_t *rows, const Py_ssize_t *cols, Py_ssize_t count,
                        int64_t *dots, double *out, Py_ssize_t *computed) {
    *computed += count;
    if (pair_dots_c(self->ring, self->width, self->capacity, 0, self->width, self->sums, rows, cols, count, dots,
                    self->avx512) < 0)
        return -1;
    for (Py_ssize_t p = 0; p < count; p++)
        out[p] = distance(self->squares[rows[p]], self->squares[cols[p]], dots[p], self->lay.values);
    return 0;
}

/* The exact values of the pairs (pr[k], pc[k]) of the block into ``values``. */
static int compute_pairs(Ring *self, Scratch *s, Py_ssize_t count, Py_ssize_t first_row, Py_ssize_t cols) {
    for (Py_ssize_t k = 0; k < count; k++) {
        s->prs[k] = s->slot[first_row + s->pr[k]];
        s->pcs[k] = s->slot[s->pc[k]];
    }
    if (ring_exact_c(self, s->prs, s->pcs, count, s->dots, s->dist, &s->computed) < 0) return -1;
    for (Py_ssize_t k = 0; k < count; k++) s->values[s->pr[k] * cols + s->pc[k]] = s->dist[k];
    return 0;
}

/* Per column: the largest of ``floor`` and the exact values known for its near pairs (-inf: none).
   Row ``r`` of the block is column ``first_row + r``. */
static void best_known(const Scratch *s, const double *floor, Py_ssize_t rows, Py_ssize_t cols,
                       Py_ssize_t first_row, double *best) {
    for (Py_ssize_t c = 0; c < cols; c++) best[c] = isnan(floor[c]) ? -INFINITY : floor[c];
    for (Py_ssize_t r = 0; r < rows; r++)
        for (Py_ssize_t c = s->band[r]; c < first_row + r; c++) {
            double v = s->values[r * cols + c];
            if (!isnan(s->lower[r * cols + c]) && !isnan(v) && v > best[c]) best[c] = v;
        }
}

/* The exact distances of the candidates (pr[k], pc[k]) into ``dist`` and ``values``; ``*count``
   becomes the number left. Near pairs (rest[k] NaN) are computed whole; a far pair first over
   bytes 0..split: with that exact part of its squared distance, plus the bound of the block rows
   after the split (bounds.py, from the feature dot products past the split: rest[k]), it is
   dropped if that lower bound reaches the threshold. On Big Buck Bunny this drops 3,200 of the
   5,900 far candidates that are not matches at half their price (13 % of these products). */
static int exact_candidates(Ring *self, Scratch *s, Py_ssize_t *count, Py_ssize_t first_row, Py_ssize_t cols,
                            double threshold) {
    const Layout *lay = &self->lay;
    const Py_ssize_t n = *count, cap = self->capacity, split = lay->split, extra = 2 * lay->half;
    for (Py_ssize_t k = 0; k < n; k++) {
        s->prs[k] = s->slot[first_row + s->pr[k]];
        s->pcs[k] = s->slot[s->pc[k]];
    }
    if (!split) {
        if (ring_exact_c(self, s->prs, s->pcs, n, s->dots, s->dist, &s->computed) < 0) return -1;
    } else {
        const double *features = self->features;
        if (pair_dots_c(self->ring, self->width, cap, 0, split, s->range, s->prs, s->pcs, n, s->dots, self->avx512) < 0)
            return -1;
        Py_ssize_t kept = 0;
        for (Py_ssize_t k = 0; k < n; k++) {
            if (!isnan(s->rest[k])) {
                const double *fa = features + s->prs[k] * self->fstride + extra, *fb = features + s->pcs[k] * self->fstride + extra;
                double exact = fa[EXTRA_SQUARES] + fb[EXTRA_SQUARES] - 2.0 * (double)s->dots[k];  /* exact */
                double bound = fa[EXTRA_REST_SQUARES] + fb[EXTRA_REST_SQUARES] - 2.0 * s->rest[k];
                double slack = self->margin * ((double)self->squares[s->prs[k]] + (double)self->squares[s->pcs[k]]);
                double low = exact + bound - slack;
                if (sqrt((low > 0.0 ? low : 0.0) / (double)lay->values) >= threshold) continue;
            }
            s->pr[kept] = s->pr[k];
            s->pc[kept] = s->pc[k];
            s->prs[kept] = s->prs[k];
            s->pcs[kept] = s->pcs[k];
            s->dots[kept++] = s->dots[k];
        }
        if (pair_dots_c(self->ring, self->width, cap, split, self->width, s->range2, s->prs, s->pcs, kept, s->dots2,
                        self->avx512) < 0)
            return -1;
        for (Py_ssize_t k = 0; k < kept; k++)
            s->dist[k] = distance(self->squares[s->prs[k]], self->squares[s->pcs[k]], s->dots[k] + s->dots2[k],
                                  lay->values);
        s->computed += kept;
        s->dropped += n - kept;
        *count = kept;
    }
    for (Py_ssize_t k = 0; k < *count; k++) s->values[s->pr[k] * cols + s->pc[k]] = s->dist[k];
    return 0;
}

typedef struct {
    Py_ssize_t lo, start, n;  /* the window is frames lo..n-1; the block's rows start..n-1 */
    double window, max_duration, threshold, motion_span;
} Query;

/* The columns of a block: their slots, times and norms, and the byte sums around the split. */
static void match_setup(Ring *self, const Query *q, Scratch *s) {
    const Py_ssize_t cols = q->n - q->lo, cap = self->capacity, values = self->lay.values;
    const Py_ssize_t extra = 2 * self->lay.half;
    /* the norm test in the distance's units, sqrt(|a|^2 / N), widened like the bounds */
    for (Py_ssize_t c = 0, slot = q->lo % cap; c < cols; c++, slot = slot + 1 < cap ? slot + 1 : 0) {
        s->slot[c] = slot;
        s->times[c] = self->times[slot];
        s->norms[c] = sqrt((double)self->squares[slot] / (double)values);
        /* (the window's slots only: the caller may be storing frames in the others meanwhile) */
        s->range[slot] = (int64_t)self->features[slot * self->fstride + extra + EXTRA_SUM];
        s->range2[slot] = self->sums[slot] - s->range[slot];
    }
}

/* Rows r_from..r_to-1 of the block (a part): their bounds, their candidates computed exactly, their
   matches into out_* from r_from * cols on (row-major), and the near pairs' bounds for the peaks.
   Parts write disjoint rows of the scratch; ``lane`` picks the lists of the thread running it. */
static void match_rows(Ring *self, const Query *q, Scratch *all, int lane, Py_ssize_t r_from, Py_ssize_t r_to,
                       int64_t *out_r, int64_t *out_c, double *out_d, Py_ssize_t *result) {
    const Py_ssize_t cols = q->n - q->lo, first_row = q->start - q->lo, base = r_from * cols;
    const Py_ssize_t values = self->lay.values, half = self->lay.half;
    const double threshold = q->threshold;
    Scratch part = *all, *s = &part;  /* the part's own stretch of the candidate arrays and lists */
    part.pr += base, part.pc += base, part.prs += base, part.pcs += base, part.dots += base, part.dots2 += base;
    part.dist += base, part.rest += base;
    part.list += lane * 6 * (cols + 1), part.row_rest += lane * 2 * (cols + 1);
    part.computed = part.dropped = 0;
    out_r += base, out_c += base, out_d += base;
    void (*feature_dots)(const double *const *, const double *const *, Py_ssize_t, Py_ssize_t, Py_ssize_t, double *,
                         double *, double *) = feature_dots_2x4_portable;
#if X86
    if (self->avx512) feature_dots = feature_dots_2x4_avx512;
#endif
    const double limit = threshold * (1.0 + self->margin) + 1e-9;
    /* a candidate: lower bound under the threshold, compared squared (no square root a pair); the
       factor covers the rounding of that comparison, far inside the bounds' own margin */
    const double keep = threshold * threshold * (double)values * (1.0 + 1e-12);

    /* 1. bounds, two rows at a time (they share most columns: each column's features are read once
       for both); the pairs whose lower bound is under the threshold, row-major */
    Py_ssize_t found = 0;
    for (Py_ssize_t r0 = r_from; r0 < r_to; r0 += 2) {
        const int nr = r0 + 1 < r_to ? 2 : 1;
        Py_ssize_t *list[2] = {s->list, s->list + (cols + 1)}, *uni = s->list + 2 * (cols + 1);
        Py_ssize_t *pairs[2] = {s->list + 4 * (cols + 1), s->list + 5 * (cols + 1)}, listed[2] = {0, 0}, paired[2] = {0, 0};
        char *in = (char *)(s->list + 3 * (cols + 1));  /* per union entry: which rows list it (bits) */
        const double *fr[2];
        Py_ssize_t own_slot[2];
        double t[2];
        for (int i = 0; i < nr; i++) {
            Py_ssize_t r = r0 + i, own = first_row + r;
            own_slot[i] = s->slot[own];
            t[i] = s->times[own];
            fr[i] = self->features + own_slot[i] * self->fstride;
            s->band[r] = own;
            for (Py_ssize_t c = 0; c < own; c++) {
                double span = t[i] - s->times[c];  /* MoviePy's (t - t2), the same expression */
                if (span > q->window) continue;
                int near = span <= q->motion_span, wanted = !(span > q->max_duration) && threshold > 0.0;
                if (near && s->band[r] == own) s->band[r] = c;
                if (wanted && !near && fabs(s->norms[own] - s->norms[c]) > limit)
                    continue;  /* | |a| - |b| | <= |a - b|: the norms alone rule it out */
                if (near || wanted) list[i][listed[i]++] = c;
            }
            for (Py_ssize_t c = s->band[r]; c < own; c++)  /* (times out of order may leave gaps) */
                s->lower[r * cols + c] = s->upper[r * cols + c] = s->values[r * cols + c] = NAN;
        }
        if (nr == 1) fr[1] = fr[0];
        Py_ssize_t united = 0;
        for (Py_ssize_t k0 = 0, k1 = 0; k0 < listed[0] || (nr == 2 && k1 < listed[1]);) {
            Py_ssize_t c0 = k0 < listed[0] ? list[0][k0] : cols, c1 = nr == 2 && k1 < listed[1] ? list[1][k1] : cols;
            uni[united] = c0 < c1 ? c0 : c1;
            in[united++] = (char)((c0 <= c1) | ((c1 <= c0) << 1));
            k0 += c0 <= c1;
            k1 += c1 <= c0;
        }
        for (Py_ssize_t k = 0; k < united; k += 4) {
            const double *fc[4];
            double means[8], rests[8], pre[8];
            for (int j = 0; j < 4; j++)  /* a short group repeats its last column */
                fc[j] = self->features + s->slot[uni[min_ssize(k + j, united - 1)]] * self->fstride;
            feature_dots(fr, fc, half, half, self->lay.split_block, means, rests, pre);
            for (int i = 0; i < nr; i++)
                for (int j = 0; j < 4 && k + j < united; j++) {
                    if (!(in[k + j] >> i & 1)) continue;
                    Py_ssize_t r = r0 + i, c = uni[k + j];
                    double span = t[i] - s->times[c], low, high;
                    squared_bounds(self->squares[own_slot[i]], self->squares[s->slot[c]], means[4 * i + j],
                                   rests[4 * i + j], self->margin, &low, &high);
                    if (span <= q->motion_span) {  /* as distances, to meet exact ones */
                        s->lower[r * cols + c] = sqrt(low / (double)values);
                        s->upper[r * cols + c] = sqrt(high / (double)values);
                    }
                    if (!(span > q->max_duration) && threshold > 0.0 && low < keep) {
                        double rest = means[4 * i + j] + rests[4 * i + j] - pre[4 * i + j];
                        s->row_rest[i * (cols + 1) + paired[i]] = span <= q->motion_span ? NAN : rest;
                        pairs[i][paired[i]++] = c;
                    }
                }
        }
        for (int i = 0; i < nr; i++)  /* row-major */
            for (Py_ssize_t k = 0; k < paired[i]; k++) {
                s->pr[found] = r0 + i;
                s->rest[found] = s->row_rest[i * (cols + 1) + k];
                s->pc[found++] = pairs[i][k];
            }
    }
    if (found && exact_candidates(self, s, &found, first_row, cols, threshold) < 0) {
        result[0] = -1;
        return;
    }
    Py_ssize_t matches = 0;
    for (Py_ssize_t k = 0; k < found; k++)
        if (s->dist[k] < threshold) {
            out_r[matches] = s->pr[k];
            out_c[matches] = s->pc[k];
            out_d[matches] = s->dist[k];
            matches++;
        }
    result[0] = matches;
    result[1] = s->computed;
    result[2] = s->dropped;
}

/* After every part: the matches together (parts in order: row-major), the motion peaks into
   ``floor``; returns the number of matches, or -1 when memory ran out. */
static Py_ssize_t match_peaks(Ring *self, const Query *q, double *floor, int64_t *out_r, int64_t *out_c,
                              double *out_d, Scratch *s) {
    const Py_ssize_t rows = q->n - q->start, cols = q->n - q->lo, first_row = q->start - q->lo;
    Py_ssize_t matches = 0;
    for (Py_ssize_t k = 0; k * PART_ROWS < rows; k++) {
        const Py_ssize_t *result = s->parts + 3 * k, base = k * PART_ROWS * cols;
        if (result[0] < 0) return -1;
        memmove(out_r + matches, out_r + base, result[0] * sizeof(int64_t));
        memmove(out_c + matches, out_c + base, result[0] * sizeof(int64_t));
        memmove(out_d + matches, out_d + base, result[0] * sizeof(double));
        matches += result[0];
        s->computed += result[1];
        s->dropped += result[2];
    }

    /* 2. motion peaks: per column the best value known (the running peak, the exact pairs of 1);
       first the near pair with the highest lower bound if it can beat it, then every near pair whose
       upper bound still beats it: the others cannot be the maximum. */
    double *top = s->top;  /* per column, first pass: the highest lower bound still unknown */
    for (int first_pass = 1; first_pass >= 0; first_pass--) {
        best_known(s, floor, rows, cols, first_row, s->best);
        if (first_pass) {
            for (Py_ssize_t c = 0; c < cols; c++) {
                top[c] = -INFINITY;
                s->chosen[c] = -1;
            }
            for (Py_ssize_t r = 0; r < rows; r++)  /* row by row: the first row wins a tie */
                for (Py_ssize_t c = s->band[r]; c < first_row + r; c++) {
                    double low = s->lower[r * cols + c];
                    if (!isnan(low) && isnan(s->values[r * cols + c]) && low > top[c]) {
                        top[c] = low;
                        s->chosen[c] = r;
                    }
                }
            for (Py_ssize_t c = 0; c < cols; c++)
                if (top[c] <= s->best[c]) s->chosen[c] = -1;
        }
        Py_ssize_t count = 0;
        for (Py_ssize_t r = 0; r < rows; r++)
            for (Py_ssize_t c = s->band[r]; c < first_row + r; c++) {
                Py_ssize_t k = r * cols + c;
                int take = first_pass ? s->chosen[c] == r
                                      : !isnan(s->lower[k]) && isnan(s->values[k]) && s->upper[k] > s->best[c];
                if (take) {
                    s->pr[count] = r;
                    s->pc[count] = c;
                    count++;
                }
            }
        if (count && compute_pairs(self, s, count, first_row, cols) < 0) return -1;
    }
    best_known(s, floor, rows, cols, first_row, s->best);
    for (Py_ssize_t c = 0; c < cols; c++) floor[c] = s->best[c] > -INFINITY ? s->best[c] : NAN;
    return matches;
}

/* ---------------------------------------------------------------------------------------------
   Matching a block in the background

   ``match_start`` hands a block to a helper thread and returns; the caller stores the next block's
   frames meanwhile (other slots: a match reads only its window's), then ``match_finish`` waits
   for the count, taking the parts of the block (PART_ROWS rows each) that the helper has not taken yet.
   On 150 px thumbnails storing a block and matching one take about as long: with both cores free,
   Big Buck Bunny's 720 frames took 9.8 ms instead of 15.6. The helper runs no Python (no GIL). Each side polls for a while before it sleeps (waking a sleeping
   thread costs tens of microseconds on virtual CPUs; a block takes 250-600 us), yielding the CPU as
   it polls: on a busy machine both threads may share one CPU, and a thread spinning there holds up
   the other (the long video took 2.5 times as long with pause-spins). For the same reason the caller
   takes back a job the helper has not started when it comes for the result. The work is the same
   function on the same data either way, so results never depend on which thread ran it, or when. */

typedef struct Job {
    Query q;
    Py_buffer bufs[4];  /* floor, out_r, out_c, out_d: held until match_finish */
    int held;
    Scratch s;
    Py_ssize_t count;   /* the result: matches, or -1 (memory) */
    int background;     /* running (or ran) in the helper */
    int parts;          /* parts of PART_ROWS rows */
    int next, finished; /* the next part to take, parts finished (__atomic builtins: both threads take parts) */
} Job;

/* The screening described in distances.py's docstring, part by part (match_setup is done): take the
   parts no thread has taken yet. The caller and the helper may both run this on one job. */
static void run_parts(Ring *self, Job *job, int lane) {
    const Py_ssize_t rows = job->q.n - job->q.start;
    int k;
    while ((k = __atomic_fetch_add(&job->next, 1, __ATOMIC_ACQ_REL)) < job->parts) {
        Py_ssize_t r = (Py_ssize_t)k * PART_ROWS;
        match_rows(self, &job->q, &job->s, lane, r, min_ssize(rows, r + PART_ROWS), job->bufs[1].buf, job->bufs[2].buf,
                   job->bufs[3].buf, job->s.parts + 3 * k);
        __atomic_fetch_add(&job->finished, 1, __ATOMIC_RELEASE);
    }
}

/* After run_parts: the matches in row order and the motion peaks (one thread). */
static Py_ssize_t finish_parts(Ring *self, Job *job) {
    return match_peaks(self, &job->q, job->bufs[0].buf, job->bufs[1].buf, job->bufs[2].buf, job->bufs[3].buf, &job->s);
}

/* Smaller blocks (rows x columns x bytes a frame) are matched in the caller: a handoff costs more. */
#define BACKGROUND_WORK 4000000.0

#if THREADS
enum { IDLE, POSTED, RUNNING, DONE, QUIT };  /* Helper.state */

typedef struct Helper {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    int state;   /* read and written with __atomic builtins; changed under ``lock`` too, for sleepers */
    pid_t pid;   /* a forked child has no helper thread: it matches in the caller */
    Ring *ring;
} Helper;

/* How long a side polls before it sleeps on the condition variable: the helper waiting for the next
   block (the caller stores one meanwhile: ~250 us on 150 px thumbnails), the caller waiting for a
   match to finish. */
#define HELPER_POLL_NS 400000
#define CALLER_POLL_NS 1500000

static int64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static void set_state(Helper *h, int state) {
    pthread_mutex_lock(&h->lock);
    __atomic_store_n(&h->state, state, __ATOMIC_RELEASE);
    pthread_cond_broadcast(&h->wake);
    pthread_mutex_unlock(&h->lock);
}

/* Wait until the state is ``a`` or ``b``: poll for ``poll_ns``, then sleep. */
static int wait_state(Helper *h, int a, int b, int64_t poll_ns) {
    int state = __atomic_load_n(&h->state, __ATOMIC_ACQUIRE);
    if (state == a || state == b) return state;
    int64_t until = now_ns() + poll_ns;
    for (int k = 1;; k++) {
        sched_yield();  /* (see above: not a pause) */
        state = __atomic_load_n(&h->state, __ATOMIC_ACQUIRE);
        if (state == a || state == b) return state;
        if (k % 16 == 0 && now_ns() > until) break;
    }
    pthread_mutex_lock(&h->lock);
    while ((state = __atomic_load_n(&h->state, __ATOMIC_ACQUIRE)) != a && state != b)
        pthread_cond_wait(&h->wake, &h->lock);
    pthread_mutex_unlock(&h->lock);
    return state;
}

static void *helper_main(void *arg) {
    Helper *h = arg;
    while (wait_state(h, POSTED, QUIT, HELPER_POLL_NS) == POSTED) {
        int posted = POSTED;  /* the caller may have taken the job back (wait_job) */
        if (!__atomic_compare_exchange_n(&h->state, &posted, RUNNING, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
            continue;
        Job *job = h->ring->job;
        run_parts(h->ring, job, 0);
        /* the caller may still be running the parts it took (each takes tens of microseconds) */
        while (__atomic_load_n(&job->finished, __ATOMIC_ACQUIRE) < job->parts) sched_yield();
        job->count = finish_parts(h->ring, job);
        set_state(h, DONE);
    }
    return NULL;
}

/* The ring's helper, started on first use; NULL when it cannot run (then the caller matches). */
static Helper *helper_of(Ring *self) {
    Helper *h = self->helper;
    if (h) return h->pid == getpid() ? h : NULL;
    h = PyMem_RawCalloc(1, sizeof(Helper));
    if (!h) return NULL;
    h->ring = self;
    h->pid = getpid();
    h->state = IDLE;
    if (pthread_mutex_init(&h->lock, NULL)) {
        PyMem_RawFree(h);
        return NULL;
    }
    if (pthread_cond_init(&h->wake, NULL)) {
        pthread_mutex_destroy(&h->lock);
        PyMem_RawFree(h);
        return NULL;
    }
    if (pthread_create(&h->thread, NULL, helper_main, h)) {
        pthread_cond_destroy(&h->wake);
        pthread_mutex_destroy(&h->lock);
        PyMem_RawFree(h);
        return NULL;
    }
    self->helper = h;
    return h;
}

static void stop_helper(Ring *self) {
    Helper *h = self->helper;
    if (!h) return;
    self->helper = NULL;
    if (h->pid == getpid()) {  /* (a forked child has only a copy of the memory: nothing to join) */
        set_state(h, QUIT);
        Py_BEGIN_ALLOW_THREADS
        pthread_join(h->thread, NULL);
        Py_END_ALLOW_THREADS
        pthread_cond_destroy(&h->wake);
        pthread_mutex_destroy(&h->lock);
    }
    PyMem_RawFree(h);
}
#else
static void stop_helper(Ring *self) { (void)self; }
#endif

static void run_job(Ring *self);

/* Wait for the job (without the GIL) if the helper runs it; if the helper has not started it yet
   (on a busy machine it may wait for a CPU), run it here: the caller has nothing else to do. */
static void wait_job(Ring *self) {
#if THREADS
    if (self->job && self->job->background) {
        Helper *h = self->helper;
        int posted = POSTED;
        self->job->background = 0;
        if (__atomic_compare_exchange_n(&h->state, &posted, IDLE, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
            run_job(self);
            return;
        }
        Py_BEGIN_ALLOW_THREADS
        run_parts(self, self->job, 1);  /* the parts the helper has not taken yet */
        wait_state(h, DONE, DONE, CALLER_POLL_NS);
        Py_END_ALLOW_THREADS
        set_state(h, IDLE);
    }
#else
    (void)self;
#endif
}

/* Wait for the job if it runs, then release its buffers and scratch. */
static void drop_job(Ring *self) {
    Job *job = self->job;
    if (!job) return;
    wait_job(self);
    free_scratch(&job->s);
    while (job->held > 0) PyBuffer_Release(&job->bufs[--job->held]);
    self->job = NULL;
    PyMem_RawFree(job);
}

/* Check the arguments of match / match_start and make the job (self->job); it is not run yet. */
static int prepare_job(Ring *self, PyObject *args, const char *format) {
    Query q;
    PyObject *objs[4];
    if (!ring_ready(self) || !PyArg_ParseTuple(args, format, &q.lo, &q.start, &q.n, &q.window, &q.max_duration,
                                               &q.threshold, &q.motion_span, &objs[0], &objs[1], &objs[2], &objs[3]))
        return -1;
    if (self->job) {
        PyErr_SetString(PyExc_RuntimeError, "a match is started and not finished; call match_finish() first");
        return -1;
    }
    if (!(0 <= q.lo && q.lo <= q.start && q.start < q.n && q.n - q.lo <= self->capacity)) {
        PyErr_Format(PyExc_ValueError, "match: frames %zd..%zd (rows from %zd) do not fit %zd slots", q.lo, q.n - 1,
                     q.start, self->capacity);
        return -1;
    }
    const Py_ssize_t rows = q.n - q.start, cols = q.n - q.lo;
    const char *names[4] = {"floor", "out_r", "out_c", "out_d"};
    const enum kind kinds[4] = {F64, I64, I64, F64};
    const Py_ssize_t sizes[4] = {cols, rows * cols, rows * cols, rows * cols};
    Job *job = self->job = PyMem_RawCalloc(1, sizeof(Job));
    if (!job) {
        PyErr_NoMemory();
        return -1;
    }
    job->q = q;
    for (; job->held < 4; job->held++) {
        if (get_array(objs[job->held], &job->bufs[job->held], names[job->held], 1, kinds[job->held], 1) < 0) break;
        if (length(&job->bufs[job->held]) < sizes[job->held]) {
            PyErr_Format(PyExc_ValueError, "match: %s needs %zd values, got %zd", names[job->held], sizes[job->held],
                         length(&job->bufs[job->held]));
            job->held++;
            break;
        }
    }
    if (job->held == 4 && alloc_scratch(&job->s, rows, cols, self->capacity) < 0) PyErr_NoMemory();
    if (PyErr_Occurred()) {
        drop_job(self);
        return -1;
    }
    job->parts = (int)((rows + PART_ROWS - 1) / PART_ROWS);
    match_setup(self, &job->q, &job->s);
    return 0;
}

/* Frames ``index .. index + count - 1`` may be stored while a match is started: they come after its
   block and leave its window's slots alone. */
static int storable(Ring *self, Py_ssize_t index, Py_ssize_t count) {
    const Job *job = self->job;
    if (!job || count < 1 || (index >= job->q.n && index + count - 1 < job->q.lo + self->capacity)) return 1;
    PyErr_Format(PyExc_RuntimeError, "frames %zd..%zd would overwrite frames %zd..%zd, which a started match "
                 "reads; call match_finish() first", index, index + count - 1, job->q.lo, job->q.n - 1);
    return 0;
}

/* Run the prepared job in the caller (without the GIL). */
static void run_job(Ring *self) {
    Job *job = self->job;
    Py_BEGIN_ALLOW_THREADS
    run_parts(self, job, 0);
    job->count = finish_parts(self, job);
    Py_END_ALLOW_THREADS
}

/* The finished job's count (or MemoryError); the job is dropped. */
static PyObject *finish_job(Ring *self) {
    wait_job(self);
    Py_ssize_t count = self->job->count;
    self->computed += self->job->s.computed;
    self->dropped += self->job->s.dropped;
    drop_job(self);
    return count < 0 ? PyErr_NoMemory() : PyLong_FromSsize_t(count);
}

/* match(lo, start, n, window, max_duration, threshold, motion_span, floor, out_r, out_c, out_d) -> count */
static PyObject *ring_match(Ring *self, PyObject *args) {
    if (prepare_job(self, args, "nnnddddOOOO:match") < 0) return NULL;
    run_job(self);
    return finish_job(self);
}

/* match_start(same arguments as match): start matching the block, in the helper when it pays. */
static PyObject *ring_match_start(Ring *self, PyObject *args) {
    if (prepare_job(self, args, "nnnddddOOOO:match_start") < 0) return NULL;
    Job *job = self->job;
    double work = (double)(job->q.n - job->q.start) * (double)(job->q.n - job->q.lo) * (double)self->lay.values;
#if THREADS
    Helper *h = self->background == 2 || (self->background == 1 && work >= BACKGROUND_WORK) ? helper_of(self) : NULL;
    if (h) {
        job->background = 1;
        set_state(h, POSTED);
        Py_RETURN_NONE;
    }
#else
    (void)work;
#endif
    run_job(self);
    Py_RETURN_NONE;
}

/* match_finish() -> count: wait for the block started by match_start. */
static PyObject *ring_match_finish(Ring *self, PyObject *noargs) {
    if (!self->job) return PyErr_Format(PyExc_RuntimeError, "no match was started");
    return finish_job(self);
}

/* exact(rows, cols, out): the exact distances of the slot pairs (rows sorted) into out (float64). */
static PyObject *ring_exact(Ring *self, PyObject *args) {
    PyObject *rows_o, *cols_o, *out_o;
    Py_buffer rows, cols, out;
    if (!ring_ready(self) || !PyArg_ParseTuple(args, "OOO:exact", &rows_o, &cols_o, &out_o)) return NULL;
    if (index_array(rows_o, &rows, "rows", self->capacity) < 0) return NULL;
    PyObject *result = NULL;
    int64_t *dots = NULL;
    if (index_array(cols_o, &cols, "cols", self->capacity) < 0) goto rows_done;
    if (get_array(out_o, &out, "out", 1, F64, 1) < 0) goto cols_done;
    Py_ssize_t count = length(&rows);
    if (length(&cols) != count || length(&out) != count) {
        PyErr_SetString(PyExc_ValueError, "rows, cols and out must have one length");
        goto out_done;
    }
    dots = PyMem_RawMalloc((count + 1) * sizeof(int64_t));
    int failed = dots == NULL;
    Py_ssize_t computed = 0;
    if (!failed) {
        Py_BEGIN_ALLOW_THREADS
        failed = ring_exact_c(self, rows.buf, cols.buf, count, dots, out.buf, &computed);
        Py_END_ALLOW_THREADS
    }
    self->computed += computed;
    result = failed ? PyErr_NoMemory() : Py_NewRef(Py_None);
out_done:
    PyMem_RawFree(dots);
    PyBuffer_Release(&out);
cols_done:
    PyBuffer_Release(&cols);
rows_done:
    PyBuffer_Release(&rows);
    return result;
}

static PyObject *ring_get_refused(Ring *self, void *closure) {
    return Py_NewRef(self->refused ? self->refused : Py_None);
}

static PyMethodDef ring_methods[] = {
    {"put", (PyCFunction)ring_put, METH_VARARGS,
     "put(image, time, index): store a frame as frame number ``index`` (slot ``index % capacity``)."},
    {"fill", (PyCFunction)ring_fill, METH_VARARGS,
     "fill(frames, index, count) -> stored: up to ``count`` (time, image) items of an iterator, as frames "
     "``index, index + 1, ...``; stops at the end or at an item it cannot take as it is (then in ``refused``)."},
    {"match", (PyCFunction)ring_match, METH_VARARGS,
     "match(lo, start, n, window, max_duration, threshold, motion_span, floor, out_r, out_c, out_d) -> count: "
     "screen the block of rows start..n-1 against columns lo..n-1; matches row-major in out_*, motion peaks "
     "in floor."},
    {"match_start", (PyCFunction)ring_match_start, METH_VARARGS,
     "match_start(same arguments as match): start matching the block (in a helper thread when ``background`` "
     "says so and the block is big enough); the arrays are the job's until match_finish(). Meanwhile only frames "
     "after the block's that leave its window's slots alone may be stored."},
    {"match_finish", (PyCFunction)ring_match_finish, METH_NOARGS,
     "match_finish() -> count: wait for the match started by match_start; what match returns."},
    {"exact", (PyCFunction)ring_exact, METH_VARARGS,
     "exact(rows, cols, out): exact distances of the slot pairs (rows sorted) into out (float64)."},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef ring_members[] = {
    {"computed", T_PYSSIZET, offsetof(Ring, computed), READONLY, "pairs whose distance was computed exactly"},
    {"dropped", T_PYSSIZET, offsetof(Ring, dropped), READONLY,
     "far candidates dropped on the exact first part of their distance and the bound of the rest"},
    {"background", T_INT, offsetof(Ring, background), 0,
     "match_start: 0 matches in the caller, 1 in a helper thread when the block is big enough, 2 always"},
    {NULL, 0, 0, 0, NULL},
};

static PyGetSetDef ring_getset[] = {
    {"refused", (getter)ring_get_refused, NULL, "the item the last fill() stopped at, or None", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject RingType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "gifloop.loops._ckernels.Ring",
    .tp_doc = "Ring(ring, times, sums, squares, features, rows, row_bytes, block_rows, block_bytes, margin, "
              "avx512): frames in the slots of NumPy arrays owned by the caller, with their sums and features.",
    .tp_basicsize = sizeof(Ring),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)ring_init,
    .tp_dealloc = (destructor)ring_dealloc,
    .tp_methods = ring_methods,
    .tp_getset = ring_getset,
    .tp_members = ring_members,
};

/* ---------------------------------------------------------------------------------------------
   Module */

static PyMethodDef methods[] = {
    {"pair_dots", py_pair_dots, METH_VARARGS,
     "pair_dots(ring, rows, cols, out, sums, vnni): out[p] = ring[rows[p]] . ring[cols[p]] (int64, exact)."},
    {"pair_bounds", py_pair_bounds, METH_VARARGS,
     "pair_bounds(square_a, square_b, fa, fb, values, margin) -> (lower, upper)"},
    {"store_frame", py_store_frame, METH_VARARGS,
     "store_frame(image, ring, slot, rows, row_bytes, block_rows, block_bytes, sums, squares, block_sums, "
     "block_squares, avx512)"},
    {"luma_stats", luma_stats, METH_VARARGS, "luma_stats(image, step) -> (mean, std)"},
    {"frames_matches", py_frames_matches, METH_VARARGS,
     "frames_matches(cls, times, starts, ends, dists) -> [cls(times[s], times[e], d, d), ...], sorted by d "
     "(stably; cls: a tuple subclass)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_ckernels", "Compiled kernels of gifloop.loops.", -1, methods,
};

PyMODINIT_FUNC PyInit__ckernels(void) {
#if X86
    __builtin_cpu_init();
    cpu_avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                 __builtin_cpu_supports("avx512vnni");
#endif
    if (PyType_Ready(&RingType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (!m) return NULL;
    if (PyModule_AddIntConstant(m, "ALIGN", ALIGN) < 0 || PyModule_AddIntConstant(m, "FEATURE_LANES", FEATURE_LANES) < 0 ||
        PyModule_AddIntConstant(m, "FEATURE_EXTRA", FEATURE_EXTRA) < 0 ||
        PyModule_AddObjectRef(m, "AVX512", cpu_avx512 ? Py_True : Py_False) < 0 ||
        PyModule_AddObjectRef(m, "THREADS", THREADS ? Py_True : Py_False) < 0 ||
        PyModule_AddObjectRef(m, "Ring", (PyObject *)&RingType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
