"""Max / average pooling (1D, 2D, 3D, global), with Keras's window defaults and 'same' padding."""

from __future__ import annotations

from pydantic import Field

from ..catalog import Layer, Params, ShapeError, TensorSpec, register_layer
from ..lazy import nn, torch, torch_ops
from ._common import IntOrPair, IntOrSingle, IntOrTriple, Padding, conv_output_length, per_dim, require_rank

SHAPE_NAMES = {1: "a (channels, length) input", 2: "a (channels, height, width) input",
               3: "a (channels, depth, height, width) input"}


class PoolParams(Params):
    pool_size: IntOrPair = Field(2, description="Window size.")
    strides: IntOrPair | None = Field(None, description="Step of the window; defaults to pool_size.")
    padding: Padding = "valid"


class Pool1DParams(PoolParams):
    pool_size: IntOrSingle = Field(2, description="Window length.")
    strides: IntOrSingle | None = Field(None, description="Step of the window; defaults to pool_size.")


class Pool3DParams(PoolParams):
    pool_size: IntOrTriple = Field(2, description="Window size: an int, or [depth, height, width].")
    strides: IntOrTriple | None = Field(None, description="Step of the window; defaults to pool_size.")


class _Pool(Layer):
    category = "Pooling"
    params_model = PoolParams
    dims: int
    kind: str  # "max" or "avg"
    example_params = ({}, {"pool_size": 3, "strides": 2, "padding": "same"})

    def _geometry(self, p: PoolParams):
        pool = per_dim(p.pool_size, self.dims)
        return pool, per_dim(p.strides, self.dims, default=list(pool))

    def output(self, p: PoolParams, inputs):
        x = inputs[0]
        require_rank(self.type, x, (self.dims + 1,), SHAPE_NAMES[self.dims])
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
        return getattr(nn, f"{'MaxPool' if self.kind == 'max' else 'AvgPool'}{self.dims}d")(pool, strides)


@register_layer
class MaxPooling1D(_Pool):
    type = "MaxPooling1D"
    doc = "Maximum over windows along the length of a (channels, length) input."
    dims, kind = 1, "max"
    params_model = Pool1DParams


@register_layer
class MaxPooling2D(_Pool):
    type = "MaxPooling2D"
    doc = "Maximum over pool_size windows of each channel of an image."
    dims, kind = 2, "max"


@register_layer
class MaxPooling3D(_Pool):
    type = "MaxPooling3D"
    doc = "Maximum over pool_size windows of each channel of a volume (channels, depth, height, width)."
    dims, kind = 3, "max"
    params_model = Pool3DParams


@register_layer
class AveragePooling1D(_Pool):
    type = "AveragePooling1D"
    doc = "Average over windows along the length of a (channels, length) input."
    dims, kind = 1, "avg"
    params_model = Pool1DParams


@register_layer
class AveragePooling2D(_Pool):
    type = "AveragePooling2D"
    doc = "Average over pool_size windows of each channel of an image."
    dims, kind = 2, "avg"


@register_layer
class AveragePooling3D(_Pool):
    type = "AveragePooling3D"
    doc = "Average over pool_size windows of each channel of a volume (channels, depth, height, width)."
    dims, kind = 3, "avg"
    params_model = Pool3DParams


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
        require_rank(self.type, x, (self.dims + 1,), SHAPE_NAMES[self.dims])
        return TensorSpec((x.shape[0], *([1] * self.dims)) if p.keepdims else (x.shape[0],))

    def mask_steps(self, p, inputs):
        return [inputs[0].shape[-1]]  # the length axis of (channels, length)

    def emit(self, call, p: GlobalPoolParams, args):
        mask = call.input_masks[0] if call.input_masks else None
        if mask is not None:  # only the 1D poolings consume masks (mask_role)
            masked = torch_ops.masked_max_1d if self.reduce == "amax" else torch_ops.masked_average_1d
            return call.function(masked, args[0], mask, p.keepdims)
        axes = tuple(range(2, 2 + self.dims))
        return call.function(getattr(torch, self.reduce), args[0], dim=axes, keepdim=p.keepdims)


@register_layer
class GlobalMaxPooling1D(_GlobalPool):
    type = "GlobalMaxPooling1D"
    doc = "Maximum over the whole length: (channels, length) becomes (channels,); masked steps are left out."
    dims, reduce = 1, "amax"
    mask_role = "consume"


@register_layer
class GlobalMaxPooling2D(_GlobalPool):
    type = "GlobalMaxPooling2D"
    doc = "Maximum over each whole channel: (channels, height, width) becomes (channels,)."
    dims, reduce = 2, "amax"


@register_layer
class GlobalAveragePooling1D(_GlobalPool):
    type = "GlobalAveragePooling1D"
    doc = "Mean over the whole length: (channels, length) becomes (channels,); masked steps are left out."
    dims, reduce = 1, "mean"
    mask_role = "consume"


@register_layer
class GlobalAveragePooling2D(_GlobalPool):
    type = "GlobalAveragePooling2D"
    doc = "Mean over each whole channel: (channels, height, width) becomes (channels,)."
    dims, reduce = 2, "mean"


@register_layer
class GlobalMaxPooling3D(_GlobalPool):
    type = "GlobalMaxPooling3D"
    doc = "Maximum over each whole channel of a volume: (channels, depth, height, width) becomes (channels,)."
    dims, reduce = 3, "amax"


@register_layer
class GlobalAveragePooling3D(_GlobalPool):
    type = "GlobalAveragePooling3D"
    doc = "Mean over each whole channel of a volume: (channels, depth, height, width) becomes (channels,)."
    dims, reduce = 3, "mean"
