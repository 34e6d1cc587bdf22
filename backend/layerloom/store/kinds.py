"""Dataset kinds, in a module of their own: the schema, the API and the job runner share them, and the
runner must not import SQLAlchemy (``models.py`` re-exports them)."""

from enum import StrEnum


class DatasetKind(StrEnum):
    BUILTIN = "builtin"  # the data layer's built-ins: listed by the API, never stored as rows
    CSV = "csv"
    NPZ = "npz"
    IMAGES = "images"


UPLOAD_KINDS = (DatasetKind.CSV, DatasetKind.NPZ, DatasetKind.IMAGES)
