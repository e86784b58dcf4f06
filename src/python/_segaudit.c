/* segaudit._segaudit: the Python module's bridge to the C library.
 *
 * One type, Audit, wraps a SegauditAudit.  Audit.run(**settings) takes the
 * settings by the names of SegauditSettings' fields (the Python layer,
 * segaudit/_audit.py, turns the public options into them), arrays through
 * the buffer protocol (NumPy arrays, memory maps: read in place, never
 * copied), runs the audit with the GIL released, and turns Ctrl-C into a
 * cancelled run followed by the interpreter's own SIGINT handling
 * (KeyboardInterrupt by default).  The result accessors return plain
 * Python values, and the tables as packed bytes whose layouts
 * (layouts()) the Python layer reads as NumPy structured arrays.
 *
 * Uses only the public headers. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "segaudit/classes.h"
#include "segaudit/report.h"
#include "segaudit/segaudit.h"

#if PY_VERSION_HEX < 0x030A0000 /* Python 3.9 */
static inline PyObject *Py_NewRef(PyObject *o)
{
    Py_INCREF(o);
    return o;
}
static int PyModule_AddObjectRef(PyObject *m, const char *name, PyObject *o)
{
    Py_XINCREF(o);
    int rc = PyModule_AddObject(m, name, o);
    if (rc)
        Py_XDECREF(o);
    return rc;
}
#endif

static PyObject *SegauditError, *InputError, *SettingError, *FileError;

/* ---- Ctrl-C ------------------------------------------------------------- */

/* The cancel flag of the run on the main thread that catches SIGINT
 * (one at a time: only the main thread installs the handler). */
static volatile int *volatile g_cancel;

static void on_sigint(int sig)
{
    (void)sig;
    volatile int *c = g_cancel;
    if (c)
        *c = 1;
}

/* ---- the progress bar (verbose) ----------------------------------------- */

typedef struct Progress {
    double last;
    int pass;
    int shown;
} Progress;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Called on the engine's driving thread, without the GIL: writes to fd 2
 * directly. */
