"""Writes the large examples (keras.applications' architectures and others) from readable code.

Each function below follows the Keras 3 source of the same model (keras/src/applications/*.py)
step by step, with the same layer names, so the parity test (tests/unit/test_zoo_keras_parity.py)
can compare every one of our nodes with Keras's layer of the same name. Images are channels-first:
Keras's (224, 224, 3) is our [3, 224, 224].

    .venv/bin/python examples/generate_zoo.py          # rewrites examples/<name>.json
    .venv/bin/python examples/generate_zoo.py --check  # exits 1 if a committed file differs
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))
from zoo_builder import AUTO, NO_KERAS_LAYER, BlockDef, Graph, arg  # noqa: E402

EXAMPLES = Path(__file__).resolve().parent
USE_BLOCKS = True  # False inlines every call (the flat graph the blocks expand to)

IMAGE = [3, 224, 224]
CLASSES = 1000
HEAD = {"loss": "categorical_crossentropy", "loss_weight": 1.0, "metrics": ["accuracy", "top_k_accuracy"], "top_k": 5}


def _int(default: int | None, description: str) -> dict[str, Any]:
    spec: dict[str, Any] = {"type": "int", "description": description}
    if default is not None:
        spec["default"] = default
    return spec


def _float(default: float, description: str) -> dict[str, Any]:
    return {"type": "float", "default": default, "description": description}


def conv(filters: Any, kernel: Any, strides: Any = 1, padding: str = "valid", use_bias: bool = True,
         activation: str = "linear") -> dict[str, Any]:
    return {"filters": filters, "kernel_size": kernel, "strides": strides, "padding": padding,
            "activation": activation, "use_bias": use_bias}


def bn(epsilon: float = 1e-3, momentum: float = 0.99, **extra: Any) -> dict[str, Any]:
    return {"momentum": momentum, "epsilon": epsilon, **extra}


def act(name: str) -> dict[str, Any]:
    return {"activation": name}


def classifier(g: Graph, source: str, pool_keras: Any = "avg_pool") -> None:
    x = g.add("avg_pool", "GlobalAveragePooling2D", {}, source, keras=pool_keras)
    x = g.add("predictions", "Dense", {"units": CLASSES, "activation": "softmax"}, x)
    g.output("label", x, HEAD)


# ------------------------------------------------------------------------------------------ ResNet50

RESNET_EPS = 1.001e-5


def _resnet_block(shortcut: bool) -> BlockDef:
    """keras.applications.resnet's residual_block_v1, with (first of a stage) or without the 1×1
    projection shortcut."""
    b = BlockDef(
        "bottleneck" if shortcut else "bottleneck_identity",
        ("ResNet bottleneck with a projection shortcut: 1×1, 3×3 and 1×1 convolutions with batch "
         "normalization, added to a strided 1×1 projection of the input." if shortcut else
         "ResNet bottleneck with an identity shortcut: 1×1, 3×3 and 1×1 convolutions with batch "
         "normalization, added to the input (which has out_filters channels)."),
        {"filters": _int(64, "Channels of the 1×1 reduction and the 3×3 convolution."),
         "out_filters": _int(256, "Channels of the output: 4 × filters.")}
        | ({"strides": _int(1, "Stride of the first convolution and of the shortcut.")} if shortcut else {}),
    )
    x = b.input()
    strides = arg("strides") if shortcut else 1
    if shortcut:
        s = b.add("shortcut_conv", "Conv2D", conv(arg("out_filters"), 1, strides), x, keras="{prefix}_0_conv")
        s = b.add("shortcut_bn", "BatchNormalization", bn(RESNET_EPS), s, keras="{prefix}_0_bn")
    else:
        s = x
    y = b.add("conv1", "Conv2D", conv(arg("filters"), 1, strides), x, keras="{prefix}_1_conv")
    y = b.add("bn1", "BatchNormalization", bn(RESNET_EPS), y, keras="{prefix}_1_bn")
    y = b.add("relu1", "Activation", act("relu"), y, keras="{prefix}_1_relu")
    y = b.add("conv2", "Conv2D", conv(arg("filters"), 3, padding="same"), y, keras="{prefix}_2_conv")
    y = b.add("bn2", "BatchNormalization", bn(RESNET_EPS), y, keras="{prefix}_2_bn")
    y = b.add("relu2", "Activation", act("relu"), y, keras="{prefix}_2_relu")
    y = b.add("conv3", "Conv2D", conv(arg("out_filters"), 1), y, keras="{prefix}_3_conv")
    y = b.add("bn3", "BatchNormalization", bn(RESNET_EPS), y, keras="{prefix}_3_bn")
    y = b.add("add", "Add", {}, s, y, keras="{prefix}_add")
    y = b.add("out", "Activation", act("relu"), y, keras="{prefix}_out")
    b.output(y)
    return b


def resnet50(use_blocks: bool) -> Graph:
    g = Graph("ResNet50", "ResNet50 (He et al. 2015) as keras.applications.ResNet50 builds it, for 224×224 RGB "
              "images and 1,000 classes: a 7×7 stem, four stages of 3, 4, 6 and 3 bottleneck blocks "
              "(1×1 → 3×3 → 1×1 convolutions with a residual shortcut), global average pooling and a "
              "softmax classifier. 25,636,712 parameters, as Keras counts them.", use_blocks)
    first, identity = _resnet_block(True), _resnet_block(False)
    x = g.input("image", IMAGE)
    x = g.add("conv1_pad", "ZeroPadding2D", {"padding": [[3, 3], [3, 3]]}, x)
    x = g.add("conv1_conv", "Conv2D", conv(64, 7, 2), x)
    x = g.add("conv1_bn", "BatchNormalization", bn(RESNET_EPS), x)
    x = g.add("conv1_relu", "Activation", act("relu"), x)
    x = g.add("pool1_pad", "ZeroPadding2D", {"padding": [[1, 1], [1, 1]]}, x)
    x = g.add("pool1_pool", "MaxPooling2D", {"pool_size": 3, "strides": 2}, x)
    for stage, (filters, blocks, strides) in enumerate([(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)], start=2):
        x = g.call(f"conv{stage}_block1", first, {"filters": filters, "out_filters": 4 * filters, "strides": strides}, x)
        for i in range(2, blocks + 1):
            x = g.call(f"conv{stage}_block{i}", identity, {"filters": filters, "out_filters": 4 * filters}, x)
    classifier(g, x)
    return g


# ---------------------------------------------------------------------------------------- DenseNet121

def _densenet_conv_block() -> BlockDef:
    b = BlockDef("dense_layer", "DenseNet's conv_block: batch normalization, relu, a 1×1 bottleneck to "
                 "4 × growth_rate channels, batch normalization, relu, a 3×3 convolution to growth_rate "
                 "channels, concatenated to the input (the dense connection).",
                 {"growth_rate": _int(32, "Channels each layer adds."),
                  "bottleneck": _int(128, "Channels of the 1×1 bottleneck: 4 × growth_rate.")})
    x = b.input()
    y = b.add("bn0", "BatchNormalization", bn(RESNET_EPS), x, keras="{prefix}_0_bn")
    y = b.add("relu0", "Activation", act("relu"), y, keras="{prefix}_0_relu")
    y = b.add("conv1", "Conv2D", conv(arg("bottleneck"), 1, use_bias=False), y, keras="{prefix}_1_conv")
    y = b.add("bn1", "BatchNormalization", bn(RESNET_EPS), y, keras="{prefix}_1_bn")
    y = b.add("relu1", "Activation", act("relu"), y, keras="{prefix}_1_relu")
    y = b.add("conv2", "Conv2D", conv(arg("growth_rate"), 3, padding="same", use_bias=False), y, keras="{prefix}_2_conv")
    y = b.add("concat", "Concatenate", {"axis": 1}, x, y, keras="{prefix}_concat")
    b.output(y)
    return b


def _densenet_transition() -> BlockDef:
    b = BlockDef("transition", "DenseNet's transition_block: batch normalization, relu, a 1×1 convolution "
                 "that halves the channels, and 2×2 average pooling.",
                 {"filters": _int(128, "Channels after the 1×1 convolution: half the input's.")})
    x = b.input()
    y = b.add("bn", "BatchNormalization", bn(RESNET_EPS), x)
    y = b.add("relu", "Activation", act("relu"), y)
    y = b.add("conv", "Conv2D", conv(arg("filters"), 1, use_bias=False), y)
    y = b.add("pool", "AveragePooling2D", {"pool_size": 2, "strides": 2}, y)
    b.output(y)
    return b


def densenet121(use_blocks: bool) -> Graph:
    g = Graph("DenseNet121", "DenseNet121 (Huang et al. 2016) as keras.applications.DenseNet121 builds it, for "
              "224×224 RGB images and 1,000 classes: four dense blocks of 6, 12, 24 and 16 layers, where each "
              "layer's 32 new channels are concatenated to all before them, with transitions that halve the "
              "channels and the size in between. 8,062,504 parameters, as Keras counts them.", use_blocks)
    layer, transition = _densenet_conv_block(), _densenet_transition()
    x = g.input("image", IMAGE)
    x = g.add("conv1_pad", "ZeroPadding2D", {"padding": [[3, 3], [3, 3]]}, x, keras=AUTO)
    x = g.add("conv1_conv", "Conv2D", conv(64, 7, 2, use_bias=False), x)
    x = g.add("conv1_bn", "BatchNormalization", bn(RESNET_EPS), x)
    x = g.add("conv1_relu", "Activation", act("relu"), x)
    x = g.add("pool1_pad", "ZeroPadding2D", {"padding": [[1, 1], [1, 1]]}, x, keras=AUTO)
    x = g.add("pool1", "MaxPooling2D", {"pool_size": 3, "strides": 2}, x)
    channels = 64
    for stage, blocks in enumerate([6, 12, 24, 16], start=2):
        for i in range(1, blocks + 1):
            x = g.call(f"conv{stage}_block{i}", layer, {}, x)
            channels += 32
        if stage < 5:
            channels //= 2
            x = g.call(f"pool{stage}", transition, {"filters": channels}, x)
    x = g.add("bn", "BatchNormalization", bn(RESNET_EPS), x)
    x = g.add("relu", "Activation", act("relu"), x)
    classifier(g, x)
    return g


# ---------------------------------------------------------------------------------------- MobileNetV2

def _mobilenet_block(expand: bool, stride: int, residual: bool) -> BlockDef:
    """mobilenet_v2's _inverted_res_block; Keras picks its structure by ifs, so each structure is a block."""
    kind = ("inverted_residual" if expand else "inverted_residual_no_expansion") + ("_s2" if stride == 2 else "") \
        + ("_add" if residual else "")
    parts = (["a 1×1 expansion to `expanded` channels with batch normalization and ReLU6"] if expand else []) \
        + [("zero padding and a stride-2 " if stride == 2 else "a ") + "3×3 depthwise convolution with batch "
           "normalization and ReLU6", "a linear 1×1 projection to `filters` channels with batch normalization"] \
        + (["added to the input"] if residual else [])
    b = BlockDef(kind, "MobileNetV2's inverted residual block: " + ", ".join(parts) + ".",
                 ({"expanded": _int(96, "Channels after the expansion: 6 × the input's.")} if expand else {})
                 | {"filters": _int(24, "Channels of the output.")})
    x = b.input()
    y = x
    if expand:
        y = b.add("expand", "Conv2D", conv(arg("expanded"), 1, padding="same", use_bias=False), y)
        y = b.add("expand_BN", "BatchNormalization", bn(momentum=0.999), y)
        y = b.add("expand_relu", "ReLU", {"max_value": 6.0}, y)
    if stride == 2:
        y = b.add("pad", "ZeroPadding2D", {"padding": [[0, 1], [0, 1]]}, y)
    y = b.add("depthwise", "DepthwiseConv2D", {"kernel_size": 3, "strides": stride, "use_bias": False,
                                               "padding": "same" if stride == 1 else "valid"}, y)
    y = b.add("depthwise_BN", "BatchNormalization", bn(momentum=0.999), y)
    y = b.add("depthwise_relu", "ReLU", {"max_value": 6.0}, y)
    y = b.add("project", "Conv2D", conv(arg("filters"), 1, padding="same", use_bias=False), y)
    y = b.add("project_BN", "BatchNormalization", bn(momentum=0.999), y)
    if residual:
        y = b.add("add", "Add", {}, x, y)
    b.output(y)
    return b


