/* gifloop.quantize._ckernels: nearest palette colour, the search under every colour lookup.
 *
 * nearest(points, centres, index, dist2) finds, for each of N points (N x 3 float64, in OKLab or
 * RGB), the nearest of K centres (K x 3 float64) by squared Euclidean distance, writing its index
 * (int32) and squared distance (float64). It replaces SciPy's KD-tree, whose import alone (it pulls
 * in scipy.sparse) cost a fifth of a second in every process.
 *
 * Method: the centres are sorted by their first coordinate (OKLab's lightness, the axis along which
 * palettes spread most); each point starts at the centre of nearest lightness and walks outwards in
 * both directions, stopping a direction once the lightness gap alone is no better than the best
 * distance found. Exact: the answer is the true nearest centre, the lowest index among equal ones.
 *
 * remap_ordered(rgb, table, amplitude, texture, texture_width, out, grid, centres) maps an RGB(A)
 * frame to palette indices through remap.py's lookup table of 6-bit cells, with an ordered dither:
 * each pixel is looked up, offset by the threshold texture scaled to its colour's amplitude, and
 * looked up again (the numpy steps of Remapper.remap, one pass). A cell the table has not filled
 * yet (-1) is filled on the spot: the nearest of the palette's OKLab ``centres`` to the cell
 * centre's OKLab in ``grid``, by the same search as nearest(). With ``exact`` (the palette's
 * colours packed 0xRRGGBB, int32), a pixel whose colour is in the palette takes that entry, and
 * only the others go through the table (few-colour clips, mapped without dither).
 *
 * median_cut(points, weights, count, out) is palette.py's median cut (boxes split at the weighted
 * median of their widest axis, the box of largest weighted spread first), with NumPy's arithmetic.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

typedef struct {
    double x, y, z;
    int index;
} Centre;

static int by_first(const void *a, const void *b) {
    const Centre *p = a, *q = b;
    if (p->x < q->x) return -1;
    if (p->x > q->x) return 1;
    return p->index - q->index;
}

/* Index of the first sorted centre whose x is >= v (k if none). */
static Py_ssize_t lower_bound(const Centre *c, Py_ssize_t k, double v) {
    Py_ssize_t lo = 0, hi = k;
    while (lo < hi) {
        Py_ssize_t mid = (lo + hi) / 2;
        if (c[mid].x < v) lo = mid + 1; else hi = mid;
    }
    return lo;
}

static inline void consider(const Centre *c, double px, double py, double pz, double *best, int *best_index) {
    double dx = px - c->x, dy = py - c->y, dz = pz - c->z;
    double d = dx * dx + dy * dy + dz * dz;
    if (d < *best || (d == *best && c->index < *best_index)) {
        *best = d;
        *best_index = c->index;
    }
}

static void search(const double *points, Py_ssize_t n, const Centre *c, Py_ssize_t k, int *index, double *dist2) {
    for (Py_ssize_t i = 0; i < n; i++) {
        double px = points[3 * i], py = points[3 * i + 1], pz = points[3 * i + 2];
        double best = HUGE_VAL;
        int best_index = 0x7fffffff;
        Py_ssize_t up = lower_bound(c, k, px), down = up - 1;
        for (;;) {  /* walk outwards, the nearer side in lightness first */
            int go_up = up < k, go_down = down >= 0;
            double gap_up = go_up ? c[up].x - px : HUGE_VAL, gap_down = go_down ? px - c[down].x : HUGE_VAL;
            /* a tie in the gap can still win on index, so stop only when strictly worse */
            go_up = go_up && gap_up * gap_up <= best;
            go_down = go_down && gap_down * gap_down <= best;
            if (!go_up && !go_down) break;
            if (go_up && (!go_down || gap_up <= gap_down)) consider(&c[up++], px, py, pz, &best, &best_index);
            else consider(&c[down--], px, py, pz, &best, &best_index);
        }
        index[i] = best_index;
        dist2[i] = best;
    }
}

