"""Keras 3 itself (torch backend, a test-only dependency) is the oracle for the layers real
architectures need: each layer alone gives Keras's parameter counts (total, trainable,
non-trainable) and output shape, converted from Keras's channels-last to our channels-first; and
for the depthwise, separable, grouped and affine-free batch-norm families, Keras's weights copied
into our module give Keras's outputs."""

from __future__ import annotations

import os
import typing
from dataclasses import dataclass, field
from typing import Any, Callable

os.environ["KERAS_BACKEND"] = "torch"  # before keras is imported anywhere

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from layerloom.graph import analyze, build_model  # noqa: E402
from layerloom.graph.layers._common import ActivationName  # noqa: E402

L = keras.layers


@dataclass
class Case:
    """One layer in both worlds: our type/params on channels-first inputs, and the Keras layer."""

    keras_layer: Callable[[], Any]
    type: str
    params: dict[str, Any]
    inputs: list[tuple[int, ...]]  # our per-sample input shapes
    # "channels": Keras sees each shape with the channel axis (our axis 1) moved last, and its output
    # is moved back; "same": both see the same shapes (features on the last axis, e.g. sequences).
    layout: str = "channels"
    dtype: str = "float32"
    id: str = field(default="")


def to_keras(shape: tuple[int, ...], layout: str) -> tuple[int, ...]:
    return (*shape[1:], shape[0]) if layout == "channels" and len(shape) > 1 else shape


def from_keras(shape: tuple[int, ...], layout: str) -> tuple[int, ...]:
    return (shape[-1], *shape[:-1]) if layout == "channels" and len(shape) > 1 else shape


IMG, SEQ, VOL = (3, 9, 10), (3, 11), (2, 5, 6, 7)

