"""Load an uploaded zip of image folders (the Keras ``image_dataset_from_directory`` layout).

Layout: ``train/<class>/<image>``, optionally ``valid/`` (or ``validation/``, ``val/``)
and ``test/``, possibly inside one wrapper folder. The zip is treated as hostile: its
member names, types, sizes and compression ratios are checked before anything is
decompressed, images are decoded in memory (nothing is extracted to disk), and image
dimensions are checked before pixels are decoded.
"""

from __future__ import annotations

import io
import os
import re
import stat
import warnings
import zipfile
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps

from .dataset import Dataset, DatasetError, Problems, human_bytes, read_source, sizes_apart

ZIP_MAX_BYTES = 1024**3  # the zip file itself
ZIP_MAX_MEMBERS = 50_000
ZIP_MAX_TOTAL_BYTES = 1024**3  # sum of uncompressed member sizes
ZIP_MAX_RATIO = 200  # uncompressed / compressed per member; real images barely compress
IMAGE_MAX_PIXELS = 4096 * 4096  # per source image, checked from the header before decoding
IMAGE_MAX_SIDE = 1024  # per side of the requested output image_size
IMAGE_MAX_OUTPUT_BYTES = 4 * 1024**3  # the float32 x array all images decode into

COLOR_MODES = {"rgb": "RGB", "grayscale": "L"}
SPLIT_ORDER = ("train", "valid", "test")
SPLIT_FOLDERS = {"train": "train", "training": "train", "valid": "valid", "validation": "valid", "val": "valid", "test": "test"}
_JUNK_FILES = {"thumbs.db", "desktop.ini"}
_DRIVE_LETTER = re.compile(r"^[A-Za-z]:")


@dataclass(frozen=True)
class _Image:
    info: zipfile.ZipInfo
    split: str
    class_name: str


def load_image_zip(
    source: str | os.PathLike[str] | bytes,
    *,
    image_size: tuple[int, int] = (32, 32),
    color_mode: str = "rgb",
    name: str = "images",
    max_bytes: int = ZIP_MAX_BYTES,
    max_members: int = ZIP_MAX_MEMBERS,
    max_total_bytes: int = ZIP_MAX_TOTAL_BYTES,
    max_ratio: float = ZIP_MAX_RATIO,
    max_image_pixels: int = IMAGE_MAX_PIXELS,
    max_output_bytes: int = IMAGE_MAX_OUTPUT_BYTES,
) -> Dataset:
    """Read a zip of class folders into a Dataset with arrays ``x`` and ``y``.

    ``image_size`` is (height, width). ``x`` is float32 (C, H, W) in [0, 1] with C = 3
    for "rgb" and 1 for "grayscale"; ``y`` is int64 with class names sorted from the
    train split's folders.
    """
    _check_options(image_size, color_mode)
    data = read_source(source, max_bytes=max_bytes, what="zip")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise DatasetError.single(
            "file",
            "not_a_zip",
            "The file is not a zip archive; upload a .zip of image folders.",
        ) from None
    with archive:
        infos = archive.infolist()
        _check_members(infos, max_members, max_total_bytes, max_ratio)
        images, class_names = _find_images(infos)
        _check_output_size(len(images), image_size, len(COLOR_MODES[color_mode]), max_output_bytes)
        x, y = _decode_all(archive, images, class_names, image_size, COLOR_MODES[color_mode], max_image_pixels)

    # Images are ordered by split, so each split is a contiguous slice (a view, no copy).
    splits: dict[str, dict[str, np.ndarray]] = {}
    for split in SPLIT_ORDER:
        positions = [i for i, image in enumerate(images) if image.split == split]
        if positions:
            chosen = slice(positions[0], positions[-1] + 1)
            splits[split] = {"x": x[chosen], "y": y[chosen]}
    return Dataset.from_arrays(
        name, splits, class_names={"y": class_names}, kinds={"x": "features", "y": "class_labels"}
    )


def _check_options(image_size, color_mode: str) -> None:
    problems = Problems()
    if color_mode not in COLOR_MODES:
        problems.add(
            "color_mode",
            "bad_option",
            f"color_mode {color_mode!r} is unknown; use one of {', '.join(COLOR_MODES)}.",
        )
    valid_size = (
        isinstance(image_size, (tuple, list))
        and len(image_size) == 2
        and all(isinstance(side, int) and 1 <= side <= IMAGE_MAX_SIDE for side in image_size)
    )
    if not valid_size:
        problems.add(
            "image_size",
            "bad_option",
            f"image_size must be (height, width) with each side from 1 to {IMAGE_MAX_SIDE}, got {image_size!r}.",
        )
    problems.raise_if_any()


# ---- hostile-archive checks (names and headers only, nothing decompressed) -------------


