"""Parameter types and shape checks shared by several layers."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from ..catalog import ShapeError, TensorSpec

ActivationName = Literal[
    "linear", "relu", "elu", "selu", "softplus", "softsign", "tanh", "sigmoid", "hard_sigmoid",
    "softmax", "log_softmax", "leaky_relu", "gelu", "silu", "swish",
]
Padding = Literal["valid", "same"]
PositiveInt = Annotated[int, Field(ge=1, le=1_000_000_000)]
# An int, or one int per spatial dimension, as Keras accepts kernel_size=3 or kernel_size=(3, 3).
IntOrPair = PositiveInt | Annotated[list[PositiveInt], Field(min_length=2, max_length=2)]


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