CASES = [
    # Convolutions
    Case(lambda: L.DepthwiseConv2D(3, padding="same"), "DepthwiseConv2D", {"kernel_size": 3, "padding": "same"}, [IMG]),
    Case(lambda: L.DepthwiseConv2D(3, strides=2, padding="same", depth_multiplier=2, use_bias=False), "DepthwiseConv2D",
         {"kernel_size": 3, "strides": 2, "padding": "same", "depth_multiplier": 2, "use_bias": False}, [IMG]),
    Case(lambda: L.DepthwiseConv2D((2, 3), dilation_rate=2), "DepthwiseConv2D", {"kernel_size": [2, 3], "dilation_rate": 2}, [IMG]),
    Case(lambda: L.DepthwiseConv2D(5, strides=2, depth_multiplier=3, activation="relu6"), "DepthwiseConv2D",
         {"kernel_size": 5, "strides": 2, "depth_multiplier": 3, "activation": "relu6"}, [(4, 12, 13)]),
    Case(lambda: L.DepthwiseConv1D(3), "DepthwiseConv1D", {"kernel_size": 3}, [SEQ]),
    Case(lambda: L.DepthwiseConv1D(2, strides=2, padding="same", depth_multiplier=2), "DepthwiseConv1D",
         {"kernel_size": 2, "strides": 2, "padding": "same", "depth_multiplier": 2}, [SEQ]),
    Case(lambda: L.SeparableConv2D(4, 3, padding="same"), "SeparableConv2D", {"filters": 4, "kernel_size": 3, "padding": "same"}, [IMG]),
    Case(lambda: L.SeparableConv2D(8, (2, 3), strides=2, padding="same", depth_multiplier=2, use_bias=False), "SeparableConv2D",
         {"filters": 8, "kernel_size": [2, 3], "strides": 2, "padding": "same", "depth_multiplier": 2, "use_bias": False}, [IMG]),
    Case(lambda: L.SeparableConv2D(5, 3, dilation_rate=2), "SeparableConv2D", {"filters": 5, "kernel_size": 3, "dilation_rate": 2}, [(6, 10, 10)]),
    Case(lambda: L.SeparableConv1D(4, 3), "SeparableConv1D", {"filters": 4, "kernel_size": 3}, [SEQ]),
    Case(lambda: L.SeparableConv1D(6, 2, strides=2, padding="same", depth_multiplier=3), "SeparableConv1D",
         {"filters": 6, "kernel_size": 2, "strides": 2, "padding": "same", "depth_multiplier": 3}, [SEQ]),
    Case(lambda: L.Conv2D(6, 3, groups=3, strides=2, padding="same"), "Conv2D",
         {"filters": 6, "kernel_size": 3, "groups": 3, "strides": 2, "padding": "same"}, [IMG]),
    Case(lambda: L.Conv2D(8, 1, groups=4, use_bias=False), "Conv2D", {"filters": 8, "kernel_size": 1, "groups": 4, "use_bias": False}, [(8, 5, 5)]),
    Case(lambda: L.Conv1D(6, 3, groups=3, padding="same"), "Conv1D", {"filters": 6, "kernel_size": 3, "groups": 3, "padding": "same"}, [SEQ]),
    Case(lambda: L.Conv1D(4, 5, groups=2, strides=2), "Conv1D", {"filters": 4, "kernel_size": 5, "groups": 2, "strides": 2}, [(4, 20)]),
    Case(lambda: L.Conv1DTranspose(3, 3, strides=2, padding="same"), "Conv1DTranspose",
         {"filters": 3, "kernel_size": 3, "strides": 2, "padding": "same"}, [SEQ]),
    Case(lambda: L.Conv1DTranspose(2, 2, padding="same"), "Conv1DTranspose", {"filters": 2, "kernel_size": 2, "padding": "same"}, [SEQ]),
    Case(lambda: L.Conv1DTranspose(2, 2, strides=3), "Conv1DTranspose", {"filters": 2, "kernel_size": 2, "strides": 3}, [SEQ]),
    Case(lambda: L.Conv1DTranspose(4, 5, strides=2, use_bias=False), "Conv1DTranspose",
         {"filters": 4, "kernel_size": 5, "strides": 2, "use_bias": False}, [SEQ]),
    Case(lambda: L.Conv3D(4, 3), "Conv3D", {"filters": 4, "kernel_size": 3}, [VOL]),
    Case(lambda: L.Conv3D(2, (1, 2, 3), strides=2, padding="same"), "Conv3D",
         {"filters": 2, "kernel_size": [1, 2, 3], "strides": 2, "padding": "same"}, [VOL]),
    Case(lambda: L.Conv3D(4, 2, groups=2, use_bias=False), "Conv3D", {"filters": 4, "kernel_size": 2, "groups": 2, "use_bias": False}, [VOL]),
    # Pooling
    Case(lambda: L.MaxPooling3D(), "MaxPooling3D", {}, [VOL]),
    Case(lambda: L.MaxPooling3D(3, strides=2, padding="same"), "MaxPooling3D", {"pool_size": 3, "strides": 2, "padding": "same"}, [VOL]),
    Case(lambda: L.AveragePooling3D((1, 2, 2)), "AveragePooling3D", {"pool_size": [1, 2, 2]}, [VOL]),
    Case(lambda: L.AveragePooling3D(2, strides=1, padding="same"), "AveragePooling3D", {"pool_size": 2, "strides": 1, "padding": "same"}, [VOL]),
    Case(lambda: L.GlobalMaxPooling3D(), "GlobalMaxPooling3D", {}, [VOL]),
    Case(lambda: L.GlobalAveragePooling3D(keepdims=True), "GlobalAveragePooling3D", {"keepdims": True}, [VOL]),
    # Cropping, padding, upsampling
    Case(lambda: L.Cropping1D(1), "Cropping1D", {"cropping": 1}, [SEQ]),
    Case(lambda: L.Cropping1D((2, 0)), "Cropping1D", {"cropping": [2, 0]}, [SEQ]),
    Case(lambda: L.Cropping2D(1), "Cropping2D", {"cropping": 1}, [IMG]),
    Case(lambda: L.Cropping2D(((1, 0), (2, 1))), "Cropping2D", {"cropping": [[1, 0], [2, 1]]}, [IMG]),
    Case(lambda: L.Cropping2D((0, 2)), "Cropping2D", {"cropping": [0, 2]}, [IMG]),
    Case(lambda: L.ZeroPadding1D(1), "ZeroPadding1D", {"padding": 1}, [SEQ]),
    Case(lambda: L.ZeroPadding1D((2, 0)), "ZeroPadding1D", {"padding": [2, 0]}, [SEQ]),
    Case(lambda: L.UpSampling1D(2), "UpSampling1D", {"size": 2}, [SEQ]),
    Case(lambda: L.UpSampling1D(3), "UpSampling1D", {"size": 3}, [SEQ]),
    # Activation layers
    Case(lambda: L.ReLU(), "ReLU", {}, [IMG]),
    Case(lambda: L.ReLU(max_value=6.0), "ReLU", {"max_value": 6.0}, [IMG]),
    Case(lambda: L.ReLU(max_value=2.0, negative_slope=0.1, threshold=0.5), "ReLU",
         {"max_value": 2.0, "negative_slope": 0.1, "threshold": 0.5}, [IMG]),
    Case(lambda: L.LeakyReLU(), "LeakyReLU", {}, [(6,)]),
    Case(lambda: L.LeakyReLU(negative_slope=0.1), "LeakyReLU", {"negative_slope": 0.1}, [IMG]),
    Case(lambda: L.PReLU(), "PReLU", {}, [IMG]),
    Case(lambda: L.PReLU(shared_axes=[1, 2]), "PReLU", {"shared_axes": [2, 3]}, [IMG]),  # Keras's H, W are our 2, 3
    Case(lambda: L.PReLU(), "PReLU", {}, [(5, 4)], layout="same"),
    Case(lambda: L.ELU(), "ELU", {}, [IMG]),
    Case(lambda: L.ELU(alpha=0.5), "ELU", {"alpha": 0.5}, [(6,)]),
    Case(lambda: L.Softmax(), "Softmax", {"axis": 1}, [IMG]),  # Keras's last axis is our channels
    Case(lambda: L.Softmax(axis=1), "Softmax", {"axis": 1}, [(5, 4)], layout="same"),
    # Normalization
    Case(lambda: L.BatchNormalization(center=False), "BatchNormalization", {"center": False}, [IMG]),
    Case(lambda: L.BatchNormalization(scale=False), "BatchNormalization", {"scale": False}, [IMG]),
    Case(lambda: L.BatchNormalization(center=False, scale=False), "BatchNormalization", {"center": False, "scale": False}, [VOL]),
    Case(lambda: L.LayerNormalization(), "LayerNormalization", {"axis": 1}, [IMG]),
    Case(lambda: L.LayerNormalization(), "LayerNormalization", {}, [(5, 4)], layout="same"),
    Case(lambda: L.LayerNormalization(axis=[1, 2, 3]), "LayerNormalization", {"axis": [1, 2, 3]}, [IMG]),
    Case(lambda: L.LayerNormalization(center=False), "LayerNormalization", {"center": False}, [(5, 4)], layout="same"),
    Case(lambda: L.LayerNormalization(scale=False), "LayerNormalization", {"axis": 1, "scale": False}, [IMG]),
    Case(lambda: L.GroupNormalization(groups=2), "GroupNormalization", {"groups": 2}, [(4, 5, 6)]),
    Case(lambda: L.GroupNormalization(groups=4, center=False), "GroupNormalization", {"groups": 4, "center": False}, [(8, 5)]),
    Case(lambda: L.GroupNormalization(groups=1, scale=False), "GroupNormalization", {"groups": 1, "scale": False}, [VOL]),
    Case(lambda: L.UnitNormalization(), "UnitNormalization", {"axis": 1}, [IMG]),
    Case(lambda: L.UnitNormalization(axis=[1, 2]), "UnitNormalization", {"axis": [1, 2]}, [(5, 4)], layout="same"),
    # Preprocessing and regularization
    Case(lambda: L.Rescaling(1 / 255), "Rescaling", {"scale": 1 / 255}, [IMG]),
    Case(lambda: L.Rescaling(1 / 127.5, offset=-1), "Rescaling", {"scale": 1 / 127.5, "offset": -1.0}, [IMG]),
    Case(lambda: L.SpatialDropout1D(0.2), "SpatialDropout1D", {"rate": 0.2}, [SEQ]),
    Case(lambda: L.SpatialDropout2D(0.2), "SpatialDropout2D", {"rate": 0.2}, [IMG]),
    Case(lambda: L.SpatialDropout3D(0.2), "SpatialDropout3D", {"rate": 0.2}, [VOL]),
    Case(lambda: L.GaussianNoise(0.1), "GaussianNoise", {"stddev": 0.1}, [IMG]),
    Case(lambda: L.GaussianDropout(0.3), "GaussianDropout", {"rate": 0.3}, [(6,)]),
    Case(lambda: L.Dropout(0.5, noise_shape=(None, 1, 4)), "Dropout", {"rate": 0.5, "noise_shape": [None, 1, 4]}, [(5, 4)], layout="same"),
    # Merges that broadcast: a squeeze-and-excitation scale (C, 1, 1) times a (C, H, W) map.
    Case(lambda: L.Multiply(), "Multiply", {}, [(3, 1, 1), IMG]),
    Case(lambda: L.Add(), "Add", {}, [IMG, (3, 1, 10)]),
    Case(lambda: L.Subtract(), "Subtract", {}, [(3, 9, 1), (3, 1, 10)]),
    Case(lambda: L.Average(), "Average", {}, [IMG, (3, 1, 1), IMG]),
    Case(lambda: L.Maximum(), "Maximum", {}, [(1, 5, 4), (6, 5, 4)]),
    Case(lambda: L.Minimum(), "Minimum", {}, [(5, 1), (5, 4)], layout="same"),
    Case(lambda: L.Multiply(), "Multiply", {}, [(4,), (5, 4)], layout="same"),  # ranks differ: aligned at the end
]
for i, c in enumerate(CASES):
    c.id = f"{c.type}-{i}"


