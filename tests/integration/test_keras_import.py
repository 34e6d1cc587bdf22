"""Keras import against Keras 3 itself (torch backend, a test-only oracle): models built here, saved
as .keras, imported through POST /api/graphs/import. The imported graph's parameter totals and
output shapes equal Keras's (up to the documented extra LSTM/SimpleRNN bias), and with the imported
weights our module's outputs equal Keras's within 1e-4. Refusals (Lambda, custom layers), hostile
zips, the CLI, and fine-tuning from the imported weights (init_weights) are covered too."""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import safetensors.torch  # noqa: E402
import torch  # noqa: E402
from keras import layers, ops  # noqa: E402

from layerloom.cli import main as cli_main  # noqa: E402
from layerloom.data import Dataset  # noqa: E402
from layerloom.graph import analyze, build_model, get_layer  # noqa: E402
from layerloom.train import ConfigError  # noqa: E402
from layerloom.train.trainer import Trainer  # noqa: E402

BATCH = 3


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite only: importing never touches the database beyond authentication (the job submission
    checks here store init_weights in the job's config, as every other option), and running this
    file once instead of twice keeps it fast."""
    return f"sqlite:///{tmp_path / 'layerloom.db'}"


# ---- the Keras models ------------------------------------------------------------------------


def cnn_sequential():
    model = keras.Sequential([
        keras.Input((12, 12, 3)), layers.Conv2D(4, 3, padding="same", activation="relu"), layers.BatchNormalization(),
        layers.MaxPooling2D(), layers.Conv2D(6, 3, strides=2, padding="same"), layers.Flatten(), layers.Dropout(0.2),
        layers.Dense(10, activation="softmax")], name="cnn")
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def multi_io():
    image, features = keras.Input((8, 8, 2), name="image"), keras.Input((5,), name="features")
    x = layers.GlobalAveragePooling2D()(layers.Conv2D(3, 3, activation="relu")(image))
    h = layers.Concatenate()([x, layers.Dense(4, activation="tanh")(features)])
    label = layers.Dense(3, activation="softmax", name="label")(h)
    score = layers.Dense(1, name="score")(h)
    model = keras.Model([image, features], [label, score], name="two_heads")
    model.compile(optimizer="adam", loss={"label": "categorical_crossentropy", "score": "mse"},
                  loss_weights={"label": 1.0, "score": 0.25}, metrics={"label": ["accuracy"], "score": ["mae"]})
    return model


def siamese():
    left, right = keras.Input((6,), name="left"), keras.Input((6,), name="right")
    hidden, embed = layers.Dense(8, activation="relu", name="hidden"), layers.Dense(4, name="embed")
    distance = ops.abs(embed(hidden(left)) - embed(hidden(right)))
    model = keras.Model([left, right], layers.Dense(1, activation="sigmoid")(distance), name="siamese")
    model.compile(loss="binary_crossentropy")
    return model


def recurrent():
    steps = keras.Input((7, 3))
    x = layers.GRU(4)(layers.LSTM(5, return_sequences=True)(steps))
    return keras.Model(steps, layers.Dense(2)(x), name="lstm_gru")


def embedding_bidirectional():
    tokens = keras.Input((9,), dtype="int32")
    e = layers.Embedding(20, 4)(tokens)
    x = layers.Concatenate()([layers.Bidirectional(layers.LSTM(3))(e), layers.SimpleRNN(2)(e)])
    return keras.Model(tokens, layers.Dense(1)(x), name="text")


def arithmetic():
    image, vector = keras.Input((6, 6, 4), name="img"), keras.Input((4,), name="vec")
    c = layers.Conv2D(4, 1)(image)
    gated = c * ops.sigmoid(ops.mean(c, axis=-1, keepdims=True))  # a channel mean: a remapped axis
    pooled = ops.mean(gated, axis=(1, 2))
    mixed = pooled * 2.0 + vector
    out = ops.maximum(mixed, 0.1) - ops.square(vector) / 3.0
    joined = layers.Concatenate(axis=-1)([c, image])  # channels: axis -1 becomes our axis 1
    return keras.Model([image, vector], [out, joined], name="arithmetic")


def nested():
    encoder = keras.Sequential([keras.Input((8, 8, 3)), layers.Conv2D(4, 3, activation="relu"),
                                layers.GlobalMaxPooling2D()], name="encoder")
    inner = keras.Sequential([keras.Input((4,)), layers.Dense(3, activation="relu")], name="inner")
    head_in = keras.Input((4,))
    features = inner(head_in)
    head = keras.Model(head_in, [layers.Dense(2)(features), features], name="head")  # a model in a model, two outputs
    a, b = keras.Input((8, 8, 3), name="a"), keras.Input((8, 8, 3), name="b")
    out, features = head(layers.Add()([encoder(a), encoder(b)]))
    return keras.Model([a, b], [out, features], name="nested")


def sequence_convolution():
    steps = keras.Input((10, 3))
    x = layers.MaxPooling1D()(layers.Conv1D(4, 3, padding="same", activation="relu")(steps))
    return keras.Model(steps, layers.Dense(2)(layers.LSTM(3)(x)), name="conv1d_lstm")


def decoder():
    code = keras.Input((4, 4, 2))
    x = layers.Conv2DTranspose(3, 2, strides=2, padding="same", activation="relu")(code)
    x = layers.Conv2DTranspose(3, 3, padding="valid")(x)
    x = layers.ZeroPadding2D(((1, 0), (0, 1)))(layers.UpSampling2D()(x))
    x = layers.AveragePooling2D(2)(layers.MaxPooling2D(3, strides=2, padding="same")(x))
    return keras.Model(code, layers.Conv2D(2, 2)(x), name="decoder")


def catalog_layers():
    """The rest of the catalog's counterparts: activation layers, noise, cropping and padding, 1-D and 3-D
    windows, group/layer/unit normalization, depthwise and separable convolutions."""
    image, steps = keras.Input((6, 6, 4), name="image"), keras.Input((8, 3), name="steps")
    volume = keras.Input((4, 4, 4, 2), name="volume")
    a = layers.ELU(0.5)(layers.LeakyReLU(0.2)(layers.ReLU(max_value=1.5, negative_slope=0.1)(image)))
    a = layers.SpatialDropout2D(0.3)(layers.Softmax(axis=1)(layers.PReLU(shared_axes=[1, 2])(a)))
    a = layers.Rescaling(0.5, 1.0)(layers.GaussianNoise(0.1)(layers.GaussianDropout(0.2)(a)))
    a = layers.GroupNormalization(2)(layers.Cropping2D(((1, 0), (0, 2)))(a))
    a = layers.LayerNormalization(axis=[1, 2, 3])(a)
    a = layers.UnitNormalization()(layers.DepthwiseConv2D(3, depth_multiplier=2, padding="same")(a))
    a = layers.SeparableConv2D(3, 2, strides=2, padding="same")(layers.BatchNormalization(center=False)(a))
    s = layers.UpSampling1D(2)(layers.Conv1DTranspose(2, 3, strides=2, padding="same")(steps))
    s = layers.SpatialDropout1D(0.1)(layers.Cropping1D((1, 2))(layers.ZeroPadding1D((1, 2))(s)))
    s = layers.SeparableConv1D(3, 3)(layers.DepthwiseConv1D(3)(s))
    s = layers.Dropout(0.3, noise_shape=(None, 1, 3))(layers.LayerNormalization(center=False)(s))
    s = layers.PReLU()(layers.UnitNormalization(axis=1)(s))
    v = layers.MaxPooling3D()(layers.AveragePooling3D(1)(layers.Conv3D(3, 2, padding="same")(volume)))
    v = layers.SpatialDropout3D(0.1)(v)
    pooled = layers.Concatenate()([layers.GlobalAveragePooling3D()(v), layers.GlobalMaxPooling3D()(v)])
    return keras.Model([image, steps, volume], [a, s, pooled], name="catalog_layers")


def attention():
    """Keras masks (mask_zero, Masking), attention, TimeDistributed and a summed Bidirectional."""
    tokens, steps = keras.Input((9,), dtype="int32", name="tokens"), keras.Input((6, 4), name="steps")
    e = layers.Embedding(20, 8, mask_zero=True)(tokens)
    a = layers.TimeDistributed(layers.Dense(4, activation="relu"))(layers.MultiHeadAttention(2, 4)(e, e))
    a = layers.Bidirectional(layers.GRU(3), merge_mode="sum")(a)
    s = layers.LSTM(3)(layers.Masking()(steps))
    return keras.Model([tokens, steps], layers.Concatenate()([a, s]), name="attention")


def mobilenet():
    """The keras.applications model: MobileNet (α 0.25) is small enough for a test (VGG16 also imports
    exactly, but its 59 MB round trip took most of this file's time)."""
    return keras.applications.MobileNet(input_shape=(32, 32, 3), alpha=0.25, weights=None, classes=5)


# Models that need layers this Layerloom's catalog may not have yet: skipped until it does.
NEEDS = {"mobilenet": "DepthwiseConv2D"}

MODELS = {"cnn_sequential": cnn_sequential, "multi_io": multi_io, "siamese": siamese, "recurrent": recurrent,
          "embedding_bidirectional": embedding_bidirectional, "arithmetic": arithmetic, "nested": nested,
          "sequence_convolution": sequence_convolution, "decoder": decoder,
          "catalog_layers": catalog_layers, "attention": attention, "mobilenet": mobilenet}


# Every catalog layer and the Keras class imported as it (the Keras 3 operations also give Lambda).
KERAS_CLASS_OF = {
    "Dense": "Dense", "Activation": "Activation", "Dropout": "Dropout", "ActivityRegularization": "ActivityRegularization",
    "Flatten": "Flatten", "Reshape": "Reshape", "Permute": "Permute", "RepeatVector": "RepeatVector",
    "Embedding": "Embedding", "Lambda": "Add", "Conv1D": "Conv1D", "Conv2D": "Conv2D", "Conv3D": "Conv3D",
    "DepthwiseConv1D": "DepthwiseConv1D", "DepthwiseConv2D": "DepthwiseConv2D", "SeparableConv1D": "SeparableConv1D",
    "SeparableConv2D": "SeparableConv2D", "Conv1DTranspose": "Conv1DTranspose", "Conv2DTranspose": "Conv2DTranspose",
    "UpSampling1D": "UpSampling1D", "UpSampling2D": "UpSampling2D", "ZeroPadding1D": "ZeroPadding1D",
    "ZeroPadding2D": "ZeroPadding2D", "Cropping1D": "Cropping1D", "Cropping2D": "Cropping2D",
    "SimpleRNN": "SimpleRNN", "LSTM": "LSTM", "GRU": "GRU", "ReLU": "ReLU", "LeakyReLU": "LeakyReLU", "PReLU": "PReLU",
    "ELU": "ELU", "Softmax": "Softmax", "BatchNormalization": "BatchNormalization",
    "LayerNormalization": "LayerNormalization", "GroupNormalization": "GroupNormalization",
    "UnitNormalization": "UnitNormalization", "Normalization": "Normalization", "Rescaling": "Rescaling",
    "Add": "Add", "Subtract": "Subtract", "Multiply": "Multiply", "Maximum": "Maximum", "Minimum": "Minimum",
    "Average": "Average", "Concatenate": "Concatenate", "Dot": "Dot", "SpatialDropout1D": "SpatialDropout1D",
    "SpatialDropout2D": "SpatialDropout2D", "SpatialDropout3D": "SpatialDropout3D", "GaussianNoise": "GaussianNoise",
    "GaussianDropout": "GaussianDropout", "Masking": "Masking", "MultiHeadAttention": "MultiHeadAttention",
    "TimeDistributed": "TimeDistributed", "Bidirectional": "Bidirectional",
    **{name: name for name in ("RandomFlip", "RandomRotation", "RandomZoom", "RandomTranslation", "RandomCrop",
                               "RandomContrast", "RandomBrightness")},
    **{f"{kind}Pooling{d}D": f"{kind}Pooling{d}D" for kind in ("Max", "Average", "GlobalMax", "GlobalAverage")
       for d in (1, 2, 3)},
}


def test_every_catalog_layer_has_a_keras_counterpart() -> None:
    """A layer added to the catalog needs its line in the import table (keras_import/mapping.py)."""
    from layerloom.graph import layer_types
    from layerloom.keras_import.mapping import LAYERS, OPERATIONS

    # PositionEmbedding is keras_hub's, not Keras's: a keras_hub layer is refused as a custom layer.
    missing = sorted(set(layer_types()) - {"Input", "Output", "PositionEmbedding"} - set(KERAS_CLASS_OF))
    assert not missing, f"catalog layers without a Keras mapping: {missing}"
    assert all(k in LAYERS for k in KERAS_CLASS_OF.values()) and "Add" in OPERATIONS


def randomize(model, rng) -> None:
    """Trained-looking weights: random kernels and biases, positive moving variances."""
    for variable in model.weights:
        shape = tuple(variable.shape)
        if "variance" in variable.path:
            variable.assign(rng.uniform(0.5, 1.5, shape).astype("float32"))
        elif variable.trainable or "mean" in variable.path:
            variable.assign((rng.normal(0, 0.3, shape)).astype("float32"))


def sample_inputs(model, rng) -> list[np.ndarray]:
    out = []
    for tensor in model.inputs:
        shape = (BATCH, *tensor.shape[1:])
        if "int" in str(tensor.dtype):
            out.append(rng.integers(0, 20, shape).astype("int32"))  # 0 is padding where mask_zero is set
        else:
            values = rng.normal(0, 1, shape).astype("float32")
            if len(shape) == 3:
                values[0, -2:] = 0.0  # padded steps, for Masking
            out.append(values)
    return out


def ours(array: np.ndarray) -> np.ndarray:
    """A Keras batch in Layerloom's layout: images channels-first."""
    return np.moveaxis(array, -1, 1) if array.ndim >= 4 else array


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """Each model saved as .keras once, with Keras's outputs on random inputs."""
    folder = tmp_path_factory.mktemp("keras")
    rng = np.random.default_rng(0)
    cases = {}
    for name, make in MODELS.items():
        if name in NEEDS and get_layer(NEEDS[name]) is None:
            continue
        model = make()
        randomize(model, rng)
        inputs = sample_inputs(model, rng)
        outputs = model(inputs if len(inputs) > 1 else inputs[0], training=False)
        outputs = [ops.convert_to_numpy(o) for o in (outputs if isinstance(outputs, (list, tuple)) else [outputs])]
        path = folder / f"{name}.keras"
        model.save(path)
        cases[name] = {"path": path, "inputs": inputs, "outputs": outputs, "params": model.count_params(),
                       "json": model.to_json()}
    return cases


def import_file(client, data: bytes, filename: str = "model.keras"):
    return client.post("/api/graphs/import", files={"file": (filename, data, "application/octet-stream")})


def documented_extra_biases(graph: dict) -> int:
    """Our LSTM and SimpleRNN keep PyTorch's second bias vector (docs/graph-format.md)."""
    extra = 0
    for node in graph["nodes"]:
        p = node["params"]
        if node["type"] in ("LSTM", "SimpleRNN") and not node.get("share"):
            extra += (4 if node["type"] == "LSTM" else 1) * p["units"] * (2 if p["bidirectional"] else 1)
        if node["type"] == "Bidirectional" and p["layer"]["type"] in ("LSTM", "SimpleRNN"):
            extra += (4 if p["layer"]["type"] == "LSTM" else 1) * p["layer"]["params"]["units"] * 2
    return extra


def run_ours(graph: dict, state: dict, inputs: list[np.ndarray]) -> list[np.ndarray]:
    analysis = analyze(graph)
    assert analysis.ok, [i.message for i in analysis.errors]
    model = build_model(analysis)
    model.load_state_dict(state, strict=True)
    model.eval()
    feed = {node_id: torch.from_numpy(ours(x)).long() if x.dtype.kind == "i" else torch.from_numpy(ours(x))
            for node_id, x in zip(analysis.input_ids, inputs)}
    with torch.no_grad():
        out = model(feed)
    return [np.moveaxis(out[h].numpy(), 1, -1) if out[h].ndim >= 4 else out[h].numpy() for h in analysis.output_ids]


# ---- round trips through the API -------------------------------------------------------------


@pytest.mark.parametrize("name", list(MODELS))
def test_keras_model_round_trips_through_the_api(name, saved, client_a, client_b) -> None:
    if name not in saved:
        pytest.skip(f"{name} needs {NEEDS[name]}, which this Layerloom's catalog does not have yet")
    case = saved[name]
    response = import_file(client_a, case["path"].read_bytes())
    assert response.status_code == 200, response.text
    body = response.json()
    graph, weights_id = body["graph"], body["weights_id"]
    analysis = analyze(graph)
    assert analysis.ok, [i.message for i in analysis.errors]
    # Totals equal Keras's, but for the documented second bias of our LSTM / SimpleRNN.
    assert analysis.total_params == case["params"] + documented_extra_biases(graph)
    # Shapes: each head has the shape of Keras's output (images channels-first).
    heads = analysis.output_ids
    assert [analysis.nodes[h].output.shape for h in heads] == [ours(o).shape[1:] for o in case["outputs"]]
    # Weights: the stored file, downloaded through the API, gives Keras's outputs.
    download = client_a.get(f"/api/graphs/import/weights/{weights_id}")
    assert download.status_code == 200
    state = safetensors.torch.load(download.content)
    for got, want in zip(run_ours(graph, state, case["inputs"]), case["outputs"]):
        np.testing.assert_allclose(got, want, atol=1e-4, rtol=1e-4)
    assert client_b.get(f"/api/graphs/import/weights/{weights_id}").status_code == 404  # owner-scoped


def test_compile_config_becomes_the_heads(saved, client_a) -> None:
    graph = import_file(client_a, saved["multi_io"]["path"].read_bytes()).json()["graph"]
    heads = {n["id"]: n["params"] for n in graph["nodes"] if n["type"] == "Output"}
    assert heads == {"label": {"loss": "categorical_crossentropy", "loss_weight": 1.0, "metrics": ["accuracy"]},
                     "score": {"loss": "mse", "loss_weight": 0.25, "metrics": ["mae"]}}
    inputs = {n["id"]: n["params"]["shape"] for n in graph["nodes"] if n["type"] == "Input"}
    assert inputs == {"image": [2, 8, 8], "features": [5]}  # named as in Keras, images channels-first


def test_shared_layers_and_nested_models_become_shares(saved, client_a) -> None:
    siamese_graph = import_file(client_a, saved["siamese"]["path"].read_bytes()).json()["graph"]
    shares = {n["id"]: n["share"] for n in siamese_graph["nodes"] if n.get("share")}
    assert sorted(shares.values()) == ["embed", "hidden"]
    nested_graph = import_file(client_a, saved["nested"]["path"].read_bytes()).json()["graph"]
    assert set(nested_graph["blocks"]) == {"encoder", "inner", "head"}  # nested models are blocks
    calls = {n["id"]: n for n in nested_graph["nodes"] if n["type"] == "Block"}
    assert calls["encoder"]["params"] == {"block": "encoder"}
    assert calls["encoder_call2"]["share"] == "encoder"  # the encoder called twice: one set of weights
    assert any(n["type"] == "Block" for n in nested_graph["blocks"]["head"]["nodes"])  # a block in a block
    arithmetic_graph = import_file(client_a, saved["arithmetic"]["path"].read_bytes()).json()["graph"]
    types = {n["type"] for n in arithmetic_graph["nodes"]}
    assert {"Lambda", "Add", "Subtract"} <= types  # tensor arithmetic: merges where shapes match, else Lambda


def test_a_flatten_after_convolutions_keeps_keras_feature_order(saved, client_a) -> None:
    graph = import_file(client_a, saved["cnn_sequential"]["path"].read_bytes()).json()["graph"]
    by_target = {e["target"]: e["source"] for e in graph["edges"]}
    before_flatten = next(n for n in graph["nodes"] if n["id"] == by_target["flatten"])
    assert before_flatten["type"] == "Permute" and before_flatten["params"]["dims"] == [2, 3, 1]


def test_a_to_json_document_imports_without_weights(saved, client_a) -> None:
    case = saved["cnn_sequential"]
    body = import_file(client_a, case["json"].encode(), "model.json").json()
    assert body["weights_id"] is None
    assert analyze(body["graph"]).total_params == case["params"]
    assert any("no weights" in w for w in body["warnings"])


def test_keras_2_inbound_nodes_are_read(client_a) -> None:
    document = {"class_name": "Functional", "keras_version": "2.15.0", "backend": "tensorflow", "config": {
        "name": "k2", "input_layers": [["inp", 0, 0]], "output_layers": [["add", 0, 0]], "layers": [
            {"class_name": "InputLayer", "name": "inp", "inbound_nodes": [],
             "config": {"batch_input_shape": [None, 5], "dtype": "float32", "name": "inp"}},
            {"class_name": "Dense", "name": "d1", "config": {"name": "d1", "units": 3, "activation": "relu"},
             "inbound_nodes": [[["inp", 0, 0, {}]]]},
            {"class_name": "Dense", "name": "d2", "config": {"name": "d2", "units": 3, "use_bias": False},
             "inbound_nodes": [[["inp", 0, 0, {}]]]},
            {"class_name": "Add", "name": "add", "config": {"name": "add"},
             "inbound_nodes": [[["d1", 0, 0, {}], ["d2", 0, 0, {}]]]}]}}
    response = import_file(client_a, json.dumps(document).encode(), "k2.json")
    assert response.status_code == 200, response.text
    analysis = analyze(response.json()["graph"])
    assert analysis.ok and analysis.total_params == 18 + 15
    assert analysis.nodes["add"].inputs == ["d1", "d2"]


# ---- refusals and hostile files ---------------------------------------------------------------


@keras.saving.register_keras_serializable(package="layerloom_tests")
class Scale(layers.Layer):
    def call(self, x):
        return x * 2.0


def saved_bytes(model, tmp_path: Path) -> bytes:
    path = tmp_path / f"{model.name}.keras"
    model.save(path)
    return path.read_bytes()


def test_a_lambda_layer_is_refused_naming_it(client_a, tmp_path) -> None:
    model = keras.Sequential([keras.Input((4,)), layers.Dense(3), layers.Lambda(lambda x: x * 2, name="doubler"),
                              layers.Dense(1)], name="with_lambda")
    response = import_file(client_a, saved_bytes(model, tmp_path))
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert error["node"] == "doubler" and error["code"] == "lambda_layer"
    assert "doubler" in error["message"] and "Lambda expression" in error["message"]


def test_custom_layers_and_unsupported_configs_are_refused_one_by_one(client_a, tmp_path) -> None:
    steps = keras.Input((5, 2))
    x = layers.LSTM(3, go_backwards=True, name="backwards")(steps)
    y = layers.Flatten()(Scale(name="my_scale")(steps))
    model = keras.Model(steps, layers.Concatenate()([x, y]), name="with_custom")
    response = import_file(client_a, saved_bytes(model, tmp_path))
    assert response.status_code == 422
    errors = {e["node"]: e for e in response.json()["errors"]}
    assert set(errors) == {"backwards", "my_scale"}
    assert errors["my_scale"]["code"] == "custom_layer" and "Scale" in errors["my_scale"]["message"]
    assert errors["backwards"]["field"] == "layers.backwards.config.go_backwards"
    assert "bidirectional" in errors["backwards"]["message"]  # the closest Layerloom construct


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


HOSTILE_ARCHIVES = [
    ({"config.json": b"{}", "../../escape.txt": b"x"}, "unsafe_path"),
    ({"config.json": b"{}", "model.weights.h5": bytes(20_000_000)}, "compression_ratio"),  # a zip bomb
    ({"assets/readme.txt": b"hello"}, "not_a_keras_file"),
    ({"config.json": b"[1, 2"}, "not_a_keras_file"),
]


def test_hostile_or_broken_archives_are_422(client_a) -> None:
    for members, code in HOSTILE_ARCHIVES:
        response = import_file(client_a, zip_bytes(members))
        assert response.status_code == 422, members.keys()
        assert code in {e["code"] for e in response.json()["errors"]}, response.json()
    assert import_file(client_a, b"\x89HDF\r\n garbage").status_code == 422


def test_a_file_over_the_upload_limit_is_413(make_app, client_for, token_for) -> None:
    app = make_app(max_upload_bytes=1000)
    response = import_file(client_for(app, token_for(app, "carol")), bytes(5000))
    assert response.status_code == 413


# ---- CLI ---------------------------------------------------------------------------------------


def test_cli_import_writes_the_graph_and_weights(saved, tmp_path, capsys) -> None:
    case = saved["multi_io"]
    graph_path, weights_path = tmp_path / "graph.json", tmp_path / "weights.safetensors"
    assert cli_main(["import", str(case["path"]), "-o", str(graph_path), "--weights", str(weights_path)]) == 0
    graph = json.loads(graph_path.read_text())
    state = safetensors.torch.load_file(str(weights_path))
    for got, want in zip(run_ours(graph, state, case["inputs"]), case["outputs"]):
        np.testing.assert_allclose(got, want, atol=1e-4, rtol=1e-4)


def test_cli_import_names_refused_layers(tmp_path, capsys) -> None:
    model = keras.Sequential([keras.Input((4,)), layers.Lambda(lambda x: x + 1, name="plus_one")], name="cli_lambda")
    path = tmp_path / "m.keras"
    model.save(path)
    assert cli_main(["import", str(path), "-o", str(tmp_path / "g.json")]) == 1
    assert "plus_one" in capsys.readouterr().err
    assert not (tmp_path / "g.json").exists()


# ---- fine-tuning from the imported weights ----------------------------------------------------


def test_training_starts_from_the_imported_weights(saved, client_a, app) -> None:
    case = saved["cnn_sequential"]
    body = import_file(client_a, case["path"].read_bytes()).json()
    graph, weights_id = body["graph"], body["weights_id"]
    rng = np.random.default_rng(1)
    x = rng.normal(0, 1, (40, 3, 12, 12)).astype("float32")
    dataset = Dataset.from_arrays("noise", {"train": {"x": x, "y": rng.integers(0, 10, 40)}},
                                  kinds={"x": "features", "y": "class_labels"})
    path = next(Path(app.state.settings.data_dir).rglob(f"{weights_id}.safetensors"))
    # A vanishing learning rate: after an epoch the weights are still the imported ones (BatchNorm's
    # moving statistics move in training mode, so compare the layers that only the optimizer changes).
    config = {"epochs": 1, "batch_size": 20, "optimizer": {"name": "sgd", "lr": 1e-30}}
    result = Trainer(graph, dataset, config, init_weights=path).run()
    imported = safetensors.torch.load_file(str(path))
    trained = result.model.state_dict()
    for key in ("conv2d.weight", "conv2d_1.weight", "dense.weight", "dense.bias"):
        torch.testing.assert_close(trained[key], imported[key])
    fresh = Trainer(graph, dataset, config).run().model.state_dict()
    assert not torch.allclose(fresh["dense.weight"], imported["dense.weight"])
    # Weights that do not fit are refused before the first step, naming the keys.
    wider = json.loads(json.dumps(graph))
    next(n for n in wider["nodes"] if n["id"] == "conv2d")["params"]["filters"] = 5
    with pytest.raises(ConfigError, match=r"conv2d\.weight is \(4, 3, 3, 3\) in the file, \(5, 3, 3, 3\)"):
        Trainer(wider, dataset, config, init_weights=path).run()


def test_a_job_takes_init_weights_checked_against_the_graph(saved, client_a, client_b, app) -> None:
    sent = []
    app.state.dispatch = lambda job_id, token, queue="default": sent.append((job_id, token))
    body = import_file(client_a, saved["recurrent"]["path"].read_bytes()).json()
    graph, weights_id = body["graph"], body["weights_id"]
    dataset = client_a.post("/api/datasets", files={"file": ("seq.npz", _sequence_npz(), "application/octet-stream")},
                            data={"options": json.dumps({"kinds": {"y": "values"}})})
    assert dataset.status_code == 201, dataset.text
    job = {"graph": graph, "dataset": dataset.json()["id"], "init_weights": weights_id,
           "config": {"epochs": 1, "batch_size": 8}}
    accepted = client_a.post("/api/jobs", json=job)
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["config"]["init_weights"] == weights_id
    # Someone else's weights are not found; weights that do not fit are refused key by key.
    other = client_b.post("/api/graphs/import", files={"file": ("m.keras", saved["recurrent"]["path"].read_bytes())})
    refused = client_a.post("/api/jobs", json={**job, "init_weights": other.json()["weights_id"]})
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "init_weights"
    wider = json.loads(json.dumps(graph))
    next(n for n in wider["nodes"] if n["type"] == "GRU")["params"]["units"] = 6
    mismatch = client_a.post("/api/jobs", json={**job, "graph": wider})
    assert mismatch.status_code == 422
    assert any("gru.weight_hh_l0" in e["message"] for e in mismatch.json()["errors"])


@pytest.mark.slow
def test_a_real_job_runs_from_imported_weights(saved, client_a, app) -> None:
    """The runner subprocess gets the file's path in its spec and the trainer loads it (one real job)."""
    from layerloom.jobs.supervisor import run_job

    sent = []
    app.state.dispatch = lambda job_id, token, queue="default": sent.append((job_id, token))
    body = import_file(client_a, saved["recurrent"]["path"].read_bytes()).json()
    dataset = client_a.post("/api/datasets", files={"file": ("seq.npz", _sequence_npz(), "application/octet-stream")},
                            data={"options": json.dumps({"kinds": {"y": "values"}})})
    job = {"graph": body["graph"], "dataset": dataset.json()["id"], "init_weights": body["weights_id"],
           "config": {"epochs": 1, "batch_size": 8}}
    assert client_a.post("/api/jobs", json=job).status_code == 201
    job_id, token = sent[0]
    assert run_job(job_id, token, app.state.settings, app.state.sessionmaker, app.state.dispatch) == "succeeded"
    events = client_a.get(f"/api/jobs/{job_id}/events").json()
    assert any("Started from the given initial weights" in json.dumps(e) for e in events)


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_imported_weights_reach_a_worker_through_s3(saved, make_app, client_for, token_for, tmp_path) -> None:
    """With object storage, the imported weights are an object: a worker with its own data_dir starts
    from them, and the API serves them back from storage."""
    from layerloom.jobs.supervisor import run_job
    from test_storage import BUCKET, MotoServer

    server = MotoServer()
    try:
        bucket = server.storage()
        app = make_app(storage_url=f"s3://{BUCKET}/keras", storage_endpoint_url=server.url, storage_region="us-east-1",
                       storage_access_key="testing", storage_secret_key="testing")
        client = client_for(app, token_for(app, "alice"))
        sent = []
        app.state.dispatch = lambda job_id, token, queue="default": sent.append((job_id, token))
        body = import_file(client, saved["recurrent"]["path"].read_bytes()).json()
        keys = list(bucket.list("keras/imported_weights"))
        assert len(keys) == 1 and keys[0].endswith(f"/{body['weights_id']}.safetensors")
        served = client.get(f"/api/graphs/import/weights/{body['weights_id']}")
        assert served.status_code == 200 and served.content == bucket.get(keys[0])
        dataset = client.post("/api/datasets", files={"file": ("seq.npz", _sequence_npz(), "application/octet-stream")},
                              data={"options": json.dumps({"kinds": {"y": "values"}})})
        job = {"graph": body["graph"], "dataset": dataset.json()["id"], "init_weights": body["weights_id"],
               "config": {"epochs": 1, "batch_size": 8}}
        assert client.post("/api/jobs", json=job).status_code == 201
        worker = app.state.settings.model_copy(update={"data_dir": tmp_path / "worker",
                                                       "storage_cache_dir": tmp_path / "worker" / "cache"})
        assert run_job(*sent[0], worker, app.state.sessionmaker, app.state.dispatch) == "succeeded"
        events = client.get(f"/api/jobs/{sent[0][0]}/events").json()
        assert any("Started from the given initial weights" in json.dumps(e) for e in events)
        assert not (tmp_path / "worker" / "imported_weights").exists()  # it came from storage, via the cache
    finally:
        server.stop()


def _sequence_npz() -> bytes:
    rng = np.random.default_rng(2)
    buffer = io.BytesIO()
    np.savez(buffer, x=rng.normal(0, 1, (32, 7, 3)).astype("float32"), y=rng.normal(0, 1, (32, 2)).astype("float32"))
    return buffer.getvalue()
