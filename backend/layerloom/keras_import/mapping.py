"""The mapping table: each Keras layer class, and each Keras 3 operation (``x + y``, ``keras.ops.mean``),
to Layerloom nodes, with how its saved arrays become our weights.

A converter gets a ``Converter`` (context.py) and the call's input tensors, and returns the output
tensor(s). It refuses what Layerloom cannot express, naming the config key and the closest construct,
and never guesses silently.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .config import Ref
from ..graph import get_layer
from .context import Converter, LayerVars
from .layout import Tensor, our_axis, resolve_axis

LayerConverter = Callable[[Converter, list[Tensor]], Tensor]
LAYERS: dict[str, LayerConverter] = {}
OPERATIONS: dict[str, LayerConverter] = {}

# Keras classes with no Layerloom counterpart yet, and what to use instead.
SUGGESTIONS = {
    "Lambda": "Lambda layers are saved as Python bytecode, which is never loaded. Rewrite it as a Layerloom "
              "Lambda expression (e.g. 'x * sigmoid(x)'), or use keras.ops arithmetic in the model, which is imported.",
    "TFOpLambda": "a Keras 2 TensorFlow op; rebuild the model in Keras 3 with keras.ops, or use a Lambda expression.",
    "AlphaDropout": "Dropout.",
    "TextVectorization": "tokenize the text before upload and start the model at an integer Input + Embedding.",
    "StringLookup": "an integer Input + Embedding.", "IntegerLookup": "an integer Input + Embedding.",
    "Resizing": "resize images when uploading the dataset (image_size).",
    "ConvLSTM2D": "Conv2D followed by LSTM over a Reshape.",
}


def layer(*names: str) -> Callable[[LayerConverter], LayerConverter]:
    def register(fn: LayerConverter) -> LayerConverter:
        for name in names:
            LAYERS[name] = fn
        return fn
    return register


def _ints(value: Any, dims: int) -> int | list[int]:
    """Keras stores (3, 3) or [3]: one int when all equal (or 1-D), else a list."""
    values = [int(v) for v in value] if isinstance(value, (list, tuple)) else [int(value)] * dims
    if dims == 1 or all(v == values[0] for v in values):
        return values[0]
    return values


def _data_format_cf(cx: Converter) -> bool:
    """Whether the layer works on a channels-last Keras tensor (the default), i.e. our cf layout."""
    return cx.expect("data_format", ("channels_last", "channels_first"), "channels_last") == "channels_last"


def _bias_rules(use_bias: bool, kernel_fn: Callable[[np.ndarray], np.ndarray]):
    def rule(v: LayerVars) -> dict[str, np.ndarray]:
        arrays = v.own()
        out = {"weight": kernel_fn(arrays[0])}
        if use_bias:
            out["bias"] = arrays[1]
        return out
    return rule


# ---- core ---------------------------------------------------------------------------------


@layer("Dense")
def dense(cx, inputs):
    x = cx.b.keras_order(inputs[0])
    use_bias = bool(cx.cfg("use_bias", True))
    out = cx.main("Dense", {"units": int(cx.cfg("units")), "activation": cx.activation(), "use_bias": use_bias}, [x])
    cx.weights(_bias_rules(use_bias, lambda k: k.T))
    return out


@layer("Activation")
def activation(cx, inputs):
    name = cx.activation()
    x = inputs[0]
    if name in ("softmax", "log_softmax"):  # over the last axis: Keras's order
        x = cx.b.keras_order(x)
    return cx.main("Activation", {"activation": name}, [x], cf=x.cf)


@layer("ReLU")
def relu(cx, inputs):
    params = {"max_value": cx.cfg("max_value"), "negative_slope": float(cx.cfg("negative_slope", 0.0) or 0.0),
              "threshold": float(cx.cfg("threshold", 0.0) or 0.0)}
    if params["max_value"] is not None:
        params["max_value"] = float(params["max_value"])
    return cx.main("ReLU", params, [inputs[0]], cf=inputs[0].cf)


@layer("LeakyReLU")
def leaky_relu(cx, inputs):
    slope = float(cx.cfg("negative_slope", cx.cfg("alpha", 0.3)))
    return cx.main("LeakyReLU", {"negative_slope": slope}, [inputs[0]], cf=inputs[0].cf)


@layer("ELU")
def elu(cx, inputs):
    return cx.main("ELU", {"alpha": float(cx.cfg("alpha", 1.0))}, [inputs[0]], cf=inputs[0].cf)


@layer("Softmax")
def softmax(cx, inputs):
    x = inputs[0]
    axis = cx.cfg("axis", -1)
    if isinstance(axis, list):
        if len(axis) != 1:
            cx.refuse("axis", f"softmax over several axes {axis} is not supported.", "Softmax over one axis.")
            return x
        axis = axis[0]
    rank = cx.b.rank(x)
    resolved = resolve_axis(int(axis), rank)
    if resolved is None:
        cx.refuse("axis", f"axis {axis} is out of range.")
        return x
    return cx.main("Softmax", {"axis": our_axis(resolved, rank, x.cf)}, [x], cf=x.cf)


@layer("PReLU")
def prelu(cx, inputs):
    # alpha has the input's per-sample shape (1 on shared axes): Keras's axis order, so no Permute issue.
    x = cx.b.keras_order(inputs[0])
    shared = cx.cfg("shared_axes")
    out = cx.main("PReLU", {"shared_axes": [int(a) for a in shared] if shared else None}, [x])
    cx.weights(lambda v: {"weight": v.own()[0]})
    return out


@layer("SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D")
def spatial_dropout(cx, inputs):
    x = cx.b.channels_first(inputs[0])  # drops whole channels: ours are on axis 1
    return cx.main(cx.spec.class_name, {"rate": float(cx.cfg("rate", 0.5))}, [x], cf=x.cf)


@layer("GaussianNoise")
def gaussian_noise(cx, inputs):
    return cx.main("GaussianNoise", {"stddev": float(cx.cfg("stddev"))}, [inputs[0]], cf=inputs[0].cf)


@layer("GaussianDropout")
def gaussian_dropout(cx, inputs):
    return cx.main("GaussianDropout", {"rate": float(cx.cfg("rate"))}, [inputs[0]], cf=inputs[0].cf)


@layer("Dropout")
def dropout(cx, inputs):
    noise_shape = cx.cfg("noise_shape")
    x = inputs[0] if noise_shape is None else cx.b.keras_order(inputs[0])  # noise_shape is in Keras's order
    params: dict[str, Any] = {"rate": float(cx.cfg("rate", 0.5))}
    if noise_shape is not None:
        params["noise_shape"] = list(noise_shape)
    return cx.main("Dropout", params, [x], cf=x.cf)


@layer("ActivityRegularization")
def activity_regularization(cx, inputs):
    params = {"l1": float(cx.cfg("l1", 0.0)), "l2": float(cx.cfg("l2", 0.0))}
    return cx.main("ActivityRegularization", params, [inputs[0]], cf=inputs[0].cf)


@layer("Flatten")
def flatten(cx, inputs):
    # Keras flattens channels-last: a Permute back to Keras's order first keeps its feature order, so
    # the Dense after it takes Keras's weights unchanged.
    cx.expect("data_format", ("channels_last", None), "channels_last", "Flatten (channels_last).")
    return cx.main("Flatten", {}, [cx.b.keras_order(inputs[0])])


@layer("Reshape")
def reshape(cx, inputs):
    target = [int(d) for d in cx.cfg("target_shape")]
    return cx.main("Reshape", {"target_shape": target}, [cx.b.keras_order(inputs[0])])


@layer("Permute")
def permute(cx, inputs):
    return cx.main("Permute", {"dims": [int(d) for d in cx.cfg("dims")]}, [cx.b.keras_order(inputs[0])])


@layer("RepeatVector")
def repeat_vector(cx, inputs):
    return cx.main("RepeatVector", {"n": int(cx.cfg("n"))}, [cx.b.keras_order(inputs[0])])


@layer("Embedding")
def embedding(cx, inputs):
    params = {"input_dim": int(cx.cfg("input_dim")), "output_dim": int(cx.cfg("output_dim"))}
    if cx.cfg("mask_zero"):
        if cx.supports_param("Embedding", "mask_zero"):
            params["mask_zero"] = True
        else:
            cx.refuse("mask_zero", "masks are not supported.", "pad sequences and train without mask_zero.")
    out = cx.main("Embedding", params, [cx.b.keras_order(inputs[0])])
    cx.weights(lambda v: {"weight": v.own()[0]})
    return out


# ---- convolution and pooling --------------------------------------------------------------


def _conv(cx, inputs, type_: str, dims: int) -> Tensor:
    groups = int(cx.cfg("groups", 1) or 1)
    if groups != 1 and not cx.supports_param(type_, "groups"):
        cx.refuse("groups", f"groups={groups} is not supported by this Layerloom.", f"{type_} with groups 1.")
    padding = cx.expect("padding", ("valid", "same"), "valid", "ZeroPadding before a 'valid' convolution.")
    cf = _data_format_cf(cx)
    x = cx.b.channels_first(inputs[0]) if cf else cx.b.keras_order(inputs[0])
    use_bias = bool(cx.cfg("use_bias", True))
    params = {"filters": int(cx.cfg("filters")), "kernel_size": _ints(cx.cfg("kernel_size"), dims),
              "strides": _ints(cx.cfg("strides", 1), dims), "padding": padding,
              "dilation_rate": _ints(cx.cfg("dilation_rate", 1), dims), "activation": cx.activation(),
              "use_bias": use_bias}
    if groups != 1:
        params["groups"] = groups
    out = cx.main(type_, params, [x], cf=cf)
    # Keras: (*kernel, in / groups, out); PyTorch: (out, in / groups, *kernel).
    order = (dims + 1, dims, *range(dims))
    cx.weights(_bias_rules(use_bias, lambda k: k.transpose(order)))
    return out


@layer("Conv1D", "Convolution1D")
def conv1d(cx, inputs):
    return _conv(cx, inputs, "Conv1D", 1)


@layer("Conv2D", "Convolution2D")
def conv2d(cx, inputs):
    return _conv(cx, inputs, "Conv2D", 2)


def _depthwise_kernel(kernel: np.ndarray) -> np.ndarray:
    """Keras (*k, in, multiplier) -> PyTorch grouped (in * multiplier, 1, *k); output channel c·m + j."""
    dims = kernel.ndim - 2
    channels, multiplier = kernel.shape[-2:]
    moved = np.moveaxis(kernel, (dims, dims + 1), (0, 1))  # (in, multiplier, *k)
    return np.ascontiguousarray(moved.reshape(channels * multiplier, 1, *kernel.shape[:dims]))


def _depthwise(cx, inputs, type_: str, dims: int, separable: bool) -> Tensor:
    if not cx.has_type(type_, "Conv2D (or a Lambda-free grouped convolution once available)."):
        return inputs[0]
    padding = cx.expect("padding", ("valid", "same"), "valid")
    cf = _data_format_cf(cx)
    x = cx.b.channels_first(inputs[0]) if cf else cx.b.keras_order(inputs[0])
    use_bias = bool(cx.cfg("use_bias", True))
    params = {"kernel_size": _ints(cx.cfg("kernel_size"), dims), "strides": _ints(cx.cfg("strides", 1), dims),
              "padding": padding, "dilation_rate": _ints(cx.cfg("dilation_rate", 1), dims),
              "depth_multiplier": int(cx.cfg("depth_multiplier", 1)), "activation": cx.activation(), "use_bias": use_bias}
    if separable:
        params["filters"] = int(cx.cfg("filters"))
    out = cx.main(type_, params, [x], cf=cf)

    def rule(v: LayerVars) -> dict[str, np.ndarray]:
        arrays = v.own()
        if not separable:
            return {"weight": _depthwise_kernel(arrays[0]), **({"bias": arrays[1]} if use_bias else {})}
        pointwise = arrays[1].reshape(arrays[1].shape[-2:]).T.reshape(arrays[1].shape[-1], arrays[1].shape[-2], *(1,) * dims)
        named = {"depthwise.weight": _depthwise_kernel(arrays[0]), "pointwise.weight": np.ascontiguousarray(pointwise)}
        return {**named, **({"pointwise.bias": arrays[2]} if use_bias else {})}
    cx.weights(rule)
    return out


@layer("DepthwiseConv1D")
def depthwise_conv1d(cx, inputs):
    return _depthwise(cx, inputs, "DepthwiseConv1D", 1, separable=False)


@layer("DepthwiseConv2D")
def depthwise_conv2d(cx, inputs):
    return _depthwise(cx, inputs, "DepthwiseConv2D", 2, separable=False)


@layer("SeparableConv1D", "SeparableConvolution1D")
def separable_conv1d(cx, inputs):
    return _depthwise(cx, inputs, "SeparableConv1D", 1, separable=True)


@layer("SeparableConv2D", "SeparableConvolution2D")
def separable_conv2d(cx, inputs):
    return _depthwise(cx, inputs, "SeparableConv2D", 2, separable=True)


def _keras_factor(value: Any) -> Any:
    """A Keras factor as our params take it: a number, or a [lower, upper] list (Keras stores tuples)."""
    return [float(v) for v in value] if isinstance(value, (list, tuple)) else float(value)


# Augmentation acts on (channels, height, width) images; Keras's seed is dropped: draws come from the job's seed.
_AUGMENT_KEYS = {
    "RandomFlip": ("mode",),
    "RandomRotation": ("factor", "fill_mode", "interpolation", "fill_value"),
    "RandomZoom": ("height_factor", "width_factor", "fill_mode", "interpolation", "fill_value"),
    "RandomTranslation": ("height_factor", "width_factor", "fill_mode", "interpolation", "fill_value"),
    "RandomCrop": ("height", "width"),
    "RandomContrast": ("factor", "value_range"),
    "RandomBrightness": ("factor", "value_range"),
}


@layer(*_AUGMENT_KEYS)
def augmentation(cx, inputs):
    x = cx.b.channels_first(inputs[0])
    params: dict[str, Any] = {}
    for key in _AUGMENT_KEYS[cx.spec.class_name]:
        value = cx.cfg(key)
        if value is None:
            continue
        if key.endswith("factor"):
            value = _keras_factor(value)
        elif key == "value_range":
            value = [float(v) for v in value]
        elif key == "fill_value":
            value = float(value)
        params[key] = value
    return cx.main(cx.spec.class_name, params, [x], cf=True)


@layer("Rescaling")
def rescaling(cx, inputs):
    scale, offset = cx.cfg("scale", 1.0), cx.cfg("offset", 0.0)
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (scale, offset)):
        cx.refuse("scale", "per-channel scale or offset lists are not supported.", "a Normalization layer.")
        return inputs[0]
    return cx.main("Rescaling", {"scale": float(scale), "offset": float(offset)}, [inputs[0]], cf=inputs[0].cf)


@layer("Conv3D", "Convolution3D")
def conv3d(cx, inputs):
    return _conv(cx, inputs, "Conv3D", 3)


def _conv_transpose(cx, inputs, type_: str, dims: int) -> Tensor:
    cx.expect("output_padding", (None,), None, f"{type_} without output_padding.")
    if _ints(cx.cfg("dilation_rate", 1), dims) != 1:
        cx.refuse("dilation_rate", "dilated transposed convolutions are not supported.", f"{type_} without dilation.")
    padding = cx.expect("padding", ("valid", "same"), "valid")
    cf = _data_format_cf(cx)
    x = cx.b.channels_first(inputs[0]) if cf else cx.b.keras_order(inputs[0])
    use_bias = bool(cx.cfg("use_bias", True))
    params = {"filters": int(cx.cfg("filters")), "kernel_size": _ints(cx.cfg("kernel_size"), dims),
              "strides": _ints(cx.cfg("strides", 1), dims), "padding": padding, "activation": cx.activation(),
              "use_bias": use_bias}
    out = cx.main(type_, params, [x], cf=cf)
    # Keras: (*k, out, in); PyTorch's ConvTransposeNd: (in, out, *k).
    order = (dims + 1, dims, *range(dims))
    cx.weights(_bias_rules(use_bias, lambda k: np.ascontiguousarray(k.transpose(order))))
    return out


@layer("Conv2DTranspose", "Convolution2DTranspose")
def conv2d_transpose(cx, inputs):
    return _conv_transpose(cx, inputs, "Conv2DTranspose", 2)


@layer("Conv1DTranspose", "Convolution1DTranspose")
def conv1d_transpose(cx, inputs):
    return _conv_transpose(cx, inputs, "Conv1DTranspose", 1)


def _pool(cx, inputs, type_: str, dims: int) -> Tensor:
    cf = _data_format_cf(cx)
    x = cx.b.channels_first(inputs[0]) if cf else cx.b.keras_order(inputs[0])
    strides = cx.cfg("strides")
    params = {"pool_size": _ints(cx.cfg("pool_size", 2), dims),
              "strides": None if strides is None else _ints(strides, dims),
              "padding": cx.expect("padding", ("valid", "same"), "valid")}
    return cx.main(type_, params, [x], cf=cf)


for _name, _dims in (("MaxPooling1D", 1), ("MaxPooling2D", 2), ("MaxPooling3D", 3), ("AveragePooling1D", 1),
                     ("AveragePooling2D", 2), ("AveragePooling3D", 3)):
    LAYERS[_name] = (lambda t, d: lambda cx, inputs: _pool(cx, inputs, t, d))(_name, _dims)
LAYERS["MaxPool1D"], LAYERS["MaxPool2D"] = LAYERS["MaxPooling1D"], LAYERS["MaxPooling2D"]
LAYERS["AvgPool1D"], LAYERS["AvgPool2D"] = LAYERS["AveragePooling1D"], LAYERS["AveragePooling2D"]
LAYERS["MaxPool3D"], LAYERS["AvgPool3D"] = LAYERS["MaxPooling3D"], LAYERS["AveragePooling3D"]


def _global_pool(cx, inputs, type_: str) -> Tensor:
    cf = _data_format_cf(cx)
    x = cx.b.channels_first(inputs[0]) if cf else cx.b.keras_order(inputs[0])
    keepdims = bool(cx.cfg("keepdims", False))
    return cx.main(type_, {"keepdims": keepdims}, [x], cf=cf and keepdims)


for _name in ("GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalMaxPooling3D", "GlobalAveragePooling1D",
              "GlobalAveragePooling2D", "GlobalAveragePooling3D"):
    LAYERS[_name] = (lambda t: lambda cx, inputs: _global_pool(cx, inputs, t))(_name)
LAYERS["GlobalMaxPool1D"], LAYERS["GlobalMaxPool2D"] = LAYERS["GlobalMaxPooling1D"], LAYERS["GlobalMaxPooling2D"]
LAYERS["GlobalAvgPool1D"], LAYERS["GlobalAvgPool2D"] = LAYERS["GlobalAveragePooling1D"], LAYERS["GlobalAveragePooling2D"]
LAYERS["GlobalMaxPool3D"], LAYERS["GlobalAvgPool3D"] = LAYERS["GlobalMaxPooling3D"], LAYERS["GlobalAveragePooling3D"]


@layer("UpSampling2D")
def upsampling2d(cx, inputs):
    cf = _data_format_cf(cx)
    x = cx.b.channels_first(inputs[0]) if cf else cx.b.keras_order(inputs[0])
    params = {"size": _ints(cx.cfg("size", 2), 2),
              "interpolation": cx.expect("interpolation", ("nearest", "bilinear"), "nearest")}
    return cx.main("UpSampling2D", params, [x], cf=cf)


def _channels_first_passthrough(cx, inputs, params: dict[str, Any]) -> Tensor:
    cf = _data_format_cf(cx) if "data_format" in cx.spec.config else True
    x = cx.b.channels_first(inputs[0]) if cf else cx.b.keras_order(inputs[0])
    return cx.main(cx.spec.class_name, params, [x], cf=cf)


def _pairs(value: Any) -> Any:
    """Keras's ((top, bottom), (left, right)) or (a, b) as JSON lists."""
    if isinstance(value, (list, tuple)):
        return [_pairs(v) for v in value]
    return int(value)


