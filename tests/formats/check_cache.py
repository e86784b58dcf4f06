#!/usr/bin/python3
"""--cache: every golden case and a synth set audit to the same outputs with
a cache (empty, then full, then after relabeling) as without one; runs
killed with SIGKILL at random moments resume from what they committed;
damaged, truncated, foreign, other-version and other-settings caches are
recomputed with a note; a cache in use, a read-only cache folder and a full
disk are handled as the README says.

    check_cache.py SEGAUDIT GOLDEN_DIR
"""
import fcntl
import os
import re
import random
import shutil
import signal
import sqlite3
import struct
import zlib
import subprocess
import sys
import tempfile
import time

import golden_cases
import reports
from pngio import read_png, write_png
from reports import run_info
from tally import failures, finish, ok

SEG, GOLDEN = sys.argv[1], sys.argv[2]


def audit(args, out, cache=None, extra=()):
    cmd = [SEG, "audit"] + args + ["--out", out, "--masks"] + list(extra)
    if cache:
        cmd += ["--cache", cache]
    return subprocess.run(cmd, capture_output=True, text=True)


def same(name, ref, out):
    return reports.same(name, ref, out, "the run without a cache")


def matches(p, name, ref, out):
    """Run p exited 0 (a check of its own) and wrote in out the files of
    the run without a cache in ref."""
    ok(name + "/exit", p.returncode == 0, p.stderr)
    return p.returncode == 0 and same(name, ref, out)


def counts(name, out, computed, cached):
    r = run_info(out)
    ok(name + "/counts", (r["images_computed"], r["images_from_cache"]) ==
       (computed, cached), "computed %d, from cache %d; expected %d, %d" %
       (r["images_computed"], r["images_from_cache"], computed, cached))


def committed(cache):
    """Entries in the cache's database (what a killed run committed)."""
    db = sqlite3.connect(os.path.join(cache, "cache.sqlite"))
    try:
        return db.execute("SELECT count(*) FROM entries WHERE kind = 1").fetchone()[0]
    except sqlite3.Error:
        return 0
    finally:
        db.close()


def golden(tmp):
    """Every golden case: cold cache, warm cache, each byte-identical."""
    for case, cdir, exp, args in golden_cases.cases(GOLDEN):
        args = args + ["-q"]
        n = len(exp["image_ids"])
        ref, cache = os.path.join(tmp, case + "_ref"), os.path.join(tmp, case + "_cache")
        p = audit(args, ref)
        if p.returncode:
            failures.append("%s: %s" % (case, p.stderr))
            continue
        for i, (computed, cached) in enumerate([(n, 0), (0, n)]):
            out = os.path.join(tmp, "%s_%d" % (case, i))
            p = audit(args, out, cache)
            if matches(p, "%s/run%d" % (case, i), ref, out):
                counts("%s/run%d" % (case, i), out, computed, cached)
        # the issue masks still match the reference implementation's
        out = os.path.join(tmp, "%s_1" % case)
        for i in exp["image_ids"]:
            want = read_png(os.path.join(cdir, "expected_issues", i + ".png"))
            got = read_png(os.path.join(out, "masks", i + ".png"))
            ok("%s/mask_%s" % (case, i), (want == got).all(), "differs")


