/* gifloop.encode._ckernels: the encoder's serial kernels in plain C99.
 *
 *   lzw_lossless(pixels, code_size) -> bytes
 *   lzw_lossy(pixels, code_size, colours, usable, near_start, near, near_index, near_pairs,
 *             budget, carry, drift, search_nodes, source, use_source, norm[, under]) -> bytes
 *   near_colours(colours, usable, limit, start, near, index, pairs) -> count
 *   diffuse_rows(rgb, palette, lut, dys, dxs, weights, limits, keep, previous, out) -> None
 *
 * The algorithms are explained in gifloop/encode/lzw.py (GIF LZW, lossless and lossy) and in
 * gifloop/quantize/dither.py (serpentine error diffusion); the Python side prepares the tables and
 * checks the values, this file checks the arrays' types and shapes (buffer protocol, C-contiguous)
 * and releases the GIL while it works, so frames can be encoded on several threads.
 *
 * The floating-point arithmetic is the one the earlier Numba kernels did, operation for operation
 * and type for type (float32 for diffusion, float64 for the lossy colour distances), so outputs are
 * bit-identical to theirs. That needs no contraction of a*b+c into fused multiply-adds: ISO C mode
 * (-std=c99, as setup.py builds) turns it off in GCC, and the pragma below says so to clang.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__clang__) /* GCC ignores the pragma (with a warning); -std=c99 already keeps it from contracting */
#pragma STDC FP_CONTRACT OFF
#endif

#define MAX_CODES 4096
#define MAX_WIDTH 12
#define HASH_BITS 14 /* string table look-ups: 16384 slots for at most 4096 strings */
#define HASH_SIZE (1u << HASH_BITS)
#define HASH_SHIFT (32 - HASH_BITS)
#define STACK 32768 /* lossy search stack entries (before the margin for one expansion) */

/* -- arrays through the buffer protocol ------------------------------------------------------------ */

/* Element kinds: 'u' unsigned integer, 'i' signed integer, 'f' floating point, '?' bool (or uint8). */
static int kind_of(const char *format, char *kind) {
    const char *f = format ? format : "B";
    if (*f == '@' || *f == '=' || *f == '<') {
        f++;
    } else if (*f == '>' || *f == '!') {
        return -1; /* big-endian data */
    }
    if (f[0] == '\0' || f[1] != '\0') return -1;
    switch (f[0]) {
    case 'B': case 'H': case 'I': case 'L': case 'Q': case 'N': *kind = 'u'; return 0;
    case 'b': case 'h': case 'i': case 'l': case 'q': case 'n': *kind = 'i'; return 0;
    case 'f': case 'd': *kind = 'f'; return 0;
    case '?': *kind = '?'; return 0;
    default: return -1;
    }
}

static const char *kind_name(char kind, Py_ssize_t itemsize) {
    switch (kind) {
    case 'u': return itemsize == 1 ? "uint8" : itemsize == 4 ? "uint32" : "unsigned integer";
    case 'i': return itemsize == 4 ? "int32" : itemsize == 8 ? "int64" : "signed integer";
    case 'f': return itemsize == 4 ? "float32" : itemsize == 8 ? "float64" : "floating point";
    case '?': return "bool";
    default: return "?";
    }
}

/* Get a buffer of ``ndim`` dimensions (0: any) whose items are ``kind`` of ``itemsize`` bytes (kind '?'
 * also takes uint8), C-contiguous unless ``strided``. On failure: an exception is set, the view is left
 * empty. */
static int get_buffer(PyObject *obj, Py_buffer *view, int writable, char kind, Py_ssize_t itemsize, int ndim,
                      const char *name, int strided) {
    char got = 0;
    if (PyObject_GetBuffer(obj, view, writable ? PyBUF_RECORDS : PyBUF_RECORDS_RO) < 0) {
        PyErr_Clear();
        if (writable && PyObject_CheckBuffer(obj)) {
            PyErr_Format(PyExc_ValueError, "%s must be a writable array", name);
        } else {
            PyErr_Format(PyExc_TypeError, "%s must be an array (buffer protocol), got %.100s", name,
                         Py_TYPE(obj)->tp_name);
        }
        return -1;
    }
    if (kind_of(view->format, &got) < 0 || view->itemsize != itemsize ||
        !(got == kind || (kind == '?' && got == 'u' && itemsize == 1))) {
        PyErr_Format(PyExc_TypeError, "%s must be %s, got format '%s' (%zd bytes an item)", name,
                     kind_name(kind, itemsize), view->format ? view->format : "B", view->itemsize);
        goto fail;
    }
    if (ndim && view->ndim != ndim) {
        PyErr_Format(PyExc_ValueError, "%s must have %d dimension%s, got %d", name, ndim, ndim == 1 ? "" : "s",
                     view->ndim);
        goto fail;
    }
    if (!strided && !PyBuffer_IsContiguous(view, 'C')) {
        PyErr_Format(PyExc_ValueError, "%s must be C-contiguous", name);
        goto fail;
    }
    return 0;
fail:
    PyBuffer_Release(view);
    return -1;
}

static int get_array(PyObject *obj, Py_buffer *view, int writable, char kind, Py_ssize_t itemsize, int ndim,
                     const char *name) {
    return get_buffer(obj, view, writable, kind, itemsize, ndim, name, 0);
}

static Py_ssize_t count_of(const Py_buffer *view) { return view->len / view->itemsize; }

static Py_ssize_t dim(const Py_buffer *view, int k) { return view->ndim > k ? view->shape[k] : 1; }

static void release_all(Py_buffer *views, int count) {
    for (int k = 0; k < count; k++) {
        if (views[k].obj) PyBuffer_Release(&views[k]);
    }
}

/* -- GIF LZW --------------------------------------------------------------------------------------- */
/* The output holds the sub-blocks directly: a length byte is reserved at the start of each block and
 * filled in when the block is closed. */

typedef struct {
    uint8_t *out;
    Py_ssize_t pos, block;
    uint64_t acc;
    int nbits;
} bits_t;