def mobilenet_v2(use_blocks: bool) -> Graph:
    g = Graph("MobileNetV2", "MobileNetV2 (Sandler et al. 2018) as keras.applications.MobileNetV2 builds it "
              "(alpha 1.0), for 224×224 RGB images and 1,000 classes: 17 inverted residual blocks (1×1 "
              "expansion, 3×3 depthwise convolution, linear 1×1 projection, residual add where the shape "
              "allows), ReLU6 throughout. 3,538,984 parameters, as Keras counts them.", use_blocks)
    x = g.input("image", IMAGE)
    x = g.add("Conv1", "Conv2D", conv(32, 3, 2, padding="same", use_bias=False), x)
    x = g.add("bn_Conv1", "BatchNormalization", bn(momentum=0.999), x)
    x = g.add("Conv1_relu", "ReLU", {"max_value": 6.0}, x)
    x = g.call("expanded_conv", _mobilenet_block(False, 1, False), {"filters": 16}, x)
    channels = 16
    settings = [(24, 2, 1), (24, 1, 2), (32, 2, 3), (32, 1, 4), (32, 1, 5), (64, 2, 6), (64, 1, 7), (64, 1, 8),
                (64, 1, 9), (96, 1, 10), (96, 1, 11), (96, 1, 12), (160, 2, 13), (160, 1, 14), (160, 1, 15),
                (320, 1, 16)]
    for filters, stride, block_id in settings:
        residual = stride == 1 and channels == filters
        block = _mobilenet_block(True, stride, residual)
        x = g.call(f"block_{block_id}", block, {"expanded": 6 * channels, "filters": filters}, x)
        channels = filters
    x = g.add("Conv_1", "Conv2D", conv(1280, 1, use_bias=False), x)
    x = g.add("Conv_1_bn", "BatchNormalization", bn(momentum=0.999), x)
    x = g.add("out_relu", "ReLU", {"max_value": 6.0}, x)
    classifier(g, x, pool_keras=AUTO)
    return g


