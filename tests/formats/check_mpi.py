#!/usr/bin/python3
"""segaudit-mpi: every golden case and random datasets of the oracle's kinds,
audited by 1, 2, 3 and 5 ranks (more ranks than images included; 3 and 5 under
the sanitizer), write the very files one process writes (report.json's "run"
object and the page's copy of it aside), also with spilling, skipping,
downsampling, a second read of the tensor, images of different sizes, a cache
and threads. A rank that fails on a broken label file stops the job with its
rank, image and error (or skips the image with --on-error skip); a killed rank
and SIGTERM end every rank and leave the previous report as it was.

    check_mpi.py SEGAUDIT SEGAUDIT_MPI MPIRUN GOLDEN_DIR
"""
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np

import golden_cases
import reports
from pngio import read_png, write_png
from reports import outputs, run_info
from tally import finish, ok

SEG, SEG_MPI, MPIRUN, GOLDEN = sys.argv[1:5]
RANKS = (1, 2, 3, 5)
ENV = dict(os.environ)
if os.geteuid() == 0:  # the test machines run as root; Open MPI asks for consent
    ENV.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
if "ASAN_OPTIONS" in ENV:
    # scripts/test --sanitize: Open MPI's own allocations kept until exit
    # are not leaks of segaudit's; its plugins stay loaded so that their
    # frames can be named, and every rank's report is shown
    supp = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                        "lsan-mpi.supp")
    ENV["ASAN_OPTIONS"] += ":fast_unwind_on_malloc=0"
    ENV["LSAN_OPTIONS"] = "suppressions=%s:print_suppressions=0:" \
        "fast_unwind_on_malloc=0" % supp
    ENV["OMPI_MCA_mca_base_component_disable_dlclose"] = "1"
    ENV["SEGAUDIT_MPI_OUTPUT"] = "all"
    # every launch costs seconds under the sanitizer: 3 ranks (ranks that
    # exchange) and 5 (more ranks than images); 1 and 2 ranks run in the
    # normal build's test
    RANKS = (3, 5)


def mpi_cmd(ranks, args):
    return [MPIRUN, "--oversubscribe", "--bind-to", "none", "-np", str(ranks),
            SEG_MPI, "audit"] + args


def run(cmd, timeout=300):
    return subprocess.run(cmd, capture_output=True, text=True, env=ENV,
                          timeout=timeout)


def same(name, ref, out):
    return reports.same(name, ref, out, "one process", page=True)


def compare(name, tmp, args, ranks=RANKS):
    """args audited by one process, then by each number of ranks: the same
    files.  Returns the reference's folder (or None)."""
    ref = os.path.join(tmp, name.replace("/", "_") + "_ref")
    p = run([SEG, "audit"] + args + ["--out", ref])
    if p.returncode:
        ok(name + "/ref", False, p.stderr)
        return None
    for r in ranks:
        out = os.path.join(tmp, "%s_np%d" % (name.replace("/", "_"), r))
        p = run(mpi_cmd(r, args + ["--out", out]))
        if p.returncode:
            ok("%s/np%d" % (name, r), False, "exit %d: %s%s" %
               (p.returncode, p.stderr[-2000:], p.stdout[-500:]))
            continue
        if same("%s/np%d" % (name, r), ref, out):
            info = run_info(out)
            ok("%s/np%d/run" % (name, r),
               info.get("ranks", 1) == r and
               (r == 1 or len(info["exchanged_bytes"]) == r),
               json.dumps(info))
    return ref


# ---- the golden cases ------------------------------------------------------

def golden(tmp):
    for case, cdir, exp, args in golden_cases.cases(GOLDEN):
        args = args + ["--masks", "-q"]
        if compare("golden/" + case, tmp, args) is None:
            continue
        # the masks of the ranks' run are the reference implementation's
        out = os.path.join(tmp, "golden_%s_np3" % case)
        for i in exp["image_ids"]:
            want = read_png(os.path.join(cdir, "expected_issues", i + ".png"))
            got = read_png(os.path.join(out, "masks", i + ".png"))
            ok("golden/%s/mask_%s" % (case, i), (want == got).all(), "differs")


# ---- a synth set under every option that changes the ranks' work -----------

def synth(out, *extra):
    subprocess.run([SEG, "synth", "--out", out, "-q"] + list(extra),
                   check=True)
    return ["--labels", os.path.join(out, "labels"), "--probs",
            os.path.join(out, "probs.h5"), "--masks", "-q"]