@layer("UpSampling1D")
def upsampling1d(cx, inputs):
    return _channels_first_passthrough(cx, inputs, {"size": int(cx.cfg("size", 2))})


@layer("ZeroPadding1D")
def zero_padding1d(cx, inputs):
    return _channels_first_passthrough(cx, inputs, {"padding": _pairs(cx.cfg("padding", 1))})


@layer("Cropping1D")
def cropping1d(cx, inputs):
    return _channels_first_passthrough(cx, inputs, {"cropping": _pairs(cx.cfg("cropping", 1))})


@layer("Cropping2D")
def cropping2d(cx, inputs):
    return _channels_first_passthrough(cx, inputs, {"cropping": _pairs(cx.cfg("cropping", 0))})


@layer("ZeroPadding2D")
def zero_padding2d(cx, inputs):
    cf = _data_format_cf(cx)
    x = cx.b.channels_first(inputs[0]) if cf else cx.b.keras_order(inputs[0])
    padding = cx.cfg("padding", 1)
    if isinstance(padding, list) and all(isinstance(p, list) for p in padding):
        padding = [[int(a), int(b)] for a, b in padding]
    return cx.main("ZeroPadding2D", {"padding": padding}, [x], cf=cf)


# ---- normalization ------------------------------------------------------------------------


