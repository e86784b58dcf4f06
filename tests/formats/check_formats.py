#!/usr/bin/python3
"""Every input format audits to the same report.

Each golden case is written again in every form segaudit reads (with
NumPy and h5py, from Debian's python3-numpy and python3-h5py): channels-last
HDF5, .npy probabilities in either axis order and byte order, labels as one
.npy or HDF5 array of several integer types, labels that need a label map,
label folders nested in subfolders, and quantised probabilities.  Each run
must give the same images.csv, classes.csv, pairs.csv, regions.csv and issue
masks, byte for byte, as the run on the case as stored (for quantised
probabilities: as the run on the same values stored as float64).

    check_formats.py SEGAUDIT GOLDEN_DIR
"""
import os
import shutil
import subprocess
import sys
import tempfile
import zlib

import h5py
import numpy as np

import golden_cases
from pngio import read_png, write_png
import tally
from tally import failures, finish

SEG, GOLDEN = sys.argv[1], sys.argv[2]
OUTPUTS = ["images.csv", "classes.csv", "pairs.csv", "regions.csv"]


def up_index(out, s, n):
    """Source rows (or columns) of torch's bilinear interpolation with
    align_corners=False for an integer factor s, as README.md states it."""
    v = (np.arange(out, dtype=np.float64) + 0.5) / s - 0.5
    v = np.maximum(v, 0.0)
    i0 = np.minimum(v.astype(np.int64), n - 1)
    i1 = np.where(i0 < n - 1, i0 + 1, i0)
    return i0, i1, v - i0


def upsample(x, s, mode):
    """A direct implementation of the upsampling, on whole arrays."""
    x = x.astype(np.float64)
    N, K, h, w = x.shape
    if mode == "nearest":
        r = np.arange(h * s) // s
        c = np.arange(w * s) // s
        return x[:, :, r][:, :, :, c]
    i0, i1, b = up_index(h * s, s, h)
    j0, j1, a = up_index(w * s, s, w)
    b = b[:, None]
    a = a[None, :]
    x0, x1 = x[:, :, i0], x[:, :, i1]
    return (1.0 - b) * ((1.0 - a) * x0[:, :, :, j0] + a * x0[:, :, :, j1]) + \
        b * ((1.0 - a) * x1[:, :, :, j0] + a * x1[:, :, :, j1])


def run(name, out, labels, probs, extra, expect_in_stderr=None):
    args = [SEG, "audit", "--labels", labels, "--probs", probs, "--out", out,
            "--masks", "--top", "0", "--no-html"] + extra
    if not expect_in_stderr:
        args.append("-q")
    p = subprocess.run(args, capture_output=True, text=True)
    if p.returncode != 0:
        failures.append("%s: exit %d: %s" % (name, p.returncode, p.stderr.strip()))
        return False
    if expect_in_stderr and expect_in_stderr not in p.stderr:
        failures.append("%s: stderr lacks %r: %s" % (name, expect_in_stderr, p.stderr))
        return False
    return True


def digests(d):
    import json
    r = json.load(open(os.path.join(d, "report.json")))
    return {i["image"]: i["label_digest"] for i in r["images"]}


def same(name, ref, out):
    # the labels as audited are the same, whatever their file format
    if digests(ref) != digests(out):
        failures.append("%s: label digests differ from the reference run" % name)
        return
    for f in OUTPUTS:
        a = open(os.path.join(ref, f), "rb").read()
        b = open(os.path.join(out, f), "rb").read()
        if a != b:
            failures.append("%s: %s differs from the reference run" % (name, f))
            return
    ma = sorted(os.listdir(os.path.join(ref, "masks")))
    mb = sorted(os.listdir(os.path.join(out, "masks")))
    if ma != mb:
        failures.append("%s: masks/ holds other files" % name)
        return
    for m in ma:
        if open(os.path.join(ref, "masks", m), "rb").read() != \
                open(os.path.join(out, "masks", m), "rb").read():
            failures.append("%s: masks/%s differs" % (name, m))
            return
    tally.passed += 1


def check(name, ref, tmp, labels, probs, extra, expect_in_stderr=None):
    out = os.path.join(tmp, "out_" + name)
    if run(name, out, labels, probs, extra, expect_in_stderr):
        same(name, ref, out)