def our_graph(case: Case) -> dict[str, Any]:
    nodes = [{"id": f"in{i}", "type": "Input", "params": {"shape": list(s), "dtype": case.dtype}} for i, s in enumerate(case.inputs)]
    nodes += [{"id": "layer", "type": case.type, "params": case.params}, {"id": "out", "type": "Output", "params": {"loss": "mse"}}]
    edges = [{"source": f"in{i}", "target": "layer", "target_port": i} for i in range(len(case.inputs))]
    edges.append({"source": "layer", "target": "out"})
    return {"format": "layerloom.graph", "version": 1, "name": case.id, "nodes": nodes, "edges": edges}


def keras_counts(layer) -> tuple[int, int]:
    trainable = sum(int(np.prod(w.shape)) for w in layer.trainable_weights)
    frozen = sum(int(np.prod(w.shape)) for w in layer.non_trainable_weights)
    return trainable, frozen


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_counts_and_shape_equal_keras(case: Case):
    layer = case.keras_layer()
    k_inputs = [keras.Input(to_keras(s, case.layout)) for s in case.inputs]
    k_out = layer(k_inputs if len(k_inputs) > 1 else k_inputs[0])
    analysis = analyze(our_graph(case))
    assert analysis.ok, [i.message for i in analysis.issues]
    ours = analysis.nodes["layer"]
    assert ours.output.shape == from_keras(tuple(k_out.shape[1:]), case.layout)
    assert (ours.trainable, ours.non_trainable) == keras_counts(layer)
    assert ours.trainable + ours.non_trainable == layer.count_params()


