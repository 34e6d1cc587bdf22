"""Keras's own numbers, not ours (issue 9): Keras 3 itself (torch backend, a test-only dependency,
``weights=None``) builds keras.applications' models, and the generated examples in examples/ must
equal them: totals, trainable and non-trainable counts, and layer by layer the class, the output
shape (Keras's channels-last converted to our channels-first), the counts and the inputs it is
wired to. Our nodes are matched to Keras's layers by name: the generator (examples/generate_zoo.py)
records, for every node it writes, Keras's name for the same layer.

Building a keras.applications model takes seconds, so each is built once, by the one test that needs
it; our side is analysis only (no module is built)."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
from functools import cache
from pathlib import Path

os.environ["KERAS_BACKEND"] = "torch"  # before keras is imported anywhere

import pytest  # noqa: E402

from layerloom.graph import analyze  # noqa: E402
from layerloom.settings import Settings  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"

# keras.applications constructor per generated example, and the totals issue 9 quotes from Keras.
APPLICATIONS = {
    "mobilenet_v2": ("MobileNetV2", 3_538_984),
    "efficientnet_b0": ("EfficientNetB0", 5_330_571),
    "inception_v3": ("InceptionV3", 23_851_784),
    "xception": ("Xception", 22_910_480),
    "resnet50": ("ResNet50", 25_636_712),
    "densenet121": ("DenseNet121", 8_062_504),
}
MODELS = [*APPLICATIONS, "se_cnn", "transformer_text_classifier", "masked_lstm"]
HAND_WRITTEN = {"masked_lstm": {"steps": "input_layer", "masking": "masking", "lstm": "lstm", "classifier": "classifier"}}


def keras_transformer_text_classifier():
    """keras.io's "Text classification with Transformer", its TokenAndPositionEmbedding written out as
    layers (keras_hub's PositionEmbedding: a learned table of the first `length` positions) and its
    feed-forward Sequential as two Dense layers (the same weights)."""
    import keras

    L, ops = keras.layers, keras.ops

    class PositionEmbedding(L.Layer):
        def __init__(self, sequence_length, **kwargs):
            super().__init__(**kwargs)
            self.sequence_length = sequence_length

        def build(self, input_shape):
            self.embeddings = self.add_weight(shape=(self.sequence_length, input_shape[-1]), initializer="glorot_uniform")

        def call(self, x):
            return ops.broadcast_to(self.embeddings[: ops.shape(x)[1]], ops.shape(x))

    tokens = keras.Input((200,), dtype="int64")
    token_emb = L.Embedding(20_000, 32, name="token_emb")(tokens)
    x = L.Add(name="embedding")([token_emb, PositionEmbedding(200, name="position_emb")(token_emb)])
    attention = L.MultiHeadAttention(num_heads=2, key_dim=32, name="transformer_attention")(x, x)
    attention = L.Dropout(0.1, name="transformer_dropout1")(attention)
    out1 = L.LayerNormalization(epsilon=1e-6, name="transformer_norm1")(L.Add(name="transformer_add1")([x, attention]))
    ffn = L.Dense(32, activation="relu", name="transformer_ff1")(out1)
    ffn = L.Dropout(0.1, name="transformer_dropout2")(L.Dense(32, name="transformer_ff2")(ffn))
    x = L.LayerNormalization(epsilon=1e-6, name="transformer_norm2")(L.Add(name="transformer_add2")([out1, ffn]))
    x = L.Dropout(0.1, name="dropout1")(L.GlobalAveragePooling1D(name="avg_pool")(x))
    x = L.Dropout(0.1, name="dropout2")(L.Dense(20, activation="relu", name="hidden")(x))
    return keras.Model(tokens, L.Dense(2, activation="softmax", name="predictions")(x))


def keras_masked_lstm():
    import keras

    L = keras.layers
    steps = keras.Input((30, 8))
    x = L.LSTM(32, name="lstm")(L.Masking(0.0, name="masking")(steps))
    return keras.Model(steps, L.Dense(1, activation="sigmoid", name="classifier")(x))


def documented_difference(node_type: str, info) -> int:
    """Trainable numbers we hold beyond Keras, as the docs say: PyTorch's LSTM has two biases per gate."""
    return 4 * info.params.units if node_type == "LSTM" else 0


def keras_se_cnn():
    """The squeeze-and-excitation CNN written in Keras, as one would: the example must be this model."""
    import keras

    L = keras.layers
    x = image = keras.Input((32, 32, 3))
    for i, filters in enumerate([32, 64, 128], start=1):
        x = L.Conv2D(filters, 3, padding="same", use_bias=False, name=f"stage{i}_conv")(x)
        x = L.BatchNormalization(name=f"stage{i}_bn")(x)
        x = L.Activation("relu", name=f"stage{i}_relu")(x)
        se = L.GlobalAveragePooling2D(keepdims=True, name=f"stage{i}_se_squeeze")(x)
        se = L.Conv2D(filters // 4, 1, activation="relu", name=f"stage{i}_se_reduce")(se)
        se = L.Conv2D(filters, 1, activation="sigmoid", name=f"stage{i}_se_expand")(se)
        x = L.Multiply(name=f"stage{i}_se_excite")([x, se])
        x = L.MaxPooling2D(2, name=f"stage{i}_pool")(x)
    x = L.GlobalAveragePooling2D(name="avg_pool")(x)
    x = L.Dropout(0.3, name="dropout")(x)
    return keras.Model(image, L.Dense(10, activation="softmax", name="predictions")(x))


def _load_generator():
    spec = importlib.util.spec_from_file_location("generate_zoo", EXAMPLES / "generate_zoo.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@cache
def generated() -> dict[str, tuple[str, dict[str, str]]]:
    return _load_generator().generate()


@cache
def keras_layers(stem: str) -> tuple[dict[str, dict], tuple[int, int]]:
    """Keras's model: per layer name its class, channels-first output shape, counts and inbound
    layer names; and the model's (trainable, non-trainable) totals."""
    import keras

    keras.backend.clear_session()  # unnamed layers are numbered per session: start from conv2d, not conv2d_94
    if stem in APPLICATIONS:
        model = getattr(keras.applications, APPLICATIONS[stem][0])(weights=None, input_shape=(224, 224, 3), classes=1000)
    else:
        model = {"se_cnn": keras_se_cnn, "transformer_text_classifier": keras_transformer_text_classifier,
                 "masked_lstm": keras_masked_lstm}[stem]()
    layers = {}
    names = {layer.name for layer in model.layers}
    for layer in model.layers:
        shape = tuple(layer.output.shape[1:])
        # Inbound layers; a mask reaches Keras's LSTM as a tensor from an op (`any`), which is no layer.
        inbound = [t._keras_history.operation.name for node in layer._inbound_nodes for t in node.input_tensors]
        inbound = [name for name in inbound if name in names]
        layers[layer.name] = {
            "class": type(layer).__name__,
            "shape": (shape[-1], *shape[:-1]) if len(shape) == 3 else shape,
            "counts": (sum(math.prod(w.shape) for w in layer.trainable_weights),
                       sum(math.prod(w.shape) for w in layer.non_trainable_weights)),
            "inputs": inbound,
        }
    totals = (sum(math.prod(w.shape) for w in model.trainable_weights),
              sum(math.prod(w.shape) for w in model.non_trainable_weights))
    return layers, totals


@cache
def ours(stem: str):
    return analyze(json.loads((EXAMPLES / f"{stem}.json").read_text(encoding="utf-8")))


def test_committed_examples_equal_the_generators_output():
    for stem, (text, _) in generated().items():
        path = EXAMPLES / f"{stem}.json"
        assert path.exists(), f"{path.name} missing: run examples/generate_zoo.py"
        assert path.read_text(encoding="utf-8") == text, f"{path.name} is stale: run examples/generate_zoo.py"
    assert set(generated()) | set(HAND_WRITTEN) == set(MODELS)


@pytest.mark.parametrize("stem", APPLICATIONS)
def test_counts_fit_the_default_budget_and_equal_the_issues_table(stem):
    analysis = ours(stem)
    assert analysis.ok and analysis.issues == [], [i.message for i in analysis.issues]
    assert analysis.total_params == APPLICATIONS[stem][1]
    assert analysis.total_params <= Settings().max_params


def _resolve(analysis, node_id: str, named: dict[str, str]) -> str:
    """The named node behind a source: block ports (inner Input/Output nodes) pass their input on."""
    seen = 0
    while node_id not in named:
        inputs = analysis.nodes[node_id].inputs
        assert len(inputs) == 1 and seen < 100, node_id
        node_id, seen = inputs[0], seen + 1
    return node_id


@pytest.mark.slow
@pytest.mark.parametrize("stem", MODELS)
def test_every_layer_equals_keras(stem):
    layers, (k_trainable, k_non_trainable) = keras_layers(stem)
    analysis = ours(stem)
    named = HAND_WRITTEN[stem] if stem in HAND_WRITTEN else generated()[stem][1]
    extra = sum(documented_difference(info.type, info) for info in analysis.nodes.values())

    assert (analysis.trainable_params - extra, analysis.non_trainable_params) == (k_trainable, k_non_trainable)
    if stem in APPLICATIONS:
        assert analysis.total_params == APPLICATIONS[stem][1]

    # One of our nodes per Keras layer, and every node that is a layer (not a head or a block port) named.
    assert sorted(named.values()) == sorted(layers), "our nodes and Keras's layers differ"
    layer_nodes = {nid for nid, info in analysis.nodes.items()
                   if info.type != "Output" and not (info.type == "Input" and "." in nid)}
    assert set(named) <= layer_nodes, "named nodes missing from the analysis"
    # The only nodes Keras has no layer for: a Permute between a (length, features) sequence and our
    # channels-first 1-D pooling.
    assert {analysis.nodes[n].type for n in layer_nodes - set(named)} <= {"Permute"}

    mismatches = []
    for nid, keras_name in named.items():
        info, layer = analysis.nodes[nid], layers[keras_name]
        expected_type = "Input" if layer["class"] == "InputLayer" else layer["class"]
        counts = (info.trainable - documented_difference(info.type, info), info.non_trainable)
        inputs = [named[_resolve(analysis, src, named)] for src in info.inputs]
        got = (info.type, tuple(info.output.shape), counts, inputs)
        want = (expected_type, layer["shape"], layer["counts"], layer["inputs"])
        if got != want:
            mismatches.append(f"{nid} / {keras_name}: ours {got}, Keras {want}")
    assert not mismatches, "\n".join(mismatches[:10])


@pytest.mark.parametrize("stem", APPLICATIONS)
def test_cli_check_accepts_each_example(stem, capsys):
    from layerloom.cli import main

    assert main(["check", "--json", str(EXAMPLES / f"{stem}.json")]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    data = json.loads(captured.out)
    assert data["ok"] is True and data["errors"] == [] and data["warnings"] == []
    assert data["totals"]["total"] == APPLICATIONS[stem][1]
    assert data["nodes"]["predictions"]["output_shape"] == [1000]


def test_cli_check_prints_resnet50s_summary():
    """The command itself, as a user runs it, on the largest example."""
    result = subprocess.run([sys.executable, "-m", "layerloom.cli", "check", "examples/resnet50.json"], cwd=ROOT,
                            capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr
    assert "25,636,712" in result.stdout and "predictions (Dense)" in result.stdout


@cache
def generated_flat() -> dict[str, tuple[str, dict[str, str]]]:
    return _load_generator().generate(use_blocks=False)


@pytest.mark.parametrize("stem", [s for s in MODELS if s not in HAND_WRITTEN])
def test_blocks_expand_to_the_same_model_as_the_flat_graph(stem):
    """The generator also writes each model flat (every call inlined): the compiler's expansion of the
    block calls must give the same layers, shapes and counts, layer by layer."""
    text, named = generated_flat()[stem]
    flat = analyze(json.loads(text))
    assert flat.ok and "blocks" not in json.loads(text)
    with_blocks, block_names = ours(stem), generated()[stem][1]
    by_keras = {keras_name: nid for nid, keras_name in block_names.items()}
    assert sorted(named.values()) == sorted(block_names.values())
    for nid, keras_name in named.items():
        a, b = flat.nodes[nid], with_blocks.nodes[by_keras[keras_name]]
        assert (a.type, a.output.shape, a.trainable, a.non_trainable) == (b.type, b.output.shape, b.trainable, b.non_trainable), nid
    assert (flat.trainable_params, flat.non_trainable_params) == (with_blocks.trainable_params, with_blocks.non_trainable_params)
