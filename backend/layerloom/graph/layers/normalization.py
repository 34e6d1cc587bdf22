"""Batch, layer, group and unit normalization, with Keras's defaults (momentum 0.99, epsilon 1e-3)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from ..catalog import Layer, Params, ShapeError, Weight, register_layer
from ..lazy import nn, torch_ops
from ._common import Axis, PositiveInt, channels_note, require_rank, resolve_axes

AxisOrAxes = Axis | Annotated[list[Axis], Field(min_length=1, max_length=4)]
CENTER = Field(True, description="Learn an offset (beta, PyTorch's bias) added after normalizing.")
SCALE = Field(True, description="Learn a scale (gamma, PyTorch's weight) multiplied after normalizing.")


def _affine(center: bool, scale: bool, shape: tuple[int, ...]) -> list[Weight]:
    return ([Weight("weight", shape)] if scale else []) + ([Weight("bias", shape)] if center else [])


def _drop_affine(module, center: bool, scale: bool):
    """PyTorch's norms learn both or neither; Keras lets either go. A None parameter is left out
    of the state_dict and skipped by the functional call."""
    if not scale:
        module.weight = None
    if not center:
        module.bias = None
    return module


class BatchNormParams(Params):
    momentum: float = Field(0.99, gt=0.0, lt=1.0, description="Keras momentum of the moving statistics (PyTorch's is 1 - this).")
    epsilon: float = Field(1e-3, gt=0.0, le=1.0, description="Added to the variance to avoid dividing by zero.")
    center: bool = CENTER
    scale: bool = SCALE


@register_layer
class BatchNormalization(Layer):
    type = "BatchNormalization"
    category = "Normalization"
    doc = "Normalizes each channel (axis 1) with batch statistics while training and moving averages at inference."
    mask_role = "pass"
    params_model = BatchNormParams
    example_params = ({}, {"momentum": 0.9, "epsilon": 1e-5}, {"center": False, "scale": False}, {"scale": False})

    def output(self, p, inputs):
        require_rank(self.type, inputs[0], (1, 2, 3, 4), "an input with 1 to 4 dimensions")
        return inputs[0]

    def weights(self, p, inputs):
        c = inputs[0].shape[0]
        # The moving mean and variance are non-trainable weights, as Keras counts them.
        return _affine(p.center, p.scale, (c,)) + [
            Weight("running_mean", (c,), trainable=False), Weight("running_var", (c,), trainable=False)]

    def make_module(self, p: BatchNormParams, inputs):
        rank = len(inputs[0].shape)
        cls = {1: nn.BatchNorm1d, 2: nn.BatchNorm1d, 3: nn.BatchNorm2d, 4: nn.BatchNorm3d}[rank]
        return _drop_affine(cls(inputs[0].shape[0], eps=p.epsilon, momentum=1.0 - p.momentum), p.center, p.scale)


class LayerNormParams(Params):
    axis: AxisOrAxes = Field(-1, description=(
        "Axis or axes normalized over, counting the batch axis as 0: -1 = last (features of a sequence); "
        "1 = channels of an image (what Keras's default does on channels-last images)."))
    epsilon: float = Field(1e-3, gt=0.0, le=1.0, description="Added to the variance to avoid dividing by zero.")
    center: bool = CENTER
    scale: bool = SCALE


@register_layer
class LayerNormalization(Layer):
    type = "LayerNormalization"
    category = "Normalization"
    doc = "Normalizes each sample over axis (default the last), with a learned scale and offset per element of those axes."
    mask_role = "pass"
    params_model = LayerNormParams
    example_params = ({}, {"axis": 1}, {"axis": [2, 3], "center": False}, {"axis": 1, "scale": False})

    def output(self, p, inputs):
        resolve_axes(self.type, p.axis, inputs[0])
        return inputs[0]

    def notes(self, p, inputs):
        if resolve_axes(self.type, p.axis, inputs[0]) == (3,):
            return channels_note(self.type, inputs[0], "set axis to 1 to normalize over channels", "params.axis")
        return []

    def weights(self, p, inputs):
        x = inputs[0]
        return _affine(p.center, p.scale, tuple(x.shape[a - 1] for a in resolve_axes(self.type, p.axis, x)))

    def make_module(self, p: LayerNormParams, inputs):
        x = inputs[0]
        axes = resolve_axes(self.type, p.axis, x)
        if p.center and p.scale and axes == tuple(range(axes[0], len(x.shape) + 1)):
            return nn.LayerNorm(x.shape[axes[0] - 1:], eps=p.epsilon)  # trailing axes: PyTorch's own
        return torch_ops.AxesLayerNorm(axes, x.shape, p.epsilon, p.center, p.scale)


class GroupNormParams(Params):
    groups: PositiveInt = Field(32, le=100_000, description="Number of channel groups; channels must be a multiple of it.")
    epsilon: float = Field(1e-3, gt=0.0, le=1.0, description="Added to the variance to avoid dividing by zero.")
    center: bool = CENTER
    scale: bool = SCALE


@register_layer
class GroupNormalization(Layer):
    type = "GroupNormalization"
    category = "Normalization"
    doc = "Normalizes each sample over groups of channels (axis 1) and all other axes; independent of the batch."
    params_model = GroupNormParams
    mask_role = "pass"
    example_params = ({"groups": 2}, {"groups": 4, "center": False}, {"groups": 1, "scale": False})

    def output(self, p, inputs):
        x = inputs[0]
        require_rank(self.type, x, (1, 2, 3, 4), "an input with 1 to 4 dimensions")
        if x.shape[0] % p.groups:
            raise ShapeError(f"GroupNormalization with {p.groups} groups needs channels (axis 1) divisible by {p.groups}, "
                             f"got {x.shape[0]} (shape {x}).", field="params.groups")
        return x

    def weights(self, p, inputs):
        return _affine(p.center, p.scale, (inputs[0].shape[0],))

    def make_module(self, p: GroupNormParams, inputs):
        return _drop_affine(nn.GroupNorm(p.groups, inputs[0].shape[0], eps=p.epsilon), p.center, p.scale)


class UnitNormParams(Params):
    axis: AxisOrAxes = Field(-1, description="Axis or axes whose L2 norm becomes 1, counting the batch axis as 0.")


@register_layer
class UnitNormalization(Layer):
    type = "UnitNormalization"
    category = "Normalization"
    doc = "Scales each sample to unit L2 norm along axis (default the last); no weights."
    params_model = UnitNormParams
    mask_role = "pass"
    example_params = ({}, {"axis": 1}, {"axis": [1, 2]})

    def output(self, p, inputs):
        resolve_axes(self.type, p.axis, inputs[0])
        return inputs[0]

    def emit(self, call, p, args):
        return call.function(torch_ops.unit_normalize, args[0], resolve_axes(self.type, p.axis, call.input_specs[0]))
