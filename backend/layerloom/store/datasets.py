"""Uploaded dataset files: where they live under ``data_dir``, the options each kind is parsed
with, and reading one back into a ``layerloom.data.Dataset`` (the upload route and the job runner
both go through ``load_dataset_file``, so a stored dataset always parses the way it was accepted)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .. import data
from .kinds import DatasetKind

DATASETS_DIR = "datasets"
UPLOADS_TMP_DIR = "tmp"

# The stored file is named by the server, never after the user's file name.
STORED_FILE_NAMES = {DatasetKind.CSV: "data.csv", DatasetKind.NPZ: "data.npz", DatasetKind.IMAGES: "images.zip"}
EXTENSION_KINDS = {".csv": DatasetKind.CSV, ".npz": DatasetKind.NPZ, ".zip": DatasetKind.IMAGES}

ArrayName = Annotated[str, Field(min_length=1, max_length=100)]
ColumnName = Annotated[str, Field(max_length=1000)]


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CsvTarget(_Options):
    column: ColumnName
    kind: Literal["auto", "categorical", "numeric"] = "auto"


class CsvOptions(_Options):
    """Which columns make each named input and target array (defaults: last column -> ``y``, the
    others -> ``x``) and an optional column holding train / valid / test per row."""

    inputs: dict[ArrayName, list[ColumnName]] | None = None
    targets: dict[ArrayName, ColumnName | CsvTarget] | None = None
    split_column: ColumnName | None = None
    input_shapes: dict[ArrayName, Annotated[list[Annotated[int, Field(ge=1, le=1_000_000)]], Field(min_length=1, max_length=4)]] | None = None
    delimiter: str = Field(",", min_length=1, max_length=1)


class NpzOptions(_Options):
    """Arrays to keep (a list) or keep and rename (``{"x": "image"}``), and kinds to override."""

    arrays: list[ArrayName] | dict[ArrayName, ArrayName] | None = None
    kinds: dict[ArrayName, Literal["features", "class_labels", "values"]] | None = None


class ImageZipOptions(_Options):
    """Images are resized to ``image_size`` = (height, width)."""

    image_size: tuple[int, int] = (32, 32)
    color_mode: Literal["rgb", "grayscale"] = "rgb"


OPTIONS_MODELS: dict[DatasetKind, type[_Options]] = {
    DatasetKind.CSV: CsvOptions,
    DatasetKind.NPZ: NpzOptions,
    DatasetKind.IMAGES: ImageZipOptions,
}


def parse_options(kind: DatasetKind, raw: dict[str, Any]) -> dict[str, Any]:
    """Validate ``raw`` for ``kind``; returns the options as stored (JSON, defaults filled in).
    Raises pydantic.ValidationError."""
    return OPTIONS_MODELS[kind].model_validate(raw).model_dump(mode="json", exclude_none=True)


def load_dataset_file(kind: DatasetKind, path: str | os.PathLike[str], options: dict[str, Any], *, name: str,
                      max_bytes: int) -> data.Dataset:
    """Parse a stored or freshly uploaded file; raises ``layerloom.data.DatasetError``."""
    if kind == DatasetKind.CSV:
        o = CsvOptions.model_validate(options)
        targets = None if o.targets is None else {
            k: v if isinstance(v, str) else data.TargetSpec(v.column, v.kind) for k, v in o.targets.items()}
        return data.load_csv(path, inputs=o.inputs, targets=targets, split_column=o.split_column,
                             input_shapes=o.input_shapes, delimiter=o.delimiter, name=name, max_bytes=max_bytes)
    if kind == DatasetKind.NPZ:
        o = NpzOptions.model_validate(options)
        return data.load_npz(path, arrays=o.arrays, kinds=o.kinds, name=name, max_bytes=max_bytes)
    if kind == DatasetKind.IMAGES:
        o = ImageZipOptions.model_validate(options)
        return data.load_image_zip(path, image_size=o.image_size, color_mode=o.color_mode, name=name,
                                   max_bytes=max_bytes)
    raise ValueError(f"not an uploaded dataset kind: {kind!r}")


def dataset_dir(data_dir: Path, dataset_id: str) -> Path:
    return data_dir / DATASETS_DIR / dataset_id


def stored_path(dataset_id: str, kind: DatasetKind) -> str:
    """The file's path relative to ``data_dir``, as kept in ``Dataset.storage_path``."""
    return f"{DATASETS_DIR}/{dataset_id}/{STORED_FILE_NAMES[kind]}"


def uploads_tmp_dir(data_dir: Path) -> Path:
    """Where uploads stream to: inside data_dir, so moving a finished one into place is a rename."""
    return data_dir / UPLOADS_TMP_DIR
