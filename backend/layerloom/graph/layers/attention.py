"""MultiHeadAttention over (time, features) sequences, with Keras 3's parameters and counts."""

from __future__ import annotations

from pydantic import Field

from ..catalog import Layer, Params, ShapeError, TensorSpec, Weight, register_layer
from ..lazy import torch_ops
from ._common import PositiveInt

PORTS = ("query", "value", "key")


class MultiHeadAttentionParams(Params):
    num_heads: PositiveInt = Field(..., description="Number of attention heads.")
    key_dim: PositiveInt = Field(..., description="Size of each head's query and key projection.")
    value_dim: PositiveInt | None = Field(None, description="Size of each head's value projection; defaults to key_dim.")
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="Dropout rate on the attention probabilities (training only).")
    use_bias: bool = Field(True, description="Whether the four projections have biases.")
    output_shape: PositiveInt | None = Field(None, description="Features of the output; defaults to the query's.")
    use_causal_mask: bool = Field(False, description="Each query step attends only to key steps at or before it "
                                  "(a decoder's self-attention); Keras's call argument use_causal_mask.")


@register_layer
class MultiHeadAttention(Layer):
    type = "MultiHeadAttention"
    category = "Attention"
    doc = ("Keras's multi-head attention. Input ports: 0 = query (T, d), 1 = value (S, d_v), optional 2 = key (S, d_k; "
           "the value when absent). Connect one node to ports 0 and 1 for self-attention. Output (T, output_shape or d). "
           "Masks on the query, value and key are applied; the output keeps the query's.")
    params_model = MultiHeadAttentionParams
    min_inputs = 2
    max_inputs = 3
    mask_role = "consume"
    example_params = (
        {"num_heads": 2, "key_dim": 3},
        {"num_heads": 3, "key_dim": 2, "value_dim": 5, "output_shape": 7, "dropout": 0.1},
        {"num_heads": 1, "key_dim": 4, "use_bias": False, "use_causal_mask": True},
    )

    @staticmethod
    def _dims(p: MultiHeadAttentionParams, inputs: list[TensorSpec]) -> tuple[int, int, int, int, int]:
        """(query features, value features, key features, value_dim, output features)."""
        for port, spec in enumerate(inputs):
            if len(spec.shape) != 2:
                raise ShapeError(f"MultiHeadAttention's {PORTS[port]} (port {port}) must be a (time, features) "
                                 f"sequence, got shape {spec}.")
        query, value = inputs[0], inputs[1]
        key = inputs[2] if len(inputs) > 2 else value
        if key.shape[0] != value.shape[0]:
            raise ShapeError(f"MultiHeadAttention's key (port 2) and value (port 1) need the same number of steps, "
                             f"got {key} and {value}.")
        value_dim = p.value_dim or p.key_dim
        return query.shape[1], value.shape[1], key.shape[1], value_dim, p.output_shape or query.shape[1]

    def output(self, p, inputs):
        out = self._dims(p, inputs)[4]
        return TensorSpec((inputs[0].shape[0], out))

    def mask_steps(self, p, inputs):
        return [spec.shape[0] for spec in inputs]

    def keeps_mask(self, p):
        return True  # the query's mask, as Keras sets it on the output

    def weights(self, p: MultiHeadAttentionParams, inputs):
        dq, dv, dk, value_dim, out = self._dims(p, inputs)
        hk, hv = p.num_heads * p.key_dim, p.num_heads * value_dim
        shapes = [("query", hk, dq), ("key", hk, dk), ("value", hv, dv), ("output", out, hv)]
        weights = []
        for name, rows, cols in shapes:
            weights.append(Weight(f"{name}.weight", (rows, cols)))
            if p.use_bias:
                weights.append(Weight(f"{name}.bias", (rows,)))
        return weights

    def make_module(self, p: MultiHeadAttentionParams, inputs):
        dq, dv, dk, value_dim, out = self._dims(p, inputs)
        return torch_ops.MultiHeadAttention(dq, dv, dk, num_heads=p.num_heads, key_dim=p.key_dim, value_dim=value_dim,
                                            output_dim=out, dropout=p.dropout, use_bias=p.use_bias,
                                            use_causal_mask=p.use_causal_mask)

    def emit(self, call, p, args):
        masks = list(call.input_masks or [])
        if not any(m is not None for m in masks):
            return call.module(*args)
        query, value = args[0], args[1]
        key = args[2] if len(args) > 2 else None
        masks += [None] * (3 - len(masks))
        return call.module(query, value, key, *masks)