static void progress_cb(void *ctx, int pass, uint64_t done, uint64_t total,
                        uint64_t bytes)
{
    Progress *p = ctx;
    double t = now();
    if (pass == p->pass && done < total && t - p->last < 0.2)
        return;
    p->last = t;
    p->pass = pass;
    p->shown = 1;
    char bar[31];
    int fill = total ? (int)(30 * done / total) : 30;
    for (int i = 0; i < 30; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[30] = '\0';
    char line[160];
    int n = snprintf(line, sizeof line,
                     "\rsegaudit: %s [%s] %llu/%llu images, %.1f MB read",
                     pass == 1 ? "scoring  " : "2nd read ", bar,
                     (unsigned long long)done, (unsigned long long)total,
                     (double)bytes / 1e6);
    if (n > 0 && write(STDERR_FILENO, line, (size_t)n) < 0)
        p->shown = 0;
}

/* ---- Audit -------------------------------------------------------------- */

#define MAX_VIEWS 4

enum { FRESH, RUNNING, DONE, FAILED };

typedef struct AuditObject {
    PyObject_HEAD
    SegauditAudit *a;
    int state;               /* FRESH, RUNNING, DONE (results), FAILED */
    int dry;                 /* a dry run: info and skipped images only */
    volatile int cancel;     /* this run's cancel flag */
    PyObject *keep;          /* the settings dict: its strings stay alive */
    PyObject *pins;          /* lists made from other sequences, likewise */
    const char **names;      /* class names, image ids (C copies) */
    const char **ids;
    uint8_t (*palette)[3];
    SegauditArray arrays[MAX_VIEWS];
} AuditObject;

static void audit_dealloc(AuditObject *self)
{
    segaudit_audit_free(self->a);
    Py_XDECREF(self->keep);
    Py_XDECREF(self->pins);
    free(self->names);
    free(self->ids);
    free(self->palette);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *audit_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
    (void)args;
    (void)kw;
    AuditObject *self = (AuditObject *)type->tp_alloc(type, 0);
    if (!self)
        return NULL;
    self->a = segaudit_audit_new();
    if (!self->a) {
        Py_DECREF(self);
        return PyErr_NoMemory();
    }
    return (PyObject *)self;
}

/* Raises the exception of a library error code with message msg. */
static PyObject *raise_code(int code, const char *msg)
{
    switch (code) {
    case SEGAUDIT_EINPUT: PyErr_SetString(InputError, msg); break;
    case SEGAUDIT_EINVAL: PyErr_SetString(SettingError, msg); break;
    case SEGAUDIT_EIO: PyErr_SetString(FileError, msg); break;
    case SEGAUDIT_ENOMEM: PyErr_SetString(PyExc_MemoryError, msg); break;
    case SEGAUDIT_ECANCEL: PyErr_SetString(PyExc_KeyboardInterrupt, msg); break;
    default: PyErr_SetString(SegauditError, msg); break;
    }
    return NULL;
}

/* ---- settings ----------------------------------------------------------- */

enum { K_STR, K_INT, K_DBL, K_U64, K_U32 };

typedef struct Field {
    const char *name;
    int kind;
    size_t off;
} Field;

#define F(name, kind) {#name, kind, offsetof(SegauditSettings, name)}
static const Field FIELDS[] = {
    F(labels_dir, K_STR),      F(label_suffix, K_STR),
    F(probs_path, K_STR),      F(probs_dataset, K_STR),
    F(ids_dataset, K_STR),     F(temperature, K_DBL),
    F(downsample, K_INT),      F(downsample_labels, K_INT),
    F(rank_by, K_INT),         F(logits, K_INT),
    F(flag_rule, K_INT),       F(truth_masks_dir, K_STR),
    F(on_error_skip, K_INT),   F(max_skipped, K_U64),
    F(allow_plugins, K_INT),   F(strict, K_INT),
    F(n_threads, K_INT),       F(memory_limit, K_U64),
    F(scratch_dir, K_STR),     F(band_bytes, K_U64),
    F(masks_dir, K_STR),       F(truth_path, K_STR),
    F(min_region_area, K_U64), F(overlays_dir, K_STR),
    F(overlay_top, K_U64),     F(overlay_width, K_U32),
    F(images_dir, K_STR),      F(image_suffix, K_STR),
    F(layout, K_INT),          F(probs_scale, K_DBL),
    F(labels_dataset, K_STR),  F(label_map, K_STR),
    F(upsample, K_INT),        F(dry_run, K_INT),
    F(cache_dir, K_STR),       F(cache_verify, K_INT),
};
#undef F

/* The text of a str or bytes object (kept alive by the settings dict). */
static const char *text_of(PyObject *v, const char *name)
{
    const char *t = NULL;
    Py_ssize_t n = 0;
    if (PyBytes_Check(v)) {
        t = PyBytes_AS_STRING(v);
        n = PyBytes_GET_SIZE(v);
    } else if (PyUnicode_Check(v)) {
        t = PyUnicode_AsUTF8AndSize(v, &n);
    }
    if (t && (size_t)n != strlen(t)) {
        PyErr_Format(PyExc_ValueError, "%s: embedded null character", name);
        return NULL;
    }
    if (t || PyErr_Occurred())
        return t;
    PyErr_Format(PyExc_TypeError, "%s must be a str or bytes, not %.100s",
                 name, Py_TYPE(v)->tp_name);
    return NULL;
}

static int set_field(SegauditSettings *s, const Field *f, PyObject *v)
{
    char *at = (char *)s + f->off;
    if (v == Py_None)
        return f->kind == K_STR ? (*(const char **)at = NULL, 0) : 0;
    switch (f->kind) {
    case K_STR: {
        const char *t = text_of(v, f->name);
        if (!t)
            return -1;
        *(const char **)at = t;
        return 0;
    }
    case K_DBL: {
        double d = PyFloat_AsDouble(v);
        if (d == -1.0 && PyErr_Occurred())
            return -1;
        *(double *)at = d;
        return 0;
    }
    default: {
        if (PyFloat_Check(v)) {
            PyErr_Format(PyExc_TypeError, "%s must be an integer", f->name);
            return -1;
        }
        unsigned long long u = 0;
        long long i = 0;
        if (f->kind == K_INT) {
            i = PyLong_AsLongLong(v);
            if (i == -1 && PyErr_Occurred())
                return -1;
            if (i < INT32_MIN || i > INT32_MAX) {
                PyErr_Format(PyExc_OverflowError, "%s is out of range",
                             f->name);
                return -1;
            }
            *(int *)at = (int)i;
            return 0;
        }
        u = PyLong_AsUnsignedLongLong(v);
        if (u == (unsigned long long)-1 && PyErr_Occurred())
            return -1;
        if (f->kind == K_U32) {
            if (u > UINT32_MAX) {
                PyErr_Format(PyExc_OverflowError, "%s is out of range",
                             f->name);
                return -1;
            }
            *(uint32_t *)at = (uint32_t)u;
        } else {
            *(uint64_t *)at = u;
        }
        return 0;
    }
    }
}

/* The SegauditDtype of a buffer's format, or 0. */
static int dtype_of(const char *fmt, Py_ssize_t itemsize)
{
    if (!fmt)
        return SEGAUDIT_DTYPE_UINT8;
    const int little = 1;
    const int host_le = *(const char *)&little == 1;
    if (*fmt == '<' || *fmt == '>' || *fmt == '!') {
        int le = *fmt == '<';
        if (le != host_le)
            return -1; /* the other byte order */
        fmt++;
    } else if (*fmt == '@' || *fmt == '=') {
        fmt++;
    }
    if (fmt[0] == '\0' || fmt[1] != '\0')
        return 0;
    int sz = (int)itemsize;
    switch (fmt[0]) {
    case '?': return sz == 1 ? SEGAUDIT_DTYPE_BOOL : 0;
    case 'b': return sz == 1 ? SEGAUDIT_DTYPE_INT8 : 0;
    case 'B': return sz == 1 ? SEGAUDIT_DTYPE_UINT8 : 0;
    case 'h': case 'i': case 'l': case 'q':
        return sz == 2 ? SEGAUDIT_DTYPE_INT16 : sz == 4 ? SEGAUDIT_DTYPE_INT32
               : sz == 8 ? SEGAUDIT_DTYPE_INT64 : 0;
    case 'H': case 'I': case 'L': case 'Q':
        return sz == 2 ? SEGAUDIT_DTYPE_UINT16
               : sz == 4 ? SEGAUDIT_DTYPE_UINT32
               : sz == 8 ? SEGAUDIT_DTYPE_UINT64 : 0;
    case 'e': return sz == 2 ? SEGAUDIT_DTYPE_FLOAT16 : 0;
    case 'f': return sz == 4 ? SEGAUDIT_DTYPE_FLOAT32 : 0;
    case 'd': return sz == 8 ? SEGAUDIT_DTYPE_FLOAT64 : 0;
    default: return 0;
    }
}

/* A buffer-protocol object as a SegauditArray of ndim dimensions (view
 * must be released by the caller when this returns 0). */
static int to_array(PyObject *obj, int writable, int ndim, const char *name,
                    Py_buffer *view, SegauditArray *out)
{
    int flags = writable ? PyBUF_RECORDS : PyBUF_RECORDS_RO;
    if (PyObject_GetBuffer(obj, view, flags) != 0) {
        PyErr_Clear();
        PyErr_Format(PyExc_TypeError, "%s must be a%s array (an object "
                     "with the buffer protocol, such as a NumPy array), "
                     "not %.100s", name, writable ? " writable" : "",
                     Py_TYPE(obj)->tp_name);
        return -1;
    }
    int dt = dtype_of(view->format, view->itemsize);
    const char *why = NULL;
    if (dt < 0)
        why = "is in the other byte order; convert it with "
              ".astype(a.dtype.newbyteorder('='))";
    else if (dt == 0)
        why = "has an element type that is not supported";
    else if (view->ndim != ndim)
        why = ndim == 4 ? "must have 4 dimensions"
                        : "must have 3 dimensions";
    if (why) {
        PyErr_Format(PyExc_ValueError, "%s %s (format '%s', %d dimensions)",
                     name, why, view->format ? view->format : "B",
                     view->ndim);
        PyBuffer_Release(view);
        return -1;
    }
    memset(out, 0, sizeof *out);
    out->data = view->buf;
    out->dtype = dt;
    out->ndim = ndim;
    for (int d = 0; d < ndim; d++) {
        out->shape[d] = (uint64_t)view->shape[d];
        out->strides[d] = view->strides ? (int64_t)view->strides[d] : 0;
    }
    if (!view->strides) {
        int64_t st = (int64_t)view->itemsize;
        for (int d = ndim; d-- > 0;) {
            out->strides[d] = st;
            st *= (int64_t)view->shape[d];
        }
    }
    /* pages of a shared file mapping (np.memmap) are handed back once
     * read; the library checks that the memory is one */
    out->file_mapped = !writable;
    return 0;
}

/* A sequence of str as a C array of n strings (kept alive by seq). */
static const char **strings_of(PyObject *seq, const char *name, uint64_t *n,
                               PyObject *pins)
{
    PyObject *fast = PySequence_Fast(seq, "expected a sequence of str");
    if (!fast)
        return NULL;
    /* the items must outlive the run: a list made here is kept in pins */
    if (PyList_Append(pins, fast) != 0) {
        Py_DECREF(fast);
        return NULL;
    }
    Py_ssize_t len = PySequence_Fast_GET_SIZE(fast);
    const char **v = calloc(len ? (size_t)len : 1, sizeof *v);
    if (!v) {
        Py_DECREF(fast);
        PyErr_NoMemory();
        return NULL;
    }
    for (Py_ssize_t i = 0; i < len; i++) {
        v[i] = text_of(PySequence_Fast_GET_ITEM(fast, i), name);
        if (!v[i]) {
            free(v);
            Py_DECREF(fast);
            return NULL;
        }
    }
    Py_DECREF(fast); /* pins holds it */
    *n = (uint64_t)len;
    return v;
}

static const char *const ARRAY_KEYS[MAX_VIEWS] = {
    "labels_array", "probs_array", "issues_out", "pixel_scores_out"};

static PyObject *audit_run(AuditObject *self, PyObject *args, PyObject *kw)
{
    if (PyTuple_GET_SIZE(args) != 0) {
        PyErr_SetString(PyExc_TypeError, "run() takes keyword arguments only");
        return NULL;
    }
    if (self->state != FRESH) {
        PyErr_SetString(PyExc_RuntimeError, "an Audit runs once");
        return NULL;
    }
    self->state = RUNNING;
    self->pins = PyList_New(0);
    if (!self->pins) {
        self->state = FAILED;
        return NULL;
    }
    SegauditSettings s;
    segaudit_default_settings(&s);
    self->keep = kw ? PyDict_Copy(kw) : PyDict_New();
    if (!self->keep) {
        self->state = FAILED;
        return NULL;
    }

    Py_buffer views[MAX_VIEWS];
    int held[MAX_VIEWS] = {0};
    int verbose = 0, catch_sigint = 0, n_names = 0;
    PyObject *result = NULL;
    PyObject *key, *val;
    Py_ssize_t pos = 0;
    while (PyDict_Next(self->keep, &pos, &key, &val)) {
        const char *k = PyUnicode_AsUTF8(key);
        if (!k)
            goto done;
        int found = 0;
        for (size_t i = 0; i < sizeof FIELDS / sizeof FIELDS[0]; i++)
            if (strcmp(k, FIELDS[i].name) == 0) {
                if (set_field(&s, &FIELDS[i], val) != 0)
                    goto done;
                found = 1;
            }
        for (int i = 0; i < MAX_VIEWS && !found; i++) {
            if (strcmp(k, ARRAY_KEYS[i]) != 0)
                continue;
            found = 1;
            if (val == Py_None)
                break;
            int out = i >= 2;
            if (to_array(val, out, i == 1 ? 4 : 3, i == 0 ? "labels"
                         : i == 1 ? "pred_probs" : k, &views[i],
                         &self->arrays[i]) != 0)
                goto done;
            held[i] = 1;
        }
        if (found)
            continue;
        if (strcmp(k, "ignore_index") == 0) {
            PyObject *fast = PySequence_Fast(val, "ignore_index must be a "
                                                  "sequence of int");
            if (!fast)
                goto done;
            Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
            if (n > SEGAUDIT_MAX_IGNORE) {
                Py_DECREF(fast);
                PyErr_Format(PyExc_ValueError, "at most %d ignored values",
                             SEGAUDIT_MAX_IGNORE);
                goto done;
            }
            for (Py_ssize_t i = 0; i < n; i++) {
                long v = PyLong_AsLong(PySequence_Fast_GET_ITEM(fast, i));
                if (v == -1 && PyErr_Occurred()) {
                    Py_DECREF(fast);
                    goto done;
                }
                if (v < -32768 || v > 65535) {
                    Py_DECREF(fast);
                    PyErr_Format(PyExc_ValueError, "ignore_index %ld is "
                                 "outside -32768..65535", v);
                    goto done;
                }
                s.ignore_index[i] = (int)v;
            }
            s.n_ignore = (int)n;
            Py_DECREF(fast);
        } else if (strcmp(k, "class_names") == 0) {
            uint64_t n = 0;
            if (val != Py_None) {
                if (!(self->names = strings_of(val, "class_names", &n, self->pins)))
                    goto done;
                n_names = (int)n;
            }
        } else if (strcmp(k, "image_ids") == 0) {
            if (val != Py_None) {
                if (!(self->ids = strings_of(val, "ids", &s.n_image_ids,
                                              self->pins)))
                    goto done;
                s.image_ids = self->ids;
            }
        } else if (strcmp(k, "palette") == 0) {
            if (val == Py_None)
                continue;
            PyObject *fast = PySequence_Fast(val, "palette must be a "
                                                  "sequence of (r, g, b)");
            if (!fast)
                goto done;
            Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
            self->palette = calloc(n ? (size_t)n : 1, 3);
            if (!self->palette) {
                Py_DECREF(fast);
                PyErr_NoMemory();
                goto done;
            }
            for (Py_ssize_t i = 0; i < n; i++) {
                int rgb[3];
                if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(fast, i),
                                      "iii", &rgb[0], &rgb[1], &rgb[2])) {
                    Py_DECREF(fast);
                    goto done;
                }
                for (int c = 0; c < 3; c++) {
                    if (rgb[c] < 0 || rgb[c] > 255) {
                        Py_DECREF(fast);
                        PyErr_Format(PyExc_ValueError, "palette colour %zd "
                                     "is not 0..255", i);
                        goto done;
                    }
                    self->palette[i][c] = (uint8_t)rgb[c];
                }
            }
            s.palette = (const uint8_t(*)[3])self->palette;
            s.n_palette = (int)n;
            Py_DECREF(fast);
        } else if (strcmp(k, "preset") == 0) {
            if (val == Py_None)
                continue;
            const char *name = text_of(val, "classes");
            if (!name)
                goto done;
            const SegauditClassPreset *p = segaudit_class_preset(name);
            if (!p) {
                PyErr_Format(PyExc_ValueError, "classes: unknown preset "
                             "'%s' (cityscapes, ade20k, pascal-voc)", name);
                goto done;
            }
            s.class_names = p->class_names;
            s.n_class_names = p->n_classes;
            if (!s.palette) {
                s.palette = p->palette;
                s.n_palette = p->n_classes;
            }
            if (s.n_ignore == 0 && p->ignore_index >= 0 &&
                !PyDict_GetItemString(self->keep, "ignore_index"))
                s.ignore_index[s.n_ignore++] = p->ignore_index;
        } else if (strcmp(k, "verbose") == 0) {
            verbose = PyObject_IsTrue(val);
        } else if (strcmp(k, "catch_sigint") == 0) {
            catch_sigint = PyObject_IsTrue(val);
        } else {
            PyErr_Format(PyExc_TypeError, "run() got an unexpected setting "
                         "'%s'", k);
            goto done;
        }
    }
    /* a preset's names give way to names given explicitly */
    if (self->names) {
        s.class_names = self->names;
        s.n_class_names = n_names;
    }
    for (int i = 0; i < MAX_VIEWS; i++)
        if (held[i])
            *(i == 0   ? &s.labels_array
              : i == 1 ? &s.probs_array
              : i == 2 ? &s.issues_out
                       : &s.pixel_scores_out) = &self->arrays[i];

    Progress prog = {0};
    if (verbose) {
        s.progress = progress_cb;
        s.progress_ctx = &prog;
    }
    /* Ctrl-C cancels the run (when called on the main thread, unless
     * SIGINT is ignored); the interpreter's handler then runs as usual */
    struct sigaction sa, old;
    int caught = 0;
    self->cancel = 0;
    s.cancel = &self->cancel;
    if (catch_sigint && !g_cancel &&
        sigaction(SIGINT, NULL, &old) == 0 && old.sa_handler != SIG_IGN) {
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_sigint;
        sigemptyset(&sa.sa_mask);
        g_cancel = &self->cancel;
        caught = sigaction(SIGINT, &sa, &old) == 0;
        if (!caught)
            g_cancel = NULL;
    }
    int rc;
    self->dry = s.dry_run;
    Py_BEGIN_ALLOW_THREADS
    rc = segaudit_audit_run(self->a, &s);
    Py_END_ALLOW_THREADS
    if (caught) {
        sigaction(SIGINT, &old, NULL);
        g_cancel = NULL;
    }
    if (prog.shown && write(STDERR_FILENO, "\n", 1) < 0)
        prog.shown = 0;
    if (self->cancel) {
        PyErr_SetInterrupt();
        if (PyErr_CheckSignals() == 0)
            PyErr_SetString(PyExc_KeyboardInterrupt,
                            "the audit was interrupted");
        goto done;
    }
    if (rc) {
        raise_code(rc, segaudit_audit_error(self->a));
        goto done;
    }
    result = Py_None;
    Py_INCREF(result);