/* The K centres (K x 3 float64) with their indices, sorted by the first coordinate (NULL, with
 * MemoryError set, if there is no memory). */
static Centre *sorted_centres(const double *c, Py_ssize_t k) {
    Centre *sorted = malloc((size_t)k * sizeof(Centre));
    if (!sorted) {
        PyErr_NoMemory();
        return NULL;
    }
    for (Py_ssize_t j = 0; j < k; j++) {
        sorted[j].x = c[3 * j];
        sorted[j].y = c[3 * j + 1];
        sorted[j].z = c[3 * j + 2];
        sorted[j].index = (int)j;
    }
    qsort(sorted, (size_t)k, sizeof(Centre), by_first);
    return sorted;
}

static int check(Py_buffer *b, const char *name, Py_ssize_t itemsize, Py_ssize_t count) {
    if (b->itemsize != itemsize || b->len != count * itemsize || !PyBuffer_IsContiguous(b, 'C')) {
        PyErr_Format(PyExc_ValueError, "%s must be a C-contiguous array of %zd items of %zd bytes",
                     name, count, itemsize);
        return 0;
    }
    return 1;
}

static PyObject *nearest(PyObject *self, PyObject *args) {
    Py_buffer points, centres, index, dist2;
    if (!PyArg_ParseTuple(args, "y*y*w*w*", &points, &centres, &index, &dist2)) return NULL;
    PyObject *result = NULL;
    Py_ssize_t n = points.len / (3 * (Py_ssize_t)sizeof(double)), k = centres.len / (3 * (Py_ssize_t)sizeof(double));
    Centre *sorted = NULL;
    if (!check(&points, "nearest: points", sizeof(double), 3 * n) ||
        !check(&centres, "nearest: centres", sizeof(double), 3 * k) ||
        !check(&index, "nearest: index", sizeof(int), n) || !check(&dist2, "nearest: dist2", sizeof(double), n))
        goto done;
    if (k < 1 || k > 0x7fffffff) {
        PyErr_SetString(PyExc_ValueError, "nearest: need at least one centre");
        goto done;
    }
    sorted = sorted_centres(centres.buf, k);
    if (!sorted) goto done;
    /* Let other threads run only when the search is long: a thread that lets go of the GIL may
     * wait a whole switch interval (5 ms) to get it back from busy workers. */
    if (n * k > (1 << 20)) {
        Py_BEGIN_ALLOW_THREADS
        search(points.buf, n, sorted, k, index.buf, dist2.buf);
        Py_END_ALLOW_THREADS
    } else {
        search(points.buf, n, sorted, k, index.buf, dist2.buf);
    }
    result = Py_None;
    Py_INCREF(result);
done:
    free(sorted);
    PyBuffer_Release(&points);
    PyBuffer_Release(&centres);
    PyBuffer_Release(&index);
    PyBuffer_Release(&dist2);
    return result;
}

#define LUT_BITS 6
#define LUT_SHIFT (8 - LUT_BITS)
#define TEXTURE_BITS 8

static inline int cell_of(int r, int g, int b) {
    return ((r >> LUT_SHIFT) << (2 * LUT_BITS)) | ((g >> LUT_SHIFT) << LUT_BITS) | (b >> LUT_SHIFT);
}

static inline int clamp255(int v) { return v < 0 ? 0 : (v > 255 ? 255 : v); }

/* The table's entry for cell c, filled from the OKLab grid when it is still -1. Threads mapping
 * frames with the same table may fill the same cell at once: they store the same value. */
static inline int lookup(int16_t *lut, int c, const double *grid, const Centre *sorted, Py_ssize_t k) {
    int near = lut[c];
    if (near < 0) {
        double dist2;
        search(grid + 3 * (Py_ssize_t)c, 1, sorted, k, &near, &dist2);
        lut[c] = (int16_t)near;
    }
    return near;
}

