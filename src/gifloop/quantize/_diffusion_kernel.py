"""The compiled inner loop of error diffusion (see ``dither.diffuse``), in a module of its own so
that numba is imported only when a frame is actually error-diffused.

>>> import numpy as np
>>> out = np.empty((1, 2), np.uint8)
>>> diffuse_rows(np.full((1, 2, 3), 200, np.uint8), np.array([[0, 0, 0], [255, 255, 255]], np.float32),
...              np.repeat(np.array([0, 1], np.uint8), 1 << 17), np.array([0]), np.array([1]),
...              np.array([1.0], np.float32), np.array([255, 255], np.float32),
...              np.zeros((1, 1), np.bool_), np.zeros((1, 1), np.uint8), out)
>>> out.tolist()
[[1, 1]]
"""

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def diffuse_rows(rgb, palette, lut, dys, dxs, weights, limits, keep, previous, out):  # pragma: no cover - compiled
    h, w = out.shape
    rows = 3  # the kernels reach two rows down: a ring of three error rows
    pad = 2
    err = np.zeros((rows, w + 2 * pad, 3), np.float32)
    use_keep = keep.shape[0] == h and keep.shape[1] == w
    taps = dys.shape[0]
    for y in range(h):
        cur = y % rows
        forward = (y & 1) == 0
        for i in range(w):
            x = i if forward else w - 1 - i
            c0 = np.float32(rgb[y, x, 0]) + err[cur, x + pad, 0]
            c1 = np.float32(rgb[y, x, 1]) + err[cur, x + pad, 1]
            c2 = np.float32(rgb[y, x, 2]) + err[cur, x + pad, 2]
            if use_keep and keep[y, x]:
                index = previous[y, x]
            else:
                r = min(max(int(c0 + 0.5), 0), 255)
                g = min(max(int(c1 + 0.5), 0), 255)
                b = min(max(int(c2 + 0.5), 0), 255)
                index = lut[((r >> 2) << 12) | ((g >> 2) << 6) | (b >> 2)]
            out[y, x] = index
            limit = limits[index]
            e0 = min(max(c0 - palette[index, 0], -limit), limit)
            e1 = min(max(c1 - palette[index, 1], -limit), limit)
            e2 = min(max(c2 - palette[index, 2], -limit), limit)
            for t in range(taps):
                dx = dxs[t] if forward else -dxs[t]
                xx = x + dx
                if xx < 0 or xx >= w:
                    continue
                row = (y + dys[t]) % rows
                wt = weights[t]
                err[row, xx + pad, 0] += e0 * wt
                err[row, xx + pad, 1] += e1 * wt
                err[row, xx + pad, 2] += e2 * wt
        # This row's errors are used up: the ring slot becomes the row two below.
        err[cur, :, :] = 0.0
