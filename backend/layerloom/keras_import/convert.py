"""Walk a parsed Keras model (config.py) call by call and write the Layerloom graph.

Calls are converted once all their input tensors exist (Keras 3 lists layers in a topological order,
but a shared layer's later calls can depend on layers listed after it). A shared layer's second call
becomes a node with ``share``; a nested model becomes a block (defined once, converted by its own
walker) and each call of it a ``Block`` node, later calls sharing the first one's weights. A refused
layer poisons its outputs, so its consumers are skipped rather than reported again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..graph import analyze
from ..graph.catalog import suggest_type
from .builder import GraphBuilder, ShapeUnknown, clean_id
from .config import LayerSpec, ModelSpec
from .context import Converter, WeightRule
from .errors import KerasImportError, Problem, Report
from .layout import Tensor, boundary_cf, keras_shape_to_ours
from .mapping import LAYERS, OPERATIONS, SUGGESTIONS
from .training import head_params

INPUT_DTYPES = {"float32": "float32", "float16": "float32", "float64": "float32", "bfloat16": "float32",
                "int32": "int64", "int64": "int64", "int16": "int64", "int8": "int64", "uint8": "int64"}
KERAS_MODULES = ("keras", "keras.layers", "keras.src")


@dataclass
class Converted:
    document: dict[str, Any]
    weight_rules: dict[str, tuple[LayerSpec, WeightRule]]
    warnings: list[str] = field(default_factory=list)


_POISON = Tensor("")  # the output of a refused layer


def convert(model: ModelSpec, compile_config: dict[str, Any] | None, report: Report) -> Converted:
    builder = GraphBuilder(model.name)
    walker = _Walker(builder, report)
    builder.blocks = walker.blocks.definitions  # the document carries every block (nested model)
    single_in, single_out = len(model.inputs) == 1, len(model.outputs) == 1
    input_ids = ["x"] if single_in else [r.layer for r in model.inputs]
    head_ids = ["y"] if single_out else model.output_names
    builder.reserved = {builder.unique_id(i) for i in input_ids + head_ids}
    outputs = walker.run(model, None, "", input_ids)
    report.raise_if_any()
    unresolved = [name for name, t in zip(model.output_names, outputs) if t is _POISON]
    if unresolved:
        raise KerasImportError.single("bad_config", f"The model's outputs {', '.join(unresolved)} are not produced by "
                                      "any call in the config; it is incomplete.")
    heads = head_params(compile_config, model.output_names, walker.final_activations(outputs), report)
    for k, (tensor, head_id) in enumerate(zip(outputs, head_ids)):
        try:
            rank = builder.rank(tensor)
            tensor = builder.channels_first(tensor) if boundary_cf(rank) else builder.keras_order(tensor)
        except ShapeUnknown:  # a layer's converted params do not compile: the analysis below says why
            pass
        builder.add("Output", heads[k], [tensor], head_id, reserved_ok=True)
    _integer_inputs_for_embeddings(builder, report)
    document = builder.document()
    analysis = analyze(document)
    if not analysis.ok:
        raise KerasImportError([Problem(i.code, f"The converted graph does not compile: {i.message}", i.node)
                                for i in analysis.errors])
    return Converted(document, walker.weight_rules, report.warnings)


class _Walker:
    def __init__(self, builder: GraphBuilder, report: Report, blocks: "_Blocks | None" = None) -> None:
        self.b, self.report = builder, report
        self.main_ids: dict[int, str] = {}
        self.weight_rules: dict[str, tuple[LayerSpec, WeightRule]] = {}
        self.warned: set[int] = set()
        self.blocks = blocks if blocks is not None else _Blocks()

    def run(self, model: ModelSpec, bound: list[Tensor] | None, prefix: str, input_ids: list[str] | None = None) -> list[Tensor]:
        tensors: dict[tuple[str, int, int], Tensor] = {}
        for k, ref in enumerate(model.inputs):
            spec = model.layers[ref.layer]
            if bound is not None:
                tensors[(ref.layer, 0, 0)] = bound[k] if k < len(bound) else _POISON
            else:
                tensors[(ref.layer, 0, 0)] = self._input(spec, input_ids[k])  # type: ignore[index]
        pending = _needed_calls(model)
        while pending:
            waiting = []
            for spec, index in pending:
                refs = spec.calls[index].tensors()
                if all((r.layer, r.node, r.tensor) in tensors for r in refs):
                    inputs = [tensors[(r.layer, r.node, r.tensor)] for r in refs]
                    for t, out in enumerate(self._call(spec, index, inputs, prefix)):
                        tensors[(spec.name, index + spec.node_offset, t)] = out
                else:
                    waiting.append((spec, index))
            if len(waiting) == len(pending):
                names = ", ".join(sorted({s.name for s, _ in waiting})[:5])
                raise KerasImportError.single("bad_config", f"The calls of {names} take tensors no layer produces; "
                                              "the model config is incomplete.")
            pending = waiting
        return [tensors.get((r.layer, r.node, r.tensor), _POISON) for r in model.outputs]

    def _input(self, spec: LayerSpec, node_id: str) -> Tensor:
        config = spec.config
        shape = config.get("batch_shape") or config.get("batch_input_shape")
        if shape is None and config.get("shape") is not None:
            shape = [None, *config["shape"]]
        where = dict(layer=spec.name, class_name="InputLayer")
        if not isinstance(shape, list) or len(shape) < 2:
            self.report.refuse(spec.name, "InputLayer", "config.batch_shape", "the input has no shape.",
                               "an Input with a fixed shape.")
            return _POISON
        sample = shape[1:]
        if any(not isinstance(d, int) or d < 1 for d in sample):
            self.report.refuse(spec.name, "InputLayer", "config.batch_shape",
                               f"the input shape {sample} has a variable (None) dimension.",
                               "Inputs have fixed sizes: save the model with keras.Input(shape=...) giving every "
                               "size (pad sequences to one length).")
            return _POISON
        if len(sample) > 4:
            self.report.refuse(spec.name, "InputLayer", "config.batch_shape", f"{len(sample)} sample axes are too many.",
                               "an Input with at most 4 axes.")
            return _POISON
        dtype = config.get("dtype") or "float32"
        dtype = dtype.get("config", {}).get("name", "float32") if isinstance(dtype, dict) else dtype
        if dtype not in INPUT_DTYPES:
            self.report.refuse(**where, key="config.dtype", message=f"input dtype {dtype!r} is not supported.",
                               suggestion="float32, or int64 token ids.")
            return _POISON
        cf = boundary_cf(len(sample))
        ours = keras_shape_to_ours(tuple(sample)) if cf else tuple(sample)
        node = self.b.add("Input", {"shape": list(ours), "dtype": INPUT_DTYPES[dtype]}, [], node_id, reserved_ok=True)
        return Tensor(node, cf)

    def _call(self, spec: LayerSpec, index: int, inputs: list[Tensor], prefix: str) -> list[Tensor]:
        if any(t is _POISON for t in inputs):
            return [_POISON]
        if spec.model is not None:
            return self._block_call(spec, index, inputs, prefix)
        converter_fn = self._converter(spec)
        if converter_fn is None:
            return [_POISON]
        self._warn_regularizers(spec)
        cx = Converter(self.b, self.report, spec, spec.calls[index], index, inputs, prefix, self.main_ids,
                       self.weight_rules)
        try:
            out = converter_fn(cx, inputs)
        except ShapeUnknown:
            return [_POISON]
        except (TypeError, ValueError, KeyError) as err:  # a config value of the wrong type or missing
            cx.refuse(None, f"its config cannot be read ({type(err).__name__}: {str(err)[:120]}).")
            return [_POISON]
        return [_POISON if cx.refused else out]

    def _block_call(self, spec: LayerSpec, index: int, inputs: list[Tensor], prefix: str) -> list[Tensor]:
        """A nested model is a block, defined once; each call of it is a Block node, and calls after
        the first share the first one's weights. Its ports follow the Input/Output layout rule."""
        definition = self.blocks.define(spec, self)
        if definition is None:
            return [_POISON]
        name, rules, n_outputs = definition
        fed = []
        for tensor in inputs:
            rank = self.b.rank(tensor)
            fed.append(self.b.channels_first(tensor) if boundary_cf(rank) else self.b.keras_order(tensor))
        owner = self.main_ids.get(id(spec))
        wanted = prefix + spec.name + (f"_call{index + 1}" if owner else "")
        node = self.b.add("Block", {"block": name}, fed, wanted, share=owner)
        if owner is None:
            self.main_ids[id(spec)] = node
            for inner, rule in rules.items():
                self.weight_rules[f"{node}.{inner}"] = rule
        outputs = [Tensor(node, False, port) for port in range(n_outputs)]
        return [Tensor(t.node, boundary_cf(self.b.rank(t)), t.port) for t in outputs]

    def _converter(self, spec: LayerSpec):
        if spec.is_operation:
            fn = OPERATIONS.get(spec.class_name)
            if fn is None:
                self.report.refuse(spec.name, spec.class_name, None,
                                   f"the tensor operation {spec.class_name} ({spec.module}) is not supported.",
                                   "a Lambda expression (+ - * / **, abs, exp, log, sqrt, square, tanh, sigmoid, "
                                   "relu, softplus, clip, minimum, maximum, mean/sum/max/min).")
            return fn
        custom = bool(spec.registered_name and ">" in spec.registered_name) or (
            bool(spec.module) and not spec.module.startswith(KERAS_MODULES))
        if spec.class_name == "Lambda":
            self.report.refuse(spec.name, "Lambda", "config.function", "the layer's function is Python bytecode.",
                               SUGGESTIONS["Lambda"], code="lambda_layer")
            return None
        fn = LAYERS.get(spec.class_name)
        if fn is None or custom:
            closest = SUGGESTIONS.get(spec.class_name) or _closest(spec.class_name)
            kind = "a custom layer (its code is not in the file)" if custom else "not a layer Layerloom has"
            self.report.refuse(spec.name, spec.class_name, "class_name", f"{spec.class_name} is {kind}.",
                               closest, code="custom_layer" if custom else "unsupported_layer")
            return None
        return fn

    def _warn_regularizers(self, spec: LayerSpec) -> None:
        keys = sorted(k for k, v in spec.config.items()
                      if v is not None and k.endswith(("_regularizer", "_constraint")))
        if keys and id(spec) not in self.warned:
            self.warned.add(id(spec))
            self.report.warn(f"Layer {spec.name!r} ({spec.class_name}): {', '.join(keys)} are not imported "
                             "(they only affect training); add ActivityRegularization or weight decay if needed.")

    def final_activations(self, outputs: list[Tensor]) -> list[str | None]:
        """Each output's last activation (from its node's params), to choose a loss when none is compiled."""
        by_id = {n["id"]: n for n in self.b.nodes}
        out = []
        for tensor in outputs:
            node = by_id.get(tensor.node, {})
            if node.get("share"):
                node = by_id.get(node["share"], {})
            out.append((node.get("params") or {}).get("activation"))
        return out


