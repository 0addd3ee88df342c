/* gifloop.encode._cdiff: what a new GIF frame changes on screen, in one pass over its pixels.
 *
 * difference(indices, colours, canvas, source, shown, tolerance, transparent_index, width, patch[, under])
 *
 *   indices  (H*W) uint8     the new frame's palette indices
 *   colours  (n) uint32      packed colour of each palette index
 *   canvas   (H*W) uint32    what the viewer sees now (packed colours); updated in place
 *   source   (H, W, 4) uint8 the new frame's source colours (RGBA; rows may be padded, as PyAV's
 *                            planes are), or None
 *   shown    (H*W) uint32    source colours of the pixels on screen, or None; updated in place
 *   tolerance                a pixel changes only if its colour differs from the canvas AND (with
 *                            source and shown) some byte of its source moved by more than this
 *   transparent_index        the index meaning "leave as is", or -1 when the GIF has none
 *   patch    (H*W) uint8     receives the bounding box's indices, row by row (w * h bytes)
 *   under    (H*W) uint8     optional; receives, like patch, what is on screen under each transparent
 *                            pixel of the box as an index of ``colours`` (the transparent index at
 *                            drawn pixels and where no index has that colour), for lossy LZW
 *
 * Returns None when nothing changed, else (x0, y0, x1, y1, transparent): the box to store and
 * whether unchanged pixels in it were set to the transparent index. Inside the box, changed pixels
 * update the canvas and shown; when the whole box is drawn (no transparency) all of it does.
 * This is gif.py's numpy logic (ten passes over the frame) as one pass plus one over the box.
 *
 * hold_still(source, shown, tolerance, keep): for error diffusion, which pixels stay as they are.
 * keep[i] = 1 where no byte of the source pixel moved by more than tolerance from shown[i]; where
 * one did, keep[i] = 0 and shown[i] takes the source pixel. (source as above, shown (H*W) uint32,
 * keep (H*W) bytes.)
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* mask[i] = 1 where pixel i changes what is on screen (see the module comment). The source test
 * works on bytes, then on words, in two plain loops the compiler turns into vector code (the
 * outcome is a coin toss per pixel on dithered frames: branches would mispredict). */
__attribute__((target_clones("avx2", "default")))
static void changes(const uint8_t *indices, const uint32_t *colours, const uint32_t *canvas, const uint8_t *source,
                    Py_ssize_t source_stride, const uint32_t *shown, int tolerance, Py_ssize_t width,
                    Py_ssize_t height, uint8_t *mask, uint8_t *far) {
    for (Py_ssize_t y = 0; y < height; y++) {
        Py_ssize_t row = y * width;
        if (tolerance && source && shown) {
            const uint8_t *a = source + y * source_stride, *b = (const uint8_t *)(shown + row);
            uint8_t limit = (uint8_t)(tolerance > 255 ? 255 : tolerance);
            for (Py_ssize_t j = 0; j < 4 * width; j++) {
                uint8_t hi = a[j] > b[j] ? a[j] : b[j], lo = a[j] > b[j] ? b[j] : a[j];
                far[j] = (uint8_t)(hi - lo) > limit;
            }
            const uint32_t *far_pixels = (const uint32_t *)far;
            for (Py_ssize_t x = 0; x < width; x++)
                mask[row + x] = (colours[indices[row + x]] != canvas[row + x]) & (far_pixels[x] != 0);
        } else {
            for (Py_ssize_t x = 0; x < width; x++) mask[row + x] = colours[indices[row + x]] != canvas[row + x];
        }
    }
}

/* One row of the box: its indices into out (the transparent index where nothing changed, when
 * transparent), and the screen (and the source colours shown) updated where it is drawn. Selects
 * by masks, not branches: on dithered frames "drawn or not" is a coin toss per pixel, and the
 * branches mispredicted (this was two thirds of the differ's time). */
