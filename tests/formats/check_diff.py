#!/usr/bin/python3
"""The relabeling loop: audit, fix some labels, audit again with --compare,
and `segaudit diff`: every number of changes.csv and class_changes.csv is
checked against the two reports' own CSV files.

    check_diff.py SEGAUDIT
"""
import os
import shutil
import subprocess
import sys
import tempfile

import h5py
import numpy as np

from pngio import write_png
from reports import rows
from tally import finish, ok

SEG = sys.argv[1]


def seg(*args):
    return subprocess.run([SEG] + list(args), capture_output=True, text=True)


def main(tmp):
    d = os.path.join(tmp, "data")
    p = seg("synth", "--out", d, "--images", "12", "--size", "64x128",
            "--seed", "3", "--error-rate", "0.5", "-q")
    ok("synth", p.returncode == 0, p.stderr)
    a, b = os.path.join(tmp, "a"), os.path.join(tmp, "b")
    p = seg("audit", "--labels", os.path.join(d, "labels"), "--probs",
            os.path.join(d, "probs.h5"), "--out", a, "-q")
    ok("audit_a", p.returncode == 0, p.stderr)

    # fix two mislabeled images: their labels become the model's argmax
    with h5py.File(os.path.join(d, "probs.h5"), "r") as f:
        probs = f["pred_probs"][()]
        ids = [i.decode() for i in f["image_ids"][()]]
    bad = [r["image"] for r in rows(os.path.join(d, "truth.csv"))
           if r["mislabeled"] == "1"][:2]
    for i in bad:
        write_png(os.path.join(d, "labels", i + ".png"),
                  probs[ids.index(i)].argmax(0).astype(np.uint8))
    p = seg("audit", "--labels", os.path.join(d, "labels"), "--probs",
            os.path.join(d, "probs.h5"), "--out", b, "--compare", a)
    ok("audit_b_compare", p.returncode == 0, p.stderr)
    ok("summary_line", "segaudit: changes: 2 relabeled images, 2 now clean "
       "and 0 still with issue pixels" in p.stderr, p.stderr)

    ch = {r["image"]: r for r in rows(os.path.join(b, "changes.csv"))}
    ia = {r["image"]: r for r in rows(os.path.join(a, "images.csv"))}
    ib = {r["image"]: r for r in rows(os.path.join(b, "images.csv"))}
    ra, rb = {}, {}
    for r in rows(os.path.join(a, "regions.csv")):
        ra[r["image"]] = ra.get(r["image"], 0) + 1
    for r in rows(os.path.join(b, "regions.csv")):
        rb[r["image"]] = rb.get(r["image"], 0) + 1
    ok("changes_all_images", sorted(ch) == sorted(ids), sorted(ch))
    for i in ids:
        c = ch[i]
        moved = ia[i]["rank"] != ib[i]["rank"] or \
            ia[i]["issue_pixels"] != ib[i]["issue_pixels"]
        want = "relabeled" if i in bad else "moved" if moved else "same"
        ok("status_" + i, c["status"] == want, "%s, expected %s" % (c["status"], want))
        ok("label_changed_" + i, c["label_changed"] == ("yes" if i in bad else "no"),
           c["label_changed"])
        for k, src in (("old_rank", ia[i]["rank"]), ("new_rank", ib[i]["rank"]),
                       ("old_issue_pixels", ia[i]["issue_pixels"]),
                       ("new_issue_pixels", ib[i]["issue_pixels"]),
                       ("old_score", ia[i]["softmin"]), ("new_score", ib[i]["softmin"])):
            ok("%s_%s" % (k, i), c[k] == src, "%s, images.csv says %s" % (c[k], src))
        if i in bad:
            ok("fixed_" + i, c["new_issue_pixels"] == "0" and
               int(c["regions_fixed"]) == ra.get(i, 0) and c["regions_kept"] == "0",
               str(c))
        ok("kept_" + i, int(c["regions_kept"]) + int(c["regions_new"]) == rb.get(i, 0),
           str(c))
    # new rank order
    ranks = [int(r["new_rank"]) for r in rows(os.path.join(b, "changes.csv"))]
    ok("changes_order", ranks == sorted(ranks), ranks)

    cls = rows(os.path.join(b, "class_changes.csv"))
    ca, cb = rows(os.path.join(a, "classes.csv")), rows(os.path.join(b, "classes.csv"))
    ok("class_rows", len(cls) == len(cb), len(cls))
    for k, r in enumerate(cls):
        ok("threshold_%d" % k, r["old_threshold"] == ca[k]["threshold"] and
           r["new_threshold"] == cb[k]["threshold"], str(r))

    # the page shows the comparison; the command gives the same files
    html = open(os.path.join(b, "report.html")).read()
    ok("html_changes", '"relabeled_clean": 2' in html or '"relabeled_clean":2' in html,
       "report.html lacks the changes")
    dd = os.path.join(tmp, "d")
    p = seg("diff", a, b, "--out", dd)
    ok("diff_command", p.returncode == 0 and
       open(os.path.join(dd, "changes.csv")).read() ==
       open(os.path.join(b, "changes.csv")).read() and
       open(os.path.join(dd, "class_changes.csv")).read() ==
       open(os.path.join(b, "class_changes.csv")).read(), p.stderr)

    # a threshold of exactly 1 is written "1" (an integer in JSON)
    import json
    rj = os.path.join(b, "report.json")
    r = json.load(open(rj))
    r["classes"][0]["threshold"] = 1
    json.dump(r, open(rj, "w"))
    p = seg("diff", a, b, "--out", os.path.join(tmp, "d1"), "-q")
    c0 = rows(os.path.join(tmp, "d1", "class_changes.csv"))[0]
    ok("threshold_one", p.returncode == 0 and c0["new_threshold"] == "1", str(c0))

    # images only in one report
    d2 = os.path.join(tmp, "data2")
    seg("synth", "--out", d2, "--images", "14", "--size", "64x128", "--seed", "3",
        "--error-rate", "0.5", "-q")
    c2 = os.path.join(tmp, "c")
    seg("audit", "--labels", os.path.join(d2, "labels"), "--probs",
        os.path.join(d2, "probs.h5"), "--out", c2, "-q")
    p = seg("diff", a, c2, "--out", os.path.join(tmp, "d2"))
    st = [r["status"] for r in rows(os.path.join(tmp, "d2", "changes.csv"))]
    ok("diff_added", p.returncode == 0 and st.count("added") == 2 and
       "2 images added, 0 removed" in p.stderr, p.stderr + str(st))

    # bad input
    p = seg("diff", a, os.path.join(tmp, "nothing"), "--out", os.path.join(tmp, "d3"))
    ok("diff_missing", p.returncode == 1 and "nothing/report.json" in p.stderr and
       not os.path.exists(os.path.join(tmp, "d3", "changes.csv")), p.stderr)
    p = seg("diff", a, d, "--out", os.path.join(tmp, "d4"))
    ok("diff_not_a_report", p.returncode == 1 and "report.json" in p.stderr, p.stderr)
    p = seg("diff", a, "--out", os.path.join(tmp, "d5"))
    ok("diff_usage", p.returncode == 2 and "two report folders" in p.stderr, p.stderr)
    p = seg("audit", "--labels", os.path.join(d, "labels"), "--probs",
            os.path.join(d, "probs.h5"), "--out", os.path.join(tmp, "e"),
            "--compare", os.path.join(tmp, "nothing"), "-q")
    ok("compare_missing", p.returncode == 1 and "nothing/report.json" in p.stderr and
       not os.path.exists(os.path.join(tmp, "e", "report.json")), p.stderr)


tmp = tempfile.mkdtemp(prefix="segaudit_diff_")
try:
    main(tmp)
finally:
    shutil.rmtree(tmp, ignore_errors=True)
finish()
