"""Server-side image folders: a directory an admin registers under ``LAYERLOOM_DATA_ROOTS``, laid out
as ``train|valid|test/<class>/<image>``, trained on in place (no upload).

Every path is resolved (symlinks followed) and must stay inside one of the roots: when registering
(the folder and each image) and again whenever the runner reads an image, since a file can become
a link after it was registered.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..runner_settings import DATA_ROOTS_ENV
from .dataset import DatasetError, Problems
from .image_stream import INDEX_VERSION, _decode_one, check_image_header
from .image_zip import IMAGE_MAX_PIXELS, SPLIT_FOLDERS, SPLIT_ORDER, ZIP_MAX_MEMBERS, _check_options


def data_roots(value: str | None = None) -> list[Path]:
    """The configured roots (comma- or os.pathsep-separated), resolved; [] when none is set."""
    raw = os.environ.get(DATA_ROOTS_ENV, "") if value is None else value
    parts = [p.strip() for chunk in raw.split(",") for p in chunk.split(os.pathsep)]
    return [Path(p).resolve() for p in parts if p]


def _refuse(code: str, message: str) -> DatasetError:
    return DatasetError.single("path", code, message)


def resolve_in_roots(path: str | os.PathLike[str], roots: list[Path]) -> Path:
    """``path`` (absolute, or relative to the first root) resolved, or DatasetError saying why not."""
    if not roots:
        raise _refuse("no_data_roots", f"No server data roots are configured; set {DATA_ROOTS_ENV} to the "
                                       "directories datasets may be registered from.")
    text = os.fspath(path)
    if ".." in Path(text).parts:
        raise _refuse("parent_path", f"The path {text!r} contains '..'; give a path inside a data root "
                                     f"({', '.join(map(str, roots))}) without '..'.")
    candidate = Path(text) if Path(text).is_absolute() else roots[0] / text
    try:
        resolved = candidate.resolve()
    except (OSError, ValueError) as exc:  # a NUL byte, a link loop, a name too long
        raise _refuse("bad_path", f"The path {text!r} cannot be resolved ({exc}); give a directory inside a data root.") from None
    if not any(resolved == root or resolved.is_relative_to(root) for root in roots):
        leaves = " (a symbolic link leads out of it)" if candidate.absolute() != resolved else ""
        raise _refuse("outside_data_roots", f"The path {text!r} is outside the server's data roots{leaves}; "
                                            f"register a directory inside {', '.join(map(str, roots))}.")
    return resolved


class RootGuard:
    """Picklable check run before reading each image: the file must still resolve inside the root."""

    def __init__(self, root: str) -> None:
        self.root = root

    def __call__(self, path: Path) -> Path:
        resolved = Path(path).resolve()
        if not resolved.is_relative_to(Path(self.root).resolve()):
            raise _refuse("outside_data_roots", f"The image {os.fspath(path)!r} now leads outside its dataset "
                                                "folder (a symbolic link); it is not read.")
        return resolved


def index_image_folder(directory: Path, *, image_size: tuple[int, int] = (32, 32), color_mode: str = "rgb",
                       max_images: int = ZIP_MAX_MEMBERS * 20, max_image_pixels: int = IMAGE_MAX_PIXELS) -> dict[str, Any]:
    """The index of a resolved folder (as ``index_image_zip`` makes for a zip); DatasetError listing problems."""
    _check_options(image_size, color_mode)
    if not directory.is_dir():
        raise _refuse("not_a_directory", f"{os.fspath(directory)!r} is not a directory.")
    problems = Problems()
    found: dict[str, list[tuple[str, str]]] = {}
    guard = RootGuard(str(directory))
    count = 0
    for top in sorted(directory.iterdir()):
        split = SPLIT_FOLDERS.get(top.name.lower())
        if top.name.startswith("."):
            continue
        if split is None or not top.is_dir():
            problems.add(f"folder:{top.name}", "unexpected_folder",
                         f"{top.name!r} is not a split; the folder must hold train, valid (or validation, val) and test.")
            continue
        for class_dir in sorted(p for p in top.iterdir() if not p.name.startswith(".")):
            if not class_dir.is_dir():
                problems.add(f"member:{top.name}/{class_dir.name}", "unexpected_member",
                             f"{top.name}/{class_dir.name} is not in a class folder; move it into {top.name}/<class>/.")
                continue
            for image in sorted(p for p in class_dir.iterdir() if not p.name.startswith(".")):
                member = f"{top.name}/{class_dir.name}/{image.name}"
                try:
                    guard(image)
                except DatasetError as err:
                    problems.add(f"member:{member}", "outside_data_roots", err.problems[0]["message"])
                    continue
                count += 1
                if count > max_images:
                    raise _refuse("too_many_images", f"The folder has more than {max_images} images.")
                found.setdefault(split, []).append((member, class_dir.name))
    class_names = sorted({c for _, c in found.get("train", [])})
    if not found.get("train"):
        problems.add("folder:train", "missing_train", "There is no train folder with images; add train/<class>/<image>.")
    elif len(class_names) < 2:
        problems.add("folder:train", "single_class", "train has only one class folder; a classifier needs two.")
    problems.raise_if_any()
    for split, members in found.items():
        extra = sorted({c for _, c in members} - set(class_names))
        if extra:
            problems.add(f"folder:{split}", "unknown_class", f"{split} has class folder(s) {', '.join(map(repr, extra))} "
                                                              "that train does not have.")
        for member, _ in members:
            check_image_header((directory / member).read_bytes(), member, max_image_pixels, problems)
    problems.raise_if_any()
    first = found["train"][0][0]
    _decode_one((directory / first).read_bytes(), image_size, color_mode, max_image_pixels, first)
    label_of = {c: i for i, c in enumerate(class_names)}
    splits = {split: {"members": [m for m, _ in found[split]], "labels": [label_of[c] for _, c in found[split]]}
              for split in SPLIT_ORDER if split in found}
    return {"version": INDEX_VERSION, "source": "folder", "path": str(directory), "image_size": list(image_size),
            "color_mode": color_mode, "class_names": class_names, "splits": splits}