done:
    for (int i = 0; i < MAX_VIEWS; i++) {
        if (held[i])
            PyBuffer_Release(&views[i]);
        memset(&self->arrays[i], 0, sizeof self->arrays[i]);
    }
    self->state = result ? DONE : FAILED;
    return result;
}

static int need_results(AuditObject *self)
{
    if (self->state != DONE) {
        PyErr_SetString(PyExc_RuntimeError, self->state == RUNNING
                                                ? "the audit is running"
                                                : "the audit has no results");
        return -1;
    }
    return 0;
}

/* Results beyond the totals and the images: not after a dry run. */
static int need_scores(AuditObject *self)
{
    if (need_results(self))
        return -1;
    if (self->dry) {
        PyErr_SetString(PyExc_RuntimeError, "a dry run scores nothing");
        return -1;
    }
    return 0;
}

/* ---- results ------------------------------------------------------------ */

/* One image, packed for NumPy (layouts()["image"]). */
typedef struct PackedImage {
    uint64_t index, rank;
    int32_t has_score, skipped;
    double score[SEGAUDIT_N_SCORES];
    uint64_t issue_pixels, valid_pixels, regions, largest_region;
    double region_mass;
    int32_t flagged, unused;
} PackedImage;

typedef struct PackedClass {
    uint64_t labeled_pixels;
    double threshold;
    uint64_t issue_pixels_given, issue_pixels_predicted, images_affected;
} PackedClass;