def _single_axis(cx, key: str = "axis") -> int | None:
    axis = cx.cfg(key, -1)
    if isinstance(axis, list):
        if len(axis) != 1:
            cx.refuse(key, f"normalizing over several axes {axis} is not supported.", "one axis.")
            return None
        axis = axis[0]
    return int(axis)


@layer("BatchNormalization")
def batch_normalization(cx, inputs):
    axis = _single_axis(cx)
    rank = cx.b.rank(inputs[0])
    resolved = resolve_axis(axis, rank) if axis is not None else None
    for key in ("center", "scale"):
        if not cx.cfg(key, True) and not cx.supports_param("BatchNormalization", key):
            cx.refuse(key, f"{key}=False is not supported.", "BatchNormalization with center and scale.")
    cx.expect("renorm", (False, None), False)
    if resolved == rank:  # the channel axis of a channels-last tensor: our axis 1
        x = cx.b.channels_first(inputs[0])
    elif resolved == 1:
        x = cx.b.keras_order(inputs[0])
    else:
        cx.refuse("axis", f"axis {axis} is neither the channel (last) axis nor axis 1.", "BatchNormalization over channels.")
        x = inputs[0]
    params: dict[str, Any] = {"momentum": float(cx.cfg("momentum", 0.99)), "epsilon": float(cx.cfg("epsilon", 1e-3))}
    center, scale = bool(cx.cfg("center", True)), bool(cx.cfg("scale", True))
    for key, value in (("center", center), ("scale", scale)):
        if not value and cx.supports_param("BatchNormalization", key):
            params[key] = False
    out = cx.main("BatchNormalization", params, [x], cf=x.cf or (rank >= 2 and resolved == rank))

    def rule(v: LayerVars) -> dict[str, np.ndarray]:
        arrays = list(v.own())
        named = {}
        if scale:
            named["weight"] = arrays.pop(0)
        if center:
            named["bias"] = arrays.pop(0)
        named["running_mean"], named["running_var"] = arrays[0], arrays[1]
        return named
    cx.weights(rule)
    return out


