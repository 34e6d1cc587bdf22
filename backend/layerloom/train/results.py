"""What a trained model does on held-out data, for people to look at: a confusion matrix for each
classification head, predicted-vs-true pairs for each regression head, and a few samples with
their predictions (images as small PNGs). Written as ``results.json`` beside the weights.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from ..data import Dataset
from ..graph import GraphModel, analyze
from .config import TrainConfig
from .mapping import check_compatibility

RESULTS_FILE = "results.json"
MAX_PAIRS = 1_000
SAMPLES = 8
BATCH = 512


def results_split(dataset: Dataset) -> str:
    """The test split, else the valid split, else train."""
    return next((s for s in ("test", "valid") if dataset.num_samples(s) > 0), "train")


@torch.no_grad()
def prediction_report(model: GraphModel, graph: Mapping[str, Any], dataset: Dataset,
                      config: TrainConfig | Mapping[str, Any] | None = None) -> dict[str, Any]:
    config = config if isinstance(config, TrainConfig) else TrainConfig.model_validate(config or {})
    plan = check_compatibility(analyze(dict(graph)), dataset, config)
    split = results_split(dataset)
    arrays = dataset.splits[split]
    device = next(model.parameters(), torch.empty(0)).device
    model.eval()
    n = dataset.num_samples(split)
    outputs: dict[str, list[np.ndarray]] = {h.node: [] for h in plan.heads}
    for start in range(0, n, BATCH):
        feed = {}
        for f in plan.inputs:
            values = np.array(arrays[f.array][start:start + BATCH])  # a copy: the arrays may be read-only memmaps
            feed[f.node] = torch.from_numpy(values.astype(np.int64) if f.ids_from_floats else values).to(device)
        for head_id, value in model(feed).items():
            outputs[head_id].append(value.float().cpu().numpy())
    predictions = {head: np.concatenate(parts) for head, parts in outputs.items()}

    heads: dict[str, Any] = {}
    for target in plan.heads:
        pred, true = predictions[target.node], arrays[target.array]
        classes = dataset.class_names.get(target.array)
        if dataset.kinds.get(target.array) == "class_labels" or classes:
            heads[target.node] = _classification(pred, true, classes)
        else:
            heads[target.node] = _regression(pred, true)
    return {"split": split, "size": n, "heads": heads,
            "samples": _samples(dataset, split, plan, predictions, heads)}


def _predicted_class(pred: np.ndarray) -> np.ndarray:
    if pred.ndim == 2 and pred.shape[1] > 1:
        return pred.argmax(axis=1)
    return (pred.reshape(len(pred), -1)[:, 0] >= 0.5).astype(np.int64)  # one sigmoid unit


def _classification(pred: np.ndarray, true: np.ndarray, classes: list[str] | None) -> dict[str, Any]:
    labels = true.argmax(axis=1) if true.ndim == 2 else true.astype(np.int64)  # one-hot or integer labels
    guessed = _predicted_class(pred)
    k = max(len(classes or []), int(labels.max(initial=0)) + 1, int(guessed.max(initial=0)) + 1)
    matrix = np.zeros((k, k), dtype=np.int64)
    np.add.at(matrix, (labels, guessed), 1)
    return {"kind": "classification", "classes": classes or [str(i) for i in range(k)],
            "confusion_matrix": matrix.tolist(), "accuracy": float((labels == guessed).mean()) if len(labels) else None}


def _regression(pred: np.ndarray, true: np.ndarray) -> dict[str, Any]:
    p = pred.reshape(len(pred), -1)[:, 0]
    t = true.reshape(len(true), -1)[:, 0]
    keep = np.linspace(0, len(p) - 1, num=min(len(p), MAX_PAIRS)).astype(int) if len(p) else np.array([], dtype=int)
    return {"kind": "regression", "pairs": [[float(t[i]), float(p[i])] for i in keep],
            "note": "first output value of each sample" if pred.reshape(len(pred), -1).shape[1] > 1 else None}


def _samples(dataset: Dataset, split: str, plan, predictions: dict[str, np.ndarray], heads: dict[str, Any]) -> list[dict[str, Any]]:
    arrays = dataset.splits[split]
    out = []
    for i in dataset.preview_indices(split, SAMPLES):  # class by class, like the data panel
        inputs = {f.node: sample_view(arrays[f.array][i]) for f in plan.inputs}
        per_head = {}
        for target in plan.heads:
            pred, report = predictions[target.node][i], heads[target.node]
            true = arrays[target.array][i]
            if report["kind"] == "classification":
                guess = int(_predicted_class(pred[None])[0])
                label = int(true.argmax()) if np.ndim(true) else int(true)
                per_head[target.node] = {"true": report["classes"][label], "predicted": report["classes"][guess],
                                         "confidence": float(np.max(pred)) if pred.size > 1 else float(pred.reshape(-1)[0])}
            else:
                per_head[target.node] = {"true": np.asarray(true).reshape(-1)[:8].tolist(),
                                         "predicted": np.asarray(pred).reshape(-1)[:8].tolist()}
        out.append({"index": i, "inputs": inputs, "heads": per_head})
    return out


def sample_view(value: np.ndarray) -> dict[str, Any]:
    """One input sample as the browser shows it: an image (PNG data URL) for (C, H, W) with 1 or 3
    channels, else up to 32 numbers."""
    value = np.asarray(value)
    if value.ndim == 3 and value.shape[0] in (1, 3) and value.dtype.kind == "f":
        from PIL import Image

        lo, hi = float(value.min()), float(value.max())
        scaled = ((value - lo) / (hi - lo) * 255 if hi > lo else np.zeros_like(value)).astype(np.uint8)
        image = Image.fromarray(scaled[0] if value.shape[0] == 1 else scaled.transpose(1, 2, 0))
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        return {"kind": "image", "shape": list(value.shape),
                "png": "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()}
    flat = value.reshape(-1)
    return {"kind": "values", "shape": list(value.shape), "values": [float(v) for v in flat[:32]],
            "truncated": flat.size > 32}