# ------------------------------------------------------------------------------------- EfficientNetB0

def _mbconv(expand: bool, stride: int, kernel: int, residual: bool) -> BlockDef:
    """efficientnet's ``block``: expansion when expand_ratio ≠ 1, zero padding when strided, the
    squeeze-and-excitation gate, and a dropped-out residual add when strides 1 and filters_in = filters_out."""
    name = "mbconv" + ("" if expand else "1") + f"_k{kernel}" + ("_s2" if stride == 2 else "") + ("_add" if residual else "")
    parts = (["1×1 expansion"] if expand else []) + [f"{kernel}×{kernel} depthwise convolution"
                                                      + (" (stride 2)" if stride == 2 else ""),
                                                      "squeeze-and-excitation", "1×1 projection"]
    b = BlockDef(name, "EfficientNet's MBConv block: " + ", ".join(parts) + ", with batch normalization and swish"
                 + (", and a residual add after per-sample dropout" if residual else "") + ".",
                 ({"expanded": _int(96, "Channels after the expansion: 6 × the input's.")} if expand else {})
                 | {"se_filters": _int(4, "Channels of the SE bottleneck: a quarter of the block's input."),
                    "filters": _int(24, "Channels of the output.")}
                 | ({"drop_rate": _float(0.0, "Per-sample dropout of the residual branch (drop connect).")}
                    if residual else {}))
    width = arg("expanded") if expand else arg("filters_in")
    if not expand:
        b.args = {"filters_in": _int(32, "Channels of the input.")} | b.args
    x = b.input()
    y = x
    if expand:
        y = b.add("expand_conv", "Conv2D", conv(width, 1, padding="same", use_bias=False), y, keras="{prefix}expand_conv")
        y = b.add("expand_bn", "BatchNormalization", bn(), y, keras="{prefix}expand_bn")
        y = b.add("expand_activation", "Activation", act("swish"), y, keras="{prefix}expand_activation")
    if stride == 2:
        pad = (kernel - 1) // 2
        y = b.add("dwconv_pad", "ZeroPadding2D", {"padding": [[pad - 1, pad], [pad - 1, pad]]}, y,
                  keras="{prefix}dwconv_pad")
    y = b.add("dwconv", "DepthwiseConv2D", {"kernel_size": kernel, "strides": stride, "use_bias": False,
                                            "padding": "valid" if stride == 2 else "same"}, y, keras="{prefix}dwconv")
    y = b.add("bn", "BatchNormalization", bn(), y, keras="{prefix}bn")
    y = b.add("activation", "Activation", act("swish"), y, keras="{prefix}activation")
    se = b.add("se_squeeze", "GlobalAveragePooling2D", {}, y, keras="{prefix}se_squeeze")
    se = b.add("se_reshape", "Reshape", {"target_shape": [width, 1, 1]}, se, keras="{prefix}se_reshape")
    se = b.add("se_reduce", "Conv2D", conv(arg("se_filters"), 1, padding="same", activation="swish"), se,
               keras="{prefix}se_reduce")
    se = b.add("se_expand", "Conv2D", conv(width, 1, padding="same", activation="sigmoid"), se, keras="{prefix}se_expand")
    y = b.add("se_excite", "Multiply", {}, y, se, keras="{prefix}se_excite")
    y = b.add("project_conv", "Conv2D", conv(arg("filters"), 1, padding="same", use_bias=False), y,
              keras="{prefix}project_conv")
    y = b.add("project_bn", "BatchNormalization", bn(), y, keras="{prefix}project_bn")
    if residual:
        y = b.add("drop", "Dropout", {"rate": arg("drop_rate"), "noise_shape": [None, 1, 1, 1]}, y, keras="{prefix}drop")
        y = b.add("add", "Add", {}, y, x, keras="{prefix}add")
    b.output(y)
    return b


