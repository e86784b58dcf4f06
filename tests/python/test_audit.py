"""segaudit.audit(): every golden case from its files (void labels
included), the report folder it writes against the command-line
program's, arrays against files, the result tables, and bad input."""
import os
import subprocess

import numpy as np
import pytest

import segaudit
from conftest import case_names, close
from reports import outputs

EXE = os.environ.get("SEGAUDIT_EXE")


def case_options(c):
    o = {"temperature": c.temperature, "downsample": c.downsample}
    if c.ignore:
        o["ignore_index"] = c.ignore
    return o


def cli_options(o):
    args = ["--temperature", repr(o["temperature"]), "--downsample",
            str(o["downsample"])]
    for v in o.get("ignore_index", []):
        args += ["--ignore-index", str(v)]
    return args


@pytest.mark.parametrize("name", case_names())
def test_golden_files(cases, name, tmp_path):
    c = cases[name]
    o = case_options(c)
    r = segaudit.audit(os.path.join(c.dir, "labels"),
                       os.path.join(c.dir, "probs.h5"), out=tmp_path / "py",
                       masks=True, **o)
    e = c.exp
    assert r.images["id"].tolist() == c.ids
    assert close(r.images["softmin"], e["softmin"], 1e-9)
    assert close(r.images["num_pixel_issues"], e["num_pixel_issues_score"],
                 1e-9)
    assert r.images["issue_pixels"].tolist() == e["issues_per_image"]
    assert r.info["n_issues"] == e["num_issues_k"]
    tol = 1e-3 if e["dtype"] == "float16" else 1e-6
    assert np.allclose(r.classes["threshold"], e["confident_thresholds"],
                       rtol=tol, atol=0)
    assert [list(map(int, p)) for p in r.pairs.tolist()] == e["issue_pairs"]
    for i, id_ in enumerate(c.ids):
        from pngio import read_png
        got = read_png(str(tmp_path / "py" / "masks" / (id_ + ".png"))) != 0
        assert np.array_equal(got, c.mask(i)), id_
    # ranking: the images by rank
    assert (r.images["rank"][r.ranking] == np.arange(1, len(c.ids) + 1)).all()
    if EXE:
        subprocess.run([EXE, "audit", "--labels", os.path.join(c.dir, "labels"),
                        "--probs", os.path.join(c.dir, "probs.h5"), "--out",
                        str(tmp_path / "cli"), "--masks", "-q"] +
                       cli_options(o), check=True)
        a = outputs(str(tmp_path / "cli"), page=True)
        b = outputs(str(tmp_path / "py"), page=True)
        assert sorted(a) == sorted(b)
        assert [f for f in a if a[f] != b[f]] == []


@pytest.mark.parametrize("name", ["scenes_k19", "void_255", "downsample4"])
def test_arrays_audit_as_files(cases, name):
    c = cases[name]
    o = case_options(c)
    f = segaudit.audit(os.path.join(c.dir, "labels"),
                       os.path.join(c.dir, "probs.h5"), **o)
    a = segaudit.audit(c.labels, c.probs, ids=c.ids, **o)
    for t in ("images", "classes", "pairs", "regions"):
        x, y = getattr(f, t), getattr(a, t)
        assert len(x) == len(y), t
        for n in x.dtype.names:
            if n == "label_digest":
                continue  # a PNG's rows and an array's: other digests
            assert np.array_equal(x[n], y[n],
                                  equal_nan=x[n].dtype.kind == "f"), (t, n)
    assert a.info["ids_source"] == "given"
    b = segaudit.audit(c.labels, c.probs, **o)
    assert b.images["id"].tolist() == [str(i) for i in range(len(c.ids))]


def test_result_tables(cases):
    c = cases["scenes_k19"]
    r = segaudit.audit(c.labels, c.probs, classes="cityscapes")
    assert r.classes["name"][0] == "road"
    assert len(r.regions) > 0 and r.regions["area"].min() >= 1
    assert set(r.regions["image"]) <= set(range(len(c.ids)))
    df = r.to_pandas()
    assert list(df["softmin"]) == list(r.images["softmin"])
    for t in ("classes", "pairs", "regions"):
        assert len(r.to_pandas(t)) == len(getattr(r, t))
    with pytest.raises(ValueError, match="table must be one of"):
        r.to_pandas("nope")
    assert "issue pixels" in repr(r)


