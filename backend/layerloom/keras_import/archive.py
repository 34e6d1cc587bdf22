"""Open what the user uploaded: a Keras 3 ``.keras`` archive (a zip holding ``config.json`` and
``model.weights.h5``) or a ``model.to_json()`` document. The zip goes through the same hostile-archive
checks as dataset uploads; nothing in it is unpickled or executed, only JSON and HDF5 arrays are read."""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from typing import Any

from ..data.dataset import DatasetError
from ..data.image_zip import check_archive_members
from .errors import KerasImportError, Problem

CONFIG_MEMBER = "config.json"
WEIGHTS_MEMBER = "model.weights.h5"
MAX_CONFIG_BYTES = 64 * 1024**2  # a config.json describing thousands of layers is a few MB


@dataclass
class KerasFile:
    config: dict[str, Any]  # the model's serialized config: {"class_name", "config", "compile_config"?, ...}
    weights: bytes | None  # model.weights.h5, when the upload has weights


def open_upload(data: bytes) -> KerasFile:
    """A .keras archive or a JSON config, told apart by their first bytes (not the file name)."""
    if data[:4] == b"PK\x03\x04":
        return _open_archive(data)
    return KerasFile(_parse_json(data, "The file"), None)


def _open_archive(data: bytes) -> KerasFile:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise KerasImportError.single("not_a_keras_file", "The file is not a valid zip archive; save the model "
                                      "with model.save('model.keras') or upload model.to_json().") from None
    with archive:
        try:
            check_archive_members(archive)
        except DatasetError as err:
            raise KerasImportError([Problem(p["code"], p["message"]) for p in err.problems]) from None
        names = set(archive.namelist())
        if CONFIG_MEMBER not in names:
            if any(name.endswith(".pb") or name.startswith("variables/") for name in names):
                message = ("This zip looks like a TensorFlow SavedModel, not a Keras 3 .keras archive; "
                           "load it in Keras and save it with model.save('model.keras').")
            else:
                message = f"The archive has no {CONFIG_MEMBER}; it is not a Keras 3 .keras file."
            raise KerasImportError.single("not_a_keras_file", message)
        info = archive.getinfo(CONFIG_MEMBER)
        if info.file_size > MAX_CONFIG_BYTES:
            raise KerasImportError.single("too_large", f"{CONFIG_MEMBER} is {info.file_size} bytes; the limit is "
                                          f"{MAX_CONFIG_BYTES}.")
        config = _parse_json(archive.read(CONFIG_MEMBER), CONFIG_MEMBER)
        weights = archive.read(WEIGHTS_MEMBER) if WEIGHTS_MEMBER in names else None
    return KerasFile(config, weights)


def _parse_json(raw: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(raw.decode("utf-8"), parse_constant=_no_constants)
    except (UnicodeDecodeError, ValueError, RecursionError) as err:
        raise KerasImportError.single(
            "not_a_keras_file", f"{what} is neither a .keras archive nor a JSON model config "
            f"(model.to_json()): {str(err)[:200]}") from None
    if not isinstance(value, dict) or "class_name" not in value:
        raise KerasImportError.single("not_a_keras_file", f"{what} is JSON but not a Keras model config: it needs "
                                      "'class_name' and 'config' at the top, as model.to_json() writes.")
    return value


def _no_constants(name: str) -> None:
    raise ValueError(f"{name} is not JSON")