static inline void emit(bits_t *w, uint32_t code, int width) {
    w->acc |= (uint64_t)code << w->nbits;
    w->nbits += width;
    while (w->nbits >= 8) {
        if (w->pos - w->block == 256) { /* block full: 255 data bytes after its length byte */
            w->out[w->block] = 255;
            w->block = w->pos;
            w->pos++;
        }
        w->out[w->pos++] = (uint8_t)(w->acc & 0xFF);
        w->acc >>= 8;
        w->nbits -= 8;
    }
}

/* Flush the last bits, close the last block and add the terminator; returns the data's length. */
static Py_ssize_t finish(bits_t *w) {
    if (w->nbits > 0) emit(w, 0, 8 - w->nbits);
    if (w->pos - w->block > 1) {
        w->out[w->block] = (uint8_t)(w->pos - w->block - 1);
        w->out[w->pos] = 0;
        return w->pos + 1;
    }
    w->out[w->block] = 0; /* the reserved length byte becomes the terminator */
    return w->block + 1;
}

/* Send the last string and the end code, then close the sub-blocks. */
static Py_ssize_t end(bits_t *w, uint32_t cur, uint32_t eoi, int width, int nxt) {
    emit(w, cur, width);
    if (nxt < MAX_CODES && nxt + 1 > (1 << width) && width < MAX_WIDTH) {
        width++; /* the decoder adds an entry after reading that code: keep the width in step */
    }
    emit(w, eoi, width);
    return finish(w);
}

/* Where ``key`` (prefix code << 8 | index) is in the hash table of (key << 12 | code) words (0 =
 * empty), or the empty slot it would go to; the word found goes to *entry. */
static inline uint32_t slot(const uint32_t *table, uint32_t key, uint32_t *entry) {
    uint32_t h = (uint32_t)(key * 2654435761u) >> HASH_SHIFT;
    for (;;) {
        uint32_t e = table[h];
        if (e == 0 || (e >> 12) == key) {
            *entry = e;
            return h;
        }
        h = (h + 1) & (HASH_SIZE - 1);
    }
}

static Py_ssize_t out_capacity(Py_ssize_t n) { return n * 2 + 16 + (n >> 7); }

/* Lossless GIF LZW of n indices; returns the data's length. */
static Py_ssize_t encode_lossless(const uint8_t *pixels, Py_ssize_t n, int code_size, uint8_t *out, uint32_t *table) {
    const uint32_t nsym = 1u << code_size, clear = nsym, eoi = nsym + 1;
    const int first = (int)nsym + 2, width0 = code_size + 1;
    bits_t w = {out, 1, 0, 0, 0};
    int width = width0, nxt = first;
    uint32_t cur = pixels[0];
    emit(&w, clear, width0);
    for (Py_ssize_t i = 1; i < n; i++) {
        uint32_t p = pixels[i], key = (cur << 8) | p, e;
        uint32_t h = slot(table, key, &e);
        if (e != 0) {
            cur = e & 0xFFF;
            continue;
        }
        emit(&w, cur, width);
        table[h] = (key << 12) | (uint32_t)nxt;
        nxt++;
        if (nxt > (1 << width) && width < MAX_WIDTH) width++;
        if (nxt == MAX_CODES) { /* table full: start again */
            emit(&w, clear, width);
            memset(table, 0, HASH_SIZE * sizeof(uint32_t));
            nxt = first;
            width = width0;
        }
        cur = p;
    }
    return end(&w, cur, eoi, width, nxt);
}

/* Check the pixels, run ``encode`` on them with the GIL released, return the data as bytes. */
static int check_pixels(Py_buffer *px, int code_size) {
    if (code_size < 2 || code_size > 8) {
        PyErr_Format(PyExc_ValueError, "LZW code size must be 2..8, got %d", code_size);
        return -1;
    }
    if (px->len == 0) {
        PyErr_SetString(PyExc_ValueError, "a GIF frame has at least one pixel");
        return -1;
    }
    if (code_size < 8) {
        const uint8_t *p = px->buf;
        uint8_t top = 0;
        for (Py_ssize_t i = 0; i < px->len; i++) top |= p[i];
        if (top >> code_size) {
            PyErr_Format(PyExc_ValueError, "an index does not fit LZW code size %d", code_size);
            return -1;
        }
    }
    return 0;
}