@layer("LayerNormalization")
def layer_normalization(cx, inputs):
    x = inputs[0]
    rank = cx.b.rank(x)
    axis = cx.cfg("axis", -1)
    axes = axis if isinstance(axis, list) else [axis]
    resolved = [resolve_axis(int(a), rank) for a in axes]
    if None in resolved:
        cx.refuse("axis", f"axis {axis} is out of range.")
        return x
    if resolved == [rank] and not x.cf:
        ours: Any = -1
    else:
        ours = [our_axis(a, rank, x.cf) for a in resolved]  # type: ignore[arg-type]
        ours = ours[0] if len(ours) == 1 else sorted(ours)
    cx.expect("rms_scaling", (False, None), False, "LayerNormalization without rms_scaling.")
    center, scale = bool(cx.cfg("center", True)), bool(cx.cfg("scale", True))
    params = {"axis": ours, "epsilon": float(cx.cfg("epsilon", 1e-3)), "center": center, "scale": scale}
    out = cx.main("LayerNormalization", params, [x], cf=x.cf)
    cx.weights(_affine_rule(scale, center, transpose_cf=x.cf and len(resolved) > 1))
    return out


def _affine_rule(scale: bool, center: bool, transpose_cf: bool = False):
    """gamma then beta, each only when enabled (Keras saves only the weights that exist)."""
    def rule(v: LayerVars) -> dict[str, np.ndarray]:
        arrays = list(v.own())
        named = {}
        if scale:
            named["weight"] = arrays.pop(0)
        if center:
            named["bias"] = arrays.pop(0)
        if transpose_cf:  # per-element weights over several axes: Keras's order to channels-first
            named = {k: np.ascontiguousarray(np.moveaxis(a, -1, 0)) for k, a in named.items()}
        return named
    return rule


