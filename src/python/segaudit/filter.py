"""Finding the pixels whose label is likely wrong (the reference's
segmentation.filter module)."""
from typing import Optional

import numpy as np

from . import _engine


def find_label_issues(labels, pred_probs, *, batch_size: Optional[int] = None,
                      n_jobs: Optional[int] = None, verbose: bool = True,
                      **kwargs) -> np.ndarray:
    """Returns a boolean (N,H,W) mask, True at each pixel whose given label
    is likely wrong (Confident Learning for segmentation).

    labels: (N,H,W) integers 0..K-1.  pred_probs: (N,K,H,W) probabilities
    (float16/32/64, or quantised uint8/uint16); both are read in place,
    with any strides, also as memory maps larger than memory.

    batch_size is checked as the reference does and does not change the
    results; n_jobs is the number of threads (None: every core); verbose
    shows a progress bar on stderr.

    Keyword arguments: downsample (int, default 1: score f x f blocks, as
    the reference does), temperature (accepted; it changes no issue), and
    segaudit's own: ignore_index (label values that are void), layout
    ("nhwc" for (N,H,W,K) predictions), downsample_labels ("mean" or
    "mode"), logits, probs_scale, memory_limit, scratch.
    """
    batch_size, threads = _engine.valid_optional_params(batch_size, n_jobs)
    kwargs = dict(kwargs)
    downsample = _engine.downsample_of(kwargs.pop("downsample", 1))
    kwargs.pop("temperature", None)
    settings = _engine.engine_settings("find_label_issues", kwargs)
    labels = _engine.as_array(labels, "labels")
    pred_probs = _engine.as_array(pred_probs, "pred_probs")
    nhwc = settings.get("layout") == 2
    _engine.check_input(labels, pred_probs, nhwc)
    h, w = labels.shape[1], labels.shape[2]
    if downsample != 1 and (h % downsample != 0 or w % downsample != 0):
        raise ValueError(
            f"Height {h} and width {w} not divisible by downsample value of "
            f"{downsample}. Set kwarg downsample to 1 to avoid downsampling.")
    issues = np.zeros(labels.shape, dtype=bool)
    settings.update(
        issues_out=issues, downsample=int(downsample), n_threads=threads)
    settings.update(_engine.labels_source(labels))
    settings.update(_engine.probs_source(pred_probs))
    _engine.run(settings, verbose)
    return issues