EFFICIENTNET_B0 = [  # kernel, repeats, filters_in, filters_out, expand_ratio, strides (se_ratio 0.25 throughout)
    (3, 1, 32, 16, 1, 1), (3, 2, 16, 24, 6, 2), (5, 2, 24, 40, 6, 2), (3, 3, 40, 80, 6, 2),
    (5, 3, 80, 112, 6, 1), (5, 4, 112, 192, 6, 2), (3, 1, 192, 320, 6, 1),
]


def efficientnet_b0(use_blocks: bool) -> Graph:
    g = Graph("EfficientNetB0", "EfficientNetB0 (Tan & Le 2019) as keras.applications.EfficientNetB0 builds it, "
              "for 224×224 RGB images and 1,000 classes: its own preprocessing (rescaling to [0, 1] and a "
              "Normalization whose mean and variance are computed from the training split), a stem, 16 MBConv "
              "blocks (expansion, depthwise convolution, squeeze-and-excitation, projection, dropped-out "
              "residual) with swish, and a classifier after dropout. 5,330,571 parameters, as Keras counts them.",
              use_blocks)
    x = g.input("image", IMAGE)
    x = g.add("rescaling", "Rescaling", {"scale": 1.0 / 255.0}, x)
    x = g.add("normalization", "Normalization", {"axis": 1, "adapt": True}, x)
    x = g.add("stem_conv_pad", "ZeroPadding2D", {"padding": [[0, 1], [0, 1]]}, x)
    x = g.add("stem_conv", "Conv2D", conv(32, 3, 2, use_bias=False), x)
    x = g.add("stem_bn", "BatchNormalization", bn(), x)
    x = g.add("stem_activation", "Activation", act("swish"), x)
    total = sum(repeats for _, repeats, *_ in EFFICIENTNET_B0)
    b = 0
    for i, (kernel, repeats, filters_in, filters_out, expand_ratio, strides) in enumerate(EFFICIENTNET_B0):
        for j in range(repeats):
            if j > 0:
                strides, filters_in = 1, filters_out
            residual = strides == 1 and filters_in == filters_out
            block = _mbconv(expand_ratio != 1, strides, kernel, residual)
            args: dict[str, Any] = {"se_filters": max(1, int(filters_in * 0.25)), "filters": filters_out}
            if expand_ratio != 1:
                args["expanded"] = filters_in * expand_ratio
            else:
                args["filters_in"] = filters_in
            if residual:
                args["drop_rate"] = 0.2 * b / total
            prefix = f"block{i + 1}{chr(j + 97)}"
            x = g.call(prefix, block, args, x, prefix=prefix + "_")
            b += 1
    x = g.add("top_conv", "Conv2D", conv(1280, 1, padding="same", use_bias=False), x)
    x = g.add("top_bn", "BatchNormalization", bn(), x)
    x = g.add("top_activation", "Activation", act("swish"), x)
    x = g.add("avg_pool", "GlobalAveragePooling2D", {}, x)
    x = g.add("top_dropout", "Dropout", {"rate": 0.2}, x)
    x = g.add("predictions", "Dense", {"units": CLASSES, "activation": "softmax"}, x)
    g.output("label", x, HEAD)
    return g


# ------------------------------------------------------------------------------------------- Xception