def _needed_calls(model: ModelSpec) -> list[tuple[LayerSpec, int]]:
    """The calls the model's outputs depend on, in config order (calls that only computed Keras masks
    are left out)."""
    needed: set[tuple[str, int]] = set()
    stack = [(r.layer, r.node) for r in model.outputs]
    while stack:
        name, node = stack.pop()
        spec = model.layers.get(name)
        if spec is None or spec.is_input or (name, node) in needed:
            continue
        index = node - spec.node_offset
        if not 0 <= index < len(spec.calls):
            continue
        needed.add((name, node))
        stack.extend((r.layer, r.node) for r in spec.calls[index].tensors())
    return [(spec, index) for spec in model.layers.values() if not spec.is_input
            for index in range(len(spec.calls)) if (spec.name, index + spec.node_offset) in needed]


class _Blocks:
    """The block definitions written so far (one per nested model), shared by every walker."""

    def __init__(self) -> None:
        self.definitions: dict[str, dict[str, Any]] = {}
        self.by_spec: dict[int, tuple[str, dict[str, tuple[LayerSpec, WeightRule]], int] | None] = {}

    def define(self, spec: LayerSpec, parent: "_Walker"):
        if id(spec) in self.by_spec:
            return self.by_spec[id(spec)]
        model = spec.model
        assert model is not None
        inner = GraphBuilder(model.name)
        inner.blocks = self.definitions  # blocks it calls are defined before it
        walker = _Walker(inner, parent.report, self)
        input_ids = [r.layer for r in model.inputs]
        output_ids = [f"{n}_out" for n in model.output_names]
        inner.reserved = {inner.unique_id(i) for i in input_ids + output_ids}
        outputs = walker.run(model, None, "", input_ids)
        if any(t is _POISON for t in outputs):
            self.by_spec[id(spec)] = None
            return None
        for tensor, output_id in zip(outputs, output_ids):
            rank = inner.rank(tensor)
            tensor = inner.channels_first(tensor) if boundary_cf(rank) else inner.keras_order(tensor)
            inner.add("Output", {}, [tensor], output_id, reserved_ok=True)
        name = clean_id(model.name)
        while name in self.definitions:
            name = clean_id(f"{model.name}_{len(self.definitions) + 1}")
        self.definitions[name] = {"description": f"Keras model {model.name!r}", "nodes": inner.nodes,
                                  "edges": inner.edges}
        self.by_spec[id(spec)] = (name, walker.weight_rules, len(outputs))
        return self.by_spec[id(spec)]


def _closest(class_name: str) -> str | None:
    found = suggest_type(class_name)
    return f"{found}." if found else None


def _integer_inputs_for_embeddings(builder: GraphBuilder, report: Report) -> None:
    """Keras casts float inputs to token ids inside Embedding; Layerloom needs the Input to say int64."""
    by_id = {n["id"]: n for n in builder.nodes}
    for edge in builder.edges:
        target, source = by_id[edge["target"]], by_id[edge["source"]]
        if target["type"] == "Embedding" and source["type"] == "Input" and source["params"]["dtype"] == "float32":
            source["params"]["dtype"] = "int64"
            report.warn(f"Input {source['id']!r} feeds an Embedding, so it takes int64 token ids.")