def test_every_new_layer_type_is_checked_against_keras():
    new_types = {
        "DepthwiseConv1D", "DepthwiseConv2D", "SeparableConv1D", "SeparableConv2D", "Conv1DTranspose", "Conv3D",
        "MaxPooling3D", "AveragePooling3D", "GlobalMaxPooling3D", "GlobalAveragePooling3D", "Cropping1D", "Cropping2D",
        "ZeroPadding1D", "UpSampling1D", "ReLU", "LeakyReLU", "PReLU", "ELU", "Softmax", "GroupNormalization",
        "UnitNormalization", "Rescaling", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise",
        "GaussianDropout",
    }
    counted = {}
    for c in CASES:
        counted[c.type] = counted.get(c.type, 0) + 1
    assert new_types <= set(counted)
    assert all(counted[t] >= 2 for t in new_types - {"SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D",
                                                      "GaussianNoise", "GaussianDropout", "GlobalMaxPooling3D",
                                                      "GlobalAveragePooling3D"})


# --- Numerics: Keras's weights in our module give Keras's outputs -------------------------------------------------

def _np(value) -> np.ndarray:
    return keras.ops.convert_to_numpy(value)


def _depthwise_kernel(kernel: np.ndarray) -> np.ndarray:
    """Keras (kh, kw, C, multiplier) -> PyTorch grouped (C * multiplier, 1, kh, kw); output channel c * m + j."""
    kh, kw, c, m = kernel.shape
    return kernel.reshape(kh, kw, c * m).transpose(2, 0, 1)[:, None]


def _conv_kernel(kernel: np.ndarray) -> np.ndarray:
    """Keras (kh, kw, in / groups, filters) -> PyTorch (filters, in / groups, kh, kw)."""
    return kernel.transpose(3, 2, 0, 1)