def _xception_sep(b: BlockDef | Graph, nid: str, filters: Any, source: str, relu_before: bool, relu_after: bool = False,
                  keras_prefix: str = "{prefix}_") -> str:
    """Xception's repeated unit: (relu), 3×3 separable convolution without bias, batch normalization, (relu)."""
    top = isinstance(b, Graph)
    name = (lambda s: s) if top else (lambda s: keras_prefix + s)
    x = source
    if relu_before:
        x = b.add(f"{nid}_act", "Activation", act("relu"), x, keras=None if top else name(f"{nid}_act"))
    x = b.add(nid, "SeparableConv2D", {"filters": filters, "kernel_size": 3, "padding": "same", "use_bias": False}, x,
              keras=None if top else name(nid))
    x = b.add(f"{nid}_bn", "BatchNormalization", bn(), x, keras=None if top else name(f"{nid}_bn"))
    if relu_after:
        x = b.add(f"{nid}_act", "Activation", act("relu"), x, keras=None if top else name(f"{nid}_act"))
    return x


def _xception_down(first: bool) -> BlockDef:
    """Blocks 2-4 and 13: two separable convolutions and a stride-2 max-pool, added to a strided 1×1
    projection of the input (Keras leaves the projection's layers unnamed)."""
    b = BlockDef("xception_down" + ("_first" if first else ""),
                 ("Xception's entry-flow block: " + ("" if first else "relu, ") + "separable convolution to `filters1`, "
                  "batch normalization, relu, separable convolution to `filters2`, batch normalization and a stride-2 "
                  "max-pool, added to a strided 1×1 projection of the input."),
                 {"filters1": _int(128, "Channels of the first separable convolution."),
                  "filters2": _int(128, "Channels of the second separable convolution and of the output.")})
    x = b.input()
    r = b.add("residual_conv", "Conv2D", conv(arg("filters2"), 1, 2, padding="same", use_bias=False), x, keras=AUTO)
    r = b.add("residual_bn", "BatchNormalization", bn(), r, keras=AUTO)
    y = _xception_sep(b, "sepconv1", arg("filters1"), x, relu_before=not first)
    y = _xception_sep(b, "sepconv2", arg("filters2"), y, relu_before=True)
    y = b.add("pool", "MaxPooling2D", {"pool_size": 3, "strides": 2, "padding": "same"}, y)
    y = b.add("add", "Add", {}, y, r, keras=AUTO)
    b.output(y)
    return b


def _xception_middle() -> BlockDef:
    b = BlockDef("xception_middle", "Xception's middle-flow block: three times relu, 3×3 separable convolution and "
                 "batch normalization, added to the input.", {"filters": _int(728, "Channels throughout.")})
    x = b.input()
    y = x
    for i in (1, 2, 3):
        y = _xception_sep(b, f"sepconv{i}", arg("filters"), y, relu_before=True)
    y = b.add("add", "Add", {}, y, x, keras=AUTO)
    b.output(y)
    return b


def xception(use_blocks: bool) -> Graph:
    g = Graph("Xception", "Xception (Chollet 2017) as keras.applications.Xception builds it, for 224×224 RGB images "
              "and 1,000 classes: an entry flow of strided convolutions, a middle flow of eight residual blocks of "
              "depthwise-separable convolutions, and an exit flow. 22,910,480 parameters, as Keras counts them.",
              use_blocks)
    x = g.input("image", IMAGE)
    x = g.add("block1_conv1", "Conv2D", conv(32, 3, 2, use_bias=False), x)
    x = g.add("block1_conv1_bn", "BatchNormalization", bn(), x)
    x = g.add("block1_conv1_act", "Activation", act("relu"), x)
    x = g.add("block1_conv2", "Conv2D", conv(64, 3, use_bias=False), x)
    x = g.add("block1_conv2_bn", "BatchNormalization", bn(), x)
    x = g.add("block1_conv2_act", "Activation", act("relu"), x)
    x = g.call("block2", _xception_down(True), {"filters1": 128, "filters2": 128}, x)
    down = _xception_down(False)
    x = g.call("block3", down, {"filters1": 256, "filters2": 256}, x)
    x = g.call("block4", down, {"filters1": 728, "filters2": 728}, x)
    middle = _xception_middle()
    for i in range(5, 13):
        x = g.call(f"block{i}", middle, {"filters": 728}, x)
    x = g.call("block13", down, {"filters1": 728, "filters2": 1024}, x)
    x = _xception_sep(g, "block14_sepconv1", 1536, x, relu_before=False, relu_after=True)
    x = _xception_sep(g, "block14_sepconv2", 2048, x, relu_before=False, relu_after=True)
    classifier(g, x)
    return g


# ---------------------------------------------------------------------------------------- InceptionV3

def _conv_bn(b: BlockDef | Graph, nid: str, filters: int, kernel: tuple[int, int], source: str,
             strides: int = 1, padding: str = "same") -> str:
    """inception_v3's conv2d_bn: convolution without bias, batch normalization without scale, relu;
    Keras leaves all three unnamed."""
    x = b.add(nid, "Conv2D", conv(filters, list(kernel), strides, padding, use_bias=False), source, keras=AUTO)
    x = b.add(f"{nid}_bn", "BatchNormalization", bn(scale=False), x, keras=AUTO)
    return b.add(f"{nid}_relu", "Activation", act("relu"), x, keras=AUTO)