/* Open addressing: palette colour (0xRRGGBB) -> index, for remap_ordered's exact colours. */
#define EXACT_SLOTS 1024
#define EMPTY_KEY 0xFFFFFFFFu

typedef struct {
    uint32_t key[EXACT_SLOTS];
    int16_t value[EXACT_SLOTS];
} ExactColours;

static inline uint32_t slot_of(uint32_t key) { return (key * 2654435761u) >> 22; } /* 10 bits */

static void exact_build(ExactColours *t, const int32_t *keys, Py_ssize_t k) {
    memset(t->key, 0xFF, sizeof t->key);
    for (Py_ssize_t j = k - 1; j >= 0; j--) {  /* backwards: a repeated colour keeps its first index */
        uint32_t key = (uint32_t)keys[j] & 0xFFFFFFu, slot = slot_of(key);
        while (t->key[slot] != EMPTY_KEY && t->key[slot] != key) slot = (slot + 1) & (EXACT_SLOTS - 1);
        t->key[slot] = key;
        t->value[slot] = (int16_t)j;
    }
}

static inline int exact_find(const ExactColours *t, uint32_t key) {
    uint32_t slot = slot_of(key);
    while (t->key[slot] != EMPTY_KEY) {
        if (t->key[slot] == key) return t->value[slot];
        slot = (slot + 1) & (EXACT_SLOTS - 1);
    }
    return -1;
}

static PyObject *remap_ordered(PyObject *self, PyObject *args) {
    PyObject *rgb_obj;
    Py_buffer rgb = {0}, table = {0}, amplitude = {0}, texture = {0}, out = {0}, grid = {0}, centres = {0};
    Py_buffer exact = {0};
    Py_ssize_t tex_w;
    if (!PyArg_ParseTuple(args, "Ow*y*y*nw*y*y*|y*", &rgb_obj, &table, &amplitude, &texture, &tex_w, &out, &grid,
                          &centres, &exact))
        return NULL;
    PyObject *result = NULL;
    Centre *sorted = NULL;
    ExactColours *colours = NULL;
    if (PyObject_GetBuffer(rgb_obj, &rgb, PyBUF_STRIDED_RO) < 0) goto done;
    if (rgb.ndim != 3 || rgb.itemsize != 1 || (rgb.shape[2] != 3 && rgb.shape[2] != 4) || rgb.strides[2] != 1 ||
        rgb.strides[1] != rgb.shape[2]) {
        PyErr_SetString(PyExc_ValueError, "remap_ordered: rgb must be (H, W, 3|4) uint8 with packed pixels");
        goto done;
    }
    Py_ssize_t h = rgb.shape[0], w = rgb.shape[1], channels = rgb.shape[2], row_stride = rgb.strides[0];
    Py_ssize_t cells = (Py_ssize_t)1 << (3 * LUT_BITS), k = centres.len / (3 * (Py_ssize_t)sizeof(double));
    Py_ssize_t tex_h = tex_w > 0 ? texture.len / 4 / tex_w : 0;
    int dither = texture.len > 0;
    if (table.len != cells * 2 || amplitude.len != k * 4 || (dither && (tex_w <= 0 || tex_h * tex_w * 4 != texture.len)) ||
        out.len != h * w || grid.len != cells * 3 * (Py_ssize_t)sizeof(double) || k < 1 || k > 256 ||
        centres.len != k * 3 * (Py_ssize_t)sizeof(double)) {
        PyErr_SetString(PyExc_ValueError, "remap_ordered: table, amplitude, texture, out, grid or centres has the wrong size");
        goto done;
    }
    if (exact.obj && (exact.len != k * 4 || dither)) {
        PyErr_SetString(PyExc_ValueError, "remap_ordered: exact takes one int32 key per colour, and no dither");
        goto done;
    }
    sorted = sorted_centres(centres.buf, k);
    if (!sorted) goto done;
    if (exact.obj) {
        colours = malloc(sizeof(ExactColours));
        if (!colours) {
            PyErr_NoMemory();
            goto done;
        }
        exact_build(colours, exact.buf, k);
    }
    int16_t *lut = table.buf;
    const int32_t *amp = amplitude.buf, *tex = texture.buf;
    const double *grid_lab = grid.buf;
    uint8_t *dst = out.buf;
    int beyond = 0;  /* a table entry naming a colour the palette lacks (checked before amp[] is read) */
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t y = 0; y < h && !beyond; y++) {
        const uint8_t *px = (const uint8_t *)rgb.buf + y * row_stride;
        const int32_t *tex_row = dither ? tex + (y % tex_h) * tex_w : NULL;
        uint8_t *o = dst + y * w;
        Py_ssize_t tx = 0;  /* x modulo the tile width, without a division per pixel */
        for (Py_ssize_t x = 0; x < w; x++, px += channels, tx = tx + 1 == tex_w ? 0 : tx + 1) {
            int r = px[0], g = px[1], b = px[2];
            if (colours) {
                int own = exact_find(colours, ((uint32_t)r << 16) | ((uint32_t)g << 8) | (uint32_t)b);
                if (own >= 0) {
                    o[x] = (uint8_t)own;
                    continue;
                }
            }
            int near = lookup(lut, cell_of(r, g, b), grid_lab, sorted, k);
            if (near >= k) {
                beyond = 1;
                break;
            }
            if (dither) {
                int offset = (amp[near] * tex_row[tx]) >> TEXTURE_BITS;  /* arithmetic: floor */
                near = lookup(lut, cell_of(clamp255(r + offset), clamp255(g + offset), clamp255(b + offset)),
                              grid_lab, sorted, k);
            }
            o[x] = (uint8_t)near;
        }
    }
    Py_END_ALLOW_THREADS
    if (beyond)
        PyErr_SetString(PyExc_ValueError, "remap_ordered: the table names a colour the palette lacks");
    else {
        result = Py_None;
        Py_INCREF(result);
    }
