"""Cropping, zero padding and upsampling of (channels, *spatial) inputs (palette: Convolution)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from ..catalog import Layer, Params, ShapeError, TensorSpec, register_layer
from ..lazy import nn, torch_ops
from ._common import IntOrPair, PositiveInt, per_dim, require_rank

Amount = Annotated[int, Field(ge=0, le=10_000)]
PadPair = Annotated[list[Amount], Field(min_length=2, max_length=2)]
# Keras's three spellings for 2-D amounts: int (all sides), [rows, cols] (symmetric), [[top, bottom], [left, right]].
Amounts2D = Amount | PadPair | Annotated[list[PadPair], Field(min_length=2, max_length=2)]


def start_end_2d(value) -> tuple[tuple[int, int], tuple[int, int]]:
    if isinstance(value, int):
        return (value, value), (value, value)
    if isinstance(value[0], int):
        return (value[0], value[0]), (value[1], value[1])
    return (value[0][0], value[0][1]), (value[1][0], value[1][1])


def start_end_1d(value) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (value[0], value[1])


class _Resize(Layer):
    category = "Convolution"
    dims: int

    def _check(self, x: TensorSpec) -> None:
        require_rank(self.type, x, (self.dims + 1,),
                     "a (channels, length) input" if self.dims == 1 else "a (channels, height, width) input")


class UpSampling1DParams(Params):
    size: PositiveInt = Field(2, le=10_000, description="How many times each step is repeated.")


@register_layer
class UpSampling1D(_Resize):
    type = "UpSampling1D"
    doc = "Repeats each step of a (channels, length) input size times."
    params_model = UpSampling1DParams
    dims = 1
    example_params = ({"size": 2}, {"size": 3})

    def output(self, p, inputs):
        self._check(inputs[0])
        c, length = inputs[0].shape
        return TensorSpec((c, length * p.size))

    def make_module(self, p, inputs):
        return nn.Upsample(scale_factor=float(p.size), mode="nearest")


class UpSamplingParams(Params):
    size: IntOrPair = Field(2, description="Upsampling factor for height and width.")
    interpolation: Literal["nearest", "bilinear"] = "nearest"


@register_layer
class UpSampling2D(_Resize):
    type = "UpSampling2D"
    doc = "Repeats (nearest) or interpolates (bilinear) rows and columns by size."
    params_model = UpSamplingParams
    dims = 2
    example_params = ({"size": 2}, {"size": [2, 3], "interpolation": "bilinear"})

    def output(self, p, inputs):
        self._check(inputs[0])
        c, h, w = inputs[0].shape
        sh, sw = per_dim(p.size, 2)
        return TensorSpec((c, h * sh, w * sw))

    def make_module(self, p, inputs):
        return nn.Upsample(scale_factor=tuple(float(s) for s in per_dim(p.size, 2)), mode=p.interpolation)


class ZeroPadding1DParams(Params):
    padding: Amount | PadPair = Field(1, description="int (both ends) or [start, end].")


@register_layer
class ZeroPadding1D(_Resize):
    type = "ZeroPadding1D"
    doc = "Adds zeros at the start and end of a (channels, length) input."
    params_model = ZeroPadding1DParams
    dims = 1
    example_params = ({"padding": 1}, {"padding": [2, 0]})

    def output(self, p, inputs):
        self._check(inputs[0])
        start, end = start_end_1d(p.padding)
        c, length = inputs[0].shape
        return TensorSpec((c, length + start + end))

    def make_module(self, p, inputs):
        return nn.ZeroPad1d(start_end_1d(p.padding))


class ZeroPaddingParams(Params):
    padding: Amounts2D = Field(1, description="int, [rows, cols] (symmetric), or [[top, bottom], [left, right]].")


@register_layer
class ZeroPadding2D(_Resize):
    type = "ZeroPadding2D"
    doc = "Adds rows and columns of zeros around each image."
    params_model = ZeroPaddingParams
    dims = 2
    example_params = ({"padding": 1}, {"padding": [[1, 0], [2, 1]]})

    def output(self, p, inputs):
        self._check(inputs[0])
        (top, bottom), (left, right) = start_end_2d(p.padding)
        c, h, w = inputs[0].shape
        return TensorSpec((c, h + top + bottom, w + left + right))

    def make_module(self, p, inputs):
        (top, bottom), (left, right) = start_end_2d(p.padding)
        return nn.ZeroPad2d((left, right, top, bottom))


class Cropping1DParams(Params):
    cropping: Amount | PadPair = Field(1, description="Steps removed: int (both ends) or [start, end].")


class _Crop(_Resize):
    def _amounts(self, p) -> tuple[tuple[int, int], ...]:
        raise NotImplementedError

    def output(self, p, inputs):
        x = inputs[0]
        self._check(x)
        out = []
        for length, (start, end) in zip(x.shape[1:], self._amounts(p)):
            if start + end >= length:
                raise ShapeError(f"{self.type} removes {start} + {end} from an axis of length {length} (input {x}), "
                                 "leaving nothing; crop less.", field="params.cropping")
            out.append(length - start - end)
        return TensorSpec((x.shape[0], *out))

    def emit(self, call, p, args):
        return call.function(torch_ops.crop, args[0], self._amounts(p))


@register_layer
class Cropping1D(_Crop):
    type = "Cropping1D"
    doc = "Removes steps at the start and end of a (channels, length) input."
    params_model = Cropping1DParams
    dims = 1
    example_params = ({"cropping": 1}, {"cropping": [2, 0]})

    def _amounts(self, p):
        return (start_end_1d(p.cropping),)


class Cropping2DParams(Params):
    cropping: Amounts2D = Field(0, description="int, [rows, cols] (symmetric), or [[top, bottom], [left, right]].")


@register_layer
class Cropping2D(_Crop):
    type = "Cropping2D"
    doc = "Removes rows and columns at the edges of each image."
    params_model = Cropping2DParams
    dims = 2
    example_params = ({"cropping": 1}, {"cropping": [[1, 0], [2, 1]]}, {"cropping": [0, 2]})

    def _amounts(self, p):
        return start_end_2d(p.cropping)