def check_archive_members(archive: zipfile.ZipFile, *, max_members: int = ZIP_MAX_MEMBERS,
                          max_total_bytes: int = ZIP_MAX_TOTAL_BYTES, max_ratio: float = ZIP_MAX_RATIO) -> None:
    """The hostile-archive checks, for every zip upload (image datasets, Keras archives): raises
    DatasetError listing unsafe names, links, encryption, zip bombs and oversized contents."""
    _check_members(archive.infolist(), max_members, max_total_bytes, max_ratio)


def _check_members(infos: list[zipfile.ZipInfo], max_members: int, max_total_bytes: int, max_ratio: float) -> None:
    if len(infos) > max_members:
        raise DatasetError.single(
            "file",
            "too_many_members",
            f"The zip has {len(infos)} entries; the limit is {max_members}.",
        )
    problems = Problems()
    for info in infos:
        field_ = f"member:{info.filename}"
        unsafe = _unsafe_path_reason(info.filename)
        if unsafe:
            problems.add(
                field_,
                "unsafe_path",
                f"Entry {info.filename!r} {unsafe}; zip the folders with relative paths only.",
            )
        if stat.S_ISLNK(info.external_attr >> 16):
            problems.add(
                field_,
                "symlink_member",
                f"Entry {info.filename!r} is a symbolic link; zip the image files themselves.",
            )
        if info.flag_bits & 0x1:
            problems.add(
                field_,
                "encrypted_member",
                f"Entry {info.filename!r} is encrypted; upload a zip without a password.",
            )
        ratio = info.file_size / info.compress_size if info.compress_size else (float("inf") if info.file_size else 0.0)
        if ratio > max_ratio:
            problems.add(
                field_,
                "compression_ratio",
                f"Entry {info.filename!r} expands {ratio:.0f}x when unpacked (limit {max_ratio:.0f}x); "
                "that is a zip bomb, not an image. Remove it.",
            )
    total = sum(info.file_size for info in infos)
    if total > max_total_bytes:
        problems.add(
            "file",
            "too_large_uncompressed",
            "The zip unpacks to {}; the limit is {}. Upload fewer or smaller images.".format(
                *sizes_apart(total, max_total_bytes)),
        )
    problems.raise_if_any()


def _unsafe_path_reason(name: str) -> str | None:
    if "\\" in name:
        return "contains a backslash"
    if name.startswith("/") or _DRIVE_LETTER.match(name):
        return "is an absolute path"
    if any(part in ("..", ".") for part in name.split("/")):
        return "contains '..' or '.' path components"
    return None


# ---- folder layout ------------------------------------------------------------------------


def _is_ignored(info: zipfile.ZipInfo) -> bool:
    """Directories, macOS resource forks, dotfiles and OS thumbnails carry no images."""
    parts = [p for p in info.filename.split("/") if p]
    return (
        info.is_dir()
        or not parts
        or parts[0] == "__MACOSX"
        or any(p.startswith(".") for p in parts)
        or parts[-1].lower() in _JUNK_FILES
    )


def _find_images(infos: list[zipfile.ZipInfo]) -> tuple[list[_Image], list[str]]:
    """Map members to (split, class) and derive class names from train's folders."""
    files = sorted((i for i in infos if not _is_ignored(i)), key=lambda i: i.filename)
    paths = [[p for p in i.filename.split("/") if p] for i in files]
    if not files:
        raise DatasetError.single("file", "no_images", "The zip holds no images; put them in train/<class>/<image> folders.")

    # One wrapper folder (e.g. "myset/train/cat/1.png") is common when zipping a folder.
    tops = {parts[0] for parts in paths}
    if len(tops) == 1 and next(iter(tops)).lower() not in SPLIT_FOLDERS and all(len(p) > 1 for p in paths):
        paths = [parts[1:] for parts in paths]

    problems = Problems()
    images: list[_Image] = []
    unknown_folders: set[str] = set()
    for info, parts in zip(files, paths):
        split = SPLIT_FOLDERS.get(parts[0].lower())
        if split is None and len(parts) > 1:
            unknown_folders.add(parts[0])
        elif split is None or len(parts) != 3:
            problems.add(
                f"member:{info.filename}",
                "unexpected_member",
                f"Entry {info.filename!r} is not at <split>/<class>/<image>; "
                "move it into a class folder such as train/<class>/ or remove it.",
            )
        else:
            images.append(_Image(info, split, parts[1]))
    for folder in sorted(unknown_folders):
        problems.add(
            f"folder:{folder}",
            "unexpected_folder",
            f"Folder {folder!r} is not a split; name top-level folders train, valid (or validation, val) and test.",
        )

    class_names = sorted({image.class_name for image in images if image.split == "train"})
    if not any(image.split == "train" for image in images):
        problems.add(
            "folder:train",
            "missing_train",
            "There is no train folder with images; add train/<class>/<image> folders.",
        )
    elif len(class_names) < 2:
        problems.add(
            "folder:train",
            "single_class",
            f"train has only the class folder {class_names[0]!r}; a classifier needs at least two.",
        )
    known = set(class_names)
    for split in ("valid", "test"):
        extra = sorted({image.class_name for image in images if image.split == split} - known)
        if extra and known:
            problems.add(
                f"folder:{split}",
                "unknown_class",
                f"{split} has class folder(s) {', '.join(map(repr, extra))} that train does not have; "
                "add them to train or remove them.",
            )
    problems.raise_if_any()
    images.sort(key=lambda image: (SPLIT_ORDER.index(image.split), image.info.filename))
    return images, class_names


