"""Activation layers with parameters, as Keras 3 has them: ReLU (so ReLU6), LeakyReLU, PReLU, ELU, Softmax."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from ..catalog import Layer, Params, ShapeError, TensorSpec, Weight, register_layer
from ..lazy import F, torch, torch_ops
from ._common import Axis, resolve_axes


class _Activation(Layer):
    category = "Activation"
    mask_role = "pass"  # element-wise, as Keras's activation layers pass masks

    def output(self, p, inputs):
        return inputs[0]


class ReLUParams(Params):
    max_value: float | None = Field(None, ge=0.0, le=1e30, description="Cap on the output (6 gives ReLU6); none: no cap.")
    negative_slope: float = Field(0.0, ge=0.0, le=1e6, description="Slope below the threshold.")
    threshold: float = Field(0.0, ge=0.0, le=1e30, description="Values at or below it are set to zero (or follow negative_slope).")


@register_layer
class ReLU(_Activation):
    type = "ReLU"
    doc = "Rectified linear unit with Keras's options: max_value 6 gives MobileNet's ReLU6."
    params_model = ReLUParams
    example_params = ({}, {"max_value": 6.0}, {"max_value": 2.0, "negative_slope": 0.1, "threshold": 0.5})

    def emit(self, call, p: ReLUParams, args):
        if p.negative_slope == 0 and p.threshold == 0:
            if p.max_value is None:
                return call.function(torch.relu, args[0])
            if p.max_value == 6:
                return call.function(F.relu6, args[0])
        return call.function(torch_ops.relu, args[0], max_value=p.max_value, negative_slope=p.negative_slope,
                             threshold=p.threshold)


class LeakyReLUParams(Params):
    negative_slope: float = Field(0.3, ge=0.0, le=1e6, description="Slope for negative inputs (Keras's layer default 0.3).")


@register_layer
class LeakyReLU(_Activation):
    type = "LeakyReLU"
    doc = "Leaky rectified linear unit: x for x ≥ 0, negative_slope · x below."
    params_model = LeakyReLUParams
    example_params = ({}, {"negative_slope": 0.1})

    def emit(self, call, p, args):
        return call.function(F.leaky_relu, args[0], negative_slope=p.negative_slope)


class PReLUParams(Params):
    shared_axes: list[Annotated[int, Field(ge=1, le=4)]] | None = Field(
        None, max_length=4, description=("Sample axes (1 = channels) along which one slope is shared; "
                                         "[2, 3] learns one slope per channel of an image."))


@register_layer
class PReLU(_Activation):
    type = "PReLU"
    doc = "Leaky ReLU with a learned slope per element (or per channel with shared_axes), starting at 0."
    params_model = PReLUParams
    example_params = ({}, {"shared_axes": [2, 3]})

    def _alpha_shape(self, p, x: TensorSpec) -> tuple[int, ...]:
        shared = set(p.shared_axes or [])
        if shared and max(shared) > len(x.shape):
            raise ShapeError(f"PReLU shared_axes {sorted(shared)} name an axis the input {x} does not have "
                             f"(it has axes 1..{len(x.shape)}).", field="params.shared_axes")
        return tuple(1 if axis in shared else n for axis, n in enumerate(x.shape, start=1))

    def output(self, p, inputs):
        self._alpha_shape(p, inputs[0])
        return inputs[0]

    def weights(self, p, inputs):
        return [Weight("weight", self._alpha_shape(p, inputs[0]))]

    def make_module(self, p, inputs):
        return torch_ops.PReLU(self._alpha_shape(p, inputs[0]))


class ELUParams(Params):
    alpha: float = Field(1.0, ge=0.0, le=1e6, description="Scale of the negative part: alpha · (exp(x) − 1).")


@register_layer
class ELU(_Activation):
    type = "ELU"
    doc = "Exponential linear unit: x for x > 0, alpha · (exp(x) − 1) below."
    params_model = ELUParams
    example_params = ({}, {"alpha": 0.5})

    def emit(self, call, p, args):
        return call.function(F.elu, args[0], alpha=p.alpha)


class SoftmaxParams(Params):
    axis: Axis = Field(-1, description="Axis normalized to sum to 1, counting the batch axis as 0 (1 = channels, -1 = last).")


@register_layer
class Softmax(_Activation):
    type = "Softmax"
    doc = "Softmax along one axis (default the last); axis 1 normalizes over the channels of an image."
    params_model = SoftmaxParams
    example_params = ({}, {"axis": 1})

    def output(self, p, inputs):
        resolve_axes(self.type, p.axis, inputs[0])
        return inputs[0]

    def emit(self, call, p, args):
        (axis,) = resolve_axes(self.type, p.axis, call.input_specs[0])
        return call.function(torch.softmax, args[0], dim=axis)