@layer("GroupNormalization")
def group_normalization(cx, inputs):
    axis = _single_axis(cx)
    rank = cx.b.rank(inputs[0])
    if axis is None or resolve_axis(axis, rank) != rank:
        cx.refuse("axis", f"axis {axis} is not the channel (last) axis.", "GroupNormalization over channels.")
        return inputs[0]
    x = cx.b.channels_first(inputs[0])
    center, scale = bool(cx.cfg("center", True)), bool(cx.cfg("scale", True))
    params = {"groups": int(cx.cfg("groups", 32)), "epsilon": float(cx.cfg("epsilon", 1e-3)),
              "center": center, "scale": scale}
    out = cx.main("GroupNormalization", params, [x], cf=x.cf or rank >= 2)
    cx.weights(_affine_rule(scale, center))
    return out


@layer("UnitNormalization")
def unit_normalization(cx, inputs):
    x = inputs[0]
    rank = cx.b.rank(x)
    axis = cx.cfg("axis", -1)
    axes = []
    for a in axis if isinstance(axis, list) else [axis]:
        resolved = resolve_axis(int(a), rank)
        if resolved is None:
            cx.refuse("axis", f"axis {a} is out of range.")
            return x
        axes.append(our_axis(resolved, rank, x.cf))
    return cx.main("UnitNormalization", {"axis": axes[0] if len(axes) == 1 else axes}, [x], cf=x.cf)


