"""Merge layers: two or more inputs on ordered ports (Add, Subtract, ..., Concatenate, Dot)."""

from __future__ import annotations

import operator
from typing import Annotated

from pydantic import Field

from ..catalog import Layer, Params, ShapeError, TensorSpec, register_layer
from ..lazy import torch, torch_ops


class _Merge(Layer):
    category = "Merge"
    mask_role = "pass"  # Keras's rule (graph/masking.py): the OR of the masks when every input has one
    min_inputs = 2
    max_inputs = None

    def infer(self, p, inputs, sources):
        # Merge errors name the node each shape came from.
        return self.output(p, inputs, sources)


class _ElementwiseMerge(_Merge):
    """Element-wise merges; subclasses give the function. Shapes broadcast as in Keras: per-sample
    shapes aligned at the end, a size-1 axis stretching to the other's size, so a (C, 1, 1)
    squeeze-and-excitation scale multiplies a (C, H, W) map."""

    def output(self, p, inputs, sources: list[str] | None = None):
        names = sources or [f"port {i}" for i in range(len(inputs))]
        shape = inputs[0].shape
        for k, spec in enumerate(inputs[1:], start=1):
            merged = broadcast_shapes(shape, spec.shape)
            if merged is None:
                got = " and ".join(f"{s} from {src}" for s, src in zip(inputs[: k + 1], names))
                raise ShapeError(f"{self.type} needs shapes that broadcast (aligned at the end, each axis equal or 1 "
                                 f"on one side), got {got}.")
            shape = merged
        return TensorSpec(shape)

    def emit(self, call, p, args):
        return self.combine_all(call, self._aligned(call, args))

    @staticmethod
    def _aligned(call, args):
        """Inputs of lower rank get size-1 axes after the batch axis (Keras's expand_dims(axis=1))."""
        rank = max(len(s.shape) for s in call.input_specs)
        return [arg if len(spec.shape) == rank else call.function(torch_ops.lift_rank, arg, rank + 1)
                for arg, spec in zip(args, call.input_specs)]

    def combine_all(self, call, args):
        out = args[0]
        for arg in args[1:]:
            out = self.combine(call, out, arg)
        return out


def broadcast_shapes(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...] | None:
    """NumPy's broadcast of two per-sample shapes, or None when they do not broadcast."""
    if len(a) < len(b):
        a, b = b, a
    out = list(a[: len(a) - len(b)])
    for x, y in zip(a[len(a) - len(b):], b):
        if x != y and 1 not in (x, y):
            return None
        out.append(max(x, y))  # equal, or one of them is 1
    return tuple(out)


@register_layer
class Add(_ElementwiseMerge):
    type = "Add"
    doc = "Element-wise sum of its inputs (equal or broadcastable shapes); the merge of residual blocks."

    def combine(self, call, a, b):
        return call.function(operator.add, a, b)


@register_layer
class Subtract(_ElementwiseMerge):
    type = "Subtract"
    doc = "Element-wise difference: port 0 minus port 1."
    max_inputs = 2

    def combine(self, call, a, b):
        return call.function(operator.sub, a, b)


@register_layer
class Multiply(_ElementwiseMerge):
    type = "Multiply"
    doc = "Element-wise product of its inputs; a (C, 1, 1) scale broadcasts over a (C, H, W) map (squeeze-and-excitation)."

    def combine(self, call, a, b):
        return call.function(operator.mul, a, b)


@register_layer
class Maximum(_ElementwiseMerge):
    type = "Maximum"
    doc = "Element-wise maximum of its inputs."

    def combine(self, call, a, b):
        return call.function(torch.maximum, a, b)


@register_layer
class Minimum(_ElementwiseMerge):
    type = "Minimum"
    doc = "Element-wise minimum of its inputs."

    def combine(self, call, a, b):
        return call.function(torch.minimum, a, b)


@register_layer
class Average(_ElementwiseMerge):
    type = "Average"
    doc = "Element-wise mean of its inputs."

    def combine_all(self, call, args):
        return call.function(torch_ops.average, *args)


