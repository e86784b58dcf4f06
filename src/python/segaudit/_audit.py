"""segaudit.audit(): everything the command-line tool does, from Python."""
import os
import shutil

import numpy as np

from . import _engine, _segaudit

SCORES = _segaudit.score_names()
UPSAMPLE = {"none": 0, "bilinear": 1, "nearest": 2}
ON_ERROR = {"fail": 0, "skip": 1}
FLAG_RULES = {"mass": 0, "area": 1, "none": 2}

# options with the command line's names that map one to one onto settings
_PLAIN = {
    "label_suffix": ("label_suffix", str),
    "label_map": ("label_map", "path"),
    "probs_scale": ("probs_scale", float),
    "logits": ("logits", bool),
    "max_skipped": ("max_skipped", int),
    "allow_plugins": ("allow_plugins", bool),
    "strict": ("strict", bool),
    "truth": ("truth_path", "path"),
    "truth_masks": ("truth_masks_dir", "path"),
    "temperature": ("temperature", float),
    "downsample": ("downsample", int),
    "min_region_area": ("min_region_area", int),
    "overlay_width": ("overlay_width", int),
    "images": ("images_dir", "path"),
    "image_suffix": ("image_suffix", str),
    "dry_run": ("dry_run", bool),
    "cache": ("cache_dir", "path"),
    "cache_verify": ("cache_verify", bool),
    "threads": ("n_threads", int),
    "scratch": ("scratch_dir", "path"),
}
_OTHERS = ("out", "masks", "html", "top", "compare", "progress", "quiet",
           "ids", "ignore_index", "on_error", "class_names", "classes",
           "palette", "layout", "upsample", "downsample_labels", "rank_by",
           "flag_rule",
           "memory_limit", "band_size")


def _is_path(x):
    return isinstance(x, (str, bytes, os.PathLike))


def _lines(path):
    with open(path, encoding="utf-8") as f:
        return [ln.rstrip("\r\n") for ln in f if ln.strip()]


def _palette(value):
    if _is_path(value):
        rows = []
        for ln in _lines(value):
            parts = ln.replace(",", " ").split()
            if len(parts) != 3:
                raise ValueError(f"{os.fspath(value)}: '{ln}' is not 'r g b'")
            rows.append(tuple(int(p) for p in parts))
        return rows
    return [tuple(int(c) for c in rgb) for rgb in value]


def _settings(labels, probs, options):
    """The engine settings of audit()'s arguments."""
    s = {}
    unknown = [k for k in options if k not in _PLAIN and k not in _OTHERS]
    if unknown:
        raise TypeError(f"audit() got an unexpected keyword argument "
                        f"'{unknown[0]}'")
    if _is_path(labels):
        s["labels_dir"] = _engine.fspath(labels)
    else:
        s.update(_engine.labels_source(_engine.as_array(labels, "labels")))
    if _is_path(probs):
        p = os.fspath(probs)
        p = p.decode() if isinstance(p, bytes) else p
        if not os.path.exists(p) and ":" in p:
            p, s["probs_dataset"] = p.rsplit(":", 1)
        s["probs_path"] = _engine.fspath(p)
    else:
        s.update(_engine.probs_source(_engine.as_array(probs, "probs")))
    for k, v in options.items():
        if k in _PLAIN and v is not None and not (k == "min_region_area"
                                                  and v == "auto"):
            name, kind = _PLAIN[k]
            s[name] = (_engine.fspath(v) if kind == "path"
                       else int(v) if kind is bool else kind(v))
    o = options
    if o.get("ids") is not None:
        if _is_path(o["ids"]):
            s["ids_dataset"] = _engine.fspath(o["ids"])
        else:
            s["image_ids"] = [str(i) for i in o["ids"]]
    if o.get("ignore_index") is not None:
        s["ignore_index"] = [int(v) for v in np.atleast_1d(o["ignore_index"])]
    if o.get("on_error") is not None:
        s["on_error_skip"] = _engine.choice("on_error", o["on_error"], ON_ERROR)
    if o.get("class_names") is not None:
        cn = o["class_names"]
        s["class_names"] = _lines(cn) if _is_path(cn) else [str(c) for c in cn]
    if o.get("classes") is not None:
        if o.get("class_names") is not None:
            raise ValueError("give class_names or classes, not both")
        s["preset"] = str(o["classes"])
    if o.get("palette") is not None:
        s["palette"] = _palette(o["palette"])
    if o.get("layout") is not None:
        s["layout"] = _engine.choice("layout", o["layout"], _engine.LAYOUTS)
    if o.get("upsample") is not None:
        s["upsample"] = _engine.choice("upsample", o["upsample"], UPSAMPLE)
    if o.get("downsample_labels") is not None:
        s["downsample_labels"] = _engine.choice(
            "downsample_labels", o["downsample_labels"], _engine.DS_LABELS)
    if o.get("rank_by") is not None:
        s["rank_by"] = _engine.choice("rank_by", o["rank_by"],
                                      {n: i for i, n in enumerate(SCORES)})
    if o.get("min_region_area") == "auto":
        s["min_region_area"] = 0
    if o.get("flag_rule") is not None:
        s["flag_rule"] = _engine.choice("flag_rule", o["flag_rule"],
                                        FLAG_RULES)
    if o.get("memory_limit") is not None:
        s["memory_limit"] = _engine.size_of(o["memory_limit"], "memory_limit")
    if o.get("band_size") is not None:
        s["band_bytes"] = _engine.size_of(o["band_size"], "band_size")
    return s