done:
    free(sorted);
    free(colours);
    if (exact.obj) PyBuffer_Release(&exact);
    if (rgb.obj) PyBuffer_Release(&rgb);
    PyBuffer_Release(&table);
    PyBuffer_Release(&amplitude);
    PyBuffer_Release(&texture);
    PyBuffer_Release(&out);
    PyBuffer_Release(&grid);
    PyBuffer_Release(&centres);
    return result;
}

/* ---------------------------------------------------------------------------------------------
   count_colours(rgb, step, alpha_cut, counts, keys, key_counts, distinct) -> distinct: palette.py's
   ColorHistogram.add in one pass. Every ``step``-th pixel of every ``step``-th row (opaque ones:
   alpha >= alpha_cut when there are 4 channels) adds one to ``counts`` (int64, 2^18 bins of 6 bits
   a channel). While ``distinct`` >= 0, the exact colours are counted too, in an open-addressing
   table (``keys`` uint32 0xRRGGBB, EMPTY_KEY where free, ``key_counts`` int64, HIST_SLOTS each):
   more than ``HIST_EXACT`` distinct colours and it returns -1 (they are no longer tracked). */

#define HIST_SLOTS EXACT_SLOTS  /* slot_of's 10 bits; HIST_EXACT colours fill at most a quarter */
#define HIST_EXACT 256

