"""Scoring images by how likely their labels are wrong (the reference's
segmentation.rank module)."""
import warnings
from typing import Optional, Tuple

import numpy as np

from . import _engine


def get_label_quality_scores(labels, pred_probs, *, method: str = "softmin",
                             batch_size: Optional[int] = None,
                             n_jobs: Optional[int] = None,
                             verbose: bool = True,
                             **kwargs) -> Tuple[np.ndarray, np.ndarray]:
    """Returns (image_scores (N,), pixel_scores (N,H,W)): a score in [0, 1]
    per image, lower = more likely mislabeled, and each pixel's
    self-confidence (the probability of its given label).

    method: "softmin" (the default) or "num_pixel_issues" (1 - the
    fraction of the image's pixels that find_label_issues marks).
    Keyword arguments: temperature (softmin, 0.1), downsample
    (num_pixel_issues only, 1) and segaudit's own (see
    find_label_issues).  With ignore_index, ignored pixels get a NaN
    pixel score and count in no image score; an image with no valid pixel
    gets a NaN score.
    """
    batch_size, threads = _engine.valid_optional_params(batch_size, n_jobs)
    labels = _engine.as_array(labels, "labels")
    pred_probs = _engine.as_array(pred_probs, "pred_probs")
    kwargs = dict(kwargs)
    temperature = kwargs.pop("temperature", 0.1)
    downsample = _engine.downsample_of(kwargs.pop("downsample", 1))
    settings = _engine.engine_settings("get_label_quality_scores", kwargs)
    nhwc = settings.get("layout") == 2
    _engine.check_input(labels, pred_probs, nhwc)

    if method not in ("softmin", "num_pixel_issues"):
        raise Exception("Invalid Method: Specify correct method. Currently "
                        "only supports 'softmin'")
    if temperature == 0 or temperature is None:
        raise Exception("Invalid Input: temperature cannot be zero or None")
    if not temperature > 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    if method == "softmin" and downsample != 1:
        warnings.warn(f"image will not downsample for method {method} is "
                      f"only for method: num_pixel_issues")
        downsample = 1
    h, w = labels.shape[1], labels.shape[2]
    if downsample != 1 and (h % downsample != 0 or w % downsample != 0):
        raise ValueError(
            f"Height {h} and width {w} not divisible by downsample value of "
            f"{downsample}. Set kwarg downsample to 1 to avoid downsampling.")

    # the reference returns float64 pixel scores for softmin, and the
    # predictions' own type for num_pixel_issues
    out_type = np.float64
    if method == "num_pixel_issues" and pred_probs.dtype != np.float64:
        out_type = np.float32
    pixel_scores = np.empty(labels.shape, dtype=out_type)
    settings.update(
        pixel_scores_out=pixel_scores, temperature=float(temperature),
        downsample=int(downsample), n_threads=threads)
    settings.update(_engine.labels_source(labels))
    settings.update(_engine.probs_source(pred_probs))
    a = _engine.run(settings, verbose)
    images = _engine.table("image", a.images()[0])
    column = 0 if method == "softmin" else 1
    image_scores = np.array(images["score"][:, column], dtype=np.float64)
    if method == "num_pixel_issues" and pred_probs.dtype == np.float16:
        pixel_scores = pixel_scores.astype(np.float16)
    return image_scores, pixel_scores


def issues_from_scores(image_scores, pixel_scores=None,
                       threshold: float = 0.1) -> np.ndarray:
    """The pixels (with pixel_scores: a boolean mask, pixel_scores <
    threshold) or the images (without: their indices, lowest score first,
    ties in image order) whose score is below threshold."""
    if image_scores is None:
        raise ValueError("pixel_scores must be provided")
    if threshold < 0 or threshold > 1 or threshold is None:
        raise ValueError("threshold must be between 0 and 1")
    if pixel_scores is not None:
        return np.asarray(pixel_scores) < threshold
    scores = np.asarray(image_scores)
    ranking = np.argsort(scores, kind="stable")
    return ranking[: int(np.count_nonzero(scores < threshold))]
