"""Uploaded dataset files: where they live under ``data_dir``, the options each kind is parsed
with, and their parsed arrays.

An upload is parsed once (``load_dataset_file``) and its arrays are kept next to the file as one
``.npy`` per array and split (``arrays/``, listed by ``arrays/dataset.json``). Everything that reads
a stored dataset afterwards — samples, job submissions, the runner — opens those with
``open_stored_dataset``: memory-mapped (``np.load(mmap_mode="r")``), never re-parsed, so reading a
dataset costs the pages touched, not the file's parse. A dataset stored before this form existed
gets it built once, on first use, and kept.

An image zip is the exception: it stays as uploaded, with ``index.json`` (members, labels, classes,
image size) beside it, and its images are decoded only when read (``data.image_stream``). Every file
of a dataset is read relative to its folder, so the folder can move (e.g. to a worker's cache)."""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np

from pydantic import BaseModel, ConfigDict, Field

from .. import data
from ..data.builtins import builtin_fingerprint
from ..data.folders import RootGuard, data_roots, index_image_folder, resolve_in_roots
from ..data.image_stream import index_image_zip, open_image_index
from .kinds import DatasetKind

logger = logging.getLogger(__name__)

DATASETS_DIR = "datasets"
ARRAYS_DIR = "arrays"
ARRAYS_INDEX = "dataset.json"
UPLOADS_TMP_DIR = "tmp"
FOLDER_INDEX = "folder.json"  # a registered server folder's index (data/folders.py); the images stay there
IMAGE_INDEX = "index.json"  # an image zip's members, classes and splits (data/image_stream.py)

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


def parse_upload(kind: DatasetKind, path: str | os.PathLike[str], options: dict[str, Any], *, name: str,
                 max_bytes: int) -> tuple[data.Dataset, dict[str, Any] | None]:
    """Check an upload: (its dataset, for describing it; the image index to keep, for image zips).
    An image zip is indexed (headers checked, one image decoded), never decoded whole."""
    if kind == DatasetKind.IMAGES:
        o = ImageZipOptions.model_validate(options)
        index = index_image_zip(path, image_size=o.image_size, color_mode=o.color_mode, max_bytes=max_bytes)
        return open_image_index(path, index, name=name), index
    return load_dataset_file(kind, path, options, name=name, max_bytes=max_bytes), None


def save_parsed(dataset: data.Dataset, index: dict[str, Any] | None, directory: Path) -> None:
    """Keep what ``parse_upload`` found beside the stored file: the image index, or the arrays."""
    if index is not None:
        save_image_index(index, directory)
    else:
        save_arrays(dataset, directory)


def save_image_index(index: dict[str, Any], directory: Path) -> None:
    tmp = directory / f".{IMAGE_INDEX}.tmp"
    tmp.write_text(json.dumps(index), encoding="utf-8")
    os.replace(tmp, directory / IMAGE_INDEX)  # a reader sees all of it or none


def save_arrays(dataset: data.Dataset, directory: Path, *, replace: bool = False) -> None:
    """Write ``dataset`` as ``directory/arrays``: one .npy per (split, array), named by position (array
    names are the user's text, never part of a path), and an index with names, kinds and classes.
    Written to a temporary folder and renamed, so a reader sees all of it or none. ``replace`` swaps
    out arrays already there (a re-parse with new options); readers that mapped the old files keep them."""
    target = directory / ARRAYS_DIR
    tmp = Path(tempfile.mkdtemp(prefix=".arrays-", dir=directory))
    try:
        files: dict[str, dict[str, str]] = {}
        for split, arrays in dataset.splits.items():
            files[split] = {}
            for position, (array_name, values) in enumerate(arrays.items()):
                file_name = f"{split}-{position}.npy"
                np.save(tmp / file_name, np.ascontiguousarray(values), allow_pickle=False)
                files[split][array_name] = file_name
        index = {"name": dataset.name, "files": files, "kinds": dataset.kinds,
                 "class_names": dataset.class_names, "notes": dataset.notes, "targets": dataset.targets}
        (tmp / ARRAYS_INDEX).write_text(json.dumps(index), encoding="utf-8")
        if replace and target.exists():
            old = Path(tempfile.mkdtemp(prefix=".arrays-old-", dir=directory))
            os.replace(target, old / ARRAYS_DIR)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
            return
        try:
            os.replace(tmp, target)
        except OSError:
            if not (target / ARRAYS_INDEX).is_file():  # not another process having built it first
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def open_arrays(directory: Path) -> data.Dataset | None:
    """The stored arrays of ``directory``, memory-mapped read-only; None when they were never built.
    They were validated when written, so they are not checked again."""
    index_path = directory / ARRAYS_DIR / ARRAYS_INDEX
    if not index_path.is_file():
        return None
    index = json.loads(index_path.read_text(encoding="utf-8"))
    splits = {split: {array_name: np.load(directory / ARRAYS_DIR / file_name, mmap_mode="r", allow_pickle=False)
                      for array_name, file_name in files.items()}
              for split, files in index["files"].items()}
    return data.Dataset(index["name"], splits, index["class_names"], index["kinds"], index["notes"],
                        index.get("targets", {}))