static PyObject *py_lzw_lossless(PyObject *self, PyObject *args) {
    PyObject *pixels_obj, *result = NULL;
    int code_size;
    Py_buffer px = {0};
    uint8_t *out = NULL;
    uint32_t *table = NULL;
    Py_ssize_t length;
    if (!PyArg_ParseTuple(args, "Oi:lzw_lossless", &pixels_obj, &code_size)) return NULL;
    if (get_array(pixels_obj, &px, 0, 'u', 1, 0, "pixels") < 0) return NULL;
    if (check_pixels(&px, code_size) < 0) goto done;
    out = malloc((size_t)out_capacity(px.len));
    table = calloc(HASH_SIZE, sizeof(uint32_t));
    if (!out || !table) {
        PyErr_NoMemory();
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    length = encode_lossless(px.buf, px.len, code_size, out, table);
    Py_END_ALLOW_THREADS
    result = PyBytes_FromStringAndSize((const char *)out, length);
done:
    free(out);
    free(table);
    PyBuffer_Release(&px);
    return result;
}

/* -- lossy LZW --------------------------------------------------------------------------------------- */

/* Squared "redmean" distance of a colour difference (dr, dg, db) at mean red level ``red``, scaled so
 * that a grey shift of d has distance d. */
static inline double distance2(double red, double dr, double dg, double db) {
    return ((2.0 + red / 256.0) * dr * dr + 4.0 * dg * dg + (2.0 + (255.0 - red) / 256.0) * db * db) / 9.0;
}

/* distance2 with its red and blue weights worked out: (2 + red / 256, 2 + (255 - red) / 256). */
static inline double weighted2(double wr, double wb, double dr, double dg, double db) {
    return (wr * dr * dr + 4.0 * dg * dg + wb * db * db) / 9.0;
}

/* For each index, the other usable indices whose colour is within squared distance ``limit``: CSR lists
 * (start offsets, indices), where each pair is in them (-1: not near), and per pair the difference to
 * the wanted colour and its squared distance, (dr, dg, db, d2) side by side (one cache line). Returns
 * the number of pairs. */
static Py_ssize_t near_colours(const float *colours, const uint8_t *usable, Py_ssize_t nsym, double limit,
                               int32_t *start, int32_t *near, int32_t *index, double *pairs) {
    Py_ssize_t k = 0;
    for (Py_ssize_t i = 0; i < nsym * nsym; i++) index[i] = -1;
    for (Py_ssize_t a = 0; a < nsym; a++) {
        start[a] = (int32_t)k;
        if (!usable[a]) continue;
        for (Py_ssize_t b = 0; b < nsym; b++) {
            if (b == a || !usable[b]) continue;
            float dr = colours[3 * b] - colours[3 * a];
            float dg = colours[3 * b + 1] - colours[3 * a + 1];
            float db = colours[3 * b + 2] - colours[3 * a + 2];
            double d2 = distance2((double)colours[3 * a] + 0.5 * (double)dr, dr, dg, db);
            if (d2 <= limit) {
                near[k] = (int32_t)b;
                index[a * nsym + b] = (int32_t)k;
                pairs[4 * k] = dr;
                pairs[4 * k + 1] = dg;
                pairs[4 * k + 2] = db;
                pairs[4 * k + 3] = d2;
                k++;
            }
        }
    }
    start[nsym] = (int32_t)k;
    return k;
}

static PyObject *py_near_colours(PyObject *self, PyObject *args) {
    PyObject *obj[6];
    Py_buffer v[6] = {{0}};
    double limit;
    Py_ssize_t k = 0, nsym;
    if (!PyArg_ParseTuple(args, "OOdOOOO:near_colours", &obj[0], &obj[1], &limit, &obj[2], &obj[3], &obj[4], &obj[5]))
        return NULL;
    if (get_array(obj[0], &v[0], 0, 'f', 4, 2, "colours") < 0 || get_array(obj[1], &v[1], 0, '?', 1, 1, "usable") < 0 ||
        get_array(obj[2], &v[2], 1, 'i', 4, 1, "start") < 0 || get_array(obj[3], &v[3], 1, 'i', 4, 1, "near") < 0 ||
        get_array(obj[4], &v[4], 1, 'i', 4, 2, "index") < 0 || get_array(obj[5], &v[5], 1, 'f', 8, 2, "pairs") < 0)
        goto fail;
    nsym = dim(&v[0], 0);
    if (dim(&v[0], 1) != 3 || count_of(&v[1]) != nsym || count_of(&v[2]) != nsym + 1 ||
        count_of(&v[3]) < nsym * nsym || dim(&v[4], 0) != nsym || dim(&v[4], 1) != nsym ||
        dim(&v[5], 0) < nsym * nsym || dim(&v[5], 1) != 4) {
        PyErr_SetString(PyExc_ValueError, "near_colours: colours (n, 3), usable (n,), start (n + 1,), near (n * n,), "
                                          "index (n, n), pairs (n * n, 4)");
        goto fail;
    }
    Py_BEGIN_ALLOW_THREADS
    k = near_colours(v[0].buf, v[1].buf, nsym, limit, v[2].buf, v[3].buf, v[4].buf, v[5].buf);
    Py_END_ALLOW_THREADS
    release_all(v, 6);
    return PyLong_FromSsize_t(k);
fail:
    release_all(v, 6);
    return NULL;
}

typedef struct {
    int32_t *node;
    int64_t *pos;
    double *err; /* 3 a row */
    double *cost;
} search_t;

static inline Py_ssize_t push(search_t *st, Py_ssize_t sp, int32_t node, int64_t at, double er, double eg, double eb,
                              double cost) {
    st->node[sp] = node;
    st->pos[sp] = at;
    st->err[3 * sp] = er;
    st->err[3 * sp + 1] = eg;
    st->err[3 * sp + 2] = eb;
    st->cost[sp] = cost;
    return sp + 1;
}

/* Push a substitute whose colour differs from the source by (dr, dg, db) (source red ``red``) if it is
 * within ``reach2`` of the source and the carried error (cr, cg, cb) stays within ``carry_limit``. */
static inline Py_ssize_t source_push(search_t *st, Py_ssize_t sp, int32_t node, int64_t at, float dr, float dg, float db,
                                     float red, double cr, double cg, double cb, double reach2, double carry_limit,
                                     double cost) {
    double d2 = distance2((double)red + 0.5 * (double)dr, dr, dg, db);
    if (d2 > reach2) return sp;
    double tr = cr + dr, tg = cg + dg, tb = cb + db;
    if (distance2(red, tr, tg, tb) > carry_limit) return sp;
    return push(st, sp, node, at, tr, tg, tb, cost + d2);
}

typedef struct {
    const float *colours; /* (nsym, 3) */
    const uint8_t *usable;
    const int32_t *near_start, *near, *near_index;
    const double *near_pairs; /* (dr, dg, db, d2) a pair */
    double budget, carry, drift, norm;
    Py_ssize_t search_nodes;
    const float *source; /* (n, 3) when judged against the source */
    /* (n) or NULL, judged by the index rule only: at a transparent pixel, the index of the colour on
     * screen there (the transparent index where unknown). That colour, or one near it, may be written
     * instead: the picture stays within the budget of what it shows now. */
    const uint8_t *under;
} lossy_t;

/* Work arrays of the lossy encoder, allocated together. */
typedef struct {
    uint32_t *table;
    int32_t *first_child, *children, *sibling, *symbol;
    search_t st;
    Py_ssize_t depth;
    /* By the index rule, candidates are found with bit sets of 256 symbols (4 words): each entry's
     * children and each index's near colours. Their AND lists the substitutes to look up, where
     * walking the children's list chased a pointer per child (on differenced frames, with colours
     * allowed into transparent pixels, that walk was most of the time). */
    uint64_t *child_bits; /* MAX_CODES * 4 */
    uint64_t near_bits[256 * 4];
} lossy_work_t;

static inline int has_bit(const uint64_t *bits, uint32_t k) { return (int)((bits[k >> 6] >> (k & 63)) & 1u); }

/* Written once, compiled twice (see encode_lossy_index and encode_lossy_source): with ``use_source``
 * a constant, each copy keeps only its own branches. */
static inline __attribute__((always_inline)) Py_ssize_t
encode_lossy(const uint8_t *restrict pixels, Py_ssize_t n, int code_size, const lossy_t *q, uint8_t *restrict out,
             lossy_work_t *wk, const int use_source) {
    const uint32_t nsym = 1u << code_size, clear = nsym, eoi = nsym + 1;
    const int first = (int)nsym + 2, width0 = code_size + 1;
    const float *restrict colours = q->colours, *restrict source = q->source;
    const uint8_t *restrict usable = q->usable;
    const int32_t *restrict near_start = q->near_start, *restrict near = q->near, *restrict near_index = q->near_index;
    const double *restrict near_pairs = q->near_pairs;
    const uint8_t *restrict under = use_source ? NULL : q->under;
    const double budget = q->budget, carry = q->carry, norm = q->norm;
    const double limit = budget * budget, drift_limit = limit * q->drift * q->drift;
    /* the loop-invariant parts of reach = (own ** p + budget ** p) ** (1 / p) */
    const double half_norm = 0.5 * norm, budget_norm = use_source ? pow(budget, norm) : 0.0, inverse_norm = 1.0 / norm;
    const Py_ssize_t depth = wk->depth, search_nodes = q->search_nodes;
    uint32_t *restrict table = wk->table;
    int32_t *restrict first_child = wk->first_child, *restrict children = wk->children;
    int32_t *restrict sibling = wk->sibling, *restrict symbol = wk->symbol;
    search_t stack = wk->st, *st = &stack; /* a local copy: stores into the arrays cannot move them */
    bits_t w = {out, 1, 0, 0, 0};
    int width = width0, nxt = first;
    double er = 0.0, eg = 0.0, eb = 0.0;
    Py_ssize_t i = 0;
    uint32_t node = 0;

    uint64_t *restrict child_bits = wk->child_bits, *restrict near_bits = wk->near_bits;
    if (!use_source) {
        memset(near_bits, 0, sizeof(wk->near_bits));
        for (uint32_t a = 0; a < nsym; a++)
            for (int32_t k = near_start[a]; k < near_start[a + 1]; k++)
                near_bits[4 * a + ((uint32_t)near[k] >> 6)] |= (uint64_t)1 << ((uint32_t)near[k] & 63);
        memset(child_bits, 0, (size_t)MAX_CODES * 4 * sizeof(uint64_t));
    } else { /* the source rule walks child lists */
        for (int c = 0; c < MAX_CODES; c++) first_child[c] = -1;
    }
    emit(&w, clear, width0);
    while (i < n) {
        uint8_t root = pixels[i];
        if (usable[root] || (under && usable[under[i]])) {
            er *= carry;
            eg *= carry;
            eb *= carry;
            if (use_source) {
                er += (float)(colours[3 * root] - source[3 * i]);
                eg += (float)(colours[3 * root + 1] - source[3 * i + 1]);
                eb += (float)(colours[3 * root + 2] - source[3 * i + 2]);
            }
        } else { /* transparent over an unknown colour: nothing to carry across it */
            er = 0.0;
            eg = 0.0;
            eb = 0.0;
        }
        int64_t best = root, best_pos = i + 1;
        double best_cost = 0.0, ber = er, beg = eg, beb = eb;
        Py_ssize_t sp = push(st, 0, root, i + 1, er, eg, eb, 0.0);
        Py_ssize_t expanded = 0;
        while (sp > 0 && expanded < search_nodes && sp < depth - (Py_ssize_t)nsym - 1) {
            sp--;
            int64_t at = st->pos[sp];
            if (at >= n) continue;
            expanded++;
            uint32_t parent = (uint32_t)st->node[sp], e;
            double cost = st->cost[sp];
            double cr = carry * st->err[3 * sp], cg = carry * st->err[3 * sp + 1], cb = carry * st->err[3 * sp + 2];
            uint8_t want = pixels[at];
            /* Transparent over a known colour: that colour shows the same picture (``same``), and its
             * near colours are the substitutes. Otherwise the wanted index is the colour. */
            int32_t shows = want, same = -1;
            if (under && !usable[want] && usable[under[at]]) shows = same = under[at];
            /* the redmean weights at the shown colour's red, for the carried error's distance */
            const double red_weight = 2.0 + (double)colours[3 * shows] / 256.0;
            const double blue_weight = 2.0 + (255.0 - (double)colours[3 * shows]) / 256.0;
            const int32_t lo = near_start[shows], hi = near_start[shows + 1], *near_of_want = near_index + shows * nsym;
            Py_ssize_t base = sp;
            int64_t exact = -1, alike = -1; /* the wanted index's entry; the same colour's entry */
            if (use_source && usable[want]) {
                /* the wanted colour's own error against the source, and what a substitute may reach */
                float sr = source[3 * at], sg = source[3 * at + 1], sb = source[3 * at + 2];
                float xr = colours[3 * want] - sr, xg = colours[3 * want + 1] - sg, xb = colours[3 * want + 2] - sb;
                double own2 = distance2((double)sr + 0.5 * (double)xr, xr, xg, xb);
                double reach2;
                if (norm <= 0.0) {
                    reach2 = budget * budget > own2 ? budget * budget : own2;
                } else if (norm == 2.0) {
                    reach2 = own2 + budget * budget;
                } else {
                    double reach = pow(pow(own2, half_norm) + budget_norm, inverse_norm);
                    reach2 = reach * reach;
                }
                /* the carried error with the wanted colour; a substitute may carry as much, or the limit */
                double wer = cr + xr, weg = cg + xg, web = cb + xb;
                double carry_limit = distance2(sr, wer, weg, web);
                if (drift_limit > carry_limit) carry_limit = drift_limit;
                if (children[parent] > 2 * (hi - lo) + 2) {
                    slot(table, (parent << 8) | want, &e);
                    if (e != 0) exact = e & 0xFFF;
                    for (int32_t k = lo; k < hi; k++) {
                        int32_t b = near[k];
                        slot(table, (parent << 8) | (uint32_t)b, &e);
                        if (e == 0) continue;
                        sp = source_push(st, sp, (int32_t)(e & 0xFFF), at + 1, colours[3 * b] - sr,
                                         colours[3 * b + 1] - sg, colours[3 * b + 2] - sb, sr, cr, cg, cb, reach2,
                                         carry_limit, cost - own2);
                    }
                } else {
                    for (int32_t c = first_child[parent]; c >= 0; c = sibling[c]) {
                        int32_t b = symbol[c];
                        if (b == want) {
                            exact = c;
                        } else if (near_of_want[b] >= 0) {
                            sp = source_push(st, sp, c, at + 1, colours[3 * b] - sr, colours[3 * b + 1] - sg,
                                             colours[3 * b + 2] - sb, sr, cr, cg, cb, reach2, carry_limit, cost - own2);
                        }
                    }
                }
                if (exact >= 0) sp = push(st, sp, (int32_t)exact, at + 1, wer, weg, web, cost);
            } else if (use_source) { /* transparent or outside the palette: only itself, nothing carried */
                slot(table, (parent << 8) | want, &e);
                if (e != 0) sp = push(st, sp, (int32_t)(e & 0xFFF), at + 1, cr, cg, cb, cost);
            } else {
                /* the parent's children that are the wanted index, the same colour, or near it */
                const uint64_t *kids = child_bits + 4 * (size_t)parent, *close = near_bits + 4 * (size_t)shows;
                if (has_bit(kids, want)) {
                    slot(table, (parent << 8) | want, &e);
                    exact = e & 0xFFF;
                }
                if (same >= 0 && has_bit(kids, (uint32_t)same)) {
                    slot(table, (parent << 8) | (uint32_t)same, &e);
                    alike = e & 0xFFF;
                }
                for (uint32_t word = 0; word < 4; word++) {
                    for (uint64_t m = kids[word] & close[word]; m; m &= m - 1) {
                        uint32_t b = 64 * word + (uint32_t)__builtin_ctzll(m);
                        const double *pair = near_pairs + 4 * near_of_want[b];
                        double tr = cr + pair[0], tg = cg + pair[1], tb = cb + pair[2];
                        if (weighted2(red_weight, blue_weight, tr, tg, tb) <= drift_limit) {
                            slot(table, (parent << 8) | b, &e);
                            sp = push(st, sp, (int32_t)(e & 0xFFF), at + 1, tr, tg, tb, cost + pair[3]);
                        }
                    }
                }
            }
            if (alike >= 0 && !use_source) sp = push(st, sp, (int32_t)alike, at + 1, cr, cg, cb, cost);
            if (exact >= 0 && !use_source) { /* pushed last: explored first */
                sp = push(st, sp, (int32_t)exact, at + 1, cr, cg, cb, cost);
            }
            for (Py_ssize_t k = base; k < sp; k++) {
                if (at + 1 > best_pos || (at + 1 == best_pos && st->cost[k] < best_cost)) {
                    best = st->node[k];
                    best_pos = at + 1;
                    best_cost = st->cost[k];
                    ber = st->err[3 * k];
                    beg = st->err[3 * k + 1];
                    beb = st->err[3 * k + 2];
                }
            }
        }
        /* the search may have stopped early: follow exact matches from the best string */
        node = (uint32_t)best;
        int64_t at = best_pos;
        er = ber;
        eg = beg;
        eb = beb;
        uint32_t h = 0, key = 0;
        while (at < n) {
            uint32_t e;
            key = (node << 8) | pixels[at];
            h = slot(table, key, &e);
            if (e == 0 && under && !usable[pixels[at]] && usable[under[at]]) {
                uint32_t e2; /* transparent: the colour on screen is as exact */
                slot(table, (node << 8) | under[at], &e2);
                if (e2 != 0) {
                    node = e2 & 0xFFF;
                    er *= carry;
                    eg *= carry;
                    eb *= carry;
                    at++;
                    continue;
                }
            }
            if (e == 0) break;
            node = e & 0xFFF;
            er *= carry;
            eg *= carry;
            eb *= carry;
            if (use_source && usable[pixels[at]]) {
                er += (float)(colours[3 * pixels[at]] - source[3 * at]);
                eg += (float)(colours[3 * pixels[at] + 1] - source[3 * at + 1]);
                eb += (float)(colours[3 * pixels[at] + 2] - source[3 * at + 2]);
            }
            at++;
        }
        i = at;
        if (i >= n) break;
        emit(&w, node, width);
        uint8_t p = pixels[i];
        table[h] = (key << 12) | (uint32_t)nxt;
        if (use_source) {
            symbol[nxt] = p;
            sibling[nxt] = first_child[node];
            first_child[node] = nxt;
            children[node]++;
        } else {
            child_bits[4 * node + (p >> 6)] |= (uint64_t)1 << (p & 63);
        }
        nxt++;
        if (nxt > (1 << width) && width < MAX_WIDTH) width++;
        if (nxt == MAX_CODES) {
            emit(&w, clear, width);
            memset(table, 0, HASH_SIZE * sizeof(uint32_t));
            if (use_source) {
                for (int c = 0; c < MAX_CODES; c++) first_child[c] = -1;
                memset(children, 0, MAX_CODES * sizeof(int32_t));
            } else {
                memset(child_bits, 0, (size_t)MAX_CODES * 4 * sizeof(uint64_t));
            }
            nxt = first;
            width = width0;
        }
    }
    return end(&w, node, eoi, width, nxt);
}

static Py_ssize_t encode_lossy_index(const uint8_t *pixels, Py_ssize_t n, int code_size, const lossy_t *q,
                                     uint8_t *out, lossy_work_t *wk) {
    return encode_lossy(pixels, n, code_size, q, out, wk, 0);
}

static Py_ssize_t encode_lossy_source(const uint8_t *pixels, Py_ssize_t n, int code_size, const lossy_t *q,
                                      uint8_t *out, lossy_work_t *wk) {
    return encode_lossy(pixels, n, code_size, q, out, wk, 1);
}

static PyObject *py_lzw_lossy(PyObject *self, PyObject *args) {
    enum { PIXELS, COLOURS, USABLE, START, NEAR, INDEX, PAIRS, SOURCE, UNDER, NVIEWS };
    PyObject *obj[NVIEWS], *result = NULL;
    Py_buffer v[NVIEWS] = {{0}};
    int code_size, use_source;
    lossy_t q;
    lossy_work_t wk = {0};
    uint8_t *out = NULL;
    void *work = NULL;
    Py_ssize_t length, nsym, pairs, n;
    obj[UNDER] = Py_None;
    if (!PyArg_ParseTuple(args, "OiOOOOOOdddnOpd|O:lzw_lossy", &obj[PIXELS], &code_size, &obj[COLOURS], &obj[USABLE],
                          &obj[START], &obj[NEAR], &obj[INDEX], &obj[PAIRS], &q.budget, &q.carry, &q.drift,
                          &q.search_nodes, &obj[SOURCE], &use_source, &q.norm, &obj[UNDER]))
        return NULL;
    if (get_array(obj[PIXELS], &v[PIXELS], 0, 'u', 1, 0, "pixels") < 0 ||
        get_array(obj[COLOURS], &v[COLOURS], 0, 'f', 4, 2, "colours") < 0 ||
        get_array(obj[USABLE], &v[USABLE], 0, '?', 1, 1, "usable") < 0 ||
        get_array(obj[START], &v[START], 0, 'i', 4, 1, "near_start") < 0 ||
        get_array(obj[NEAR], &v[NEAR], 0, 'i', 4, 1, "near") < 0 ||
        get_array(obj[INDEX], &v[INDEX], 0, 'i', 4, 2, "near_index") < 0 ||
        get_array(obj[PAIRS], &v[PAIRS], 0, 'f', 8, 2, "near_pairs") < 0 ||
        get_array(obj[SOURCE], &v[SOURCE], 0, 'f', 4, 2, "source") < 0 ||
        (obj[UNDER] != Py_None && get_array(obj[UNDER], &v[UNDER], 0, 'u', 1, 0, "under") < 0))
        goto done;
    if (check_pixels(&v[PIXELS], code_size) < 0) goto done;
    n = v[PIXELS].len;
    nsym = (Py_ssize_t)1 << code_size;
    pairs = count_of(&v[NEAR]);
    if (dim(&v[COLOURS], 0) != nsym || dim(&v[COLOURS], 1) != 3 || count_of(&v[USABLE]) != nsym ||
        count_of(&v[START]) != nsym + 1 || dim(&v[INDEX], 0) != nsym || dim(&v[INDEX], 1) != nsym ||
        dim(&v[PAIRS], 0) != pairs || dim(&v[PAIRS], 1) != 4) {
        PyErr_Format(PyExc_ValueError, "lzw_lossy: the colour tables must be for %zd indices (code size %d)", nsym,
                     code_size);
        goto done;
    }
    use_source = use_source != 0;
    if (use_source && (dim(&v[SOURCE], 0) != n || dim(&v[SOURCE], 1) != 3)) {
        PyErr_Format(PyExc_ValueError, "lzw_lossy: source must be (%zd, 3), one colour a pixel", n);
        goto done;
    }
    if (obj[UNDER] != Py_None && (use_source || v[UNDER].len != n)) {
        PyErr_Format(PyExc_ValueError, "lzw_lossy: under must be one index a pixel (%zd), and without the source", n);
        goto done;
    }
    if (obj[UNDER] != Py_None && check_pixels(&v[UNDER], code_size) < 0) goto done; /* indexes usable[] */
    if (q.search_nodes < 1) {
        PyErr_SetString(PyExc_ValueError, "lzw_lossy: search_nodes must be at least 1");
        goto done;
    }
    q.colours = v[COLOURS].buf;
    q.usable = v[USABLE].buf;
    q.near_start = v[START].buf;
    q.near = v[NEAR].buf;
    q.near_index = v[INDEX].buf;
    q.near_pairs = v[PAIRS].buf;
    q.source = v[SOURCE].buf;
    q.under = obj[UNDER] != Py_None ? v[UNDER].buf : NULL;
    /* search stack: entry, position after it, carried error, summed squared error */
    wk.depth = (q.search_nodes < STACK / nsym ? q.search_nodes : STACK / nsym) * nsym + nsym + 2;
    {
        size_t d = (size_t)wk.depth;
        size_t bytes = (size_t)MAX_CODES * 4 * sizeof(uint64_t) + HASH_SIZE * sizeof(uint32_t) +
                       4 * MAX_CODES * sizeof(int32_t) +
                       d * (sizeof(int32_t) + sizeof(int64_t) + 4 * sizeof(double));
        out = malloc((size_t)out_capacity(n));
        work = calloc(1, bytes);
        if (!out || !work) {
            PyErr_NoMemory();
            goto done;
        }
        /* 64-bit words and doubles first (alignment), then the 32-bit arrays */
        wk.child_bits = work;
        wk.st.err = (double *)(wk.child_bits + (size_t)MAX_CODES * 4);
        wk.st.cost = wk.st.err + 3 * d;
        wk.st.pos = (int64_t *)(wk.st.cost + d);
        wk.table = (uint32_t *)(wk.st.pos + d);
        wk.first_child = (int32_t *)(wk.table + HASH_SIZE);
        wk.children = wk.first_child + MAX_CODES;
        wk.sibling = wk.children + MAX_CODES;
        wk.symbol = wk.sibling + MAX_CODES;
        wk.st.node = wk.symbol + MAX_CODES;
    }
    { /* the CSR lists and the (a, b) -> pair table must agree */
        const int32_t *start = v[START].buf, *near = v[NEAR].buf, *index = v[INDEX].buf;
        Py_ssize_t listed = 0;
        int bad = start[0] != 0 || start[nsym] != pairs;
        for (Py_ssize_t a = 0; a < nsym && !bad; a++) {
            bad = start[a] > start[a + 1];
            for (Py_ssize_t k = start[a]; k < start[a + 1] && !bad; k++) {
                int32_t b = near[k];
                bad = b < 0 || b >= nsym || index[a * nsym + b] != k;
            }
        }
        for (Py_ssize_t k = 0; k < nsym * nsym && !bad; k++) listed += index[k] >= 0;
        if (bad || listed != pairs) {
            PyErr_SetString(PyExc_ValueError, "lzw_lossy: inconsistent near-colour lists");
            goto done;
        }
    }
    Py_BEGIN_ALLOW_THREADS
    length = (use_source ? encode_lossy_source : encode_lossy_index)(v[PIXELS].buf, n, code_size, &q, out, &wk);
    Py_END_ALLOW_THREADS
    result = PyBytes_FromStringAndSize((const char *)out, length);
done:
    free(out);
    free(work);
    release_all(v, NVIEWS);
    return result;
}

/* -- error diffusion ------------------------------------------------------------------------------- */

#define DIFFUSE_ROWS 3 /* the kernels reach two rows down: a ring of three error rows */
#define MAX_TAPS 32

/* Serpentine error diffusion of an (h, w, 3+) uint8 picture to palette indices; see dither.diffuse.
 * The picture is read through its strides (rows, pixels, channels: RGBA frames with padded rows as the
 * decoder leaves them); the other arrays are C-contiguous.
 * ``err`` holds DIFFUSE_ROWS rows of (w + 2 * pad) * 3 floats, zeroed, where pad is the taps' widest
 * reach sideways: taps that fall off the picture land in the padding, which is never read. Returns 0,
 * or -1 when the look-up table or ``previous`` named an index outside the palette. */
static int diffuse(const uint8_t *restrict rgb, const Py_ssize_t *strides, Py_ssize_t h, Py_ssize_t w,
                   const float *restrict palette,
                   Py_ssize_t colours, const uint8_t *restrict lut, const int64_t *dys, const int64_t *dxs,
                   const float *weights, int taps, Py_ssize_t pad, const float *restrict limits,
                   const uint8_t *restrict keep, const uint8_t *restrict previous, uint8_t *restrict out,
                   float *restrict err) {
    const Py_ssize_t stride = (w + 2 * pad) * 3, row_step = strides[0], pixel_step = strides[1];
    const Py_ssize_t channel_step = strides[2];
    float wt[MAX_TAPS];
    Py_ssize_t reach[MAX_TAPS]; /* each tap's offset in floats, for this row's direction */
    float *target[MAX_TAPS];    /* each tap's error row, at x = 0 */
    for (int t = 0; t < taps; t++) wt[t] = weights[t];
    for (Py_ssize_t y = 0; y < h; y++) {
        float *restrict row = err + (y % DIFFUSE_ROWS) * stride + 3 * pad;
        const int forward = (y & 1) == 0;
        for (int t = 0; t < taps; t++) {
            target[t] = err + ((y + dys[t]) % DIFFUSE_ROWS) * stride + 3 * pad;
            reach[t] = 3 * (forward ? dxs[t] : -dxs[t]);
        }
        for (Py_ssize_t i = 0; i < w; i++) {
            const Py_ssize_t x = forward ? i : w - 1 - i;
            const uint8_t *px = rgb + y * row_step + x * pixel_step;
            const float c0 = (float)px[0] + row[3 * x];
            const float c1 = (float)px[channel_step] + row[3 * x + 1];
            const float c2 = (float)px[2 * channel_step] + row[3 * x + 2];
            unsigned index;
            if (keep && keep[y * w + x]) {
                index = previous[y * w + x];
            } else {
                /* round half up in double precision, then clamp to 0..255 */
                double r = (double)c0 + 0.5, g = (double)c1 + 0.5, b = (double)c2 + 0.5;
                int ri = !(r > 0.0) ? 0 : r >= 255.0 ? 255 : (int)r;
                int gi = !(g > 0.0) ? 0 : g >= 255.0 ? 255 : (int)g;
                int bi = !(b > 0.0) ? 0 : b >= 255.0 ? 255 : (int)b;
                index = lut[((ri >> 2) << 12) | ((gi >> 2) << 6) | (bi >> 2)];
            }
            if (index >= (unsigned)colours) return -1;
            out[y * w + x] = (uint8_t)index;
            const float limit = limits[index], *colour = palette + 3 * index;
            float e0 = c0 - colour[0], e1 = c1 - colour[1], e2 = c2 - colour[2];
            /* min(max(e, -limit), limit), as Python's max and min pick between equals */
            e0 = -limit > e0 ? -limit : e0;
            e0 = limit < e0 ? limit : e0;
            e1 = -limit > e1 ? -limit : e1;
            e1 = limit < e1 ? limit : e1;
            e2 = -limit > e2 ? -limit : e2;
            e2 = limit < e2 ? limit : e2;
            for (int t = 0; t < taps; t++) {
                float *cell = target[t] + 3 * x + reach[t];
                cell[0] += e0 * wt[t];
                cell[1] += e1 * wt[t];
                cell[2] += e2 * wt[t];
            }
        }
        /* This row's errors are used up: the ring slot becomes the row two below. */
        memset(row - 3 * pad, 0, (size_t)stride * sizeof(float));
    }
    return 0;
}

static PyObject *py_diffuse_rows(PyObject *self, PyObject *args) {
    enum { RGB, PALETTE, LUT, DYS, DXS, WEIGHTS, LIMITS, KEEP, PREVIOUS, OUT, NVIEWS };
    PyObject *obj[NVIEWS];
    Py_buffer v[NVIEWS] = {{0}};
    Py_ssize_t h, w, colours, taps, pad = 0;
    float *err = NULL;
    int status = 0, use_keep;
    if (!PyArg_ParseTuple(args, "OOOOOOOOOO:diffuse_rows", &obj[RGB], &obj[PALETTE], &obj[LUT], &obj[DYS], &obj[DXS],
                          &obj[WEIGHTS], &obj[LIMITS], &obj[KEEP], &obj[PREVIOUS], &obj[OUT]))
        return NULL;
    if (get_buffer(obj[RGB], &v[RGB], 0, 'u', 1, 3, "rgb", 1) < 0 ||
        get_array(obj[PALETTE], &v[PALETTE], 0, 'f', 4, 2, "palette") < 0 ||
        get_array(obj[LUT], &v[LUT], 0, 'u', 1, 1, "lut") < 0 ||
        get_array(obj[DYS], &v[DYS], 0, 'i', 8, 1, "dys") < 0 || get_array(obj[DXS], &v[DXS], 0, 'i', 8, 1, "dxs") < 0 ||
        get_array(obj[WEIGHTS], &v[WEIGHTS], 0, 'f', 4, 1, "weights") < 0 ||
        get_array(obj[LIMITS], &v[LIMITS], 0, 'f', 4, 1, "limits") < 0 ||
        get_array(obj[KEEP], &v[KEEP], 0, '?', 1, 2, "keep") < 0 ||
        get_array(obj[PREVIOUS], &v[PREVIOUS], 0, 'u', 1, 2, "previous") < 0 ||
        get_array(obj[OUT], &v[OUT], 1, 'u', 1, 2, "out") < 0)
        goto fail;
    h = dim(&v[OUT], 0);
    w = dim(&v[OUT], 1);
    colours = dim(&v[PALETTE], 0);
    taps = count_of(&v[DYS]);
    if (dim(&v[RGB], 0) != h || dim(&v[RGB], 1) != w || dim(&v[RGB], 2) < 3) {
        PyErr_Format(PyExc_ValueError, "rgb must be (%zd, %zd, 3 or more) like out, got (%zd, %zd, %zd)", h, w, dim(&v[RGB], 0),
                     dim(&v[RGB], 1), dim(&v[RGB], 2));
        goto fail;
    }
    if (dim(&v[PALETTE], 1) != 3 || colours < 1 || count_of(&v[LIMITS]) != colours) {
        PyErr_SetString(PyExc_ValueError, "palette must be (n, 3) with n >= 1, limits (n,)");
        goto fail;
    }
    if (count_of(&v[LUT]) != (Py_ssize_t)1 << 18) {
        PyErr_SetString(PyExc_ValueError, "lut must have 1 << 18 entries (6 bits a channel)");
        goto fail;
    }
    if (count_of(&v[DXS]) != taps || count_of(&v[WEIGHTS]) != taps) {
        PyErr_SetString(PyExc_ValueError, "dys, dxs and weights must have one entry a tap");
        goto fail;
    }
    if (taps > MAX_TAPS) {
        PyErr_Format(PyExc_ValueError, "at most %d taps", MAX_TAPS);
        goto fail;
    }
    for (Py_ssize_t t = 0; t < taps; t++) {
        int64_t dy = ((const int64_t *)v[DYS].buf)[t], dx = ((const int64_t *)v[DXS].buf)[t];
        if (dy < 0 || dy >= DIFFUSE_ROWS) {
            PyErr_SetString(PyExc_ValueError, "dys must be 0, 1 or 2 (the kernels reach two rows down)");
            goto fail;
        }
        if (dx < -MAX_TAPS || dx > MAX_TAPS) {
            PyErr_Format(PyExc_ValueError, "dxs must be within -%d..%d", MAX_TAPS, MAX_TAPS);
            goto fail;
        }
        if ((dx < 0 ? -dx : dx) > pad) pad = dx < 0 ? -dx : dx;
    }
    use_keep = dim(&v[KEEP], 0) == h && dim(&v[KEEP], 1) == w;
    if (use_keep && (dim(&v[PREVIOUS], 0) != h || dim(&v[PREVIOUS], 1) != w)) {
        PyErr_SetString(PyExc_ValueError, "previous must be (h, w) like keep");
        goto fail;
    }
    if (h > 0 && w > 0) {
        err = calloc((size_t)(DIFFUSE_ROWS * (w + 2 * pad) * 3), sizeof(float));
        if (!err) {
            PyErr_NoMemory();
            goto fail;
        }
        Py_BEGIN_ALLOW_THREADS
        status = diffuse(v[RGB].buf, v[RGB].strides, h, w, v[PALETTE].buf, colours, v[LUT].buf, v[DYS].buf, v[DXS].buf,
                         v[WEIGHTS].buf, (int)taps, pad, v[LIMITS].buf, use_keep ? v[KEEP].buf : NULL, v[PREVIOUS].buf,
                         v[OUT].buf, err);
        Py_END_ALLOW_THREADS
        free(err);
    }
    if (status < 0) {
        PyErr_Format(PyExc_ValueError, "lut or previous holds an index outside the palette (%zd colours)", colours);
        goto fail;
    }
    release_all(v, NVIEWS);
    Py_RETURN_NONE;
fail:
    release_all(v, NVIEWS);
    return NULL;
}

/* -- module ---------------------------------------------------------------------------------------- */

static PyMethodDef methods[] = {
    {"lzw_lossless", py_lzw_lossless, METH_VARARGS,
     "lzw_lossless(pixels, code_size) -> bytes\n\nLossless GIF LZW of C-contiguous uint8 indices: the data "
     "sub-blocks and their terminator."},
    {"lzw_lossy", py_lzw_lossy, METH_VARARGS,
     "lzw_lossy(pixels, code_size, colours, usable, near_start, near, near_index, near_pairs, budget, "
     "carry, drift, search_nodes, source, use_source, norm[, under]) -> bytes\n\nLossy GIF LZW (see "
     "gifloop.encode.lzw)."},
    {"near_colours", py_near_colours, METH_VARARGS,
     "near_colours(colours, usable, limit, start, near, index, pairs) -> count\n\nFill the near-colour "
     "lists of lossy LZW; returns the number of (index, near index) pairs."},
    {"diffuse_rows", py_diffuse_rows, METH_VARARGS,
     "diffuse_rows(rgb, palette, lut, dys, dxs, weights, limits, keep, previous, out) -> None\n\nSerpentine "
     "error diffusion into out (see gifloop.quantize.dither.diffuse); rgb (h, w, 3+) may be strided."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_ckernels", "Compiled kernels of gifloop's encoder: GIF LZW and error diffusion.", -1,
    methods,
};

PyMODINIT_FUNC PyInit__ckernels(void) { return PyModule_Create(&module); }