def _inception_a() -> BlockDef:
    b = BlockDef("inception_a", "InceptionV3's 35×35 module (mixed0-2): 1×1; 1×1 → 5×5; 1×1 → 3×3 → 3×3; and 3×3 "
                 "average pooling → 1×1, concatenated.", {"pool_filters": _int(64, "Channels of the pooled branch.")})
    x = b.input()
    b1 = _conv_bn(b, "b1x1", 64, (1, 1), x)
    b5 = _conv_bn(b, "b5x5_reduce", 48, (1, 1), x)
    b5 = _conv_bn(b, "b5x5", 64, (5, 5), b5)
    b3 = _conv_bn(b, "b3x3dbl_reduce", 64, (1, 1), x)
    b3 = _conv_bn(b, "b3x3dbl_1", 96, (3, 3), b3)
    b3 = _conv_bn(b, "b3x3dbl_2", 96, (3, 3), b3)
    bp = b.add("pool", "AveragePooling2D", {"pool_size": 3, "strides": 1, "padding": "same"}, x, keras=AUTO)
    bp = b.add("pool_proj", "Conv2D", conv(arg("pool_filters"), [1, 1], use_bias=False, padding="same"), bp, keras=AUTO)
    bp = b.add("pool_proj_bn", "BatchNormalization", bn(scale=False), bp, keras=AUTO)
    bp = b.add("pool_proj_relu", "Activation", act("relu"), bp, keras=AUTO)
    y = b.add("concat", "Concatenate", {"axis": 1}, b1, b5, b3, bp, keras="{prefix}")
    b.output(y)
    return b


def _inception_c() -> BlockDef:
    b = BlockDef("inception_c", "InceptionV3's 17×17 module (mixed4-7) with factorized 7×7 convolutions: 1×1; "
                 "1×1 → 1×7 → 7×1; 1×1 → 7×1 → 1×7 → 7×1 → 1×7; and average pooling → 1×1, concatenated.",
                 {"width": _int(128, "Channels inside the 7×7 branches.")})
    x = b.input()
    w = arg("width")
    b1 = _conv_bn(b, "b1x1", 192, (1, 1), x)
    b7 = _conv_bn(b, "b7x7_1", w, (1, 1), x)
    b7 = _conv_bn(b, "b7x7_2", w, (1, 7), b7)
    b7 = _conv_bn(b, "b7x7_3", 192, (7, 1), b7)
    bd = _conv_bn(b, "b7x7dbl_1", w, (1, 1), x)
    bd = _conv_bn(b, "b7x7dbl_2", w, (7, 1), bd)
    bd = _conv_bn(b, "b7x7dbl_3", w, (1, 7), bd)
    bd = _conv_bn(b, "b7x7dbl_4", w, (7, 1), bd)
    bd = _conv_bn(b, "b7x7dbl_5", 192, (1, 7), bd)
    bp = b.add("pool", "AveragePooling2D", {"pool_size": 3, "strides": 1, "padding": "same"}, x, keras=AUTO)
    bp = _conv_bn(b, "pool_proj", 192, (1, 1), bp)
    y = b.add("concat", "Concatenate", {"axis": 1}, b1, b7, bd, bp, keras="{prefix}")
    b.output(y)
    return b


def _inception_e() -> BlockDef:
    b = BlockDef("inception_e", "InceptionV3's 8×8 module (mixed9-10) with expanded filter banks: 1×1; 1×1 → "
                 "(1×3 ‖ 3×1); 1×1 → 3×3 → (1×3 ‖ 3×1); and average pooling → 1×1, concatenated.", {})
    x = b.input()
    b1 = _conv_bn(b, "b1x1", 320, (1, 1), x)
    b3 = _conv_bn(b, "b3x3", 384, (1, 1), x)
    b3a = _conv_bn(b, "b3x3_1", 384, (1, 3), b3)
    b3b = _conv_bn(b, "b3x3_2", 384, (3, 1), b3)
    b3 = b.add("b3x3_concat", "Concatenate", {"axis": 1}, b3a, b3b, keras="{split}")
    bd = _conv_bn(b, "b3x3dbl_reduce", 448, (1, 1), x)
    bd = _conv_bn(b, "b3x3dbl", 384, (3, 3), bd)
    bda = _conv_bn(b, "b3x3dbl_1", 384, (1, 3), bd)
    bdb = _conv_bn(b, "b3x3dbl_2", 384, (3, 1), bd)
    bd = b.add("b3x3dbl_concat", "Concatenate", {"axis": 1}, bda, bdb, keras=AUTO)
    bp = b.add("pool", "AveragePooling2D", {"pool_size": 3, "strides": 1, "padding": "same"}, x, keras=AUTO)
    bp = _conv_bn(b, "pool_proj", 192, (1, 1), bp)
    y = b.add("concat", "Concatenate", {"axis": 1}, b1, b3, bd, bp, keras="{prefix}")
    b.output(y)
    return b


def _inception_reduce_a() -> BlockDef:
    b = BlockDef("inception_reduction_a", "InceptionV3's grid reduction to 17×17 (mixed3): a stride-2 3×3; 1×1 → "
                 "3×3 → stride-2 3×3; and stride-2 max pooling, concatenated.", {})
    x = b.input()
    b3 = _conv_bn(b, "b3x3", 384, (3, 3), x, strides=2, padding="valid")
    bd = _conv_bn(b, "b3x3dbl_1", 64, (1, 1), x)
    bd = _conv_bn(b, "b3x3dbl_2", 96, (3, 3), bd)
    bd = _conv_bn(b, "b3x3dbl_3", 96, (3, 3), bd, strides=2, padding="valid")
    bp = b.add("pool", "MaxPooling2D", {"pool_size": 3, "strides": 2}, x, keras=AUTO)
    y = b.add("concat", "Concatenate", {"axis": 1}, b3, bd, bp, keras="{prefix}")
    b.output(y)
    return b


