"""The built-in blocks against Keras 3 itself (torch backend, test-only): Keras's own ResNet block
function and keras.applications.ResNet50, and the other library blocks written as Keras layers.
Parameter counts (total, trainable, non-trainable) and output shapes (channels-last converted to
channels-first) must be equal."""

from __future__ import annotations

import math
import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras  # noqa: E402
import pytest  # noqa: E402
from keras import layers  # noqa: E402
from keras.src.applications.efficientnet import block as efficientnet_block  # noqa: E402
from keras.src.applications.mobilenet import _depthwise_conv_block  # noqa: E402
from keras.src.applications.resnet import residual_block_v1  # noqa: E402

from graph_helpers import efficientnet_b0_with_blocks, resnet50_with_blocks  # noqa: E402
from layerloom.graph import analyze, layer_types  # noqa: E402
from layerloom.graph.block_library import block_definition, library_json  # noqa: E402


def one_call(block: str, shape: list[int], **args) -> dict:
    """Input (channels-first ``shape``) -> one call of a library block -> Output."""
    return {"format": "layerloom.graph", "version": 1, "name": block,
            "nodes": [{"id": "x", "type": "Input", "params": {"shape": shape}},
                      {"id": "call", "type": "Block", "params": {"block": block, "args": args}},
                      {"id": "y", "type": "Output", "params": {"loss": "mse"}}],
            "edges": [{"source": "x", "target": "call"}, {"source": "call", "target": "y"}],
            "blocks": {block: block_definition(block)}}


def keras_counts(model: keras.Model) -> tuple[int, int, int]:
    trainable = sum(math.prod(w.shape) for w in model.trainable_weights)
    non_trainable = sum(math.prod(w.shape) for w in model.non_trainable_weights)
    return trainable + non_trainable, trainable, non_trainable


def channels_first(shape: tuple) -> tuple[int, ...]:
    *_, h, w, c = shape
    return (c, h, w)


def assert_same(document: dict, model: keras.Model) -> None:
    analysis = analyze(document)
    assert analysis.ok, analysis.errors
    assert (analysis.total_params, analysis.trainable_params, analysis.non_trainable_params) == keras_counts(model)
    assert analysis.nodes["y"].output.shape == channels_first(model.output.shape)


@pytest.mark.parametrize("filters, stride, channels, size", [(64, 1, 64, 8), (32, 2, 48, 9), (16, 2, 64, 7)])
def test_bottleneck_is_kerass_residual_block_v1_with_conv_shortcut(filters, stride, channels, size) -> None:
    x = keras.Input((size, size, channels))
    model = keras.Model(x, residual_block_v1(x, filters, stride=stride, conv_shortcut=True, name="b"))
    assert_same(one_call("bottleneck", [channels, size, size], filters=filters, out_filters=4 * filters,
                         strides=stride), model)


@pytest.mark.parametrize("filters, size", [(64, 8), (16, 5)])
def test_bottleneck_identity_is_kerass_residual_block_v1_without_conv_shortcut(filters, size) -> None:
    x = keras.Input((size, size, 4 * filters))
    model = keras.Model(x, residual_block_v1(x, filters, conv_shortcut=False, name="b"))
    assert_same(one_call("bottleneck_identity", [4 * filters, size, size], filters=filters,
                         out_filters=4 * filters), model)


def test_resnet50_drawn_with_blocks_is_keras_applications_resnet50() -> None:
    reference = keras.applications.ResNet50(weights=None)
    analysis = analyze(resnet50_with_blocks())
    assert analysis.ok, analysis.errors
    assert (analysis.total_params, analysis.trainable_params, analysis.non_trainable_params) == keras_counts(reference)
    for call in analysis.calls.values():  # every block's output, named as Keras names it
        ours = analysis.nodes[call.outputs[0]].output.shape
        assert ours == channels_first(reference.get_layer(f"{call.id}_out").output.shape), call.id


def test_efficientnet_b0_drawn_with_blocks_is_keras_applications_efficientnet_b0() -> None:
    offered("mbconv")
    reference = keras.applications.EfficientNetB0(weights=None)
    analysis = analyze(efficientnet_b0_with_blocks())
    assert analysis.ok, analysis.errors
    assert (analysis.total_params, analysis.trainable_params, analysis.non_trainable_params) == keras_counts(reference)
    assert analysis.total_params == 5_330_571
    for call in analysis.calls.values():  # every block's output, named as Keras names it
        last = "add" if call.block == "mbconv_residual" else "project_bn"
        ours = analysis.nodes[call.outputs[0]].output.shape
        assert ours == channels_first(reference.get_layer(f"{call.id}_{last}").output.shape), call.id