def test_flag(cases):
    """The flagged images are those above the run's threshold, by the
    rule asked for; "none" flags nothing; a bad rule is refused."""
    c = cases["scenes_k19"]
    r = segaudit.audit(c.labels, c.probs)
    im, t = r.images, r.info["flag_threshold"]
    assert r.info["flag_rule"] == "mass" and t is not None
    assert list(im["flagged"]) == list(im["region_mass"] > t)
    assert r.info["flagged_images"] == im["flagged"].sum() > 0
    a = segaudit.audit(c.labels, c.probs, flag_rule="area")
    ta = a.info["flag_threshold"]
    assert list(a.images["flagged"]) == list(a.images["largest_region"] > ta)
    n = segaudit.audit(c.labels, c.probs, flag_rule="none")
    assert n.info["flag_threshold"] is None and not n.images["flagged"].any()
    with pytest.raises(ValueError, match="flag_rule must be one of"):
        segaudit.audit(c.labels, c.probs, flag_rule="big")
    # the listing's least area: chosen from the data by default ("auto")
    one = segaudit.audit(c.labels, c.probs, min_region_area=1)
    auto = segaudit.audit(c.labels, c.probs, min_region_area="auto")
    areas = np.sort(one.regions["area"])
    want = int(areas[(len(areas) + 1) // 2 - 1]) + 1
    assert (auto.regions["area"] >= want).all()
    assert len(auto.regions) == (areas >= want).sum() < len(areas)
    assert list(auto.images["regions"]) == list(one.images["regions"])


def test_truth_and_report_written_later(cases, tmp_path):
    c = cases["scenes_k19"]
    truth = tmp_path / "truth.csv"
    truth.write_text("image,mislabeled\n" + "".join(
        f"{i},{int(n % 2 == 0)}\n" for n, i in enumerate(c.ids)))
    r = segaudit.audit(os.path.join(c.dir, "labels"),
                       os.path.join(c.dir, "probs.h5"), truth=truth)
    assert r.evaluation["score"][0] == "softmin"
    assert r.evaluation["positives"][0] == 3
    r.write_report(tmp_path / "later")
    for f in ("images.csv", "classes.csv", "pairs.csv", "report.json",
              "report.html", "evaluation.csv"):
        assert (tmp_path / "later" / f).is_file(), f


def test_compare_and_top(cases, tmp_path):
    c = cases["scenes_k19"]
    lab = os.path.join(c.dir, "labels")
    probs = os.path.join(c.dir, "probs.h5")
    segaudit.audit(lab, probs, out=tmp_path / "old", top="all")
    assert len(os.listdir(tmp_path / "old" / "overlays")) == len(c.ids)
    r = segaudit.audit(lab, probs, out=tmp_path / "new", top=0,
                       compare=tmp_path / "old")
    assert r.changes["relabeled"] == 0 and r.changes["images_new"] == len(c.ids)
    assert (tmp_path / "new" / "changes.csv").is_file()
    assert not (tmp_path / "new" / "overlays").exists()
    assert not [n for n in os.listdir(tmp_path / "new") if n.startswith(".")]


def test_dry_run(cases):
    c = cases["scenes_k19"]
    r = segaudit.audit(os.path.join(c.dir, "labels"),
                       os.path.join(c.dir, "probs.h5"), dry_run=True)
    assert r.info["n_images"] == len(c.ids)
    assert r.images["id"].tolist() == c.ids and r.classes is None
    assert not r.images["skipped"].any()


def test_bad_input(cases, tmp_path):
    c = cases["scenes_k19"]
    lab, probs = os.path.join(c.dir, "labels"), os.path.join(c.dir, "probs.h5")
    with pytest.raises(segaudit.InputError, match="no-such.h5"):
        segaudit.audit(lab, str(tmp_path / "no-such.h5"))
    with pytest.raises(ValueError, match="no such label folder"):
        segaudit.audit(str(tmp_path / "nothing"), probs)
    with pytest.raises(segaudit.SettingError, match="temperature must be a "
                       "positive number"):
        segaudit.audit(lab, probs, temperature=-1)
    with pytest.raises(ValueError, match="embedded null character"):
        segaudit.audit(lab + "\0x", probs)
    with pytest.raises(TypeError, match="unexpected keyword argument 'topp'"):
        segaudit.audit(lab, probs, topp=3)
    with pytest.raises(ValueError, match="rank_by must be one of"):
        segaudit.audit(lab, probs, rank_by="best")
    with pytest.raises(ValueError, match="compare needs out"):
        segaudit.audit(lab, probs, compare=tmp_path)
    with pytest.raises(ValueError, match="unknown preset 'kitti'"):
        segaudit.audit(lab, probs, classes="kitti")
    with pytest.raises(segaudit.SettingError, match="3 class names"):
        segaudit.audit(lab, probs, class_names=["a", "b", "c"])
    # a failed run leaves the report folder as it was, without staging
    out = tmp_path / "out"
    segaudit.audit(lab, probs, out=out, top=0)
    before = sorted(os.listdir(out))
    with pytest.raises(segaudit.InputError):
        segaudit.audit(lab, str(tmp_path / "no-such.h5"), out=out)
    assert sorted(os.listdir(out)) == before
