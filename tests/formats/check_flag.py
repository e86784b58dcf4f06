#!/usr/bin/python3
"""The flag, checked from the report's own files against the rule as the
README states it, recomputed here: the median and the lower half's spread
of ln(1 + value), the (1 - 1/m) normal quantile (Python's NormalDist), the
images above the threshold; region_mass from regions.csv; the flag's and
every score's precision, recall and F1 in evaluation.csv from images.csv;
the summary line; --flag-rule area and none; a bad rule.  Then
--truth-masks: the pixel and region rows of evaluation.csv recomputed
from the issue masks (--masks) and synth's truth/ masks, with regions
found here by a flood fill (8-connectivity) and matched by IoU >= 0.3; the
listing's least area chosen from the data (one more than the median area
of all regions); a missing mask.

    check_flag.py SEGAUDIT
"""
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
from statistics import NormalDist

from pngio import read_png
from reports import rows
from tally import finish, ok

SEG = sys.argv[1]


def seg(*args):
    return subprocess.run([SEG] + list(args), capture_output=True, text=True)


def fit(values):
    """The README's rule: (threshold, center, spread, z), or None."""
    v = sorted(math.log1p(x) for x in values if x > 0)
    m = len(v)
    if m < 3:
        return None
    c = v[m // 2] if m % 2 else 0.5 * (v[m // 2 - 1] + v[m // 2])
    low = [x for x in v if x <= c]
    s = math.sqrt(sum((x - c) ** 2 for x in low) / len(low))
    if s == 0:
        return None
    z = -NormalDist().inv_cdf(1 / m)
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


def components(mask):
    """{pixel: component} (8-connectivity) and [areas] of a 2-D 0/1 list
    of lists, components numbered in raster order from 0."""
    h, w = len(mask), len(mask[0])
    lab, areas = {}, []
    for y in range(h):
        for x in range(w):
            if not mask[y][x] or (y, x) in lab:
                continue
            k, stack, n = len(areas), [(y, x)], 0
            lab[(y, x)] = k
            while stack:
                cy, cx = stack.pop()
                n += 1
                for dy in (-1, 0, 1):
                    for dx in (-1, 0, 1):
                        ny, nx = cy + dy, cx + dx
                        if (0 <= ny < h and 0 <= nx < w and mask[ny][nx]
                                and (ny, nx) not in lab):
                            lab[(ny, nx)] = k
                            stack.append((ny, nx))
            areas.append(n)
    return lab, areas


def check_masks(tmp, d, common):
    out = os.path.join(tmp, "masks")
    p = seg("audit", *common, "--out", out, "--masks", "--truth-masks",
            os.path.join(d, "truth"))
    ok("truth masks: audit", p.returncode == 0, p.stderr)
    if p.returncode:
        return
    im = rows(os.path.join(out, "images.csv"))
    rep = json.load(open(os.path.join(out, "report.json")))
    # without --truth, an image is mislabeled when its mask holds an error
    truth = {r["image"]: r["mislabeled"] == "1"
             for r in rows(os.path.join(d, "truth.csv"))}
    ok("truth masks: image truth from the masks",
       all((r["mislabeled"] == "1") == truth[r["image"]] for r in im),
       [(r["image"], r["mislabeled"]) for r in im][:5])

    # the listing's least area: one more than the lower median of all
    # regions' areas (a run listing every region gives them all)
    allr = os.path.join(tmp, "all-regions")
    p = seg("audit", *common, "--out", allr, "--min-region-area", "1")
    areas = sorted(int(g["area"]) for g in
                   rows(os.path.join(allr, "regions.csv")))
    want_min = areas[(len(areas) + 1) // 2 - 1] + 1
    ok("auto min region area", rep["parameters"]["min_region_area"] ==
       want_min and rep["parameters"]["min_region_area_auto"] is True,
       (rep["parameters"], want_min))
    listed = rows(os.path.join(out, "regions.csv"))
    ok("listing: the regions of at least that area, counts complete",
       len(listed) == sum(a >= want_min for a in areas) and
       sum(int(r["regions"]) for r in im) == len(areas), len(listed))

    # an explicit least area is counted the same way (exactly, whatever
    # its size)
    expl = os.path.join(tmp, "masks-explicit")
    p = seg("audit", *common, "--out", expl, "--masks", "--truth-masks",
            os.path.join(d, "truth"), "--min-region-area", "5")
    ok("truth masks, explicit area: audit", p.returncode == 0, p.stderr)
    for area, folder in ((want_min, out), (5, expl)):
        check_mask_rows(d, folder, im, area)
    p = seg("audit", *common, "--out", os.path.join(tmp, "huge"),
            "--truth-masks", os.path.join(d, "truth"),
            "--min-region-area", "70000")
    huge = {e["score"]: e for e in
            rows(os.path.join(tmp, "huge", "evaluation.csv"))}
    ok("truth masks: a least area above every region lists none",
       p.returncode == 0 and huge["issue_regions"]["selected"] == "0",
       huge.get("issue_regions"))
    m = rep["evaluation"]["masks"]
    ok("truth masks: report.json", m["regions"]["regions"] == len(listed),
       m)

    # a missing mask: the run fails, naming the image and the file
    gone = os.path.join(tmp, "truth-gone")
    shutil.copytree(os.path.join(d, "truth"), gone)
    os.unlink(os.path.join(gone, im[0]["image"] + ".png"))
    p = seg("audit", *common, "--out", os.path.join(tmp, "gone"),
            "--truth-masks", gone)
    ok("truth masks: a missing mask fails", p.returncode == 1 and
       "true error mask of image '%s'" % im[0]["image"] in p.stderr and
       not os.path.exists(os.path.join(tmp, "gone", "images.csv")), p.stderr)
    p = seg("audit", *common, "--out", os.path.join(tmp, "gone-dry"),
            "--truth-masks", gone, "--dry-run")
    ok("truth masks: --dry-run finds the missing mask", p.returncode == 1 and
       im[0]["image"] in p.stderr, p.stderr)


def check_mask_rows(d, out, im, want_min):
    """evaluation.csv's pixel and region rows against a count of our own,
    for the listing's least area want_min."""
    ev = {e["score"]: e for e in rows(os.path.join(out, "evaluation.csv"))}
    rep = json.load(open(os.path.join(out, "report.json")))
    hit = issue = err = 0
    regions = matched = err_regions = found = 0
    for r in im:
        iss = read_png(os.path.join(out, "masks", r["image"] + ".png"))
        tru = read_png(os.path.join(d, "truth", r["image"] + ".png"))
        a = [[1 if v else 0 for v in row] for row in iss.tolist()]
        b = [[1 if v else 0 for v in row] for row in tru.tolist()]
        la, aa = components(a)
        lb, ab = components(b)
        inter = {}
        for px, k in la.items():
            if px in lb:
                inter[(k, lb[px])] = inter.get((k, lb[px]), 0) + 1
        hit += sum(inter.values())
        issue += sum(aa)
        err += sum(ab)
        good, best = set(), {}
        for (k, t), n in inter.items():
            if n >= 0.3 * (aa[k] + ab[t] - n):
                good.add(k)
                best[t] = max(best.get(t, 0), aa[k])
        regions += sum(1 for k in range(len(aa)) if aa[k] >= want_min)
        matched += sum(1 for k in good if aa[k] >= want_min)
        err_regions += len(ab)
        found += sum(1 for t in best if best[t] >= want_min)
    px, rg = ev["issue_pixels"], ev["issue_regions"]
    name = "truth masks (least area %d)" % want_min
    p_, r_, f_ = prf(issue, hit, err)
    ok(name + ": the pixel row", px["selected"] == str(issue) and
       px["positives"] == str(err) and same_num(px["precision"], p_) and
       same_num(px["recall"], r_) and same_num(px["f1"], f_), (px, issue, hit,
                                                                err))
    rp = matched / regions if regions else None
    rr = found / err_regions if err_regions else None
    rf = 2 * rp * rr / (rp + rr) if rp and rr else (0.0 if rp is not None
                                                     and rr is not None
                                                     else None)
    ok(name + ": the region row", rg["selected"] == str(regions) and
       rg["positives"] == str(err_regions) and same_num(rg["precision"], rp)
       and same_num(rg["recall"], rr) and same_num(rg["f1"], rf),
       (rg, regions, matched, err_regions, found))
    m = rep["evaluation"]["masks"]
    ok(name + ": report.json", m["pixels"]["hits"] == hit and
       m["regions"]["found"] == matched and
       m["regions"]["error_regions_found"] == found, m)


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
        args = common + ["--out", out, "--flag-rule", rule,
                         "--min-region-area", "1"]
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
    check_masks(tmp, d, common)
    p = seg("audit", *common, "--out", os.path.join(tmp, "bad"),
            "--flag-rule", "big")
    ok("bad rule: usage error", p.returncode == 2 and
       "--flag-rule: 'big' is not a rule" in p.stderr and
       not os.path.exists(os.path.join(tmp, "bad")), p.stderr)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as t:
        main(t)
    finish()
