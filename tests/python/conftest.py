"""Shared fixtures of the Python package's tests.

The package is imported from wherever Python finds it: the build folder
(meson test sets PYTHONPATH) or an installed copy (scripts/test's pip
install check).  SEGAUDIT_GOLDEN names the golden cases (default:
tests/golden) and SEGAUDIT_EXE the command-line program (tests that
compare with it are skipped without it)."""
import json
import os
import sys

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "formats"))

from pngio import read_png  # noqa: E402

GOLDEN = os.environ.get("SEGAUDIT_GOLDEN", os.path.join(HERE, "..", "golden"))


def case_names():
    return sorted(n for n in os.listdir(GOLDEN)
                  if os.path.isfile(os.path.join(GOLDEN, n, "expected.json")))


class Case:
    """A golden case: its folder, expected.json, the labels as an (N,H,W)
    array and the predictions as stored."""

    def __init__(self, name):
        import h5py

        self.name = name
        self.dir = os.path.join(GOLDEN, name)
        self.exp = json.load(open(os.path.join(self.dir, "expected.json")))
        self.ids = self.exp["image_ids"]
        with h5py.File(os.path.join(self.dir, "probs.h5"), "r") as f:
            self.probs = f["pred_probs"][:]
        self.labels = np.stack([
            read_png(os.path.join(self.dir, "labels", i + ".png"))
            for i in self.ids])
        par = self.exp["params"]
        self.temperature = par["temperature"]
        self.downsample = par["downsample"]
        self.ignore = par.get("ignore_index", [])

    def mask(self, i):
        return read_png(os.path.join(self.dir, "expected_issues",
                                     self.ids[i] + ".png")) != 0

    def masks(self):
        return np.stack([self.mask(i) for i in range(len(self.ids))])


@pytest.fixture(scope="session")
def cases():
    names = case_names()
    assert len(names) >= 9, f"only {len(names)} golden cases in {GOLDEN}"
    return {n: Case(n) for n in names}


def close(got, want, rtol):
    """Relative closeness with None (no score) as NaN."""
    got = np.asarray(got, dtype=float)
    want = np.array([np.nan if w is None else w for w in want], dtype=float)
    same_nan = np.isnan(got) == np.isnan(want)
    ok = np.isnan(want) | (np.abs(got - want) <= rtol * np.abs(want))
    return bool(np.all(same_nan & ok))