static PyObject *count_colours(PyObject *self, PyObject *args) {
    PyObject *rgb_obj;
    Py_buffer rgb = {0}, counts = {0}, keys = {0}, key_counts = {0};
    Py_ssize_t step, distinct;
    int alpha_cut;
    if (!PyArg_ParseTuple(args, "Oniw*w*w*n", &rgb_obj, &step, &alpha_cut, &counts, &keys, &key_counts, &distinct))
        return NULL;
    PyObject *result = NULL;
    if (PyObject_GetBuffer(rgb_obj, &rgb, PyBUF_STRIDED_RO) < 0) goto done;
    if (rgb.ndim != 3 || rgb.itemsize != 1 || (rgb.shape[2] != 3 && rgb.shape[2] != 4)) {
        PyErr_SetString(PyExc_ValueError, "count_colours: rgb must be (H, W, 3|4) uint8");
        goto done;
    }
    if (step < 1 || counts.len != ((Py_ssize_t)1 << 18) * 8 || keys.len != HIST_SLOTS * 4 ||
        key_counts.len != HIST_SLOTS * 8 || distinct > HIST_EXACT) {
        PyErr_SetString(PyExc_ValueError, "count_colours: step >= 1, counts of 2^18 int64, keys and key_counts of "
                                          "1024 uint32 / int64");
        goto done;
    }
    const Py_ssize_t h = rgb.shape[0], w = rgb.shape[1], alpha = rgb.shape[2] == 4;
    const Py_ssize_t sy = rgb.strides[0], sx = rgb.strides[1], sc = rgb.strides[2];
    int64_t *bins = counts.buf, *hits = key_counts.buf;
    uint32_t *table = keys.buf;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t y = 0; y < h; y += step) {
        const uint8_t *row = (const uint8_t *)rgb.buf + y * sy;
        for (Py_ssize_t x = 0; x < w; x += step) {
            const uint8_t *px = row + x * sx;
            if (alpha && px[3 * sc] < alpha_cut) continue;
            const uint32_t r = px[0], g = px[sc], b = px[2 * sc];
            bins[((r >> 2) << 12) | ((g >> 2) << 6) | (b >> 2)]++;
            if (distinct < 0) continue;
            const uint32_t key = (r << 16) | (g << 8) | b;
            uint32_t slot = slot_of(key);
            while (table[slot] != EMPTY_KEY && table[slot] != key) slot = (slot + 1) & (HIST_SLOTS - 1);
            if (table[slot] == EMPTY_KEY) {
                if (distinct == HIST_EXACT) {
                    distinct = -1;  /* a natural picture: bins it is */
                    continue;
                }
                table[slot] = key;
                distinct++;
            }
            hits[slot]++;
        }
    }
    Py_END_ALLOW_THREADS
    result = PyLong_FromSsize_t(distinct);
done:
    if (rgb.obj) PyBuffer_Release(&rgb);
    PyBuffer_Release(&counts);
    PyBuffer_Release(&keys);
    PyBuffer_Release(&key_counts);
    return result;
}

/* ---------------------------------------------------------------------------------------------
   median_cut(points, weights, count, out) -> boxes: palette.py's median cut, step for step, with
   NumPy's arithmetic (its pairwise sums where NumPy sums pairwise, running sums where it runs), so
   the palettes are the ones the NumPy code chose, bit for bit (tests/test_ckernels.py). */

/* NumPy's sum of a contiguous float64 array (pairwise in blocks of 8 lanes, up to 128 at a time). */
static double pairwise_sum(const double *a, Py_ssize_t n) {
    if (n < 8) {
        double res = -0.0;
        for (Py_ssize_t i = 0; i < n; i++) res += a[i];
        return res;
    }
    if (n <= 128) {
        double r[8];
        Py_ssize_t i;
        for (int j = 0; j < 8; j++) r[j] = a[j];
        for (i = 8; i < n - (n % 8); i += 8)
            for (int j = 0; j < 8; j++) r[j] += a[i + j];
        double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (; i < n; i++) res += a[i];
        return res;
    }
    Py_ssize_t half = n / 2;
    half -= half % 8;
    return pairwise_sum(a, half) + pairwise_sum(a + half, n - half);
}

typedef struct {
    const double *points, *weights;
    Py_ssize_t *order;  /* the boxes are ranges of this permutation of the points */
    double *scratch;    /* 3 values per point */
} Cut;

/* palette.py's _mean of the points order[lo:hi]: running sums of point * weight per channel,
   divided by the pairwise sum of the weights. */
