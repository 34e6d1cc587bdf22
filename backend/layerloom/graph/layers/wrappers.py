"""Keras's layer wrappers: TimeDistributed (an inner layer applied to every step) and Bidirectional
(a recurrent layer run both ways, merged by merge_mode). The inner layer is written as the params
``{"layer": {"type": ..., "params": {...}}}``, as Keras's config nests it."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, ValidationError, model_validator

from ..catalog import Layer, Params, ShapeError, TensorSpec, get_layer, register_layer
from ..lazy import torch_ops
from .recurrent import RecurrentParams

WRAPPERS = ("TimeDistributed", "Bidirectional")


class InnerLayer(Params):
    type: str = Field(..., description="The wrapped layer's type, e.g. Dense or Conv2D.")
    params: dict[str, Any] = Field(default_factory=dict, description="The wrapped layer's params.")

    @model_validator(mode="after")
    def _known_single_input_layer(self):
        layer = get_layer(self.type)
        if layer is None or self.type in ("Input", "Output", *WRAPPERS) or layer.max_inputs != 1 \
                or layer.mask_role == "produce":
            raise ValueError(f"TimeDistributed wraps a layer with one input (Dense, Conv2D, ...); {self.type!r} is not one")
        try:
            layer.params_model.model_validate(self.params)
        except ValidationError as err:
            first = err.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "params"
            raise ValueError(f"{self.type} params.{where}: {first['msg']}") from None
        return self

    def resolve(self) -> tuple[Layer, Any]:
        layer = get_layer(self.type)
        assert layer is not None
        return layer, layer.params_model.model_validate(self.params)


class TimeDistributedParams(Params):
    layer: InnerLayer = Field(..., description="The layer applied to every step: {\"type\": \"Dense\", \"params\": {...}}, "
                              "or a block of the document with one input: {\"type\": \"Block\", \"params\": {\"block\": \"name\"}}.")


class _StepSite:
    """The CallSite the inner layer's emit sees: its module is the wrapper's child ``layer``, and its
    input is one step (the time axis folded into the batch)."""

    def __init__(self, outer: Any, step_spec: TensorSpec) -> None:
        self.outer, self.input_specs, self.input_masks = outer, [step_spec], []

    def module(self, *args: Any) -> Any:
        return self.outer.submodule("layer", *args)

    def __getattr__(self, name: str) -> Any:  # function, method, activation, add_penalty
        return getattr(self.outer, name)


@register_layer
class TimeDistributed(Layer):
    type = "TimeDistributed"
    category = "Recurrent"
    doc = ("Applies the inner layer (Dense, Conv2D, ...) to every step of a (time, ...) input with the same weights: "
           "(time, *step) becomes (time, *inner output). Parameters are the inner layer's.")
    params_model = TimeDistributedParams
    mask_role = "pass"
    example_params = (
        {"layer": {"type": "Dense", "params": {"units": 5, "activation": "relu"}}},
        {"layer": {"type": "Conv1D", "params": {"filters": 2, "kernel_size": 2}}},
    )

    @staticmethod
    def _step(inputs: list[TensorSpec]) -> TensorSpec:
        x = inputs[0]
        if len(x.shape) < 2:
            raise ShapeError(f"TimeDistributed needs a (time, ...) input with at least two axes, got shape {x}.")
        return TensorSpec(x.shape[1:], x.dtype)

    def output(self, p: TimeDistributedParams, inputs):
        layer, inner = p.layer.resolve()
        try:
            out = layer.output(inner, [self._step(inputs)])
        except ShapeError as err:
            raise ShapeError(f"the wrapped {layer.type} cannot take one step: {err}", err.code) from None
        return TensorSpec((inputs[0].shape[0], *out.shape), out.dtype)

    def weights(self, p: TimeDistributedParams, inputs):
        layer, inner = p.layer.resolve()
        return [type(w)(f"layer.{w.name}", w.shape, w.trainable) for w in layer.weights(inner, [self._step(inputs)])]

    def make_module(self, p: TimeDistributedParams, inputs):
        layer, inner = p.layer.resolve()
        return torch_ops.TimeDistributed(layer.make_module(inner, [self._step(inputs)]))

    def emit(self, call, p: TimeDistributedParams, args):
        layer, inner = p.layer.resolve()
        steps = call.function(torch_ops.fold_time, args[0])
        out = layer.emit(_StepSite(call, self._step(call.input_specs)), inner, [steps])
        return call.function(torch_ops.unfold_time, out, args[0])


class InnerRecurrent(Params):
    type: Literal["SimpleRNN", "LSTM", "GRU"] = Field(..., description="The recurrent layer run in both directions.")
    params: RecurrentParams

    @model_validator(mode="after")
    def _one_direction(self):
        if self.params.bidirectional:
            raise ValueError("the layer inside Bidirectional runs one way; remove its 'bidirectional'")
        return self


class BidirectionalParams(Params):
    layer: InnerRecurrent = Field(..., description="{\"type\": \"LSTM\", \"params\": {\"units\": 32, \"return_sequences\": true}}")
    merge_mode: Literal["concat", "sum", "mul", "ave"] = Field(
        "concat", description="How the forward and backward outputs combine: concatenated, summed, multiplied or averaged.")


@register_layer
class Bidirectional(Layer):
    type = "Bidirectional"
    category = "Recurrent"
    doc = ("Keras's Bidirectional: runs a SimpleRNN, LSTM or GRU forwards and backwards over a (time, features) sequence "
           "and merges the two outputs (merge_mode). Twice the inner layer's parameters.")
    params_model = BidirectionalParams
    mask_role = "consume"
    example_params = (
        {"layer": {"type": "LSTM", "params": {"units": 3}}},
        {"layer": {"type": "GRU", "params": {"units": 4, "return_sequences": True}}, "merge_mode": "sum"},
        {"layer": {"type": "SimpleRNN", "params": {"units": 2}}, "merge_mode": "ave"},
        {"layer": {"type": "GRU", "params": {"units": 2, "return_sequences": True}}, "merge_mode": "mul"},
    )

    @staticmethod
    def _both_ways(p: BidirectionalParams) -> tuple[Any, RecurrentParams]:
        return get_layer(p.layer.type), p.layer.params.model_copy(update={"bidirectional": True})

    def output(self, p: BidirectionalParams, inputs):
        layer, both = self._both_ways(p)
        spec = layer.output(both, inputs)
        if p.merge_mode == "concat":
            return spec
        return TensorSpec(spec.shape[:-1] + (spec.shape[-1] // 2,))

    def keeps_mask(self, p: BidirectionalParams) -> bool:
        return p.layer.params.return_sequences

    def weights(self, p, inputs):
        layer, both = self._both_ways(p)
        return layer.weights(both, inputs)

    def make_module(self, p: BidirectionalParams, inputs):
        layer, both = self._both_ways(p)
        return getattr(torch_ops, layer.module_class)(inputs[0].shape[1], both.units, return_sequences=both.return_sequences,
                                                      bidirectional=True, merge_mode=p.merge_mode)

    def emit(self, call, p, args):
        mask = call.input_masks[0] if call.input_masks else None
        return call.module(args[0], mask) if mask is not None else call.module(args[0])
