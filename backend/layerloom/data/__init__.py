"""Datasets for Layerloom: named numpy arrays per split (train / valid / test).

Graph Input node ids and Output (head) node ids are matched to array names.
Every loader raises DatasetError listing all problems it found.
"""

from .builtins import BUILTIN_DATASETS, BuiltinInfo, load_builtin
from .csv_loader import CSV_MAX_BYTES, CSV_MAX_COLUMNS, CSV_MAX_ROWS, TargetSpec, load_csv
from .dataset import KINDS, MAX_CLASSES, SPLITS, Dataset, DatasetError
from .image_zip import (
    IMAGE_MAX_OUTPUT_BYTES,
    IMAGE_MAX_PIXELS,
    ZIP_MAX_BYTES,
    ZIP_MAX_MEMBERS,
    ZIP_MAX_RATIO,
    ZIP_MAX_TOTAL_BYTES,
    load_image_zip,
)
from .npz_loader import NPZ_MAX_BYTES, NPZ_MAX_MEMBERS, load_npz

__all__ = [
    "BUILTIN_DATASETS",
    "BuiltinInfo",
    "CSV_MAX_BYTES",
    "CSV_MAX_COLUMNS",
    "CSV_MAX_ROWS",
    "Dataset",
    "DatasetError",
    "IMAGE_MAX_OUTPUT_BYTES",
    "IMAGE_MAX_PIXELS",
    "KINDS",
    "MAX_CLASSES",
    "NPZ_MAX_BYTES",
    "NPZ_MAX_MEMBERS",
    "SPLITS",
    "TargetSpec",
    "ZIP_MAX_BYTES",
    "ZIP_MAX_MEMBERS",
    "ZIP_MAX_RATIO",
    "ZIP_MAX_TOTAL_BYTES",
    "load_builtin",
    "load_csv",
    "load_image_zip",
    "load_npz",
]