__attribute__((target_clones("avx2", "default")))
static void store_row(const uint8_t *idx, const uint8_t *mask, const uint32_t *pal, uint32_t *screen,
                      const uint8_t *src, uint32_t *seen, Py_ssize_t w, int transparent, uint8_t clear,
                      uint8_t *out) {
    const uint8_t all = (uint8_t)!transparent;
    for (Py_ssize_t x = 0; x < w; x++) {
        uint8_t draw = (uint8_t)(all | mask[x]), byte = (uint8_t)(0u - draw);
        uint32_t word = 0u - (uint32_t)draw;
        out[x] = (uint8_t)((idx[x] & byte) | (clear & (uint8_t)~byte));
        screen[x] = (pal[idx[x]] & word) | (screen[x] & ~word);
    }
    if (src && seen)
        for (Py_ssize_t x = 0; x < w; x++) {
            uint32_t word = 0u - (uint32_t)(all | mask[x]), value;
            memcpy(&value, src + 4 * x, 4);
            seen[x] = (value & word) | (seen[x] & ~word);
        }
}

/* Which index has a colour: a small open-addressing table over the palette (first index wins). */
#define COLOUR_SLOTS 1024 /* a power of two, at least four times the 256 indices */
typedef struct {
    uint32_t key[COLOUR_SLOTS];
    int16_t index[COLOUR_SLOTS]; /* -1: empty */
} colour_index_t;

static inline uint32_t colour_slot(const colour_index_t *t, uint32_t colour) {
    uint32_t h = (colour * 2654435761u) >> 22; /* 10 bits */
    while (t->index[h] >= 0 && t->key[h] != colour) h = (h + 1) & (COLOUR_SLOTS - 1);
    return h;
}

static void colour_index_fill(colour_index_t *t, const uint32_t *pal, Py_ssize_t n) {
    for (Py_ssize_t k = 0; k < COLOUR_SLOTS; k++) t->index[k] = -1;
    for (Py_ssize_t i = 0; i < n && i < 256; i++) {
        uint32_t h = colour_slot(t, pal[i]);
        if (t->index[h] < 0) {
            t->key[h] = pal[i];
            t->index[h] = (int16_t)i;
        }
    }
}

/* One row of ``under`` (see the module comment): drawn pixels get ``none``, the others the index of
 * the colour on screen. */
static void under_row(const uint8_t *mask, const uint32_t *screen, const colour_index_t *t, Py_ssize_t w,
                      uint8_t none, uint8_t *out) {
    for (Py_ssize_t x = 0; x < w; x++) {
        if (mask[x]) {
            out[x] = none;
        } else {
            int16_t k = t->index[colour_slot(t, screen[x])];
            out[x] = k >= 0 ? (uint8_t)k : none;
        }
    }
}

/* The largest of n bytes (0 for none): one vectorised pass, no early exit. */
static uint8_t largest(const uint8_t *v, Py_ssize_t n) {
    uint8_t top = 0;
    for (Py_ssize_t i = 0; i < n; i++) top = v[i] > top ? v[i] : top;
    return top;
}

static int check(Py_buffer *b, const char *name, Py_ssize_t itemsize, Py_ssize_t count) {
    if (b->itemsize != itemsize || (count >= 0 && b->len != count * itemsize) || !PyBuffer_IsContiguous(b, 'C')) {
        PyErr_Format(PyExc_ValueError, "difference: %s must be a C-contiguous array of %zd-byte items%s", name,
                     itemsize, count >= 0 ? " matching the frame" : "");
        return 0;
    }
    return 1;
}