def case(cdir, tmp):
    import json
    exp = json.load(open(os.path.join(cdir, "expected.json")))
    par = exp["params"]
    common = golden_cases.options(exp)
    cname = os.path.basename(cdir.rstrip("/"))
    f = h5py.File(os.path.join(cdir, "probs.h5"), "r")
    probs = f["pred_probs"][()]
    N, K, H, W = probs.shape
    ids = exp["image_ids"]
    labels_dir = os.path.join(cdir, "labels")
    labels = np.stack([read_png(os.path.join(labels_dir, i + ".png")) for i in ids])
    idfile = os.path.join(tmp, "ids.txt")
    with open(idfile, "w") as fh:
        fh.write("\n".join(ids) + "\n")
    with_ids = ["--ids", idfile]

    ref = os.path.join(tmp, "ref")
    if not run(cname + "/reference", ref, labels_dir, os.path.join(cdir, "probs.h5"), common):
        return
    # the report's label digest: SHA-256 of the uint16 little-endian values
    import hashlib
    got = digests(ref)
    for j, i in enumerate(ids):
        want = hashlib.sha256(labels[j].astype("<u2").tobytes()).hexdigest()
        if got.get(i) != want:
            failures.append("%s/label_digest: image %s: %s, expected %s" %
                            (cname, i, got.get(i), want))
            break
    else:
        passed_one()
    # a control: the comparison does see a change (the labels of the
    # images moved by one)
    rolled = np.roll(labels, 1, axis=0)
    if not np.array_equal(rolled, labels):
        p = os.path.join(tmp, "labels_rolled.npy")
        np.save(p, rolled.astype(np.uint16))
        out = os.path.join(tmp, "out_control")
        if run(cname + "/control", out, p, os.path.join(cdir, "probs.h5"),
               common + with_ids):
            before = len(failures)
            same(cname + "/control", ref, out)
            if len(failures) == before:
                failures.append(cname + "/control: moved labels gave the "
                                "same report")
                tally.passed -= 1
            else:
                del failures[before:]
                tally.passed += 1
    nhwc = np.ascontiguousarray(probs.transpose(0, 2, 3, 1))

    # one dataset per image, named by its id, in a group
    p = os.path.join(tmp, "group.h5")
    with h5py.File(p, "w") as g:
        grp = g.create_group("preds")
        for j, i in enumerate(ids):
            grp[i] = probs[j]
    check(cname + "/h5_group", ref, tmp, labels_dir, p + ":/preds", common)
    p = os.path.join(tmp, "group_nhwc.h5")
    with h5py.File(p, "w") as g:
        grp = g.create_group("preds")
        for j, i in enumerate(ids):
            grp.create_dataset(i, data=np.ascontiguousarray(probs[j].transpose(1, 2, 0)),
                               chunks=(min(H, 5), W, K))
    check(cname + "/h5_group_nhwc_chunked", ref, tmp, labels_dir, p + ":/preds",
          common + ["--layout", "nhwc"])

    # channels-last HDF5 (with the ids inside), explicit and detected
    p = os.path.join(tmp, "nhwc.h5")
    with h5py.File(p, "w") as g:
        g["pred_probs"] = nhwc
        g["image_ids"] = np.array(ids, dtype=h5py.string_dtype())
    check(cname + "/h5_nhwc", ref, tmp, labels_dir, p, common + ["--layout", "nhwc"])
    if not (H == W == K):
        check(cname + "/h5_nhwc_detected", ref, tmp, labels_dir, p, common,
              "read as channels-last")
    # chunked channels-last (read through HDF5)
    p = os.path.join(tmp, "nhwc_chunked.h5")
    with h5py.File(p, "w") as g:
        g.create_dataset("pred_probs", data=nhwc, chunks=(1, min(H, 7), W, K),
                         compression="gzip")
        g["image_ids"] = np.array(ids, dtype=h5py.string_dtype())
    check(cname + "/h5_nhwc_chunked_gzip", ref, tmp, labels_dir, p,
          common + ["--layout", "nhwc"])

    # .npy probabilities: (N,K,H,W) as stored, channels-last big-endian
    p = os.path.join(tmp, "probs.npy")
    np.save(p, probs)
    check(cname + "/npy_nchw", ref, tmp, labels_dir, p, common + with_ids)
    p = os.path.join(tmp, "probs_nhwc_be.npy")
    np.save(p, nhwc.astype(nhwc.dtype.newbyteorder(">")))
    check(cname + "/npy_nhwc_big_endian", ref, tmp, labels_dir, p,
          common + with_ids + ["--layout", "nhwc"])

    # labels as one array: .npy of int32, HDF5 of int16 next to the probs
    p = os.path.join(tmp, "labels.npy")
    np.save(p, labels.astype(np.int32))
    check(cname + "/labels_npy_int32", ref, tmp, p, os.path.join(cdir, "probs.h5"),
          common + with_ids)
    p = os.path.join(tmp, "both.h5")
    with h5py.File(p, "w") as g:
        g["pred_probs"] = probs
        g["labels"] = labels.astype(np.int16)
    check(cname + "/labels_h5_int16", ref, tmp, p, p, common + with_ids)
    check(cname + "/labels_h5_named", ref, tmp, p + ":/labels", p, common + with_ids)

    # labels shifted by 7 (void kept) and mapped back with --label-map
    void = set(par.get("ignore_index", []))
    shifted = labels.astype(np.int64)
    mask = np.isin(shifted, list(void)) if void else np.zeros(shifted.shape, bool)
    shifted[~mask] += 7
    p = os.path.join(tmp, "labels_shifted.npy")
    np.save(p, shifted.astype(np.uint16))
    mp = os.path.join(tmp, "map.csv")
    with open(mp, "w") as fh:
        fh.write("from,to\n" + "".join("%d,%d\n" % (k + 7, k) for k in range(K)))
    check(cname + "/label_map", ref, tmp, p, os.path.join(cdir, "probs.h5"),
          common + with_ids + ["--label-map", mp])

    # label PNGs spread over nested folders
    nested = os.path.join(tmp, "nested")
    for j, i in enumerate(ids):
        d = os.path.join(nested, "city%d" % (j % 2), "part%d" % (j % 3))
        os.makedirs(d, exist_ok=True)
        shutil.copy(os.path.join(labels_dir, i + ".png"), d)
    check(cname + "/labels_nested", ref, tmp, nested, os.path.join(cdir, "probs.h5"),
          common + (with_ids if "image_ids" not in f else []))

    # predictions at 1/s of the labels' size, upsampled on the fly, against
    # the same upsampling done here and stored as float64
    for fac in (2, 3):
        if H % fac or W % fac or H // fac < 2 or W // fac < 2:
            continue
        low = np.ascontiguousarray(probs[:, :, ::fac, ::fac])
        lowp = os.path.join(tmp, "low%d.h5" % fac)
        with h5py.File(lowp, "w") as g:
            g["pred_probs"] = low
            g["image_ids"] = np.array(ids, dtype=h5py.string_dtype())
        for mode in ("bilinear", "nearest"):
            upp = os.path.join(tmp, "up.h5")
            with h5py.File(upp, "w") as g:
                g["pred_probs"] = upsample(low, fac, mode)
                g["image_ids"] = np.array(ids, dtype=h5py.string_dtype())
            refu = os.path.join(tmp, "ref_up")
            shutil.rmtree(refu, ignore_errors=True)
            if run(cname + "/reference_up", refu, labels_dir, upp, common):
                check("%s/upsample_%s_x%d" % (cname, mode, fac), refu, tmp,
                      labels_dir, lowp, common + ["--upsample", mode])
                if fac == 2 and mode == "bilinear":
                    p = os.path.join(tmp, "low_nhwc.npy")
                    np.save(p, np.ascontiguousarray(low.transpose(0, 2, 3, 1)))
                    check(cname + "/upsample_npy_nhwc", refu, tmp, labels_dir, p,
                          common + with_ids + ["--upsample", mode, "--layout", "nhwc"])
                    if not (H // fac == W // fac == K):
                        check(cname + "/upsample_npy_nhwc_detected", refu, tmp,
                              labels_dir, p, common + with_ids + ["--upsample", mode],
                              "read as channels-last")
        if fac == 2:
            out = os.path.join(tmp, "out_noup")
            p = subprocess.run([SEG, "audit", "--labels", labels_dir, "--probs",
                                lowp, "--out", out, "-q"] + common,
                               capture_output=True, text=True)
            if p.returncode == 1 and "--upsample bilinear" in p.stderr:
                passed_one()
            else:
                failures.append("%s/upsample_needed: exit %d: %s" %
                                (cname, p.returncode, p.stderr.strip()))

    # quantised probabilities against the same values as float64
    q = np.clip(np.rint(probs.astype(np.float64) * 255), 0, 255).astype(np.uint8)
    qref = os.path.join(tmp, "qref.h5")
    with h5py.File(qref, "w") as g:
        g["pred_probs"] = q.astype(np.float64) / 255.0
        g["image_ids"] = np.array(ids, dtype=h5py.string_dtype())
    refq = os.path.join(tmp, "ref_q8")
    if run(cname + "/reference_uint8", refq, labels_dir, qref, common):
        p = os.path.join(tmp, "q8.h5")
        with h5py.File(p, "w") as g:
            g["pred_probs"] = q
            g["image_ids"] = np.array(ids, dtype=h5py.string_dtype())
        check(cname + "/h5_uint8", refq, tmp, labels_dir, p, common)
        p = os.path.join(tmp, "q8.npy")
        np.save(p, q)
        check(cname + "/npy_uint8", refq, tmp, labels_dir, p, common + with_ids)
    q16 = np.clip(np.rint(probs.astype(np.float64) * 1000), 0, 65535).astype(np.uint16)
    scale = 0.001
    qref = os.path.join(tmp, "qref16.h5")
    with h5py.File(qref, "w") as g:
        g["pred_probs"] = q16.astype(np.float64) * scale
        g["image_ids"] = np.array(ids, dtype=h5py.string_dtype())
    refq = os.path.join(tmp, "ref_q16")
    if run(cname + "/reference_uint16", refq, labels_dir, qref, common):
        p = os.path.join(tmp, "q16.h5")
        with h5py.File(p, "w") as g:
            d = g.create_dataset("pred_probs", data=q16)
            d.attrs["scale_factor"] = scale
            d.attrs["add_offset"] = 0.0
            g["image_ids"] = np.array(ids, dtype=h5py.string_dtype())
        check(cname + "/h5_uint16_cf", refq, tmp, labels_dir, p, common)
        p = os.path.join(tmp, "q16_be.npy")
        np.save(p, q16.astype(">u2"))
        check(cname + "/npy_uint16_scale", refq, tmp, labels_dir, p,
              common + with_ids + ["--probs-scale", repr(scale)])


def expect_error(name, args, status, *words):
    """The run fails with exit status `status`, one 'segaudit: ' line on
    stderr that holds every word, and no report."""
    out = args[args.index("--out") + 1]
    p = subprocess.run([SEG, "audit"] + args + ["-q"], capture_output=True,
                       text=True)
    why = []
    if p.returncode != status:
        why.append("exit %d, expected %d" % (p.returncode, status))
    lines = p.stderr.splitlines()
    if len(lines) != 1 or not lines[0].startswith("segaudit: "):
        why.append("stderr is not one 'segaudit: ' line")
    for w in words:
        if w not in p.stderr:
            why.append("stderr lacks %r" % w)
    if os.path.exists(os.path.join(out, "images.csv")):
        why.append("a report was written")
    if why:
        failures.append("%s: %s [stderr: %s]" % (name, "; ".join(why), p.stderr.strip()))
    else:
        tally.passed += 1


def errors(tmp):
    """Inputs in these formats that are wrong, and what the user is told."""
    cdir = os.path.join(GOLDEN, "scenes_k19")
    f = h5py.File(os.path.join(cdir, "probs.h5"), "r")
    probs = f["pred_probs"][()]
    ids = [i.decode() if isinstance(i, bytes) else i for i in f["image_ids"][()]]
    N, K, H, W = probs.shape
    labels_dir = os.path.join(cdir, "labels")
    labels = np.stack([read_png(os.path.join(labels_dir, i + ".png")) for i in ids])
    out = os.path.join(tmp, "out")
    idf = os.path.join(tmp, "ids.txt")
    with open(idf, "w") as fh:
        fh.write("\n".join(ids) + "\n")

    nhwc = os.path.join(tmp, "nhwc.npy")
    np.save(nhwc, np.ascontiguousarray(probs.transpose(0, 2, 3, 1)))
    expect_error("errors/layout_stated_wrong",
                 ["--labels", labels_dir, "--probs", nhwc, "--ids", idf,
                  "--layout", "nchw", "--out", out], 1,
                 "looks channels-last", "use --layout nhwc")
    expect_error("errors/layout_nhwc_on_nchw",
                 ["--labels", labels_dir, "--probs", os.path.join(cdir, "probs.h5"),
                  "--layout", "nhwc", "--out", out], 1,
                 "looks channels-first", "use --layout nchw")
    fort = os.path.join(tmp, "fortran.npy")
    np.save(fort, np.asfortranarray(probs))
    expect_error("errors/npy_fortran_order",
                 ["--labels", labels_dir, "--probs", fort, "--ids", idf,
                  "--out", out], 1, "fortran.npy", "Fortran order",
                 "ascontiguousarray")
    i32 = os.path.join(tmp, "int32.npy")
    np.save(i32, (probs * 100).astype(np.int32))
    expect_error("errors/npy_int32_probs",
                 ["--labels", labels_dir, "--probs", i32, "--ids", idf,
                  "--out", out], 1, "int32", "uint8 or uint16")
    # labels: a count that differs, a value out of range, negative void
    few = os.path.join(tmp, "few.npy")
    np.save(few, labels[:-1].astype(np.uint8))
    expect_error("errors/label_array_count",
                 ["--labels", few, "--probs", os.path.join(cdir, "probs.h5"),
                  "--out", out], 1, "few.npy", "%d label maps" % (N - 1),
                 "N=%d" % N)
    neg = labels.astype(np.int32)
    neg[2, 5, 9] = -1
    negp = os.path.join(tmp, "neg.npy")
    np.save(negp, neg)
    expect_error("errors/label_negative_not_ignored",
                 ["--labels", negp, "--probs", os.path.join(cdir, "probs.h5"),
                  "--out", out], 1, "neg.npy", "(row 5, col 9)", "65535")
    p = subprocess.run([SEG, "audit", "--labels", negp, "--probs",
                        os.path.join(cdir, "probs.h5"), "--out", out + "_neg",
                        "--ignore-index", "-1", "-q"], capture_output=True,
                       text=True)
    if p.returncode == 0:
        passed_one()
    else:
        failures.append("errors/label_negative_ignored: exit %d: %s" %
                        (p.returncode, p.stderr.strip()))
    big = labels.astype(np.int32)
    big[1, 0, 0] = 70000
    bigp = os.path.join(tmp, "big.npy")
    np.save(bigp, big)
    expect_error("errors/label_out_of_uint16",
                 ["--labels", bigp, "--probs", os.path.join(cdir, "probs.h5"),
                  "--out", out], 1, "big.npy", "70000")
    # HDF5: a dataset that is not there lists the ones that are
    expect_error("errors/labels_dataset_missing",
                 ["--labels", os.path.join(cdir, "probs.h5") + ":/segmaps",
                  "--probs", os.path.join(cdir, "probs.h5"), "--out", out], 1,
                 "/segmaps", "no such dataset", "pred_probs", "image_ids")
    # one dataset per image: one never written, one of another K
    p = os.path.join(tmp, "group_bad.h5")
    with h5py.File(p, "w") as g:
        grp = g.create_group("preds")
        for j, i in enumerate(ids):
            if j == 2:
                grp.create_dataset(i, shape=probs[j].shape, dtype=probs.dtype)
            else:
                grp[i] = probs[j]
    expect_error("errors/group_member_unwritten",
                 ["--labels", labels_dir, "--probs", p + ":/preds", "--out", out],
                 1, "/preds/" + ids[2], "holds no data")
    with h5py.File(p, "w") as g:
        grp = g.create_group("preds")
        for j, i in enumerate(ids):
            grp[i] = probs[j][:K - 1] if j == 1 else probs[j]
    expect_error("errors/group_member_other_k",
                 ["--labels", labels_dir, "--probs", p + ":/preds", "--out", out],
                 1, ids[1], "%d classes" % (K - 1))

    # ids: the label suffix left on, a count that differs
    bad = os.path.join(tmp, "ids_png.txt")
    with open(bad, "w") as fh:
        fh.write("\n".join(i + ".png" for i in ids) + "\n")
    expect_error("errors/ids_with_suffix",
                 ["--labels", labels_dir, "--probs", os.path.join(cdir, "probs.h5"),
                  "--ids", bad, "--out", out], 1, "ends in the label suffix")
    short = os.path.join(tmp, "ids_short.txt")
    with open(short, "w") as fh:
        fh.write("\n".join(ids[:-1]) + "\n")
    expect_error("errors/ids_text_count",
                 ["--labels", labels_dir, "--probs", os.path.join(cdir, "probs.h5"),
                  "--ids", short, "--out", out], 1, "ids_short.txt",
                 "%d ids" % (N - 1))
    # two label files with one id in nested folders: both named
    nested = os.path.join(tmp, "nested")
    for d in ("a", "b"):
        os.makedirs(os.path.join(nested, d))
        shutil.copy(os.path.join(labels_dir, ids[0] + ".png"), os.path.join(nested, d))
    expect_error("errors/duplicate_label_files",
                 ["--labels", nested, "--probs", os.path.join(cdir, "probs.h5"),
                  "--out", out], 1, "a/" + ids[0] + ".png",
                 "b/" + ids[0] + ".png")
    # Cityscapes label ids without the map: the message names the remedy
    ids_dir = os.path.join(tmp, "labelids")
    table = {k: v for k, v in [(7, 0), (8, 1), (11, 2), (12, 3), (13, 4),
                               (17, 5), (19, 6), (20, 7), (21, 8), (22, 9),
                               (23, 10), (24, 11), (25, 12), (26, 13),
                               (27, 14), (28, 15), (31, 16), (32, 17),
                               (33, 18)]}
    inv = np.zeros(256, np.uint8)
    for lid, tid in table.items():
        inv[tid] = lid
    lid = inv[labels]
    lidp = os.path.join(tmp, "labelids.npy")
    np.save(lidp, lid)
    expect_error("errors/cityscapes_label_ids",
                 ["--labels", lidp, "--probs", os.path.join(cdir, "probs.h5"),
                  "--out", out], 1, "--label-map cityscapes")
    ref = os.path.join(tmp, "ref")
    okp = os.path.join(tmp, "ok")
    if run("errors/reference", ref, labels_dir, os.path.join(cdir, "probs.h5"), []) and \
            run("errors/cityscapes_label_map", okp, lidp,
                os.path.join(cdir, "probs.h5"), ["--label-map", "cityscapes", "--ids", idf]):
        same("errors/cityscapes_label_map", ref, okp)


def mixed_sizes(tmp):
    """Images of two sizes, one dataset each, audit as the same images
    padded to one size with ignored labels: the thresholds are
    dataset-wide, ignored pixels count nowhere, and padding at the right
    and bottom keeps every coordinate."""
    parts = []
    for tag, c in (("a", "scenes_k19"), ("b", "void_255")):
        cdir = os.path.join(GOLDEN, c)
        f = h5py.File(os.path.join(cdir, "probs.h5"), "r")
        ids = [i.decode() if isinstance(i, bytes) else i for i in f["image_ids"][()]]
        probs = f["pred_probs"][()].astype(np.float32)
        labels = [read_png(os.path.join(cdir, "labels", i + ".png")) for i in ids]
        parts += [(tag + "_" + i, probs[j], labels[j]) for j, i in enumerate(ids)]
    parts.sort(key=lambda t: t[0])
    K = parts[0][1].shape[0]
    H = max(t[1].shape[1] for t in parts)
    W = max(t[1].shape[2] for t in parts)
    lab = os.path.join(tmp, "mixed_labels")
    padlab = os.path.join(tmp, "padded_labels")
    os.makedirs(lab)
    os.makedirs(padlab)
    padded = np.full((len(parts), K, H, W), 1.0 / K, np.float32)
    with h5py.File(os.path.join(tmp, "mixed.h5"), "w") as g:
        grp = g.create_group("p")
        for j, (i, pr, lb) in enumerate(parts):
            grp[i] = pr
            write_png(os.path.join(lab, i + ".png"), lb)
            pl = np.full((H, W), 255, np.uint16)
            pl[:lb.shape[0], :lb.shape[1]] = lb
            write_png(os.path.join(padlab, i + ".png"), pl)
            padded[j, :, :pr.shape[1], :pr.shape[2]] = pr
    with h5py.File(os.path.join(tmp, "padded.h5"), "w") as g:
        g["pred_probs"] = padded
        g["image_ids"] = np.array([t[0] for t in parts], dtype=h5py.string_dtype())
    common = ["--ignore-index", "255", "--min-region-area", "1"]
    ref, out = os.path.join(tmp, "ref_padded"), os.path.join(tmp, "out_mixed")
    if not (run("mixed/reference_padded", ref, padlab, os.path.join(tmp, "padded.h5"), common) and
            run("mixed/group", out, lab, os.path.join(tmp, "mixed.h5") + ":/p", common)):
        return
    before = len(failures)
    for f in OUTPUTS:
        if open(os.path.join(ref, f), "rb").read() != open(os.path.join(out, f), "rb").read():
            failures.append("mixed/group: %s differs from the padded run" % f)
    for i, pr, lb in parts:
        a = read_png(os.path.join(ref, "masks", i + ".png"))
        b = read_png(os.path.join(out, "masks", i + ".png"))
        if b.shape != lb.shape or not np.array_equal(a[:lb.shape[0], :lb.shape[1]], b) or \
                a[lb.shape[0]:].any() or a[:, lb.shape[1]:].any():
            failures.append("mixed/group: mask of %s differs" % i)
            break
    if len(failures) == before:
        passed_one()
    # overlays of images of two sizes, drawn at once
    p = subprocess.run([SEG, "audit", "--labels", lab, "--probs",
                        os.path.join(tmp, "mixed.h5") + ":/p", "--out",
                        os.path.join(tmp, "out_ov"), "--top", "all", "-q"] + common,
                       capture_output=True, text=True)
    n_ov = len(os.listdir(os.path.join(tmp, "out_ov", "overlays"))) if p.returncode == 0 else -1
    if n_ov == len(parts):
        passed_one()
    else:
        failures.append("mixed/overlays: exit %d, %d overlays: %s" % (p.returncode, n_ov, p.stderr))


def odd_shapes(tmp):
    """One dataset per image, of very different shapes (tall and narrow,
    wide and short), with every overlay drawn: the same report for 1 and 2
    threads, and --ids refused."""
    rng = np.random.default_rng(5)
    shapes = [(5, 40), (40, 5), (13, 17), (64, 3), (1, 300), (300, 1)]
    K = 4
    lab = os.path.join(tmp, "odd_labels")
    os.makedirs(lab)
    p = os.path.join(tmp, "odd.h5")
    with h5py.File(p, "w") as g:
        grp = g.create_group("p")
        for j, (h, w) in enumerate(shapes):
            lb = rng.integers(0, K, (h, w))
            pr = rng.dirichlet(np.ones(K), (h, w)).transpose(2, 0, 1)
            pr[lb, np.arange(h)[:, None], np.arange(w)[None, :]] += 2.0
            pr /= pr.sum(0)
            grp["im%d" % j] = pr.astype(np.float32)
            write_png(os.path.join(lab, "im%d.png" % j), lb.astype(np.uint8))
    outs = []
    for t in ("1", "2"):
        out = os.path.join(tmp, "odd_out" + t)
        r = subprocess.run([SEG, "audit", "--labels", lab, "--probs", p + ":/p",
                            "--out", out, "--top", "all", "--masks", "--threads", t,
                            "-q"], capture_output=True, text=True)
        if r.returncode != 0:
            failures.append("odd_shapes/threads_%s: exit %d: %s" % (t, r.returncode, r.stderr))
            return
        outs.append(out)
    same("odd_shapes/threads", outs[0], outs[1])
    n = len(os.listdir(os.path.join(outs[0], "overlays")))
    if n != len(shapes):
        failures.append("odd_shapes/overlays: %d of %d" % (n, len(shapes)))
    else:
        passed_one()
    ids = os.path.join(tmp, "odd_ids.txt")
    with open(ids, "w") as fh:
        fh.write("".join("im%d\n" % j for j in range(len(shapes))))
    expect_error("odd_shapes/ids_refused",
                 ["--labels", lab, "--probs", p + ":/p", "--ids", ids,
                  "--out", os.path.join(tmp, "odd_out3")], 2,
                 "one dataset per image", "--ids")


def same_overlays(name, ref, out, count=None):
    """The overlays of out are those of ref, byte for byte (and there are
    count of them, when given)."""
    ov = sorted(os.listdir(os.path.join(ref, "overlays")))
    tally.ok(name + "/overlays",
             ov and (count is None or len(ov) == count) and
             ov == sorted(os.listdir(os.path.join(out, "overlays"))) and
             all(open(os.path.join(ref, "overlays", o), "rb").read() ==
                 open(os.path.join(out, "overlays", o), "rb").read()
                 for o in ov), "the overlays differ")


def block_dataset(rng, shape, block, agree, boost, lab, id_format):
    """Labels in square blocks of one class (so that regions and overlays
    have shapes), written as PNGs to lab, and float32 probabilities
    (N,K,H,W) that favour the label (by boost) at a fraction agree of the
    pixels; returns the labels, the probabilities and the ids."""
    N, K, H, W = shape
    os.makedirs(lab)
    lb = rng.integers(0, K, (N, H // block, W // block))
    lb = np.repeat(np.repeat(lb, block, 1), block, 2)
    pr = rng.dirichlet(np.ones(K), (N, H, W)).astype(np.float32)
    pr = pr.transpose(0, 3, 1, 2).copy()
    n_, h_, w_ = np.nonzero(rng.random((N, H, W)) < agree)
    pr[n_, lb[n_, h_, w_], h_, w_] += boost
    pr /= pr.sum(1, keepdims=True)
    ids = [id_format % j for j in range(N)]
    for j in range(N):
        write_png(os.path.join(lab, ids[j] + ".png"), lb[j].astype(np.uint8))
    return lb, pr, ids


def large_chunks(tmp):
    """Deflate chunks too large to be inflated whole (one chunk per image of
    more than 16 MiB) are inflated in a stream: the same report, masks and
    overlays as the same values stored contiguous, for float32 and float16,
    with and without shuffle, and only the compressed bytes read."""
    import json
    rng = np.random.default_rng(11)
    N, K, H, W = 2, 19, 600, 800
    lab = os.path.join(tmp, "large_labels")
    lb, pr, ids = block_dataset(rng, (N, K, H, W), 40, 0.9, 3.0, lab, "big%d")
    for dt in ("float32", "float16"):
        v = pr.astype(dt)
        ref = os.path.join(tmp, "large_ref_" + dt)
        p = os.path.join(tmp, "large_%s.h5" % dt)
        with h5py.File(p, "w") as g:
            g["pred_probs"] = v
            g["image_ids"] = np.array(ids, dtype=h5py.string_dtype())
        if not run("large_chunks/" + dt, ref, lab, p, ["--top", "all"]):
            continue
        for shuffle in (True, False):
            name = "large_chunks/%s_%s" % (dt, "shuffle_gzip" if shuffle
                                           else "gzip")
            p = os.path.join(tmp, "large_%s_%d.h5" % (dt, shuffle))
            with h5py.File(p, "w") as g:
                g.create_dataset("pred_probs", data=v, chunks=(1, K, H, W),
                                 compression="gzip", shuffle=shuffle)
                g["image_ids"] = np.array(ids, dtype=h5py.string_dtype())
            out = os.path.join(tmp, "out_" + name.replace("/", "_"))
            if not run(name, out, lab, p, ["--top", "all"]):
                continue
            same(name, ref, out)
            same_overlays(name, ref, out, N)
            r = json.load(open(os.path.join(out, "report.json")))["run"]
            # each chunk is read twice (to find its planes, then for them)
            # in the audit, and twice again for its overlay; the check at
            # the start reads the first and last rows of the first and last
            # image (here: all of them), twice again
            stored = os.path.getsize(p)
            if r["read_path"] != "direct" or not 0 < r["bytes_read"] <= 6 * stored:
                failures.append("%s: read %s, %d bytes of a %d-byte file" %
                                (name, r["read_path"], r["bytes_read"], stored))
            else:
                passed_one()
    # predictions at half the labels' size, upsampled: bands that overlap
    # by a row or two, read without starting a chunk again
    lab2 = os.path.join(tmp, "large_labels2")
    os.makedirs(lab2)
    for j in range(N):
        write_png(os.path.join(lab2, ids[j] + ".png"),
                  np.repeat(np.repeat(lb[j], 2, 0), 2, 1).astype(np.uint8))
    v = pr.astype("float16")
    ref = os.path.join(tmp, "large_ref_up")
    p = os.path.join(tmp, "large_up.h5")
    with h5py.File(p, "w") as g:
        g["pred_probs"] = v
        g["image_ids"] = np.array(ids, dtype=h5py.string_dtype())
    up = ["--upsample", "bilinear", "--top", "all"]
    if run("large_chunks/upsample", ref, lab2, p, up):
        p = os.path.join(tmp, "large_up_gzip.h5")
        with h5py.File(p, "w") as g:
            g.create_dataset("pred_probs", data=v, chunks=(1, K, H, W),
                             compression="gzip", shuffle=True)
            g["image_ids"] = np.array(ids, dtype=h5py.string_dtype())
        out = os.path.join(tmp, "out_large_up_gzip")
        if run("large_chunks/upsample_gzip", out, lab2, p, up):
            same("large_chunks/upsample_gzip", ref, out)
            r = json.load(open(os.path.join(out, "report.json")))["run"]
            stored = os.path.getsize(p)
            tally.ok("large_chunks/upsample_gzip_bytes",
                     0 < r["bytes_read"] <= 6 * stored,
                     "%d bytes read of a %d-byte file" % (r["bytes_read"], stored))


def kept_maps(tmp):
    """The overlays draw pass 1's argmax maps where they were kept: the
    same overlays and report as a run whose memory limit leaves no room for
    them (which reads the overlaid images again), and no second read of
    the tensor; with ranks by other scores, skipped images and more
    overlays than images."""
    import json
    rng = np.random.default_rng(7)
    N, K, H, W = 12, 5, 48, 64
    lab = os.path.join(tmp, "kept_labels")
    lb, pr, ids = block_dataset(rng, (N, K, H, W), 8, 0.8, 2.0, lab, "k%02d")
    # image 3 has a label that is no class: skipped with --on-error skip
    bad = lb[3].astype(np.uint8).copy()
    bad[5, 7] = 200
    lab_bad = os.path.join(tmp, "kept_labels_bad")
    shutil.copytree(lab, lab_bad)
    write_png(os.path.join(lab_bad, ids[3] + ".png"), bad)
    # the maps hold a byte a value (5 classes); images 2 and 9 have 16-bit
    # label files with 257 as their void value, too large for a byte (and
    # a class, 1, in its low byte):
    # their label files are read again for their overlays
    lab_wide = os.path.join(tmp, "kept_labels_wide")
    shutil.copytree(lab, lab_wide)
    for j in (2, 9):
        v = lb[j].astype(np.uint16).copy()
        v[10:20, 30:50] = 257
        write_png(os.path.join(lab_wide, ids[j] + ".png"), v, 16)
    p = os.path.join(tmp, "kept.h5")
    with h5py.File(p, "w") as g:
        g["pred_probs"] = pr
        g["image_ids"] = np.array(ids, dtype=h5py.string_dtype())
    tensor = pr.nbytes
    # 300 classes: the maps hold two bytes a value
    Nm, Km = 4, 300
    lab_many = os.path.join(tmp, "kept_labels_many")
    lbm, prm, idsm = block_dataset(rng, (Nm, Km, 16, 32), 4, 0.8, 2.0,
                                   lab_many, "m%02d")
    for j in range(Nm):
        write_png(os.path.join(lab_many, idsm[j] + ".png"), lbm[j], 16)
    pm = os.path.join(tmp, "kept_many.h5")
    with h5py.File(pm, "w") as g:
        g["pred_probs"] = prm
        g["image_ids"] = np.array(idsm, dtype=h5py.string_dtype())
    cases = [("top5", lab, p, tensor, ["--top", "5"]),
             ("top_all", lab, p, tensor, ["--top", "all"]),
             ("mean_iou", lab, p, tensor,
              ["--top", "4", "--rank-by", "mean_iou"]),
             ("skip", lab_bad, p, tensor, ["--top", "6", "--on-error", "skip"]),
             ("one_thread", lab, p, tensor, ["--top", "3", "--threads", "1"]),
             ("wide_labels", lab_wide, p, tensor,
              ["--top", "all", "--ignore-index", "257"]),
             ("many_classes", lab_many, pm, prm.nbytes, ["--top", "all"])]
    for name, labels, probs, size, extra in cases:
        outs = []
        for limit in ("1G", "64K"):
            out = os.path.join(tmp, "kept_%s_%s" % (name, limit))
            r = subprocess.run([SEG, "audit", "--labels", labels, "--probs", probs,
                                "--out", out, "--masks", "--no-html", "-q",
                                "--memory-limit", limit] + extra,
                               capture_output=True, text=True)
            if r.returncode != 0:
                failures.append("kept_maps/%s: exit %d: %s" %
                                (name, r.returncode, r.stderr))
                break
            outs.append(out)
        if len(outs) < 2:
            continue
        same("kept_maps/" + name, outs[1], outs[0])
        same_overlays("kept_maps/" + name, outs[1], outs[0])
        got = [json.load(open(os.path.join(o, "report.json")))["run"]["bytes_read"]
               for o in outs]
        # the kept maps spare every overlaid image's second read (the
        # skipped image's labels fail before its tensor is read whole)
        tally.ok("kept_maps/%s_bytes" % name,
                 got[0] <= size < got[1] if name != "skip" else got[0] < got[1],
                 "bytes read %s, tensor %d" % (got, size))


def from_disk(tmp):
    """Audits of a tensor dropped from the page cache first (read by the
    prefetcher from the disk, the band reads waiting for it, in bands of a
    few rows) give what a run on the tensor in the page cache gives, for
    every layout the prefetcher reads: contiguous float32 and float16,
    chunks of 16 rows, one chunk per image, deflate chunks, and one file
    read twice (the overlays).  Where the folder's file system keeps its
    pages (tmpfs), the runs still compare, from the page cache."""
    import json
    rng = np.random.default_rng(11)
    N, K, H, W = 6, 8, 128, 256
    lab = os.path.join(tmp, "disk_labels")
    lb, pr, ids = block_dataset(rng, (N, K, H, W), 8, 0.7, 1.5, lab, "d%02d")
    layouts = [("contiguous", {}, np.float32),
               ("float16", {}, np.float16),
               ("rows", {"chunks": (1, K, 16, W)}, np.float32),
               ("image", {"chunks": (1, K, H, W)}, np.float32),
               ("deflate", {"chunks": (1, K, 16, W), "compression": "gzip",
                            "shuffle": True}, np.float32)]
    for name, opts, dt in layouts:
        p = os.path.join(tmp, "disk_%s.h5" % name)
        with h5py.File(p, "w") as g:
            g.create_dataset("pred_probs", data=pr.astype(dt), **opts)
            g["image_ids"] = np.array(ids, dtype=h5py.string_dtype())
        ref = os.path.join(tmp, "disk_%s_ref" % name)
        if not run("from_disk/%s" % name, ref, lab, p, ["--top", "3"]):
            continue
        for threads in ("1", "2"):
            fd = os.open(p, os.O_RDONLY)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            os.close(fd)
            out = os.path.join(tmp, "disk_%s_%s" % (name, threads))
            if not run("from_disk/%s/%s" % (name, threads), out, lab, p,
                       ["--top", "3", "--band-size", "64K",
                        "--threads", threads]):
                continue
            same("from_disk/%s/%s" % (name, threads), ref, out)
            got = [json.load(open(os.path.join(d, "report.json")))["run"]
                   ["bytes_read"] for d in (ref, out)]
            tally.ok("from_disk/%s/%s_bytes" % (name, threads),
                     got[0] == got[1], "bytes read %s" % got)


def passed_one():
    tally.passed += 1


def in_tmp(check, *args):
    """Runs check(*args, tmp) in a temporary folder of its own."""
    tmp = tempfile.mkdtemp(prefix="segaudit_formats_")
    try:
        check(*args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    cases = sorted(d for d in os.listdir(GOLDEN)
                   if os.path.isfile(os.path.join(GOLDEN, d, "expected.json")))
    for c in cases:
        in_tmp(case, os.path.join(GOLDEN, c))
    for check in (odd_shapes, mixed_sizes, kept_maps, large_chunks, from_disk,
                  errors):
        in_tmp(check)
    finish()


main()
