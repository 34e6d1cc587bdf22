"""What a layer converter (mapping.py) works with: the Keras layer's config and call, the graph being
written, and the report it refuses or warns through."""

from __future__ import annotations

import math
import typing
from collections.abc import Callable
from typing import Any

import numpy as np

from ..graph import get_layer
from .builder import GraphBuilder
from .config import Call, LayerSpec
from .errors import Report
from .layout import Tensor



def catalog_activations() -> frozenset[str]:
    """The activation names Layerloom's layers take (Keras's names), read from the catalog so that
    names added to it are imported too."""
    activation = get_layer("Activation")
    annotation = activation.params_model.model_fields["activation"].annotation if activation else None
    return frozenset(typing.get_args(annotation)) or frozenset({"linear", "relu", "sigmoid", "tanh", "softmax"})

WeightRule = Callable[["LayerVars"], dict[str, np.ndarray]]


class Refused(Exception):
    """This layer cannot be converted; the reason is already in the report."""


class LayerVars:
    """A Keras layer's saved arrays in model.weights.h5: ``own()`` are ``vars/0, 1, …``; ``sub("cell")``
    is a sublayer (an RNN's cell, a Bidirectional's forward_layer)."""

    def __init__(self, group: Any) -> None:
        self.group = group

    def own(self) -> list[np.ndarray]:
        vars_ = self.group.get("vars") if self.group is not None else None
        if vars_ is None:
            return []
        keys = sorted((k for k in vars_.keys() if k.isdigit()), key=int)
        return [read_array(vars_[k]) for k in keys]

    def sub(self, name: str) -> "LayerVars":
        return LayerVars(self.group.get(name) if self.group is not None else None)


MAX_ARRAY_ELEMENTS = 500_000_000


def read_array(dataset: Any) -> np.ndarray:
    """One HDF5 dataset as a float32 array, refusing anything that is not a plain numeric array."""
    if not hasattr(dataset, "shape") or dataset.dtype.kind not in "fiub":
        raise ValueError(f"{dataset.name} is not a numeric array")
    if math.prod(dataset.shape) > MAX_ARRAY_ELEMENTS:
        raise ValueError(f"{dataset.name} is too large")
    return np.asarray(dataset[()], dtype=np.float32)


class Converter:
    """One call of one Keras layer being converted."""

    def __init__(self, builder: GraphBuilder, report: Report, spec: LayerSpec, call: Call, call_index: int,
                 inputs: list[Tensor], id_prefix: str, main_ids: dict[int, str],
                 weight_rules: dict[str, tuple[LayerSpec, WeightRule]]) -> None:
        self.b, self.report, self.spec, self.call, self.call_index = builder, report, spec, call, call_index
        self.inputs, self.id_prefix, self.main_ids, self.weight_rules = inputs, id_prefix, main_ids, weight_rules
        self.refused = False

    # ---- config --------------------------------------------------------------------------

    def cfg(self, key: str, default: Any = None) -> Any:
        return self.spec.config.get(key, default)

    def refuse(self, key: str | None, message: str, suggestion: str | None = None) -> None:
        self.report.refuse(self.spec.name, self.spec.class_name, f"config.{key}" if key else None, message, suggestion)
        self.refused = True

    def expect(self, key: str, allowed: Any, default: Any, suggestion: str | None = None) -> Any:
        """The config value, refusing (and naming the key) when it is not one Layerloom can express."""
        value = self.cfg(key, default)
        options = allowed if isinstance(allowed, (set, frozenset, tuple, list)) else (allowed,)
        if value not in options:
            wanted = " or ".join(repr(o) for o in options)
            self.refuse(key, f"{key}={value!r} is not supported (Layerloom needs {wanted}).", suggestion)
        return value

    def activation(self, key: str = "activation") -> str:
        return self.activation_of(self.spec.config, key)

    def activation_of(self, config: dict[str, Any], key: str = "activation") -> str:
        value = config.get(key, "linear")
        if isinstance(value, dict):  # {"class_name": "function", "config": "relu"} in some versions
            value = value.get("config") if isinstance(value.get("config"), str) else value.get("class_name")
        value = value or "linear"
        known = catalog_activations()
        if value not in known:
            self.refuse(key, f"activation {value!r} is not one Layerloom knows.",
                        f"use one of {', '.join(sorted(known))}, or a Lambda layer after a linear one.")
            return "linear"
        return value

    def has_type(self, layer_type: str, suggestion: str) -> bool:
        """Whether this Layerloom's catalog has the layer type (refusing, with the suggestion, if not)."""
        if get_layer(layer_type) is None:
            self.refuse(None, f"{layer_type} is not in this Layerloom's catalog.", suggestion)
            return False
        return True

    def supports_param(self, layer_type: str, name: str) -> bool:
        """Whether this Layerloom's catalog has that parameter (other layers gain some over time)."""
        layer = get_layer(layer_type)
        return layer is not None and name in layer.params_model.model_fields

    # ---- graph ---------------------------------------------------------------------------

    @property
    def base_id(self) -> str:
        return self.id_prefix + self.spec.name

    def main(self, type_: str, params: dict[str, Any], inputs: list[Tensor], *, cf: bool = False) -> Tensor:
        """The node holding this layer's weights: the first call creates it, later calls share it."""
        owner = self.main_ids.get(id(self.spec))
        if owner is None:
            node = self.b.add(type_, params, inputs, self.base_id)
            self.main_ids[id(self.spec)] = node
        else:  # a later call of this layer, or any call of it inside a nested model's later call
            suffix = f"_call{self.call_index + 1}" if self.call_index else ""
            node = self.b.add(type_, params, inputs, self.base_id + suffix, share=owner)
        return Tensor(node, cf)

    def weights(self, rule: WeightRule) -> None:
        """How this layer's Keras arrays become the main node's state_dict entries (first call only)."""
        owner = self.main_ids.get(id(self.spec))
        if owner is not None and owner not in self.weight_rules:
            self.weight_rules[owner] = (self.spec, rule)
