"""Convolutions (channels first) with Keras's 'valid' / 'same' padding: Conv1D/2D/3D (with
``groups``), DepthwiseConv1D/2D, SeparableConv1D/2D and Conv1D/2DTranspose."""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from ..catalog import Layer, Params, ShapeError, TensorSpec, Weight, register_layer
from ..lazy import nn, torch_ops
from ._common import (
    ActivationName, IntOrPair, IntOrSingle, IntOrTriple, Padding, PositiveInt, conv_output_length, per_dim,
    require_rank,
)

SHAPE_NAMES = {1: "a (channels, length) input", 2: "a (channels, height, width) input",
               3: "a (channels, depth, height, width) input"}


class _WindowParams(Params):
    """What every convolution shares; the window fields are per spatial dimension (2-D here)."""

    kernel_size: IntOrPair = Field(3, description="Window size: an int, or one per spatial dimension.")
    strides: IntOrPair = Field(1, description="Step of the window.")
    padding: Padding = Field("valid", description="'valid': no padding; 'same': output size = ceil(input / strides).")
    dilation_rate: IntOrPair = Field(1, description="Spacing between kernel elements.")
    activation: ActivationName = "linear"
    use_bias: bool = True

    @model_validator(mode="after")
    def _strides_or_dilation(self):
        if max(per_dim(self.strides, 1)) > 1 and max(per_dim(self.dilation_rate, 1)) > 1:
            raise ValueError("strides > 1 cannot be combined with dilation_rate > 1 (as in Keras)")
        return self


class _Window1D(_WindowParams):
    kernel_size: IntOrSingle = Field(3, description="Window length.")
    strides: IntOrSingle = Field(1, description="Step of the window.")
    dilation_rate: IntOrSingle = Field(1, description="Spacing between kernel elements.")


class _Window3D(_WindowParams):
    kernel_size: IntOrTriple = Field(3, description="Window size: an int, or [depth, height, width].")
    strides: IntOrTriple = Field(1, description="Step of the window.")
    dilation_rate: IntOrTriple = Field(1, description="Spacing between kernel elements.")


class _Filters(Params):
    filters: PositiveInt = Field(..., description="Number of output channels.")


class _Grouped(_Filters):
    groups: PositiveInt = Field(1, le=100_000, description=(
        "Split the channels into this many groups, each convolved on its own (input channels and "
        "filters must both be multiples of it)."))

    @model_validator(mode="after")
    def _filters_split(self):
        if self.filters % self.groups:
            raise ValueError(f"filters ({self.filters}) must be a multiple of groups ({self.groups})")
        return self


class _DepthMultiplier(Params):
    depth_multiplier: PositiveInt = Field(1, le=100_000, description="Output channels of the depthwise step per input channel.")


# The mixins are listed last so that their fields (filters, groups, depth_multiplier) come first in
# the published schema, which is the inspector's order.
class Conv1DParams(_Window1D, _Grouped):
    pass


class Conv2DParams(_WindowParams, _Grouped):
    pass


class Conv3DParams(_Window3D, _Grouped):
    pass


class Depthwise1DParams(_Window1D, _DepthMultiplier):
    pass


class Depthwise2DParams(_WindowParams, _DepthMultiplier):
    pass


class Separable1DParams(_Window1D, _DepthMultiplier, _Filters):
    pass


class Separable2DParams(_WindowParams, _DepthMultiplier, _Filters):
    pass