def _check_output_size(count: int, image_size, channels: int, max_output_bytes: int) -> None:
    """Refuse before decoding when all images at image_size would not fit in memory."""
    height, width = image_size
    needed = count * channels * height * width * 4  # float32
    if needed > max_output_bytes:
        raise DatasetError.single(
            "image_size",
            "output_too_large",
            f"{count} images at {height}x{width} need {human_bytes(needed)} (limit {human_bytes(max_output_bytes)}); "
            "choose a smaller image_size or upload fewer images.",
        )


# ---- decoding ---------------------------------------------------------------------------


def _decode_all(archive, images: list[_Image], class_names, image_size, pil_mode: str, max_pixels: int):
    height, width = image_size
    channels = len(pil_mode)  # "RGB" -> 3, "L" -> 1
    x = np.empty((len(images), channels, height, width), dtype=np.float32)
    y = np.empty(len(images), dtype=np.int64)
    label_of = {c: i for i, c in enumerate(class_names)}
    problems = Problems()
    for index, image in enumerate(images):
        field_ = f"member:{image.info.filename}"
        try:
            raw = archive.read(image.info)
        except Exception as exc:  # bad CRC, unsupported compression: the archive lies about itself
            problems.add(
                field_,
                "bad_member",
                f"Entry {image.info.filename!r} cannot be unpacked ({type(exc).__name__}); zip it again.",
            )
            continue
        pixels = _decode_image(raw, (width, height), pil_mode, max_pixels, image.info.filename, problems)
        if pixels is None:
            continue
        x[index] = _to_model_input(pixels, height, width, channels)
        y[index] = label_of[image.class_name]
    problems.raise_if_any()
    return x, y


def _to_model_input(pixels: np.ndarray, height: int, width: int, channels: int) -> np.ndarray:
    """uint8 (height, width[, channels]) pixels -> float32 (channels, height, width) in [0, 1]."""
    return pixels.reshape(height, width, channels).transpose(2, 0, 1) / np.float32(255.0)


def decode_image(raw: bytes, *, image_size: tuple[int, int], color_mode: str, name: str = "image",
                 max_pixels: int = IMAGE_MAX_PIXELS) -> np.ndarray:
    """One image file as the model saw its training images: resized to ``image_size`` (height,
    width), float32 (channels, height, width) in [0, 1]. Raises DatasetError naming ``name``."""
    _check_options(image_size, color_mode)
    height, width = image_size
    pil_mode = COLOR_MODES[color_mode]
    problems = Problems()
    pixels = _decode_image(raw, (width, height), pil_mode, max_pixels, name, problems)
    problems.raise_if_any()
    return _to_model_input(pixels, height, width, len(pil_mode))  # type: ignore[arg-type]


def _decode_image(raw: bytes, size_wh, pil_mode: str, max_pixels: int, member: str, problems: Problems) -> np.ndarray | None:
    """Decode one image to uint8 pixels of the given (width, height), or record why not."""
    field_ = f"member:{member}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. palette-transparency notices: harmless here
        warnings.simplefilter("error", Image.DecompressionBombWarning)  # Pillow's own bomb guard
        try:
            with Image.open(io.BytesIO(raw)) as source:
                width, height = source.size  # from the header; no pixels decoded yet
                if width * height > max_pixels:  # our own limit, reported like Pillow's
                    raise Image.DecompressionBombError(f"{width}x{height} pixels")
                upright = ImageOps.exif_transpose(source)  # phone photos store rotation in EXIF
                resized = upright.convert(pil_mode).resize(size_wh, Image.Resampling.BILINEAR)
                return np.asarray(resized, dtype=np.uint8)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            problems.add(
                field_,
                "image_too_large",
                f"Image {member!r} is too large to decode safely ({exc}); "
                f"the limit is {max_pixels} pixels. Resize it before uploading.",
            )
        except Exception as exc:  # Pillow raises many types on hostile or broken files
            problems.add(
                field_,
                "bad_image",
                f"Image {member!r} cannot be decoded ({type(exc).__name__}); replace or remove it.",
            )
    return None
