"""Synthetic image datasets for the streaming tests and bench/data.py: PNGs of two classes (dark
and light, with a little noise), written fast by Pillow, as a zip or a train|valid/<class>/ folder."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

GRAPH = {
    "format": "layerloom.graph", "version": 1, "name": "tiny-conv",
    "nodes": [
        {"id": "x", "type": "Input", "params": {"shape": [3, 64, 64]}},
        {"id": "conv", "type": "Conv2D", "params": {"filters": 4, "kernel_size": 3, "strides": 4, "activation": "relu"}},
        {"id": "flat", "type": "Flatten", "params": {}},
        {"id": "dense", "type": "Dense", "params": {"units": 2, "activation": "softmax"}},
        {"id": "y", "type": "Output", "params": {"loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"]}},
    ],
    "edges": [{"source": "x", "target": "conv"}, {"source": "conv", "target": "flat"},
              {"source": "flat", "target": "dense"}, {"source": "dense", "target": "y"}],
}


def _pngs(count: int, size: int, seed: int):
    rng = np.random.default_rng(seed)
    templates = []
    for light in (0, 1):  # a handful of distinct images per class, reused: writing them is the slow part
        for _ in range(4):
            base = np.full((size, size, 3), 60 + 130 * light, dtype=np.uint8)
            base += rng.integers(0, 40, size=(size, size, 3), dtype=np.uint8)
            buffer = io.BytesIO()
            Image.fromarray(base).save(buffer, format="PNG", compress_level=1)
            templates.append(buffer.getvalue())
    for i in range(count):
        cls = i % 2
        yield ("dark", "light")[cls], f"{i:06d}.png", templates[cls * 4 + (i // 2) % 4]


def image_zip(path: Path, count: int, size: int = 64, valid: int = 0, seed: int = 0) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        for split, n in (("train", count), ("valid", valid)):
            for cls, name, png in _pngs(n, size, seed):
                archive.writestr(f"{split}/{cls}/{name}", png)
    return path


def image_folder(root: Path, count: int, size: int = 64, valid: int = 0, seed: int = 0) -> Path:
    for split, n in (("train", count), ("valid", valid)):
        for cls, name, png in _pngs(n, size, seed):
            target = root / split / cls
            target.mkdir(parents=True, exist_ok=True)
            (target / name).write_bytes(png)
    return root
