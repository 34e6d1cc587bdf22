"""The built-in block library: common subgraphs of real architectures, as block definitions.

Each entry is a block as the document's ``blocks`` holds it, plus a title, a description and an
example call (input shapes and arguments) that the tests and the palette use. The editor copies an
entry into the document's ``blocks`` when it is dropped on the canvas, so a saved graph never
depends on this library. ``GET /api/blocks`` lists the entries whose layers this Layerloom has and
whose example call checks out; entries written for layers that are still to come stay hidden.

Numbers follow Keras's own implementations (keras.applications), so a model drawn with them has
Keras's parameter counts: e.g. ResNet's BatchNormalization epsilon of 1.001e-5.
"""

from __future__ import annotations

from functools import cache
from typing import Any


def _chain(*ids: str) -> list[dict[str, Any]]:
    return [{"source": a, "target": b} for a, b in zip(ids, ids[1:])]


def _arg(name: str) -> dict[str, str]:
    return {"arg": name}


def _int(default: int | None, description: str) -> dict[str, Any]:
    return {"type": "int", "default": default, "description": description}


def _float(default: float | None, description: str) -> dict[str, Any]:
    return {"type": "float", "default": default, "description": description}


def _conv(nid: str, filters: Any, kernel: Any, strides: Any = 1, activation: str = "linear", **extra: Any) -> dict[str, Any]:
    params = {"filters": filters, "kernel_size": kernel, "strides": strides, "padding": "same", "activation": activation}
    return {"id": nid, "type": "Conv2D", "params": {**params, **extra}}


def _bn(nid: str, epsilon: float = 1e-3) -> dict[str, Any]:
    return {"id": nid, "type": "BatchNormalization", "params": {"momentum": 0.99, "epsilon": epsilon}}


def _relu(nid: str) -> dict[str, Any]:
    return {"id": nid, "type": "Activation", "params": {"activation": "relu"}}


_RESNET_EPS = 1.001e-5

RESIDUAL = {
    "title": "Residual block",
    "description": "Two 3×3 convolutions with batch normalization, added to the block's input (ResNet's basic "
                   "block). The input must already have `filters` channels.",
    "args": {"filters": _int(64, "Channels of both convolutions (and of the input)."),
             "kernel_size": _int(3, "Size of both convolution windows.")},
    "nodes": [
        {"id": "x", "type": "Input"},
        _conv("conv1", _arg("filters"), _arg("kernel_size")), _bn("bn1"), _relu("relu1"),
        _conv("conv2", _arg("filters"), _arg("kernel_size")), _bn("bn2"),
        {"id": "add", "type": "Add"}, _relu("out_relu"),
        {"id": "y", "type": "Output"},
    ],
    "edges": [*_chain("x", "conv1", "bn1", "relu1", "conv2", "bn2"),
              {"source": "bn2", "target": "add"}, {"source": "x", "target": "add", "target_port": 1},
              *_chain("add", "out_relu", "y")],
    "example": {"inputs": [[16, 8, 8]], "args": {"filters": 16}},
}

