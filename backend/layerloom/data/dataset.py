"""The in-memory dataset every loader produces, and the error type they all raise.

A dataset is a set of named numpy arrays per split. Graph Input node ids and Output
(head) node ids are matched to these array names, so the names and per-sample shapes
are the contract between data and model.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

SPLITS = ("train", "valid", "test")
KINDS = ("features", "class_labels", "values")

# A label array whose largest value implies more classes than this is almost always
# a regression target or an id column saved as integers; refuse instead of building
# a million-way softmax.
MAX_CLASSES = 10_000

# Per problem code, how many individual problems are listed before a summary line.
# Loaders report everything they find, but ten thousand "bad value" lines help nobody.
MAX_PROBLEMS_PER_CODE = 20


class DatasetError(Exception):
    """Raised when data cannot become a Dataset; `problems` lists every issue found.

    Each problem is ``{"field": ..., "code": ..., "message": ...}`` where ``field``
    points at what is wrong (e.g. ``"column:age"``, ``"member:train/cat/1.png"``),
    ``code`` is a stable machine-readable id, and ``message`` says what to change.
    """

    def __init__(self, problems: Iterable[Mapping[str, str]]):
        self.problems: list[dict[str, str]] = [dict(p) for p in problems]
        if not self.problems:
            raise ValueError("DatasetError needs at least one problem")
        super().__init__("; ".join(p["message"] for p in self.problems))

    def __reduce__(self):  # keep `problems` when pickled to another process
        return (type(self), (self.problems,))

    @classmethod
    def single(cls, field: str, code: str, message: str) -> DatasetError:
        return cls([{"field": field, "code": code, "message": message}])


class Problems:
    """Collects problems so a loader can report all of them at once.

    Problems beyond MAX_PROBLEMS_PER_CODE of the same code are counted, not listed,
    and summarised by one extra problem when raising.
    """

    def __init__(self) -> None:
        self._items: list[dict[str, str]] = []
        self._per_code: dict[str, int] = {}

    def add(self, field: str, code: str, message: str) -> None:
        seen = self._per_code.get(code, 0)
        self._per_code[code] = seen + 1
        if seen < MAX_PROBLEMS_PER_CODE:
            self._items.append({"field": field, "code": code, "message": message})

    def __bool__(self) -> bool:
        return bool(self._items)

    def as_list(self) -> list[dict[str, str]]:
        items = list(self._items)
        for code, count in self._per_code.items():
            hidden = count - MAX_PROBLEMS_PER_CODE
            if hidden > 0:
                items.append(
                    {
                        "field": "*",
                        "code": code,
                        "message": f"... and {hidden} more problem(s) of type {code!r} not listed.",
                    }
                )
        return items

    def raise_if_any(self) -> None:
        if self._items:
            raise DatasetError(self.as_list())


def read_source(source: str | os.PathLike[str] | bytes, *, max_bytes: int, what: str) -> bytes:
    """Return the raw bytes of an uploaded file given as a path or as bytes.

    For a path the size is checked before reading, so an oversized file is never loaded.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    else:
        try:
            check_size(os.stat(source).st_size, max_bytes, what)
            with open(source, "rb") as fh:
                data = fh.read(max_bytes + 1)  # +1: notice a file that grew after stat
        except OSError as exc:
            code = "file_not_found" if isinstance(exc, FileNotFoundError) else "file_unreadable"
            raise DatasetError.single(
                "file",
                code,
                f"Cannot read the {what} file {os.fspath(source)!r}: {exc.strerror}.",
            ) from None
    check_size(len(data), max_bytes, what)
    if not data:
        raise DatasetError.single("file", "empty_file", f"The {what} file is empty; upload a file with data in it.")
    return data


def check_size(size: int, max_bytes: int, what: str) -> None:
    if size > max_bytes:
        raise DatasetError.single(
            "file",
            "file_too_large",
            "The {} file is {}; the limit is {}. Upload a smaller file.".format(what, *sizes_apart(size, max_bytes)),
        )