def relabel(tmp, data, args):
    """Two images relabeled: only they are computed; same outputs as a full
    audit; then other settings keep their own entries."""
    cache = os.path.join(tmp, "relabel_cache")
    p = audit(args, os.path.join(tmp, "rl0"), cache)
    ok("relabel/first", p.returncode == 0, p.stderr)
    for i in (3, 7):
        path = os.path.join(data, "labels", "synth_%06d.png" % i)
        lab = read_png(path)
        lab[4:20, 8:40] = (lab[4:20, 8:40] + 1) % 19
        write_png(path, lab)
    ref, out = os.path.join(tmp, "rl_ref"), os.path.join(tmp, "rl1")
    audit(args, ref)
    p = audit(args, out, cache)
    if matches(p, "relabel", ref, out):
        counts("relabel", out, 2, N - 2)
        r = run_info(out)
        ok("relabel/cache_json", r["cache"]["dir"] == cache and
           r["cache"]["bytes"] > 0 and r["cache"]["notes"] == [], r)
        # only the relabeled images' rows are read: for pass 1, and for
        # their overlays when they are among the 4 drawn (the others'
        # overlays, or their argmax maps, come from the cache)
        image_bytes = 19 * 96 * 160 * 4
        ok("relabel/bytes_read", 0 < r["bytes_read"] <= 4 * image_bytes,
           r["bytes_read"])
    # other settings: computed, not mixed with the first settings' entries
    t2 = ["--temperature", "0.2"]
    ref2, out2 = os.path.join(tmp, "rl_ref2"), os.path.join(tmp, "rl2")
    audit(args + t2, ref2)
    p = audit(args + t2, out2, cache)
    if matches(p, "other_settings", ref2, out2):
        counts("other_settings", out2, N, 0)
    p = audit(args, os.path.join(tmp, "rl3"), cache)
    if matches(p, "first_settings_kept", ref, os.path.join(tmp, "rl3")):
        counts("first_settings_kept", os.path.join(tmp, "rl3"), 0, N)
    # --cache-verify names the rows by their digest: computed once, then
    # found; a changed tensor file (same rows) is still found
    out = os.path.join(tmp, "rl_verify")
    p = audit(args + ["--cache-verify"], out, cache)
    if matches(p, "verify_first", ref, out):
        counts("verify_first", out, N, 0)
    os.utime(os.path.join(data, "probs.h5"))
    p = audit(args + ["--cache-verify"], out, cache)
    if matches(p, "verify_touched", ref, out):
        counts("verify_touched", out, 0, N)
    # without --cache-verify a touched file is another tensor
    p = audit(args, out, cache)
    if matches(p, "touched", ref, out):
        counts("touched", out, N, 0)
    return ref


