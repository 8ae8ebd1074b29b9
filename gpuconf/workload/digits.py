"""The UCI handwritten digits (1,797 8x8 images) from scikit-learn's installed package data.

Read straight from the .csv.gz inside the wheel instead of through sklearn.datasets.load_digits:
importing sklearn costs ~0.5 s per run and the offline suite runs this workload on every commit.
No network is involved (the article's sample downloads MNIST at run time; that cannot work offline).
"""

from __future__ import annotations

import gzip
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gpuconf.workload.errors import WorkloadError

HELD_OUT_FRACTION = 0.25
CLASSES = 10


class DigitsUnavailable(WorkloadError):
    pass


@dataclass(frozen=True)
class Split:
    train_x: np.ndarray  # (n, 64) float64 in [0, 1]
    train_y: np.ndarray  # (n,) int64
    test_x: np.ndarray
    test_y: np.ndarray


def digits_path() -> Path:
    spec = importlib.util.find_spec("sklearn")  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise DigitsUnavailable(
            "scikit-learn is not installed; it ships the digits data set this workload trains on"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data" / "digits.csv.gz"
    if not path.is_file():
        raise DigitsUnavailable(f"scikit-learn's digits data is missing at {path}")
    return path


def load(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with gzip.open(path, "rb") as raw:
        table = np.loadtxt(raw, delimiter=",", dtype=np.float64)
    return table[:, :-1] / 16.0, table[:, -1].astype(np.int64)


def split(x: np.ndarray, y: np.ndarray, seed: int) -> Split:
    """A shuffled train/held-out split; the same seed gives the same split."""
    order = np.random.default_rng(seed).permutation(len(y))
    cut = int(len(y) * (1 - HELD_OUT_FRACTION))
    train, test = order[:cut], order[cut:]
    return Split(x[train], y[train], x[test], y[test])