def test_residual_inception_and_squeeze_excitation_match_the_same_keras_layers() -> None:
    x = keras.Input((8, 8, 16))
    y = layers.Conv2D(16, 3, padding="same")(x)
    y = layers.Activation("relu")(layers.BatchNormalization()(y))
    y = layers.BatchNormalization()(layers.Conv2D(16, 3, padding="same")(y))
    assert_same(one_call("residual", [16, 8, 8], filters=16),
                keras.Model(x, layers.Activation("relu")(layers.Add()([y, x]))))

    x = keras.Input((8, 8, 192))
    b1 = layers.Conv2D(64, 1, activation="relu")(x)
    b3 = layers.Conv2D(128, 3, padding="same", activation="relu")(layers.Conv2D(96, 1, activation="relu")(x))
    b5 = layers.Conv2D(32, 5, padding="same", activation="relu")(layers.Conv2D(16, 1, activation="relu")(x))
    pool = layers.Conv2D(32, 1, activation="relu")(layers.MaxPooling2D(3, strides=1, padding="same")(x))
    assert_same(one_call("inception", [192, 8, 8]), keras.Model(x, layers.Concatenate()([b1, b3, b5, pool])))

    x = keras.Input((8, 8, 32))
    gate = layers.GlobalAveragePooling2D(keepdims=True)(x)
    gate = layers.Conv2D(32, 1, activation="sigmoid")(layers.Conv2D(8, 1, activation="relu")(gate))
    assert_same(one_call("squeeze_excitation", [32, 8, 8], filters=32, squeeze_filters=8),
                keras.Model(x, layers.Multiply()([x, gate])))


def offered(name: str) -> None:
    """Skip only while a layer the block needs is missing from the catalog; once the layers exist, a
    block that fails to check fails the test."""
    missing = {n["type"] for n in block_definition(name)["nodes"]} - set(layer_types())
    if missing:
        pytest.skip(f"the library block {name!r} needs {', '.join(sorted(missing))}, not in this catalog yet")


@pytest.mark.parametrize("filters, strides, multiplier, channels, size", [(64, 1, 1, 32, 8), (24, 2, 2, 16, 10)])
def test_depthwise_separable_is_mobilenets_depthwise_conv_block(filters, strides, multiplier, channels, size) -> None:
    offered("depthwise_separable")
    x = keras.Input((size, size, channels))
    model = keras.Model(x, _depthwise_conv_block(x, filters, 1.0, depth_multiplier=multiplier,
                                                 strides=(strides, strides), block_id=1))
    assert_same(one_call("depthwise_separable", [channels, size, size], filters=filters, strides=strides,
                         depth_multiplier=multiplier), model)


@pytest.mark.parametrize("name, filters_in, filters_out, expand_ratio, kernel_size, strides", [
    ("mbconv_no_expansion", 32, 16, 1, 3, 1),  # EfficientNetB0's block1a
    ("mbconv", 16, 24, 6, 3, 2),  # block2a
    ("mbconv_residual", 24, 24, 6, 3, 1),  # block2b
    ("mbconv", 40, 80, 6, 5, 2),
    ("mbconv_residual", 80, 80, 6, 5, 1),
])
def test_mbconv_is_efficientnets_block(name, filters_in, filters_out, expand_ratio, kernel_size, strides) -> None:
    offered(name)
    size = 12
    x = keras.Input((size, size, filters_in))
    model = keras.Model(x, efficientnet_block(x, filters_in=filters_in, filters_out=filters_out, kernel_size=kernel_size,
                                              strides=strides, expand_ratio=expand_ratio, se_ratio=0.25,
                                              drop_rate=0.1, name="b"))
    args = {"filters_in": filters_in, "squeeze": max(1, int(filters_in * 0.25)), "kernel_size": kernel_size}
    if expand_ratio != 1:
        args["expanded"] = filters_in * expand_ratio
    if name == "mbconv_residual":
        args["drop_rate"] = 0.1
    else:
        args.update(filters_out=filters_out, strides=strides)
    assert_same(one_call(name, [filters_in, size, size], **args), model)


@pytest.mark.parametrize("embed_dim, num_heads, ff_dim, steps", [(32, 2, 32, 10), (16, 4, 64, 7)])
def test_transformer_encoder_is_the_keras_io_transformer_block(embed_dim, num_heads, ff_dim, steps) -> None:
    offered("transformer_encoder")
    x = keras.Input((steps, embed_dim))
    attention = layers.Dropout(0.1)(layers.MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim)(x, x))
    out1 = layers.LayerNormalization(epsilon=1e-6)(x + attention)
    ffn = layers.Dense(embed_dim)(layers.Dense(ff_dim, activation="relu")(out1))
    out2 = layers.LayerNormalization(epsilon=1e-6)(out1 + layers.Dropout(0.1)(ffn))
    analysis = analyze(one_call("transformer_encoder", [steps, embed_dim], embed_dim=embed_dim,
                                num_heads=num_heads, ff_dim=ff_dim))
    assert analysis.ok, analysis.errors
    assert analysis.total_params == keras_counts(keras.Model(x, out2))[0]
    assert analysis.nodes["y"].output.shape == tuple(out2.shape[1:])


def test_every_offered_block_has_a_keras_comparison_here() -> None:
    compared = {"bottleneck", "bottleneck_identity", "residual", "inception", "squeeze_excitation",
                "depthwise_separable", "mbconv", "mbconv_residual", "mbconv_no_expansion", "transformer_encoder"}
    offered = {entry["name"] for entry in library_json()}
    assert offered - compared == set(), "add a Keras comparison for the new library block(s)"
