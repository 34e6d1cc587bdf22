"""BatchNormalization and LayerNormalization, with Keras's defaults (momentum 0.99, epsilon 1e-3)."""

from __future__ import annotations

from pydantic import Field

from ..catalog import Layer, Params, Weight, register_layer
from ..lazy import nn
from ._common import require_rank


class BatchNormParams(Params):
    momentum: float = Field(0.99, gt=0.0, lt=1.0, description="Keras momentum of the moving statistics (PyTorch's is 1 - this).")
    epsilon: float = Field(1e-3, gt=0.0, le=1.0, description="Added to the variance to avoid dividing by zero.")


@register_layer
class BatchNormalization(Layer):
    type = "BatchNormalization"
    category = "Normalization"
    doc = "Normalizes each channel (axis 1) with batch statistics while training and moving averages at inference."
    params_model = BatchNormParams
    example_params = ({}, {"momentum": 0.9, "epsilon": 1e-5})

    def output(self, p, inputs):
        require_rank(self.type, inputs[0], (1, 2, 3, 4), "an input with 1 to 4 dimensions")
        return inputs[0]

    def weights(self, p, inputs):
        c = inputs[0].shape[0]
        # The moving mean and variance are non-trainable weights, as Keras counts them.
        return [Weight("weight", (c,)), Weight("bias", (c,)),
                Weight("running_mean", (c,), trainable=False), Weight("running_var", (c,), trainable=False)]

    def make_module(self, p: BatchNormParams, inputs):
        rank = len(inputs[0].shape)
        cls = {1: nn.BatchNorm1d, 2: nn.BatchNorm1d, 3: nn.BatchNorm2d, 4: nn.BatchNorm3d}[rank]
        return cls(inputs[0].shape[0], eps=p.epsilon, momentum=1.0 - p.momentum)


class LayerNormParams(Params):
    epsilon: float = Field(1e-3, gt=0.0, le=1.0, description="Added to the variance to avoid dividing by zero.")


@register_layer
class LayerNormalization(Layer):
    type = "LayerNormalization"
    category = "Normalization"
    doc = "Normalizes each sample over its last axis, with a learned scale and offset per feature."
    params_model = LayerNormParams
    example_params = ({},)

    def output(self, p, inputs):
        return inputs[0]

    def weights(self, p, inputs):
        d = inputs[0].shape[-1]
        return [Weight("weight", (d,)), Weight("bias", (d,))]

    def make_module(self, p: LayerNormParams, inputs):
        return nn.LayerNorm(inputs[0].shape[-1], eps=p.epsilon)
