"""Keras model configs (Keras 3's ``config.json`` and ``to_json()``, Keras 2's ``to_json()``) read into
one plain structure: a model is its layers in saved order, each with its calls (inbound nodes) and
their arguments, where a tensor argument is a reference ``(layer, node index, tensor index)``.

Sequential models are turned into the same form (an Input, then each layer called on the previous
one's output). Nested models keep their own ModelSpec. Each layer also gets the path of its weights
in ``model.weights.h5``: Keras names those groups after the layer's class (``dense``, ``dense_1``, …,
counted per container in layer order), not after the layer's name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from .errors import KerasImportError

MODEL_CLASSES = frozenset({"Functional", "Sequential", "Model"})
MAX_LAYERS = 20_000
MAX_DEPTH = 16  # models nested in models
MASK_KWARGS = frozenset({"mask", "query_mask", "value_mask", "key_mask"})


@dataclass(frozen=True)
class Ref:
    """A tensor: output ``tensor`` of call ``node`` of layer ``layer``."""

    layer: str
    node: int = 0
    tensor: int = 0


@dataclass
class Call:
    args: list[Any]
    kwargs: dict[str, Any]

    def tensors(self) -> list[Ref]:
        """The tensor arguments in order (a list argument, as Concatenate takes, counts in order).
        A ``mask`` argument is left out: Layerloom's layers pass Keras masks along by themselves, and
        the operations Keras recorded to compute it are then not needed."""
        out: list[Ref] = []
        _collect(self.args, out)
        _collect([v for k, v in self.kwargs.items() if k not in MASK_KWARGS], out)
        return out


def _collect(value: Any, out: list[Ref]) -> None:
    if isinstance(value, Ref):
        out.append(value)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _collect(item, out)


@dataclass
class LayerSpec:
    name: str
    class_name: str
    module: str
    config: dict[str, Any]
    calls: list[Call] = field(default_factory=list)
    weights_path: str | None = None  # group in model.weights.h5; None for operations
    model: "ModelSpec | None" = None  # a nested model
    registered_name: str | None = None

    @property
    def is_operation(self) -> bool:
        """Keras 3 records tensor arithmetic (``x + y``, ``keras.ops.mean``) as operation nodes."""
        return self.module.startswith(("keras.src.ops", "keras.ops"))

    @property
    def node_offset(self) -> int:
        """Keras numbers a nested functional model's calls from 1: its node 0 is the one linking its own
        inputs to outputs, which the saved config leaves out."""
        return 1 if self.class_name in ("Functional", "Model") else 0

    @property
    def is_input(self) -> bool:
        return self.class_name == "InputLayer"


@dataclass
class ModelSpec:
    name: str
    class_name: str
    layers: dict[str, LayerSpec]
    inputs: list[Ref]
    outputs: list[Ref]
    output_names: list[str]


def snake_case(name: str) -> str:
    """keras.src.utils.naming.to_snake_case: how Keras names a layer's weights group."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def parse_model(document: dict[str, Any]) -> ModelSpec:
    return _parse(document, prefix="", depth=0)


def _parse(document: dict[str, Any], prefix: str, depth: int) -> ModelSpec:
    if depth > MAX_DEPTH:
        raise KerasImportError.single("too_deep", f"Models are nested more than {MAX_DEPTH} levels deep.")
    class_name = document.get("class_name")
    config = document.get("config")
    if class_name not in MODEL_CLASSES or not isinstance(config, dict):
        raise KerasImportError.single(
            "unsupported_model", f"The top-level object is a {class_name!r}, not a Sequential or Functional model; "
            "subclassed models (class MyModel(keras.Model)) keep their forward pass in Python code and cannot be read.")
    layers = config.get("layers")
    if not isinstance(layers, list) or len(layers) > MAX_LAYERS:
        raise KerasImportError.single("bad_config", f"Model {config.get('name')!r} has no list of layers "
                                      f"(or more than {MAX_LAYERS}).")
    if class_name == "Sequential":
        return _parse_sequential(config, layers, prefix, depth)
    return _parse_functional(config, layers, prefix, depth)


def _layer_spec(raw: Any, depth: int) -> LayerSpec:
    if not isinstance(raw, dict) or not isinstance(raw.get("class_name"), str):
        raise KerasImportError.single("bad_config", "A layer entry is not an object with a class_name.")
    config = raw.get("config") if isinstance(raw.get("config"), dict) else {}
    name = raw.get("name") or config.get("name")
    if not isinstance(name, str) or not name:
        raise KerasImportError.single("bad_config", f"A {raw['class_name']} layer has no name.")
    spec = LayerSpec(name=name, class_name=raw["class_name"], module=str(raw.get("module") or ""), config=config,
                     registered_name=raw.get("registered_name"))
    if spec.class_name in MODEL_CLASSES:
        spec.model = _parse(raw, prefix="", depth=depth + 1)
    return spec


def _assign_weight_paths(container: list[LayerSpec], prefix: str) -> None:
    used: dict[str, int] = {}
    for spec in container:
        base = snake_case(spec.class_name)
        used[base] = used.get(base, -1) + 1
        spec.weights_path = f"{prefix}layers/{base}" + (f"_{used[base]}" if used[base] else "")
        if spec.model is not None:
            _assign_weight_paths(_saved_layers(spec.model), spec.weights_path + "/")