@layer("Normalization")
def normalization(cx, inputs):
    x = inputs[0]
    rank = cx.b.rank(x)
    axis = cx.cfg("axis", -1)
    axes = [] if axis is None else [axis] if isinstance(axis, int) else list(axis)
    ours = []
    for a in axes:
        resolved = resolve_axis(int(a), rank)
        if resolved is None:
            cx.refuse("axis", f"axis {a} is out of range.")
            return x
        ours.append(our_axis(resolved, rank, x.cf))
    params: dict[str, Any] = {"axis": None if axis is None else (ours[0] if len(ours) == 1 else ours),
                              "invert": bool(cx.cfg("invert", False))}
    mean, variance = cx.cfg("mean"), cx.cfg("variance")
    if mean is None:
        params["adapt"] = True
        out = cx.main("Normalization", params, [x], cf=x.cf)
        cx.weights(lambda v: dict(zip(("mean", "variance", "count"), v.own())))
        return out
    if len(axes) > 1 or any(isinstance(m, list) for m in (mean if isinstance(mean, list) else [])):
        cx.refuse("mean", "given statistics over several axes are not supported.", "Normalization with adapt.")
        return x
    params.update(mean=mean, variance=variance)
    return cx.main("Normalization", params, [x], cf=x.cf)


# ---- recurrent ----------------------------------------------------------------------------

RECURRENT = {"SimpleRNN": 1, "LSTM": 4, "GRU": 3}


def _check_recurrent(cx, config: dict[str, Any], class_name: str) -> None:
    def expect(key, allowed, default, suggestion=None):
        value = config.get(key, default)
        if value not in allowed:
            cx.refuse(key, f"{key}={value!r} is not supported.", suggestion)
    expect("return_state", (False,), False, "return the outputs only.")
    expect("go_backwards", (False,), False, "bidirectional, or reverse the sequence in the data.")
    expect("stateful", (False,), False)
    expect("use_bias", (True,), True)
    expect("activation", ("tanh",), "tanh")
    if class_name != "SimpleRNN":
        expect("recurrent_activation", ("sigmoid",), "sigmoid")
    for key in ("dropout", "recurrent_dropout"):
        expect(key, (0, 0.0), 0.0, f"a Dropout layer before the {class_name} ({key} inside the cell is not supported).")
    if class_name == "GRU":
        expect("reset_after", (True,), True, "GRU with reset_after=True (Keras's default).")


def _recurrent_arrays(class_name: str, v: LayerVars, units: int) -> tuple[np.ndarray, ...]:
    """(weight_ih, weight_hh, bias_ih, bias_hh) in PyTorch's layout from one Keras cell."""
    kernel, recurrent, bias = v.sub("cell").own()
    if class_name == "GRU":
        # Keras gates (z, r, h), PyTorch (r, z, n); reset_after keeps an input and a recurrent bias.
        def reorder(a):
            z, r, h = np.split(a, 3, axis=-1)
            return np.concatenate([r, z, h], axis=-1)
        return reorder(kernel).T, reorder(recurrent).T, reorder(bias[0]), reorder(bias[1])
    # LSTM gates (i, f, c, o) are PyTorch's (i, f, g, o); Keras has one bias: ours gets it plus zeros.
    return kernel.T, recurrent.T, bias, np.zeros_like(bias)


def _recurrent(cx, inputs, class_name: str, config: dict[str, Any], bidirectional: bool) -> Tensor:
    _check_recurrent(cx, config, class_name)
    units = int(config.get("units"))
    params = {"units": units, "return_sequences": bool(config.get("return_sequences", False)),
              "bidirectional": bidirectional}
    return cx.main(class_name, params, [cx.b.keras_order(inputs[0])])


def _recurrent_rule(class_name: str, units: int, directions: list[str]):
    def rule(v: LayerVars) -> dict[str, np.ndarray]:
        out = {}
        for path, suffix in directions:
            arrays = _recurrent_arrays(class_name, v.sub(path) if path else v, units)
            for name, array in zip(("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"), arrays):
                out[name + suffix] = np.ascontiguousarray(array)
        return out
    return rule


for _rnn in RECURRENT:
    def _make(class_name):
        def convert(cx, inputs):
            out = _recurrent(cx, inputs, class_name, cx.spec.config, bidirectional=False)
            cx.weights(_recurrent_rule(class_name, int(cx.cfg("units")), [("", "")]))
            return out
        return convert
    LAYERS[_rnn] = _make(_rnn)


@layer("Bidirectional")
def bidirectional(cx, inputs):
    inner = cx.cfg("layer") or {}
    class_name = inner.get("class_name")
    if class_name not in RECURRENT:
        cx.refuse("layer", f"Bidirectional around {class_name!r} is not supported.", "Bidirectional LSTM, GRU or SimpleRNN.")
        return inputs[0]
    wrapper = get_layer("Bidirectional") is not None  # the catalog's wrapper (any merge_mode)
    merge_mode = cx.expect("merge_mode", ("concat", "sum", "mul", "ave") if wrapper else ("concat",), "concat",
                           "merge_mode 'concat' (Layerloom concatenates both directions).")
    backward = cx.cfg("backward_layer")
    if backward and (backward.get("config") or {}).get("units") != inner["config"].get("units"):
        cx.refuse("backward_layer", "a backward layer that differs from the forward one is not supported.")
    if wrapper:
        config = inner.get("config") or {}
        _check_recurrent(cx, config, class_name)
        recurrent_params = {"units": int(config.get("units")),
                            "return_sequences": bool(config.get("return_sequences", False))}
        out = cx.main("Bidirectional", {"layer": {"type": class_name, "params": recurrent_params},
                                        "merge_mode": merge_mode}, [cx.b.keras_order(inputs[0])])
    else:
        out = _recurrent(cx, inputs, class_name, inner.get("config") or {}, bidirectional=True)
    cx.weights(_recurrent_rule(class_name, int(inner["config"]["units"]),
                               [("forward_layer", ""), ("backward_layer", "_reverse")]))
    return out