def _inception_reduce_b() -> BlockDef:
    b = BlockDef("inception_reduction_b", "InceptionV3's grid reduction to 8×8 (mixed8): 1×1 → stride-2 3×3; 1×1 → "
                 "1×7 → 7×1 → stride-2 3×3; and stride-2 max pooling, concatenated.", {})
    x = b.input()
    b3 = _conv_bn(b, "b3x3_1", 192, (1, 1), x)
    b3 = _conv_bn(b, "b3x3_2", 320, (3, 3), b3, strides=2, padding="valid")
    b7 = _conv_bn(b, "b7x7x3_1", 192, (1, 1), x)
    b7 = _conv_bn(b, "b7x7x3_2", 192, (1, 7), b7)
    b7 = _conv_bn(b, "b7x7x3_3", 192, (7, 1), b7)
    b7 = _conv_bn(b, "b7x7x3_4", 192, (3, 3), b7, strides=2, padding="valid")
    bp = b.add("pool", "MaxPooling2D", {"pool_size": 3, "strides": 2}, x, keras=AUTO)
    y = b.add("concat", "Concatenate", {"axis": 1}, b3, b7, bp, keras="{prefix}")
    b.output(y)
    return b


def inception_v3(use_blocks: bool) -> Graph:
    g = Graph("InceptionV3", "InceptionV3 (Szegedy et al. 2015) as keras.applications.InceptionV3 builds it, for "
              "224×224 RGB images and 1,000 classes: a convolutional stem, then inception modules at three grid "
              "sizes (35×35, 17×17 with factorized 7×7 convolutions, 8×8 with expanded filter banks) joined by "
              "grid reductions. 23,851,784 parameters, as Keras counts them.", use_blocks)
    x = g.input("image", IMAGE)
    x = _conv_bn(g, "stem1", 32, (3, 3), x, strides=2, padding="valid")
    x = _conv_bn(g, "stem2", 32, (3, 3), x, padding="valid")
    x = _conv_bn(g, "stem3", 64, (3, 3), x)
    x = g.add("stem_pool1", "MaxPooling2D", {"pool_size": 3, "strides": 2}, x, keras=AUTO)
    x = _conv_bn(g, "stem4", 80, (1, 1), x, padding="valid")
    x = _conv_bn(g, "stem5", 192, (3, 3), x, padding="valid")
    x = g.add("stem_pool2", "MaxPooling2D", {"pool_size": 3, "strides": 2}, x, keras=AUTO)
    a = _inception_a()
    for i, pool_filters in enumerate([32, 64, 64]):
        x = g.call(f"mixed{i}", a, {"pool_filters": pool_filters}, x)
    x = g.call("mixed3", _inception_reduce_a(), {}, x)
    c = _inception_c()
    for i, width in enumerate([128, 160, 160, 192], start=4):
        x = g.call(f"mixed{i}", c, {"width": width}, x)
    x = g.call("mixed8", _inception_reduce_b(), {}, x)
    e = _inception_e()
    for i in range(2):
        x = g.call(f"mixed{9 + i}", e, {}, x, split=f"mixed9_{i}")
    classifier(g, x)
    return g


# ------------------------------------------------------------------------------- squeeze-and-excitation

def _conv_se_stage() -> BlockDef:
    b = BlockDef("conv_se", "A 3×3 convolution with batch normalization and relu, whose channels are then "
                 "rescaled by a squeeze-and-excitation gate (global average pooling kept as (C, 1, 1), a 1×1 "
                 "reduction with relu, a 1×1 expansion with sigmoid, multiplied into the (C, H, W) map), "
                 "then 2×2 max pooling.",
                 {"filters": _int(32, "Channels of the convolution and of the gate."),
                  "squeeze": _int(8, "Channels of the gate's bottleneck (filters / 4).")})
    x = b.input()
    y = b.add("conv", "Conv2D", conv(arg("filters"), 3, padding="same", use_bias=False), x)
    y = b.add("bn", "BatchNormalization", bn(), y)
    y = b.add("relu", "Activation", act("relu"), y)
    se = b.add("se_squeeze", "GlobalAveragePooling2D", {"keepdims": True}, y)
    se = b.add("se_reduce", "Conv2D", conv(arg("squeeze"), 1, activation="relu"), se)
    se = b.add("se_expand", "Conv2D", conv(arg("filters"), 1, activation="sigmoid"), se)
    y = b.add("se_excite", "Multiply", {}, y, se)
    y = b.add("pool", "MaxPooling2D", {"pool_size": 2}, y)
    b.output(y)
    return b


