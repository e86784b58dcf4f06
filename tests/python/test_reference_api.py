"""The reference's segmentation API on the engine: every golden case
through find_label_issues and get_label_quality_scores, in each element
type that holds the stored values exactly, issues_from_scores, the
summaries, and the reference's documented errors."""
import numpy as np
import pytest

import segaudit
from segaudit import filter as sfilter, rank, summary
from conftest import case_names, close

WIDER = {"float16": ["float16", "float32", "float64"],
         "float32": ["float32", "float64"], "float64": ["float64"]}


def engine_kwargs(c):
    return {"ignore_index": c.ignore} if c.ignore else {}


@pytest.mark.parametrize("name", case_names())
def test_find_label_issues(cases, name):
    c = cases[name]
    want = c.masks()
    for dt in WIDER[c.probs.dtype.name]:
        got = segaudit.find_label_issues(
            c.labels, c.probs.astype(dt), downsample=c.downsample,
            verbose=False, **engine_kwargs(c))
        assert got.dtype == bool and got.shape == c.labels.shape
        assert np.array_equal(got, want), f"{name} as {dt}"
        assert got.sum(axis=(1, 2)).tolist() == c.exp["issues_per_image"]


@pytest.mark.parametrize("name", case_names())
def test_get_label_quality_scores(cases, name):
    c = cases[name]
    for dt in WIDER[c.probs.dtype.name]:
        p = c.probs.astype(dt)
        img, pix = segaudit.get_label_quality_scores(
            c.labels, p, temperature=c.temperature, verbose=False,
            **engine_kwargs(c))
        assert img.shape == (len(c.ids),) and pix.shape == c.labels.shape
        assert pix.dtype == np.float64
        assert close(img, c.exp["softmin"], 1e-9), f"{name} as {dt}"
        # pixel scores: P[label], NaN where the label is ignored
        lab = c.labels.astype(np.int64)
        void = np.isin(lab, c.ignore)
        safe = np.where(void, 0, lab)
        want = np.take_along_axis(p, safe[:, None], axis=1)[:, 0]
        assert np.array_equal(pix[~void], want[~void].astype(np.float64))
        assert np.isnan(pix[void]).all()

        img2, pix2 = segaudit.get_label_quality_scores(
            c.labels, p, method="num_pixel_issues", downsample=c.downsample,
            verbose=False, **engine_kwargs(c))
        assert close(img2, c.exp["num_pixel_issues_score"], 1e-9)
        # the reference's masked sum: P[label] in the predictions' type
        assert pix2.dtype == p.dtype
        assert np.array_equal(pix2[~void], want[~void])


def test_module_names_match_the_reference():
    assert sfilter.find_label_issues is segaudit.find_label_issues
    assert rank.get_label_quality_scores is segaudit.get_label_quality_scores
    assert rank.issues_from_scores is segaudit.issues_from_scores
    assert summary.common_label_issues is segaudit.common_label_issues
    assert summary.filter_by_class is segaudit.filter_by_class


def test_keyword_only_and_defaults():
    import inspect

    sig = inspect.signature(segaudit.find_label_issues)
    assert [p.kind for p in sig.parameters.values()][:2] == [
        inspect.Parameter.POSITIONAL_OR_KEYWORD] * 2
    for k, v in (("batch_size", None), ("n_jobs", None), ("verbose", True)):
        assert sig.parameters[k].kind == inspect.Parameter.KEYWORD_ONLY
        assert sig.parameters[k].default == v
    sig = inspect.signature(segaudit.get_label_quality_scores)
    assert sig.parameters["method"].default == "softmin"
    assert sig.parameters["method"].kind == inspect.Parameter.KEYWORD_ONLY
    sig = inspect.signature(segaudit.issues_from_scores)
    assert sig.parameters["threshold"].default == 0.1


def test_issues_from_scores(cases):
    c = cases["scenes_k19"]
    img, pix = segaudit.get_label_quality_scores(c.labels, c.probs,
                                                 verbose=False)
    assert np.array_equal(segaudit.issues_from_scores(img, pix, 0.3),
                          pix < 0.3)
    got = segaudit.issues_from_scores(img, threshold=0.3)
    below = np.flatnonzero(img < 0.3)
    assert sorted(got.tolist()) == below.tolist()
    assert np.all(np.diff(img[got]) >= 0)  # lowest score first
    # ties in image order
    tied = np.array([0.2, 0.05, 0.2, 0.9, 0.05])
    assert segaudit.issues_from_scores(tied, threshold=0.5).tolist() == [
        1, 4, 0, 2]
    with pytest.raises(ValueError, match="pixel_scores must be provided"):
        segaudit.issues_from_scores(None)
    for t in (-0.1, 1.5):
        with pytest.raises(ValueError, match="threshold must be between 0 and 1"):
            segaudit.issues_from_scores(img, pix, t)