BOTTLENECK = {
    "title": "Bottleneck block",
    "description": "ResNet50's bottleneck with a projection shortcut (keras.applications' block1 with "
                   "conv_shortcut): 1×1 → 3×3 → 1×1 convolutions, the shortcut a strided 1×1 convolution. "
                   "Used first in each stage; `out_filters` is 4 × `filters` in ResNet50.",
    "args": {"filters": _int(64, "Channels of the 1×1 reduce and 3×3 convolutions."),
             "out_filters": _int(256, "Channels of the block's output."),
             "strides": _int(1, "Stride of the first convolution and the shortcut (2 halves the size).")},
    "nodes": [
        {"id": "x", "type": "Input"},
        _conv("shortcut_conv", _arg("out_filters"), 1, _arg("strides"), padding="valid"), _bn("shortcut_bn", _RESNET_EPS),
        _conv("conv1", _arg("filters"), 1, _arg("strides"), padding="valid"), _bn("bn1", _RESNET_EPS), _relu("relu1"),
        _conv("conv2", _arg("filters"), 3), _bn("bn2", _RESNET_EPS), _relu("relu2"),
        _conv("conv3", _arg("out_filters"), 1, padding="valid"), _bn("bn3", _RESNET_EPS),
        {"id": "add", "type": "Add"}, _relu("out_relu"),
        {"id": "y", "type": "Output"},
    ],
    "edges": [*_chain("x", "shortcut_conv", "shortcut_bn"),
              *_chain("x", "conv1", "bn1", "relu1", "conv2", "bn2", "relu2", "conv3", "bn3"),
              {"source": "shortcut_bn", "target": "add"}, {"source": "bn3", "target": "add", "target_port": 1},
              *_chain("add", "out_relu", "y")],
    "example": {"inputs": [[64, 8, 8]], "args": {"filters": 64, "out_filters": 256, "strides": 1}},
}

BOTTLENECK_IDENTITY = {
    "title": "Bottleneck block (identity shortcut)",
    "description": "ResNet50's bottleneck whose shortcut is the input itself (block1 without conv_shortcut): "
                   "the rest of each stage. The input must have `out_filters` channels.",
    "args": {"filters": _int(64, "Channels of the 1×1 reduce and 3×3 convolutions."),
             "out_filters": _int(256, "Channels of the input and the output.")},
    "nodes": [
        {"id": "x", "type": "Input"},
        _conv("conv1", _arg("filters"), 1, padding="valid"), _bn("bn1", _RESNET_EPS), _relu("relu1"),
        _conv("conv2", _arg("filters"), 3), _bn("bn2", _RESNET_EPS), _relu("relu2"),
        _conv("conv3", _arg("out_filters"), 1, padding="valid"), _bn("bn3", _RESNET_EPS),
        {"id": "add", "type": "Add"}, _relu("out_relu"),
        {"id": "y", "type": "Output"},
    ],
    "edges": [*_chain("x", "conv1", "bn1", "relu1", "conv2", "bn2", "relu2", "conv3", "bn3"),
              {"source": "x", "target": "add"}, {"source": "bn3", "target": "add", "target_port": 1},
              *_chain("add", "out_relu", "y")],
    "example": {"inputs": [[256, 8, 8]], "args": {"filters": 64, "out_filters": 256}},
}

INCEPTION = {
    "title": "Inception module",
    "description": "GoogLeNet's inception module: 1×1, 3×3 and 5×5 convolutions (the larger ones after a 1×1 "
                   "reduction) and a pooled 1×1 projection, side by side, concatenated over channels.",
    "args": {"f1": _int(64, "Channels of the 1×1 branch."),
             "f3_reduce": _int(96, "Channels of the 1×1 reduction before the 3×3."),
             "f3": _int(128, "Channels of the 3×3 branch."),
             "f5_reduce": _int(16, "Channels of the 1×1 reduction before the 5×5."),
             "f5": _int(32, "Channels of the 5×5 branch."),
             "pool_proj": _int(32, "Channels of the 1×1 projection after pooling.")},
    "nodes": [
        {"id": "x", "type": "Input"},
        _conv("b1", _arg("f1"), 1, activation="relu"),
        _conv("b3_reduce", _arg("f3_reduce"), 1, activation="relu"), _conv("b3", _arg("f3"), 3, activation="relu"),
        _conv("b5_reduce", _arg("f5_reduce"), 1, activation="relu"), _conv("b5", _arg("f5"), 5, activation="relu"),
        {"id": "pool", "type": "MaxPooling2D", "params": {"pool_size": 3, "strides": 1, "padding": "same"}},
        _conv("pool_proj", _arg("pool_proj"), 1, activation="relu"),
        {"id": "concat", "type": "Concatenate", "params": {"axis": 1}},
        {"id": "y", "type": "Output"},
    ],
    "edges": [*_chain("x", "b1"), *_chain("x", "b3_reduce", "b3"), *_chain("x", "b5_reduce", "b5"),
              *_chain("x", "pool", "pool_proj"),
              {"source": "b1", "target": "concat"}, {"source": "b3", "target": "concat", "target_port": 1},
              {"source": "b5", "target": "concat", "target_port": 2},
              {"source": "pool_proj", "target": "concat", "target_port": 3}, *_chain("concat", "y")],
    "example": {"inputs": [[192, 8, 8]], "args": {}},
}

