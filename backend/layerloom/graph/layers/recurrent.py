"""SimpleRNN, LSTM and GRU over (time, features) sequences.

PyTorch keeps two bias vectors per gate group (input-hidden and hidden-hidden). Keras's GRU
(reset_after=True, its default) does too, so GRU counts match Keras; Keras's LSTM and SimpleRNN keep
one, so PyTorch's have 4×units (LSTM) or units (SimpleRNN) more parameters per direction.
"""

from __future__ import annotations

from pydantic import Field

from ..catalog import Layer, Params, TensorSpec, Weight, register_layer
from ..lazy import torch_ops
from ._common import PositiveInt, require_rank


class RecurrentParams(Params):
    units: PositiveInt = Field(..., description="Size of the hidden state.")
    return_sequences: bool = Field(False, description="Return the output at every step, not only the last.")
    bidirectional: bool = Field(False, description="Also run backwards and concatenate both directions.")


class _Recurrent(Layer):
    category = "Recurrent"
    params_model = RecurrentParams
    gates: int
    module_class: str  # a class in torch_ops
    mask_role = "consume"
    example_params = ({"units": 4}, {"units": 3, "return_sequences": True, "bidirectional": True})

    def keeps_mask(self, p: RecurrentParams) -> bool:
        return p.return_sequences

    def emit(self, call, p, args):
        mask = call.input_masks[0] if call.input_masks else None
        return call.module(args[0], mask) if mask is not None else call.module(args[0])

    def output(self, p: RecurrentParams, inputs):
        require_rank(self.type, inputs[0], (2,), "a (time, features) sequence")
        width = p.units * (2 if p.bidirectional else 1)
        return TensorSpec((inputs[0].shape[0], width) if p.return_sequences else (width,))

    def weights(self, p: RecurrentParams, inputs):
        n_in, gu = inputs[0].shape[1], self.gates * p.units
        out = []
        for suffix in ("", "_reverse") if p.bidirectional else ("",):
            out += [Weight(f"weight_ih_l0{suffix}", (gu, n_in)), Weight(f"weight_hh_l0{suffix}", (gu, p.units)),
                    Weight(f"bias_ih_l0{suffix}", (gu,)), Weight(f"bias_hh_l0{suffix}", (gu,))]
        return out

    def make_module(self, p: RecurrentParams, inputs):
        return getattr(torch_ops, self.module_class)(inputs[0].shape[1], p.units, return_sequences=p.return_sequences,
                                       bidirectional=p.bidirectional)


@register_layer
class SimpleRNN(_Recurrent):
    type = "SimpleRNN"
    doc = "Fully connected recurrent layer with tanh; (time, features) to (units,) or (time, units)."
    gates, module_class = 1, "KerasSimpleRNN"


@register_layer
class LSTM(_Recurrent):
    type = "LSTM"
    doc = "Long short-term memory layer; (time, features) to (units,) or (time, units)."
    gates, module_class = 4, "KerasLSTM"


@register_layer
class GRU(_Recurrent):
    type = "GRU"
    doc = "Gated recurrent unit layer (Keras's reset_after variant); (time, features) to (units,) or (time, units)."
    gates, module_class = 3, "KerasGRU"
