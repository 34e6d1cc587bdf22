"""Parameter types and shape checks shared by several layers."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from ..catalog import ShapeError, TensorSpec

ActivationName = Literal[
    "linear", "relu", "elu", "selu", "softplus", "softsign", "tanh", "sigmoid", "hard_sigmoid",
    "softmax", "log_softmax", "leaky_relu", "gelu", "silu", "swish",
    # Keras 3 spells it hard_sigmoid; hardsigmoid is PyTorch's (and older Layerloom graphs') spelling.
    "hardsigmoid", "relu6", "hard_silu", "hard_swish", "mish", "exponential",
]
Padding = Literal["valid", "same"]
PositiveInt = Annotated[int, Field(ge=1, le=1_000_000_000)]
# An int, or one int per spatial dimension, as Keras accepts kernel_size=3 or kernel_size=(3, 3).
IntOrPair = PositiveInt | Annotated[list[PositiveInt], Field(min_length=2, max_length=2)]
IntOrSingle = PositiveInt | Annotated[list[PositiveInt], Field(min_length=1, max_length=1)]
IntOrTriple = PositiveInt | Annotated[list[PositiveInt], Field(min_length=3, max_length=3)]
# An axis counted as Keras counts it: 0 is the batch axis, 1 the first sample axis, -1 the last.
Axis = Annotated[int, Field(ge=-5, le=5)]


def per_dim(value: int | list[int] | None, dims: int, default: int | list[int] | None = None) -> tuple[int, ...]:
    if value is None:
        value = default
    if isinstance(value, int):
        return (value,) * dims
    return tuple(value)  # type: ignore[arg-type]


def require_rank(layer: str, spec: TensorSpec, ranks: tuple[int, ...], what: str) -> None:
    if len(spec.shape) not in ranks:
        raise ShapeError(f"{layer} needs {what}, got shape {spec}.")


def conv_output_length(length: int, kernel: int, stride: int, dilation: int, padding: str) -> int:
    """Output length of a convolution or pooling window along one dimension, as Keras defines it."""
    if padding == "same":
        return -(-length // stride)
    span = dilation * (kernel - 1) + 1
    return (length - span) // stride + 1 if length >= span else 0


def resolve_axes(layer: str, axis: int | list[int], spec: TensorSpec) -> tuple[int, ...]:
    """Keras-style axes (batch axis 0, negatives from the end) as sorted positive sample axes."""
    rank = len(spec.shape)
    out = set()
    for a in [axis] if isinstance(axis, int) else axis:
        resolved = a + rank + 1 if a < 0 else a
        if not 1 <= resolved <= rank:
            raise ShapeError(f"{layer} axis {a} is out of range for an input of shape {spec}: "
                             f"use 1..{rank} (0 is the batch axis) or -1..-{rank}.", field="params.axis")
        out.add(resolved)
    return tuple(sorted(out))


def channels_note(layer: str, spec: TensorSpec, remedy: str, field: str) -> list[tuple[str, str, str]]:
    """The channels-first warning for a layer acting on the last axis: on a (channels, height, width)
    tensor that is the width, while the same layer in a channels-last Keras model acts on channels.
    Only shapes are known here, so a tensor deliberately permuted to channels-last warns too; the
    message says so."""
    if len(spec.shape) != 3 or min(spec.shape[1:]) < 2:
        return []
    c, _, w = spec.shape
    return [("channels", field,
             f"{layer} acts on the last axis (width, {w}) of {spec}, which looks like a (channels, height, width) "
             f"image of {c} channels; in a channels-last Keras model the same layer acts on channels. "
             f"If you mean channels, {remedy}; if the tensor is already channels-last (after a Permute), ignore this.")]