static void box_mean(const Cut *c, Py_ssize_t lo, Py_ssize_t hi, double mean[3]) {
    double sum[3] = {0.0, 0.0, 0.0};
    for (Py_ssize_t i = lo; i < hi; i++) {
        const double *p = c->points + 3 * c->order[i], w = c->weights[c->order[i]];
        for (int a = 0; a < 3; a++) sum[a] += p[a] * w;
    }
    for (Py_ssize_t i = lo; i < hi; i++) c->scratch[i - lo] = c->weights[c->order[i]];
    double total = pairwise_sum(c->scratch, hi - lo);
    for (int a = 0; a < 3; a++) mean[a] = sum[a] / total;
}

/* palette.py's _spread: the weighted sum of squared distances to the box's mean. */
static double box_spread(const Cut *c, Py_ssize_t lo, Py_ssize_t hi) {
    if (hi - lo < 2) return 0.0;
    double mean[3];
    box_mean(c, lo, hi, mean);
    for (Py_ssize_t i = lo; i < hi; i++) {
        const double *p = c->points + 3 * c->order[i], w = c->weights[c->order[i]];
        for (int a = 0; a < 3; a++) {
            double d = p[a] - mean[a];
            c->scratch[3 * (i - lo) + a] = w * (d * d);
        }
    }
    return pairwise_sum(c->scratch, 3 * (hi - lo));
}

typedef struct {
    double value;
    Py_ssize_t at;  /* position in the box before sorting: ties keep their order (a stable sort) */
} Key;

static int by_key(const void *a, const void *b) {
    const Key *p = a, *q = b;
    if (p->value < q->value) return -1;
    if (p->value > q->value) return 1;
    return (p->at > q->at) - (p->at < q->at);
}

/* Split order[lo:hi] at the weighted median of its widest axis; the cut position. */
static Py_ssize_t split_box(Cut *c, Py_ssize_t lo, Py_ssize_t hi, Key *keys) {
    double low[3], high[3];
    for (int a = 0; a < 3; a++) low[a] = high[a] = c->points[3 * c->order[lo] + a];
    for (Py_ssize_t i = lo + 1; i < hi; i++)
        for (int a = 0; a < 3; a++) {
            double v = c->points[3 * c->order[i] + a];
            if (v < low[a]) low[a] = v;
            if (v > high[a]) high[a] = v;
        }
    int axis = 0;  /* np.argmax: the first of equal extents */
    for (int a = 1; a < 3; a++)
        if (high[a] - low[a] > high[axis] - low[axis]) axis = a;
    Py_ssize_t n = hi - lo;
    for (Py_ssize_t i = 0; i < n; i++) {
        keys[i].value = c->points[3 * c->order[lo + i] + axis];
        keys[i].at = i;
    }
    qsort(keys, (size_t)n, sizeof(Key), by_key);
    Py_ssize_t *sorted = (Py_ssize_t *)c->scratch;  /* (scratch holds 3 doubles a point: room enough) */
    for (Py_ssize_t i = 0; i < n; i++) sorted[i] = c->order[lo + keys[i].at];
    memcpy(c->order + lo, sorted, (size_t)n * sizeof(Py_ssize_t));
    /* np.searchsorted(np.cumsum(w), total / 2): the first running sum that reaches half the total */
    double *cum = c->scratch;
    double run = 0.0;
    for (Py_ssize_t i = 0; i < n; i++) cum[i] = run += c->weights[c->order[lo + i]];
    double half = cum[n - 1] / 2;
    Py_ssize_t cut = 0;
    while (cut < n && cum[cut] < half) cut++;
    if (cut < 1) cut = 1;
    if (cut > n - 1) cut = n - 1;
    return lo + cut;
}

