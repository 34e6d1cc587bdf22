"""A corpus of hostile dataset uploads: each is refused with a 4xx whose error names the problem,
and nothing is kept (no dataset row, no file under data_dir's datasets or in-flight uploads).

Complements the single cases in test_api.py (a zip bomb of one entry, ``../../`` members, malformed
multipart bodies, an oversized upload)."""

from __future__ import annotations

import io
import stat
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from layerloom.store.models import Dataset
from test_api import error_codes, make_zip, png, stored_files, upload

TRAIN = {"train/cat/1.png": png((1, 2, 3)), "train/dog/1.png": png((9, 9, 9))}


def _zip_with_symlink() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in TRAIN.items():
            archive.writestr(name, content)
        link = zipfile.ZipInfo("train/dog/2.png")
        link.create_system = 3  # unix, so the mode bits below are read as a symlink
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, "/etc/passwd")
    return buffer.getvalue()


def _many_entry_bomb() -> bytes:
    """Each member well under any per-file limit, together far past the uncompressed limit."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for i in range(1200):
            archive.writestr(f"train/cat/{i}.png", bytes(1024 * 1024))
    return buffer.getvalue()


def _png_bomb() -> bytes:
    """A valid PNG header claiming 50,000 × 50,000 pixels (2.5 gigapixels) with almost no data."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", 50_000, 50_000, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" * 1024))
            + chunk(b"IEND", b""))


def _pickled_npz() -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, x_train=np.array([{"a": 1}, None, "text"], dtype=object), y_train=np.array([0, 1, 0]))
    return buffer.getvalue()


def _truncated_zip() -> bytes:
    whole = make_zip({name: content for name, content in TRAIN.items()})
    return whole[: len(whole) // 2]


# name: (file name, content, the error code that names the problem; others may come with it)
CORPUS = {
    "zip_bomb_many_entries": ("pets.zip", _many_entry_bomb(), "too_large_uncompressed"),
    "path_traversal": ("pets.zip", make_zip({**TRAIN, "../x.png": png((5, 5, 5))}), "unsafe_path"),
    "absolute_path": ("pets.zip", make_zip({**TRAIN, "/tmp/x.png": png((5, 5, 5))}), "unsafe_path"),
    "symlink_in_zip": ("pets.zip", _zip_with_symlink(), "symlink_member"),
    "pickled_npz": ("arrays.npz", _pickled_npz(), "object_array"),
    "decompression_bomb_png": ("pets.zip", make_zip({**TRAIN, "train/dog/2.png": _png_bomb()}), "image_too_large"),
    "truncated_zip": ("pets.zip", _truncated_zip(), "not_a_zip"),
    "truncated_npz": ("arrays.npz", _pickled_npz()[:100], "not_npz"),
    "csv_10mb_field": ("big.csv", b"a,b,label\n1,2," + b"x" * (10 * 1024 * 1024) + b"\n", "malformed_csv"),
    "csv_10mb_row": ("big.csv", b"a,b,label\n" + b"1," * (5 * 1024 * 1024) + b"cat\n", "ragged_row"),
    "non_utf8_csv": ("latin1.csv", "a,b,label\n1,2,café\n3,4,thé\n".encode("latin-1"), "not_utf8"),
    "empty_csv": ("empty.csv", b"", "empty_file"),
    "empty_zip": ("empty.zip", b"", "empty_file"),
    "empty_npz": ("empty.npz", b"", "empty_file"),
}


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_a_hostile_upload_is_refused_and_leaves_nothing(name: str, client_a, app, data_dir: Path) -> None:
    filename, content, code = CORPUS[name]
    response = upload(client_a, filename, content)
    assert response.status_code == 422, response.text[:1000]
    assert code in error_codes(response)
    assert stored_files(data_dir) == []
    assert not [p for p in data_dir.rglob("*") if p.is_file() or p.is_symlink()]  # nor anywhere else
    with app.state.sessionmaker() as session:
        assert session.scalars(select(Dataset)).all() == []