# ---- sequences: masks, attention, wrappers -------------------------------------------------


@layer("Masking")
def masking(cx, inputs):
    if not cx.has_type("Masking", "pad sequences to a fixed length."):
        return inputs[0]
    return cx.main("Masking", {"mask_value": float(cx.cfg("mask_value", 0.0))}, [cx.b.keras_order(inputs[0])])


@layer("MultiHeadAttention")
def multi_head_attention(cx, inputs):
    if not cx.has_type("MultiHeadAttention", "Dense, Dot and Softmax."):
        return inputs[0]
    cx.expect("use_gate", (False, None), False)
    cx.expect("sliding_window", (None,), None)
    axes = cx.cfg("attention_axes")
    if axes not in (None, [1], 1):
        cx.refuse("attention_axes", f"attention over axes {axes} is not supported.", "attention over the time axis (1).")
    output_shape = cx.cfg("output_shape")
    if isinstance(output_shape, list):
        output_shape = output_shape[0] if len(output_shape) == 1 else cx.refuse(
            "output_shape", "a multi-axis output_shape is not supported.", "one output size")
    key_dim = int(cx.cfg("key_dim"))
    value_dim = int(cx.cfg("value_dim") or key_dim)
    use_bias = bool(cx.cfg("use_bias", True))
    params = {"num_heads": int(cx.cfg("num_heads")), "key_dim": key_dim, "value_dim": value_dim,
              "dropout": float(cx.cfg("dropout", 0.0)), "use_bias": use_bias,
              "output_shape": int(output_shape) if output_shape else None,
              "use_causal_mask": bool(cx.call.kwargs.get("use_causal_mask", False))}
    for key in ("return_attention_scores", "attention_mask"):
        if cx.call.kwargs.get(key):
            cx.refuse(None, f"calling it with {key} is not supported.", "MultiHeadAttention's output only.")
    out = cx.main("MultiHeadAttention", params, [cx.b.keras_order(t) for t in inputs])

    def rule(v: LayerVars) -> dict[str, np.ndarray]:
        named = {}
        for ours in ("query", "key", "value"):  # kernel (features, heads, dim) -> (heads·dim, features)
            arrays = v.sub(f"{ours}_dense").own()
            named[f"{ours}.weight"] = np.ascontiguousarray(arrays[0].reshape(arrays[0].shape[0], -1).T)
            if use_bias:
                named[f"{ours}.bias"] = arrays[1].reshape(-1)
        arrays = v.sub("output_dense").own()  # kernel (heads, dim, out) -> (out, heads·dim)
        named["output.weight"] = np.ascontiguousarray(arrays[0].reshape(-1, arrays[0].shape[-1]).T)
        if use_bias:
            named["output.bias"] = arrays[1]
        return named
    cx.weights(rule)
    return out


@layer("TimeDistributed")
def time_distributed(cx, inputs):
    """Layerloom's TimeDistributed of a Dense (the common case; Dense already works per step, so the
    wrapper is kept only to read like the Keras model)."""
    inner = cx.cfg("layer") or {}
    if inner.get("class_name") != "Dense" or not cx.has_type("TimeDistributed", "Dense (it works on the last axis)."):
        cx.refuse("layer", f"TimeDistributed of {inner.get('class_name')!r} is not supported.",
                  "TimeDistributed(Dense), or the layer on a Reshape that folds time into the batch.")
        return inputs[0]
    config = inner.get("config") or {}
    use_bias = bool(config.get("use_bias", True))
    dense_params = {"units": int(config["units"]), "activation": cx.activation_of(config), "use_bias": use_bias}
    out = cx.main("TimeDistributed", {"layer": {"type": "Dense", "params": dense_params}}, [cx.b.keras_order(inputs[0])])

    def rule(v: LayerVars) -> dict[str, np.ndarray]:
        arrays = v.sub("layer").own()
        return {"layer.weight": arrays[0].T, **({"layer.bias": arrays[1]} if use_bias else {})}
    cx.weights(rule)
    return out


# ---- merges -------------------------------------------------------------------------------


def _common_layout(cx, inputs: list[Tensor]) -> list[Tensor]:
    """Merged tensors must share one axis order: all channels-first, or else all Keras's."""
    if all(t.cf for t in inputs):
        return inputs
    return [cx.b.keras_order(t) for t in inputs]


for _merge in ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum"):
    def _make_merge(type_):
        def convert(cx, inputs):
            xs = _common_layout(cx, inputs)
            return cx.main(type_, {}, xs, cf=xs[0].cf)
        return convert
    LAYERS[_merge] = _make_merge(_merge)