def _run_both(case_layer, our_type: str, params: dict, shape: tuple[int, ...], weights: Callable, training=False):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, *shape)).astype("float32")  # ours, channels first
    layer = case_layer()
    x_keras = np.moveaxis(x, 1, -1)
    layer.build(x_keras.shape)
    for w in layer.weights:  # non-trivial values everywhere (biases and moving statistics too)
        w.assign(rng.uniform(0.5, 1.5, w.shape).astype("float32") if "variance" in w.path
                 else rng.standard_normal(w.shape).astype("float32"))
    expected = np.moveaxis(_np(layer(x_keras, training=training)), -1, 1)
    analysis = analyze(our_graph(Case(case_layer, our_type, params, [shape])))
    assert analysis.ok, [i.message for i in analysis.issues]
    model = build_model(analysis, seed=0)
    state = weights(layer)
    model.load_state_dict({f"layer.{k}": torch.from_numpy(np.ascontiguousarray(v)) for k, v in state.items()}, strict=False)
    missing = {k for k in model.state_dict() if not k.endswith("num_batches_tracked")} - {f"layer.{k}" for k in state}
    assert not missing
    model.train(training)
    with torch.no_grad():
        got = model({"in0": torch.from_numpy(x)})["out"].numpy()
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, atol=1e-5, rtol=1e-5)


def test_depthwise_conv2d_outputs_equal_keras():
    _run_both(lambda: L.DepthwiseConv2D(3, strides=2, padding="same", depth_multiplier=2), "DepthwiseConv2D",
              {"kernel_size": 3, "strides": 2, "padding": "same", "depth_multiplier": 2}, (3, 8, 9),
              lambda l: {"weight": _depthwise_kernel(_np(l.kernel)), "bias": _np(l.bias)})


def test_separable_conv2d_outputs_equal_keras():
    _run_both(lambda: L.SeparableConv2D(5, (3, 2), padding="same", depth_multiplier=2), "SeparableConv2D",
              {"filters": 5, "kernel_size": [3, 2], "padding": "same", "depth_multiplier": 2}, (3, 7, 8),
              lambda l: {"depthwise.weight": _depthwise_kernel(_np(l.depthwise_kernel)),
                         "pointwise.weight": _conv_kernel(_np(l.pointwise_kernel)), "pointwise.bias": _np(l.bias)})


def test_grouped_conv2d_outputs_equal_keras():
    _run_both(lambda: L.Conv2D(6, 3, groups=3, strides=2, padding="same"), "Conv2D",
              {"filters": 6, "kernel_size": 3, "groups": 3, "strides": 2, "padding": "same"}, (6, 8, 7),
              lambda l: {"weight": _conv_kernel(_np(l.kernel)), "bias": _np(l.bias)})


@pytest.mark.parametrize("training", [False, True])
def test_batchnorm_without_center_and_scale_equals_keras(training):
    _run_both(lambda: L.BatchNormalization(center=False, scale=False), "BatchNormalization",
              {"center": False, "scale": False}, (3, 5, 4),
              lambda l: {"running_mean": _np(l.moving_mean), "running_var": _np(l.moving_variance)}, training=training)


def test_layernorm_over_channels_equals_keras_on_channels_last():
    _run_both(lambda: L.LayerNormalization(scale=False), "LayerNormalization", {"axis": 1, "scale": False}, (4, 3, 5),
              lambda l: {"bias": _np(l.beta)})


@pytest.mark.parametrize("name", typing.get_args(ActivationName))
def test_activation_functions_equal_keras(name):
    """Every activation name, through our Activation layer, equals Keras's function of that name
    (hardsigmoid is our extra spelling of Keras's hard_sigmoid)."""
    x = np.linspace(-6, 6, 97, dtype="float32").reshape(1, 97)
    expected = _np(L.Activation("hard_sigmoid" if name == "hardsigmoid" else name)(x))
    analysis = analyze(our_graph(Case(lambda: None, "Activation", {"activation": name}, [(97,)])))
    model = build_model(analysis, seed=0).eval()
    with torch.no_grad():
        got = model({"in0": torch.from_numpy(x)})["out"].numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


