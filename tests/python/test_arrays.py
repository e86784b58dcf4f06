"""Arrays as people have them: views with strides, channels-last,
memory maps (one far larger than the memory it may use), the results
whatever the threads, and Ctrl-C."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import segaudit

HERE = os.path.dirname(os.path.abspath(__file__))


def both(labels, probs, **kw):
    m = segaudit.find_label_issues(labels, probs, verbose=False, **kw)
    s = segaudit.get_label_quality_scores(labels, probs, verbose=False, **kw)
    return m, s[0], s[1]


@pytest.mark.parametrize("name", ["scenes_k19", "dirichlet_k3", "scenes_f16"])
def test_views_with_strides(cases, name):
    c = cases[name]
    m0, s0, p0 = both(c.labels, c.probs)
    # channels-last storage seen through a transposed (strided) view
    nhwc = np.ascontiguousarray(np.moveaxis(c.probs, 1, 3))
    view = np.moveaxis(nhwc, 3, 1)
    assert not view.flags.c_contiguous
    r = both(c.labels, view)
    assert np.array_equal(r[0], m0) and np.array_equal(r[1], s0)
    # the channels-last array itself
    r = both(c.labels, nhwc, layout="nhwc")
    assert np.array_equal(r[0], m0) and np.array_equal(r[2], p0)
    # every other image of a larger array, labels as int64
    big = np.full((2 * len(c.ids),) + c.probs.shape[1:], np.nan,
                  c.probs.dtype)
    big[::2] = c.probs
    lab = np.zeros((2 * len(c.ids),) + c.labels.shape[1:], np.int64)
    lab[::2] = c.labels
    r = both(lab[::2], big[::2])
    assert np.array_equal(r[0], m0) and np.array_equal(r[1], s0)
    # columns reversed (negative strides): the same issues, reversed
    r = both(c.labels[:, :, ::-1], c.probs[:, :, :, ::-1])
    assert np.array_equal(r[0], m0[:, :, ::-1])
    assert np.array_equal(r[2], p0[:, :, ::-1])


def test_uint8_and_bool_labels(cases):
    c = cases["three_image"]  # two classes: labels fit bool
    m0 = segaudit.find_label_issues(c.labels, c.probs, verbose=False)
    m1 = segaudit.find_label_issues(c.labels.astype(bool), c.probs,
                                    verbose=False)
    m2 = segaudit.find_label_issues(c.labels.astype(np.uint8), c.probs,
                                    verbose=False)
    m3 = segaudit.find_label_issues(c.labels.astype(float), c.probs,
                                    verbose=False)
    assert np.array_equal(m0, m1) and np.array_equal(m0, m2)
    assert np.array_equal(m0, m3)
    q = np.round(c.probs * 255).astype(np.uint8)
    r8 = segaudit.find_label_issues(c.labels, q, verbose=False)
    r64 = segaudit.find_label_issues(c.labels, q / 255.0, verbose=False)
    assert np.array_equal(r8, r64)


def test_memmap(cases, tmp_path):
    c = cases["scenes_k19"]
    m0, s0, p0 = both(c.labels, c.probs)
    np.save(tmp_path / "p.npy", c.probs)
    np.save(tmp_path / "l.npy", c.labels)
    p = np.load(tmp_path / "p.npy", mmap_mode="r")
    lab = np.load(tmp_path / "l.npy", mmap_mode="r")
    assert isinstance(p, np.memmap)
    r = both(lab, p)
    assert np.array_equal(r[0], m0) and np.array_equal(r[1], s0)
    assert np.array_equal(r[2], p0)
    # a whole-file map is read from its file, a view of it in place
    assert segaudit.audit(lab, p).info["layout"].startswith("npy")
    assert segaudit.audit(lab[:], p[:]).info["layout"].startswith("array")
    r = both(lab[:], p[:])
    assert np.array_equal(r[0], m0) and np.array_equal(r[2], p0)
    # a copy-on-write map changed in memory is read in place, not from
    # its (unchanged) file
    cow = np.load(tmp_path / "l.npy", mmap_mode="c")
    cow[:, :, : cow.shape[2] // 2] = (cow[:, :, : cow.shape[2] // 2] + 1) % 19
    assert np.array_equal(segaudit.find_label_issues(cow, p, verbose=False),
                          segaudit.find_label_issues(np.array(cow), c.probs,
                                                     verbose=False))
    # and the same files given by name to audit()
    res = segaudit.audit(str(tmp_path / "l.npy"), str(tmp_path / "p.npy"))
    assert np.array_equal(res.images["softmin"], s0)


def test_threads_do_not_change_results(cases):
    c = cases["scenes_f16"]
    runs = [both(c.labels, c.probs, n_jobs=n) for n in (1, 2, 3)]
    for r in runs[1:]:
        for a, b in zip(runs[0], r):
            assert np.array_equal(a, b, equal_nan=True)
            assert a.tobytes() == b.tobytes()


def test_runs_in_threads_at_once(cases):
    """Audits in several Python threads at once give each its own result
    (a Ctrl-C handler belongs to the main thread's run alone)."""
    from concurrent.futures import ThreadPoolExecutor

    names = ["scenes_k19", "scenes_f16", "dirichlet_k3", "odd_size_k2"]
    alone = {n: both(cases[n].labels, cases[n].probs) for n in names}
    with ThreadPoolExecutor(4) as ex:
        got = dict(zip(names, ex.map(
            lambda n: both(cases[n].labels, cases[n].probs), names * 1)))
    for n in names:
        for a, b in zip(alone[n], got[n]):
            assert a.tobytes() == b.tobytes(), n


def run_child(code, timeout=600):
    env = dict(os.environ)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)],
                          capture_output=True, text=True, timeout=timeout,
                          env=env, cwd=HERE)


