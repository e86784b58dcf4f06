#!/usr/bin/python3
"""The flag, checked from the report's own files against the rule as the
README states it, recomputed here: the median and the lower half's spread
of ln(1 + value), the (1 - 1/m) normal quantile (Python's NormalDist), the
images above the threshold; region_mass from regions.csv; the flag's and
every score's precision, recall and F1 in evaluation.csv from images.csv;
the summary line; --flag-rule area and none; a bad rule.

    check_flag.py SEGAUDIT
"""
import csv
import json
import math
import os
import subprocess
import sys
import tempfile
from statistics import NormalDist

from tally import finish, ok

SEG = sys.argv[1]


def seg(*args):
    return subprocess.run([SEG] + list(args), capture_output=True, text=True)


def rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def fit(values):
    """The README's rule: (threshold, center, spread, z), or None."""
    v = sorted(math.log1p(max(x, 0.0)) for x in values)
    m = len(v)
    if m < 3:
        return None
    c = v[m // 2] if m % 2 else 0.5 * (v[m // 2 - 1] + v[m // 2])
    low = [x for x in v if x <= c]
    s = math.sqrt(sum((x - c) ** 2 for x in low) / len(low))
    z = NormalDist().inv_cdf(1 - 1 / m)
    return math.expm1(c + z * s), c, s, z


def close(a, b, rel=1e-9):
    return abs(a - b) <= rel * max(1.0, abs(a), abs(b))


def prf(selected, hits, positives):
    p = hits / selected if selected else None
    r = hits / positives if positives else None
    f = None
    if p is not None and r is not None:
        f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f


def same_num(text, want):
    if want is None:
        return text == ""
    return text != "" and close(float(text), want, 1e-12)


def check_run(name, out, rule, stderr, truth):
    im = rows(os.path.join(out, "images.csv"))
    rep = json.load(open(os.path.join(out, "report.json")))
    fl = rep["flag"]
    flagged = [r["image"] for r in im if r["flagged"] == "1"]
    ok(name + ": flagged_images = images.csv",
       rep["flagged_images"] == len(flagged), (rep["flagged_images"], flagged))
    ok(name + ": rule in report.json", fl["rule"] == rule and
       rep["parameters"]["flag_rule"] == rule, fl)
    if rule == "none":
        ok(name + ": nothing flagged, no threshold",
           not flagged and fl["threshold"] is None, fl)
        ok(name + ": no flag line", "likely mislabeled" not in stderr, stderr)
        return
    ok(name + ": summary line", "%d of %d images are likely mislabeled"
       % (len(flagged), len(im)) in stderr, stderr)

    # region_mass: the largest area * (mean p̂ - mean s) of the image's
    # regions (every region is listed at the default --min-region-area)
    mass = {r["image"]: 0.0 for r in im}
    for g in rows(os.path.join(out, "regions.csv")):
        m = int(g["area"]) * (float(g["mean_predicted_prob"]) -
                              float(g["mean_self_confidence"]))
        mass[g["image"]] = max(mass[g["image"]], m)
    ok(name + ": region_mass = regions.csv", all(
        close(float(r["region_mass"]), mass[r["image"]], 1e-12) for r in im),
        [(r["image"], r["region_mass"], mass[r["image"]]) for r in im][:5])

    col = "region_mass" if rule == "mass" else "largest_region"
    scored = [r for r in im if r["softmin"] != ""]
    want = fit([float(r[col]) for r in scored])
    ok(name + ": threshold, center, spread and z as the README says",
       want is not None and all(close(fl[k], w) for k, w in
                                zip(("threshold", "center", "spread", "z"),
                                    want)), (fl, want))
    if want:
        ok(name + ": flagged = above the threshold",
           [r["image"] for r in scored if float(r[col]) > fl["threshold"]]
           == flagged, flagged)
        ok(name + ": some flagged, not all", 0 < len(flagged) < len(im),
           len(flagged))
    if not truth:
        return

    mis = {r["image"]: r["mislabeled"] == "1" for r in im}
    pos = sum(mis.values())
    ev = rows(os.path.join(out, "evaluation.csv"))
    last = ev[-1]
    p, r, f = prf(len(flagged), sum(mis[i] for i in flagged), pos)
    ok(name + ": the flag's row", last["score"] == "flagged" and
       last["selected"] == str(len(flagged)) and same_num(last["precision"], p)
       and same_num(last["recall"], r) and same_num(last["f1"], f), last)
    order = {r["image"]: int(r["index"]) for r in im}
    for e in ev[:-1]:
        sc = e["score"]
        have = [x for x in im if x[sc] != ""]
        ranked = sorted(have, key=lambda x: (float(x[sc]), order[x["image"]]))
        ranked += sorted((x for x in im if x[sc] == ""),
                         key=lambda x: order[x["image"]])
        first = ranked[:len(flagged)]
        p, r, f = prf(len(first), sum(mis[x["image"]] for x in first), pos)
        ok(name + ": " + sc + " at the flag's budget",
           e["selected"] == str(len(flagged)) and same_num(e["precision"], p)
           and same_num(e["recall"], r) and same_num(e["f1"], f), (e, p, r, f))


def main(tmp):
    d = os.path.join(tmp, "data")
    p = seg("synth", "--out", d, "--images", "60", "--size", "192x384",
            "--seed", "5", "--error-rate", "0.3", "-q")
    ok("synth", p.returncode == 0, p.stderr)
    common = ["--labels", os.path.join(d, "labels"), "--probs",
              os.path.join(d, "probs.h5"), "--top", "0", "--no-html"]
    for rule, truth in (("mass", True), ("area", True), ("none", True),
                        ("mass", False)):
        out = os.path.join(tmp, "out-%s-%d" % (rule, truth))
        args = common + ["--out", out, "--flag-rule", rule]
        if truth:
            args += ["--truth", os.path.join(d, "truth.csv")]
        p = seg("audit", *args)
        name = "%s%s" % (rule, " with truth" if truth else "")
        ok(name + ": audit", p.returncode == 0, p.stderr)
        if p.returncode != 0:
            continue
        check_run(name, out, rule, p.stderr, truth)
    # the default rule is mass, and every score's header row is unchanged
    out = os.path.join(tmp, "default")
    p = seg("audit", *common, "--out", out)
    ok("default rule is mass", p.returncode == 0 and
       json.load(open(os.path.join(out, "report.json")))["flag"]["rule"]
       == "mass", p.stderr)
    p = seg("audit", *common, "--out", os.path.join(tmp, "bad"),
            "--flag-rule", "big")
    ok("bad rule: usage error", p.returncode == 2 and
       "--flag-rule: 'big' is not a rule" in p.stderr and
       not os.path.exists(os.path.join(tmp, "bad")), p.stderr)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as t:
        main(t)
    finish()