NO_WEIGHTS = [
    (lambda: L.ReLU(max_value=6.0), "ReLU", {"max_value": 6.0}),
    (lambda: L.ReLU(max_value=2.0, negative_slope=0.1, threshold=0.5), "ReLU", {"max_value": 2.0, "negative_slope": 0.1, "threshold": 0.5}),
    (lambda: L.ReLU(negative_slope=0.2, threshold=0.3), "ReLU", {"negative_slope": 0.2, "threshold": 0.3}),
    (lambda: L.LeakyReLU(), "LeakyReLU", {}),
    (lambda: L.ELU(alpha=0.5), "ELU", {"alpha": 0.5}),
    (lambda: L.Softmax(), "Softmax", {"axis": 1}),
    (lambda: L.UnitNormalization(), "UnitNormalization", {"axis": 1}),
    (lambda: L.Rescaling(1 / 127.5, offset=-1), "Rescaling", {"scale": 1 / 127.5, "offset": -1.0}),
    (lambda: L.Cropping2D(((1, 0), (2, 1))), "Cropping2D", {"cropping": [[1, 0], [2, 1]]}),
    (lambda: L.MaxPooling2D(3, strides=2, padding="same"), "MaxPooling2D", {"pool_size": 3, "strides": 2, "padding": "same"}),
]


@pytest.mark.parametrize("make,our_type,params", NO_WEIGHTS, ids=[f"{t}-{i}" for i, (_, t, _) in enumerate(NO_WEIGHTS)])
def test_weightless_layers_equal_keras(make, our_type, params):
    _run_both(make, our_type, params, (3, 6, 7), lambda l: {})


def test_sequence_layers_equal_keras():
    _run_both(lambda: L.ZeroPadding1D((2, 1)), "ZeroPadding1D", {"padding": [2, 1]}, (3, 5), lambda l: {})
    _run_both(lambda: L.UpSampling1D(3), "UpSampling1D", {"size": 3}, (3, 5), lambda l: {})
    _run_both(lambda: L.Cropping1D((2, 1)), "Cropping1D", {"cropping": [2, 1]}, (3, 7), lambda l: {})
    _run_both(lambda: L.Conv1DTranspose(4, 3, strides=2, padding="same"), "Conv1DTranspose",
              {"filters": 4, "kernel_size": 3, "strides": 2, "padding": "same"}, (3, 6),
              lambda l: {"weight": _np(l.kernel).transpose(2, 1, 0), "bias": _np(l.bias)})  # (k, F, C) -> (C, F, k)
    _run_both(lambda: L.SeparableConv1D(4, 3, strides=2, padding="same", depth_multiplier=2), "SeparableConv1D",
              {"filters": 4, "kernel_size": 3, "strides": 2, "padding": "same", "depth_multiplier": 2}, (3, 8),
              lambda l: {"depthwise.weight": _np(l.depthwise_kernel).reshape(3, 6).T[:, None],
                         "pointwise.weight": _np(l.pointwise_kernel).transpose(2, 1, 0), "pointwise.bias": _np(l.bias)})


def test_learned_activation_and_norms_equal_keras():
    _run_both(lambda: L.PReLU(shared_axes=[1, 2]), "PReLU", {"shared_axes": [2, 3]}, (3, 4, 5),
              lambda l: {"weight": _np(l.alpha).reshape(3, 1, 1)})
    _run_both(lambda: L.GroupNormalization(groups=2), "GroupNormalization", {"groups": 2}, (4, 3, 5),
              lambda l: {"weight": _np(l.gamma), "bias": _np(l.beta)})
    _run_both(lambda: L.LayerNormalization(axis=[1, 2, 3]), "LayerNormalization", {"axis": [1, 2, 3]}, (3, 4, 5),
              lambda l: {"weight": np.moveaxis(_np(l.gamma), -1, 0), "bias": np.moveaxis(_np(l.beta), -1, 0)})
    _run_both(lambda: L.Conv3D(4, 2, strides=2, padding="same", groups=2), "Conv3D",
              {"filters": 4, "kernel_size": 2, "strides": 2, "padding": "same", "groups": 2}, (2, 3, 5, 4),
              lambda l: {"weight": _np(l.kernel).transpose(4, 3, 0, 1, 2), "bias": _np(l.bias)})


@pytest.mark.parametrize("kernel,strides,padding", [(3, 2, "same"), (2, 1, "same"), (4, 2, "same"), (3, 1, "same"),
                                                    (2, 3, "valid"), (3, 2, "valid"), (1, 2, "same")])