SQUEEZE_EXCITATION = {
    "title": "Squeeze-and-excitation",
    "description": "Rescales each channel by a learned gate: global average pooling, a 1×1 reduction with relu, "
                   "a 1×1 expansion with sigmoid, multiplied into the input (a (C, 1, 1) gate broadcast over "
                   "(C, H, W)).",
    "args": {"filters": _int(64, "Channels of the input (and of the gate)."),
             "squeeze_filters": _int(16, "Channels of the bottleneck, e.g. filters / 4.")},
    "nodes": [
        {"id": "x", "type": "Input"},
        {"id": "squeeze", "type": "GlobalAveragePooling2D", "params": {"keepdims": True}},
        _conv("reduce", _arg("squeeze_filters"), 1, activation="relu"),
        _conv("expand", _arg("filters"), 1, activation="sigmoid"),
        {"id": "scale", "type": "Multiply"},  # broadcasts the (C, 1, 1) gate over (C, H, W), as Keras's
        {"id": "y", "type": "Output"},
    ],
    "edges": [*_chain("x", "squeeze", "reduce", "expand"),
              {"source": "x", "target": "scale"}, {"source": "expand", "target": "scale", "target_port": 1},
              *_chain("scale", "y")],
    "example": {"inputs": [[32, 8, 8]], "args": {"filters": 32, "squeeze_filters": 8}},
}

DEPTHWISE_SEPARABLE = {
    "title": "Depthwise-separable convolution",
    "description": "MobileNet's building block (keras.applications.mobilenet): a 3×3 depthwise convolution "
                   "and a 1×1 pointwise convolution, each followed by batch normalization and ReLU6.",
    "args": {"filters": _int(64, "Channels of the pointwise convolution."),
             "strides": _int(1, "Stride of the depthwise convolution."),
             "depth_multiplier": _int(1, "Channels of the depthwise step per input channel.")},
    "nodes": [
        {"id": "x", "type": "Input"},
        {"id": "dw", "type": "DepthwiseConv2D",
         "params": {"kernel_size": 3, "strides": _arg("strides"), "depth_multiplier": _arg("depth_multiplier"),
                    "padding": "same", "use_bias": False}},
        _bn("dw_bn"), {"id": "dw_relu", "type": "ReLU", "params": {"max_value": 6.0}},
        _conv("pw", _arg("filters"), 1, use_bias=False), _bn("pw_bn"),
        {"id": "pw_relu", "type": "ReLU", "params": {"max_value": 6.0}},
        {"id": "y", "type": "Output"},
    ],
    "edges": _chain("x", "dw", "dw_bn", "dw_relu", "pw", "pw_bn", "pw_relu", "y"),
    "example": {"inputs": [[32, 8, 8]], "args": {"filters": 64}},
}

