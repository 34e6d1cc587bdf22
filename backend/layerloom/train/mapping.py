"""Match graph Inputs and heads to dataset arrays, and check that they fit, before any training.

Each Input and each Output (head) is fed by the array of the same name, or by the one
``config.mapping`` names. Every incompatibility is collected and raised in one ``MappingError``
whose problems say what to change. What passes becomes a ``DataPlan``: which array feeds which
node, and the form each head's target takes (class-index labels or dense values), including the
two conversions a Keras user expects to just work: integer labels for categorical cross-entropy
(used as indices, equivalent to one-hot) and 0/1 labels for binary cross-entropy (cast to float).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..data import Dataset
from ..graph import Analysis
from ..graph.catalog import format_shape
from .config import TrainConfig
from .losses import CLASSIFICATION_LOSSES, TargetForm
from .metrics import HIGHER_IS_BETTER, metric_problem

VALUE_LOSSES = frozenset({"mse", "mae", "huber", "kl_divergence", "cosine_similarity"})


class MappingError(ValueError):
    """The graph and the dataset (or the config) do not fit; ``problems`` lists every reason.

    Each problem is ``{"node": id | None, "field": str, "code": str, "message": str}``."""

    def __init__(self, problems: list[dict[str, Any]], dataset_name: str = "the dataset") -> None:
        self.problems = problems
        lines = "\n".join(f"- {p['message']}" for p in problems)
        super().__init__(f"{len(problems)} problem(s) between the graph and {dataset_name}:\n{lines}")


@dataclass(frozen=True)
class InputFeed:
    node: str
    array: str
    ids_from_floats: bool = False  # integral float values feeding an int Input (token ids): cast to int64


@dataclass(frozen=True)
class HeadTarget:
    node: str
    array: str
    form: TargetForm
    loss_weight: float
    labels_to_binary: bool = False  # 0/1 labels for binary cross-entropy: cast to float, shape (n, 1)


@dataclass(frozen=True)
class DataPlan:
    inputs: list[InputFeed]
    heads: list[HeadTarget]
    metric_names: list[str]  # epoch metric names without a val_ prefix: loss, <head>/loss, <head>/<metric>


TARGET_KINDS = frozenset({"class_labels", "values"})


def fit_xy_mapping(input_ids: list[str], output_ids: list[str], arrays: dict[str, str],
                   mapping: dict[str, str] | None = None) -> dict[str, str]:
    """Keras's ``fit(x, y)``: with exactly one Input and one Output, and a dataset with exactly one
    features array and one target array (class labels or values), an end that neither ``mapping``
    nor a same-named array feeds takes the array of its role. ``arrays`` is {name: kind}; returns
    {node: array} for the ends this rule maps. The editor applies the same rule
    (frontend/src/training/mapping.ts), and both are checked against auto_mapping_cases.json."""
    mapping = mapping or {}
    features = [a for a, kind in arrays.items() if kind not in TARGET_KINDS]
    targets = [a for a, kind in arrays.items() if kind in TARGET_KINDS]
    if len(input_ids) != 1 or len(output_ids) != 1 or len(features) != 1 or len(targets) != 1:
        return {}
    pairs = ((input_ids[0], features[0]), (output_ids[0], targets[0]))
    return {node: array for node, array in pairs if node not in mapping and node not in arrays}


def check_compatibility(analysis: Analysis, dataset: Dataset, config: TrainConfig) -> DataPlan:
    """The plan for feeding ``dataset`` to the graph, or a MappingError with every problem."""
    checker = _Checker(analysis, dataset, config)
    plan = checker.run()
    if checker.problems:
        raise MappingError(checker.problems, f"dataset {dataset.name!r}")
    return plan


def monitor_mode(monitor: str, mode: str) -> str:
    """Resolve mode "auto": maximise accuracy, auc and r2 metrics; minimise everything else."""
    if mode != "auto":
        return mode
    return "max" if monitor.rsplit("/", 1)[-1] in HIGHER_IS_BETTER else "min"


class _Checker:
    def __init__(self, analysis: Analysis, dataset: Dataset, config: TrainConfig) -> None:
        self.analysis, self.dataset, self.config = analysis, dataset, config
        self.problems: list[dict[str, Any]] = []
        self.auto = fit_xy_mapping(analysis.input_ids, analysis.output_ids, dict(dataset.kinds), config.mapping)

    def add(self, node: str | None, field: str, code: str, message: str) -> None:
        self.problems.append({"node": node, "field": field, "code": code, "message": message})

    def run(self) -> DataPlan:
        self._check_config_names()
        inputs = [feed for nid in self.analysis.input_ids if (feed := self._input(nid))]
        heads = [target for nid in self.analysis.output_ids if (target := self._head(nid))]
        metric_names = ["loss"]
        for nid in self.analysis.output_ids:
            metric_names.append(f"{nid}/loss")
            metric_names.extend(f"{nid}/{m}" for m in dict.fromkeys(self.analysis.nodes[nid].params.metrics))
        self._check_monitors(metric_names)
        return DataPlan(inputs, heads, metric_names)

    # ---- names in the config -----------------------------------------------------------

    def _check_config_names(self) -> None:
        ends = set(self.analysis.input_ids) | set(self.analysis.output_ids)
        for node in self.config.mapping:
            if node not in ends:
                self.add(node, f"mapping.{node}", "unknown_mapping_node",
                         f"The mapping names {node!r}, which is not an Input or Output node of the graph "
                         f"(those are: {', '.join(sorted(ends))}); remove it or fix the name.")
        for node in self.config.loss_weights:
            if node not in self.analysis.output_ids:
                self.add(node, f"loss_weights.{node}", "unknown_head",
                         f"loss_weights names {node!r}, which is not an Output node (heads: "
                         f"{', '.join(self.analysis.output_ids)}); remove it or fix the name.")

    def _array_for(self, node: str, role: str) -> str | None:
        array = self.config.mapping.get(node) or self.auto.get(node, node)
        if array in self.dataset.splits["train"]:
            return array
        how = f"is mapped to {array!r}, which" if node in self.config.mapping else "has no array of the same name; it"
        self.add(node, f"mapping.{node}", "missing_array",
                 f"{role} {node!r} {how} is not in dataset {self.dataset.name!r} (arrays: "
                 f"{', '.join(self.dataset.array_names)}); {self._suggest(node, role)}")
        return None

    def _suggest(self, node: str, role: str) -> str:
        """What to map ``node`` to, by role, kind and shape: an Input is offered feature arrays, a head
        target arrays (class labels or values), the ones that fit first; never an array of the other role."""
        kinds = self.dataset.kinds
        if role == "Input":
            pool = [a for a in self.dataset.array_names if kinds[a] not in TARGET_KINDS]
            fits = [a for a in pool if self.dataset.sample_shape(a) == self.analysis.nodes[node].output.shape]
            what = "feature array"
        else:
            pool = [a for a in self.dataset.array_names if kinds[a] in TARGET_KINDS]
            fits = [a for a in pool if self._target_fits(node, a)]
            what = "target array (class labels or values)"
        if not pool:
            return f"the dataset has no {what} for it; upload one with a {what}, or remove the node."
        best = (fits or pool)[0]
        described = self._describe_array(best)
        fit_note = "" if fits else " (it does not fit the node yet; see the shapes)"
        return (f"map it to {best!r}, the dataset's {described}{fit_note}: mapping {{{node!r}: {best!r}}}, "
                f"or rename the node to {best!r}.")

    def _describe_array(self, array: str) -> str:
        kind = self.dataset.kinds[array]
        if kind == "class_labels":
            return f"class labels ({self.dataset.num_classes(array)} classes)"
        shape = format_shape(self.dataset.sample_shape(array))
        return f"{'targets' if kind == 'values' else 'features'} of shape {shape}"

    def _target_fits(self, node: str, array: str) -> bool:
        info = self.analysis.nodes[node]
        loss, shape = info.params.loss, info.output.shape
        if self.dataset.kinds[array] == "class_labels":
            classes = self.dataset.num_classes(array) or 0
            if loss in VALUE_LOSSES:
                return False
            return shape == (1,) if loss == "binary_crossentropy" else shape == (classes,)
        return loss != "sparse_categorical_crossentropy" and self.dataset.sample_shape(array) == shape

    # ---- inputs ------------------------------------------------------------------------

    def _input(self, node: str) -> InputFeed | None:
        array = self._array_for(node, "Input")
        if array is None:
            return None
        spec = self.analysis.nodes[node].output
        sample_shape = self.dataset.sample_shape(array)
        ok = True
        if sample_shape != spec.shape:
            ok = False
            self.add(node, "shape", "shape_mismatch",
                     f"Input {node!r} has shape {format_shape(spec.shape)} but array {array!r} holds samples of shape "
                     f"{format_shape(sample_shape)}; set the Input's shape to {list(sample_shape)} or map another array.")
        is_int_array = self.dataset.splits["train"][array].dtype.kind in "biu"
        ids_from_floats = False
        if spec.dtype == "float" and is_int_array:
            ok = False
            self.add(node, "dtype", "dtype_mismatch",
                     f"Input {node!r} takes float32 features but array {array!r} holds integers "
                     f"({self.dataset.kinds[array]}); set the Input's dtype to int64 if they are token ids for an "
                     f"Embedding, or map a feature array.")
        elif spec.dtype == "int" and not is_int_array:
            if self._all_integral(array):
                ids_from_floats = True
            else:
                ok = False
                self.add(node, "dtype", "dtype_mismatch",
                         f"Input {node!r} takes integer ids (dtype int64) but array {array!r} holds non-integer "
                         f"values; set the Input's dtype to float32 or map an array of integer ids.")
        return InputFeed(node, array, ids_from_floats) if ok else None

    def _all_integral(self, array: str) -> bool:
        return all(
            bool(np.all(np.isfinite(arrays[array])) and np.all(arrays[array] == np.round(arrays[array])))
            for arrays in self.dataset.splits.values()
        )

    # ---- heads -------------------------------------------------------------------------

    def _head(self, node: str) -> HeadTarget | None:
        array = self._array_for(node, "Output")
        if array is None:
            return None
        info = self.analysis.nodes[node]
        loss, shape = info.params.loss, info.output.shape
        weight = self.config.loss_weights.get(node, info.params.loss_weight)
        if self.dataset.kinds[array] == "class_labels":
            target = self._labels_target(node, array, loss, shape, weight)
        else:
            target = self._dense_target(node, array, loss, shape, weight)
        if target is not None:
            for metric in dict.fromkeys(info.params.metrics):
                reason = metric_problem(metric, loss, target.form)
                if reason:
                    self.add(node, "metrics", "metric_not_applicable",
                             f"Output {node!r}: {reason}; remove it from the head's metrics.")
        return target

    def _labels_target(self, node: str, array: str, loss: str, shape: tuple[int, ...], weight: float) -> HeadTarget | None:
        classes = self.dataset.num_classes(array) or 0
        if loss in VALUE_LOSSES:
            self.add(node, "loss", "regression_on_labels",
                     f"Output {node!r} uses {loss}, which compares values, but array {array!r} holds class labels "
                     f"({classes} classes); use sparse_categorical_crossentropy (or categorical_crossentropy) with a "
                     f"{classes}-unit softmax, or map an array of numeric targets.")
            return None
        if loss == "binary_crossentropy":
            if classes > 2:
                self.add(node, "loss", "binary_too_many_classes",
                         f"Output {node!r} uses binary_crossentropy but array {array!r} has {classes} classes; use "
                         f"sparse_categorical_crossentropy with a {classes}-unit softmax.")
                return None
            if shape != (1,):
                self.add(node, "shape", "class_count_mismatch",
                         f"Output {node!r} outputs shape {format_shape(shape)}, but binary_crossentropy with 0/1 labels "
                         f"needs one sigmoid unit; give the last Dense units=1 with a sigmoid, or use "
                         f"sparse_categorical_crossentropy.")
                return None
            return HeadTarget(node, array, "dense", weight, labels_to_binary=True)
        if len(shape) != 1 or shape[0] != classes:
            self.add(node, "shape", "class_count_mismatch",
                     f"Output {node!r} outputs shape {format_shape(shape)} but array {array!r} has {classes} classes; "
                     f"give the last Dense units={classes} (one per class).")
            return None
        return HeadTarget(node, array, "labels", weight)

    def _dense_target(self, node: str, array: str, loss: str, shape: tuple[int, ...], weight: float) -> HeadTarget | None:
        sample_shape = self.dataset.sample_shape(array)
        if loss == "sparse_categorical_crossentropy":
            self.add(node, "loss", "sparse_needs_labels",
                     f"Output {node!r} uses sparse_categorical_crossentropy, which takes integer class labels, but array "
                     f"{array!r} holds vectors of shape {format_shape(sample_shape)}; use categorical_crossentropy for "
                     f"one-hot or probability targets.")
            return None
        if sample_shape != shape:
            if loss in CLASSIFICATION_LOSSES and loss != "binary_crossentropy":
                self.add(node, "shape", "class_count_mismatch",
                         f"Output {node!r} outputs {format_shape(shape)} but the one-hot targets in {array!r} have shape "
                         f"{format_shape(sample_shape)}; give the last Dense as many units as there are classes.")
            else:
                self.add(node, "shape", "target_width_mismatch",
                         f"Output {node!r} outputs shape {format_shape(shape)} but the targets in {array!r} have shape "
                         f"{format_shape(sample_shape)}; make the last layer produce {format_shape(sample_shape)} "
                         f"(e.g. Dense units={sample_shape[-1] if sample_shape else 1}) or map another array.")
            return None
        return HeadTarget(node, array, "dense", weight)

    # ---- monitored quantities ----------------------------------------------------------

    def _check_monitors(self, metric_names: list[str]) -> None:
        has_validation = "valid" in self.dataset.splits
        available = metric_names + ([f"val_{m}" for m in metric_names] if has_validation else [])
        watched = []
        if self.config.early_stopping is not None:
            watched.append(("early_stopping.monitor", self.config.early_stopping.monitor))
        if self.config.schedule.name == "reduce_on_plateau":
            watched.append(("schedule.monitor", self.config.schedule.monitor))
        for field, monitor in watched:
            if monitor in available:
                continue
            if monitor.startswith("val_") and monitor[4:] in metric_names:
                hint = "there is no validation data: set validation_split or use a dataset with a valid split, or monitor"
                hint += f" {monitor[4:]!r}"
            else:
                hint = f"choose one of {', '.join(available)}"
            self.add(None, field, "unknown_monitor", f"{field} is {monitor!r}, which is not reported; {hint}.")