@pytest.mark.parametrize("name", ["scenes_k19", "three_image", "dirichlet_k3"])
def test_common_label_issues(cases, name, capsys):
    c = cases[name]
    issues = c.masks()
    df = segaudit.common_label_issues(issues, c.labels, c.probs,
                                      top=10**6, verbose=False)
    assert list(df.columns) == ["given_label", "predicted_label",
                                "num_pixel_issues"]
    want = [[str(g), str(p), n] for g, p, n in c.exp["issue_pairs"]]
    assert df.values.tolist() == want
    # top, exclude, class names, and the printed lines: the expected pairs
    # without the excluded predicted class, the first two of them
    K = c.probs.shape[1]
    names = [f"class{k}" for k in range(K)]
    first = c.exp["issue_pairs"][0]
    df = segaudit.common_label_issues(issues, c.labels, c.probs,
                                      class_names=names, exclude=[first[1]],
                                      top=2, verbose=True)
    want = [[names[g], names[p], n] for g, p, n in c.exp["issue_pairs"]
            if p != first[1]][:2]
    assert want and df.values.tolist() == want
    out = capsys.readouterr().out
    assert out.count("is potentially mislabeled as class for") == len(want)
    assert (f"Class '{want[0][0]}' is potentially mislabeled as class for "
            f"'{want[0][1]}' {want[0][2]} pixels in the dataset") in out


def test_filter_by_class(cases):
    c = cases["scenes_k19"]
    issues = c.masks()
    pred = c.probs.argmax(1)
    for k in (0, 11, 13):
        got = segaudit.filter_by_class(k, issues, c.labels, c.probs)
        want = issues & ((c.labels == k) | (pred == k))
        assert np.array_equal(got, want)


def test_reference_errors(cases):
    c = cases["three_image"]
    lab, p = c.labels, c.probs
    with pytest.raises(ValueError, match=r"labels must have a shape of \(N, H, W\)"):
        segaudit.find_label_issues(lab[0], p, verbose=False)
    with pytest.raises(ValueError, match=r"pred_probs must have a shape of \(N, K, H, W\)"):
        segaudit.find_label_issues(lab, p[0], verbose=False)
    with pytest.raises(ValueError, match="matching dimensions for N, H, and W"):
        segaudit.find_label_issues(lab[:2], p, verbose=False)
    with pytest.raises(ValueError, match="matching dimensions for N, H, and W"):
        segaudit.get_label_quality_scores(lab, p[:, :, :-1], verbose=False)
    with pytest.raises(ValueError, match="Batch size must be greater than 0, got 0"):
        segaudit.find_label_issues(lab, p, batch_size=0, verbose=False)
    h, w = lab.shape[1:]
    bad = next(d for d in range(2, 100) if h % d or w % d)
    with pytest.raises(ValueError, match=f"Height {h} and width {w} not "
                       f"divisible by downsample value of {bad}"):
        segaudit.find_label_issues(lab, p, downsample=bad, verbose=False)
    with pytest.raises(Exception, match="Invalid Method: Specify correct method"):
        segaudit.get_label_quality_scores(lab, p, method="median", verbose=False)
    with pytest.raises(Exception, match="temperature cannot be zero or None"):
        segaudit.get_label_quality_scores(lab, p, temperature=0, verbose=False)
    with pytest.warns(UserWarning, match="will not downsample for method softmin"):
        segaudit.get_label_quality_scores(lab, p, downsample=2, verbose=False)
    with pytest.raises(TypeError, match="downsample must be an integer"):
        segaudit.find_label_issues(lab, p, downsample=2.5, verbose=False)
    # ignore_index=None: nothing ignored
    assert np.array_equal(
        segaudit.find_label_issues(lab, p, ignore_index=None, verbose=False),
        c.masks())
    # segaudit's own: a misspelt keyword is refused, not ignored
    with pytest.raises(TypeError, match="unexpected keyword argument 'downsampel'"):
        segaudit.find_label_issues(lab, p, downsampel=2, verbose=False)
    # values the engine refuses: named by image, row and column
    bad_lab = lab.copy()
    bad_lab[1, 2, 3] = 7
    with pytest.raises(ValueError, match=r"labels: image '1' \(index 1\): "
                       r"label 7 at \(row 2, col 3\)"):
        segaudit.find_label_issues(bad_lab, p, verbose=False)
    nan = p.copy()
    nan[2, 0, 1, 1] = np.nan
    with pytest.raises(segaudit.InputError, match="pred_probs: image '2'.*NaN"):
        segaudit.find_label_issues(lab, nan, verbose=False)
    with pytest.raises(TypeError, match="pred_probs must be float16"):
        segaudit.find_label_issues(lab, p.astype(np.int32), verbose=False)
    with pytest.raises(ValueError, match="other byte order"):
        segaudit.find_label_issues(lab, p.astype(p.dtype.newbyteorder(">")),
                                   verbose=False)


def test_progress_bar(cases, capfd):
    c = cases["scenes_k19"]
    segaudit.find_label_issues(c.labels, c.probs, verbose=True)
    err = capfd.readouterr().err
    assert "segaudit: scoring" in err and f"{len(c.ids)}/{len(c.ids)} images" in err
    segaudit.find_label_issues(c.labels, c.probs, verbose=False)
    assert capfd.readouterr().err == ""
