"""The compile config (loss per output, loss_weights, metrics) as the Output heads' params."""

from __future__ import annotations

import re
from typing import Any

from .errors import Report

LOSSES = {
    "mse": "mse", "mean_squared_error": "mse", "mae": "mae", "mean_absolute_error": "mae",
    "huber": "huber", "huber_loss": "huber", "binary_crossentropy": "binary_crossentropy",
    "categorical_crossentropy": "categorical_crossentropy",
    "sparse_categorical_crossentropy": "sparse_categorical_crossentropy",
    "kl_divergence": "kl_divergence", "kld": "kl_divergence", "kullback_leibler_divergence": "kl_divergence",
    "cosine_similarity": "cosine_similarity",
}
METRICS = {
    "accuracy": "accuracy", "acc": "accuracy", "categorical_accuracy": "accuracy",
    "sparse_categorical_accuracy": "accuracy", "binary_accuracy": "accuracy",
    "top_k_categorical_accuracy": "top_k_accuracy", "sparse_top_k_categorical_accuracy": "top_k_accuracy",
    "mae": "mae", "mean_absolute_error": "mae", "mse": "mse", "mean_squared_error": "mse",
    "rmse": "rmse", "root_mean_squared_error": "rmse", "r2": "r2", "r2_score": "r2", "auc": "auc",
}


def _snake(name: str) -> str:
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z0-9])([A-Z])", r"\1_\2", name).lower()


def _name_and_config(entry: Any) -> tuple[str | None, dict[str, Any]]:
    """'mse', or a serialized object {"class_name": "MeanSquaredError", "config": {...}}."""
    if isinstance(entry, str):
        return _snake(entry), {}
    if isinstance(entry, dict) and isinstance(entry.get("class_name"), str):
        config = entry.get("config")
        if entry["class_name"] == "function" and isinstance(config, str):
            return _snake(config), {}
        return _snake(entry["class_name"]), config if isinstance(config, dict) else {}
    return None, {}


def _per_output(value: Any, names: list[str]) -> list[Any]:
    """A compile argument given once, as a list in output order, or as a dict by output name."""
    if isinstance(value, dict) and not ("class_name" in value and "config" in value):
        return [value.get(n) for n in names]
    if isinstance(value, list) and len(names) > 1 and len(value) == len(names):
        return list(value)
    return [value] * len(names)


def head_params(compile_config: dict[str, Any] | None, names: list[str], activations: list[str | None],
                report: Report) -> list[dict[str, Any]]:
    heads: list[dict[str, Any]] = [{} for _ in names]
    if not compile_config:
        for head, name, act in zip(heads, names, activations):
            head["loss"] = {"softmax": "categorical_crossentropy", "sigmoid": "binary_crossentropy"}.get(act or "", "mse")
            report.warn(f"The model was saved without compile(); output {name!r} trains with {head['loss']} "
                        "(chosen from its activation). Change the head's loss if needed.")
        return heads
    for head, name, loss in zip(heads, names, _per_output(compile_config.get("loss"), names)):
        key, config = _name_and_config(loss)
        if key is None or key not in LOSSES:
            head["loss"] = "mse"
            report.warn(f"Output {name!r}: loss {str(loss)[:60]!r} has no Layerloom counterpart; the head uses mse. "
                        f"Choose one of {', '.join(sorted(set(LOSSES.values())))}.")
        else:
            head["loss"] = LOSSES[key]
            if config.get("from_logits"):
                report.warn(f"Output {name!r}: the loss was compiled with from_logits=True; Layerloom's losses take "
                            "probabilities, so give the output a softmax or sigmoid activation before training.")
    weights = compile_config.get("loss_weights")
    if weights is not None:
        for head, weight in zip(heads, _per_output(weights, names)):
            if isinstance(weight, (int, float)):
                head["loss_weight"] = float(weight)
    metrics = compile_config.get("metrics")
    if metrics is not None:
        per_output = _per_output(metrics, names) if isinstance(metrics, dict) else (
            metrics if len(names) > 1 and isinstance(metrics, list) and all(isinstance(m, list) for m in metrics)
            else [metrics] * len(names))
        for head, name, entries in zip(heads, names, per_output):
            chosen: list[str] = []
            for entry in entries if isinstance(entries, list) else [entries] if entries else []:
                key, config = _name_and_config(entry)
                metric = METRICS.get(key or "")
                if metric is None:
                    report.warn(f"Output {name!r}: metric {str(entry)[:60]!r} is not imported (no Layerloom counterpart).")
                    continue
                if metric == "top_k_accuracy" and isinstance(config.get("k"), int):
                    head["top_k"] = config["k"]
                if metric not in chosen:
                    chosen.append(metric)
            head["metrics"] = chosen
    return heads