MAKE_BIG = """
    import sys
    import numpy as np
    d = {d!r}
    N, K, H, W = {shape}
    # a tensor of 4 GiB written image by image with plain writes (never
    # whole in memory, never mapped)
    rows = np.arange(H)[:, None] // 64
    cols = np.arange(W)[None, :] // 64
    base = ((rows + cols) % K).astype(np.uint8)
    one = np.full((K, H, W), 0.1 / (K - 1), np.float32)
    np.put_along_axis(one, base[None].astype(np.int64), 0.9, axis=0)
    for name, dt, shape in (("p", np.float32, (N, K, H, W)),
                            ("l", np.uint8, (N, H, W))):
        with open(d + "/" + name + ".npy", "wb") as f:
            np.lib.format.write_array_header_1_0(
                f, {{"descr": np.dtype(dt).str, "fortran_order": False,
                    "shape": shape}})
            for n in range(N):
                if name == "p":
                    f.write(one.tobytes())
                else:
                    l = base.copy()
                    l[n * 8:n * 8 + 40, 100:140] = (
                        l[n * 8:n * 8 + 40, 100:140] + 1) % K
                    f.write(l.tobytes())
"""

AUDIT_BIG = """
    import numpy as np
    import segaudit
    def peak_mb():  # VmHWM: this process's own peak (ru_maxrss keeps the
                    # parent's from before exec)
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) // 1024
    d = {d!r}
    p = np.load(d + "/p.npy", mmap_mode="r")
    lab = np.load(d + "/l.npy", mmap_mode="r")
    if {view}:
        p, lab = p[:, :], lab[:, :]  # views: read in place, not from the file
    before = peak_mb()
    issues = segaudit.find_label_issues(lab, p, verbose=False, n_jobs=2)
    peak = peak_mb()
    print(p.nbytes, before, peak, int(issues.sum()))
"""


def test_big_memmap_in_bounded_memory(tmp_path):
    """A 4 GiB memory-mapped tensor is audited with a peak RSS under 600
    MB: read from its file when the map is a whole .npy file, and in place
    through a view, with its pages handed back to the kernel as they are
    read."""
    shape = (32, 4, 2048, 4096)
    r = run_child(MAKE_BIG.format(d=str(tmp_path), shape=shape))
    assert r.returncode == 0, r.stderr
    for view in (False, True):
        r = run_child(AUDIT_BIG.format(d=str(tmp_path), view=view))
        assert r.returncode == 0, r.stderr
        nbytes, before, peak, issues = map(int, r.stdout.split())
        assert nbytes >= 4 * 2**30
        assert peak < 600, (f"peak RSS {peak} MB (before the audit: {before} "
                            f"MB; view: {view})")
        assert issues == 32 * 40 * 40  # every relabeled pixel, nothing else