def variants(tmp):
    data = os.path.join(tmp, "syn")
    base = synth(data, "--images", "11", "--size", "32x48", "--seed", "4",
                 "--model", "weak")
    for name, extra in [("plain", []),
                        ("spill", ["--memory-limit", "64K"]),
                        ("downsample", ["--downsample", "2"]),
                        ("threads1", ["--threads", "1"]),
                        ("all_overlays", ["--top", "all"]),
                        ("downsample_spill", ["--downsample", "4",
                                              "--memory-limit", "64K"])]:
        compare("synth/" + name, tmp, base + extra)

    # a broken label file, skipped
    bad = os.path.join(tmp, "syn_bad")
    shutil.copytree(data, bad)
    with open(os.path.join(bad, "labels", "synth_000005.png"), "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n not a png")
    args = ["--labels", os.path.join(bad, "labels"), "--probs",
            os.path.join(bad, "probs.h5"), "--masks", "-q", "--on-error",
            "skip"]
    compare("synth/skip", tmp, args)
    compare("synth/skip_downsample_spill", tmp,
            args + ["--downsample", "2", "--memory-limit", "64K"])

    # probabilities that do not sum to 1 (here 3): the cut-off lies above
    # 0.5 and the tensor is read a second time
    sdata = os.path.join(tmp, "syn_std")
    synth(sdata, "--images", "11", "--size", "32x48", "--seed", "4")
    scaled = os.path.join(tmp, "syn_scaled.h5")
    with h5py.File(os.path.join(sdata, "probs.h5"), "r") as src, \
            h5py.File(scaled, "w") as dst:
        dst["pred_probs"] = src["pred_probs"][...].astype(np.float32) * 3
        dst["image_ids"] = src["image_ids"][...]
    shutil.copytree(os.path.join(sdata, "labels"),
                    os.path.join(tmp, "syn_std_bad"))
    with open(os.path.join(tmp, "syn_std_bad", "synth_000005.png"), "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n not a png")
    args = ["--labels", os.path.join(sdata, "labels"), "--probs", scaled,
            "--masks", "-q"]
    ref = compare("synth/second_read", tmp, args)
    ok("synth/second_read/covered", ref is not None and
       run_info(ref)["second_read"], "the cut-off did not need a second read")
    compare("synth/second_read_skip", tmp,
            ["--labels", os.path.join(tmp, "syn_std_bad"), "--probs", scaled,
             "--masks", "-q", "--on-error", "skip", "--memory-limit", "64K"])

    # --cache: each rank its own entries; the second run takes every image
    # from the cache and writes the same files
    cache = os.path.join(tmp, "syn_cache")
    ref = os.path.join(tmp, "synth_plain_ref")
    for i, want in enumerate([(11, 0), (0, 11)]):
        out = os.path.join(tmp, "syn_cache_%d" % i)
        p = run(mpi_cmd(3, base + ["--out", out, "--cache", cache]))
        if p.returncode:
            ok("synth/cache%d" % i, False, p.stderr)
            continue
        same("synth/cache%d" % i, ref, out)
        info = run_info(out)
        ok("synth/cache%d/counts" % i,
           (info["images_computed"], info["images_from_cache"]) == want,
           json.dumps(info))
    ok("synth/cache/per_rank", sorted(os.listdir(cache)) ==
       ["rank-%d-of-3" % r for r in range(3)], os.listdir(cache))


# ---- random datasets of the oracle's kinds ----------------------------------

