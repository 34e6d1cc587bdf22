"""Max / average pooling (1D, 2D, global), with Keras's window defaults and 'same' padding."""

from __future__ import annotations

from pydantic import Field

from ..catalog import Layer, Params, ShapeError, TensorSpec, register_layer
from ..lazy import nn, torch, torch_ops
from ._common import IntOrPair, Padding, conv_output_length, per_dim, require_rank


class PoolParams(Params):
    pool_size: IntOrPair = Field(2, description="Window size.")
    strides: IntOrPair | None = Field(None, description="Step of the window; defaults to pool_size.")
    padding: Padding = "valid"


class _Pool(Layer):
    category = "Pooling"
    params_model = PoolParams
    dims: int
    kind: str  # "max" or "avg"
    example_params = ({}, {"pool_size": 3, "strides": 2, "padding": "same"})

    def _geometry(self, p: PoolParams):
        pool = per_dim(p.pool_size, self.dims)
        return pool, per_dim(p.strides, self.dims, default=list(pool) if self.dims > 1 else pool[0])

    def output(self, p: PoolParams, inputs):
        x = inputs[0]
        require_rank(self.type, x, (self.dims + 1,), "a (channels, length) input" if self.dims == 1 else "a (channels, height, width) input")
        pool, strides = self._geometry(p)
        out = []
        for length, k, s in zip(x.shape[1:], pool, strides):
            n = conv_output_length(length, k, s, 1, p.padding)
            if n < 1:
                raise ShapeError(
                    f"{self.type} with pool_size {k} and padding 'valid' needs at least {k} along each spatial axis, "
                    f"got shape {x}; use padding 'same' or a smaller pool_size."
                )
            out.append(n)
        return TensorSpec((x.shape[0], *out))

    def make_module(self, p: PoolParams, inputs):
        pool, strides = self._geometry(p)
        if p.padding == "same":
            return torch_ops.SamePool(self.kind, pool, strides)
        if self.kind == "max":
            return (nn.MaxPool1d if self.dims == 1 else nn.MaxPool2d)(pool, strides)
        return (nn.AvgPool1d if self.dims == 1 else nn.AvgPool2d)(pool, strides)


@register_layer
class MaxPooling1D(_Pool):
    type = "MaxPooling1D"
    doc = "Maximum over windows along the length of a (channels, length) input."
    dims, kind = 1, "max"


@register_layer
class MaxPooling2D(_Pool):
    type = "MaxPooling2D"
    doc = "Maximum over pool_size windows of each channel of an image."
    dims, kind = 2, "max"


@register_layer
class AveragePooling1D(_Pool):
    type = "AveragePooling1D"
    doc = "Average over windows along the length of a (channels, length) input."
    dims, kind = 1, "avg"


@register_layer
class AveragePooling2D(_Pool):
    type = "AveragePooling2D"
    doc = "Average over pool_size windows of each channel of an image."
    dims, kind = 2, "avg"


class GlobalPoolParams(Params):
    keepdims: bool = Field(False, description="Keep the pooled axes with size 1.")


class _GlobalPool(Layer):
    category = "Pooling"
    params_model = GlobalPoolParams
    dims: int
    reduce: str  # a torch function name
    example_params = ({}, {"keepdims": True})

    def output(self, p: GlobalPoolParams, inputs):
        x = inputs[0]
        require_rank(self.type, x, (self.dims + 1,), "a (channels, length) input" if self.dims == 1 else "a (channels, height, width) input")
        return TensorSpec((x.shape[0], *([1] * self.dims)) if p.keepdims else (x.shape[0],))

    def emit(self, call, p: GlobalPoolParams, args):
        axes = tuple(range(2, 2 + self.dims))
        return call.function(getattr(torch, self.reduce), args[0], dim=axes, keepdim=p.keepdims)


@register_layer
class GlobalMaxPooling1D(_GlobalPool):
    type = "GlobalMaxPooling1D"
    doc = "Maximum over the whole length: (channels, length) becomes (channels,)."
    dims, reduce = 1, "amax"


@register_layer
class GlobalMaxPooling2D(_GlobalPool):
    type = "GlobalMaxPooling2D"
    doc = "Maximum over each whole channel: (channels, height, width) becomes (channels,)."
    dims, reduce = 2, "amax"


@register_layer
class GlobalAveragePooling1D(_GlobalPool):
    type = "GlobalAveragePooling1D"
    doc = "Mean over the whole length: (channels, length) becomes (channels,)."
    dims, reduce = 1, "mean"


@register_layer
class GlobalAveragePooling2D(_GlobalPool):
    type = "GlobalAveragePooling2D"
    doc = "Mean over each whole channel: (channels, height, width) becomes (channels,)."
    dims, reduce = 2, "mean"
