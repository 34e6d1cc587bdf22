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


def efficientnet_b0_with_blocks() -> dict[str, Any]:
    """keras.applications.EfficientNetB0 (224×224×3, 1,000 classes) drawn with the library's three
    MBConv blocks, one call per Keras block (block1a, block2a, block2b …)."""
    from layerloom.graph.block_library import block_definition

    nodes: list[dict[str, Any]] = [
        {"id": "image", "type": "Input", "params": {"shape": [3, 224, 224]}},
        {"id": "rescaling", "type": "Rescaling", "params": {"scale": 1 / 255}},
        {"id": "normalization", "type": "Normalization", "params": {"axis": 1, "adapt": True}},
        {"id": "stem_conv_pad", "type": "ZeroPadding2D", "params": {"padding": [[0, 1], [0, 1]]}},
        {"id": "stem_conv", "type": "Conv2D", "params": {"filters": 32, "kernel_size": 3, "strides": 2, "use_bias": False}},
        {"id": "stem_bn", "type": "BatchNormalization", "params": {}},
        {"id": "stem_activation", "type": "Activation", "params": {"activation": "swish"}},
    ]
    stages = [(3, 1, 32, 16, 1, 1), (3, 2, 16, 24, 6, 2), (5, 2, 24, 40, 6, 2), (3, 3, 40, 80, 6, 2),
              (5, 3, 80, 112, 6, 1), (5, 4, 112, 192, 6, 2), (3, 1, 192, 320, 6, 1)]
    total_blocks = sum(s[1] for s in stages)
    index = 0
    for stage, (kernel, repeats, filters_in, filters_out, expand, strides) in enumerate(stages, start=1):
        for j in range(repeats):
            if j > 0:
                strides, filters_in = 1, filters_out
            args: dict[str, Any] = {"filters_in": filters_in, "squeeze": max(1, int(filters_in * 0.25)),
                                    "kernel_size": kernel}
            if expand != 1:
                args["expanded"] = filters_in * expand
            if strides == 1 and filters_in == filters_out:
                block, args["drop_rate"] = "mbconv_residual", 0.2 * index / total_blocks
            else:
                block = "mbconv" if expand != 1 else "mbconv_no_expansion"
                args.update(filters_out=filters_out, strides=strides)
            nodes.append({"id": f"block{stage}{chr(ord('a') + j)}", "type": "Block", "params": {"block": block, "args": args}})
            index += 1
    nodes += [{"id": "top_conv", "type": "Conv2D", "params": {"filters": 1280, "kernel_size": 1, "use_bias": False}},
              {"id": "top_bn", "type": "BatchNormalization", "params": {}},
              {"id": "top_activation", "type": "Activation", "params": {"activation": "swish"}},
              {"id": "avg_pool", "type": "GlobalAveragePooling2D", "params": {}},
              {"id": "top_dropout", "type": "Dropout", "params": {"rate": 0.2}},
              {"id": "predictions", "type": "Dense", "params": {"units": 1000, "activation": "softmax"}},
              {"id": "label", "type": "Output", "params": {"loss": "categorical_crossentropy"}}]
    ids = [n["id"] for n in nodes]
    return {"format": "layerloom.graph", "version": 1, "name": "efficientnet-b0", "nodes": nodes,
            "edges": [{"source": a, "target": b} for a, b in zip(ids, ids[1:])],
            "blocks": {name: block_definition(name) for name in ("mbconv", "mbconv_residual", "mbconv_no_expansion")}}