def human_bytes(n: float) -> str:
    if n < 1024:
        return f"{int(n)} bytes"
    for unit in ("KiB", "MiB", "GiB"):
        n /= 1024
        if n < 1024 or unit == "GiB":
            return f"{n:.1f} {unit}"
    raise AssertionError("unreachable")


def sizes_apart(size: int, limit: int) -> tuple[str, str]:
    """``size`` and ``limit`` for a message saying one is over the other: rounded, unless rounding
    makes them look equal ("1.0 GiB; the limit is 1.0 GiB"), then in exact bytes."""
    shown = human_bytes(size), human_bytes(limit)
    return shown if shown[0] != shown[1] else (f"{size:,} bytes", f"{limit:,} bytes")


@dataclass(frozen=True, eq=False)  # eq=False: comparing dicts of arrays is ambiguous
class Dataset:
    """Named arrays per split; build it with `Dataset.from_arrays`, which validates.

    Conventions (enforced by `from_arrays`):
      * features: float32, any per-sample shape;
      * class_labels: int64, per-sample shape ``()``, values ``0..num_classes-1``;
      * values (regression targets): float32, per-sample shape ``(k,)``.
    """

    name: str
    splits: dict[str, dict[str, np.ndarray]]
    class_names: dict[str, list[str]] = field(default_factory=dict)
    kinds: dict[str, str] = field(default_factory=dict)
    # Free-text notes per array, e.g. how a target was scaled; shown by describe().
    notes: dict[str, str] = field(default_factory=dict)
    # How a loader decided each target array's kind, for arrays it decided (the CSV loader):
    # {"column", "kind", "requested", "reason", "switch_to"}; shown by describe() as "target".
    targets: dict[str, dict[str, Any]] = field(default_factory=dict)

    # ---- construction -------------------------------------------------------------

    @classmethod
    def from_arrays(
        cls,
        name: str,
        splits: Mapping[str, Mapping[str, Any]],
        class_names: Mapping[str, Iterable[str]] | None = None,
        kinds: Mapping[str, str] | None = None,
        notes: Mapping[str, str] | None = None,
    ) -> Dataset:
        """Validate and normalise arrays into a Dataset, or raise DatasetError.

        Kinds not given are inferred: an array with class names, or an integer/bool
        array of shape (n,) or (n, 1), is class labels; a 1-D float array is values
        (reshaped to ``(n, 1)``); anything else is features. Class names default to
        ``"0".."K-1"``. Raises DatasetError listing every inconsistency found.
        """
        builder = _Builder(name, splits, class_names or {}, kinds or {}, notes or {})
        return builder.build()

    # ---- queries ------------------------------------------------------------------

    @property
    def array_names(self) -> list[str]:
        return list(self.splits["train"])

    def sample_shape(self, name: str) -> tuple[int, ...]:
        if name not in self.splits["train"]:
            raise DatasetError.single(
                f"array:{name}",
                "unknown_array",
                f"No array named {name!r}; available: {', '.join(self.array_names)}.",
            )
        return tuple(self.splits["train"][name].shape[1:])

    def num_samples(self, split: str) -> int:
        """Number of samples in a split; 0 for a known split the dataset does not have."""
        if split not in SPLITS:
            raise DatasetError.single("split", "unknown_split", f"Unknown split {split!r}; use one of {', '.join(SPLITS)}.")
        arrays = self.splits.get(split)
        if not arrays:
            return 0
        return len(next(iter(arrays.values())))

    def num_classes(self, name: str) -> int | None:
        names = self.class_names.get(name)
        return len(names) if names is not None else None

    def describe(self) -> dict[str, Any]:
        """A JSON-able summary for the editor: arrays, kinds, shapes and split sizes."""
        arrays = []
        for array_name in self.array_names:
            arr = self.splits["train"][array_name]
            arrays.append(
                {
                    "name": array_name,
                    "kind": self.kinds[array_name],
                    "shape": list(arr.shape[1:]),
                    "dtype": str(arr.dtype),
                    "num_classes": self.num_classes(array_name),
                    "class_names": list(self.class_names[array_name]) if array_name in self.class_names else None,
                    "note": self.notes.get(array_name),
                    **({"target": dict(self.targets[array_name])} if array_name in self.targets else {}),
                }
            )
        sizes = {split: self.num_samples(split) for split in SPLITS if split in self.splits}
        return {"name": self.name, "arrays": arrays, "sizes": sizes}

    def preview_indices(self, split: str, n: int) -> list[int]:
        """Up to ``n`` sample indices of ``split`` to show people. With a class-label array, stratified:
        the classes take turns (class order), each one's picks spread evenly over its members, so a
        file sorted by class does not preview as one class. Otherwise the first ``n``."""
        size = self.num_samples(split)
        labels_name = next((a for a in self.array_names if self.kinds.get(a) == "class_labels"), None)
        if labels_name is None or size == 0:
            return list(range(min(n, size)))
        labels = np.asarray(self.splits[split][labels_name])
        members = [np.flatnonzero(labels == c) for c in np.unique(labels)]
        quota = [0] * len(members)
        for _ in range(min(n, size)):  # one more for the next class (in turn) that has samples left
            open_classes = [c for c, m in enumerate(members) if quota[c] < len(m)]
            quota[min(open_classes, key=lambda c: (quota[c], c))] += 1
        picks = [[int(m[i]) for i in np.linspace(0, len(m) - 1, num=k).round().astype(int)] if k else []
                 for m, k in zip(members, quota)]
        return [p[i] for i in range(max(quota)) for p in picks if i < len(p)]  # interleaved by class

    # ---- transformations ----------------------------------------------------------

    def with_split(self, valid_fraction: float = 0.0, test_fraction: float = 0.0, seed: int = 0) -> Dataset:
        """Return a new Dataset with valid/test carved out of train.

        Fractions are of the current train split. The split is seeded, and stratified on the first
        class-label array (each class contributes its proportional share) when there is one.
        """
        problems = Problems()
        wanted = {"valid": valid_fraction, "test": test_fraction}
        for split, fraction in wanted.items():
            if not 0.0 <= fraction < 1.0:
                problems.add(
                    f"{split}_fraction",
                    "bad_fraction",
                    f"{split}_fraction is {fraction}; use a number from 0 up to (not including) 1.",
                )
            elif fraction > 0 and split in self.splits:
                problems.add(
                    f"{split}_fraction",
                    "split_exists",
                    f"The dataset already has a {split} split; set {split}_fraction to 0 to keep it.",
                )
        if valid_fraction + test_fraction >= 1.0:
            problems.add(
                "valid_fraction",
                "bad_fraction",
                "valid_fraction + test_fraction must be below 1 so that some training data remains.",
            )
        problems.raise_if_any()

        n = self.num_samples("train")
        counts = {split: round(n * fraction) for split, fraction in wanted.items()}
        for split, fraction in wanted.items():
            if fraction > 0 and counts[split] == 0:
                problems.add(
                    f"{split}_fraction",
                    "split_too_small",
                    f"{split}_fraction {fraction} of {n} training samples is 0 samples; use a larger fraction.",
                )
        if n - counts["valid"] - counts["test"] < 1:
            problems.add("valid_fraction", "split_too_small", "No training samples would remain; use smaller fractions.")
        problems.raise_if_any()

        stratify_on = next((a for a in self.array_names if self.kinds[a] == "class_labels"), None)
        remaining = np.arange(n)
        carved: dict[str, np.ndarray] = {}
        for split in ("test", "valid"):
            if counts[split] == 0:
                continue
            labels = self.splits["train"][stratify_on][remaining] if stratify_on else None
            remaining, carved[split] = _carve(remaining, counts[split], labels, seed)

        new_splits = {split: dict(arrays) for split, arrays in self.splits.items()}
        train = self.splits["train"]
        new_splits["train"] = {k: _take(v, remaining) for k, v in train.items()}
        for split, idx in carved.items():
            new_splits[split] = {k: _take(v, idx) for k, v in train.items()}
        ordered = {split: new_splits[split] for split in SPLITS if split in new_splits}
        return Dataset(self.name, ordered, dict(self.class_names), dict(self.kinds), dict(self.notes),
                       dict(self.targets))