static PyObject *median_cut(PyObject *self, PyObject *args) {
    Py_buffer points, weights, out;
    Py_ssize_t count;
    if (!PyArg_ParseTuple(args, "y*y*nw*", &points, &weights, &count, &out)) return NULL;
    PyObject *result = NULL;
    Py_ssize_t n = weights.len / (Py_ssize_t)sizeof(double);
    Cut c = {points.buf, weights.buf, NULL, NULL};
    Py_ssize_t *lo = NULL, *hi = NULL;
    double *score = NULL;
    Key *keys = NULL;
    if (count < 1 || n < 1) {
        PyErr_SetString(PyExc_ValueError, "median_cut: needs a point and a box at least");
        goto done;
    }
    if (!check(&points, "median_cut: points", sizeof(double), 3 * n) ||
        !check(&weights, "median_cut: weights", sizeof(double), n) ||
        !check(&out, "median_cut: out", sizeof(double), 3 * count))
        goto done;
    c.order = malloc((size_t)n * sizeof(Py_ssize_t));
    c.scratch = malloc((size_t)3 * n * sizeof(double));
    keys = malloc((size_t)n * sizeof(Key));
    lo = malloc((size_t)count * sizeof(Py_ssize_t));
    hi = malloc((size_t)count * sizeof(Py_ssize_t));
    score = malloc((size_t)count * sizeof(double));
    if (!c.order || !c.scratch || !keys || !lo || !hi || !score) {
        PyErr_NoMemory();
        goto done;
    }
    Py_ssize_t boxes = 1;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) c.order[i] = i;
    lo[0] = 0;
    hi[0] = n;
    score[0] = box_spread(&c, 0, n);
    while (boxes < count) {
        Py_ssize_t i = 0;  /* np.argmax: the first of equal scores */
        for (Py_ssize_t b = 1; b < boxes; b++)
            if (score[b] > score[i]) i = b;
        if (!(score[i] > 0)) break;
        Py_ssize_t cut = split_box(&c, lo[i], hi[i], keys);
        lo[boxes] = cut;
        hi[boxes] = hi[i];
        hi[i] = cut;
        score[i] = box_spread(&c, lo[i], hi[i]);
        score[boxes] = box_spread(&c, lo[boxes], hi[boxes]);
        boxes++;
    }
    for (Py_ssize_t b = 0; b < boxes; b++) box_mean(&c, lo[b], hi[b], (double *)out.buf + 3 * b);
    Py_END_ALLOW_THREADS
    result = PyLong_FromSsize_t(boxes);
done:
    free(c.order);
    free(c.scratch);
    free(keys);
    free(lo);
    free(hi);
    free(score);
    PyBuffer_Release(&points);
    PyBuffer_Release(&weights);
    PyBuffer_Release(&out);
    return result;
}

static PyMethodDef methods[] = {
    {"remap_ordered", remap_ordered, METH_VARARGS,
     "remap_ordered(rgb, table, amplitude, texture, texture_width, out, grid, centres[, exact]): the frame's "
     "palette indices into out, filling the table where needed."},
    {"count_colours", count_colours, METH_VARARGS,
     "count_colours(rgb, step, alpha_cut, counts, keys, key_counts, distinct) -> distinct: a frame's sampled "
     "pixels into 6-bit bins and, while distinct >= 0, into the exact-colour table (-1: too many colours)."},
    {"median_cut", median_cut, METH_VARARGS,
     "median_cut(points, weights, count, out) -> boxes: palette.py's median cut of the weighted points "
     "(float64 N x 3, N) into at most count boxes; their means into out (float64 count x 3)."},
    {"nearest", nearest, METH_VARARGS,
     "nearest(points, centres, index, dist2): nearest centre of each point (float64 N x 3, K x 3), "
     "written to index (int32 N) and dist2 (float64 N)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_ckernels", "Compiled kernels of gifloop.quantize.", -1, methods,
};

PyMODINIT_FUNC PyInit__ckernels(void) {
    PyObject *m = PyModule_Create(&module);
    if (m && (PyModule_AddIntConstant(m, "EXACT_SLOTS", HIST_SLOTS) < 0 ||
              PyModule_AddIntConstant(m, "EXACT_COLOURS", HIST_EXACT) < 0)) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