@layer("Concatenate")
def concatenate(cx, inputs):
    xs = _common_layout(cx, inputs)
    rank = cx.b.rank(xs[0])
    axis = resolve_axis(int(cx.cfg("axis", -1)), rank)
    if axis is None:
        cx.refuse("axis", f"axis {cx.cfg('axis')} is out of range for rank {rank}.")
        return xs[0]
    return cx.main("Concatenate", {"axis": our_axis(axis, rank, xs[0].cf)}, xs, cf=xs[0].cf)


@layer("Dot")
def dot(cx, inputs):
    xs = [cx.b.keras_order(t) for t in inputs]
    axes = cx.cfg("axes", -1)
    return cx.main("Dot", {"axes": axes, "normalize": bool(cx.cfg("normalize", False))}, xs)


# ---- Keras 3 operations (tensor arithmetic): merges, or a Lambda expression ---------------

BINARY = {"Add": "+", "Subtract": "-", "Multiply": "*", "Divide": "/", "TrueDivide": "/", "Power": "**"}
MERGE_OF = {"Add": "Add", "Subtract": "Subtract", "Multiply": "Multiply", "Maximum": "Maximum", "Minimum": "Minimum"}
UNARY = {"Negative": "-{}", "Abs": "abs({})", "Absolute": "abs({})", "Exp": "exp({})", "Log": "log({})",
         "Sqrt": "sqrt({})", "Square": "square({})", "Tanh": "tanh({})", "Sigmoid": "sigmoid({})",
         "Relu": "relu({})", "Softplus": "softplus({})"}
FUNCTIONS = {"Maximum": "maximum", "Minimum": "minimum"}
REDUCTIONS = {"Mean": "mean", "Sum": "sum", "Max": "max", "Min": "min", "Amax": "max", "Amin": "min"}


def _constant(cx, value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        cx.refuse(None, f"the argument {str(value)[:40]!r} is neither a tensor nor a number.",
                  "a Lambda expression over tensors and numbers.")
        return None
    return repr(float(value))


def _operation(cx, inputs: list[Tensor]) -> Tensor:
    name = cx.spec.class_name
    args = list(cx.call.args)
    tensors = [t for t in inputs]
    if len(tensors) > 1 and name in MERGE_OF and len(args) == 2:
        xs = _common_layout(cx, tensors)
        shapes = {cx.b.shape(t) for t in xs}
        if len(shapes) == 1:
            return cx.main(MERGE_OF[name], {}, xs, cf=xs[0].cf)
    # One axis order for all tensor operands; a reduction's axes follow it.
    same_rank = len({cx.b.rank(t) for t in tensors}) == 1
    xs = tensors if same_rank and all(t.cf for t in tensors) else [cx.b.keras_order(t) for t in tensors]
    names = ["x"] if len(xs) == 1 else [chr(ord("a") + i) for i in range(len(xs))]
    operand_iter = iter(names)

    def operand(value):
        return next(operand_iter) if isinstance(value, Ref) else _constant(cx, value)

    if name in BINARY and len(args) == 2:
        left, right = operand(args[0]), operand(args[1])
        expression = f"{left} {BINARY[name]} {right}"
    elif name in FUNCTIONS and len(args) == 2:
        expression = f"{FUNCTIONS[name]}({operand(args[0])}, {operand(args[1])})"
    elif name in UNARY and len(args) == 1:
        expression = UNARY[name].format(operand(args[0]))
    elif name == "Clip":
        low = cx.cfg("x_min", args[1] if len(args) > 1 else None)
        high = cx.cfg("x_max", args[2] if len(args) > 2 else None)
        expression = f"clip({operand(args[0])}, {_constant(cx, low)}, {_constant(cx, high)})"
    elif name in REDUCTIONS:
        axis = cx.cfg("axis", cx.call.kwargs.get("axis"))
        if axis is None:
            cx.refuse("axis", "a reduction over all axes (the batch included) is not supported.",
                      "reduce over the sample axes, e.g. mean(x, axis=(1, 2)).")
            return xs[0]
        keep = bool(cx.cfg("keepdims", cx.call.kwargs.get("keepdims", False)))
        if not keep:  # the result's remaining axes must be in Keras's order
            xs = [cx.b.keras_order(t) for t in xs]
        rank = cx.b.rank(xs[0])
        axes = []
        for a in axis if isinstance(axis, list) else [axis]:
            resolved = resolve_axis(int(a), rank)
            if resolved is None:
                cx.refuse("axis", f"axis {a} is out of range.")
                return xs[0]
            axes.append(our_axis(resolved, rank, xs[0].cf))
        axes_text = str(axes[0]) if len(axes) == 1 else "(" + ", ".join(map(str, axes)) + ")"
        expression = f"{REDUCTIONS[name]}({operand(args[0])}, axis={axes_text}, keepdims={keep})"
    else:
        cx.refuse(None, f"the operation {name} is not one Layerloom can express.",
                  "a Lambda expression (+ - * / **, abs, exp, log, sqrt, square, tanh, sigmoid, relu, softplus, "
                  "clip, minimum, maximum, mean/sum/max/min).")
        return tensors[0] if tensors else Tensor("")
    if cx.refused:
        return xs[0]
    cf = xs[0].cf if xs else False
    return cx.main("Lambda", {"expression": expression}, xs, cf=cf)


OPERATION_CLASSES = set(BINARY) | set(UNARY) | set(FUNCTIONS) | set(REDUCTIONS) | {"Clip"}
for _op in OPERATION_CLASSES:
    OPERATIONS[_op] = _operation
