"""Image datasets kept as they came: the zip (or a folder) plus a small index, decoded on demand.

``index_image_zip`` checks an uploaded zip the way ``load_image_zip`` does (hostile names, links,
encryption, bombs, the folder layout, every member's CRC and image header) but decodes only one
image, so checking costs flat memory whatever the dataset's size. ``ImageArray`` is the array a
stored image dataset's ``x`` becomes: it has a shape and a dtype, and indexing it decodes just the
images asked for (a slice or an index array gives another lazy ImageArray only when asked with
``subset``). The archive is opened once per process, so DataLoader workers each read their own.
"""

from __future__ import annotations

import io
import os
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from .dataset import Dataset, DatasetError, Problems, check_size
from .image_zip import (COLOR_MODES, IMAGE_MAX_PIXELS, SPLIT_ORDER, ZIP_MAX_BYTES, ZIP_MAX_MEMBERS, ZIP_MAX_RATIO,
                        ZIP_MAX_TOTAL_BYTES, _check_members, _check_options, _find_images, decode_image)

INDEX_VERSION = 1


def index_image_zip(path: str | os.PathLike[str], *, image_size: tuple[int, int] = (32, 32), color_mode: str = "rgb",
                    max_bytes: int = ZIP_MAX_BYTES, max_members: int = ZIP_MAX_MEMBERS,
                    max_total_bytes: int = ZIP_MAX_TOTAL_BYTES, max_ratio: float = ZIP_MAX_RATIO,
                    max_image_pixels: int = IMAGE_MAX_PIXELS) -> dict[str, Any]:
    """The index of an image zip: {image_size, color_mode, class_names, splits: {split: {members, labels}}}.
    Raises DatasetError listing every problem; reads one member at a time, decodes one image."""
    _check_options(image_size, color_mode)
    try:
        check_size(os.stat(path).st_size, max_bytes, "zip")
        if os.stat(path).st_size == 0:
            raise DatasetError.single("file", "empty_file", "The zip file is empty; upload a file with data in it.")
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise DatasetError.single("file", "not_a_zip",
                                  "The file is not a zip archive; upload a .zip of image folders.") from None
    with archive:
        _check_members(archive.infolist(), max_members, max_total_bytes, max_ratio)
        images, class_names = _find_images(archive.infolist())
        problems = Problems()
        for image in images:
            _check_header(archive, image.info, max_image_pixels, problems)
        problems.raise_if_any()
        first = archive.read(images[0].info)
        _decode_one(first, image_size, color_mode, max_image_pixels, images[0].info.filename)
    label_of = {c: i for i, c in enumerate(class_names)}
    splits = {}
    for split in SPLIT_ORDER:
        chosen = [image for image in images if image.split == split]
        if chosen:
            splits[split] = {"members": [image.info.filename for image in chosen],
                             "labels": [label_of[image.class_name] for image in chosen]}
    return {"version": INDEX_VERSION, "source": "zip", "image_size": list(image_size), "color_mode": color_mode,
            "class_names": class_names, "splits": splits}


def _check_header(archive: zipfile.ZipFile, info: zipfile.ZipInfo, max_pixels: int, problems: Problems) -> None:
    """Unpack one member (so a bad CRC shows now) and read its image header, not its pixels."""
    field_ = f"member:{info.filename}"
    try:
        raw = archive.read(info)
    except Exception as exc:  # bad CRC, unsupported compression: the archive lies about itself
        problems.add(field_, "bad_member", f"Entry {info.filename!r} cannot be unpacked ({type(exc).__name__}); zip it again.")
        return
    check_image_header(raw, info.filename, max_pixels, problems)