static PyObject *difference(PyObject *self, PyObject *args) {
    Py_buffer indices = {0}, colours = {0}, canvas = {0}, source = {0}, shown = {0}, patch = {0}, under = {0};
    PyObject *source_obj, *shown_obj, *under_obj = Py_None;
    Py_ssize_t width;
    int tolerance, transparent_index;
    if (!PyArg_ParseTuple(args, "y*y*w*OOiinw*|O", &indices, &colours, &canvas, &source_obj, &shown_obj, &tolerance,
                          &transparent_index, &width, &patch, &under_obj))
        return NULL;
    PyObject *result = NULL;
    uint8_t *mask = NULL, *far = NULL;
    colour_index_t *lookup = NULL;
    Py_ssize_t n = indices.len;
    int have_source = source_obj != Py_None, have_shown = shown_obj != Py_None;
    if (have_source && PyObject_GetBuffer(source_obj, &source, PyBUF_STRIDED_RO) < 0) goto done;
    if (have_shown && PyObject_GetBuffer(shown_obj, &shown, PyBUF_C_CONTIGUOUS | PyBUF_WRITABLE) < 0) goto done;
    if (under_obj != Py_None && PyObject_GetBuffer(under_obj, &under, PyBUF_C_CONTIGUOUS | PyBUF_WRITABLE) < 0)
        goto done;
    if (!check(&indices, "indices", 1, -1) || !check(&colours, "colours", 4, -1) || !check(&canvas, "canvas", 4, n) ||
        (have_shown && !check(&shown, "shown", 4, n)) || !check(&patch, "patch", 1, -1) ||
        (under.obj && !check(&under, "under", 1, -1)))
        goto done;
    if (width <= 0 || n % width || patch.len < n || (under.obj && under.len < n)) {
        PyErr_SetString(PyExc_ValueError,
                        "difference: width must divide the frame, patch (and under) must hold a frame");
        goto done;
    }
    Py_ssize_t height = n / width;
    if (have_source && (source.ndim != 3 || source.itemsize != 1 || source.shape[0] != height ||
                        source.shape[1] != width || source.shape[2] != 4 || source.strides[1] != 4 ||
                        source.strides[2] != 1)) {
        PyErr_SetString(PyExc_ValueError, "difference: source must be (H, W, 4) uint8 matching the frame");
        goto done;
    }
    Py_ssize_t n_colours = colours.len / 4;
    const uint8_t *idx = indices.buf;
    if (largest(idx, n) >= n_colours) {  /* an index beyond the palette would read out of bounds */
        Py_ssize_t i = 0;
        while (idx[i] < n_colours) i++;
        PyErr_Format(PyExc_ValueError, "difference: index %d at pixel %zd but only %zd colours", idx[i], i,
                     n_colours);
        goto done;
    }
    const uint32_t *pal = colours.buf;
    const uint8_t *src = have_source ? source.buf : NULL;
    Py_ssize_t src_stride = have_source ? source.strides[0] : 0;
    uint32_t *screen = canvas.buf, *seen = have_shown ? shown.buf : NULL;
    mask = malloc((size_t)n);
    far = malloc((size_t)width * 4);
    if (under.obj) lookup = malloc(sizeof(colour_index_t));
    if (!mask || !far || (under.obj && !lookup)) {
        PyErr_NoMemory();
        goto done;
    }
    Py_ssize_t x0 = width, y0 = height, x1 = -1, y1 = -1, count = 0;
    int transparent = 0;
    Py_BEGIN_ALLOW_THREADS  /* the worker threads map the next frames meanwhile */
    changes(idx, pal, screen, src, src_stride, seen, tolerance, width, height, mask, far);
    for (Py_ssize_t y = 0; y < height; y++) {
        const uint8_t *row = mask + y * width;
        Py_ssize_t first, last, ones = 0;
        for (Py_ssize_t x = 0; x < width; x++) ones += row[x];
        if (!ones) continue;
        for (first = 0; !row[first]; first++) {}
        for (last = width - 1; !row[last]; last--) {}
        count += ones;
        if (y0 == height) y0 = y;
        y1 = y;
        if (first < x0) x0 = first;
        if (last > x1) x1 = last;
    }
    if (count) {
        Py_ssize_t w = x1 - x0 + 1;
        transparent = transparent_index >= 0 && count < w * (y1 - y0 + 1);
        for (Py_ssize_t y = y0; y <= y1; y++)
            store_row(idx + y * width + x0, mask + y * width + x0, pal, screen + y * width + x0,
                      src ? src + y * src_stride + 4 * x0 : NULL, seen ? seen + y * width + x0 : NULL, w, transparent,
                      (uint8_t)transparent_index, (uint8_t *)patch.buf + (y - y0) * w);
        if (lookup) {
            /* after the rows were stored: where nothing was drawn the screen is what it was */
            uint8_t none = (uint8_t)(transparent_index >= 0 ? transparent_index : 0);
            if (transparent) colour_index_fill(lookup, pal, n_colours);
            for (Py_ssize_t y = y0; y <= y1; y++) {
                uint8_t *out = (uint8_t *)under.buf + (y - y0) * w;
                if (transparent)
                    under_row(mask + y * width + x0, screen + y * width + x0, lookup, w, none, out);
                else
                    memset(out, none, (size_t)w);
            }
        }
    }
    Py_END_ALLOW_THREADS
    if (count)
        result = Py_BuildValue("nnnnO", x0, y0, x1 + 1, y1 + 1, transparent ? Py_True : Py_False);
    else {
        result = Py_None;
        Py_INCREF(result);
    }
done:
    free(mask);
    free(far);
    free(lookup);
    if (under.obj) PyBuffer_Release(&under);
    PyBuffer_Release(&indices);
    PyBuffer_Release(&colours);
    PyBuffer_Release(&canvas);
    PyBuffer_Release(&patch);
    if (source.obj) PyBuffer_Release(&source);
    if (shown.obj) PyBuffer_Release(&shown);
    return result;
}

