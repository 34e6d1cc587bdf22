"""Sequence utilities: Masking (Keras core) and PositionEmbedding (keras_hub's learned positions)."""

from __future__ import annotations

from pydantic import Field

from ..catalog import Layer, Params, ShapeError, TensorSpec, Weight, register_layer
from ..lazy import torch_ops
from ._common import PositiveInt, require_rank


class MaskingParams(Params):
    mask_value: float = Field(0.0, description="A step whose features all equal this value is padding.")


@register_layer
class Masking(Layer):
    type = "Masking"
    category = "Core"
    doc = ("Marks the padded steps of a (time, features) sequence, those whose features all equal mask_value; "
           "they become zeros and are skipped by recurrent layers, masked pooling, attention and sequence losses.")
    params_model = MaskingParams
    mask_role = "produce"
    example_params = ({}, {"mask_value": -1.0})

    def output(self, p, inputs):
        require_rank(self.type, inputs[0], (2,), "a (time, features) sequence")
        return inputs[0]

    def produces_mask(self, p, inputs):
        return inputs[0].shape[0]

    def emit(self, call, p: MaskingParams, args):
        return call.function(torch_ops.zero_masked_steps, args[0], p.mask_value)

    def emit_mask(self, call, p: MaskingParams, args):
        return call.function(torch_ops.steps_not_equal, args[0], p.mask_value)


class PositionEmbeddingParams(Params):
    sequence_length: PositiveInt = Field(..., description="The longest sequence: one learned vector per position.")


@register_layer
class PositionEmbedding(Layer):
    type = "PositionEmbedding"
    category = "Attention"
    doc = ("keras_hub's PositionEmbedding: a learned vector per position. Its output is the position embeddings for "
           "its input's (time, features) shape, not the input plus them: Add it to the token embeddings "
           "(Embedding → PositionEmbedding → Add with the Embedding). Passes the input's mask on.")
    params_model = PositionEmbeddingParams
    mask_role = "pass"  # keras_hub's TokenAndPositionEmbedding keeps the token mask; this pattern does too
    example_params = ({"sequence_length": 8}, {"sequence_length": 20})

    def output(self, p: PositionEmbeddingParams, inputs):
        x = inputs[0]
        require_rank(self.type, x, (2,), "a (time, features) sequence")
        if x.shape[0] > p.sequence_length:
            raise ShapeError(f"PositionEmbedding has {p.sequence_length} positions (sequence_length) but the input has "
                             f"{x.shape[0]} steps; raise sequence_length to at least {x.shape[0]}.")
        return x

    def weights(self, p: PositionEmbeddingParams, inputs):
        return [Weight("embeddings", (p.sequence_length, inputs[0].shape[1]))]

    def make_module(self, p: PositionEmbeddingParams, inputs):
        return torch_ops.PositionEmbedding(p.sequence_length, inputs[0].shape[1])