def check_image_header(raw: bytes, name: str, max_pixels: int, problems: Problems) -> None:
    field_ = f"member:{name}"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)  # Pillow's own bomb guard
            with Image.open(io.BytesIO(raw)) as source:
                width, height = source.size
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        problems.add(field_, "image_too_large", f"Image {name!r} is too large to decode safely ({exc}); "
                     f"the limit is {max_pixels} pixels. Resize it before uploading.")
        return
    except Exception as exc:  # Pillow raises many types on hostile or broken files
        problems.add(field_, "bad_image", f"Image {name!r} cannot be decoded ({type(exc).__name__}); replace or remove it.")
        return
    if width * height > max_pixels:
        problems.add(field_, "image_too_large",
                     f"Image {name!r} is too large to decode safely ({width}x{height} pixels); "
                     f"the limit is {max_pixels} pixels. Resize it before uploading.")


def _decode_one(raw: bytes, image_size, color_mode: str, max_pixels: int, name: str) -> np.ndarray:
    """One image as training sees it (data/image_zip.decode_image: the same resize and scaling)."""
    return decode_image(raw, image_size=tuple(image_size), color_mode=color_mode, name=name, max_pixels=max_pixels)


class ImageArray:
    """Images of one split as a read-only array of float32 (C, H, W) in [0, 1], decoded on demand.

    ``source`` is a zip file or a folder; ``members`` are paths inside it. Integer indexing gives
    one image, a slice or an index array gives the decoded stack of those images."""

    dtype = np.dtype(np.float32)

    def __init__(self, source: str | os.PathLike[str], members: list[str], image_size, color_mode: str,
                 check_path=None) -> None:
        self.source = str(source)
        self.members = list(members)
        self.image_size = tuple(image_size)
        self.color_mode = color_mode
        self.check_path = check_path  # for folders: refuses a file that resolves outside the root
        self._archive: zipfile.ZipFile | None = None
        self._pid = -1

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.members), len(COLOR_MODES[self.color_mode]), *self.image_size)

    @property
    def ndim(self) -> int:
        return 4

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape)) * 4

    def __len__(self) -> int:
        return len(self.members)

    def __getstate__(self) -> dict[str, Any]:  # an open archive never travels to a worker
        return {**self.__dict__, "_archive": None, "_pid": -1}

    def subset(self, index) -> ImageArray:
        """The images at ``index`` (an index array or a slice) as another lazy array."""
        chosen = np.arange(len(self))[index]
        return ImageArray(self.source, [self.members[i] for i in chosen], self.image_size, self.color_mode,
                          self.check_path)

    def __getitem__(self, index):
        if isinstance(index, (int, np.integer)):
            return self._decode(self.members[int(index)])
        chosen = np.arange(len(self))[index]
        out = np.empty((len(chosen), *self.shape[1:]), dtype=np.float32)
        for row, i in enumerate(chosen):
            out[row] = self._decode(self.members[int(i)])
        return out

    def __array__(self, dtype=None, copy=None):
        values = self[:]
        return values if dtype is None else values.astype(dtype)

    def _read(self, member: str) -> bytes:
        if Path(self.source).is_dir():
            path = Path(self.source) / member
            if self.check_path is not None:
                path = self.check_path(path)
            return path.read_bytes()
        if self._archive is None or self._pid != os.getpid():  # one handle per process (fork-safe)
            self._archive = zipfile.ZipFile(self.source)
            self._pid = os.getpid()
        return self._archive.read(member)

    def _decode(self, member: str) -> np.ndarray:
        return _decode_one(self._read(member), self.image_size, self.color_mode, IMAGE_MAX_PIXELS, member)


def open_image_index(source: str | os.PathLike[str], index: dict[str, Any], *, name: str,
                     check_path=None) -> Dataset:
    """A Dataset whose ``x`` per split is an ImageArray over ``source`` and whose ``y`` is int64 labels.
    Built directly (not through from_arrays, which would decode): the index was checked when made."""
    splits = {split: {"x": ImageArray(source, entry["members"], index["image_size"], index["color_mode"], check_path),
                      "y": np.asarray(entry["labels"], dtype=np.int64)}
              for split, entry in index["splits"].items()}
    return Dataset(name, splits, {"y": list(index["class_names"])}, {"x": "features", "y": "class_labels"}, {})


def is_lazy(values: Any) -> bool:
    return isinstance(values, ImageArray)