#define SET(d, k, v)                                                         \
    do {                                                                     \
        PyObject *v_ = (v);                                                  \
        if (!v_ || PyDict_SetItemString(d, k, v_) != 0) {                    \
            Py_XDECREF(v_);                                                  \
            Py_DECREF(d);                                                    \
            return NULL;                                                     \
        }                                                                    \
        Py_DECREF(v_);                                                       \
    } while (0)

static PyObject *str_or_none(const char *s)
{
    if (s)
        return PyUnicode_DecodeUTF8(s, (Py_ssize_t)strlen(s), "replace");
    Py_RETURN_NONE;
}

static PyObject *audit_info(AuditObject *self, PyObject *unused)
{
    (void)unused;
    if (need_results(self))
        return NULL;
    SegauditDatasetInfo in;
    segaudit_audit_info(self->a, &in);
    PyObject *d = PyDict_New();
    if (!d)
        return NULL;
    SET(d, "n_images", PyLong_FromUnsignedLongLong(in.n_images));
    SET(d, "n_classes", PyLong_FromUnsignedLong(in.n_classes));
    SET(d, "height", PyLong_FromUnsignedLongLong(in.height));
    SET(d, "width", PyLong_FromUnsignedLongLong(in.width));
    SET(d, "dtype", str_or_none(in.dtype));
    SET(d, "layout", str_or_none(in.layout));
    SET(d, "n_issues", PyLong_FromUnsignedLongLong(in.n_issues));
    SET(d, "issue_pixels", PyLong_FromUnsignedLongLong(in.issue_pixels));
    SET(d, "valid_pixels", PyLong_FromUnsignedLongLong(in.valid_pixels));
    SET(d, "images_with_issues",
        PyLong_FromUnsignedLongLong(in.images_with_issues));
    SET(d, "records", PyLong_FromUnsignedLongLong(in.records));
    SET(d, "spilled_bytes", PyLong_FromUnsignedLongLong(in.spilled_bytes));
    SET(d, "second_read", PyBool_FromLong(in.second_read));
    SET(d, "select_reads", PyLong_FromLong(in.select_reads));
    SET(d, "images_skipped", PyLong_FromUnsignedLongLong(in.images_skipped));
    SET(d, "far_from_one", PyLong_FromUnsignedLongLong(in.far_from_one));
    SET(d, "threads", PyLong_FromLong(in.n_threads));
    SET(d, "seconds_pass1", PyFloat_FromDouble(in.seconds_pass1));
    SET(d, "seconds_pass2", PyFloat_FromDouble(in.seconds_pass2));
    SET(d, "seconds_total", PyFloat_FromDouble(in.seconds_total));
    SET(d, "bytes_read", PyLong_FromUnsignedLongLong(in.bytes_read));
    SET(d, "read_path", str_or_none(in.read_path));
    SET(d, "ids_source", str_or_none(in.ids_source));
    SET(d, "quantised", PyBool_FromLong(in.quantised));
    SET(d, "upsampled", PyLong_FromUnsignedLong(in.upsampled));
    SET(d, "images_computed", PyLong_FromUnsignedLongLong(in.images_computed));
    SET(d, "images_from_cache",
        PyLong_FromUnsignedLongLong(in.images_from_cache));
    SET(d, "cache_bytes", PyLong_FromUnsignedLongLong(in.cache_bytes));
    SegauditFlagInfo fl;
    segaudit_audit_flag(self->a, &fl);
    SET(d, "flag_rule", str_or_none(segaudit_flag_rule_name(fl.rule)));
    SET(d, "flagged_images", PyLong_FromUnsignedLongLong(fl.flagged));
    SET(d, "flag_threshold", fl.has_threshold
                                 ? PyFloat_FromDouble(fl.threshold)
                                 : Py_NewRef(Py_None));
    PyObject *w = PyList_New(0);
    for (int i = 0; w && i < in.n_warnings; i++) {
        PyObject *t = str_or_none(segaudit_audit_warning(self->a, i));
        if (!t || PyList_Append(w, t) != 0) {
            Py_XDECREF(t);
            Py_CLEAR(w);
            break;
        }
        Py_DECREF(t);
    }
    SET(d, "warnings", w);
    return d;
}