def _mbconv(expand: bool, residual: bool) -> dict[str, Any]:
    """EfficientNet's MBConv as keras.applications.efficientnet's ``block`` builds it: without the
    expansion when expand_ratio is 1, with the residual add when strides is 1 and filters_in equals
    filters_out. Keras picks these by an if; a block's structure is fixed, hence three entries."""
    args = {"filters_in": _int(16, "Channels of the input."),
            "squeeze": _int(4, "Channels of the SE bottleneck: max(1, int(filters_in × se_ratio)).")}
    if expand:
        args["expanded"] = _int(96, "Channels after the 1×1 expansion: filters_in × expand_ratio.")
    if not residual:
        args["filters_out"] = _int(24, "Channels of the output.")
    args["kernel_size"] = _int(3, "Size of the depthwise window.")
    if residual:
        args["drop_rate"] = _float(0.0, "Dropout of the whole residual branch per sample (drop connect).")
    else:
        args["strides"] = _int(1, "Stride of the depthwise convolution.")
    width = _arg("expanded") if expand else _arg("filters_in")
    nodes: list[dict[str, Any]] = [{"id": "x", "type": "Input"}]
    chain = ["x"]
    if expand:
        nodes += [_conv("expand_conv", width, 1, use_bias=False), _bn("expand_bn"),
                  {"id": "expand_activation", "type": "Activation", "params": {"activation": "swish"}}]
        chain += ["expand_conv", "expand_bn", "expand_activation"]
    nodes += [
        {"id": "dwconv", "type": "DepthwiseConv2D",
         "params": {"kernel_size": _arg("kernel_size"), "strides": 1 if residual else _arg("strides"),
                    "padding": "same", "use_bias": False}},
        _bn("bn"), {"id": "activation", "type": "Activation", "params": {"activation": "swish"}},
        {"id": "se_squeeze", "type": "GlobalAveragePooling2D", "params": {"keepdims": True}},
        _conv("se_reduce", _arg("squeeze"), 1, activation="swish"),
        _conv("se_expand", width, 1, activation="sigmoid"),
        {"id": "se_excite", "type": "Multiply"},
        _conv("project_conv", _arg("filters_in") if residual else _arg("filters_out"), 1, use_bias=False),
        _bn("project_bn"),
    ]
    edges = [*_chain(*chain, "dwconv", "bn", "activation", "se_squeeze", "se_reduce", "se_expand"),
             {"source": "activation", "target": "se_excite"},
             {"source": "se_expand", "target": "se_excite", "target_port": 1},
             *_chain("se_excite", "project_conv", "project_bn")]
    if residual:
        nodes += [{"id": "drop", "type": "Dropout", "params": {"rate": _arg("drop_rate"), "noise_shape": [None, 1, 1, 1]}},
                  {"id": "add", "type": "Add"}]
        edges += [*_chain("project_bn", "drop", "add"), {"source": "x", "target": "add", "target_port": 1},
                  {"source": "add", "target": "y"}]
    else:
        edges.append({"source": "project_bn", "target": "y"})
    nodes.append({"id": "y", "type": "Output"})
    kind = ("with the residual add (strides 1, filters_in = filters_out)" if residual else
            "without the residual add (the first block of a stage)")
    return {
        "title": "MBConv" + (" (residual)" if residual else "" if expand else " (no expansion)"),
        "description": "EfficientNet's mobile inverted bottleneck: "
                       + ("1×1 expansion, " if expand else "")
                       + "depthwise convolution, squeeze-and-excitation and 1×1 projection, with batch normalization "
                       f"and swish, {kind}; as keras.applications.efficientnet builds it.",
        "args": args,
        "nodes": nodes,
        "edges": edges,
        "example": {"inputs": [[16, 8, 8]], "args": {"filters_in": 16}},
    }


MBCONV = _mbconv(expand=True, residual=False)
MBCONV_RESIDUAL = _mbconv(expand=True, residual=True)
MBCONV_NO_EXPANSION = _mbconv(expand=False, residual=False)