INTERRUPT = """
    import os, resource, signal, threading, time
    import numpy as np
    import segaudit
    rng = np.random.default_rng(1)
    N, K, H, W = 16, 19, 512, 1024
    p = np.empty((N, K, H, W), np.float16)  # a weak model: slow to audit
    for n in range(N):
        x = rng.random((K, H, W), dtype=np.float32)
        p[n] = x / x.sum(axis=0)
    lab = rng.integers(0, K, size=(N, H, W), dtype=np.uint8)
    full = segaudit.find_label_issues(lab, p, verbose=False)
    t0 = time.monotonic()
    segaudit.find_label_issues(lab, p, verbose=False)
    one = time.monotonic() - t0
    rss = []
    for i in range(4):
        threading.Timer(one / 4, os.kill, (os.getpid(), signal.SIGINT)).start()
        t0 = time.monotonic()
        try:
            segaudit.find_label_issues(lab, p, verbose=False)
            print("not interrupted")
        except KeyboardInterrupt:
            print("interrupted after %.2f of %.2f s" % (time.monotonic() - t0, one))
        rss.append(int([ln for ln in open("/proc/self/status")
                        if ln.startswith("VmRSS:")][0].split()[1]))
    again = segaudit.find_label_issues(lab, p, verbose=False)
    print("same" if np.array_equal(again, full) else "differs")
    print("rss", rss[0], rss[-1])
"""


def test_ctrl_c():
    """Ctrl-C stops a run at once with KeyboardInterrupt; the module stays
    usable, results do not change, and memory does not grow."""
    r = run_child(INTERRUPT)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    interrupted = [ln for ln in lines if ln.startswith("interrupted")]
    assert len(interrupted) == 4, r.stdout
    for ln in interrupted:
        took, one = float(ln.split()[2]), float(ln.split()[4])
        assert took < one, ln  # stopped before the run would have ended
    assert one > 0.2, "the run is too short to be interrupted half-way"
    assert "same" in lines
    r0, r1 = map(int, lines[-1].split()[1:])
    assert r1 - r0 < 20 * 1024, f"RSS grew from {r0} to {r1} KB"


def test_ctrl_c_kills_a_script_as_usual(tmp_path):
    """Without a handler of its own, a script interrupted in an audit ends
    with KeyboardInterrupt's traceback, like any other Python code."""
    code = textwrap.dedent(INTERRUPT).split("full =")[0] + textwrap.dedent("""
        threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT)).start()
        while True:
            segaudit.find_label_issues(lab, p, verbose=False)
    """)
    r = run_child(code, timeout=120)
    assert r.returncode != 0
    assert "KeyboardInterrupt" in r.stderr


def test_the_gil_is_released():
    """Another Python thread runs while the engine works."""
    import threading
    import time

    rng = np.random.default_rng(2)  # a weak model: slow enough to watch
    big = rng.random((8, 19, 256, 512), dtype=np.float32)
    big /= big.sum(axis=1, keepdims=True)
    lab = rng.integers(0, 19, size=(8, 256, 512), dtype=np.uint8)
    ticks = []
    done = threading.Event()

    def count():
        while not done.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.001)

    t0 = time.perf_counter()
    segaudit.find_label_issues(lab, big, verbose=False, n_jobs=1)
    alone = time.perf_counter() - t0
    th = threading.Thread(target=count)
    th.start()
    t0 = time.perf_counter()
    segaudit.find_label_issues(lab, big, verbose=False, n_jobs=1)
    t1 = time.perf_counter()
    done.set()
    th.join()
    during = [t for t in ticks if t0 < t < t1]
    # with the GIL held, the counter could tick only in the moments around
    # the call (a switch interval is 5 ms); it ticks all along instead
    assert alone > 0.05, f"the call took only {alone:.3f} s"
    assert len(during) >= 10, f"{len(during)} ticks in {t1 - t0:.3f} s"
