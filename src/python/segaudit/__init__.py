"""segaudit: finds annotation errors in semantic-segmentation datasets.

The functions of the reference implementation's segmentation API
(Confident Learning for segmentation), on segaudit's C engine:

    find_label_issues(labels, pred_probs)        boolean (N,H,W) mask
    get_label_quality_scores(labels, pred_probs) (image_scores, pixel_scores)
    issues_from_scores(image_scores, pixel_scores=None, threshold=0.1)
    common_label_issues(issues, labels, pred_probs)   a pandas DataFrame
    filter_by_class(class_index, issues, labels, pred_probs)

and audit(labels, probs, **options) for everything the command-line tool
does (files or arrays in, structured results and a report folder out).
The submodules filter, rank and summary hold the same functions under
the reference's module names.
"""
from . import filter, rank, summary
from ._audit import Result, audit
from ._segaudit import FileError, InputError, SegauditError, SettingError
from ._segaudit import version as _version
from .filter import find_label_issues
from .rank import get_label_quality_scores, issues_from_scores
from .summary import common_label_issues, filter_by_class

__version__ = _version()

__all__ = [
    "audit", "Result", "find_label_issues", "get_label_quality_scores",
    "issues_from_scores", "common_label_issues", "filter_by_class",
    "SegauditError", "InputError", "SettingError", "FileError",
    "filter", "rank", "summary",
]
