#!/usr/bin/env python3
"""The ranking study and the flag's quality on a grid of synthetic datasets
(run by scripts/quality; see there).

For each error mix, model kind and seed: `segaudit synth`, then `segaudit
audit --truth --truth-masks`; the AP of every score the tool reports (from
evaluation.csv) and of candidate scores computed here from images.csv, the
flag's precision, recall and F1, and the issue pixels' and regions'
precision and recall against the true masks.  Prints Markdown tables and
writes them to the output file.
"""
import argparse
import csv
import os
import shutil
import subprocess
import sys
import time

MIXES = {
    "objects": "overlooked,swapped",
    "boundaries": "boundary,coarse",
    "regions": "partial,overlooked",
    "all": "all",
}
MODELS = ["standard", "sharp", "blurry", "overconfident", "weak"]
TOOL_SCORES = ["softmin", "num_pixel_issues", "mean_self_confidence",
               "min_self_confidence", "pixel_accuracy",
               "class_balanced_accuracy", "mean_iou"]


def rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def ap(images, key, truth):
    """Average precision of ranking images by key ascending (ties in image
    order, missing values last), as the tool defines it."""
    have = [r for r in images if key(r) is not None]
    ranked = sorted(have, key=lambda r: (key(r), int(r["index"])))
    ranked += sorted((r for r in images if key(r) is None),
                     key=lambda r: int(r["index"]))
    pos = sum(truth[r["image"]] for r in images)
    if not pos:
        return None
    tp, s = 0, 0.0
    for n, r in enumerate(ranked, 1):
        if truth[r["image"]]:
            tp += 1
            s += tp / n
    return s / pos


def num(v):
    return None if v == "" else float(v)


def candidates(images):
    """Candidate image scores (lower = more likely mislabeled)."""
    def rank_of(key):
        order = sorted(images, key=lambda r: (key(r), int(r["index"])))
        return {r["image"]: i for i, r in enumerate(order)}
    soft = {r["image"]: num(r["softmin"]) for r in images}
    big = 1e300
    r_soft = rank_of(lambda r: soft[r["image"]] if soft[r["image"]]
                     is not None else big)
    r_mass = rank_of(lambda r: -float(r["region_mass"]))
    return {
        "region_mass": lambda r: -float(r["region_mass"]),
        "largest_region": lambda r: -float(r["largest_region"]),
        "softmin+mass ranks": lambda r: r_soft[r["image"]] +
        r_mass[r["image"]],
    }


def cell(seg, tmp, mix, model, seed, n, size, rate):
    d = os.path.join(tmp, "%s-%s-%d" % (mix, model, seed))
    shutil.rmtree(d, ignore_errors=True)
    subprocess.run([seg, "synth", "--out", d, "--images", str(n), "--size",
                    size, "--seed", str(seed), "--error-rate", str(rate),
                    "--errors", MIXES[mix], "--model", model, "-q"],
                   check=True)
    out = os.path.join(d, "report")
    subprocess.run([seg, "audit", "--labels", os.path.join(d, "labels"),
                    "--probs", os.path.join(d, "probs.h5"), "--truth",
                    os.path.join(d, "truth.csv"), "--truth-masks",
                    os.path.join(d, "truth"), "--out", out, "--top", "0",
                    "--no-html", "-q"], check=True, stdout=subprocess.DEVNULL)
    images = rows(os.path.join(out, "images.csv"))
    truth = {r["image"]: r["mislabeled"] == "1" for r in images}
    ev = {e["score"]: e for e in rows(os.path.join(out, "evaluation.csv"))}
    res = {s: num(ev[s]["ap"]) for s in TOOL_SCORES}
    for name, key in candidates(images).items():
        res[name] = ap(images, key, truth)
    # the tool's own AP, recomputed here, must agree (a check of this
    # script's definition)
    mine = ap(images, lambda r: num(r["softmin"]), truth)
    if mine is None or abs(mine - res["softmin"]) > 1e-12:
        sys.exit("AP of softmin: %s here, %s in evaluation.csv" %
                 (mine, res["softmin"]))
    fl, px, rg = ev["flagged"], ev["issue_pixels"], ev["issue_regions"]
    other = {"flagged": int(fl["selected"]), "positives":
             int(fl["positives"]), "flag_p": num(fl["precision"]),
             "flag_r": num(fl["recall"]), "flag_f1": num(fl["f1"]),
             "px_p": num(px["precision"]), "px_r": num(px["recall"]),
             "rg_p": num(rg["precision"]), "rg_r": num(rg["recall"])}
    shutil.rmtree(d, ignore_errors=True)
    return res, other


def mean(v):
    v = [x for x in v if x is not None]
    return sum(v) / len(v) if v else None


def f(v, digits=3):
    return "–" if v is None else "%.*f" % (digits, v)


