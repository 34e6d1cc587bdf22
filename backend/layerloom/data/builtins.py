"""Built-in datasets: small sklearn datasets and synthetic ones, ready to train on.

Every built-in has a feature array ``x`` and a target array ``y`` and deterministic
train/valid/test splits of about 70/15/15 (stratified for classification). Nothing
is downloaded: the sklearn datasets used here ship inside the sklearn package.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import hashlib
import importlib
import importlib.metadata
from pathlib import Path
from types import ModuleType

import numpy as np

from .dataset import Dataset, DatasetError

VALID_FRACTION = 0.15
TEST_FRACTION = 0.15


@dataclass(frozen=True)
class BuiltinInfo:
    name: str
    description: str
    task: str  # "classification" | "regression"


BUILTIN_DATASETS: dict[str, BuiltinInfo] = {}
_LOADERS: dict[str, Callable[[int], Dataset]] = {}


def _builtin(name: str, description: str, task: str):
    """Register a loader function `fn(seed) -> Dataset` under `name`."""

    def register(fn: Callable[[int], Dataset]) -> Callable[[int], Dataset]:
        BUILTIN_DATASETS[name] = BuiltinInfo(name, description, task)
        _LOADERS[name] = fn
        return fn

    return register


@cache  # of the code this process runs: hashed once, not on every request for a built-in
def builtin_fingerprint() -> str:
    """Changes whenever the built-ins could come out different: this module's code or scikit-learn's
    version (read from its metadata, without importing it). Names a cached copy (store/datasets.py)."""
    digest = hashlib.sha256(Path(__file__).read_bytes())
    digest.update(importlib.metadata.version("scikit-learn").encode())
    digest.update(np.__version__.encode())
    return digest.hexdigest()[:16]


def load_builtin(name: str, seed: int = 0) -> Dataset:
    """Load a built-in dataset; `seed` fixes the split (and the synthetic data)."""
    loader = _LOADERS.get(name)
    if loader is None:
        raise DatasetError.single(
            "name", "unknown_dataset", f"No built-in dataset named {name!r}; choose one of {', '.join(BUILTIN_DATASETS)}."
        )
    return loader(seed)


# ---- shared helpers ---------------------------------------------------------------


def _sklearn(module: str) -> ModuleType:
    """``sklearn.<module>``, imported on first use: scikit-learn takes about a second to import, and
    only built-in datasets need it (never a job on uploaded data)."""
    return importlib.import_module(f"sklearn.{module}")


def _split_indices(n: int, seed: int, stratify: np.ndarray | None) -> dict[str, np.ndarray]:
    """Deterministic ~70/15/15 split of range(n), stratified when labels are given."""
    train_test_split = _sklearn("model_selection").train_test_split
    indices = np.arange(n)
    rest, test = train_test_split(indices, test_size=TEST_FRACTION, random_state=seed, stratify=stratify)
    rest_labels = stratify[rest] if stratify is not None else None
    valid_share = VALID_FRACTION / (1.0 - TEST_FRACTION)
    train, valid = train_test_split(rest, test_size=valid_share, random_state=seed, stratify=rest_labels)
    return {"train": np.sort(train), "valid": np.sort(valid), "test": np.sort(test)}


def _standardize(x: np.ndarray, train_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scale with train-split statistics only, so valid/test leak nothing into training."""
    mean = x[train_idx].mean(axis=0)
    std = x[train_idx].std(axis=0)
    std = np.where(std > 0, std, 1.0)  # constant columns stay constant instead of dividing by 0
    return (x - mean) / std, mean, std


def _make_dataset(
    name: str,
    x: np.ndarray,
    y: np.ndarray,
    seed: int,
    *,
    class_names: list[str] | None = None,
    standardize_x: bool = False,
    notes: dict[str, str] | None = None,
    strata: np.ndarray | None = None,
) -> Dataset:
    """Split x/y (stratified by class, or by ``strata`` when given), optionally standardise x, and
    build the Dataset."""
    is_classification = class_names is not None
    parts = _split_indices(len(x), seed, strata if strata is not None else (y if is_classification else None))
    if standardize_x:
        x, _, _ = _standardize(x, parts["train"])
    x = x.astype(np.float32)
    y = y.astype(np.int64) if is_classification else y.astype(np.float32).reshape(len(y), -1)
    splits = {split: {"x": x[idx], "y": y[idx]} for split, idx in parts.items()}
    kinds = {"x": "features", "y": "class_labels" if is_classification else "values"}
    return Dataset.from_arrays(
        name,
        splits,
        class_names={"y": class_names} if is_classification else None,
        kinds=kinds,
        notes=notes,
    )


# ---- sklearn datasets ---------------------------------------------------------------


