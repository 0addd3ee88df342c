/* gifloop.encode._ckernels: compiled serial kernels (placeholder until the kernels move here). */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

static PyMethodDef methods[] = {
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_ckernels", "Compiled kernels of gifloop.encode.", -1, methods,
};

PyMODINIT_FUNC PyInit__ckernels(void) { return PyModule_Create(&module); }
