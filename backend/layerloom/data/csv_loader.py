"""Load an uploaded CSV file into a Dataset.

Columns are grouped into named arrays: ``inputs`` map an array name to feature
columns, ``targets`` map an array name to one target column. Every problem found (bad
header, ragged rows, bad values...) is reported at once in a DatasetError.

Memory: the file is streamed row by row through the stdlib ``csv`` module and each value goes
straight into a typed buffer (float32 features, row-major, so the matrix is that buffer without
a copy; float64 targets plus their class codes, bounded by MAX_CLASSES). No row or cell is kept as
a Python string, so parsing peaks at a small multiple of the file instead of ~36x.
"""

from __future__ import annotations

import array
import csv
import io
import math
import os
import re
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

import numpy as np

from .dataset import MAX_CLASSES, Dataset, DatasetError, Problems, check_size

CSV_MAX_BYTES = 100 * 1024**2
CSV_MAX_ROWS = 1_000_000
CSV_MAX_COLUMNS = 10_000

TARGET_KINDS = ("auto", "categorical", "numeric")
# Cells that mean "no value" in a numeric column. Categorical columns treat only the
# empty cell as missing, because "NA" or "None" can be real class names.
MISSING_TOKENS = frozenset({"", "na", "n/a", "nan", "null", "none"})
SPLIT_ALIASES = {"train": "train", "training": "train", "valid": "valid", "validation": "valid", "val": "valid", "test": "test"}
SPLIT_CODES = {"train": 0, "valid": 1, "test": 2}
# Kind "auto" reads a whole-number target column as class labels when it has 2..AUTO_MAX_CLASSES
# distinct values (and at most one per two rows) and is named like a label or is the last column:
# the wine data's `label` 0/1/2 is three classes, not a number to regress. Anything else numeric
# stays a regression target. The upload says which it chose and why; one switch flips it.
AUTO_MAX_CLASSES = 20
LABEL_NAMES = frozenset({"label", "labels", "target", "targets", "class", "classes", "y", "species", "category",
                         "categories", "outcome", "diagnosis", "survived", "digit", "cultivar", "cls"})
# How many offending cells one problem message quotes before just counting.
EXAMPLES_PER_PROBLEM = 5
# How many column names an "unknown column" message lists.
COLUMNS_LISTED = 30


@dataclass(frozen=True)
class TargetSpec:
    """A target array made from one column; kind "auto": text, or a few whole numbers in a column named or
    placed like a label (AUTO_MAX_CLASSES), → categorical; other numbers → numeric."""

    column: str
    kind: str = "auto"  # "auto" | "categorical" | "numeric"


def load_csv(
    source: str | os.PathLike[str] | bytes,
    *,
    inputs: Mapping[str, Sequence[str]] | None = None,
    targets: Mapping[str, TargetSpec | str] | None = None,
    split_column: str | None = None,
    input_shapes: Mapping[str, Sequence[int]] | None = None,
    name: str = "csv",
    delimiter: str = ",",
    max_bytes: int = CSV_MAX_BYTES,
    max_rows: int = CSV_MAX_ROWS,
    max_columns: int = CSV_MAX_COLUMNS,
) -> Dataset:
    """Parse a CSV (path or bytes) into a Dataset.

    With neither ``inputs`` nor ``targets`` given, all columns but the last become
    ``x`` and the last becomes ``y`` (kind "auto"). With only ``targets`` given, all
    other columns become ``x``. ``split_column`` values must be train/valid/test
    (also training/validation/val); without it every row is in train.
    ``input_shapes`` gives an input array a per-sample shape (e.g. 64 pixel columns as [1, 8, 8]);
    the columns fill it in row-major order.
    """
    with _lines(source, max_bytes) as lines:
        reader = csv.reader(lines, delimiter=delimiter)
        try:
            header = _read_header(reader, max_columns)
            problems = Problems()
            _check_header(header, problems)
            problems.raise_if_any()
            input_columns, target_specs = _plan_columns(header, inputs, targets, split_column, problems)
            problems.raise_if_any()
            columns = _Columns(header, input_columns, target_specs, split_column)
            for row in reader:
                if not row:
                    continue  # blank line
                if columns.rows >= max_rows:
                    raise DatasetError.single(
                        "rows", "too_many_rows", f"The file has more than {max_rows} data rows; upload at most {max_rows}.")
                columns.add(row, reader.line_num)
        except csv.Error as exc:
            raise DatasetError.single(
                f"line:{reader.line_num}",
                "malformed_csv",
                f"Line {reader.line_num} cannot be parsed ({exc}); check its quotes.",
            ) from None
    columns.ragged.raise_if_any()
    if columns.rows == 0:
        raise DatasetError.single("rows", "no_rows", "The file has a header but no data rows; add at least one row.")
    return columns.dataset(name, input_shapes)


