"""Noise and channel dropout for training (identity at inference): SpatialDropout1D/2D/3D,
GaussianNoise, GaussianDropout. Dropout and ActivityRegularization live in core.py."""

from __future__ import annotations

from pydantic import Field

from ..catalog import Layer, Params, register_layer
from ..lazy import nn, torch_ops
from ._common import require_rank


class _Regularization(Layer):
    category = "Regularization"
    mask_role = "pass"  # as Keras's dropout and noise layers pass masks

    def output(self, p, inputs):
        return inputs[0]


class RateParams(Params):
    rate: float = Field(0.5, ge=0.0, lt=1.0, description="Fraction of channels set to zero during training.")


class _SpatialDropout(_Regularization):
    params_model = RateParams
    dims: int
    what: str
    example_params = ({"rate": 0.2},)

    def output(self, p, inputs):
        require_rank(self.type, inputs[0], (self.dims + 1,), self.what)
        return inputs[0]

    def make_module(self, p, inputs):
        return getattr(nn, f"Dropout{self.dims}d")(p.rate)


@register_layer
class SpatialDropout1D(_SpatialDropout):
    type = "SpatialDropout1D"
    doc = "Dropout of whole channels of a (channels, length) input, for correlated neighbouring steps."
    dims, what = 1, "a (channels, length) input"


@register_layer
class SpatialDropout2D(_SpatialDropout):
    type = "SpatialDropout2D"
    doc = "Dropout of whole feature maps of an image (channels, height, width)."
    dims, what = 2, "a (channels, height, width) input"


@register_layer
class SpatialDropout3D(_SpatialDropout):
    type = "SpatialDropout3D"
    doc = "Dropout of whole feature volumes of a (channels, depth, height, width) input."
    dims, what = 3, "a (channels, depth, height, width) input"


class GaussianNoiseParams(Params):
    stddev: float = Field(..., ge=0.0, le=1e6, description="Standard deviation of the added noise.")


@register_layer
class GaussianNoise(_Regularization):
    type = "GaussianNoise"
    doc = "Adds zero-mean Gaussian noise of stddev during training; identity at inference."
    params_model = GaussianNoiseParams
    example_params = ({"stddev": 0.1},)

    def make_module(self, p, inputs):
        return torch_ops.GaussianNoise(p.stddev)


@register_layer
class GaussianDropout(_Regularization):
    type = "GaussianDropout"
    doc = "Multiplies by Gaussian noise of mean 1 and variance rate / (1 - rate) during training; identity at inference."
    params_model = RateParams
    example_params = ({"rate": 0.3},)

    def make_module(self, p, inputs):
        return torch_ops.GaussianDropout(p.rate)
