"""Build the small C extensions; everything else is in pyproject.toml.

The serial kernels (GIF LZW, error diffusion, nearest palette colour, the loop finder's exact distances) are plain C99
with no dependency beyond the Python headers: arrays arrive through the buffer protocol, and
each kernel releases the GIL so the encoder's worker threads and the decoder overlap with it.
"""
from setuptools import Extension, setup

FLAGS = ["-O3", "-std=c99", "-fno-strict-aliasing", "-Wall"]

setup(
    ext_modules=[
        Extension("gifloop.encode._ckernels", ["src/gifloop/encode/_ckernels.c"], extra_compile_args=FLAGS),
        Extension("gifloop.encode._cdiff", ["src/gifloop/encode/_cdiff.c"], extra_compile_args=FLAGS),
        Extension("gifloop.quantize._ckernels", ["src/gifloop/quantize/_ckernels.c"], extra_compile_args=FLAGS),
        # -pthread: the loop finder matches a block in a helper thread while the next one is stored
        Extension("gifloop.loops._ckernels", ["src/gifloop/loops/_ckernels.c"], extra_compile_args=FLAGS + ["-pthread"],
                  extra_link_args=["-pthread"]),
    ],
)
