"""Helpers shared by the compiler tests: graph builders and running a built model node by node."""

from __future__ import annotations

from typing import Any

import torch
import torch.fx

from layerloom.graph import Analysis, GraphModel


def chain(*layers: tuple[str, str, dict[str, Any]], name: str = "chain") -> dict[str, Any]:
    """A graph document wiring (id, type, params) nodes one after another."""
    nodes = [{"id": nid, "type": typ, "params": params} for nid, typ, params in layers]
    edges = [{"source": a["id"], "target": b["id"]} for a, b in zip(nodes, nodes[1:])]
    return {"format": "layerloom.graph", "version": 1, "name": name, "nodes": nodes, "edges": edges}


def random_inputs(analysis: Analysis, batch: int = 3, seed: int = 0) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    out = {}
    for nid in analysis.input_ids:
        spec = analysis.nodes[nid].output
        if spec.dtype == "int":
            out[nid] = torch.randint(0, 5, (batch, *spec.shape), generator=gen)
        else:
            out[nid] = torch.randn((batch, *spec.shape), generator=gen)
    return out


class _Recorder(torch.fx.Interpreter):
    def __init__(self, module: torch.nn.Module) -> None:
        super().__init__(module)
        self.values: dict[str, Any] = {}

    def run_node(self, n: torch.fx.Node) -> Any:
        value = super().run_node(n)
        self.values[n.name] = value
        return value


def real_output_shapes(model: GraphModel, analysis: Analysis, inputs: dict[str, torch.Tensor]) -> dict[str, tuple[int, ...]]:
    """Each node's real per-sample output shape, read off one forward pass of the built module."""
    recorder = _Recorder(model)
    with torch.no_grad():
        outputs = recorder.run(inputs)
    shapes: dict[str, tuple[int, ...]] = {}
    for nid in analysis.order:
        info = analysis.nodes[nid]
        name = nid.replace(".", "_")  # fx's name for a node inside a block ("call.inner")
        if info.type == "Output" and nid in outputs:
            shapes[nid] = tuple(outputs[nid].shape[1:])
        elif name in recorder.values and info.type not in ("Input", "Output"):
            shapes[nid] = tuple(recorder.values[name].shape[1:])
        elif info.inputs:  # an identity (a block's port, ActivityRegularization at inference) writes no line
            shapes[nid] = shapes[info.inputs[0]]
        else:
            shapes[nid] = tuple(recorder.values[name].shape[1:])
    return shapes


def real_weight_counts(model: GraphModel, node_id: str) -> tuple[int, int]:
    """(trainable, non-trainable) numbers held by a node's module, as PyTorch stores them."""
    try:
        module = model.get_submodule(node_id)  # "call.inner" inside a block
    except AttributeError:
        module = None
    if module is None:
        return 0, 0
    trainable = sum(p.numel() for p in module.parameters())
    return trainable, saved_buffer_count(module)


def saved_buffer_count(module: torch.nn.Module) -> int:
    """Numbers in the float buffers a module saves: non-persistent buffers (constants such as a
    Normalization's given mean) are not weights, as Keras does not count them either."""
    params = {name for name, _ in module.named_parameters()}
    return sum(v.numel() for k, v in module.state_dict().items() if k not in params and v.is_floating_point())


def resnet50_with_blocks() -> dict[str, Any]:
    """keras.applications.ResNet50 (224×224×3, 1,000 classes) drawn with the library's two
    bottleneck blocks: one call per Keras block, named like Keras's (conv3_block2 …)."""
    from layerloom.graph.block_library import block_definition

    def call(nid: str, block: str, **args: Any) -> dict[str, Any]:
        return {"id": nid, "type": "Block", "params": {"block": block, "args": args}}

    nodes = [{"id": "image", "type": "Input", "params": {"shape": [3, 224, 224]}},
             {"id": "conv1_pad", "type": "ZeroPadding2D", "params": {"padding": 3}},
             {"id": "conv1_conv", "type": "Conv2D", "params": {"filters": 64, "kernel_size": 7, "strides": 2}},
             {"id": "conv1_bn", "type": "BatchNormalization", "params": {"epsilon": 1.001e-5}},
             {"id": "conv1_relu", "type": "Activation", "params": {"activation": "relu"}},
             {"id": "pool1_pad", "type": "ZeroPadding2D", "params": {"padding": 1}},
             {"id": "pool1_pool", "type": "MaxPooling2D", "params": {"pool_size": 3, "strides": 2}}]
    for stage, (filters, count, strides) in enumerate([(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)], start=2):
        nodes.append(call(f"conv{stage}_block1", "bottleneck", filters=filters, out_filters=4 * filters, strides=strides))
        nodes += [call(f"conv{stage}_block{b}", "bottleneck_identity", filters=filters, out_filters=4 * filters)
                  for b in range(2, count + 1)]
    nodes += [{"id": "avg_pool", "type": "GlobalAveragePooling2D", "params": {}},
              {"id": "predictions", "type": "Dense", "params": {"units": 1000, "activation": "softmax"}},
              {"id": "label", "type": "Output", "params": {"loss": "categorical_crossentropy"}}]
    ids = [n["id"] for n in nodes]
    return {"format": "layerloom.graph", "version": 1, "name": "resnet50", "nodes": nodes,
            "edges": [{"source": a, "target": b} for a, b in zip(ids, ids[1:])],
            "blocks": {name: block_definition(name) for name in ("bottleneck", "bottleneck_identity")}}