/* images() -> (packed bytes, ids, skip reasons, label digests) */
static PyObject *audit_images(AuditObject *self, PyObject *unused)
{
    (void)unused;
    if (need_results(self))
        return NULL;
    SegauditDatasetInfo in;
    segaudit_audit_info(self->a, &in);
    PyObject *bytes = PyBytes_FromStringAndSize(
        NULL, (Py_ssize_t)(in.n_images * sizeof(PackedImage)));
    PyObject *ids = PyList_New((Py_ssize_t)in.n_images);
    PyObject *why = PyList_New((Py_ssize_t)in.n_images);
    PyObject *dig = PyList_New((Py_ssize_t)in.n_images);
    if (!bytes || !ids || !why || !dig)
        goto fail;
    PackedImage *out = (PackedImage *)PyBytes_AS_STRING(bytes);
    for (uint64_t i = 0; i < in.n_images; i++) {
        SegauditImageResult im;
        segaudit_audit_image(self->a, i, &im);
        PackedImage p = {im.index, im.rank, im.has_score, im.skipped,
                         {0}, im.issue_pixels, im.valid_pixels, im.regions,
                         im.largest_region, im.region_mass, im.flagged, 0};
        memcpy(p.score, im.score, sizeof p.score);
        memcpy(&out[i], &p, sizeof p);
        PyObject *a = str_or_none(im.id), *b = str_or_none(im.skip_reason),
                 *c = str_or_none(im.label_digest);
        if (!a || !b || !c) {
            Py_XDECREF(a);
            Py_XDECREF(b);
            Py_XDECREF(c);
            goto fail;
        }
        PyList_SET_ITEM(ids, (Py_ssize_t)i, a);
        PyList_SET_ITEM(why, (Py_ssize_t)i, b);
        PyList_SET_ITEM(dig, (Py_ssize_t)i, c);
    }
    return Py_BuildValue("(NNNN)", bytes, ids, why, dig);
fail:
    Py_XDECREF(bytes);
    Py_XDECREF(ids);
    Py_XDECREF(why);
    Py_XDECREF(dig);
    return NULL;
}