def oracle(tmp):
    rng = np.random.default_rng(12)
    for seed in range(6):
        N = [1, 2, 4, 7, 9, 3][seed]
        K = int(rng.integers(2, 7))
        f = [1, 2][seed % 2]
        H, W = int(rng.integers(2, 7)) * 2 * f, int(rng.integers(2, 7)) * 2 * f
        dtype = [np.float32, np.float16, np.float64][seed % 3]
        d = os.path.join(tmp, "oracle%d" % seed)
        os.makedirs(os.path.join(d, "labels"))
        ids = ["img%02d" % n for n in range(N)]
        probs = rng.dirichlet(np.full(K, 0.4), size=(N, H, W))
        probs = probs.transpose(0, 3, 1, 2).astype(dtype)
        for n, i in enumerate(ids):
            lab = rng.integers(0, K, size=(H, W)).astype(np.uint8)
            lab[rng.random((H, W)) < 0.1] = 255
            write_png(os.path.join(d, "labels", i + ".png"), lab)
        with h5py.File(os.path.join(d, "probs.h5"), "w") as h:
            h["pred_probs"] = probs
            h["image_ids"] = np.array(ids, dtype="S")
        args = ["--labels", os.path.join(d, "labels"), "--probs",
                os.path.join(d, "probs.h5"), "--ignore-index", "255",
                "--downsample", str(f), "--temperature",
                ["0.1", "0.5", "1"][seed % 3], "--masks", "-q",
                "--top", "all"]
        compare("oracle/%d" % seed, tmp, args)

    # one dataset per image, of different sizes: ranges balanced by pixels
    d = os.path.join(tmp, "oracle_sizes")
    os.makedirs(os.path.join(d, "labels"))
    K = 4
    with h5py.File(os.path.join(d, "group.h5"), "w") as h:
        g = h.create_group("preds")
        for n in range(8):
            H, W = [(8, 8), (40, 24), (6, 10), (16, 16), (30, 30), (4, 4),
                    (12, 20), (24, 8)][n]
            p = rng.dirichlet(np.full(K, 0.5), size=(H, W)).transpose(2, 0, 1)
            g["im%d" % n] = p.astype(np.float32)
            write_png(os.path.join(d, "labels", "im%d.png" % n),
                      rng.integers(0, K, size=(H, W)).astype(np.uint8))
    compare("oracle/sizes", tmp,
            ["--labels", os.path.join(d, "labels"), "--probs",
             os.path.join(d, "group.h5") + ":/preds", "--masks", "-q",
             "--top", "all"])


# ---- failures ----------------------------------------------------------------

def snapshot(out):
    return {f: open(os.path.join(r, f), "rb").read()
            for r, _, fs in os.walk(out) for f in fs}


def stray(tag):
    """Processes of this test's runs still alive (by a path in their
    command line)."""
    left = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmd = open("/proc/%s/cmdline" % pid, "rb").read()
        except OSError:
            continue
        if tag.encode() in cmd and b"segaudit-mpi" in cmd:
            left.append(pid)
    return left


def rank_pid(tag, rank):
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmd = open("/proc/%s/cmdline" % pid, "rb").read()
            env = open("/proc/%s/environ" % pid, "rb").read().split(b"\0")
        except OSError:
            continue
        if (tag.encode() in cmd and cmd.startswith(SEG_MPI.encode()) and
                ("OMPI_COMM_WORLD_RANK=%d" % rank).encode() in env):
            return int(pid)
    return None


