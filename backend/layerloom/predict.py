"""Predictions with a trained run: inputs checked by name, shape and dtype, the model run, and the
outputs of classification heads named with their classes.

- ``Predictor(run_dir)`` loads the run's model once; ``predict({input id: nested lists})`` takes one
  sample (the Input's shape) or a batch (one more leading axis) and answers in the same form.
- Files are turned into inputs by the data layer, exactly as for training: ``csv_inputs`` through
  ``load_csv`` with the dataset's columns, ``image_input`` through ``decode_image`` with the
  dataset's image size and colour mode.
- ``PredictorCache`` keeps loaded models, bounded by count and by the bytes of their weights, least
  recently used first out; ``evict(job_id)`` drops a deleted job's model.
"""

from __future__ import annotations

import csv
import io
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

MAX_BATCH = 10_000


class PredictError(ValueError):
    """Bad inputs; ``problems`` names each input ({code, node, field, message})."""

    def __init__(self, problems: list[dict[str, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(p["message"] for p in problems))


def _problem(node: str, code: str, message: str) -> dict[str, str]:
    return {"code": code, "node": node, "field": f"inputs.{node}", "message": message}


class Predictor:
    """A trained run, loaded once, ready to predict (CPU, eval mode, no gradients)."""

    def __init__(self, run_dir: str | Path) -> None:
        import torch

        from .graph import analyze
        from .train.artifacts import load_trained, read_manifest

        manifest = read_manifest(run_dir)
        self.model = load_trained(run_dir)
        self.analysis = analyze(manifest["graph"])
        self.mapping: dict[str, str] = manifest.get("data_mapping") or {}
        arrays = {a["name"]: a for a in (manifest.get("dataset") or {}).get("arrays", [])}
        self.class_names: dict[str, list[str]] = {}
        for head in self.model.heads:
            names = arrays.get(self.mapping.get(head.id, head.id), {}).get("class_names")
            if names and head.activation in ("softmax", "sigmoid"):
                self.class_names[head.id] = list(names)
        self.nbytes = sum(t.numel() * t.element_size() for t in self.model.state_dict().values())
        self._torch = torch
        self._lock = threading.Lock()  # one forward at a time per model: modules are not re-entrant-safe

    def input_spec(self, node: str) -> tuple[tuple[int, ...], str]:
        info = self.analysis.nodes[node]
        return info.output.shape, info.params.dtype  # type: ignore[union-attr]

    def array_of(self, node: str) -> str:
        """The dataset array that fed this Input or head during training."""
        return self.mapping.get(node, node)

    def predict(self, inputs: Mapping[str, Any]) -> dict[str, Any]:
        """``{input id: nested lists}`` -> ``{"outputs": {head: ...}, "classes": {head: ...}}``."""
        arrays, single = self.check_inputs(inputs)
        outputs = self.run(arrays)
        return self.describe(outputs, single)

    def check_inputs(self, inputs: Mapping[str, Any]) -> tuple[dict[str, np.ndarray], bool]:
        problems: list[dict[str, str]] = []
        if not isinstance(inputs, Mapping):
            raise PredictError([{"code": "type", "field": "inputs", "message": "inputs must be an object {input id: values}."}])
        expected = self.analysis.input_ids
        for name in inputs:
            if name not in expected:
                problems.append(_problem(name, "unknown_input",
                                         f"The model has no input {name!r}; its inputs are {', '.join(expected)}."))
        arrays: dict[str, np.ndarray] = {}
        batch_sizes: dict[str, int] = {}
        singles: set[bool] = set()
        for node in expected:
            if node not in inputs:
                problems.append(_problem(node, "missing", f"Input {node!r} is missing; give it values of shape "
                                         f"{list(self.input_spec(node)[0])} (or a batch of them)."))
                continue
            checked = self._check_one(node, inputs[node], problems)
            if checked is not None:
                arrays[node], single = checked
                batch_sizes[node] = len(arrays[node])
                singles.add(single)
        if len(set(batch_sizes.values())) > 1:
            sizes = ", ".join(f"{k}: {v}" for k, v in batch_sizes.items())
            problems.extend(_problem(k, "batch_mismatch", f"Every input needs the same number of samples ({sizes}).")
                            for k in batch_sizes)
        if problems:
            raise PredictError(problems)
        return arrays, singles == {True}

    def _check_one(self, node: str, value: Any, problems: list[dict[str, str]]) -> tuple[np.ndarray, bool] | None:
        shape, dtype = self.input_spec(node)
        try:
            array = np.asarray(value)
        except (ValueError, TypeError):
            problems.append(_problem(node, "ragged", f"Input {node!r} is not a rectangular array (rows of different lengths)."))
            return None
        if array.dtype == object or array.dtype.kind not in "biuf":
            problems.append(_problem(node, "dtype", f"Input {node!r} must hold numbers ({dtype}); it holds "
                                     f"{'text' if array.dtype.kind in 'US' else 'other values'}."))
            return None
        integral = dtype in ("int64", "int32")
        if integral and array.dtype.kind == "f" and not np.all(np.isfinite(array) & (array == np.round(array))):
            problems.append(_problem(node, "dtype", f"Input {node!r} takes integer ids ({dtype}); it has fractional values."))
            return None
        if not integral and array.dtype.kind == "f" and not np.all(np.isfinite(array)):
            problems.append(_problem(node, "not_finite", f"Input {node!r} has NaN or infinite values."))
            return None
        if array.shape == shape:
            array, single = array[None], True
        elif array.shape[1:] == shape and array.ndim == len(shape) + 1:
            single = False
        else:
            problems.append(_problem(node, "shape", f"Input {node!r} has shape {list(array.shape)}; the model takes "
                                     f"{list(shape)} for one sample or [batch, {', '.join(map(str, shape))}] for several."))
            return None
        if not 1 <= len(array) <= MAX_BATCH:
            problems.append(_problem(node, "batch_size", f"Input {node!r} has {len(array)} samples; send 1 to {MAX_BATCH:,}."))
            return None
        return array.astype(np.int64 if dtype == "int64" else np.int32 if dtype == "int32" else np.float32), single

    def run(self, arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        torch = self._torch
        tensors = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in arrays.items()}
        with self._lock, torch.inference_mode():
            outputs = self.model(tensors)
        return {k: v.float().numpy() for k, v in outputs.items()}

    def describe(self, outputs: Mapping[str, np.ndarray], single: bool) -> dict[str, Any]:
        result: dict[str, Any] = {"outputs": {}, "classes": {}}
        for head, values in outputs.items():
            result["outputs"][head] = (values[0] if single else values).tolist()
            names = self.class_names.get(head)
            probabilities = self._class_probabilities(head, values)
            if names is not None and probabilities is not None:
                rows = [{"top": names[int(np.argmax(p))], "probability": float(np.max(p)),
                         "probabilities": {n: float(v) for n, v in zip(names, p)}} for p in probabilities]
                result["classes"][head] = rows[0] if single else rows
        return result

    def _class_probabilities(self, head: str, values: np.ndarray) -> np.ndarray | None:
        names = self.class_names.get(head)
        if names is None:
            return None
        flat = values.reshape(len(values), -1)
        if flat.shape[1] == len(names):
            return flat
        if flat.shape[1] == 1 and len(names) == 2:  # one sigmoid unit: the probability of the second class
            return np.concatenate([1.0 - flat, flat], axis=1)
        return None

    # ---- files, read by the data layer as in training ---------------------------------------

    def csv_inputs(self, data: bytes, dataset_options: Mapping[str, Any], training_header: Sequence[str] | None) -> dict[str, np.ndarray]:
        """A CSV with the dataset's columns (the target columns may be absent) -> model inputs."""
        from .data import DatasetError, load_csv

        input_columns = dataset_options.get("inputs")
        if input_columns is None:  # trained on "every column but the targets"
            targets = dataset_options.get("targets")
            target_columns = ({v if isinstance(v, str) else v["column"] for v in targets.values()} if targets
                              else set(training_header[-1:]) if training_header else set())
            split = dataset_options.get("split_column")
            header = training_header or next(csv.reader(io.StringIO(data.decode("utf-8-sig", "replace").split("\n", 1)[0]),
                                                        delimiter=dataset_options.get("delimiter", ",")), [])
            columns = [c.strip() for c in header if c.strip() not in target_columns and c.strip() != split]
            input_columns = {"x": columns}
        try:
            dataset = load_csv(data, inputs=input_columns, targets={}, input_shapes=dataset_options.get("input_shapes"),
                               delimiter=dataset_options.get("delimiter", ","), name="predict")
        except DatasetError as err:
            raise PredictError([{"code": p.get("code", "csv"), "field": f"file.{p.get('field', '')}".rstrip("."),
                                 "message": p["message"]} for p in err.problems]) from None
        rows = dataset.splits["train"]
        return {node: rows[self.array_of(node)] for node in self.analysis.input_ids if self.array_of(node) in rows}

    def image_input(self, data: bytes, filename: str, dataset_options: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """One image file -> the model's (only) image input, decoded as the training images were."""
        from .data import DatasetError
        from .data.image_zip import decode_image

        image_inputs = [n for n in self.analysis.input_ids if len(self.input_spec(n)[0]) == 3]
        if len(image_inputs) != 1:
            raise PredictError([{"code": "not_an_image_model", "field": "file",
                                 "message": "An image upload needs a model with exactly one image input; send JSON inputs."}])
        node = image_inputs[0]
        channels, height, width = self.input_spec(node)[0]
        color_mode = dataset_options.get("color_mode") or ("grayscale" if channels == 1 else "rgb")
        image_size = tuple(dataset_options.get("image_size") or (height, width))
        try:
            pixels = decode_image(data, image_size=image_size, color_mode=color_mode, name=filename)  # type: ignore[arg-type]
        except DatasetError as err:
            raise PredictError([{"code": p.get("code", "bad_image"), "field": "file", "message": p["message"]}
                                for p in err.problems]) from None
        return {node: pixels[None]}

    def predictions_csv(self, outputs: Mapping[str, np.ndarray]) -> str:
        """One row per sample: each head's values, and for classifiers the top class and its probability."""
        columns: list[str] = ["row"]
        cells: list[list[Any]] = []
        for head, values in outputs.items():
            flat = values.reshape(len(values), -1)
            names = self.class_names.get(head)
            probabilities = self._class_probabilities(head, values)
            if names is not None and probabilities is not None:
                columns += [head, f"{head}_probability", *(f"{head}:{n}" for n in names)]
                cells.append([[names[int(np.argmax(p))], float(np.max(p)), *map(float, p)] for p in probabilities])
            else:
                columns += [head] if flat.shape[1] == 1 else [f"{head}_{i}" for i in range(flat.shape[1])]
                cells.append([list(map(float, row)) for row in flat])
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        count = len(next(iter(outputs.values()))) if outputs else 0
        for i in range(count):
            writer.writerow([i, *(value for head_cells in cells for value in head_cells[i])])
        return out.getvalue()


class PredictorCache:
    """Loaded predictors by job id: at most ``max_models`` and ``max_bytes`` of weights (the least
    recently used go first; a single model larger than the budget is still served, alone)."""

    def __init__(self, max_models: int = 8, max_bytes: int = 1 << 30) -> None:
        self.max_models, self.max_bytes = max_models, max_bytes
        self._items: OrderedDict[str, Predictor] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str, load: Callable[[], Predictor]) -> Predictor:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        predictor = load()  # outside the lock: loading takes a while and others may predict meanwhile
        with self._lock:
            self._items[key] = predictor
            self._items.move_to_end(key)
            while len(self._items) > 1 and (len(self._items) > self.max_models or self.total_bytes > self.max_bytes):
                self._items.popitem(last=False)
        return predictor

    def peek(self, key: str) -> Predictor | None:
        """The cached predictor (marked as recently used), or None."""
        with self._lock:
            predictor = self._items.get(key)
            if predictor is not None:
                self._items.move_to_end(key)
            return predictor

    @property
    def total_bytes(self) -> int:
        return sum(p.nbytes for p in self._items.values())

    def evict(self, key: str) -> None:
        with self._lock:
            self._items.pop(key, None)

    def __contains__(self, key: str) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)


def csv_header(path: Path, delimiter: str = ",", max_bytes: int = 1 << 20) -> list[str] | None:
    """The header row of a stored CSV (its first line), or None if it is gone."""
    try:
        with open(path, "rb") as fh:
            first = fh.readline(max_bytes).decode("utf-8-sig", "replace")
    except OSError:
        return None
    return [c.strip() for c in next(csv.reader([first], delimiter=delimiter), [])]