/* ranking() -> bytes of N uint64: the index of the image of rank r+1 */
static PyObject *audit_ranking(AuditObject *self, PyObject *unused)
{
    (void)unused;
    if (need_scores(self))
        return NULL;
    SegauditDatasetInfo in;
    segaudit_audit_info(self->a, &in);
    PyObject *b = PyBytes_FromStringAndSize(NULL,
                                            (Py_ssize_t)(in.n_images * 8));
    if (!b)
        return NULL;
    uint64_t *v = (uint64_t *)PyBytes_AS_STRING(b);
    for (uint64_t r = 0; r < in.n_images; r++)
        v[r] = segaudit_audit_ranked(self->a, r);
    return b;
}

/* classes() -> (packed bytes, names) */
static PyObject *audit_classes(AuditObject *self, PyObject *unused)
{
    (void)unused;
    if (need_scores(self))
        return NULL;
    SegauditDatasetInfo in;
    segaudit_audit_info(self->a, &in);
    PyObject *bytes = PyBytes_FromStringAndSize(
        NULL, (Py_ssize_t)(in.n_classes * sizeof(PackedClass)));
    PyObject *names = PyList_New((Py_ssize_t)in.n_classes);
    if (!bytes || !names) {
        Py_XDECREF(bytes);
        Py_XDECREF(names);
        return NULL;
    }
    PackedClass *out = (PackedClass *)PyBytes_AS_STRING(bytes);
    for (uint32_t k = 0; k < in.n_classes; k++) {
        SegauditClassResult c;
        segaudit_audit_class(self->a, k, &c);
        PackedClass p = {c.labeled_pixels, c.threshold, c.issue_pixels_given,
                         c.issue_pixels_predicted, c.images_affected};
        memcpy(&out[k], &p, sizeof p);
        PyObject *n = str_or_none(c.name ? c.name : "");
        if (!n) {
            Py_DECREF(bytes);
            Py_DECREF(names);
            return NULL;
        }
        PyList_SET_ITEM(names, k, n);
    }
    return Py_BuildValue("(NN)", bytes, names);
}

static PyObject *audit_pairs(AuditObject *self, PyObject *unused)
{
    (void)unused;
    if (need_scores(self))
        return NULL;
    uint64_t n = segaudit_audit_n_pairs(self->a);
    PyObject *b = PyBytes_FromStringAndSize(
        NULL, (Py_ssize_t)(n * sizeof(SegauditPair)));
    if (!b)
        return NULL;
    SegauditPair *v = (SegauditPair *)PyBytes_AS_STRING(b);
    for (uint64_t i = 0; i < n; i++)
        segaudit_audit_pair(self->a, i, &v[i]);
    return b;
}

static PyObject *audit_regions(AuditObject *self, PyObject *unused)
{
    (void)unused;
    if (need_scores(self))
        return NULL;
    SegauditDatasetInfo in;
    segaudit_audit_info(self->a, &in);
    uint64_t total = 0;
    for (uint64_t i = 0; i < in.n_images; i++)
        total += segaudit_audit_n_regions(self->a, i);
    PyObject *b = PyBytes_FromStringAndSize(
        NULL, (Py_ssize_t)(total * sizeof(SegauditRegion)));
    if (!b)
        return NULL;
    SegauditRegion *v = (SegauditRegion *)PyBytes_AS_STRING(b);
    uint64_t at = 0;
    for (uint64_t i = 0; i < in.n_images; i++) {
        uint64_t n = segaudit_audit_n_regions(self->a, i);
        for (uint64_t j = 0; j < n; j++) {
            int rc = segaudit_audit_region(self->a, i, j, &v[at++]);
            if (rc) {
                Py_DECREF(b);
                return raise_code(rc, segaudit_audit_error(self->a));
            }
        }
    }
    return b;
}

/* evaluation() -> None, or (truth flags, [(score name, images, positives,
 * ap, auroc, precision_at_p, hits_at_10)]) with None where undefined */
static PyObject *audit_evaluation(AuditObject *self, PyObject *unused)
{
    (void)unused;
    if (need_scores(self))
        return NULL;
    if (!segaudit_audit_has_truth(self->a))
        Py_RETURN_NONE;
    SegauditDatasetInfo in;
    segaudit_audit_info(self->a, &in);
    PyObject *truth = PyBytes_FromStringAndSize(NULL,
                                                (Py_ssize_t)in.n_images);
    PyObject *rows = PyList_New(0);
    if (!truth || !rows) {
        Py_XDECREF(truth);
        Py_XDECREF(rows);
        return NULL;
    }
    char *t = PyBytes_AS_STRING(truth);
    for (uint64_t i = 0; i < in.n_images; i++)
        t[i] = (char)(segaudit_audit_truth(self->a, i) == 1);
    for (int sc = 0; sc < SEGAUDIT_N_SCORES; sc++) {
        SegauditEvaluation ev;
        segaudit_audit_evaluation(self->a, sc, &ev);
        PyObject *row = Py_BuildValue(
            "(sKKNNNK)", segaudit_score_name(sc),
            (unsigned long long)ev.images, (unsigned long long)ev.positives,
            ev.has_ap ? PyFloat_FromDouble(ev.ap) : Py_NewRef(Py_None),
            ev.has_auroc ? PyFloat_FromDouble(ev.auroc) : Py_NewRef(Py_None),
            ev.has_precision ? PyFloat_FromDouble(ev.precision_at_p)
                             : Py_NewRef(Py_None),
            (unsigned long long)ev.hits_at_10);
        if (!row || PyList_Append(rows, row) != 0) {
            Py_XDECREF(row);
            Py_DECREF(truth);
            Py_DECREF(rows);
            return NULL;
        }
        Py_DECREF(row);
    }
    return Py_BuildValue("(NN)", truth, rows);
}