def test_conv2d_transpose_outputs_equal_keras(kernel, strides, padding):
    _run_both(lambda: L.Conv2DTranspose(3, kernel, strides=strides, padding=padding), "Conv2DTranspose",
              {"filters": 3, "kernel_size": kernel, "strides": strides, "padding": padding}, (2, 4, 5),
              lambda l: {"weight": _np(l.kernel).transpose(3, 2, 0, 1), "bias": _np(l.bias)})  # (kh, kw, F, C) -> (C, F, kh, kw)


# --- Blocks of real architectures, wired in both worlds --------------------------------------------------------------

def _our_dag(input_shape, nodes):
    """nodes: (id, type, params, [source ids]); the last node feeds the Output."""
    doc_nodes = [{"id": "x", "type": "Input", "params": {"shape": list(input_shape)}}]
    edges = []
    for nid, typ, params, sources in nodes:
        doc_nodes.append({"id": nid, "type": typ, "params": params})
        edges += [{"source": s, "target": nid, "target_port": i} for i, s in enumerate(sources)]
    doc_nodes.append({"id": "y", "type": "Output", "params": {"loss": "mse"}})
    edges.append({"source": nodes[-1][0], "target": "y"})
    return analyze({"format": "layerloom.graph", "version": 1, "name": "block", "nodes": doc_nodes, "edges": edges})


def test_mobilenetv2_inverted_residual_and_squeeze_excitation_equal_keras():
    # Keras, channels-last: expand 1x1 -> BN -> ReLU6 -> pad -> depthwise 3x3 s2 -> BN -> ReLU6 -> SE -> project -> BN.
    inp = keras.Input((16, 16, 8))
    h = L.ReLU(6.0)(L.BatchNormalization()(L.Conv2D(48, 1, use_bias=False)(inp)))
    h = L.ZeroPadding2D(((0, 1), (0, 1)))(h)
    h = L.ReLU(6.0)(L.BatchNormalization()(L.DepthwiseConv2D(3, strides=2, use_bias=False)(h)))
    se = L.GlobalAveragePooling2D(keepdims=True)(h)
    se = L.Conv2D(48, 1, activation="sigmoid")(L.Conv2D(12, 1, activation="swish")(se))
    h = L.Multiply()([h, se])
    out = L.BatchNormalization()(L.Conv2D(16, 1, use_bias=False)(h))
    model = keras.Model(inp, out)
    ours = _our_dag((8, 16, 16), [
        ("expand", "Conv2D", {"filters": 48, "kernel_size": 1, "use_bias": False}, ["x"]),
        ("bn1", "BatchNormalization", {}, ["expand"]), ("relu1", "ReLU", {"max_value": 6}, ["bn1"]),
        ("pad", "ZeroPadding2D", {"padding": [[0, 1], [0, 1]]}, ["relu1"]),
        ("dw", "DepthwiseConv2D", {"kernel_size": 3, "strides": 2, "use_bias": False}, ["pad"]),
        ("bn2", "BatchNormalization", {}, ["dw"]), ("relu2", "ReLU", {"max_value": 6}, ["bn2"]),
        ("squeeze", "GlobalAveragePooling2D", {"keepdims": True}, ["relu2"]),
        ("reduce", "Conv2D", {"filters": 12, "kernel_size": 1, "activation": "swish"}, ["squeeze"]),
        ("excite", "Conv2D", {"filters": 48, "kernel_size": 1, "activation": "sigmoid"}, ["reduce"]),
        ("scale", "Multiply", {}, ["relu2", "excite"]),
        ("project", "Conv2D", {"filters": 16, "kernel_size": 1, "use_bias": False}, ["scale"]),
        ("bn3", "BatchNormalization", {}, ["project"]),
    ])
    assert ours.ok, [i.message for i in ours.errors]
    assert (ours.trainable_params, ours.non_trainable_params) == keras_counts(model)
    assert ours.nodes["bn3"].output.shape == from_keras(tuple(out.shape[1:]), "channels")
    assert ours.nodes["scale"].output.shape == (48, 8, 8)