class ConcatenateParams(Params):
    axis: int = Field(1, ge=-5, le=5, description="Axis to join along, counting the batch axis as 0: 1 = features or channels, -1 = last.")


@register_layer
class Concatenate(_Merge):
    type = "Concatenate"
    doc = "Joins its inputs along one axis (default 1: features or channels); other axes must match."
    params_model = ConcatenateParams
    example_params = ({"axis": 1}, {"axis": -1})

    @staticmethod
    def _axis(p: ConcatenateParams, rank: int) -> int:
        axis = p.axis + rank + 1 if p.axis < 0 else p.axis  # rank excludes the batch axis
        if not 1 <= axis <= rank:
            raise ShapeError(f"Concatenate axis {p.axis} is out of range for inputs with {rank} sample axes (use 1..{rank} or -1..-{rank}).")
        return axis

    def output(self, p: ConcatenateParams, inputs, sources: list[str] | None = None):
        names = sources or [f"port {i}" for i in range(len(inputs))]
        rank = len(inputs[0].shape)
        if any(len(s.shape) != rank for s in inputs):
            got = ", ".join(f"{s} from {n}" for s, n in zip(inputs, names))
            raise ShapeError(f"Concatenate needs inputs with the same number of axes, got {got}.")
        axis = self._axis(p, rank)
        rest = [s.shape[: axis - 1] + s.shape[axis:] for s in inputs]
        if any(r != rest[0] for r in rest[1:]):
            got = ", ".join(f"{s} from {n}" for s, n in zip(inputs, names))
            raise ShapeError(f"Concatenate along axis {p.axis} needs all other axes equal, got {got}.")
        joined = sum(s.shape[axis - 1] for s in inputs)
        shape = inputs[0].shape
        return TensorSpec(shape[: axis - 1] + (joined,) + shape[axis:])

    def emit(self, call, p, args):
        return call.function(torch.cat, list(args), dim=self._axis(p, len(call.input_specs[0].shape)))


AxisInt = Annotated[int, Field(ge=-3, le=3)]


class DotParams(Params):
    axes: AxisInt | Annotated[list[AxisInt], Field(min_length=2, max_length=2)] = Field(
        1, description="Axis to contract, counting the batch axis as 0; or one per input [axis_a, axis_b].")
    normalize: bool = Field(False, description="L2-normalize both inputs first, giving the cosine similarity.")


@register_layer
class Dot(_Merge):
    type = "Dot"
    doc = "Per-sample dot product of two inputs along axes (e.g. two vectors give (1,))."
    params_model = DotParams
    max_inputs = 2
    mask_role = "drop"
    example_params = ({"axes": 1}, {"axes": 1, "normalize": True})

    @staticmethod
    def _axes(p: DotParams, inputs: list[TensorSpec]) -> tuple[int, int]:
        pair = (p.axes, p.axes) if isinstance(p.axes, int) else tuple(p.axes)
        out = []
        for axis, spec in zip(pair, inputs):
            rank = len(spec.shape)
            resolved = axis + rank + 1 if axis < 0 else axis
            if not 1 <= resolved <= rank:
                raise ShapeError(f"Dot axes {p.axes} are out of range for an input of shape {spec} (use 1..{rank}).")
            out.append(resolved)
        return out[0], out[1]

    def output(self, p: DotParams, inputs, sources: list[str] | None = None):
        names = sources or ["port 0", "port 1"]
        a, b = inputs
        ax_a, ax_b = self._axes(p, inputs)
        if a.shape[ax_a - 1] != b.shape[ax_b - 1]:
            raise ShapeError(
                f"Dot needs the contracted axes to have equal size, got {a.shape[ax_a - 1]} (axis {ax_a} of {a} from {names[0]}) "
                f"and {b.shape[ax_b - 1]} (axis {ax_b} of {b} from {names[1]})."
            )
        rest = a.shape[: ax_a - 1] + a.shape[ax_a:] + b.shape[: ax_b - 1] + b.shape[ax_b:]
        return TensorSpec(rest or (1,))

    def emit(self, call, p: DotParams, args):
        return call.function(torch_ops.batch_dot, *args, axes=self._axes(p, call.input_specs), normalize=p.normalize)