/* write_report(dir, what, overlays_rel): what 1 = the CSV and JSON
 * files, 2 = report.html, 3 = both */
static PyObject *audit_write_report(AuditObject *self, PyObject *args)
{
    PyObject *dir_obj, *rel_obj;
    int what;
    if (!PyArg_ParseTuple(args, "O&iO", PyUnicode_FSConverter, &dir_obj,
                          &what, &rel_obj))
        return NULL;
    if (need_scores(self)) {
        Py_DECREF(dir_obj);
        return NULL;
    }
    const char *dir = PyBytes_AS_STRING(dir_obj);
    const char *rel = rel_obj == Py_None ? NULL : text_of(rel_obj, "overlays");
    if (rel_obj != Py_None && !rel) {
        Py_DECREF(dir_obj);
        return NULL;
    }
    char eb[1024] = "";
    int rc = 0;
    Py_BEGIN_ALLOW_THREADS
    if (what & 1)
        rc = segaudit_report_write(self->a, dir, eb, sizeof eb);
    if (rc == 0 && (what & 2))
        rc = segaudit_report_write_html(self->a, dir, rel, eb, sizeof eb);
    Py_END_ALLOW_THREADS
    Py_DECREF(dir_obj);
    if (rc)
        return raise_code(rc, eb);
    Py_RETURN_NONE;
}

/* diff(old_dir, new_dir, out_dir) -> dict of the summary */
static PyObject *mod_diff(PyObject *m, PyObject *args)
{
    (void)m;
    PyObject *a, *b, *c;
    if (!PyArg_ParseTuple(args, "O&O&O&", PyUnicode_FSConverter, &a,
                          PyUnicode_FSConverter, &b, PyUnicode_FSConverter,
                          &c))
        return NULL;
    SegauditDiffSummary s;
    char eb[1024] = "";
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = segaudit_report_diff(PyBytes_AS_STRING(a), PyBytes_AS_STRING(b),
                              PyBytes_AS_STRING(c), &s, eb, sizeof eb);
    Py_END_ALLOW_THREADS
    Py_DECREF(a);
    Py_DECREF(b);
    Py_DECREF(c);
    if (rc)
        return raise_code(rc, eb);
    return Py_BuildValue(
        "{sKsKsKsKsKsKsKsKsKsK}", "images_old", (unsigned long long)s.images_old,
        "images_new", (unsigned long long)s.images_new, "relabeled",
        (unsigned long long)s.relabeled, "relabeled_clean",
        (unsigned long long)s.relabeled_clean, "relabeled_flagged",
        (unsigned long long)s.relabeled_flagged, "moved",
        (unsigned long long)s.moved, "added", (unsigned long long)s.added,
        "removed", (unsigned long long)s.removed, "regions_fixed",
        (unsigned long long)s.regions_fixed, "regions_new",
        (unsigned long long)s.regions_new);
}

/* layouts() -> {table: (itemsize, [(field, offset, numpy format)])} */
static PyObject *mod_layouts(PyObject *m, PyObject *unused)
{
    (void)m;
    (void)unused;
#define FLD(T, f, fmt) "(sns)", #f, (Py_ssize_t)offsetof(T, f), fmt
    PyObject *img = Py_BuildValue(
        "(n[NNNNNNNNNNN])", (Py_ssize_t)sizeof(PackedImage),
        Py_BuildValue(FLD(PackedImage, index, "<u8")),
        Py_BuildValue(FLD(PackedImage, rank, "<u8")),
        Py_BuildValue(FLD(PackedImage, has_score, "<i4")),
        Py_BuildValue(FLD(PackedImage, skipped, "<i4")),
        Py_BuildValue("(sns)", "score", (Py_ssize_t)offsetof(PackedImage, score),
                      "(7,)<f8"),
        Py_BuildValue(FLD(PackedImage, issue_pixels, "<u8")),
        Py_BuildValue(FLD(PackedImage, valid_pixels, "<u8")),
        Py_BuildValue(FLD(PackedImage, regions, "<u8")),
        Py_BuildValue(FLD(PackedImage, largest_region, "<u8")),
        Py_BuildValue(FLD(PackedImage, region_mass, "<f8")),
        Py_BuildValue(FLD(PackedImage, flagged, "<i4")));
    PyObject *cls = Py_BuildValue(
        "(n[NNNNN])", (Py_ssize_t)sizeof(PackedClass),
        Py_BuildValue(FLD(PackedClass, labeled_pixels, "<u8")),
        Py_BuildValue(FLD(PackedClass, threshold, "<f8")),
        Py_BuildValue(FLD(PackedClass, issue_pixels_given, "<u8")),
        Py_BuildValue(FLD(PackedClass, issue_pixels_predicted, "<u8")),
        Py_BuildValue(FLD(PackedClass, images_affected, "<u8")));
    PyObject *pair = Py_BuildValue(
        "(n[NNN])", (Py_ssize_t)sizeof(SegauditPair),
        Py_BuildValue(FLD(SegauditPair, given, "<u4")),
        Py_BuildValue(FLD(SegauditPair, predicted, "<u4")),
        Py_BuildValue(FLD(SegauditPair, issue_pixels, "<u8")));
    PyObject *reg = Py_BuildValue(
        "(n[NNNNNNNNNNN])", (Py_ssize_t)sizeof(SegauditRegion),
        Py_BuildValue(FLD(SegauditRegion, image, "<u8")),
        Py_BuildValue(FLD(SegauditRegion, region, "<u4")),
        Py_BuildValue(FLD(SegauditRegion, area, "<u8")),
        Py_BuildValue(FLD(SegauditRegion, x, "<u4")),
        Py_BuildValue(FLD(SegauditRegion, y, "<u4")),
        Py_BuildValue(FLD(SegauditRegion, width, "<u4")),
        Py_BuildValue(FLD(SegauditRegion, height, "<u4")),
        Py_BuildValue(FLD(SegauditRegion, given, "<u4")),
        Py_BuildValue(FLD(SegauditRegion, predicted, "<u4")),
        Py_BuildValue(FLD(SegauditRegion, mean_self_confidence, "<f8")),
        Py_BuildValue(FLD(SegauditRegion, mean_predicted_prob, "<f8")));
#undef FLD
    if (!img || !cls || !pair || !reg) {
        Py_XDECREF(img);
        Py_XDECREF(cls);
        Py_XDECREF(pair);
        Py_XDECREF(reg);
        return NULL;
    }
    return Py_BuildValue("{sNsNsNsN}", "image", img, "class", cls, "pair",
                         pair, "region", reg);
}