def conv_module(dims: int, in_channels: int, out_channels: int, p: Any, groups: int, bias: bool) -> Any:
    """A torch ConvNd for a Keras convolution window ``p`` (kernel_size, strides, padding, dilation_rate)."""
    kernel, strides, dilation = (per_dim(v, dims) for v in (p.kernel_size, p.strides, p.dilation_rate))
    args = dict(in_channels=in_channels, out_channels=out_channels, kernel_size=kernel, stride=strides,
                dilation=dilation, groups=groups, bias=bias)
    plain = getattr(nn, f"Conv{dims}d")
    if p.padding == "valid":
        return plain(**args)
    totals = [(k - 1) * d for k, d in zip(kernel, dilation)]
    if all(s == 1 for s in strides) and all(t % 2 == 0 for t in totals):
        return plain(**args, padding=tuple(t // 2 for t in totals))  # symmetric: PyTorch does it natively
    return getattr(torch_ops, f"StridedSameConv{dims}d")(**args)


class _Windowed(Layer):
    """A layer sliding a kernel over the spatial axes of a (channels, *spatial) input."""

    category = "Convolution"
    dims: int

    def _spatial_output(self, p, x: TensorSpec) -> tuple[int, ...]:
        require_rank(self.type, x, (self.dims + 1,), SHAPE_NAMES[self.dims])
        kernel, strides, dilation = (per_dim(v, self.dims) for v in (p.kernel_size, p.strides, p.dilation_rate))
        out = []
        for length, k, s, d in zip(x.shape[1:], kernel, strides, dilation):
            n = conv_output_length(length, k, s, d, p.padding)
            if n < 1:
                raise ShapeError(
                    f"{self.type} with kernel_size {k} (dilation {d}) and padding 'valid' needs inputs of "
                    f"at least {d * (k - 1) + 1} along each spatial axis, got shape {x}; use padding 'same' or a smaller kernel."
                )
            out.append(n)
        return tuple(out)

    def _kernel(self, p) -> tuple[int, ...]:
        return per_dim(p.kernel_size, self.dims)

    def emit(self, call, p, args):
        return call.activation(p.activation, call.module(*args), dim=1)


class _Conv(_Windowed):
    def output(self, p, inputs):
        spatial = self._spatial_output(p, inputs[0])
        self._check_groups(p, inputs[0])
        return TensorSpec((p.filters, *spatial))

    def _check_groups(self, p, x: TensorSpec) -> None:
        if x.shape[0] % p.groups:
            raise ShapeError(f"{self.type} with groups {p.groups} needs input channels divisible by {p.groups}, "
                             f"got {x.shape[0]} channels (shape {x}).", field="params.groups")

    def weights(self, p, inputs):
        w = [Weight("weight", (p.filters, inputs[0].shape[0] // p.groups, *self._kernel(p)))]
        return w + ([Weight("bias", (p.filters,))] if p.use_bias else [])

    def make_module(self, p, inputs):
        return conv_module(self.dims, inputs[0].shape[0], p.filters, p, p.groups, p.use_bias)


@register_layer
class Conv1D(_Conv):
    type = "Conv1D"
    doc = "1D convolution over (channels, length): filters output channels, a kernel_size window."
    dims = 1
    params_model = Conv1DParams
    example_params = ({"filters": 4, "kernel_size": 3}, {"filters": 2, "kernel_size": 2, "strides": 2, "padding": "same"},
                      {"filters": 6, "kernel_size": 3, "groups": 3, "padding": "same"})


@register_layer
class Conv2D(_Conv):
    type = "Conv2D"
    doc = "2D convolution over (channels, height, width): filters output channels, a kernel_size window."
    dims = 2
    params_model = Conv2DParams
    example_params = (
        {"filters": 4, "kernel_size": 3, "padding": "same", "activation": "relu"},
        {"filters": 3, "kernel_size": [2, 3], "strides": 2, "padding": "same"},
        {"filters": 2, "kernel_size": 3, "dilation_rate": 2},
        {"filters": 6, "kernel_size": 3, "groups": 3, "strides": 2, "padding": "same"},
    )


@register_layer
class Conv3D(_Conv):
    type = "Conv3D"
    doc = "3D convolution over (channels, depth, height, width), e.g. video or volumes."
    dims = 3
    params_model = Conv3DParams
    example_params = ({"filters": 4, "kernel_size": 3}, {"filters": 2, "kernel_size": [1, 2, 3], "strides": 2, "padding": "same"})


class _Depthwise(_Windowed):
    def _depth_output(self, p, x: TensorSpec) -> int:
        return x.shape[0] * p.depth_multiplier

    def output(self, p, inputs):
        return TensorSpec((self._depth_output(p, inputs[0]), *self._spatial_output(p, inputs[0])))

    def weights(self, p, inputs):
        c = self._depth_output(p, inputs[0])
        return [Weight("weight", (c, 1, *self._kernel(p)))] + ([Weight("bias", (c,))] if p.use_bias else [])

    def make_module(self, p, inputs):
        return conv_module(self.dims, inputs[0].shape[0], self._depth_output(p, inputs[0]), p, inputs[0].shape[0], p.use_bias)


@register_layer
class DepthwiseConv1D(_Depthwise):
    type = "DepthwiseConv1D"
    doc = "Convolves each channel of a (channels, length) input on its own, depth_multiplier outputs per channel."
    dims = 1
    params_model = Depthwise1DParams
    example_params = ({"kernel_size": 3}, {"kernel_size": 2, "strides": 2, "padding": "same", "depth_multiplier": 2})


@register_layer
class DepthwiseConv2D(_Depthwise):
    type = "DepthwiseConv2D"
    doc = "Convolves each channel of an image on its own (MobileNet's depthwise step), depth_multiplier outputs per channel."
    dims = 2
    params_model = Depthwise2DParams
    example_params = ({"kernel_size": 3, "padding": "same"},
                      {"kernel_size": 3, "strides": 2, "padding": "same", "depth_multiplier": 2, "use_bias": False},
                      {"kernel_size": [2, 3], "dilation_rate": 2, "activation": "relu6"})


class _Separable(_Depthwise):
    def output(self, p, inputs):
        return TensorSpec((p.filters, *self._spatial_output(p, inputs[0])))

    def weights(self, p, inputs):
        mid = self._depth_output(p, inputs[0])
        ones = (1,) * self.dims
        w = [Weight("depthwise.weight", (mid, 1, *self._kernel(p))), Weight("pointwise.weight", (p.filters, mid, *ones))]
        return w + ([Weight("pointwise.bias", (p.filters,))] if p.use_bias else [])

    def make_module(self, p, inputs):
        channels, mid = inputs[0].shape[0], self._depth_output(p, inputs[0])
        depthwise = conv_module(self.dims, channels, mid, p, channels, bias=False)
        pointwise = getattr(nn, f"Conv{self.dims}d")(mid, p.filters, kernel_size=1, bias=p.use_bias)
        return torch_ops.SeparableConv(depthwise, pointwise)


@register_layer
class SeparableConv1D(_Separable):
    type = "SeparableConv1D"
    doc = "Depthwise convolution of each channel, then a 1x1 convolution mixing channels into filters outputs."
    dims = 1
    params_model = Separable1DParams
    example_params = ({"filters": 4, "kernel_size": 3}, {"filters": 2, "kernel_size": 2, "strides": 2, "padding": "same", "depth_multiplier": 2})


@register_layer
class SeparableConv2D(_Separable):
    type = "SeparableConv2D"
    doc = "Depthwise convolution of each channel, then a 1x1 convolution mixing channels (Xception's building block)."
    dims = 2
    params_model = Separable2DParams
    example_params = ({"filters": 4, "kernel_size": 3, "padding": "same"},
                      {"filters": 3, "kernel_size": [2, 3], "strides": 2, "padding": "same", "depth_multiplier": 2, "use_bias": False})


class ConvTransposeParams(Params):
    filters: PositiveInt = Field(..., description="Number of output channels.")
    kernel_size: IntOrPair = Field(3, description="Window size: an int or [height, width].")
    strides: IntOrPair = Field(1, description="Upsampling factor.")
    padding: Padding = Field("valid", description="'same': output size = input × strides; 'valid': input × strides + max(kernel - strides, 0).")
    activation: ActivationName = "linear"
    use_bias: bool = True


class ConvTranspose1DParams(ConvTransposeParams):
    kernel_size: IntOrSingle = Field(3, description="Window length.")
    strides: IntOrSingle = Field(1, description="Upsampling factor.")


class _ConvTranspose(Layer):
    category = "Convolution"
    dims: int

    def output(self, p, inputs):
        x = inputs[0]
        require_rank(self.type, x, (self.dims + 1,), SHAPE_NAMES[self.dims])
        kernel, strides = per_dim(p.kernel_size, self.dims), per_dim(p.strides, self.dims)
        if p.padding == "same":
            out = tuple(n * s for n, s in zip(x.shape[1:], strides))
        else:
            out = tuple(n * s + max(k - s, 0) for n, k, s in zip(x.shape[1:], kernel, strides))
        return TensorSpec((p.filters, *out))

    def weights(self, p, inputs):
        w = [Weight("weight", (inputs[0].shape[0], p.filters, *per_dim(p.kernel_size, self.dims)))]
        return w + ([Weight("bias", (p.filters,))] if p.use_bias else [])

    def make_module(self, p, inputs):
        kernel, strides = per_dim(p.kernel_size, self.dims), per_dim(p.strides, self.dims)
        # The full transposed convolution is (n - 1)·s + k long. Keras's 'same' removes the excess
        # k - s as TensorFlow's convolution padding would: half (rounded down) at the start, the rest
        # at the end; 'valid' and 'same' both add s - k zeros at the end when k < s. PyTorch's
        # padding removes equally from both ends, output_padding adds at the end, and the crop
        # removes the odd one at the end.
        pads, extra, crop = [], [], []
        for k, s in zip(kernel, strides):
            excess = k - s if p.padding == "same" else min(k - s, 0)
            pads.append(max(excess, 0) // 2)
            extra.append(max(-excess, 0))
            crop.append(max(excess, 0) % 2)
        return getattr(torch_ops, f"CroppedConvTranspose{self.dims}d")(
            inputs[0].shape[0], p.filters, kernel, stride=strides, padding=tuple(pads),
            output_padding=tuple(extra), bias=p.use_bias, crop=tuple(crop),
        )

    def emit(self, call, p, args):
        return call.activation(p.activation, call.module(*args), dim=1)


@register_layer
class Conv1DTranspose(_ConvTranspose):
    type = "Conv1DTranspose"
    doc = "Transposed 1D convolution (a learned upsampling of a sequence), output lengths as in Keras."
    params_model = ConvTranspose1DParams
    dims = 1
    example_params = ({"filters": 3, "kernel_size": 3, "strides": 2, "padding": "same"}, {"filters": 2, "kernel_size": 2, "padding": "same"},
                      {"filters": 2, "kernel_size": 2, "strides": 3})


@register_layer
class Conv2DTranspose(_ConvTranspose):
    type = "Conv2DTranspose"
    doc = "Transposed 2D convolution (a learned upsampling), output sizes as in Keras."
    params_model = ConvTransposeParams
    dims = 2
    example_params = ({"filters": 3, "kernel_size": 3, "strides": 2, "padding": "same"}, {"filters": 2, "kernel_size": 2, "padding": "same"}, {"filters": 2, "kernel_size": 2, "strides": 3})
