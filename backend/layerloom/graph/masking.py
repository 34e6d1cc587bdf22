"""Keras masks: which edges carry a mask of padded steps, and the code that computes it.

Keras attaches a boolean (batch, steps) mask to a tensor (``_keras_mask``): ``Masking`` and
``Embedding(mask_zero=True)`` make one, element-wise layers and merges pass it on, and recurrent
layers, 1D global pooling, attention and the losses of sequence heads skip the masked steps. Here
the analysis decides once, per node, whether its output carries a mask (``MaskSpec``), and the
builder computes the mask next to the value in the generated forward, so an unmasked graph has no
extra code at all.

Each layer declares its ``mask_role`` in the catalog ("drop", "pass", "consume", "produce"); the
rules for each role are here:

- produce: the layer's own mask (``produces_mask`` / ``emit_mask``); an incoming one is replaced;
- pass: one input keeps its mask; a merge of several inputs ORs their masks when every input has
  one (Keras's merge rule; otherwise the output has none), and ``Concatenate`` along the steps
  axis (axis 1 of a (time, features) sequence) joins them, taking unmasked inputs as all-valid;
- consume: the layer reads ``call.input_masks``; its output keeps the first input's mask only when
  ``keeps_mask`` says so (return_sequences, attention's query mask);
- drop: the mask stops here, with a warning, as Keras warns.

Mask steps are counted per layer: a (time, features) sequence has its steps on axis 1, a
(channels, length) input of GlobalAveragePooling1D on its last axis (``mask_steps``). A consumer
whose steps differ from its mask's ignores the mask with a warning (``mask_ignored``): the mask was
made for another axis (Keras would fail at run time, or mask the wrong steps).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .catalog import Layer, TensorSpec
from .lazy import torch_ops

# (code, message, severity) notes for the compiler to turn into issues.
Note = tuple[str, str, str]


@dataclass(frozen=True, slots=True)
class MaskSpec:
    """A node's output carries a (batch, steps) boolean mask; ``source`` is the node that made it."""

    steps: int
    source: str


def infer_mask(node_id: str, layer: Layer, params: Any, inputs: list[TensorSpec],
               masks: list[MaskSpec | None]) -> tuple[MaskSpec | None, list[Note]]:
    """The mask a node's output carries, given its inputs' masks; notes become issues."""
    role = layer.mask_role
    if role == "produce":
        steps = layer.produces_mask(params, inputs)
        return (MaskSpec(steps, node_id) if steps is not None else None), []
    present = [m for m in masks if m is not None]
    if not present:
        return None, []
    if role == "drop":
        sources = ", ".join(sorted({m.source for m in present}))
        return None, [("mask_dropped", f"{node_id}: {layer.type} does not support masking, so the mask made by "
                       f"{sources} stops here (as in Keras); the layers after it also see the padded steps.", "warning")]
    if role == "consume":
        notes = []
        for port, (mask, steps) in enumerate(zip(masks, layer.mask_steps(params, inputs))):
            if mask is not None and steps is not None and mask.steps != steps:
                notes.append(("mask_ignored", f"{node_id}: the mask made by {mask.source} covers {mask.steps} steps, "
                              f"but {layer.type} steps over {steps} on input port {port}, so it is ignored here; a mask "
                              "follows the (time, features) sequence it was made for (Permute [2, 1] brings the "
                              "steps to the last axis for GlobalAveragePooling1D).", "warning"))
        usable = accepted_masks(layer, params, inputs, masks)
        return (usable[0] if layer.keeps_mask(params) else None), notes
    if len(masks) == 1:
        return masks[0], []
    return _merged(node_id, layer, params, inputs, masks)


def accepted_masks(layer: Layer, params: Any, inputs: list[TensorSpec],
                   masks: list[MaskSpec | None]) -> list[MaskSpec | None]:
    """A consumer's masks per input port: None where the port takes none, or where the mask's steps
    differ from the ones the layer steps over (it is ignored, with a warning)."""
    if layer.mask_role != "consume":
        return masks
    return [mask if mask is not None and steps is not None and mask.steps == steps else None
            for mask, steps in zip(masks, layer.mask_steps(params, inputs))]


def input_masks(analysis_nodes: dict[str, Any], info: Any, built: dict[str, Any]) -> list[Any]:
    """The built masks a node's emit sees, one per input port (``call.input_masks``)."""
    specs = [analysis_nodes[src].mask for src in info.inputs]
    usable = accepted_masks(info.layer, info.params, info.input_specs, specs)
    return [built.get(src) if spec is not None else None for src, spec in zip(info.inputs, usable)]


def _merged(node_id: str, layer: Layer, params: Any, inputs: list[TensorSpec],
            masks: list[MaskSpec | None]) -> tuple[MaskSpec | None, list[Note]]:
    if _joins_steps(layer, params, inputs):
        return MaskSpec(sum(spec.shape[0] for spec in inputs), node_id), []
    if any(m is None for m in masks):
        return None, []  # Keras: an unmasked input makes every step valid
    sources = {m.source for m in masks if m is not None}
    first = masks[0]
    assert first is not None
    if any(m is not None and m.steps != first.steps for m in masks):
        got = " and ".join(f"{m.steps} steps from {m.source}" for m in masks if m is not None)
        return None, [("mask_ignored", f"{node_id}: {layer.type} merges masks of different lengths ({got}), so its "
                       "output carries none.", "warning")]
    return MaskSpec(first.steps, first.source if len(sources) == 1 else node_id), []


def _joins_steps(layer: Layer, params: Any, inputs: list[TensorSpec]) -> bool:
    """Concatenate along axis 1 of sequences joins their steps (and their masks)."""
    if layer.type != "Concatenate" or len(inputs[0].shape) < 2:
        return False
    rank = len(inputs[0].shape)
    return (params.axis + rank + 1 if params.axis < 0 else params.axis) == 1


def emit_mask(call: Any, info: Any, args: list[Any], input_masks: list[Any]) -> Any:
    """Record the computation of a node's output mask (None when the analysis found it has none)."""
    if info.mask is None:
        return None
    layer, params = info.layer, info.params
    if layer.mask_role == "produce":
        return layer.emit_mask(call, params, args)
    if layer.mask_role == "consume":
        return input_masks[0]
    if len(input_masks) > 1 and _joins_steps(layer, params, call.input_specs):
        return call.function(torch_ops.concat_step_masks, list(input_masks), list(args))
    if all(m is input_masks[0] for m in input_masks):
        return input_masks[0]  # one input, or a merge of one mask with itself (x + PositionEmbedding(x))
    return call.function(torch_ops.any_mask, *input_masks)
