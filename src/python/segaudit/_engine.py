"""What the public functions share: arrays as the engine takes them, the
input checks of the reference API, and one run of the engine."""
import mmap
import os
import threading

import numpy as np

from . import _segaudit

#: element types of predictions the engine reads in place
PROB_TYPES = ("float16", "float32", "float64", "uint8", "uint16")

#: segaudit's own keyword arguments of the reference-style functions (the
#: reference's are downsample and temperature)
ENGINE_KWARGS = ("ignore_index", "downsample_labels", "logits", "layout",
                 "probs_scale", "memory_limit", "scratch")

LAYOUTS = {"auto": 0, "nchw": 1, "nhwc": 2}
DS_LABELS = {"mean": 0, "mode": 1}


def as_array(x, name):
    """x as a NumPy array, in place when it already is one (or exposes
    the array interface without a copy, as a memory map does)."""
    if isinstance(x, np.ndarray):
        return x
    try:
        return np.asarray(x)
    except Exception as e:  # pragma: no cover - odd array-likes
        raise TypeError(f"{name} must be an array, not {type(x).__name__}") from e


def npy_file_of(a):
    """The .npy file that the memory map a maps whole (as np.load with
    mmap_mode gives it), or None.  Such an array is read from its file
    with plain reads, which costs no page faults and keeps no pages
    mapped; any other array (a view of a map included) is read in
    place."""
    import mmap

    # a copy-on-write map ("c") may differ from its file
    if (not isinstance(a, np.memmap) or not isinstance(a.base, mmap.mmap)
            or not a.filename or not a.flags.c_contiguous
            or a.mode not in ("r", "r+", "w+")):
        return None
    try:
        with open(a.filename, "rb") as f:
            version = np.lib.format.read_magic(f)
            read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                    else np.lib.format.read_array_header_2_0)
            shape, fortran, dtype = read(f)
            offset = f.tell()
    except Exception:
        return None
    if (fortran or tuple(shape) != a.shape or dtype != a.dtype
            or offset != a.offset or not dtype.isnative):
        return None
    return a.filename


def labels_source(labels):
    """Engine settings of the labels: their .npy file (npy_file_of), or
    the array."""
    path = npy_file_of(labels)
    if path and labels.dtype.kind in "iub":
        return {"labels_dir": fspath(path)}
    return {"labels_array": labels_for_engine(labels)}


def probs_source(pred_probs):
    """Engine settings of the predictions: their .npy file, or the
    array."""
    probs_for_engine(pred_probs)
    path = npy_file_of(pred_probs)
    if path:
        return {"probs_path": fspath(path)}
    return {"probs_array": pred_probs}


def labels_for_engine(labels):
    """Integer or bool labels as they are; float labels holding whole
    numbers (the reference casts them with astype(int)) as int64."""
    k = labels.dtype.kind
    if k in "iub":
        return labels
    if k == "f":
        as_int = labels.astype(np.int64)
        if not np.array_equal(as_int, labels):
            raise ValueError("labels must be integers; these float labels "
                             "have fractional values")
        return as_int
    raise TypeError(f"labels must be integers, not {labels.dtype}")


def probs_for_engine(pred_probs):
    if pred_probs.dtype.name not in PROB_TYPES:
        raise TypeError(f"pred_probs must be float16, float32, float64 or "
                        f"quantised uint8/uint16, not {pred_probs.dtype}")
    return pred_probs


def check_input(labels, pred_probs, nhwc=False):
    """The reference's checks, with its messages."""
    if len(labels.shape) != 3:
        raise ValueError("labels must have a shape of (N, H, W)")
    if len(pred_probs.shape) != 4:
        raise ValueError("pred_probs must have a shape of (N, K, H, W)")
    num_images, height, width = labels.shape
    if nhwc:
        num_images_pred, height_pred, width_pred, _ = pred_probs.shape
    else:
        num_images_pred, _, height_pred, width_pred = pred_probs.shape
    if (num_images != num_images_pred or height != height_pred
            or width != width_pred):
        raise ValueError("labels and pred_probs must have matching "
                         "dimensions for N, H, and W")


def valid_optional_params(batch_size, n_jobs):
    """The reference's batch_size rule; n_jobs as engine threads (None or
    less than 1: every core)."""
    if batch_size is None:
        batch_size = 10000
    if batch_size <= 0:
        raise ValueError(f"Batch size must be greater than 0, got {batch_size}")
    threads = 0 if n_jobs is None or n_jobs < 1 else int(n_jobs)
    return batch_size, threads


def engine_settings(fname, kwargs):
    """segaudit's own keyword arguments as engine settings; anything else
    is refused (a misspelt option must not pass silently)."""
    s = {}
    for k, v in kwargs.items():
        if k not in ENGINE_KWARGS:
            raise TypeError(f"{fname}() got an unexpected keyword argument "
                            f"'{k}'")
        if k == "ignore_index":
            s["ignore_index"] = ([] if v is None else
                                 [int(x) for x in np.atleast_1d(v)])
        elif k == "downsample_labels":
            s["downsample_labels"] = choice("downsample_labels", v, DS_LABELS)
        elif k == "logits":
            s["logits"] = int(bool(v))
        elif k == "layout":
            s["layout"] = choice("layout", v, LAYOUTS)
        elif k == "probs_scale":
            s["probs_scale"] = float(v)
        elif k == "memory_limit":
            s["memory_limit"] = size_of(v, "memory_limit")
        elif k == "scratch":
            s["scratch_dir"] = fspath(v)
    return s


def downsample_of(value):
    """The downsample factor: a whole number of at least 1."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"downsample must be an integer, not {value!r}")
    if value < 1:
        raise ValueError(f"downsample must be at least 1, got {value}")
    return int(value)


def choice(name, value, table):
    try:
        return table[value]
    except (KeyError, TypeError):
        raise ValueError(f"{name} must be one of {', '.join(map(str, table))}"
                         f", not {value!r}") from None


def size_of(v, name):
    """A byte count: an int, or a string with a K, M or G suffix."""
    if isinstance(v, (int, np.integer)):
        return int(v)
    s = str(v).strip().upper()
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(s[-1:], 1)
    try:
        return int(float(s[:-1] if mult > 1 else s) * mult)
    except ValueError:
        raise ValueError(f"{name} must be a size such as 512M or 2G, not "
                         f"{v!r}") from None


def fspath(p):
    return os.fsencode(os.fspath(p))


def run(settings, verbose=False):
    """Runs the engine with settings (names of SegauditSettings' fields);
    returns the _segaudit.Audit holding the results.  The GIL is released
    meanwhile; Ctrl-C on the main thread stops it (KeyboardInterrupt)."""
    a = _segaudit.Audit()
    settings = dict(settings)
    settings["verbose"] = bool(verbose)
    settings["catch_sigint"] = (threading.current_thread()
                                is threading.main_thread())
    a.run(**settings)
    return a


def table(name, packed):
    """Packed bytes of a table as a NumPy structured array."""
    itemsize, fields = _segaudit.layouts()[name]
    dt = np.dtype({"names": [f[0] for f in fields],
                   "formats": [f[2] for f in fields],
                   "offsets": [f[1] for f in fields],
                   "itemsize": itemsize})
    return np.frombuffer(packed, dtype=dt)