static PyObject *hold_still(PyObject *self, PyObject *args) {
    PyObject *source_obj;
    Py_buffer source = {0}, shown = {0}, keep = {0};
    int tolerance;
    if (!PyArg_ParseTuple(args, "Ow*iw*", &source_obj, &shown, &tolerance, &keep)) return NULL;
    PyObject *result = NULL;
    if (PyObject_GetBuffer(source_obj, &source, PyBUF_STRIDED_RO) < 0) goto done;
    Py_ssize_t n = keep.len;
    if (source.ndim != 3 || source.itemsize != 1 || source.shape[2] != 4 || source.strides[1] != 4 ||
        source.strides[2] != 1 || source.shape[0] * source.shape[1] != n || !check(&shown, "shown", 4, n) ||
        !check(&keep, "keep", 1, n)) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError, "hold_still: source must be (H, W, 4) uint8, keep and shown H*W");
        goto done;
    }
    Py_ssize_t height = source.shape[0], width = source.shape[1];
    uint8_t limit = (uint8_t)(tolerance < 0 ? 0 : (tolerance > 255 ? 255 : tolerance));
    Py_BEGIN_ALLOW_THREADS  /* the dither thread calls this; a frame is ~0.1 ms of plain loops */
    for (Py_ssize_t y = 0; y < height; y++) {
        const uint8_t *a = (const uint8_t *)source.buf + y * source.strides[0];
        uint8_t *b = (uint8_t *)shown.buf + 4 * y * width, *k = (uint8_t *)keep.buf + y * width;
        for (Py_ssize_t x = 0; x < width; x++) {
            uint8_t far = 0;
            for (int c = 0; c < 4; c++) {
                uint8_t p = a[4 * x + c], q = b[4 * x + c];
                far |= (uint8_t)((p > q ? p - q : q - p) > limit);
            }
            k[x] = !far;
            if (far) memcpy(b + 4 * x, a + 4 * x, 4);
        }
    }
    Py_END_ALLOW_THREADS
    result = Py_None;
    Py_INCREF(result);
done:
    if (source.obj) PyBuffer_Release(&source);
    PyBuffer_Release(&shown);
    PyBuffer_Release(&keep);
    return result;
}

static PyMethodDef methods[] = {
    {"hold_still", hold_still, METH_VARARGS,
     "hold_still(source, shown, tolerance, keep): pixels whose source stayed within tolerance of shown "
     "(keep = 1); the others update shown."},
    {"difference", difference, METH_VARARGS,
     "difference(indices, colours, canvas, source, shown, tolerance, transparent_index, width, patch[, under]): "
     "the box a new GIF frame changes (see the module source)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_cdiff", "Frame differencing for the GIF writer.", -1, methods,
};

PyMODINIT_FUNC PyInit__cdiff(void) { return PyModule_Create(&module); }