class Result:
    """The results of one audit.

    info       dict: the dataset's totals (images, classes, n_issues, issue
               pixels, bytes read, timings, warnings, ...)
    images     structured array, one row per image in tensor order: id,
               index, rank (1 = most likely mislabeled), has_score, the
               scores (softmin, num_pixel_issues, mean_self_confidence,
               min_self_confidence, pixel_accuracy,
               class_balanced_accuracy, mean_iou; NaN without a score),
               issue_pixels, valid_pixels, regions, largest_region,
               region_mass (the largest sum of p̂ - s over a region),
               flagged (likely mislabeled: README, "The flag"), skipped,
               skip_reason, label_digest
    ranking    image indices, worst first
    classes    structured array per class: cls, name, labeled_pixels,
               threshold, issue_pixels_given, issue_pixels_predicted,
               images_affected
    pairs      structured array: given, predicted, issue_pixels (most
               frequent first)
    regions    structured array: image, region, area, x, y, width,
               height, given, predicted, mean_self_confidence,
               mean_predicted_prob (the listed regions of every image)
    evaluation structured array per score against the truth file, or None
    warnings   list of str

    After a dry run (dry_run=True) only info and the images' ids and
    skip reasons are set; the other tables are None.
    """

    def __init__(self, audit, dry_run=False):
        self._audit = audit
        self.dry_run = dry_run
        self.info = audit.info()
        self.warnings = self.info.pop("warnings")
        packed, ids, reasons, digests = audit.images()
        raw = _engine.table("image", packed)
        n = len(raw)
        width = max([len(i) for i in ids] + [1])
        fields = [("id", f"U{width}"), ("index", "u8"), ("rank", "u8"),
                  ("has_score", "?")]
        fields += [(name, "f8") for name in SCORES]
        fields += [("issue_pixels", "u8"), ("valid_pixels", "u8"),
                   ("regions", "u8"), ("largest_region", "u8"),
                   ("region_mass", "f8"), ("flagged", "?"),
                   ("skipped", "?"), ("skip_reason", "O"),
                   ("label_digest", "U64")]
        im = np.zeros(n, dtype=fields)
        im["id"] = ids
        for f in ("index", "rank", "issue_pixels", "valid_pixels", "regions",
                  "largest_region", "region_mass"):
            im[f] = raw[f]
        im["flagged"] = raw["flagged"] != 0
        im["has_score"] = raw["has_score"] != 0
        im["skipped"] = raw["skipped"] != 0
        for j, name in enumerate(SCORES):
            im[name] = raw["score"][:, j]
        im["skip_reason"] = reasons
        im["label_digest"] = [d or "" for d in digests]
        self.images = im
        self.ranking = self.classes = self.pairs = self.regions = None
        self.evaluation = None
        if dry_run:
            return  # the inputs were checked: no scores
        self.ranking = np.frombuffer(audit.ranking(), dtype="<u8").copy()

        packed, names = audit.classes()
        raw = _engine.table("class", packed)
        width = max([len(s) for s in names] + [1])
        cl = np.zeros(len(raw), dtype=[
            ("cls", "u4"), ("name", f"U{width}"), ("labeled_pixels", "u8"),
            ("threshold", "f8"), ("issue_pixels_given", "u8"),
            ("issue_pixels_predicted", "u8"), ("images_affected", "u8")])
        cl["cls"] = np.arange(len(raw))
        cl["name"] = names
        for f in raw.dtype.names:
            cl[f] = raw[f]
        self.classes = cl
        self.pairs = _engine.table("pair", audit.pairs()).copy()
        self.regions = _engine.table("region", audit.regions()).copy()

        ev = audit.evaluation()
        self.evaluation = None
        if ev is not None:
            truth, rows = ev
            self.truth = np.frombuffer(truth, dtype=np.uint8).astype(bool)
            nan = float("nan")
            self.evaluation = np.array(
                [(r[0], r[1], r[2], nan if r[3] is None else r[3],
                  nan if r[4] is None else r[4],
                  nan if r[5] is None else r[5], r[6]) for r in rows],
                dtype=[("score", "U32"), ("images", "u8"),
                       ("positives", "u8"), ("ap", "f8"), ("auroc", "f8"),
                       ("precision_at_p", "f8"), ("hits_at_10", "u8")])

    def __repr__(self):
        i = self.info
        return (f"<segaudit.Result: {i['n_images']} images, {i['n_classes']} "
                f"classes, {i['issue_pixels']} issue pixels in "
                f"{i['images_with_issues']} images>")

    def to_pandas(self, table="images"):
        """One table as a pandas DataFrame: "images" (by default),
        "classes", "pairs", "regions" or "evaluation"."""
        import pandas as pd

        tables = ("images", "classes", "pairs", "regions", "evaluation")
        if table not in tables:
            raise ValueError(f"table must be one of {', '.join(tables)}")
        data = getattr(self, table)
        if data is None:
            raise ValueError("no such table: a dry run scores nothing, and "
                             "evaluation needs a truth file")
        return pd.DataFrame({f: data[f] for f in data.dtype.names})

    def write_report(self, out, html=True):
        """Writes the report files (images.csv, classes.csv, pairs.csv,
        regions.csv, report.json, report.html) into the folder out
        (created if missing).  Overlays and masks are drawn during the
        audit: ask audit() for them with out=."""
        os.makedirs(out, exist_ok=True)
        self._audit.write_report(out, 3 if html else 1, None)