def _take(values, index: np.ndarray):
    """``values[index]``; a lazily decoded array (data.image_stream) stays lazy."""
    subset = getattr(values, "subset", None)
    return subset(index) if subset is not None else values[index]


def _carve(indices: np.ndarray, count: int, labels: np.ndarray | None, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split ``indices`` into (kept, carved), sorted, with ``count`` carved at random (seeded).

    With ``labels``, stratified: each class gives its proportional share of ``count``, the leftover
    samples going to the classes with the largest remainders. (numpy, not scikit-learn: a job on
    uploaded data must not spend a second importing it.)"""
    rng = np.random.default_rng(seed)
    if labels is None:
        chosen = rng.permutation(len(indices))[:count]
    else:
        _, label_of = np.unique(labels, return_inverse=True)
        sizes = np.bincount(label_of)
        quota, remainder = np.divmod(sizes * count, len(indices))  # integers: no rounding drift
        quota[np.argsort(-remainder, kind="stable")[: count - int(quota.sum())]] += 1
        chosen = np.concatenate([rng.permutation(np.flatnonzero(label_of == c))[:k] for c, k in enumerate(quota)])
    carved = np.zeros(len(indices), dtype=bool)
    carved[chosen] = True
    return np.sort(indices[~carved]), np.sort(indices[carved])


class _Builder:
    """Validation and normalisation behind Dataset.from_arrays, one check per method."""

    def __init__(self, name, splits, class_names, kinds, notes):
        self.name = name
        self.raw_splits = splits
        self.class_names_in = {k: [str(c) for c in v] for k, v in class_names.items()}
        self.kinds_in = dict(kinds)
        self.notes = dict(notes)
        self.problems = Problems()

    def build(self) -> Dataset:
        splits = self._convert_arrays()
        self.problems.raise_if_any()
        self._check_split_structure(splits)
        self.problems.raise_if_any()

        names = list(splits["train"])
        kinds = self._resolve_kinds(splits, names)
        self.problems.raise_if_any()
        splits = {s: {n: self._normalise(n, kinds[n], a) for n, a in arrays.items()} for s, arrays in splits.items()}
        self.problems.raise_if_any()

        self._check_shapes(splits, names)
        self._check_finite(splits)
        class_names = self._check_labels(splits, kinds)
        self.problems.raise_if_any()
        ordered = {split: splits[split] for split in SPLITS if split in splits}
        notes = {k: v for k, v in self.notes.items() if k in names}
        return Dataset(str(self.name), ordered, class_names, kinds, notes)

    def _convert_arrays(self) -> dict[str, dict[str, np.ndarray]]:
        out: dict[str, dict[str, np.ndarray]] = {}
        if not self.raw_splits:
            self.problems.add("splits", "no_splits", "The dataset has no splits; provide at least a 'train' split.")
        for split, arrays in self.raw_splits.items():
            if split not in SPLITS:
                self.problems.add(
                    f"split:{split}",
                    "unknown_split",
                    f"Unknown split {split!r}; rename it to one of {', '.join(SPLITS)}.",
                )
                continue
            out[split] = {}
            for array_name, value in arrays.items():
                field_ = f"array:{array_name}"
                if not isinstance(array_name, str) or not array_name:
                    self.problems.add(
                        f"split:{split}",
                        "bad_array_name",
                        f"Array names must be non-empty strings, got {array_name!r}.",
                    )
                    continue
                try:
                    arr = np.asarray(value)
                except (ValueError, TypeError) as exc:
                    self.problems.add(
                        field_,
                        "bad_array",
                        f"{array_name!r} in {split} is not a regular array ({exc}); give every sample the same shape.",
                    )
                    continue
                if self._check_dtype(field_, f"{array_name!r} in {split}", arr):
                    out[split][array_name] = arr
        return out

    def _check_dtype(self, field_: str, label: str, arr: np.ndarray) -> bool:
        kind = arr.dtype.kind
        if kind == "O":
            self.problems.add(field_, "object_array", f"{label} holds Python objects; store numbers (int or float) instead.")
        elif kind == "c":
            self.problems.add(
                field_,
                "complex_array",
                f"{label} holds complex numbers; split them into real and imaginary float arrays.",
            )
        elif kind not in "biuf":
            self.problems.add(
                field_,
                "unsupported_dtype",
                f"{label} has dtype {arr.dtype}; only int, bool and float arrays are supported.",
            )
        elif arr.ndim == 0:
            self.problems.add(field_, "scalar_array", f"{label} is a single number; arrays need a first axis of samples.")
        else:
            return True
        return False

    def _check_split_structure(self, splits: dict[str, dict[str, np.ndarray]]) -> None:
        if "train" not in splits:
            self.problems.add("split:train", "missing_train", "There is no 'train' split; training needs one.")
            return
        train_names = set(splits["train"])
        if not train_names:
            self.problems.add("split:train", "no_arrays", "The train split has no arrays.")
        for split, arrays in splits.items():
            lengths = {n: len(a) for n, a in arrays.items()}
            if len(set(lengths.values())) > 1:
                listing = ", ".join(f"{n}={k}" for n, k in lengths.items())
                self.problems.add(
                    f"split:{split}",
                    "length_mismatch",
                    f"Arrays in {split} have different numbers of samples ({listing}); give each the same number.",
                )
            elif lengths and next(iter(lengths.values())) == 0:
                self.problems.add(
                    f"split:{split}",
                    "empty_split",
                    f"The {split} split has no samples; remove it or add samples.",
                )
            if split != "train" and set(arrays) != train_names:
                missing = sorted(train_names - set(arrays))
                extra = sorted(set(arrays) - train_names)
                detail = "; ".join(
                    part
                    for part in (
                        f"missing {', '.join(missing)}" if missing else "",
                        f"not in train: {', '.join(extra)}" if extra else "",
                    )
                    if part
                )
                self.problems.add(
                    f"split:{split}",
                    "array_names_mismatch",
                    f"The {split} split must have the same arrays as train ({detail}).",
                )
        for array_name in self.kinds_in:
            if array_name not in train_names:
                self.problems.add(
                    f"kinds.{array_name}",
                    "unknown_array",
                    f"kinds names {array_name!r}, which is not an array of the dataset.",
                )
        for array_name in self.class_names_in:
            if array_name not in train_names:
                self.problems.add(
                    f"class_names.{array_name}",
                    "unknown_array",
                    f"class_names names {array_name!r}, which is not an array of the dataset.",
                )

    def _resolve_kinds(self, splits, names: list[str]) -> dict[str, str]:
        kinds: dict[str, str] = {}
        for array_name in names:
            kind = self.kinds_in.get(array_name)
            if kind is None:
                kind = _infer_kind(splits["train"][array_name], array_name in self.class_names_in)
            elif kind not in KINDS:
                self.problems.add(
                    f"kinds.{array_name}",
                    "unknown_kind",
                    f"Kind {kind!r} of {array_name!r} is unknown; use one of {', '.join(KINDS)}.",
                )
                continue
            if array_name in self.class_names_in and kind != "class_labels":
                self.problems.add(
                    f"class_names.{array_name}",
                    "class_names_not_labels",
                    f"{array_name!r} has class names but kind {kind!r}; only class_labels arrays have class names.",
                )
            kinds[array_name] = kind
        return kinds

    def _normalise(self, array_name: str, kind: str, arr: np.ndarray) -> np.ndarray:
        """Cast to the dtype and shape convention of the array's kind."""
        if kind == "class_labels":
            if arr.ndim == 2 and arr.shape[1] == 1:
                arr = arr[:, 0]  # (n, 1) label columns are common; one label per sample either way
            if arr.ndim != 1:
                self.problems.add(
                    f"array:{array_name}",
                    "label_shape",
                    f"Class labels {array_name!r} must hold one integer per sample (shape (n,)), got shape {arr.shape}; "
                    "use class indices, not one-hot vectors.",
                )
                return arr
            if arr.dtype.kind == "f":
                if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
                    self.problems.add(
                        f"array:{array_name}",
                        "labels_not_integer",
                        f"Class labels {array_name!r} contain non-integer values; store class indices 0..K-1.",
                    )
                    return arr
            return arr.astype(np.int64, copy=False)
        if kind == "values" and arr.ndim == 1:
            arr = arr.reshape(-1, 1)  # regression targets are vectors, (k,) per sample
        return arr.astype(np.float32, copy=False)

    def _check_shapes(self, splits, names: list[str]) -> None:
        for array_name in names:
            expected = splits["train"][array_name].shape[1:]
            for split, arrays in splits.items():
                shape = arrays[array_name].shape[1:]
                if shape != expected:
                    self.problems.add(
                        f"array:{array_name}",
                        "shape_mismatch",
                        f"{array_name!r} has per-sample shape {shape} in {split} but {expected} in train; make them equal.",
                    )

    def _check_finite(self, splits) -> None:
        for split, arrays in splits.items():
            for array_name, arr in arrays.items():
                if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
                    bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
                    self.problems.add(
                        f"array:{array_name}",
                        "non_finite",
                        f"{array_name!r} in {split} has {bad} NaN or infinite value(s); fill or drop them.",
                    )

    def _check_labels(self, splits, kinds: dict[str, str]) -> dict[str, list[str]]:
        class_names: dict[str, list[str]] = {}
        for array_name, kind in kinds.items():
            if kind != "class_labels":
                continue
            arrays = [s[array_name] for s in splits.values()]
            low = min(int(a.min()) for a in arrays)
            high = max(int(a.max()) for a in arrays)
            given = self.class_names_in.get(array_name)
            if low < 0:
                self.problems.add(
                    f"array:{array_name}",
                    "label_out_of_range",
                    f"Class labels {array_name!r} contain {low}; labels must be 0 or greater.",
                )
            if given is not None:
                if len(set(given)) != len(given):
                    self.problems.add(
                        f"class_names.{array_name}",
                        "duplicate_class_names",
                        f"Class names of {array_name!r} repeat; give each class a distinct name.",
                    )
                if high >= len(given):
                    self.problems.add(
                        f"array:{array_name}",
                        "label_out_of_range",
                        f"Class labels {array_name!r} go up to {high} but only {len(given)} class names are given; "
                        f"labels must be 0..{len(given) - 1}.",
                    )
                class_names[array_name] = list(given)
            elif high + 1 > MAX_CLASSES:
                self.problems.add(
                    f"array:{array_name}",
                    "too_many_classes",
                    f"Class labels {array_name!r} go up to {high} (limit {MAX_CLASSES} classes); "
                    "if these are numbers to predict, store them as floats.",
                )
            else:
                class_names[array_name] = [str(i) for i in range(max(high, 0) + 1)]
        return class_names


def _infer_kind(train_array: np.ndarray, has_class_names: bool) -> str:
    if has_class_names:
        return "class_labels"
    is_column = train_array.ndim == 1
    # (n, 1) integer columns are labels too: Keras datasets such as CIFAR store them so.
    if train_array.dtype.kind in "biu" and (is_column or train_array.shape[1:] == (1,)):
        return "class_labels"
    if train_array.dtype.kind == "f" and is_column:
        return "values"
    return "features"