# ---- reading ----------------------------------------------------------------------


@contextmanager
def _lines(source: str | os.PathLike[str] | bytes, max_bytes: int) -> Iterator[Iterator[str]]:
    """The file's text lines (BOM removed), decoded as they are read; a decoding error or a NUL
    byte becomes a DatasetError naming its line."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        check_size(len(source), max_bytes, "CSV")
        raw: io.BufferedIOBase = io.BytesIO(bytes(source))
    else:
        try:
            check_size(os.stat(source).st_size, max_bytes, "CSV")
            raw = open(source, "rb")  # noqa: SIM115 - closed below
        except OSError as exc:
            code = "file_not_found" if isinstance(exc, FileNotFoundError) else "file_unreadable"
            raise DatasetError.single(
                "file", code, f"Cannot read the CSV file {os.fspath(source)!r}: {exc.strerror}.") from None
    try:
        yield _checked_lines(raw, max_bytes)
    finally:
        raw.close()


def _checked_lines(raw: io.BufferedIOBase, max_bytes: int) -> Iterator[str]:
    # Decoded line by line (a UTF-8 sequence never spans a newline), so an error names its line.
    line_number, size, content = 0, 0, False
    for data in raw:
        line_number += 1
        size += len(data)
        if size > max_bytes:  # the file grew after it was measured
            check_size(size, max_bytes, "CSV")
        try:
            # "-sig" on the first line: Excel writes a byte-order mark.
            line = data.decode("utf-8-sig" if line_number == 1 else "utf-8")
        except UnicodeDecodeError:
            raise DatasetError.single(
                "file", "not_utf8",
                f"The file is not UTF-8 text (invalid byte at line {line_number}); save it as 'CSV UTF-8'.",
            ) from None
        if "\x00" in line:
            raise DatasetError.single(
                "file", "not_utf8", "The file contains NUL bytes, so it is not a text CSV; upload a CSV file.")
        content = content or bool(line.strip())
        yield line
    if not content:
        raise DatasetError.single(
            "file", "empty_file", "The file has no content; upload a CSV with a header line and data rows.")


def _read_header(reader, max_columns: int) -> list[str]:
    for row in reader:
        if not row or not any(cell.strip() for cell in row):
            continue  # blank line
        header = [cell.strip() for cell in row]
        if len(header) > max_columns:
            raise DatasetError.single(
                "header",
                "too_many_columns",
                f"The file has {len(header)} columns; the limit is {max_columns}. Drop unused columns.",
            )
        return header
    raise DatasetError.single(
        "file", "empty_file", "The file has no content; upload a CSV with a header line and data rows.")


def _check_header(header: list[str], problems: Problems) -> None:
    if all(_is_number(cell) for cell in header):
        problems.add(
            "header",
            "missing_header",
            "The first line holds only numbers, so it looks like data; add a header line with column names.",
        )
        return
    empty = [str(i + 1) for i, cell in enumerate(header) if not cell]
    if empty:
        problems.add(
            "header",
            "empty_column_name",
            f"Column(s) {', '.join(empty)} have no name in the header line; name every column.",
        )
    duplicates = sorted(cell for cell, count in Counter(header).items() if cell and count > 1)
    if duplicates:
        problems.add(
            "header",
            "duplicate_column",
            f"Column name(s) {', '.join(map(repr, duplicates))} appear more than once; rename them.",
        )


# ---- choosing columns -----------------------------------------------------------------


def _plan_columns(header, inputs, targets, split_column, problems: Problems):
    """Resolve inputs/targets (applying defaults) and report unknown or conflicting columns."""
    known = set(header)
    listed = ", ".join(map(repr, header[:COLUMNS_LISTED])) + (", ..." if len(header) > COLUMNS_LISTED else "")

    def check_column(column: str, field_: str) -> None:
        if column not in known:
            problems.add(field_, "unknown_column", f"There is no column {column!r}; available columns: {listed}.")
        elif column == split_column:
            problems.add(
                field_,
                "split_column_used",
                f"Column {column!r} is the split column; it cannot also be a feature or target.",
            )

    if split_column is not None and split_column not in known:
        problems.add(
            "split_column",
            "unknown_column",
            f"There is no split column {split_column!r}; available columns: {listed}.",
        )
    data_columns = [c for c in header if c != split_column]

    if targets is None and inputs is None:
        if len(data_columns) < 2:
            problems.add(
                "header",
                "too_few_columns",
                "The file needs at least two columns (features and a target); add columns or choose inputs.",
            )
            return {}, {}
        targets = {"y": data_columns[-1]}
    target_specs: dict[str, TargetSpec] = {}
    for array_name, spec in (targets or {}).items():
        resolved = _target_spec(array_name, spec, problems)
        if resolved is not None:
            check_column(resolved.column, f"targets.{array_name}")
            target_specs[array_name] = resolved
    if inputs is None:
        used = {spec.column for spec in target_specs.values()}
        inputs = {"x": [c for c in data_columns if c not in used]}

    input_columns: dict[str, list[str]] = {}
    for array_name, columns in inputs.items():
        columns = [columns] if isinstance(columns, str) else list(columns)
        if not columns:
            problems.add(
                f"inputs.{array_name}",
                "empty_inputs",
                f"Input {array_name!r} has no columns; list at least one column.",
            )
        for column in columns:
            check_column(column, f"inputs.{array_name}")
        if array_name in target_specs:
            problems.add(
                f"inputs.{array_name}",
                "duplicate_array_name",
                f"{array_name!r} is both an input and a target name; rename one of them.",
            )
        input_columns[array_name] = columns
    return input_columns, target_specs


def _target_spec(array_name: str, spec: object, problems: Problems) -> TargetSpec | None:
    """Accept a column name, a TargetSpec, or a {"column", "kind"} mapping (JSON from the API)."""
    field_ = f"targets.{array_name}"
    if isinstance(spec, str):
        return TargetSpec(spec)
    if isinstance(spec, Mapping) and set(spec) <= {"column", "kind"} and isinstance(spec.get("column"), str):
        spec = TargetSpec(**spec)
    if not isinstance(spec, TargetSpec):
        problems.add(
            field_,
            "bad_target_spec",
            f"Target {array_name!r} must be a column name or {{'column': ..., 'kind': ...}}, got {spec!r}.",
        )
        return None
    if spec.kind not in TARGET_KINDS:
        problems.add(
            field_,
            "unknown_target_kind",
            f"Target kind {spec.kind!r} is unknown; use one of {', '.join(TARGET_KINDS)}.",
        )
        return None
    return spec


# ---- converting values, row by row ---------------------------------------------------------


class _Cells:
    """Problem lines for one column, by kind, up to what messages quote (the rest are counted)."""

    def __init__(self) -> None:
        self.missing: list[int] = []
        self.missing_count = 0
        self.text: list[tuple[int, str]] = []
        self.text_count = 0
        self.infinite: list[int] = []
        self.infinite_count = 0

    def add_missing(self, line: int) -> None:
        self.missing_count += 1
        if len(self.missing) <= EXAMPLES_PER_PROBLEM:
            self.missing.append(line)

    def add_text(self, line: int, cell: str) -> None:
        self.text_count += 1
        if len(self.text) <= EXAMPLES_PER_PROBLEM:
            self.text.append((line, cell[:100]))

    def add_infinite(self, line: int) -> None:
        self.infinite_count += 1
        if len(self.infinite) <= EXAMPLES_PER_PROBLEM:
            self.infinite.append(line)

    def report(self, column: str, text_code: str, problems: Problems, *, numeric: bool = True) -> None:
        field_ = f"column:{column}"
        if self.missing_count:
            word = "missing" if numeric else "empty"
            problems.add(
                field_,
                "missing_value",
                f"Column {column!r} has {self.missing_count} {word} value(s) at {_lines_text(self.missing)}; "
                "fill them in or drop those rows.",
            )
        if self.text_count:
            examples = ", ".join(f"line {line}: {cell!r}" for line, cell in self.text[:EXAMPLES_PER_PROBLEM])
            if text_code == "non_numeric_target":
                advice = "fix them, or make this target categorical"
            else:
                advice = "fix them, or encode categories as numbers"
            problems.add(field_, text_code,
                         f"Column {column!r} has {self.text_count} non-numeric value(s) ({examples}); {advice}.")
        if self.infinite_count:
            problems.add(
                field_,
                "non_finite_value",
                f"Column {column!r} has infinite value(s) at {_lines_text(self.infinite)}; replace them with finite numbers.",
            )


def _number(cell: str, line: int, cells: _Cells) -> float:
    """The cell as a float; NaN (recorded in ``cells``) when it is missing, text or infinite."""
    try:
        value = float(cell)  # ignores surrounding spaces
    except ValueError:
        if cell.strip().lower() in MISSING_TOKENS:
            cells.add_missing(line)
        else:
            cells.add_text(line, cell.strip())
        return math.nan
    if not math.isfinite(value):
        if cell.strip().lower() in MISSING_TOKENS:  # "nan"
            cells.add_missing(line)
        else:
            cells.add_infinite(line)
        return math.nan
    return value


@dataclass
class _Target:
    """One target column, kept both ways until its kind is known: as numbers (float64) and as class
    codes of its distinct texts (only while there are at most MAX_CLASSES of them)."""

    spec: TargetSpec
    index: int
    last: bool  # the file's last data column: where a label usually sits
    numbers: array.array = field(default_factory=lambda: array.array("d"))
    numeric_cells: _Cells = field(default_factory=_Cells)
    codes: array.array = field(default_factory=lambda: array.array("l"))
    classes: dict[str, int] | None = field(default_factory=dict)  # None: more than MAX_CLASSES
    empty: list[int] = field(default_factory=list)
    empty_count: int = 0
    all_numeric: bool = True  # every cell a number or a missing token (decides kind "auto")

    def add(self, cell: str, line: int) -> None:
        before = self.numeric_cells.text_count
        self.numbers.append(_number(cell, line, self.numeric_cells))
        if self.numeric_cells.text_count != before:
            self.all_numeric = False
        text = cell.strip()
        if not text:
            self.empty_count += 1
            if len(self.empty) <= EXAMPLES_PER_PROBLEM:
                self.empty.append(line)
        if self.classes is not None:
            code = self.classes.get(text)
            if code is None and text:
                if len(self.classes) >= MAX_CLASSES:
                    self.classes, self.codes = None, array.array("l")
                    return
                code = self.classes[text] = len(self.classes)
            self.codes.append(code if code is not None else -1)


class _Columns:
    """Typed buffers filled one row at a time; ``dataset()`` turns them into arrays."""

    def __init__(self, header: list[str], input_columns: dict[str, list[str]],
                 target_specs: dict[str, TargetSpec], split_column: str | None) -> None:
        self.header = header
        self.width = len(header)
        position = {c: i for i, c in enumerate(header)}
        self.inputs = {a: [position[c] for c in cols] for a, cols in input_columns.items()}
        self.input_names = input_columns
        self.features = {a: array.array("f") for a in input_columns}
        self.feature_cells = {c: _Cells() for cols in input_columns.values() for c in cols}
        last = [c for c in header if c != split_column][-1:]
        self.targets = {a: _Target(spec, position[spec.column], [spec.column] == last) for a, spec in target_specs.items()}
        self.split_index = position.get(split_column) if split_column is not None else None
        self.split_column = split_column
        self.splits = array.array("b")
        self.bad_splits: list[tuple[int, str]] = []
        self.bad_split_count = 0
        self.ragged = Problems()
        self.rows = 0

    def add(self, row: list[str], line: int) -> None:
        if len(row) != self.width:
            self.ragged.add(
                f"line:{line}",
                "ragged_row",
                f"Line {line} has {len(row)} value(s) but the header has {self.width} column(s); "
                "make every row match the header.",
            )
            return
        self.rows += 1
        for array_name, indices in self.inputs.items():
            buffer = self.features[array_name]
            try:
                values = [float(row[i]) for i in indices]  # fast path: every cell a number
                if all(map(math.isfinite, values)):
                    buffer.extend(values)
                    continue
            except ValueError:
                pass
            columns = self.input_names[array_name]
            buffer.extend(_number(row[i], line, self.feature_cells[c]) for i, c in zip(indices, columns))
        for target in self.targets.values():
            target.add(row[target.index], line)
        if self.split_index is not None:
            cell = row[self.split_index].strip()
            split = SPLIT_ALIASES.get(cell.lower())
            if split is None:
                self.bad_split_count += 1
                if len(self.bad_splits) < EXAMPLES_PER_PROBLEM:
                    self.bad_splits.append((line, cell[:100]))
            self.splits.append(SPLIT_CODES.get(split, -1))

    def dataset(self, name: str, input_shapes: Mapping[str, Sequence[int]] | None) -> Dataset:
        problems = Problems()
        arrays: dict[str, np.ndarray] = {}
        kinds: dict[str, str] = {}
        class_names: dict[str, list[str]] = {}
        decided: dict[str, dict[str, object]] = {}
        for array_name, columns in self.input_names.items():
            for column in columns:
                self.feature_cells[column].report(column, "non_numeric_value", problems)
            # The buffer is row-major already: the matrix is a view of it, not a copy.
            matrix = np.frombuffer(self.features.pop(array_name), dtype=np.float32).reshape(self.rows, len(columns))
            arrays[array_name], kinds[array_name] = matrix, "features"
        for array_name, shape in (input_shapes or {}).items():
            if array_name not in arrays or kinds[array_name] != "features":
                problems.add("input_shapes", "unknown_array",
                             f"input_shapes names {array_name!r}, which is not an input array (inputs: {', '.join(self.input_names)}).")
            elif math.prod(shape) != arrays[array_name].shape[1] or min(shape, default=0) < 1:
                problems.add("input_shapes", "shape_mismatch",
                             f"input_shapes gives {array_name!r} the shape {list(shape)} ({math.prod(shape)} values), "
                             f"but it has {arrays[array_name].shape[1]} columns; the product must equal the column count.")
            else:
                arrays[array_name] = arrays[array_name].reshape(-1, *shape)
        for array_name, target in self.targets.items():
            values, names, decided[array_name] = _target_array(target, self.rows, problems)
            arrays[array_name] = values
            kinds[array_name] = "values" if names is None else "class_labels"
            if names is not None:
                class_names[array_name] = names
        if self.bad_split_count:
            examples = ", ".join(f"line {line}: {cell!r}" for line, cell in self.bad_splits)
            problems.add(
                f"column:{self.split_column}",
                "bad_split_value",
                f"Split column {self.split_column!r} has {self.bad_split_count} value(s) that are not train, valid or "
                f"test ({examples}); fix them.",
            )
        problems.raise_if_any()
        if self.split_index is None:
            splits = {"train": arrays}
        else:
            row_splits = np.frombuffer(self.splits, dtype=np.int8)
            splits = {
                split: {array_name: arr[row_splits == code] for array_name, arr in arrays.items()}
                for split, code in SPLIT_CODES.items()
                if np.any(row_splits == code)
            }
        dataset = Dataset.from_arrays(name, splits, class_names=class_names, kinds=kinds)
        return replace(dataset, targets=decided)


def _target_array(target: _Target, rows: int, problems: Problems) -> tuple[np.ndarray, list[str] | None, dict[str, object]]:
    """Return (array, class names, how its kind was decided); class names is None for a numeric target."""
    spec = target.spec
    numbers = np.frombuffer(target.numbers, dtype=np.float64)
    whole = target.all_numeric and target.numeric_cells.missing_count == 0 and target.numeric_cells.infinite_count == 0 \
        and bool(np.all(numbers == np.round(numbers)))
    distinct = np.unique(numbers) if whole else None
    auto_kind, auto_reason = _auto_kind(target, rows, distinct)
    kind, reason = (auto_kind, auto_reason) if spec.kind == "auto" else (spec.kind, "chosen at upload")
    can_be_numeric = target.all_numeric and target.numeric_cells.missing_count == 0
    can_be_labels = distinct is not None and 2 <= len(distinct) <= MAX_CLASSES
    decided = {"column": spec.column, "kind": kind, "requested": spec.kind, "reason": reason, "auto_kind": auto_kind,
               "switch_to": ("numeric" if can_be_numeric else None) if kind == "categorical"
               else ("categorical" if can_be_labels else None)}
    if kind == "numeric":
        target.numeric_cells.report(spec.column, "non_numeric_target", problems)
        return numbers.astype(np.float32).reshape(-1, 1), None, decided
    if distinct is not None and len(distinct) <= MAX_CLASSES:
        # Whole numbers: classes by value, named as integers, so "1" and "1.0" are one class.
        names = [str(int(v)) for v in distinct]
        if len(names) == 1:
            problems.add(f"column:{spec.column}", "single_class",
                         f"Target column {spec.column!r} has only one class ({names[0]!r}); a classifier needs at least two.")
        return np.searchsorted(distinct, numbers).astype(np.int64), names, decided
    return (*_text_classes(target, problems), decided)


def _auto_kind(target: _Target, rows: int, distinct: np.ndarray | None) -> tuple[str, str]:
    """Kind "auto": (kind, why) for a target column, in words for the person who uploaded it."""
    column = target.spec.column
    if not target.all_numeric:
        return "categorical", f"{column!r} holds text values"
    if distinct is None:
        return "numeric", f"{column!r} holds numbers that are not all whole"
    if not 2 <= len(distinct) <= AUTO_MAX_CLASSES or 2 * len(distinct) > rows:
        return "numeric", f"{column!r} holds {len(distinct)} distinct whole numbers (too many for labels)"
    named = re.sub(r"[^a-z0-9]", "", column.lower())
    if named in LABEL_NAMES or named.endswith(("label", "class")):
        where = "is named like a label"
    elif target.last:
        where = "is the last column"
    else:
        return "numeric", f"{column!r} holds {len(distinct)} distinct whole numbers but is neither named like a label nor last"
    shown = ", ".join(str(int(v)) for v in distinct[:8]) + (", ..." if len(distinct) > 8 else "")
    return "categorical", f"{column!r} holds {len(distinct)} distinct whole numbers ({shown}) and {where}"


def _text_classes(target: _Target, problems: Problems) -> tuple[np.ndarray, list[str]]:
    """Class labels from the column's distinct texts."""
    spec = target.spec
    field_ = f"column:{spec.column}"
    if target.empty_count:
        problems.add(
            field_,
            "missing_value",
            f"Column {spec.column!r} has {target.empty_count} empty value(s) at {_lines_text(target.empty)}; "
            "fill them in or drop those rows.",
        )
    if target.classes is None:
        problems.add(
            field_,
            "too_many_classes",
            f"Target column {spec.column!r} has more than {MAX_CLASSES} classes (limit {MAX_CLASSES}); "
            "use it as a numeric target or group classes.",
        )
        return np.zeros(len(target.numbers), dtype=np.int64), []
    first_seen = list(target.classes)
    # Numeric-looking classes ("2" < "10") sort by value, others alphabetically.
    names = sorted(first_seen, key=float) if all(_is_number(c) for c in first_seen) else sorted(first_seen)
    if len(names) == 1:
        problems.add(
            field_,
            "single_class",
            f"Target column {spec.column!r} has only one class ({names[0]!r}); a classifier needs at least two.",
        )
    rank = {c: i for i, c in enumerate(names)}
    recode = np.array([rank[c] for c in first_seen] + [0], dtype=np.int64)  # code -1 (empty) -> 0, reported above
    labels = recode[np.frombuffer(target.codes, dtype=np.int64 if target.codes.itemsize == 8 else np.int32)]
    return labels, names


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _lines_text(lines: list[int]) -> str:
    shown = ", ".join(map(str, lines[:EXAMPLES_PER_PROBLEM]))
    return f"line {shown}" + (", ..." if len(lines) > EXAMPLES_PER_PROBLEM else "")
