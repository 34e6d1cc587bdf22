"""Load an uploaded NumPy ``.npz`` archive into a Dataset.

Member names give array names and splits: ``x``/``y`` go to train; ``x_train``,
``x_valid`` (or ``x_val``/``x_validation``), ``x_test`` and the prefix forms
``train_x``... go to that split. Pickles are never loaded (``allow_pickle=False``).
"""

from __future__ import annotations

import io
import os
import re
import zipfile
from collections.abc import Mapping, Sequence

import numpy as np

from .dataset import Dataset, DatasetError, Problems, human_bytes, read_source, sizes_apart

NPZ_MAX_BYTES = 1024**3  # both the file and the total of its uncompressed arrays
NPZ_MAX_MEMBERS = 1_000

_SPLIT_WORDS = {"train": "train", "training": "train", "valid": "valid", "val": "valid", "validation": "valid", "test": "test"}
_WORDS = "|".join(_SPLIT_WORDS)
# Used with fullmatch: the whole member name, never a prefix or a name with a trailing newline.
_SUFFIXED = re.compile(rf"(?P<base>.+)_(?P<split>{_WORDS})")
_PREFIXED = re.compile(rf"(?P<split>{_WORDS})_(?P<base>.+)")


def load_npz(
    source: str | os.PathLike[str] | bytes,
    *,
    arrays: Mapping[str, str] | Sequence[str] | None = None,
    kinds: Mapping[str, str] | None = None,
    name: str = "npz",
    max_bytes: int = NPZ_MAX_BYTES,
    max_members: int = NPZ_MAX_MEMBERS,
) -> Dataset:
    """Read a ``.npz`` (path or bytes) into a Dataset.

    ``arrays`` selects arrays by their base name (``x`` for ``x_train``): a list keeps
    those, a mapping keeps and renames them (``{"x": "image"}``). ``kinds`` overrides the
    inferred kind per (final) array name. Integer arrays with one value per sample become
    class labels (int64, class names "0".."K-1"); other integer arrays and float arrays
    become float32 features, 1-D float arrays regression values of shape (1,).
    """
    data = read_source(source, max_bytes=max_bytes, what="NPZ")
    _check_archive(data, max_bytes, max_members)

    problems = Problems()
    by_split: dict[str, dict[str, np.ndarray]] = {}
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        for key in npz.files:
            base, split = _split_key(key)
            array = _load_member(npz, key, problems)
            if array is None:
                continue
            if base in by_split.get(split, {}):
                problems.add(
                    f"array:{key}",
                    "duplicate_array",
                    f"More than one member gives {base!r} in {split} (one is {key!r}); keep only one.",
                )
                continue
            by_split.setdefault(split, {})[base] = array
    renames = _resolve_selection(arrays, by_split, problems)
    problems.raise_if_any()

    splits = {
        split: {renames[base]: array for base, array in members.items() if base in renames}
        for split, members in by_split.items()
    }
    return Dataset.from_arrays(name, splits, kinds=kinds)


def _check_archive(data: bytes, max_bytes: int, max_members: int) -> None:
    """Reject non-zips and oversized archives before numpy reads anything."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        if data.startswith(b"\x93NUMPY"):
            message = "This is a single .npy array, not an .npz archive; save with np.savez(path, x=..., y=...)."
        else:
            message = "The file is not an .npz archive; save arrays with np.savez(path, x=..., y=...)."
        raise DatasetError.single("file", "not_npz", message) from None
    with archive:
        infos = archive.infolist()
        problems = Problems()
        if len(infos) > max_members:
            problems.add("file", "too_many_members", f"The archive has {len(infos)} arrays; the limit is {max_members}.")
        total = sum(info.file_size for info in infos)
        if total > max_bytes:
            # np.savez_compressed can hide a huge array in a small file.
            problems.add(
                "file",
                "too_large_uncompressed",
                "The arrays total {} uncompressed; the limit is {}. Upload less data.".format(
                    *sizes_apart(total, max_bytes)),
            )
        if not infos:
            problems.add("file", "no_arrays", "The archive holds no arrays; save at least x and y.")
        problems.raise_if_any()
        for info in infos:
            _check_member_header(archive, info, problems)
    problems.raise_if_any()


def _check_member_header(archive: zipfile.ZipFile, info: zipfile.ZipInfo, problems: Problems) -> None:
    """Check that a member is a .npy whose header does not claim more data than it holds.

    numpy allocates the array from the header's shape before reading the data, so a
    forged shape in a tiny file would otherwise allocate gigabytes.
    """
    field_ = f"array:{info.filename.removesuffix('.npy')}"
    if not info.filename.endswith(".npy"):
        problems.add(field_, "bad_member", f"Member {info.filename!r} is not a .npy array; save the file with np.savez.")
        return
    try:
        with archive.open(info) as fh:
            version = np.lib.format.read_magic(fh)
            read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, _, dtype = read_header(fh)
            header_bytes = fh.tell()
    except Exception as exc:  # not .npy, corrupt, encrypted...
        problems.add(
            field_,
            "bad_member",
            f"Member {info.filename!r} is not a readable .npy array ({exc}); save it again with np.savez.",
        )
        return
    if dtype.hasobject:
        return  # refused later without unpickling: np.load runs with allow_pickle=False
    claimed = int(np.prod(shape, dtype=object)) * dtype.itemsize
    if claimed > info.file_size - header_bytes:
        problems.add(
            field_,
            "bad_member",
            f"Member {info.filename!r} claims shape {shape} ({human_bytes(claimed)}) but holds less data; "
            "save it again with np.savez.",
        )


def _split_key(key: str) -> tuple[str, str]:
    """'x_train' -> ('x', 'train'), 'test_y' -> ('y', 'test'), 'x' -> ('x', 'train')."""
    for pattern in (_SUFFIXED, _PREFIXED):
        match = pattern.fullmatch(key)
        if match:
            return match["base"], _SPLIT_WORDS[match["split"]]
    return key, "train"


def _load_member(npz, key: str, problems: Problems) -> np.ndarray | None:
    try:
        return npz[key]
    except ValueError as exc:
        if "allow_pickle" in str(exc):
            problems.add(
                f"array:{key}",
                "object_array",
                f"Array {key!r} holds Python objects (it needs pickle); save numeric arrays only.",
            )
        else:
            problems.add(
                f"array:{key}",
                "bad_member",
                f"Member {key!r} is not a readable .npy array ({exc}); save it again with np.savez.",
            )
    except Exception as exc:  # corrupt data, bad CRC, encrypted member...
        problems.add(
            f"array:{key}",
            "bad_member",
            f"Member {key!r} cannot be read ({type(exc).__name__}: {exc}); save it again with np.savez.",
        )
    return None


def _resolve_selection(selection, by_split, problems: Problems) -> dict[str, str]:
    """Map base name -> final array name for the arrays to keep."""
    available = list(dict.fromkeys(base for members in by_split.values() for base in members))
    if selection is None:
        return {base: base for base in available}
    if isinstance(selection, str):
        selection = [selection]
    renames = dict(selection) if isinstance(selection, Mapping) else {base: base for base in selection}
    for base in renames:
        if base not in available:
            problems.add(
                f"arrays.{base}",
                "unknown_array",
                f"There is no array {base!r} in the file; available: {', '.join(available) or 'none'}.",
            )
    targets = list(renames.values())
    for target in sorted({t for t in targets if targets.count(t) > 1}):
        problems.add(
            f"arrays.{target}",
            "duplicate_array",
            f"More than one array is renamed to {target!r}; give each a different name.",
        )
    return renames