def se_cnn(use_blocks: bool) -> Graph:
    g = Graph("se-cnn", "A small squeeze-and-excitation CNN (Hu et al. 2017) for 32×32 RGB images and 10 classes "
              "(CIFAR-10 sized): three stages of convolution, batch normalization and relu, each rescaled "
              "channel by channel by a learned gate, then pooling, dropout and a softmax classifier.", use_blocks)
    x = g.input("image", [3, 32, 32])
    stage = _conv_se_stage()
    for i, filters in enumerate([32, 64, 128], start=1):
        x = g.call(f"stage{i}", stage, {"filters": filters, "squeeze": filters // 4}, x)
    x = g.add("avg_pool", "GlobalAveragePooling2D", {}, x)
    x = g.add("dropout", "Dropout", {"rate": 0.3}, x)
    x = g.add("predictions", "Dense", {"units": 10, "activation": "softmax"}, x)
    g.output("label", x, {"loss": "categorical_crossentropy", "loss_weight": 1.0, "metrics": ["accuracy"]})
    return g


# ------------------------------------------------------------------------- transformer text classifier

def _transformer_block() -> BlockDef:
    b = BlockDef("transformer_encoder", "The keras.io transformer block: multi-head self-attention and a two-layer "
                 "feed-forward network, each with dropout, a residual connection and layer normalization. Input "
                 "(length, embed_dim).",
                 {"embed_dim": _int(32, "Features per token (the input's last axis)."),
                  "num_heads": _int(2, "Attention heads."),
                  "ff_dim": _int(32, "Hidden units of the feed-forward network."),
                  "rate": _float(0.1, "Dropout rate.")})
    x = b.input()
    y = b.add("attention", "MultiHeadAttention", {"num_heads": arg("num_heads"), "key_dim": arg("embed_dim")}, x, x)
    y = b.add("dropout1", "Dropout", {"rate": arg("rate")}, y)
    y = b.add("add1", "Add", {}, x, y)
    out1 = b.add("norm1", "LayerNormalization", {"epsilon": 1e-6}, y)
    y = b.add("ff1", "Dense", {"units": arg("ff_dim"), "activation": "relu"}, out1)
    y = b.add("ff2", "Dense", {"units": arg("embed_dim")}, y)
    y = b.add("dropout2", "Dropout", {"rate": arg("rate")}, y)
    y = b.add("add2", "Add", {}, out1, y)
    y = b.add("norm2", "LayerNormalization", {"epsilon": 1e-6}, y)
    b.output(y)
    return b


def transformer_text_classifier(use_blocks: bool) -> Graph:
    g = Graph("transformer-text-classifier", "keras.io's 'Text classification with Transformer': reviews as 200 "
              "token ids (a vocabulary of 20,000), a token-and-position embedding (an Embedding plus a learned "
              "PositionEmbedding), one transformer block (2-head self-attention, feed-forward network, residuals "
              "and layer normalization), average pooling over the sequence and two Dense layers with dropout, "
              "for 2 classes. 657,758 parameters, as Keras counts them.", use_blocks)
    x = g.input("tokens", [200], dtype="int64")
    tokens = g.add("token_emb", "Embedding", {"input_dim": 20_000, "output_dim": 32}, x)
    positions = g.add("position_emb", "PositionEmbedding", {"sequence_length": 200}, tokens)
    x = g.add("embedding", "Add", {}, tokens, positions)
    x = g.call("transformer", _transformer_block(), {"embed_dim": 32, "num_heads": 2, "ff_dim": 32, "rate": 0.1}, x)
    # Our 1-D pooling takes (channels, length) like our images; Keras's pools a (length, features) sequence.
    x = g.add("to_channels", "Permute", {"dims": [2, 1]}, x, keras=NO_KERAS_LAYER)
    x = g.add("avg_pool", "GlobalAveragePooling1D", {}, x)
    x = g.add("dropout1", "Dropout", {"rate": 0.1}, x)
    x = g.add("hidden", "Dense", {"units": 20, "activation": "relu"}, x)
    x = g.add("dropout2", "Dropout", {"rate": 0.1}, x)
    x = g.add("predictions", "Dense", {"units": 2, "activation": "softmax"}, x)
    g.output("label", x, {"loss": "categorical_crossentropy", "loss_weight": 1.0, "metrics": ["accuracy"]})
    return g


# ---------------------------------------------------------------------------------------- registry

MODELS: dict[str, Callable[[bool], Graph]] = {
    "resnet50": resnet50,
    "densenet121": densenet121,
    "mobilenet_v2": mobilenet_v2,
    "efficientnet_b0": efficientnet_b0,
    "xception": xception,
    "inception_v3": inception_v3,
    "se_cnn": se_cnn,
    "transformer_text_classifier": transformer_text_classifier,
}


def render(doc: dict[str, Any]) -> str:
    """One node, edge or layout entry per line: diffs stay readable."""
    lines = ["{"]
    keys = list(doc)
    for i, key in enumerate(keys):
        comma = "," if i < len(keys) - 1 else ""
        value = doc[key]
        if key in ("nodes", "edges") and value:
            inner = ",\n".join("    " + json.dumps(item, ensure_ascii=False) for item in value)
            lines.append(f'  "{key}": [\n{inner}\n  ]{comma}')
        elif key in ("layout", "blocks") and value:
            inner = ",\n".join(f"    {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}" for k, v in value.items())
            lines.append(f'  "{key}": {{\n{inner}\n  }}{comma}')
        else:
            lines.append(f"  {json.dumps(key)}: {json.dumps(value, ensure_ascii=False)}{comma}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def generate(use_blocks: bool = USE_BLOCKS) -> dict[str, tuple[str, dict[str, str]]]:
    """Every generated example: file stem -> (file text, our node id -> Keras layer name)."""
    out = {}
    for stem, build in MODELS.items():
        graph = build(use_blocks)
        out[stem] = (render(graph.document()), graph.keras_names)
    return out


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for stem, (text, _) in generate().items():
        path = EXAMPLES / f"{stem}.json"
        if check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(path.name)
        else:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.relative_to(EXAMPLES.parent)}")
    if stale:
        print("out of date (run examples/generate_zoo.py): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
