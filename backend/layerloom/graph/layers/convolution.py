"""Convolutions (channels first) with Keras's 'valid' / 'same' padding, plus UpSampling and ZeroPadding."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from ..catalog import Layer, Params, ShapeError, TensorSpec, Weight, register_layer
from ..lazy import nn, torch_ops
from ._common import ActivationName, IntOrPair, Padding, PositiveInt, conv_output_length, per_dim, require_rank


class ConvParams(Params):
    filters: PositiveInt = Field(..., description="Number of output channels.")
    kernel_size: IntOrPair = Field(3, description="Window size: an int, or one per spatial dimension.")
    strides: IntOrPair = Field(1, description="Step of the window.")
    padding: Padding = Field("valid", description="'valid': no padding; 'same': output size = ceil(input / strides).")
    dilation_rate: IntOrPair = Field(1, description="Spacing between kernel elements.")
    activation: ActivationName = "linear"
    use_bias: bool = True

    @model_validator(mode="after")
    def _strides_or_dilation(self):
        if max(per_dim(self.strides, 2)) > 1 and max(per_dim(self.dilation_rate, 2)) > 1:
            raise ValueError("strides > 1 cannot be combined with dilation_rate > 1 (as in Keras)")
        return self


class _Conv(Layer):
    category = "Convolution"
    params_model = ConvParams
    dims: int
    what: str

    def _geometry(self, p: ConvParams):
        return (per_dim(p.kernel_size, self.dims), per_dim(p.strides, self.dims), per_dim(p.dilation_rate, self.dims))

    def output(self, p: ConvParams, inputs):
        x = inputs[0]
        require_rank(self.type, x, (self.dims + 1,), self.what)
        kernel, strides, dilation = self._geometry(p)
        out = []
        for length, k, s, d in zip(x.shape[1:], kernel, strides, dilation):
            n = conv_output_length(length, k, s, d, p.padding)
            if n < 1:
                raise ShapeError(
                    f"{self.type} with kernel_size {k} (dilation {d}) and padding 'valid' needs inputs of "
                    f"at least {d * (k - 1) + 1} along each spatial axis, got shape {x}; use padding 'same' or a smaller kernel."
                )
            out.append(n)
        return TensorSpec((p.filters, *out))

    def weights(self, p: ConvParams, inputs):
        kernel, _, _ = self._geometry(p)
        w = [Weight("weight", (p.filters, inputs[0].shape[0], *kernel))]
        return w + ([Weight("bias", (p.filters,))] if p.use_bias else [])

    def make_module(self, p: ConvParams, inputs):
        kernel, strides, dilation = self._geometry(p)
        plain = nn.Conv1d if self.dims == 1 else nn.Conv2d
        strided_same = torch_ops.StridedSameConv1d if self.dims == 1 else torch_ops.StridedSameConv2d
        args = dict(in_channels=inputs[0].shape[0], out_channels=p.filters, kernel_size=kernel,
                    stride=strides, dilation=dilation, bias=p.use_bias)
        if p.padding == "valid":
            return plain(**args)
        totals = [(k - 1) * d for k, d in zip(kernel, dilation)]
        if all(s == 1 for s in strides) and all(t % 2 == 0 for t in totals):
            return plain(**args, padding=tuple(t // 2 for t in totals))  # symmetric: PyTorch does it natively
        return strided_same(**args)

    def emit(self, call, p: ConvParams, args):
        return call.activation(p.activation, call.module(*args), dim=1)


@register_layer
class Conv1D(_Conv):
    type = "Conv1D"
    doc = "1D convolution over (channels, length): filters output channels, a kernel_size window."
    dims = 1
    what = "a (channels, length) input"
    example_params = ({"filters": 4, "kernel_size": 3}, {"filters": 2, "kernel_size": 2, "strides": 2, "padding": "same"})


@register_layer
class Conv2D(_Conv):
    type = "Conv2D"
    doc = "2D convolution over (channels, height, width): filters output channels, a kernel_size window."
    dims = 2
    what = "a (channels, height, width) input"
    example_params = (
        {"filters": 4, "kernel_size": 3, "padding": "same", "activation": "relu"},
        {"filters": 3, "kernel_size": [2, 3], "strides": 2, "padding": "same"},
        {"filters": 2, "kernel_size": 3, "dilation_rate": 2},
    )


class ConvTransposeParams(Params):
    filters: PositiveInt = Field(..., description="Number of output channels.")
    kernel_size: IntOrPair = Field(3, description="Window size: an int or [height, width].")
    strides: IntOrPair = Field(1, description="Upsampling factor.")
    padding: Padding = Field("valid", description="'same': output size = input × strides; 'valid': input × strides + max(kernel - strides, 0).")
    activation: ActivationName = "linear"
    use_bias: bool = True


@register_layer
class Conv2DTranspose(Layer):
    type = "Conv2DTranspose"
    category = "Convolution"
    doc = "Transposed 2D convolution (a learned upsampling), output sizes as in Keras."
    params_model = ConvTransposeParams
    example_params = ({"filters": 3, "kernel_size": 3, "strides": 2, "padding": "same"}, {"filters": 2, "kernel_size": 2, "padding": "same"}, {"filters": 2, "kernel_size": 2, "strides": 3})

    def output(self, p: ConvTransposeParams, inputs):
        x = inputs[0]
        require_rank(self.type, x, (3,), "a (channels, height, width) input")
        kernel, strides = per_dim(p.kernel_size, 2), per_dim(p.strides, 2)
        if p.padding == "same":
            out = tuple(n * s for n, s in zip(x.shape[1:], strides))
        else:
            out = tuple(n * s + max(k - s, 0) for n, k, s in zip(x.shape[1:], kernel, strides))
        return TensorSpec((p.filters, *out))

    def weights(self, p: ConvTransposeParams, inputs):
        w = [Weight("weight", (inputs[0].shape[0], p.filters, *per_dim(p.kernel_size, 2)))]
        return w + ([Weight("bias", (p.filters,))] if p.use_bias else [])

    def make_module(self, p: ConvTransposeParams, inputs):
        kernel, strides = per_dim(p.kernel_size, 2), per_dim(p.strides, 2)
        # PyTorch's output: (n - 1)·s - 2·pad + k + output_padding. Choose pad / output_padding / crop
        # per axis so it equals Keras's length.
        pads, extra, crop = [], [], []
        for k, s in zip(kernel, strides):
            # How much longer than Keras's length PyTorch's comes out with no padding.
            excess = k - s if p.padding == "same" else min(k - s, 0)
            if excess < 0:
                pads.append(0); extra.append(-excess); crop.append(0)
            elif excess % 2 == 0 or s > 1:
                pad = (excess + 1) // 2
                pads.append(pad); extra.append(2 * pad - excess); crop.append(0)
            else:  # odd excess with stride 1: output_padding must be < stride, so crop instead
                pads.append(excess // 2); extra.append(0); crop.append(1)
        return torch_ops.CroppedConvTranspose2d(
            inputs[0].shape[0], p.filters, kernel, stride=strides, padding=tuple(pads),
            output_padding=tuple(extra), bias=p.use_bias, crop=tuple(crop),
        )

    def emit(self, call, p, args):
        return call.activation(p.activation, call.module(*args), dim=1)


class UpSamplingParams(Params):
    size: IntOrPair = Field(2, description="Upsampling factor for height and width.")
    interpolation: Literal["nearest", "bilinear"] = "nearest"


@register_layer
class UpSampling2D(Layer):
    type = "UpSampling2D"
    category = "Convolution"
    doc = "Repeats (nearest) or interpolates (bilinear) rows and columns by size."
    params_model = UpSamplingParams
    example_params = ({"size": 2}, {"size": [2, 3], "interpolation": "bilinear"})

    def output(self, p, inputs):
        require_rank(self.type, inputs[0], (3,), "a (channels, height, width) input")
        c, h, w = inputs[0].shape
        sh, sw = per_dim(p.size, 2)
        return TensorSpec((c, h * sh, w * sw))

    def make_module(self, p, inputs):
        return nn.Upsample(scale_factor=tuple(float(s) for s in per_dim(p.size, 2)), mode=p.interpolation)


PadPair = Annotated[list[Annotated[int, Field(ge=0, le=10_000)]], Field(min_length=2, max_length=2)]


class ZeroPaddingParams(Params):
    padding: Annotated[int, Field(ge=0, le=10_000)] | PadPair | Annotated[list[PadPair], Field(min_length=2, max_length=2)] = Field(
        1, description="int, [rows, cols] (symmetric), or [[top, bottom], [left, right]].")


@register_layer
class ZeroPadding2D(Layer):
    type = "ZeroPadding2D"
    category = "Convolution"
    doc = "Adds rows and columns of zeros around each image."
    params_model = ZeroPaddingParams
    example_params = ({"padding": 1}, {"padding": [[1, 0], [2, 1]]})

    @staticmethod
    def _amounts(p) -> tuple[int, int, int, int]:
        pad = p.padding
        if isinstance(pad, int):
            return pad, pad, pad, pad
        if isinstance(pad[0], int):
            return pad[0], pad[0], pad[1], pad[1]
        return pad[0][0], pad[0][1], pad[1][0], pad[1][1]

    def output(self, p, inputs):
        require_rank(self.type, inputs[0], (3,), "a (channels, height, width) input")
        top, bottom, left, right = self._amounts(p)
        c, h, w = inputs[0].shape
        return TensorSpec((c, h + top + bottom, w + left + right))

    def make_module(self, p, inputs):
        top, bottom, left, right = self._amounts(p)
        return nn.ZeroPad2d((left, right, top, bottom))
