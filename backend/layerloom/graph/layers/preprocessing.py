"""Keras's preprocessing layers that live in the model: Normalization (given or adapted statistics,
shown with the other normalization layers in the palette) and Rescaling."""

from __future__ import annotations

import math
import operator
from typing import Annotated

from pydantic import Field, model_validator

from ..catalog import Layer, Params, ShapeError, TensorSpec, Weight, register_layer
from ..lazy import torch_ops

AxisInt = Annotated[int, Field(ge=-5, le=4)]
Statistic = float | Annotated[list[float], Field(min_length=1, max_length=100_000)]


class NormalizationParams(Params):
    axis: AxisInt | Annotated[list[AxisInt], Field(min_length=1, max_length=4)] | None = Field(
        -1, description="Axis (or axes) with a separate mean and variance per index, counting the batch as 0 "
                        "(which cannot be kept): -1 = per feature of a vector; 1 = per channel of an image "
                        "(channels first); null = one mean and variance for everything.")
    mean: Statistic | None = Field(None, description="Given mean: a number, or one per index of the last kept axis. "
                                                     "Give mean and variance together, or set adapt.")
    variance: Statistic | None = Field(None, description="Given variance, shaped like mean (values ≥ 0).")
    adapt: bool = Field(False, description="Compute mean and variance from the training split when the job starts "
                                           "(Keras's adapt()); they are stored with the weights.")
    invert: bool = Field(False, description="Apply the inverse: mean + x · sqrt(variance), turning normalized values back.")

    @model_validator(mode="after")
    def _statistics(self):
        given = (self.mean is not None, self.variance is not None)
        if given[0] != given[1]:
            raise ValueError("give mean and variance together")
        if given[0] and self.adapt:
            raise ValueError("adapt computes mean and variance from the data: remove mean and variance, or set adapt to false")
        if not given[0] and not self.adapt:
            raise ValueError("give mean and variance, or set adapt to true to compute them from the training split")
        if given[0]:
            if isinstance(self.mean, list) != isinstance(self.variance, list) or (
                    isinstance(self.mean, list) and len(self.mean) != len(self.variance)):  # type: ignore[arg-type]
                raise ValueError("mean and variance must have the same shape (two numbers, or two lists of one length)")
            values = self.variance if isinstance(self.variance, list) else [self.variance]
            if any(v < 0 or not math.isfinite(v) for v in values) or not all(
                    math.isfinite(m) for m in (self.mean if isinstance(self.mean, list) else [self.mean])):
                raise ValueError("mean must be finite and variance finite and ≥ 0")
        return self


@register_layer
class Normalization(Layer):
    type = "Normalization"
    category = "Normalization"
    doc = ("Shifts and scales inputs to mean 0 and variance 1: (x − mean) / sqrt(variance), with mean and variance "
           "given, or computed from the training split when the job starts (adapt).")
    params_model = NormalizationParams
    mask_role = "pass"
    example_params = ({"adapt": True}, {"axis": None, "mean": 2.0, "variance": 4.0},
                      {"mean": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0], "variance": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]},
                      {"axis": [1, 2], "adapt": True, "invert": True})

    @staticmethod
    def kept_axes(p: NormalizationParams, spec: TensorSpec) -> tuple[int, ...]:
        """The kept axes, batch-inclusive and sorted, as Keras resolves them."""
        rank = len(spec.shape) + 1
        axes = [] if p.axis is None else [p.axis] if isinstance(p.axis, int) else list(p.axis)
        kept = []
        for axis in axes:
            resolved = axis + rank if axis < 0 else axis
            if resolved == 0:
                raise ShapeError(f"Normalization axis {axis} is the batch axis, which cannot be kept; "
                                 f"use 1..{rank - 1} or -1..-{rank - 1} (or null for one mean and variance).",
                                 field="params.axis")
            if not 0 < resolved < rank:
                raise ShapeError(f"Normalization axis {axis} is out of range for an input of shape {spec} "
                                 f"(axes count the batch as 0: use 1..{rank - 1} or -1..-{rank - 1}).", field="params.axis")
            if resolved in kept:
                raise ShapeError(f"Normalization axis {axis} is named twice.", field="params.axis")
            kept.append(resolved)
        return tuple(sorted(kept))

    def _given_shape(self, p: NormalizationParams, spec: TensorSpec, kept: tuple[int, ...]) -> tuple[int, ...]:
        """The broadcastable shape of given statistics: a list maps onto the last kept axis, as in Keras."""
        full = (1, *spec.shape)
        shape = [1] * len(full)
        if isinstance(p.mean, list):
            if not kept:
                raise ShapeError("Normalization with axis null takes one number as mean and variance, not a list.",
                                 field="params.mean")
            last = kept[-1]
            if len(p.mean) not in (1, full[last]):
                raise ShapeError(f"Normalization mean and variance have {len(p.mean)} values, but axis {last} of the "
                                 f"input {spec} has {full[last]} (give one value per index, or a single number).",
                                 field="params.mean")
            shape[last] = len(p.mean)
        return tuple(shape)

    def output(self, p: NormalizationParams, inputs):
        kept = self.kept_axes(p, inputs[0])
        if not p.adapt:
            self._given_shape(p, inputs[0], kept)
        return inputs[0]

    def weights(self, p: NormalizationParams, inputs):
        if not p.adapt:
            return []  # given statistics are constants, not weights, as Keras counts them
        full = (1, *inputs[0].shape)
        stats = tuple(full[d] for d in self.kept_axes(p, inputs[0]))
        return [Weight("mean", stats, trainable=False), Weight("variance", stats, trainable=False),
                Weight("count", (), trainable=False)]

    def make_module(self, p: NormalizationParams, inputs):
        spec = inputs[0]
        kept = self.kept_axes(p, spec)
        if p.adapt:
            return torch_ops.KerasNormalization(spec.shape, kept, invert=p.invert)
        as_list = (lambda v: v if isinstance(v, list) else [v])
        return torch_ops.KerasNormalization(spec.shape, kept, mean=as_list(p.mean), variance=as_list(p.variance),
                                            given_shape=self._given_shape(p, spec, kept), invert=p.invert)


class RescalingParams(Params):
    scale: float = Field(..., ge=-1e12, le=1e12, description="Multiplier, e.g. 1/255 for 8-bit pixels.")
    offset: float = Field(0.0, ge=-1e12, le=1e12, description="Added after scaling, e.g. -1 with scale 1/127.5.")


@register_layer
class Rescaling(Layer):
    type = "Rescaling"
    category = "Preprocessing"
    doc = "Computes x · scale + offset, e.g. pixels 0..255 to 0..1 (scale 1/255) or to -1..1 (1/127.5, offset -1)."
    params_model = RescalingParams
    mask_role = "pass"
    accepts_int = True  # integer pixels come out as floats, as Keras casts them
    example_params = ({"scale": 1 / 255}, {"scale": 1 / 127.5, "offset": -1.0})

    def output(self, p, inputs):
        return TensorSpec(inputs[0].shape)

    def emit(self, call, p: RescalingParams, args):
        out = call.function(operator.mul, args[0], p.scale)
        return call.function(operator.add, out, p.offset) if p.offset else out