def main():
    ap_ = argparse.ArgumentParser()
    ap_.add_argument("segaudit")
    ap_.add_argument("--images", type=int, default=60)
    ap_.add_argument("--size", default="256x512")
    ap_.add_argument("--error-rate", type=float, default=0.3)
    ap_.add_argument("--seeds", default="1,2,3")
    ap_.add_argument("--models", default=",".join(MODELS))
    ap_.add_argument("--mixes", default=",".join(MIXES))
    ap_.add_argument("--work", required=True)
    ap_.add_argument("--out", required=True)
    a = ap_.parse_args()
    seeds = [int(s) for s in a.seeds.split(",")]
    models = a.models.split(",")
    mixes = a.mixes.split(",")
    os.makedirs(a.work, exist_ok=True)
    t0 = time.time()
    grid = {}
    for mix in mixes:
        for model in models:
            for seed in seeds:
                grid[(mix, model, seed)] = cell(a.segaudit, a.work, mix,
                                                model, seed, a.images,
                                                a.size, a.error_rate)
                print("  %s / %s / seed %d done (%.0f s)" %
                      (mix, model, seed, time.time() - t0), file=sys.stderr)
    scores = list(grid[next(iter(grid))][0])
    lines = []
    lines.append("Grid: %d images of %s per dataset, error rate %.2f, seeds "
                 "%s; errors: %s." % (a.images, a.size, a.error_rate,
                                      a.seeds, "; ".join(
                                          "%s = %s" % (m, MIXES[m])
                                          for m in mixes)))
    lines.append("")
    lines.append("Mean AP over the seeds, per cell (error mix / model); "
                 "best of each cell in bold:")
    lines.append("")
    short = {"softmin": "softmin", "num_pixel_issues": "npi",
             "mean_self_confidence": "mean s", "min_self_confidence":
             "min s", "pixel_accuracy": "pix acc",
             "class_balanced_accuracy": "cb acc", "mean_iou": "mIoU",
             "region_mass": "mass*", "largest_region": "largest*",
             "softmin+mass ranks": "soft+mass*"}
    lines.append("| mix / model | " + " | ".join(short[s] for s in scores)
                 + " |")
    lines.append("| --- | " + " | ".join("---:" for _ in scores) + " |")
    cellmean = {}
    for mix in mixes:
        for model in models:
            m = {s: mean([grid[(mix, model, sd)][0][s] for sd in seeds])
                 for s in scores}
            cellmean[(mix, model)] = m
            best = max(v for v in m.values() if v is not None)
            lines.append("| %s / %s | " % (mix, model) + " | ".join(
                ("**%s**" % f(m[s]) if m[s] == best else f(m[s]))
                for s in scores) + " |")
    overall = {s: mean([cellmean[c][s] for c in cellmean]) for s in scores}
    lines.append("| **mean** | " + " | ".join(f(overall[s]) for s in scores)
                 + " |")
    lines.append("")
    lines.append("\\* candidate scores computed by this script from "
                 "images.csv: mass = largest region mass (descending), "
                 "largest = largest region area (descending), soft+mass = "
                 "the sum of the softmin and mass ranks.")
    lines.append("")
    # the adoption rule
    existing = TOOL_SCORES
    best_existing = max(overall[s] for s in existing)
    verdict = []
    for s in scores:
        if s in existing:
            continue
        worst_gap = max(max(cellmean[c][t] for t in scores
                            if cellmean[c][t] is not None) -
                        cellmean[c][s] for c in cellmean)
        ok = overall[s] > best_existing and worst_gap <= 0.02
        verdict.append("%s: mean AP %s (best existing %s), at most %s below "
                       "a cell's best: %s" %
                       (short[s], f(overall[s]), f(best_existing),
                        f(worst_gap), "qualifies" if ok else
                        "does not qualify"))
    lines.append("Adoption rule (mean AP above every existing score's, "
                 "never more than 0.02 below a cell's best):")
    lines.append("")
    for v in verdict:
        lines.append("- " + v)
    lines.append("")
    lines.append("The flag and the masks, mean over the seeds (flag: "
                 "flagged images of the mislabeled; pixels and regions: "
                 "against the true error masks, regions of at least the "
                 "default listing area, IoU >= 0.3):")
    lines.append("")
    lines.append("| mix / model | flagged / mislabeled | flag precision | "
                 "flag recall | flag F1 | pixel precision | pixel recall | "
                 "region precision | region recall |")
    lines.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | "
                 "---: |")
    allo = []
    for mix in mixes:
        for model in models:
            o = [grid[(mix, model, sd)][1] for sd in seeds]
            allo += o
            lines.append("| %s / %s | %s / %s | %s | %s | %s | %s | %s | %s "
                         "| %s |" % (
                             mix, model,
                             f(mean([x["flagged"] for x in o]), 1),
                             f(mean([x["positives"] for x in o]), 1),
                             f(mean([x["flag_p"] for x in o])),
                             f(mean([x["flag_r"] for x in o])),
                             f(mean([x["flag_f1"] for x in o])),
                             f(mean([x["px_p"] for x in o])),
                             f(mean([x["px_r"] for x in o])),
                             f(mean([x["rg_p"] for x in o])),
                             f(mean([x["rg_r"] for x in o]))))
    lines.append("| **mean** | %s / %s | %s | %s | %s | %s | %s | %s | %s |"
                 % (f(mean([x["flagged"] for x in allo]), 1),
                    f(mean([x["positives"] for x in allo]), 1),
                    *(f(mean([x[k] for x in allo])) for k in
                      ("flag_p", "flag_r", "flag_f1", "px_p", "px_r",
                       "rg_p", "rg_r"))))
    lines.append("")
    lines.append("(%d datasets, %.0f s)" % (len(grid), time.time() - t0))
    text = "\n".join(lines) + "\n"
    with open(a.out, "w") as fo:
        fo.write(text)
    print(text)


if __name__ == "__main__":
    main()