def _saved_layers(model: ModelSpec) -> list[LayerSpec]:
    """The layers Keras saves weights for, in order: no operations; a Sequential's own Input is not one
    of its ``layers``."""
    layers = [s for s in model.layers.values() if not s.is_operation]
    if model.class_name == "Sequential":
        layers = [s for s in layers if not s.is_input]
    return layers


def assign_weight_paths(model: ModelSpec) -> None:
    _assign_weight_paths(_saved_layers(model), "")


def _parse_functional(config: dict[str, Any], raw_layers: list[Any], prefix: str, depth: int) -> ModelSpec:
    layers: dict[str, LayerSpec] = {}
    for raw in raw_layers:
        spec = _layer_spec(raw, depth)
        if spec.name in layers:
            raise KerasImportError.single("bad_config", f"Two layers are named {spec.name!r}.")
        spec.calls = [_parse_call(node, spec.name) for node in raw.get("inbound_nodes") or []]
        layers[spec.name] = spec
    inputs = _refs(config.get("input_layers"), "input_layers")
    outputs = _refs(config.get("output_layers"), "output_layers")
    for ref in inputs + outputs:
        if ref.layer not in layers:
            raise KerasImportError.single("bad_config", f"The model's inputs or outputs name {ref.layer!r}, "
                                          "which is not one of its layers.")
    return ModelSpec(str(config.get("name") or "model"), "Functional", layers, inputs, outputs,
                     [r.layer for r in outputs])


def _refs(value: Any, what: str) -> list[Ref]:
    """``[name, node, tensor]`` or a list of them (Keras writes a single one for a one-input model)."""
    if isinstance(value, dict):  # a dict of named inputs (Keras 3)
        value = list(value.values())
    if not isinstance(value, list) or not value:
        raise KerasImportError.single("bad_config", f"The model config has no {what}.")
    if isinstance(value[0], str):
        value = [value]
    refs = []
    for item in value:
        if not (isinstance(item, list) and len(item) >= 3 and isinstance(item[0], str)):
            raise KerasImportError.single("bad_config", f"An entry of {what} is not [layer, node, tensor].")
        refs.append(Ref(item[0], int(item[1]), int(item[2])))
    return refs


def _parse_call(node: Any, layer: str) -> Call:
    if isinstance(node, dict):  # Keras 3: {"args": [...], "kwargs": {...}}
        return Call(_decode(node.get("args") or []), _decode(node.get("kwargs") or {}))
    if isinstance(node, list):  # Keras 2: [[name, node_index, tensor_index, kwargs], ...]
        refs, kwargs = [], {}
        for entry in node:
            if not (isinstance(entry, list) and len(entry) >= 3 and isinstance(entry[0], str)):
                raise KerasImportError.single("bad_config", f"Layer {layer!r} has an inbound node that is not "
                                              "[layer, node, tensor, kwargs].", layer=layer)
            refs.append(Ref(entry[0], int(entry[1]), int(entry[2])))
            if len(entry) > 3 and isinstance(entry[3], dict):
                kwargs.update(_decode(entry[3]))
        return Call([refs[0]] if len(refs) == 1 else [refs], kwargs)
    raise KerasImportError.single("bad_config", f"Layer {layer!r} has an inbound node of an unknown form.", layer=layer)


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if value.get("class_name") == "__keras_tensor__":
            history = (value.get("config") or {}).get("keras_history")
            if not (isinstance(history, list) and len(history) == 3):
                raise KerasImportError.single("bad_config", "A tensor in the config has no keras_history.")
            return Ref(str(history[0]), int(history[1]), int(history[2]))
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


def _parse_sequential(config: dict[str, Any], raw_layers: list[Any], prefix: str, depth: int) -> ModelSpec:
    specs = [_layer_spec(raw, depth) for raw in raw_layers]
    layers: dict[str, LayerSpec] = {}
    if specs and specs[0].is_input:
        input_spec = specs.pop(0)
    else:
        shape = config.get("build_input_shape")
        if shape is None and specs:
            shape = specs[0].config.get("batch_input_shape") or specs[0].config.get("batch_shape")
        if shape is None:
            raise KerasImportError.single(
                "no_input_shape", f"Sequential model {config.get('name')!r} has no input shape; build it with "
                "keras.Input(shape=...) as its first layer, or call model.build(), before saving.")
        input_spec = LayerSpec("input_layer", "InputLayer", "keras.layers", {"batch_shape": shape, "dtype": "float32"})
    layers[input_spec.name] = input_spec
    previous = Ref(input_spec.name)
    for spec in specs:
        if spec.name in layers:
            raise KerasImportError.single("bad_config", f"Two layers are named {spec.name!r}.")
        spec.calls = [Call([previous], {})]
        layers[spec.name] = spec
        previous = Ref(spec.name)
    return ModelSpec(str(config.get("name") or "sequential"), "Sequential", layers, [Ref(input_spec.name)],
                     [previous], [previous.layer])