TRANSFORMER_ENCODER = {
    "title": "Transformer encoder",
    "description": "The keras.io transformer block: multi-head self-attention and a two-layer feed-forward "
                   "network, each with dropout, a residual connection and layer normalization. Input (length, "
                   "embed_dim).",
    "args": {"embed_dim": _int(32, "Features per token (the input's last axis)."),
             "num_heads": _int(2, "Attention heads."),
             "ff_dim": _int(32, "Hidden units of the feed-forward network."),
             "rate": _float(0.1, "Dropout rate.")},
    "nodes": [
        {"id": "x", "type": "Input"},
        {"id": "attention", "type": "MultiHeadAttention",
         "params": {"num_heads": _arg("num_heads"), "key_dim": _arg("embed_dim")}},
        {"id": "dropout1", "type": "Dropout", "params": {"rate": _arg("rate")}},
        {"id": "add1", "type": "Add"},
        {"id": "norm1", "type": "LayerNormalization", "params": {"epsilon": 1e-6}},
        {"id": "ff1", "type": "Dense", "params": {"units": _arg("ff_dim"), "activation": "relu"}},
        {"id": "ff2", "type": "Dense", "params": {"units": _arg("embed_dim")}},
        {"id": "dropout2", "type": "Dropout", "params": {"rate": _arg("rate")}},
        {"id": "add2", "type": "Add"},
        {"id": "norm2", "type": "LayerNormalization", "params": {"epsilon": 1e-6}},
        {"id": "y", "type": "Output"},
    ],
    "edges": [{"source": "x", "target": "attention"}, {"source": "x", "target": "attention", "target_port": 1},
              *_chain("attention", "dropout1"),
              {"source": "x", "target": "add1"}, {"source": "dropout1", "target": "add1", "target_port": 1},
              *_chain("add1", "norm1", "ff1", "ff2", "dropout2"),
              {"source": "norm1", "target": "add2"}, {"source": "dropout2", "target": "add2", "target_port": 1},
              *_chain("add2", "norm2", "y")],
    "example": {"inputs": [[10, 32]], "args": {}},
}

LIBRARY: dict[str, dict[str, Any]] = {
    "residual": RESIDUAL,
    "bottleneck": BOTTLENECK,
    "bottleneck_identity": BOTTLENECK_IDENTITY,
    "inception": INCEPTION,
    "squeeze_excitation": SQUEEZE_EXCITATION,
    "depthwise_separable": DEPTHWISE_SEPARABLE,
    "mbconv": MBCONV,
    "mbconv_residual": MBCONV_RESIDUAL,
    "mbconv_no_expansion": MBCONV_NO_EXPANSION,
    "transformer_encoder": TRANSFORMER_ENCODER,
}

_META_KEYS = ("title", "example")


def block_definition(name: str) -> dict[str, Any]:
    """The entry as it goes into a document's ``blocks`` (without the library's own metadata)."""
    return {key: value for key, value in LIBRARY[name].items() if key not in _META_KEYS}


def example_graph(name: str) -> dict[str, Any]:
    """A graph that calls the block once on its example inputs: how the library checks each entry."""
    example = LIBRARY[name]["example"]
    nodes: list[dict[str, Any]] = []
    edges: list[dict[str, Any]] = []
    for port, shape in enumerate(example["inputs"]):
        nodes.append({"id": f"in{port}", "type": "Input", "params": {"shape": shape}})
        edges.append({"source": f"in{port}", "target": "call", "target_port": port})
    nodes += [{"id": "call", "type": "Block", "params": {"block": name, "args": example["args"]}},
              {"id": "out", "type": "Output", "params": {"loss": "mse"}}]
    edges.append({"source": "call", "target": "out"})
    return {"format": "layerloom.graph", "version": 1, "name": name, "nodes": nodes, "edges": edges,
            "blocks": {name: block_definition(name)}}


def library_issues(name: str) -> list[str]:
    """Why an entry cannot be offered (a layer this Layerloom lacks, or its example failing), or []."""
    from .compiler import analyze

    return [issue.message for issue in analyze(example_graph(name)).errors]


@cache
def library_json() -> list[dict[str, Any]]:
    """``GET /api/blocks``: the entries that work here, each ``{name, title, description, block, example}``."""
    out = []
    for name, entry in LIBRARY.items():
        if library_issues(name):
            continue
        out.append({"name": name, "title": entry["title"], "description": entry["description"],
                    "block": block_definition(name), "example": entry["example"]})
    return out