def test_convnext_block_ported_with_channel_axes_equals_keras_and_a_naive_port_warns():
    inp = keras.Input((14, 14, 32))
    h = L.DepthwiseConv2D(7, padding="same")(inp)
    h = L.LayerNormalization(epsilon=1e-6)(h)
    h = L.Dense(128, activation="gelu")(h)
    h = L.Dense(32)(h)
    out = L.Add()([inp, h])
    model = keras.Model(inp, out)
    faithful = _our_dag((32, 14, 14), [
        ("dw", "DepthwiseConv2D", {"kernel_size": 7, "padding": "same"}, ["x"]),
        ("ln", "LayerNormalization", {"axis": 1, "epsilon": 1e-6}, ["dw"]),
        ("pw1", "Conv2D", {"filters": 128, "kernel_size": 1, "activation": "gelu"}, ["ln"]),
        ("pw2", "Conv2D", {"filters": 32, "kernel_size": 1}, ["pw1"]),
        ("add", "Add", {}, ["x", "pw2"]),
    ])
    assert faithful.ok and not [w for w in faithful.warnings if w.code == "channels"]
    assert (faithful.trainable_params, faithful.non_trainable_params) == keras_counts(model)
    assert faithful.nodes["add"].output.shape == from_keras(tuple(out.shape[1:]), "channels")
    naive = _our_dag((32, 14, 14), [
        ("dw", "DepthwiseConv2D", {"kernel_size": 7, "padding": "same"}, ["x"]),
        ("ln", "LayerNormalization", {"epsilon": 1e-6}, ["dw"]),
        ("d1", "Dense", {"units": 128, "activation": "gelu"}, ["ln"]),
        ("d2", "Dense", {"units": 14}, ["d1"]),
        ("add", "Add", {}, ["x", "d2"]),
    ])
    assert naive.ok  # it runs, but it is a different model: each of these acts on the width
    assert {w.node for w in naive.warnings if w.code == "channels"} == {"ln", "d1", "d2"}


def test_xception_entry_block_equals_keras():
    inp = keras.Input((20, 20, 32))
    residual = L.BatchNormalization()(L.Conv2D(64, 1, strides=2, padding="same", use_bias=False)(inp))
    h = L.BatchNormalization()(L.SeparableConv2D(64, 3, padding="same", use_bias=False)(inp))
    h = L.ReLU()(h)
    h = L.BatchNormalization()(L.SeparableConv2D(64, 3, padding="same", use_bias=False)(h))
    h = L.MaxPooling2D(3, strides=2, padding="same")(h)
    out = L.Add()([h, residual])
    model = keras.Model(inp, out)
    ours = _our_dag((32, 20, 20), [
        ("res", "Conv2D", {"filters": 64, "kernel_size": 1, "strides": 2, "padding": "same", "use_bias": False}, ["x"]),
        ("res_bn", "BatchNormalization", {}, ["res"]),
        ("sep1", "SeparableConv2D", {"filters": 64, "kernel_size": 3, "padding": "same", "use_bias": False}, ["x"]),
        ("bn1", "BatchNormalization", {}, ["sep1"]), ("relu", "ReLU", {}, ["bn1"]),
        ("sep2", "SeparableConv2D", {"filters": 64, "kernel_size": 3, "padding": "same", "use_bias": False}, ["relu"]),
        ("bn2", "BatchNormalization", {}, ["sep2"]),
        ("pool", "MaxPooling2D", {"pool_size": 3, "strides": 2, "padding": "same"}, ["bn2"]),
        ("add", "Add", {}, ["pool", "res_bn"]),
    ])
    assert ours.ok, [i.message for i in ours.errors]
    assert (ours.trainable_params, ours.non_trainable_params) == keras_counts(model)
    assert ours.nodes["add"].output.shape == from_keras(tuple(out.shape[1:]), "channels")


@pytest.mark.parametrize("make,our_type,params", [
    (lambda: L.MaxPooling3D(3, strides=2, padding="same"), "MaxPooling3D", {"pool_size": 3, "strides": 2, "padding": "same"}),
    (lambda: L.AveragePooling3D(2, strides=2, padding="same"), "AveragePooling3D", {"pool_size": 2, "strides": 2, "padding": "same"}),
    (lambda: L.AveragePooling3D((1, 2, 2)), "AveragePooling3D", {"pool_size": [1, 2, 2]}),
    (lambda: L.GlobalMaxPooling3D(keepdims=True), "GlobalMaxPooling3D", {"keepdims": True}),
], ids=["max-same", "avg-same", "avg-valid", "global-max"])
def test_volume_pooling_equals_keras(make, our_type, params):
    _run_both(make, our_type, params, (2, 3, 5, 4), lambda l: {})