def verify_skip(tmp):
    """--cache-verify reads each image's rows to name them: a row that
    cannot be read is reported by the bands, as without the cache (here:
    the image is skipped)."""
    data = os.path.join(tmp, "vs_data")
    subprocess.run([SEG, "synth", "--out", data, "--images", "8", "--size",
                    "64x128", "--seed", "4", "--compress", "gzip",
                    "--chunk-rows", "16", "-q"], check=True)
    probs = os.path.join(data, "probs.h5")
    size = os.path.getsize(probs)
    with open(probs, "r+b") as f:
        f.seek(size // 2)
        b = f.read(200)
        f.seek(size // 2)
        f.write(bytes(x ^ 0xFF for x in b))
    args = ["--labels", os.path.join(data, "labels"), "--probs", probs,
            "--on-error", "skip", "-q"]
    ref = os.path.join(tmp, "vs_ref")
    p = audit(args, ref)
    skipped = os.path.exists(os.path.join(ref, "skipped.csv"))
    ok("verify_skip/reference", p.returncode == 0 and skipped, p.stderr)
    n_skipped = len(open(os.path.join(ref, "skipped.csv")).readlines()) - 1 \
        if skipped else 0
    cache = os.path.join(tmp, "vs_cache")
    for i in range(2):
        out = os.path.join(tmp, "vs%d" % i)
        p = audit(args + ["--cache-verify"], out, cache)
        if matches(p, "verify_skip%d" % i, ref, out):
            scored = 8 - n_skipped
            counts("verify_skip%d" % i, out, scored if i == 0 else 0,
                   0 if i == 0 else scored)


def added_images(tmp):
    """Images added to the dataset: with --cache-verify only they are
    computed (the others' rows are the same)."""
    sets = {}
    for n in (6, 8):
        d = os.path.join(tmp, "add%d" % n)
        subprocess.run([SEG, "synth", "--out", d, "--images", str(n),
                        "--size", "48x64", "--seed", "2", "--error-rate", "0",
                        "-q"], check=True)
        sets[n] = ["--labels", os.path.join(d, "labels"), "--probs",
                   os.path.join(d, "probs.h5"), "--cache-verify", "-q"]
    cache = os.path.join(tmp, "add_cache")
    p = audit(sets[6], os.path.join(tmp, "add6_out"), cache)
    ok("added/first", p.returncode == 0, p.stderr)
    ref = os.path.join(tmp, "add8_ref")
    audit(sets[8][:-2] + ["-q"], ref)
    out = os.path.join(tmp, "add8_out")
    p = audit(sets[8], out, cache)
    if matches(p, "added", ref, out):
        counts("added", out, 2, 6)


def details(tmp):
    """Blocks (--downsample 2) carry per-pixel details: crafted ones are not
    trusted either."""
    data = os.path.join(tmp, "ds_data")
    subprocess.run([SEG, "synth", "--out", data, "--images", "6", "--size",
                    "64x96", "--seed", "8", "-q"], check=True)
    args = ["--labels", os.path.join(data, "labels"), "--probs",
            os.path.join(data, "probs.h5"), "--downsample", "2", "-q"]
    ref = os.path.join(tmp, "ds_ref")
    audit(args, ref)
    cache = os.path.join(tmp, "ds_cache")
    db = os.path.join(cache, "cache.sqlite")
    out = os.path.join(tmp, "ds_out")
    p = audit(args, out, cache)
    if matches(p, "details_first", ref, out):
        counts("details_first", out, 6, 0)
    for how in ("detail_pos", "detail_label", "detail_order"):
        craft(db, how)
        p = audit(args, out, cache)
        if matches(p, "crafted_" + how, ref, out):
            counts("crafted_" + how, out, 1, 5)


def fifo_label(tmp):
    """A label "file" that is a FIFO is refused with --cache as without it
    (naming the label file's bytes must not wait on it)."""
    data = os.path.join(tmp, "fifo_data")
    subprocess.run([SEG, "synth", "--out", data, "--images", "3", "--size",
                    "32x48", "--seed", "6", "-q"], check=True)
    lab = os.path.join(data, "labels", "synth_000001.png")
    os.remove(lab)
    os.mkfifo(lab)
    args = ["--labels", os.path.join(data, "labels"), "--probs",
            os.path.join(data, "probs.h5"), "-q"]
    base = [SEG, "audit"] + args
    want = subprocess.run(base + ["--out", os.path.join(tmp, "fifo0")],
                          capture_output=True, text=True, timeout=60)
    try:
        got = subprocess.run(base + ["--out", os.path.join(tmp, "fifo1"),
                                     "--cache", os.path.join(tmp, "fifo_c")],
                             capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        ok("fifo_label", False, "the cached run waited on the FIFO")
        return
    ok("fifo_label", want.returncode == 1 and got.returncode == 1 and
       "not a regular file" in got.stderr and got.stderr == want.stderr,
       (want.stderr, got.stderr))


def kills(tmp):
    """SIGKILL at random moments (pass 1, commits, pass 2, overlays,
    writing); the same command then finishes with the same outputs,
    computing only what was not committed."""
    rng = random.Random(11)
    data = os.path.join(tmp, "kill_data")
    subprocess.run([SEG, "synth", "--out", data, "--images", str(KN),
                    "--size", "192x320", "--seed", "9", "--dtype", "f16",
                    "-q"], check=True)
    args = ["--labels", os.path.join(data, "labels"), "--probs",
            os.path.join(data, "probs.h5"), "--top", "8", "--threads", "1",
            "-q"]
    ref = os.path.join(tmp, "k_ref")
    audit(args, ref)
    cache = os.path.join(tmp, "kill_cache")
    t0 = time.monotonic()
    audit(args, os.path.join(tmp, "k_time"), cache)
    full = time.monotonic() - t0
    shutil.rmtree(cache)
    moments = sorted(rng.uniform(0.05, 1.1) * full for _ in range(10))
    seen = set()
    for k, delay in enumerate(moments):
        shutil.rmtree(cache, ignore_errors=True)
        out = os.path.join(tmp, "k%d" % k)
        cmd = [SEG, "audit"] + args + ["--out", out, "--masks", "--cache", cache]
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        p.send_signal(signal.SIGKILL)
        p.wait()
        done = committed(cache) if os.path.exists(os.path.join(cache, "cache.sqlite")) else 0
        seen.add("none" if done == 0 else "all" if done == KN else "some")
        print("kill %d at %.3f s of %.3f: %d of %d images committed" %
              (k, delay, full, done, KN))
        q = audit(args, out, cache)
        if matches(q, "kill%d (%d committed)" % (k, done), ref, out):
            counts("kill%d" % k, out, KN - done, done)
    ok("kill/moments", "some" in seen, "no kill came while images were "
       "being committed: %s" % seen)


def varint(d, p):
    v = shift = 0
    while True:
        b = d[p]
        p += 1
        v |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return v, p


def sql(db, statement):
    """Runs one statement on the database db and commits it."""
    con = sqlite3.connect(db)
    con.execute(statement)
    con.commit()
    con.close()


def pack_of(db):
    """The pack file that holds the entries' tails (their records)."""
    con = sqlite3.connect(db)
    gen = con.execute("SELECT gen FROM pack").fetchone()[0]
    con.close()
    return os.path.join(os.path.dirname(db), "records-%d.pack" % gen)


def craft(db, how):
    """Rewrites the largest pass-1 entry with valid checksums but content
    that must not be trusted (the layout is src/engine/cache_entry.c's:
    the records are the entry's tail, in the pack)."""
    pack = pack_of(db)
    con = sqlite3.connect(db)
    rowid, d, toff, tlen = max(con.execute(
        "SELECT rowid, data, toff, tlen FROM entries WHERE kind = 1"),
        key=lambda r: r[3])
    d = bytearray(d)
    with open(pack, "rb") as f:
        f.seek(toff)
        recs = bytearray(f.read(tlen))
    K = struct.unpack_from("<I", d, 4)[0]
    pos = 176 + 5 * K * 8
    nh = struct.unpack_from("<Q", d, pos)[0]
    pos += 8
    for _ in range(2 * nh):
        pos = varint(d, pos)[1]
    first = 0  # the first record
    if how.startswith("detail"):
        d, whole = recs, d
        # the first record with two details or more (SaRecord: 32 bytes,
        # then SaDetail: pos, label, pred, pad (u16), s, p-hat (f64))
        while struct.unpack_from("<H", d, first + 28)[0] < 2:
            first += 32 + 24 * struct.unpack_from("<H", d, first + 28)[0]
        det = first + 32
        if how == "detail_pos":
            struct.pack_into("<H", d, det, 60000)
        elif how == "detail_label":
            struct.pack_into("<H", d, det + 2, 60000)
        else:  # the second detail at the first one's position
            struct.pack_into("<H", d, det + 24,
                             struct.unpack_from("<H", d, det)[0])
        d = whole
    elif how == "count":
        struct.pack_into("<Q", d, pos, 1)  # says 1 record, holds more
    elif how == "tail_len":
        struct.pack_into("<Q", d, pos + 8, tlen - 32)  # the tail is longer
    elif how == "pixel":
        struct.pack_into("<I", recs, first + 20, 0x7FFFFFFF)
    elif how == "label":
        struct.pack_into("<H", recs, first + 24, 60000)
    if how == "not_a_blob":
        con.execute("UPDATE entries SET data = 123 WHERE rowid = ?", (rowid,))
    else:
        crc = zlib.crc32(bytes(d)) & 0xFFFFFFFF
        tcrc = zlib.crc32(bytes(recs)) & 0xFFFFFFFF
        with open(pack, "r+b") as f:
            f.seek(toff)
            f.write(recs)
        con.execute("UPDATE entries SET data = ?, sum = ?, tsum = ? "
                    "WHERE rowid = ?", (bytes(d), struct.pack("<IQ", crc,
                                                               len(d)),
                                        tcrc, rowid))
    con.commit()
    con.close()


def damage(tmp, args, ref):
    cache = os.path.join(tmp, "dmg_cache")
    db = os.path.join(cache, "cache.sqlite")
    out = os.path.join(tmp, "dmg")
    audit(args, out, cache)

    # entries whose checksum holds but whose content is wrong: computed
    # again (and replaced), never trusted
    for how in ("count", "tail_len", "pixel", "label", "not_a_blob"):
        craft(db, how)
        p = audit(args, out, cache)
        if matches(p, "crafted_" + how, ref, out):
            counts("crafted_" + how, out, 1, N - 1)
            ok("crafted_%s/note" % how, "cache:" in p.stderr, p.stderr)
        p = audit(args, out, cache)
        if matches(p, "crafted_%s_replaced" % how, ref, out):
            counts("crafted_%s_replaced" % how, out, 0, N)

    # bytes changed inside entries' records (in the pack): those entries
    # are recomputed
    pack = pack_of(db)
    size = os.path.getsize(pack)
    with open(pack, "r+b") as f:
        for off in range(size // 3, size - 64, size // 5):
            f.seek(off)
            b = f.read(64)
            f.seek(off)
            f.write(bytes(x ^ 0x5A for x in b))
    # the notes of damaged entries come in image order, the same for any
    # number of threads: entries are probed on one thread and read and
    # checked on every thread, so damage is found at both places (rows in
    # image order: a byte of the data flipped, or a checksum of the wrong
    # length, in turn)
    base = os.path.join(tmp, "dmg_cache_mixed")
    shutil.rmtree(base, ignore_errors=True)
    shutil.copytree(cache, base)
    con = sqlite3.connect(os.path.join(base, "cache.sqlite"))
    rows = [r[0] for r in con.execute(
        "SELECT rowid FROM entries WHERE kind = 1 ORDER BY rowid")]
    for i, rowid in enumerate(rows[:12]):
        if i % 2:
            con.execute("UPDATE entries SET sum = x'0102' WHERE rowid = ?",
                        (rowid,))
        else:
            d = bytearray(con.execute("SELECT data FROM entries WHERE "
                                      "rowid = ?", (rowid,)).fetchone()[0])
            d[len(d) // 2] ^= 0x5A
            con.execute("UPDATE entries SET data = ? WHERE rowid = ?",
                        (bytes(d), rowid))
    con.commit()
    con.close()
    notes = []
    for t in ("1", "3"):
        copy = os.path.join(tmp, "dmg_cache_t" + t)
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(base, copy)
        tout = os.path.join(tmp, "dmg_t" + t)
        q = audit(args, tout, copy, ["--threads", t])
        if matches(q, "corrupted_threads%s" % t, ref, tout):
            notes.append(run_info(tout)["cache"]["notes"])
    if len(notes) == 2:
        idx = [int(m) for n in notes[0]
               for m in re.findall(r"\(index (\d+)\)", n)]
        ok("corrupted/notes_order", notes[0] == notes[1] and len(idx) > 1 and
           idx == sorted(idx), notes)
    p = audit(args, out, cache)
    if matches(p, "corrupted", ref, out):
        r = run_info(out)
        ok("corrupted/recomputed", r["images_computed"] > 0 and
           "damaged" in p.stderr and r["cache"]["notes"], (r, p.stderr))
    p = audit(args, out, cache)
    if matches(p, "corrupted_repaired", ref, out):
        counts("corrupted_repaired", out, 0, N)
        ok("summary", "cache %s: %d images from the cache, 0 computed; it "
           "takes" % (cache, N) in p.stderr, p.stderr)

    # the pack cut short: the entries past its end are computed again; the
    # pack gone: all of them
    with open(pack_of(db), "r+b") as f:
        f.truncate(os.path.getsize(pack_of(db)) // 2)
    p = audit(args, out, cache)
    if matches(p, "pack_truncated", ref, out):
        r = run_info(out)
        ok("pack_truncated/recomputed", 0 < r["images_computed"] < N and
           "damaged" in p.stderr, (r, p.stderr))
    os.remove(pack_of(db))
    p = audit(args, out, cache)
    if matches(p, "pack_removed", ref, out):
        counts("pack_removed", out, N, 0)
    p = audit(args, out, cache)
    if matches(p, "pack_removed_repaired", ref, out):
        counts("pack_removed_repaired", out, 0, N)

    # every page but the first damaged: found while the run looks entries
    # up; the run does without the cache, which is moved aside at its end
    # (and the pack table's, which is read at open)
    con = sqlite3.connect(db)
    keep = con.execute("SELECT rootpage FROM sqlite_master WHERE "
                       "name = 'pack'").fetchone()[0]
    con.close()
    with open(db, "r+b") as f:
        size = os.path.getsize(db)
        page = struct.unpack(">H", f.read(18)[16:18])[0]
        page = 65536 if page == 1 else page
        for off in range(page, size, page):
            if off // page + 1 == keep:
                continue
            f.seek(off)
            f.write(b"\xa5" * 64)
    p = audit(args, out, cache)
    if matches(p, "damaged_pages", ref, out):
        counts("damaged_pages", out, N, 0)
        ok("damaged_pages/note", "damaged" in p.stderr and
           os.path.exists(db + ".damaged"), p.stderr)
    for i, want in enumerate([(N, 0), (0, N)]):
        p = audit(args, out, cache)
        if matches(p, "damaged_pages_after%d" % i, ref, out):
            counts("damaged_pages_after%d" % i, out, *want)

    # a truncated file
    with open(db, "r+b") as f:
        f.truncate(os.path.getsize(db) // 2)
    p = audit(args, out, cache)
    if matches(p, "truncated", ref, out):
        ok("truncated/note", "damaged" in p.stderr and
           run_info(out)["images_computed"] > 0, p.stderr)
    p = audit(args, out, cache)
    if matches(p, "truncated_repaired", ref, out):
        counts("truncated_repaired", out, 0, N)

    # not a database at all
    with open(db, "wb") as f:
        f.write(b"not a cache\n" * 100)
    p = audit(args, out, cache)
    if matches(p, "garbage", ref, out):
        counts("garbage", out, N, 0)
        ok("garbage/note", "not an SQLite database" in p.stderr and
           os.path.exists(db + ".damaged"), p.stderr)

    # another program's SQLite database
    os.remove(db)
    sql(db, "CREATE TABLE notes(x)")
    p = audit(args, out, cache)
    if matches(p, "foreign", ref, out):
        counts("foreign", out, N, 0)
        ok("foreign/note", "not a segaudit cache" in p.stderr, p.stderr)

    # another format version: its entries are dropped
    sql(db, "PRAGMA user_version=99")
    p = audit(args, out, cache)
    if matches(p, "other_version", ref, out):
        counts("other_version", out, N, 0)
        ok("other_version/note", "another version" in p.stderr, p.stderr)

    # --dry-run checks the folder and the lock, and repairs nothing
    with open(db, "wb") as f:
        f.write(b"not a cache either\n" * 50)
    before = open(db, "rb").read()
    p = audit(args + ["--dry-run"], os.path.join(tmp, "dry"), cache)
    ok("dry_run_leaves_cache", p.returncode == 0 and
       open(db, "rb").read() == before and "cache:" not in p.stderr,
       (p.returncode, p.stderr))

    # a cache in use: refused at once, naming the other run
    with open(os.path.join(cache, "lock"), "a") as lk:
        fcntl.flock(lk, fcntl.LOCK_EX)
        t = time.monotonic()
        p = audit(args, os.path.join(tmp, "locked"), cache)
        ok("locked", p.returncode == 1 and "in use by another segaudit run"
           in p.stderr and time.monotonic() - t < 30 and
           not os.path.exists(os.path.join(tmp, "locked", "images.csv")),
           (p.returncode, p.stderr))
        p = audit(args + ["--dry-run"], os.path.join(tmp, "locked"), cache)
        ok("locked_dry_run", p.returncode == 1 and "in use" in p.stderr,
           p.stderr)

    # a file where the folder should be; --cache-verify alone
    open(os.path.join(tmp, "afile"), "w").close()
    p = audit(args, os.path.join(tmp, "x"), os.path.join(tmp, "afile"))
    ok("cache_is_file", p.returncode == 1 and "is not a folder" in p.stderr,
       p.stderr)
    p = audit(args + ["--cache-verify"], os.path.join(tmp, "x"))
    ok("verify_alone", p.returncode == 2 and "--cache" in p.stderr, p.stderr)


def packs(tmp, args, ref, data):
    """The pack of records: replaced entries leave dead bytes, which are
    dropped (into the next generation's file) once they outweigh the live
    ones; a pack of another generation (a compaction cut short) is removed
    at open."""
    cache = os.path.join(tmp, "pack_cache")
    db = os.path.join(cache, "cache.sqlite")
    out = os.path.join(tmp, "pack_out")
    p = audit(args, out, cache)
    if not matches(p, "pack_first", ref, out):
        return
    first = os.path.getsize(pack_of(db))
    stray = os.path.join(cache, "records-99.pack")
    open(stray, "wb").write(b"left over\n")
    sizes = []
    template = os.path.join(tmp, "pack_template")
    for i in range(2):
        # a new modification time: every entry is computed and replaced
        os.utime(os.path.join(data, "probs.h5"), (1e9 + i, 1e9 + i))
        p = audit(args, out, cache)
        if matches(p, "pack_replaced%d" % i, ref, out):
            counts("pack_replaced%d" % i, out, N, 0)
        sizes.append((os.path.basename(pack_of(db)),
                      os.path.getsize(pack_of(db))))
        if i == 0:
            shutil.copytree(cache, template)  # half dead: the next compacts
    ok("pack/stray_removed", not os.path.exists(stray), os.listdir(cache))
    # one replacement: half the pack is dead, kept; two: compacted
    ok("pack/compacted", sizes == [("records-0.pack", 2 * first),
                                   ("records-1.pack", first)] and
       sorted(os.listdir(cache)) == ["cache.sqlite", "lock",
                                     "records-1.pack"],
       (first, sizes, os.listdir(cache)))
    p = audit(args, out, cache)
    if matches(p, "pack_compacted", ref, out):
        counts("pack_compacted", out, 0, N)
        # the last cut-off (kept by the run before) told where to gather
        # the keys: the selection read no records
        ok("pack_compacted/select_reads", run_info(out)["select_reads"] == 0,
           run_info(out)["select_reads"])

    # the last cut-off's digit, kept as a hint for pass 2: a wrong one
    # (with a valid checksum) or none changes nothing but the time
    con = sqlite3.connect(db)
    hints = con.execute("SELECT count(*) FROM entries WHERE kind = 4"
                        ).fetchone()[0]
    for i, digit in enumerate((0, 0x3fe0, None)):
        if digit is None:
            con.execute("DELETE FROM entries WHERE kind = 4")
        else:
            d = struct.pack("<I", digit)
            con.execute("UPDATE entries SET data = ?, sum = ? WHERE kind = 4",
                        (d, struct.pack("<IQ", zlib.crc32(d) & 0xFFFFFFFF,
                                        4)))
        con.commit()
        p = audit(args, out, cache)
        if matches(p, "cut_hint%d" % i, ref, out):
            counts("cut_hint%d" % i, out, 0, N)
            # a wrong hint or none: the selection reads the records
            ok("cut_hint%d/select_reads" % i,
               run_info(out)["select_reads"] >= 1, run_info(out))
    con.close()
    ok("cut_hint/kept", hints == 1, hints)

    # rows pointing at records off the 8-byte grid, before the pack, or
    # beyond any image's size: those images are computed again
    con = sqlite3.connect(db)
    rows = [r[0] for r in con.execute("SELECT rowid FROM entries WHERE "
                                      "kind = 1 ORDER BY rowid LIMIT 3")]
    con.execute("UPDATE entries SET toff = toff + 4 WHERE rowid = ?",
                (rows[0],))
    con.execute("UPDATE entries SET toff = -8 WHERE rowid = ?", (rows[1],))
    con.execute("UPDATE entries SET tlen = 1 << 40 WHERE rowid = ?",
                (rows[2],))
    con.commit()
    con.close()
    p = audit(args, out, cache)
    if matches(p, "pack_rows", ref, out):
        counts("pack_rows", out, 3, N - 3)
        ok("pack_rows/note", p.stderr.count("damaged") == 3, p.stderr)
    # a pack generation no run can have written: the cache is not ours
    sql(db, "UPDATE pack SET gen = 9223372036854775807")
    p = audit(args, out, cache)
    if matches(p, "pack_gen", ref, out):
        counts("pack_gen", out, N, 0)
        ok("pack_gen/note", "is damaged" in p.stderr, p.stderr)

    # SIGKILL at random moments of a run that replaces every entry and
    # then rewrites the pack: the next run finishes with the same outputs,
    # no entry is found damaged, and one pack file is left
    probs = os.path.join(data, "probs.h5")
    shutil.rmtree(cache)
    shutil.copytree(template, cache)
    os.utime(probs, (2e9, 2e9))
    t0 = time.monotonic()
    audit(args, out, cache)
    full = time.monotonic() - t0
    rng = random.Random(13)
    for k, delay in enumerate(sorted(rng.uniform(0.05, 1.1) * full
                                     for _ in range(8))):
        shutil.rmtree(cache)
        shutil.copytree(template, cache)
        os.utime(probs, (2e9 + k + 1, 2e9 + k + 1))
        cmd = [SEG, "audit"] + args + ["--out", out, "--masks", "--cache",
                                       cache]
        kp = subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
        time.sleep(delay)
        kp.send_signal(signal.SIGKILL)
        kp.wait()
        p = audit(args, out, cache)
        if matches(p, "pack_kill%d" % k, ref, out):
            r = run_info(out)
            packs_left = [f for f in os.listdir(cache) if f.endswith(".pack")]
            ok("pack_kill%d/clean" % k, "damaged" not in p.stderr and
               r["images_computed"] + r["images_from_cache"] == N and
               packs_left == [os.path.basename(pack_of(db))],
               (delay, full, r["images_computed"], packs_left, p.stderr))


def mounts(tmp, args, ref):
    """A read-only cache folder, and a disk that fills while committing
    (small tmpfs mounts: root only)."""
    ro, small = os.path.join(tmp, "ro"), os.path.join(tmp, "small")
    os.mkdir(ro)
    os.mkdir(small)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,ro", "tmpfs", ro],
                      capture_output=True).returncode != 0:
        print("note: cannot mount tmpfs here; read-only and full-disk cases skipped")
        return
    try:
        p = audit(args, os.path.join(tmp, "ro_out"), os.path.join(ro, "c"))
        ok("read_only", p.returncode == 1 and "cannot" in p.stderr and
           "leave out --cache" in p.stderr and
           not os.path.exists(os.path.join(tmp, "ro_out", "images.csv")),
           p.stderr)
    finally:
        subprocess.run(["umount", ro])
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", small],
                   check=True)
    try:
        out = os.path.join(tmp, "full")
        cache = os.path.join(small, "c")
        # about 600 KB left: the disk fills part of the way through
        st = os.statvfs(small)
        filler = os.path.join(small, "filler")
        with open(filler, "wb") as f:
            f.write(b"\0" * (st.f_bavail * st.f_frsize - 600 * 1024))
        p = audit(args, out, cache)
        if matches(p, "disk_full", ref, out):
            done = committed(cache)
            ok("disk_full/note", "without writing to the cache" in p.stderr
               and 0 < done < N, (done, p.stderr))
            os.remove(filler)  # space is made; the next run resumes
            p = audit(args, out, cache)
            if matches(p, "disk_full_rerun", ref, out):
                ok("disk_full_rerun/from_cache",
                   run_info(out)["images_from_cache"] == done, run_info(out))
    finally:
        subprocess.run(["umount", small])


N = 24
KN = 40


def main(tmp):
    golden(tmp)
    data = os.path.join(tmp, "data")
    p = subprocess.run([SEG, "synth", "--out", data, "--images", str(N),
                        "--size", "96x160", "--seed", "5", "-q"],
                       capture_output=True, text=True)
    ok("synth", p.returncode == 0, p.stderr)
    args = ["--labels", os.path.join(data, "labels"), "--probs",
            os.path.join(data, "probs.h5"), "--top", "4", "--threads", "2"]
    ref = relabel(tmp, data, args + ["-q"])
    verify_skip(tmp)
    fifo_label(tmp)
    added_images(tmp)
    details(tmp)
    kills(tmp)
    damage(tmp, args, ref)
    packs(tmp, args, ref, data)
    mounts(tmp, args, ref)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        main(tmp)
    finish()