def _commit(stage, out):
    """Moves every entry of the staging folder into out (replacing what
    is there under the same name), then removes the stage."""
    for name in sorted(os.listdir(stage)):
        dst = os.path.join(out, name)
        if os.path.isdir(dst) and not os.path.islink(dst):
            shutil.rmtree(dst)
        os.replace(os.path.join(stage, name), dst)
    os.rmdir(stage)


def audit(labels, probs, **options):
    """Audits a dataset; returns a Result.

    labels: a folder of label PNGs, a .npy or HDF5 file ("file.h5" or
    "file.h5:/dataset"), or an (N,H,W) integer array.  probs: an HDF5 file
    ("file.h5[:/dataset]", default /pred_probs) or .npy file, or an array
    of (N,K,H,W) (or (N,H,W,K) with layout="nhwc") float16/32/64 or
    quantised uint8/uint16.  Arrays are read in place (memory maps too).

    Options have the command line's names with underscores: label_suffix,
    label_map, layout, upsample, probs_scale, ids (a dataset, a text file
    or a list of str), ignore_index, logits, on_error ("fail" or "skip"),
    max_skipped, allow_plugins, strict, class_names (a file or a list),
    classes (a preset), palette (a file or a list of (r, g, b)), truth,
    truth_masks (a folder of <id>.png true error masks),
    temperature, downsample, downsample_labels, rank_by, flag_rule ("mass",
    "area" or "none"), out (a report
    folder to write, as `segaudit audit --out` does), masks, html (True),
    min_region_area ("auto" or 0, the default: chosen from the data), top
    (overlays of the top N images, 50, or "all"),
    overlay_width, images, image_suffix, progress (a progress bar on
    stderr), quiet, compare (an earlier report folder), dry_run, cache,
    cache_verify, threads, memory_limit, scratch, band_size.
    """
    o = options
    s = _settings(labels, probs, o)
    out = o.get("out")
    stage = None
    if o.get("compare") is not None and out is None:
        raise ValueError("compare needs out (the report folder to compare "
                         "with)")
    top = o.get("top", 50)
    if out is not None and not o.get("dry_run"):
        out = os.fspath(out)
        os.makedirs(out, exist_ok=True)
        stage = os.path.join(out, f".segaudit-stage-{os.uname().nodename}-"
                                  f"{os.getpid()}")
        shutil.rmtree(stage, ignore_errors=True)
        os.mkdir(stage)
        if o.get("masks"):
            s["masks_dir"] = _engine.fspath(os.path.join(stage, "masks"))
        if top == "all" or (top or 0) > 0:
            s["overlays_dir"] = _engine.fspath(os.path.join(stage, "overlays"))
            s["overlay_top"] = 2**64 - 1 if top == "all" else int(top)
    try:
        a = _engine.run(s, bool(o.get("progress")))
        result = Result(a, bool(o.get("dry_run")))
        if stage is not None:
            a.write_report(stage, 1, None)
            if o.get("compare") is not None:
                result.changes = _segaudit.diff(os.fspath(o["compare"]),
                                                stage, stage)
            if o.get("html", True):
                a.write_report(stage, 2,
                               "overlays" if "overlays_dir" in s else None)
            _commit(stage, out)
            stage = None
    finally:
        if stage is not None:
            shutil.rmtree(stage, ignore_errors=True)
    return result