@_builtin("digits", "8x8 grayscale handwritten digits (1,797 images), 10 classes.", "classification")
def _digits(seed: int) -> Dataset:
    bunch = _sklearn("datasets").load_digits()
    x = bunch.images[:, None, :, :] / 16.0  # (n, 1, 8, 8); pixel values are 0..16
    names = [str(int(t)) for t in bunch.target_names]
    notes = {"x": "Grayscale images, channels first (1, 8, 8), scaled to [0, 1]."}
    return _make_dataset("digits", x, bunch.target, seed, class_names=names, notes=notes)


def _tabular_classification(name: str, loader: str, seed: int) -> Dataset:
    bunch = getattr(_sklearn("datasets"), loader)()
    notes = {"x": "Standardized with the train split's mean and standard deviation."}
    names = [str(t) for t in bunch.target_names]
    return _make_dataset(name, bunch.data, bunch.target, seed, class_names=names, standardize_x=True, notes=notes)


@_builtin("iris", "Iris flowers: 4 measurements, 3 species (150 samples).", "classification")
def _iris(seed: int) -> Dataset:
    return _tabular_classification("iris", "load_iris", seed)


@_builtin("wine", "Wine chemistry: 13 measurements, 3 cultivars (178 samples).", "classification")
def _wine(seed: int) -> Dataset:
    return _tabular_classification("wine", "load_wine", seed)


@_builtin("breast_cancer", "Breast tumour measurements: 30 features, malignant vs benign (569 samples).", "classification")
def _breast_cancer(seed: int) -> Dataset:
    return _tabular_classification("breast_cancer", "load_breast_cancer", seed)


@_builtin("diabetes", "Diabetes progression after one year from 10 baseline variables (442 samples).", "regression")
def _diabetes(seed: int) -> Dataset:
    bunch = _sklearn("datasets").load_diabetes()
    # 442 samples leave a 67-sample test split: stratify by target quintile so that it covers the
    # whole range of outcomes (a plain random split can leave a test set no model scores well on).
    quintiles = np.digitize(bunch.target, np.quantile(bunch.target, [0.2, 0.4, 0.6, 0.8]))
    parts = _split_indices(len(bunch.target), seed, quintiles)
    # Raw targets (25..346) make MSE losses huge at the start of training; standardise
    # them and record the statistics so predictions can be mapped back.
    y, mean, std = _standardize(bunch.target.astype(np.float64), parts["train"])
    notes = {
        "x": "As sklearn provides them: each feature mean-centred and scaled by sklearn.",
        "y": f"Standardized with train statistics: raw = y * {float(std):.4f} + {float(mean):.4f}.",
    }
    return _make_dataset("diabetes", bunch.data, y, seed, notes=notes, strata=quintiles)


# ---- synthetic datasets -------------------------------------------------------------


@_builtin(
    "random_classification",
    "Synthetic: 1,000 samples, 100 features (20 informative), 10 classes; input of the Keras seed MLP.",
    "classification",
)
def _random_classification(seed: int) -> Dataset:
    # One well-separated cluster per class keeps it learnable by a small MLP (~85% test accuracy).
    x, y = _sklearn("datasets").make_classification(
        n_samples=1000,
        n_features=100,
        n_informative=20,
        n_redundant=0,
        n_classes=10,
        n_clusters_per_class=1,
        class_sep=2.0,
        random_state=seed,
    )
    names = [str(i) for i in range(10)]
    notes = {"x": "Standardized with the train split's mean and standard deviation."}
    return _make_dataset("random_classification", x, y, seed, class_names=names, standardize_x=True, notes=notes)


@_builtin("spirals", "Synthetic: two interleaved 2-D spirals (1,000 points), 2 classes.", "classification")
def _spirals(seed: int) -> Dataset:
    rng = np.random.default_rng(seed)
    per_class = 500
    t = np.sqrt(rng.uniform(0.0, 1.0, per_class)) * 3.0 * np.pi  # sqrt: even density along the arm
    arm = np.stack([t * np.cos(t), t * np.sin(t)], axis=1) / (3.0 * np.pi)  # radius within [0, 1]
    x = np.concatenate([arm, -arm]) + rng.normal(0.0, 0.03, (2 * per_class, 2))
    y = np.repeat([0, 1], per_class)
    notes = {"x": "Points (x, y) within about [-1, 1]; the second spiral is the first rotated by 180 degrees."}
    return _make_dataset("spirals", x, y, seed, class_names=["0", "1"], notes=notes)


@_builtin("sine", "Synthetic: y = sin(x) + noise for 1,000 points with x in [-pi, pi].", "regression")
def _sine(seed: int) -> Dataset:
    rng = np.random.default_rng(seed)
    x = rng.uniform(-np.pi, np.pi, (1000, 1))
    y = np.sin(x) + rng.normal(0.0, 0.1, x.shape)
    notes = {"y": "Raw values: sin(x) plus Gaussian noise with standard deviation 0.1."}
    return _make_dataset("sine", x, y, seed, notes=notes)