static PyObject *mod_score_names(PyObject *m, PyObject *unused)
{
    (void)m;
    (void)unused;
    PyObject *t = PyTuple_New(SEGAUDIT_N_SCORES);
    for (int i = 0; t && i < SEGAUDIT_N_SCORES; i++)
        PyTuple_SET_ITEM(t, i, PyUnicode_FromString(segaudit_score_name(i)));
    return t;
}

static PyObject *mod_version(PyObject *m, PyObject *unused)
{
    (void)m;
    (void)unused;
    return PyUnicode_FromString(segaudit_version());
}

static PyMethodDef audit_methods[] = {
    {"run", (PyCFunction)(void (*)(void))audit_run,
     METH_VARARGS | METH_KEYWORDS,
     "run(**settings): runs the audit (once)"},
    {"info", (PyCFunction)audit_info, METH_NOARGS, "the dataset's totals"},
    {"images", (PyCFunction)audit_images, METH_NOARGS,
     "(packed images, ids, skip reasons, label digests)"},
    {"ranking", (PyCFunction)audit_ranking, METH_NOARGS,
     "packed uint64 image indices by rank"},
    {"classes", (PyCFunction)audit_classes, METH_NOARGS,
     "(packed classes, names)"},
    {"pairs", (PyCFunction)audit_pairs, METH_NOARGS, "packed pairs"},
    {"regions", (PyCFunction)audit_regions, METH_NOARGS, "packed regions"},
    {"evaluation", (PyCFunction)audit_evaluation, METH_NOARGS,
     "None or (truth flags, rows)"},
    {"write_report", (PyCFunction)audit_write_report, METH_VARARGS,
     "write_report(dir, what, overlays_rel): 1 files, 2 html, 3 both"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject AuditType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "segaudit._segaudit.Audit",
    .tp_basicsize = sizeof(AuditObject),
    .tp_dealloc = (destructor)audit_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "One run of the segaudit engine and its results.",
    .tp_methods = audit_methods,
    .tp_new = audit_new,
};

static PyMethodDef module_methods[] = {
    {"layouts", mod_layouts, METH_NOARGS, "layouts of the packed tables"},
    {"score_names", mod_score_names, METH_NOARGS, "the image scores"},
    {"version", mod_version, METH_NOARGS, "the library's version"},
    {"diff", mod_diff, METH_VARARGS, "diff(old_dir, new_dir, out_dir)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef moduledef = {
    PyModuleDef_HEAD_INIT, "_segaudit",
    "The C engine of segaudit (use the segaudit package).", -1,
    module_methods, NULL, NULL, NULL, NULL,
};

/* A new exception class name with the given bases, added to m. */
static PyObject *new_error(PyObject *m, const char *name, PyObject *bases,
                           const char *doc)
{
    char full[96];
    snprintf(full, sizeof full, "segaudit.%s", name);
    PyObject *e = PyErr_NewExceptionWithDoc(full, doc, bases, NULL);
    Py_XDECREF(bases);
    if (!e || PyModule_AddObjectRef(m, name, e) != 0) {
        Py_XDECREF(e);
        return NULL;
    }
    return e;
}

PyMODINIT_FUNC PyInit__segaudit(void); /* the interpreter's entry */
PyMODINIT_FUNC PyInit__segaudit(void)
{
    if (PyType_Ready(&AuditType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&moduledef);
    if (!m)
        return NULL;
    if (PyModule_AddObjectRef(m, "Audit", (PyObject *)&AuditType) != 0)
        goto fail;
    SegauditError = new_error(m, "SegauditError",
                              Py_BuildValue("(O)", PyExc_Exception),
                              "An audit failed.");
    if (!SegauditError)
        goto fail;
    InputError = new_error(m, "InputError",
                           Py_BuildValue("(OO)", SegauditError,
                                         PyExc_ValueError),
                           "The dataset is wrong: a file, shape or value "
                           "(the message names the file, image and "
                           "problem).");
    SettingError = new_error(m, "SettingError",
                             Py_BuildValue("(OO)", SegauditError,
                                           PyExc_ValueError),
                             "An option is invalid.");
    FileError = new_error(m, "FileError",
                          Py_BuildValue("(OO)", SegauditError, PyExc_OSError),
                          "Reading or writing a file failed.");
    if (!InputError || !SettingError || !FileError)
        goto fail;
    return m;
fail:
    Py_DECREF(m);
    return NULL;
}
