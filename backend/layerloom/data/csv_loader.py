"""Load an uploaded CSV file into a Dataset.

Columns are grouped into named arrays: ``inputs`` map an array name to feature
columns, ``targets`` map an array name to one target column. Parsing uses the stdlib
``csv`` module; every problem found (bad header, ragged rows, bad values...) is
reported at once in a DatasetError.
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from .dataset import MAX_CLASSES, Dataset, DatasetError, Problems, read_source

CSV_MAX_BYTES = 100 * 1024**2
CSV_MAX_ROWS = 1_000_000
CSV_MAX_COLUMNS = 10_000

TARGET_KINDS = ("auto", "categorical", "numeric")
# Cells that mean "no value" in a numeric column. Categorical columns treat only the
# empty cell as missing, because "NA" or "None" can be real class names.
MISSING_TOKENS = frozenset({"", "na", "n/a", "nan", "null", "none"})
SPLIT_ALIASES = {"train": "train", "training": "train", "valid": "valid", "validation": "valid", "val": "valid", "test": "test"}
# How many offending cells one problem message quotes before just counting.
EXAMPLES_PER_PROBLEM = 5
# How many column names an "unknown column" message lists.
COLUMNS_LISTED = 30


@dataclass(frozen=True)
class TargetSpec:
    """A target array made from one column; kind "auto" means non-numeric → categorical."""

    column: str
    kind: str = "auto"  # "auto" | "categorical" | "numeric"


@dataclass
class _Table:
    header: list[str]
    rows: list[list[str]]
    lines: list[int]  # line number in the file of each row, for messages

    def column(self, name: str, *, strip: bool = True) -> list[str]:
        index = self.header.index(name)
        if not strip:
            return [row[index] for row in self.rows]
        return [row[index].strip() for row in self.rows]


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
    data = read_source(source, max_bytes=max_bytes, what="CSV")
    text = _decode(data)
    table = _parse(text, delimiter, max_rows, max_columns)

    problems = Problems()
    _check_header(table.header, problems)
    _check_row_lengths(table, problems)
    input_columns, target_specs = _plan_columns(table.header, inputs, targets, split_column, problems)
    problems.raise_if_any()

    arrays: dict[str, np.ndarray] = {}
    kinds: dict[str, str] = {}
    class_names: dict[str, list[str]] = {}
    for array_name, columns in input_columns.items():
        matrix = np.stack([_numeric_column(table, c, problems, "non_numeric_value") for c in columns], axis=1)
        arrays[array_name], kinds[array_name] = matrix.astype(np.float32), "features"
    for array_name, shape in (input_shapes or {}).items():
        if array_name not in arrays or kinds[array_name] != "features":
            problems.add("input_shapes", "unknown_array",
                         f"input_shapes names {array_name!r}, which is not an input array (inputs: {', '.join(input_columns)}).")
        elif math.prod(shape) != arrays[array_name].shape[1] or min(shape, default=0) < 1:
            problems.add("input_shapes", "shape_mismatch",
                         f"input_shapes gives {array_name!r} the shape {list(shape)} ({math.prod(shape)} values), "
                         f"but it has {arrays[array_name].shape[1]} columns; the product must equal the column count.")
        else:
            arrays[array_name] = arrays[array_name].reshape(-1, *shape)
    for array_name, spec in target_specs.items():
        values, names = _target_column(table, spec, problems)
        arrays[array_name] = values
        kinds[array_name] = "values" if names is None else "class_labels"
        if names is not None:
            class_names[array_name] = names
    row_splits = _row_splits(table, split_column, problems)
    problems.raise_if_any()

    splits = {
        split: {array_name: arr[row_splits == split] for array_name, arr in arrays.items()}
        for split in ("train", "valid", "test")
        if np.any(row_splits == split)
    }
    return Dataset.from_arrays(name, splits, class_names=class_names, kinds=kinds)


# ---- reading ----------------------------------------------------------------------


def _decode(data: bytes) -> str:
    try:
        text = data.decode("utf-8-sig")  # -sig: Excel writes a byte-order mark
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise DatasetError.single(
            "file",
            "not_utf8",
            f"The file is not UTF-8 text (invalid byte at line {line}); save it as 'CSV UTF-8'.",
        ) from None
    if "\x00" in text:
        raise DatasetError.single(
            "file",
            "not_utf8",
            "The file contains NUL bytes, so it is not a text CSV; upload a CSV file.",
        )
    if not text.strip():
        raise DatasetError.single(
            "file",
            "empty_file",
            "The file has no content; upload a CSV with a header line and data rows.",
        )
    return text


def _parse(text: str, delimiter: str, max_rows: int, max_columns: int) -> _Table:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header: list[str] | None = None
    rows: list[list[str]] = []
    lines: list[int] = []
    try:
        for row in reader:
            if not row:
                continue  # blank line
            if header is None:
                header = [cell.strip() for cell in row]
                if len(header) > max_columns:
                    raise DatasetError.single(
                        "header",
                        "too_many_columns",
                        f"The file has {len(header)} columns; the limit is {max_columns}. Drop unused columns.",
                    )
                continue
            if len(rows) >= max_rows:
                raise DatasetError.single(
                    "rows",
                    "too_many_rows",
                    f"The file has more than {max_rows} data rows; upload at most {max_rows}.",
                )
            rows.append(row)
            lines.append(reader.line_num)
    except csv.Error as exc:
        raise DatasetError.single(
            f"line:{reader.line_num}",
            "malformed_csv",
            f"Line {reader.line_num} cannot be parsed ({exc}); check its quotes.",
        ) from None
    assert header is not None  # _decode rejected blank files
    if not rows:
        raise DatasetError.single("rows", "no_rows", "The file has a header but no data rows; add at least one row.")
    return _Table(header, rows, lines)


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


def _check_row_lengths(table: _Table, problems: Problems) -> None:
    width = len(table.header)
    for row, line in zip(table.rows, table.lines):
        if len(row) != width:
            problems.add(
                f"line:{line}",
                "ragged_row",
                f"Line {line} has {len(row)} value(s) but the header has {width} column(s); make every row match the header.",
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


# ---- converting values ----------------------------------------------------------------


def _numeric_column(table: _Table, column: str, problems: Problems, text_code: str) -> np.ndarray:
    """Column as float64; reports missing, non-numeric and infinite cells for that column."""
    try:
        # Fast path: every cell is a number (float() ignores surrounding spaces).
        values = np.fromiter(map(float, table.column(column, strip=False)), dtype=np.float64, count=len(table.rows))
        if np.all(np.isfinite(values)):
            return values
    except ValueError:
        values = np.full(len(table.rows), np.nan)
    cells = table.column(column)
    missing: list[int] = []
    text: list[tuple[int, str]] = []
    infinite: list[int] = []
    for i, (cell, line) in enumerate(zip(cells, table.lines)):
        if cell.lower() in MISSING_TOKENS:
            missing.append(line)
            continue
        try:
            values[i] = float(cell)
        except ValueError:
            text.append((line, cell))
            continue
        if not np.isfinite(values[i]):
            infinite.append(line)
    field_ = f"column:{column}"
    if missing:
        problems.add(
            field_,
            "missing_value",
            f"Column {column!r} has {len(missing)} missing value(s) at {_lines(missing)}; fill them in or drop those rows.",
        )
    if text:
        examples = ", ".join(f"line {line}: {cell!r}" for line, cell in text[:EXAMPLES_PER_PROBLEM])
        if text_code == "non_numeric_target":
            advice = "fix them, or make this target categorical"
        else:
            advice = "fix them, or encode categories as numbers"
        problems.add(field_, text_code, f"Column {column!r} has {len(text)} non-numeric value(s) ({examples}); {advice}.")
    if infinite:
        problems.add(
            field_,
            "non_finite_value",
            f"Column {column!r} has infinite value(s) at {_lines(infinite)}; replace them with finite numbers.",
        )
    return values


def _target_column(table: _Table, spec: TargetSpec, problems: Problems) -> tuple[np.ndarray, list[str] | None]:
    """Return (array, class names); class names is None for a numeric target."""
    cells = table.column(spec.column)
    kind = spec.kind
    if kind == "auto":
        kind = "numeric" if all(_is_number(c) or c.lower() in MISSING_TOKENS for c in cells) else "categorical"
    if kind == "numeric":
        values = _numeric_column(table, spec.column, problems, "non_numeric_target")
        return values.astype(np.float32).reshape(-1, 1), None

    field_ = f"column:{spec.column}"
    missing = [line for cell, line in zip(cells, table.lines) if not cell]
    if missing:
        problems.add(
            field_,
            "missing_value",
            f"Column {spec.column!r} has {len(missing)} empty value(s) at {_lines(missing)}; fill them in or drop those rows.",
        )
    classes = {c for c in cells if c}
    # Numeric-looking classes ("2" < "10") sort by value, others alphabetically.
    names = sorted(classes, key=float) if all(_is_number(c) for c in classes) else sorted(classes)
    if len(names) == 1:
        problems.add(
            field_,
            "single_class",
            f"Target column {spec.column!r} has only one class ({names[0]!r}); a classifier needs at least two.",
        )
    if len(names) > MAX_CLASSES:
        problems.add(
            field_,
            "too_many_classes",
            f"Target column {spec.column!r} has {len(names)} classes (limit {MAX_CLASSES}); "
            "use it as a numeric target or group classes.",
        )
    index = {c: i for i, c in enumerate(names)}
    labels = np.array([index.get(c, 0) for c in cells], dtype=np.int64)
    return labels, names


def _row_splits(table: _Table, split_column: str | None, problems: Problems) -> np.ndarray:
    if split_column is None:
        return np.full(len(table.rows), "train")
    cells = table.column(split_column)
    resolved = [SPLIT_ALIASES.get(c.lower(), "") for c in cells]
    bad = [(line, cell) for cell, split, line in zip(cells, resolved, table.lines) if not split]
    if bad:
        examples = ", ".join(f"line {line}: {cell!r}" for line, cell in bad[:EXAMPLES_PER_PROBLEM])
        problems.add(
            f"column:{split_column}",
            "bad_split_value",
            f"Split column {split_column!r} has {len(bad)} value(s) that are not train, valid or test ({examples}); fix them.",
        )
    return np.array(resolved)


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _lines(lines: list[int]) -> str:
    shown = ", ".join(map(str, lines[:EXAMPLES_PER_PROBLEM]))
    return f"line {shown}" + (", ..." if len(lines) > EXAMPLES_PER_PROBLEM else "")