def faults(tmp):
    data = os.path.join(tmp, "fault")
    base = synth(data, "--images", "9", "--size", "32x48", "--seed", "9")
    out = os.path.join(tmp, "fault_out")
    p = run([SEG, "audit"] + base + ["--out", out])
    ok("fault/first", p.returncode == 0, p.stderr)
    before = snapshot(out)
    # image 4 of 9 belongs to rank 1 of 3
    lab = os.path.join(data, "labels", "synth_000004.png")
    good = open(lab, "rb").read()
    open(lab, "wb").write(good[:60])
    one = run([SEG, "audit"] + base + ["--out", os.path.join(tmp, "f1")])
    p = run(mpi_cmd(3, base + ["--out", out]))
    ok("fault/fail", p.returncode == one.returncode == 1 and
       "rank 1 of 3: " in p.stderr and "synth_000004.png" in p.stderr and
       one.stderr.strip().split("segaudit: ", 1)[-1] in p.stderr,
       (p.returncode, p.stderr, one.stderr))
    ok("fault/fail/report_kept", snapshot(out) == before, "changed")
    ok("fault/fail/no_staging",
       not [f for f in os.listdir(out) if f.startswith(".segaudit-stage")],
       os.listdir(out))
    compare("fault/skip", tmp, base + ["--on-error", "skip"])
    open(lab, "wb").write(good)

    # ranks that do not see the same inputs (here: another temperature on
    # rank 1) stop before reading, whatever the exchanges would have been
    other = os.path.join(tmp, "f_other")
    p = run([MPIRUN, "--oversubscribe", "-np", "1", SEG_MPI, "audit"] + base +
            ["--out", other, ":", "-np", "1", SEG_MPI, "audit"] + base +
            ["--out", other, "--temperature", "0.5"])
    ok("fault/other_inputs", p.returncode == 1 and
       "rank 1 of 2 does not see the inputs rank 0 sees" in p.stderr and
       not os.path.exists(os.path.join(other, "report.json")),
       (p.returncode, p.stderr))

    # a rank killed; SIGTERM to every rank (as Slurm's scancel and time
    # limit send it); SIGTERM to mpirun (which passes it on after about a
    # second, so the job may finish first): every rank ends, the job fails
    # and the previous report stays.  The job must be caught before it
    # ends: the signal comes as soon as every rank has started, then later
    # if the job was quicker (its report, which must be whole, is then
    # put back).
    big = os.path.join(tmp, "big")
    bargs = synth(big, "--images", "300", "--size", "128x256", "--dtype",
                  "f16", "--seed", "5")
    bout = os.path.join(tmp, "big_out")
    args = bargs + ["--out", bout, "--threads", "1", "--memory-limit", "64K",
                    "--top", "all"]
    p = run([SEG, "audit"] + args)
    ok("kill/first", p.returncode == 0, p.stderr)
    keep = os.path.join(tmp, "big_keep")
    shutil.copytree(bout, keep)
    before = snapshot(bout)
    for what in ("kill", "term_ranks", "term_mpirun"):
        caught = False
        for delay in (0.0, 0.05, 0.1, 0.2, 0.3):
            proc = subprocess.Popen(mpi_cmd(3, args), env=ENV,
                                    stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True)
            pids = []
            for _ in range(2000):
                pids = [rank_pid(bout, r) for r in range(3)]
                if all(pids) or proc.poll() is not None:
                    break
                time.sleep(0.005)
            time.sleep(delay)
            for pid in {"kill": pids[1:2], "term_ranks": pids}.get(what, []):
                try:
                    os.kill(pid, signal.SIGKILL if what == "kill"
                            else signal.SIGTERM)
                except (ProcessLookupError, TypeError):
                    pass
            if what == "term_mpirun":
                proc.send_signal(signal.SIGTERM)
            try:
                _, err = proc.communicate(timeout=120)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()
                ok(what, False, "the job did not end (hung)")
                break
            now = snapshot(bout)
            if proc.returncode != 0 and now == before:
                caught = True
                if what == "term_ranks":
                    # (a rank still starting dies of the signal; and when
                    # a rank above 0 exits first, mpirun ends the job,
                    # rank 0 included, before rank 0 can say so; mpirun
                    # folds its message over lines)
                    said = " ".join(err.split())
                    ok(what + "/message", "interrupted; no report was "
                       "written" in said or "signal 15" in said or
                       "returned a non-zero exit code" in said, err)
                break
            ok("%s/%g/whole" % (what, delay),
               outputs(bout, True) == outputs(keep, True) or now == before,
               "a mixed report after exit %d" % proc.returncode)
            shutil.rmtree(bout)
            shutil.copytree(keep, bout)
            if what == "term_mpirun":
                break  # passed on late: whole or kept is all one can ask
        if what != "term_mpirun":
            ok(what + "/caught", caught, "the job always finished first")
        for _ in range(50):
            if not stray(bout):
                break
            time.sleep(0.1)
        ok(what + "/no_rank_left", not stray(bout), stray(bout))
    # and the next run of the same command succeeds, with no staging
    # folder left
    p = run(mpi_cmd(3, args))
    ok("kill/next_run", p.returncode == 0 and
       not [f for f in os.listdir(bout) if f.startswith(".segaudit-stage")],
       p.stderr)


def usage(tmp):
    """A usage error ends every rank with the program's status; other
    commands run on rank 0 alone."""
    p = run(mpi_cmd(2, ["--no-such-option"]))
    ok("usage/status", p.returncode == 2 and "no-such-option" in p.stderr,
       (p.returncode, p.stderr))
    out = os.path.join(tmp, "synth_np3")
    p = run([MPIRUN, "--oversubscribe", "-np", "3", SEG_MPI, "synth", "--out",
             out, "--images", "2", "--size", "16x16", "-q"])
    ok("synth_on_rank0", p.returncode == 0 and
       len(os.listdir(os.path.join(out, "labels"))) == 2, p.stderr)


def main():
    tmp = tempfile.mkdtemp(prefix="segaudit_mpi_")
    try:
        golden(tmp)
        variants(tmp)
        oracle(tmp)
        usage(tmp)
        faults(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    finish()


main()
