"""Summaries of the issues found (the reference's segmentation.summary
module).  pandas is imported by common_label_issues only."""
from typing import List, Optional

import numpy as np

from . import _engine


def _argmax_image(pred_probs, n):
    """The predicted class of every pixel of image n (lowest class on
    ties), one image at a time so that memory stays bounded."""
    return np.argmax(pred_probs[n], axis=0)


def common_label_issues(issues, labels, pred_probs, *,
                        class_names: Optional[List[str]] = None,
                        exclude: Optional[List[int]] = None,
                        top: Optional[int] = None, verbose: bool = True):
    """A pandas DataFrame of (given_label, predicted_label,
    num_pixel_issues): how often each given class is marked as an issue
    where the model predicts another, most frequent first (ties: given,
    then predicted class).  exclude drops predicted classes; top keeps the
    first rows (20)."""
    import pandas as pd

    pred_probs = _engine.as_array(pred_probs, "pred_probs")
    labels = _engine.as_array(labels, "labels")
    issues = _engine.as_array(issues, "issues")
    try:
        N, K, H, W = pred_probs.shape
    except ValueError:
        raise ValueError("pred_probs must be of shape (N, K, H, W)") from None
    assert labels.shape == (N, H, W), "labels must be of shape (N, H, W)"
    exclude = [] if exclude is None else list(exclude)
    top = 20 if top is None else top

    counts = np.zeros((K, K), dtype=np.int64)
    for n in range(N):
        where = np.asarray(issues[n], dtype=bool)
        if not where.any():
            continue
        given = np.asarray(labels[n])[where].astype(np.int64)
        pred = _argmax_image(pred_probs, n)[where]
        keep = (given >= 0) & (given < K) & ~np.isin(pred, exclude)
        np.add.at(counts, (given[keep], pred[keep]), 1)

    if class_names is None:
        class_names = [str(i) for i in range(K)]
    rows = []
    for g, gname in enumerate(class_names[:K]):
        for p in range(K):
            if counts[g, p] > 0:
                rows.append([gname, class_names[p], int(counts[g, p])])
    rows = sorted(rows, key=lambda r: r[2], reverse=True)[:top]
    df = pd.DataFrame(rows, columns=["given_label", "predicted_label",
                                     "num_pixel_issues"])
    if verbose:
        for _, row in df.iterrows():
            print(f"Class '{row['given_label']}' is potentially mislabeled "
                  f"as class for '{row['predicted_label']}' "
                  f"{row['num_pixel_issues']} pixels in the dataset")
    return df


def filter_by_class(class_index: int, issues, labels, pred_probs) -> np.ndarray:
    """The issues whose given label or predicted class is class_index."""
    issues = _engine.as_array(issues, "issues")
    labels = _engine.as_array(labels, "labels")
    pred_probs = _engine.as_array(pred_probs, "pred_probs")
    out = np.zeros(issues.shape, dtype=bool)
    for n in range(issues.shape[0]):
        mask = np.asarray(issues[n], dtype=bool)
        out[n] = (mask & np.isin(labels[n], class_index)) | (
            mask & np.isin(_argmax_image(pred_probs, n), class_index))
    return out
