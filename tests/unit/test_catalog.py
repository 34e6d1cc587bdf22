"""One harness over the whole catalog, plus parameter counts checked against Keras's formulas."""

from __future__ import annotations

import json

import pytest

from graph_helpers import chain, random_inputs, real_output_shapes, real_weight_counts
from layerloom.graph import analyze, build_model, catalog_json, get_layer, layer_types

# A sample input for each layer type (per-sample shape, dtype); merges get two copies.
SAMPLE_INPUT = {
    "Dense": ([4, 6], "float32"), "Activation": ([5, 7], "float32"), "Dropout": ([3, 6], "float32"),
    "ActivityRegularization": ([6], "float32"), "Flatten": ([2, 3, 4], "float32"), "Reshape": ([2, 6], "float32"),
    "Permute": ([5], "float32"), "RepeatVector": ([5], "float32"), "Embedding": ([7], "int64"),
    "Conv1D": ([3, 11], "float32"), "Conv2D": ([3, 9, 10], "float32"), "Conv2DTranspose": ([3, 5, 6], "float32"),
    "UpSampling2D": ([2, 4, 5], "float32"), "ZeroPadding2D": ([2, 4, 5], "float32"),
    "MaxPooling1D": ([3, 9], "float32"), "AveragePooling1D": ([3, 9], "float32"),
    "MaxPooling2D": ([3, 7, 9], "float32"), "AveragePooling2D": ([3, 7, 9], "float32"),
    "GlobalMaxPooling1D": ([3, 9], "float32"), "GlobalAveragePooling1D": ([3, 9], "float32"),
    "GlobalMaxPooling2D": ([3, 7, 9], "float32"), "GlobalAveragePooling2D": ([3, 7, 9], "float32"),
    "BatchNormalization": ([4, 5, 6], "float32"), "LayerNormalization": ([4, 5, 6], "float32"),
    "SimpleRNN": ([6, 3], "float32"), "LSTM": ([6, 3], "float32"), "GRU": ([6, 3], "float32"),
    "Add": ([4, 3], "float32"), "Subtract": ([4, 3], "float32"), "Multiply": ([4, 3], "float32"),
    "Average": ([4, 3], "float32"), "Maximum": ([4, 3], "float32"), "Minimum": ([4, 3], "float32"),
    "Concatenate": ([4, 3], "float32"), "Dot": ([4, 3], "float32"),
    "Lambda": ([2, 3, 4], "float32"), "Normalization": ([2, 3, 6], "float32"),
    "Conv3D": ([2, 5, 6, 7], "float32"), "DepthwiseConv1D": ([3, 11], "float32"), "DepthwiseConv2D": ([3, 9, 10], "float32"),
    "SeparableConv1D": ([3, 11], "float32"), "SeparableConv2D": ([3, 9, 10], "float32"),
    "Conv1DTranspose": ([3, 6], "float32"), "MaxPooling3D": ([2, 5, 6, 7], "float32"),
    "AveragePooling3D": ([2, 5, 6, 7], "float32"), "GlobalMaxPooling3D": ([2, 3, 4, 5], "float32"),
    "GlobalAveragePooling3D": ([2, 3, 4, 5], "float32"), "UpSampling1D": ([2, 5], "float32"),
    "ZeroPadding1D": ([2, 5], "float32"), "Cropping1D": ([2, 7], "float32"), "Cropping2D": ([2, 6, 7], "float32"),
    "ReLU": ([3, 4, 5], "float32"), "LeakyReLU": ([6], "float32"), "PReLU": ([3, 4, 5], "float32"),
    "ELU": ([2, 6], "float32"), "Softmax": ([3, 4, 5], "float32"), "GroupNormalization": ([4, 5, 6], "float32"),
    "UnitNormalization": ([3, 4, 5], "float32"), "Rescaling": ([3, 4, 4], "float32"),
    "SpatialDropout1D": ([3, 8], "float32"), "SpatialDropout2D": ([3, 4, 5], "float32"),
    "SpatialDropout3D": ([2, 3, 4, 5], "float32"), "GaussianNoise": ([6], "float32"), "GaussianDropout": ([6], "float32"),
    "Masking": ([6, 3], "float32"), "PositionEmbedding": ([6, 3], "float32"),
    "MultiHeadAttention": ([5, 6], "float32"), "TimeDistributed": ([4, 3, 6], "float32"),
    "Bidirectional": ([6, 3], "float32"),
    **{t: ([3, 6, 7], "float32") for t in ("RandomFlip", "RandomRotation", "RandomZoom", "RandomTranslation",
                                          "RandomCrop", "RandomContrast", "RandomBrightness")},
}
CASES = [(t, p) for t in layer_types() if t not in ("Input", "Output") for p in type(get_layer(t)).example_params]


def single_layer_graph(layer_type: str, params: dict) -> dict:
    shape, dtype = SAMPLE_INPUT[layer_type]
    layer = get_layer(layer_type)
    n_in = max(layer.min_inputs, 1)
    nodes = [{"id": f"in{i}", "type": "Input", "params": {"shape": shape, "dtype": dtype}} for i in range(n_in)]
    nodes += [{"id": "layer", "type": layer_type, "params": params}, {"id": "out", "type": "Output", "params": {"loss": "mse"}}]
    edges = [{"source": f"in{i}", "target": "layer", "target_port": i} for i in range(n_in)]
    edges.append({"source": "layer", "target": "out"})
    return {"format": "layerloom.graph", "version": 1, "name": layer_type, "nodes": nodes, "edges": edges}