def builtin_cache_dir(storage_cache_dir: Path) -> Path:
    """Where this machine keeps its copies of the built-in datasets (beside its copies of uploads)."""
    return Path(storage_cache_dir) / "builtins"


def open_builtin(name: str, cache_dir: Path | None) -> data.Dataset:
    """A built-in dataset, memory-mapped from this machine's copy under ``cache_dir`` (written by the
    first reader, and again when the built-ins' code or scikit-learn changes): later jobs and API
    calls on it neither import scikit-learn nor hold the arrays. ``cache_dir`` None: made in memory."""
    if cache_dir is None or name not in data.BUILTIN_DATASETS:
        return data.load_builtin(name)  # an unknown name gets load_builtin's message
    directory = Path(cache_dir) / f"{name}-{builtin_fingerprint()}"
    dataset = open_arrays(directory)
    if dataset is not None:
        return dataset
    made = data.load_builtin(name)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        save_arrays(made, directory)  # atomic: concurrent first readers both succeed
    except OSError as exc:  # a full or read-only disk: this job or request still gets its data
        logger.warning("could not keep built-in dataset %r under %s (%s); using it from memory", name, directory, exc)
        return made
    return open_arrays(directory) or made


def open_stored_dataset(kind: DatasetKind, path: str | os.PathLike[str], options: dict[str, Any], *, name: str,
                        max_bytes: int, roots: list[Path] | None = None) -> data.Dataset:
    """A stored upload's arrays (memory-mapped), built from its file the first time when missing.
    A registered folder is read only inside ``roots`` (the service passes its settings' data roots;
    None: LAYERLOOM_DATA_ROOTS, which is how a runner gets them).
    Raises ``layerloom.data.DatasetError`` when the file can no longer be parsed."""
    directory = Path(path).parent
    if Path(path).name == FOLDER_INDEX:  # a registered server folder: checked against the roots again now
        index = json.loads(Path(path).read_text(encoding="utf-8"))
        folder = resolve_in_roots(index["path"], data_roots() if roots is None else roots)
        return open_image_index(folder, index, name=name, check_path=RootGuard(str(folder)))
    if kind == DatasetKind.IMAGES and not (directory / ARRAYS_DIR / ARRAYS_INDEX).is_file():
        # Image zips are read in place through their index (built once for a zip stored before it).
        index_path = directory / IMAGE_INDEX
        if not index_path.is_file():
            o = ImageZipOptions.model_validate(options)
            save_image_index(index_image_zip(path, image_size=o.image_size, color_mode=o.color_mode,
                                             max_bytes=max_bytes), directory)
        return open_image_index(path, json.loads(index_path.read_text(encoding="utf-8")), name=name)
    dataset = open_arrays(directory)
    if dataset is None:
        save_arrays(load_dataset_file(kind, path, options, name=name, max_bytes=max_bytes), directory)
        dataset = open_arrays(directory)
        assert dataset is not None
    return dataset


def dataset_dir(data_dir: Path, dataset_id: str) -> Path:
    return data_dir / DATASETS_DIR / dataset_id


def stored_path(dataset_id: str, kind: DatasetKind) -> str:
    """The file's path relative to ``data_dir``, as kept in ``Dataset.storage_path``."""
    return f"{DATASETS_DIR}/{dataset_id}/{STORED_FILE_NAMES[kind]}"


def uploads_tmp_dir(data_dir: Path) -> Path:
    """Where uploads stream to: inside data_dir, so moving a finished one into place is a rename."""
    return data_dir / UPLOADS_TMP_DIR


def register_folder(session, data_dir: Path, owner, path: str, name: str, options: dict[str, Any],
                    roots: list[Path]):
    """Record a server folder (under ``roots``) as an images dataset every user can train on; returns the
    row. Raises DatasetError (the path refused, or the layout's problems) before anything is kept."""
    from .models import Dataset, new_id

    folder = resolve_in_roots(path, roots)
    o = ImageZipOptions.model_validate(options)
    try:
        index = index_image_folder(folder, image_size=o.image_size, color_mode=o.color_mode)
    except OSError as exc:  # unreadable files or folders: say which, never a 500
        raise data.DatasetError.single("path", "folder_unreadable",
                                       f"The folder cannot be read ({exc.strerror}: {exc.filename}).") from None
    described = open_image_index(folder, index, name=name).describe()
    dataset_id = new_id()
    row = Dataset(id=dataset_id, owner_id=owner.id, name=name, kind=DatasetKind.IMAGES, description=described,
                  storage_path=f"{DATASETS_DIR}/{dataset_id}/{FOLDER_INDEX}", size_bytes=0, sha256="",
                  options=o.model_dump(mode="json"))
    directory = dataset_dir(data_dir, dataset_id)
    directory.mkdir(parents=True)
    try:
        (directory / FOLDER_INDEX).write_text(json.dumps(index), encoding="utf-8")
        session.add(row)
        session.commit()
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    return row