def test_every_layer_has_a_sample_input():
    assert sorted(SAMPLE_INPUT) == sorted(t for t in layer_types() if t not in ("Input", "Output"))


@pytest.mark.parametrize("layer_type,params", CASES, ids=[f"{t}-{i}" for i, (t, _) in enumerate(CASES)])
def test_layer_shapes_and_weights_match_the_real_module(layer_type, params):
    analysis = analyze(single_layer_graph(layer_type, params))
    assert analysis.ok, [i.message for i in analysis.issues]
    model = build_model(analysis, seed=0)
    model.eval()
    inputs = random_inputs(analysis)
    real = real_output_shapes(model, analysis, inputs)
    assert real["layer"] == analysis.nodes["layer"].output.shape
    info = analysis.nodes["layer"]
    assert real_weight_counts(model, "layer") == (info.trainable, info.non_trainable)
    # Named weights match the state_dict exactly (names and shapes).
    expected = {f"layer.{w.name}": w.shape for w in info.weights}
    actual = {k: tuple(v.shape) for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    assert actual == expected
    # Params round-trip through JSON and the catalog publishes a schema for them.
    parsed = type(get_layer(layer_type)).params_model.model_validate(json.loads(json.dumps(params)))
    assert type(parsed).model_validate(parsed.model_dump()) == parsed


def test_catalog_is_published_with_json_schemas():
    catalog = catalog_json()
    types = [entry["type"] for entry in catalog]
    assert len(types) == len(set(types)) == len(layer_types())
    dense = next(e for e in catalog if e["type"] == "Dense")
    assert dense["category"] == "Core" and dense["doc"]
    assert dense["params_schema"]["properties"]["units"]["type"] == "integer"
    assert "units" in dense["params_schema"]["required"]
    add = next(e for e in catalog if e["type"] == "Add")
    assert add["inputs"] == {"min": 2, "max": None}
    assert [e["category"] for e in catalog][0] == "Inputs/Outputs"


def params_of(*layers, input_shape, dtype="float32"):
    doc = chain(("x", "Input", {"shape": input_shape, "dtype": dtype}), *layers, ("y", "Output", {"loss": "mse"}))
    analysis = analyze(doc)
    assert analysis.ok, [i.message for i in analysis.issues]
    return {nid: (n.trainable, n.non_trainable) for nid, n in analysis.nodes.items()}


# Keras formulas: Dense in*units + units; Conv k*k*cin*f + f; Embedding vocab*dim; GRU (reset_after)
# 3*(u*in + u*u + 2u); BatchNormalization 4*C of which 2*C non-trainable; LSTM in Keras 4*(u*in + u*u + u).
def test_dense_conv_embedding_counts_follow_keras():
    assert params_of(("d", "Dense", {"units": 64}), input_shape=[100])["d"] == (100 * 64 + 64, 0)
    assert params_of(("c", "Conv2D", {"filters": 32, "kernel_size": 3}), input_shape=[3, 32, 32])["c"] == (3 * 3 * 3 * 32 + 32, 0)
    assert params_of(("c", "Conv1D", {"filters": 8, "kernel_size": 5, "use_bias": False}), input_shape=[4, 20])["c"] == (5 * 4 * 8, 0)
    assert params_of(("t", "Conv2DTranspose", {"filters": 16, "kernel_size": 3, "strides": 2}), input_shape=[8, 7, 7])["t"] == (3 * 3 * 8 * 16 + 16, 0)
    assert params_of(("e", "Embedding", {"input_dim": 1000, "output_dim": 64}), input_shape=[10], dtype="int64")["e"] == (64_000, 0)


def test_recurrent_counts_follow_keras_or_the_documented_difference():
    u, n = 32, 10
    assert params_of(("g", "GRU", {"units": u}), input_shape=[5, n])["g"] == (3 * (u * n + u * u + 2 * u), 0)
    keras_lstm = 4 * (u * n + u * u + u)
    assert params_of(("l", "LSTM", {"units": u}), input_shape=[5, n])["l"] == (keras_lstm + 4 * u, 0)  # PyTorch: 2 biases
    keras_rnn = u * n + u * u + u
    assert params_of(("r", "SimpleRNN", {"units": u}), input_shape=[5, n])["r"] == (keras_rnn + u, 0)
    both = params_of(("l", "LSTM", {"units": u, "bidirectional": True}), input_shape=[5, n])["l"]
    assert both == (2 * (keras_lstm + 4 * u), 0)


def test_batchnorm_counts_moving_statistics_as_non_trainable():
    counts = params_of(("bn", "BatchNormalization", {}), input_shape=[16, 8, 8])
    assert counts["bn"] == (32, 32)


def test_pooling_and_merges_have_no_parameters():
    counts = params_of(("p", "MaxPooling2D", {}), ("g", "GlobalAveragePooling2D", {}), input_shape=[3, 8, 8])
    assert counts["p"] == counts["g"] == (0, 0)

