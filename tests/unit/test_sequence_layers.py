"""Masks, attention and wrappers against Keras 3 itself (torch backend, a test-only oracle).

Parameter counts and output shapes of MultiHeadAttention, PositionEmbedding, TimeDistributed and
Bidirectional equal Keras's; with Keras's weights copied in, MultiHeadAttention and masked
LSTM / GRU / Bidirectional give Keras's outputs; a padded batch gives the outputs of its unpadded
sequences; masked pooling and sequence losses skip the padded steps.
"""

from __future__ import annotations

import os

os.environ["KERAS_BACKEND"] = "torch"  # before keras is imported anywhere in this process

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from keras.src import backend as keras_backend  # noqa: E402

from graph_helpers import chain  # noqa: E402
from layerloom.graph import analyze, build_model, torch_ops  # noqa: E402
from layerloom.train.engine import Engine  # noqa: E402
from layerloom.train.mapping import DataPlan, HeadTarget  # noqa: E402

ATOL = 1e-5
# Keras's torch backend converts tensors with np.array(x, copy=False), which NumPy 2 flags; not ours.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def graph(nodes: list[tuple[str, str, dict]], edges: list[tuple]) -> dict:
    """nodes: (id, type, params); edges: (source, target) or (source, target, target_port)."""
    return {
        "format": "layerloom.graph", "version": 1, "name": "t",
        "nodes": [{"id": i, "type": t, "params": p} for i, t, p in nodes],
        "edges": [{"source": e[0], "target": e[1], "target_port": e[2] if len(e) > 2 else 0} for e in edges],
    }


def analyzed(document: dict):
    analysis = analyze(document)
    assert analysis.ok, [i.message for i in analysis.errors]
    return analysis


def keras_np(x) -> np.ndarray:
    return keras.ops.convert_to_numpy(x)


def t(x) -> torch.Tensor:
    return torch.as_tensor(np.asarray(x), dtype=torch.float32)


# --- MultiHeadAttention ---------------------------------------------------------------------------

MHA_CASES = [
    # (params, query shape, value shape, key shape or None)
    ({"num_heads": 2, "key_dim": 3}, (5, 6), (5, 6), None),
    ({"num_heads": 3, "key_dim": 2, "value_dim": 5}, (5, 6), (4, 8), None),
    ({"num_heads": 2, "key_dim": 4, "output_shape": 7}, (3, 6), (4, 8), (4, 3)),
    ({"num_heads": 1, "key_dim": 4, "use_bias": False, "value_dim": 2}, (4, 5), (6, 5), (6, 9)),
    ({"num_heads": 4, "key_dim": 8, "dropout": 0.1, "output_shape": 3}, (2, 16), (7, 16), None),
]


def mha_graph(params: dict, q: tuple, v: tuple, k: tuple | None) -> dict:
    nodes = [("q", "Input", {"shape": list(q)}), ("v", "Input", {"shape": list(v)})]
    edges = [("q", "mha", 0), ("v", "mha", 1), ("mha", "y")]
    if k is not None:
        nodes.append(("k", "Input", {"shape": list(k)}))
        edges.append(("k", "mha", 2))
    nodes += [("mha", "MultiHeadAttention", params), ("y", "Output", {"loss": "mse"})]
    return graph(nodes, edges)


def keras_mha(params: dict, q: tuple, v: tuple, k: tuple | None):
    kwargs = {key: value for key, value in params.items() if key != "use_causal_mask"}
    layer = keras.layers.MultiHeadAttention(**kwargs)
    inputs = [keras.Input(q), keras.Input(v)] + ([keras.Input(k)] if k else [])
    out = layer(inputs[0], inputs[1], key=inputs[2] if k else None)
    return layer, tuple(out.shape[1:])


@pytest.mark.parametrize("params,q,v,k", MHA_CASES)
def test_multi_head_attention_counts_and_shape_equal_keras(params, q, v, k):
    analysis = analyzed(mha_graph(params, q, v, k))
    layer, shape = keras_mha(params, q, v, k)
    assert analysis.nodes["mha"].trainable == layer.count_params()
    assert analysis.nodes["mha"].output.shape == shape


def copy_mha_weights(module: torch.nn.Module, layer) -> None:
    """Keras's einsum kernels (d, heads, dim) and (heads, dim, out) into our Linear projections."""
    named = {w.path.split("/")[-2] + "/" + w.path.split("/")[-1]: keras_np(w.value) for w in layer.weights}
    with torch.no_grad():
        for ours, theirs in (("query", "query"), ("key", "key"), ("value", "value"), ("output", "attention_output")):
            proj = getattr(module, ours)
            kernel = named[f"{theirs}/kernel"]
            flat = kernel.reshape(-1, kernel.shape[-1]) if ours == "output" else kernel.reshape(kernel.shape[0], -1)
            proj.weight.copy_(t(flat.T))
            if proj.bias is not None:
                proj.bias.copy_(t(named[f"{theirs}/bias"].reshape(-1)))


@pytest.mark.parametrize("params,q,v,k", [c for c in MHA_CASES if "dropout" not in c[0]])
@pytest.mark.parametrize("causal", [False, True])
def test_multi_head_attention_equals_keras_with_its_weights(params, q, v, k, causal):
    params = {**params, "use_causal_mask": causal}
    model = build_model(analyzed(mha_graph(params, q, v, k)), seed=0).eval()
    layer, _ = keras_mha(params, q, v, k)
    copy_mha_weights(model.mha, layer)
    rng = np.random.default_rng(1)
    data = {"q": rng.normal(size=(3, *q)), "v": rng.normal(size=(3, *v))}
    if k:
        data["k"] = rng.normal(size=(3, *k))
    expected = keras_np(layer(data["q"].astype("float32"), data["v"].astype("float32"),
                              key=data["k"].astype("float32") if k else None, use_causal_mask=causal))
    with torch.no_grad():
        got = model({name: t(x) for name, x in data.items()})["y"].numpy()
    np.testing.assert_allclose(got, expected, atol=ATOL)


def test_masked_self_attention_equals_keras():
    """Masking → MultiHeadAttention(x, x): the query and value masks come from the Masking layer."""
    document = graph([("x", "Input", {"shape": [6, 4]}), ("m", "Masking", {}),
                      ("mha", "MultiHeadAttention", {"num_heads": 2, "key_dim": 3}), ("y", "Output", {"loss": "mse"})],
                     [("x", "m"), ("m", "mha", 0), ("m", "mha", 1), ("mha", "y")])
    analysis = analyzed(document)
    assert analysis.nodes["y"].mask is not None  # the output keeps the query's mask
    model = build_model(analysis, seed=0).eval()
    inp = keras.Input((6, 4))
    masked = keras.layers.Masking()(inp)
    layer = keras.layers.MultiHeadAttention(num_heads=2, key_dim=3)
    reference = keras.Model(inp, layer(masked, masked))
    copy_mha_weights(model.mha, layer)
    x = np.random.default_rng(2).normal(size=(3, 6, 4)).astype("float32")
    x[0, 4:] = 0.0  # padded at the end
    x[1, 1] = 0.0  # a masked step in the middle
    expected = keras_np(reference(x))
    with torch.no_grad():
        got = model({"x": t(x)})["y"].numpy()
    valid = np.abs(x).sum(-1) > 0  # a masked query step attends to nothing; compare the others
    np.testing.assert_allclose(got[valid], expected[valid], atol=ATOL)
    assert np.isfinite(got).all()


# --- PositionEmbedding, TimeDistributed, Bidirectional -----------------------------------------------


@pytest.mark.parametrize("length,steps,features", [(10, 6, 4), (6, 6, 3), (50, 7, 16)])
def test_position_embedding_counts_shape_and_values(length, steps, features):
    """keras_hub's PositionEmbedding holds (sequence_length, features) embeddings (the same weight as a
    Keras Embedding(sequence_length, features); keras_hub itself pulls TensorFlow) and outputs the first
    `steps` of them, whatever the input's values."""
    document = graph([("tok", "Input", {"shape": [steps], "dtype": "int64"}),
                      ("emb", "Embedding", {"input_dim": 30, "output_dim": features}),
                      ("pos", "PositionEmbedding", {"sequence_length": length}), ("add", "Add", {}),
                      ("y", "Output", {"loss": "mse"})],
                     [("tok", "emb"), ("emb", "pos"), ("emb", "add", 0), ("pos", "add", 1), ("add", "y")])
    analysis = analyzed(document)
    reference = keras.layers.Embedding(length, features)
    reference.build((None, steps))
    assert analysis.nodes["pos"].trainable == reference.count_params()
    assert analysis.nodes["pos"].output.shape == (steps, features)
    model = build_model(analysis, seed=0).eval()
    tokens = torch.randint(0, 30, (2, steps))
    with torch.no_grad():
        got = model({"tok": tokens})["y"]
    expected = model.emb.weight[tokens] + model.pos.embeddings[:steps]
    torch.testing.assert_close(got, expected.detach())


def test_position_embedding_refuses_a_longer_sequence():
    document = chain(("x", "Input", {"shape": [9, 4]}), ("pos", "PositionEmbedding", {"sequence_length": 8}),
                     ("y", "Output", {"loss": "mse"}))
    issues = analyze(document).errors
    assert [(i.code, i.node) for i in issues] == [("shape", "pos")] and "sequence_length" in issues[0].message


@pytest.mark.parametrize("inner,step_shape,keras_inner,keras_step", [
    ({"type": "Dense", "params": {"units": 5}}, (6,), lambda: keras.layers.Dense(5), (6,)),
    ({"type": "Dense", "params": {"units": 3, "use_bias": False, "activation": "relu"}}, (2, 6),
     lambda: keras.layers.Dense(3, use_bias=False, activation="relu"), (2, 6)),
    # channels-first (channels, length) steps here, channels-last (length, channels) in Keras
    ({"type": "Conv1D", "params": {"filters": 4, "kernel_size": 3}}, (2, 8), lambda: keras.layers.Conv1D(4, 3), (8, 2)),
    ({"type": "Conv2D", "params": {"filters": 2, "kernel_size": 2, "padding": "same"}}, (3, 5, 5),
     lambda: keras.layers.Conv2D(2, 2, padding="same"), (5, 5, 3)),
])
def test_time_distributed_counts_and_shape_equal_keras(inner, step_shape, keras_inner, keras_step):
    steps = 4
    analysis = analyzed(chain(("x", "Input", {"shape": [steps, *step_shape]}),
                              ("td", "TimeDistributed", {"layer": inner}), ("y", "Output", {"loss": "mse"})))
    layer = keras.layers.TimeDistributed(keras_inner())
    out = layer(keras.Input((steps, *keras_step)))
    assert analysis.nodes["td"].trainable == layer.count_params()
    keras_shape = tuple(out.shape[1:])
    if inner["type"].startswith("Conv"):  # (time, *spatial, channels) -> (time, channels, *spatial)
        keras_shape = (keras_shape[0], keras_shape[-1], *keras_shape[1:-1])
    assert analysis.nodes["td"].output.shape == keras_shape


def test_time_distributed_dense_equals_keras_with_its_weights():
    analysis = analyzed(chain(("x", "Input", {"shape": [4, 6]}),
                              ("td", "TimeDistributed", {"layer": {"type": "Dense", "params": {"units": 3, "activation": "tanh"}}}),
                              ("y", "Output", {"loss": "mse"})))
    model = build_model(analysis, seed=0).eval()
    layer = keras.layers.TimeDistributed(keras.layers.Dense(3, activation="tanh"))
    x = np.random.default_rng(3).normal(size=(2, 4, 6)).astype("float32")
    expected = keras_np(layer(x))
    kernel, bias = (keras_np(w.value) for w in layer.weights)
    model.load_state_dict({"td.layer.weight": t(kernel.T), "td.layer.bias": t(bias)})
    with torch.no_grad():
        np.testing.assert_allclose(model({"x": t(x)})["y"].numpy(), expected, atol=ATOL)


def test_time_distributed_names_the_bad_inner_layer():
    bad = chain(("x", "Input", {"shape": [4, 6]}), ("td", "TimeDistributed", {"layer": {"type": "Add", "params": {}}}),
                ("y", "Output", {"loss": "mse"}))
    issue = analyze(bad).errors[0]
    assert (issue.code, issue.node, issue.field) == ("bad_param", "td", "params.layer") and "Add" in issue.message
    missing = chain(("x", "Input", {"shape": [4, 6]}), ("td", "TimeDistributed", {"layer": {"type": "Dense", "params": {}}}),
                    ("y", "Output", {"loss": "mse"}))
    issue = analyze(missing).errors[0]
    assert issue.field == "params.layer" and "units" in issue.message


KERAS_RNN = {"SimpleRNN": keras.layers.SimpleRNN, "LSTM": keras.layers.LSTM, "GRU": keras.layers.GRU}
EXTRA_BIAS = {"SimpleRNN": 1, "LSTM": 4, "GRU": 0}  # PyTorch's second bias vector, per unit and direction


@pytest.mark.parametrize("kind", ["SimpleRNN", "LSTM", "GRU"])
@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave"])
@pytest.mark.parametrize("return_sequences", [False, True])
def test_bidirectional_counts_and_shape_equal_keras(kind, merge_mode, return_sequences):
    units = 3
    inner = {"type": kind, "params": {"units": units, "return_sequences": return_sequences}}
    analysis = analyzed(chain(("x", "Input", {"shape": [5, 4]}), ("bi", "Bidirectional", {"layer": inner, "merge_mode": merge_mode}),
                              ("y", "Output", {"loss": "mse"})))
    layer = keras.layers.Bidirectional(KERAS_RNN[kind](units, return_sequences=return_sequences), merge_mode=merge_mode)
    out = layer(keras.Input((5, 4)))
    assert analysis.nodes["bi"].output.shape == tuple(out.shape[1:])
    # GRU's counts are Keras's exactly; LSTM and SimpleRNN keep PyTorch's second bias (docs/graph-format.md).
    assert analysis.nodes["bi"].trainable == layer.count_params() + 2 * EXTRA_BIAS[kind] * units


# --- Masked recurrent layers against Keras --------------------------------------------------------------


def copy_rnn_weights(module: torch.nn.Module, keras_layer, kind: str, suffix: str = "") -> None:
    """Keras's kernel, recurrent kernel and bias into a PyTorch RNN direction. Keras's single LSTM /
    SimpleRNN bias goes into bias_ih and zeros into bias_hh; GRU gates reorder from Keras's (z, r, h)
    to PyTorch's (r, z, n), with Keras's reset_after bias pair as (bias_ih, bias_hh)."""
    kernel, recurrent, bias = (keras_np(w.value) for w in keras_layer.weights)
    units = recurrent.shape[0]
    if kind == "GRU":
        def order(m):
            z, r, h = np.split(m, 3, axis=-1)
            return np.concatenate([r, z, h], axis=-1)
        kernel, recurrent, bias = order(kernel), order(recurrent), order(bias)
        bias_ih, bias_hh = bias[0], bias[1]
    else:
        bias_ih, bias_hh = bias, np.zeros_like(bias)
    with torch.no_grad():
        getattr(module, f"weight_ih_l0{suffix}").copy_(t(kernel.T))
        getattr(module, f"weight_hh_l0{suffix}").copy_(t(recurrent.T))
        getattr(module, f"bias_ih_l0{suffix}").copy_(t(bias_ih))
        getattr(module, f"bias_hh_l0{suffix}").copy_(t(bias_hh))
    assert getattr(module, f"weight_hh_l0{suffix}").shape == (recurrent.shape[1], units)


PADDINGS = ["mixed", "right", "right-packed"]


def padded_sequences(seed: int = 4, padding: str = "mixed", monkeypatch=None) -> np.ndarray:
    """"mixed": padding in front, in the middle and at the end; "right": every sequence padded at its
    end; "right-packed": the same through the packed-sequence path that CUDA takes, here on the CPU."""
    if padding == "right-packed":
        monkeypatch.setattr(torch_ops._KerasRecurrent, "packed_devices", ("cpu", "cuda"))
    x = np.random.default_rng(seed).normal(size=(4, 7, 3)).astype("float32")
    x[0, 5:] = 0.0  # right padding
    x[3] = 0.0  # nothing valid: the output is the initial state
    if padding == "mixed":
        x[1, :2] = 0.0  # left padding
        x[2, 3] = 0.0  # a masked step in the middle
    else:
        x[1, 1:] = 0.0
    return x


@pytest.mark.parametrize("kind", ["SimpleRNN", "LSTM", "GRU"])
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("padding", PADDINGS)
def test_masked_recurrent_layer_equals_keras(kind, return_sequences, padding, monkeypatch):
    units = 5
    analysis = analyzed(chain(("x", "Input", {"shape": [7, 3]}), ("m", "Masking", {}),
                              ("rnn", kind, {"units": units, "return_sequences": return_sequences}), ("y", "Output", {"loss": "mse"})))
    assert analysis.nodes["rnn"].mask == (analysis.nodes["m"].mask if return_sequences else None)
    model = build_model(analysis, seed=0).eval()
    inp = keras.Input((7, 3))
    rnn = KERAS_RNN[kind](units, return_sequences=return_sequences)
    reference = keras.Model(inp, rnn(keras.layers.Masking()(inp)))
    copy_rnn_weights(model.rnn, rnn, kind)
    x = padded_sequences(padding=padding, monkeypatch=monkeypatch)
    with torch.no_grad():
        np.testing.assert_allclose(model({"x": t(x)})["y"].numpy(), keras_np(reference(x)), atol=ATOL)


@pytest.mark.parametrize("kind,merge_mode", [("LSTM", "concat"), ("GRU", "sum"), ("GRU", "ave"), ("LSTM", "mul")])
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("padding", PADDINGS)
def test_masked_bidirectional_equals_keras(kind, merge_mode, return_sequences, padding, monkeypatch):
    units = 4
    inner = {"type": kind, "params": {"units": units, "return_sequences": return_sequences}}
    analysis = analyzed(chain(("x", "Input", {"shape": [7, 3]}), ("m", "Masking", {}),
                              ("bi", "Bidirectional", {"layer": inner, "merge_mode": merge_mode}), ("y", "Output", {"loss": "mse"})))
    model = build_model(analysis, seed=0).eval()
    inp = keras.Input((7, 3))
    bi = keras.layers.Bidirectional(KERAS_RNN[kind](units, return_sequences=return_sequences), merge_mode=merge_mode)
    reference = keras.Model(inp, bi(keras.layers.Masking()(inp)))
    copy_rnn_weights(model.bi, bi.forward_layer, kind)
    copy_rnn_weights(model.bi, bi.backward_layer, kind, "_reverse")
    x = padded_sequences(5, padding, monkeypatch)
    with torch.no_grad():
        np.testing.assert_allclose(model({"x": t(x)})["y"].numpy(), keras_np(reference(x)), atol=ATOL)
    # Unmasked, the fused PyTorch kernel runs: same Keras outputs on unpadded data.
    dense = np.random.default_rng(6).normal(size=(2, 7, 3)).astype("float32")
    with torch.no_grad():
        np.testing.assert_allclose(model({"x": t(dense)})["y"].numpy(), keras_np(reference(dense)), atol=ATOL)


# --- Masking invariance ---------------------------------------------------------------------------------


def token_lstm(length: int, return_sequences: bool) -> dict:
    return chain(("tok", "Input", {"shape": [length], "dtype": "int64"}),
                 ("emb", "Embedding", {"input_dim": 20, "output_dim": 6, "mask_zero": True}),
                 ("lstm", "LSTM", {"units": 5, "return_sequences": return_sequences}), ("y", "Output", {"loss": "mse"}))


@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("packed", [False, True])
def test_padded_batch_gives_the_outputs_of_each_unpadded_sequence(return_sequences, packed, monkeypatch):
    if packed:  # the path CUDA takes for right-padded batches
        monkeypatch.setattr(torch_ops._KerasRecurrent, "packed_devices", ("cpu", "cuda"))
    sequences = [[3, 7, 1], [5, 2, 9, 4, 8, 11], [6], [12, 13, 14, 15]]
    length = 8
    padded_model = build_model(analyzed(token_lstm(length, return_sequences)), seed=0).eval()
    batch = torch.zeros(len(sequences), length, dtype=torch.long)
    for i, seq in enumerate(sequences):
        batch[i, : len(seq)] = torch.tensor(seq)
    with torch.no_grad():
        padded = padded_model({"tok": batch})["y"]
        for i, seq in enumerate(sequences):
            alone = build_model(analyzed(token_lstm(len(seq), return_sequences)), seed=0).eval()
            alone.load_state_dict(padded_model.state_dict())
            single = alone({"tok": torch.tensor([seq])})["y"][0]
            if return_sequences:
                torch.testing.assert_close(padded[i, : len(seq)], single, atol=1e-6, rtol=0)
                # Keras repeats the last valid output over the padded steps.
                torch.testing.assert_close(padded[i, len(seq):], single[-1].expand(length - len(seq), -1), atol=1e-6, rtol=0)
            else:
                torch.testing.assert_close(padded[i], single, atol=1e-6, rtol=0)


# --- Masked pooling and losses ------------------------------------------------------------------------


def test_masked_global_average_pooling_equals_keras():
    """Keras's (time, features) pools over time; ours is channels-first, so a Permute brings the steps
    to the last axis and carries the mask with them."""
    analysis = analyzed(chain(("x", "Input", {"shape": [7, 3]}), ("m", "Masking", {}), ("p", "Permute", {"dims": [2, 1]}),
                              ("gap", "GlobalAveragePooling1D", {}), ("y", "Output", {"loss": "mse"})))
    model = build_model(analysis, seed=0).eval()
    inp = keras.Input((7, 3))
    reference = keras.Model(inp, keras.layers.GlobalAveragePooling1D()(keras.layers.Masking()(inp)))
    x = padded_sequences()[:3]  # Keras divides 0 by 0 for the sequence with no valid step
    with torch.no_grad():
        got = model({"x": t(x)})["y"].numpy()
    np.testing.assert_allclose(got, keras_np(reference(x)), atol=ATOL)
    unmasked = x.mean(axis=1)
    assert not np.allclose(got, unmasked)  # the padded steps really were left out


def test_masked_global_max_pooling_skips_padded_steps():
    analysis = analyzed(chain(("x", "Input", {"shape": [7, 3]}), ("m", "Masking", {"mask_value": 9.0}),
                              ("p", "Permute", {"dims": [2, 1]}), ("gmp", "GlobalMaxPooling1D", {}),
                              ("y", "Output", {"loss": "mse"})))
    model = build_model(analysis, seed=0).eval()
    x = -np.abs(np.random.default_rng(7).normal(size=(2, 7, 3))).astype("float32")
    x[0, 4:] = 9.0  # padding with the largest values: a plain max would pick them
    with torch.no_grad():
        got = model({"x": t(x)})["y"].numpy()
    np.testing.assert_allclose(got, [x[0, :4].max(axis=0), x[1].max(axis=0)], atol=0)


def test_masked_sequence_loss_ignores_padded_steps():
    """A sequence head behind Embedding(mask_zero) is trained on its valid steps only: the loss equals
    Keras's masked MeanSquaredError, and whatever the padded steps' targets are does not change it."""
    document = chain(("tok", "Input", {"shape": [5], "dtype": "int64"}),
                     ("emb", "Embedding", {"input_dim": 10, "output_dim": 4, "mask_zero": True}),
                     ("d", "Dense", {"units": 2}), ("y", "Output", {"loss": "mse"}))
    analysis = analyzed(document)
    model = build_model(analysis, seed=0)
    engine = Engine(model, DataPlan(inputs=[], heads=[HeadTarget("y", "y", "dense", 1.0)], metric_names=[]))
    tokens = torch.tensor([[1, 2, 3, 0, 0], [4, 5, 6, 7, 8], [9, 0, 0, 0, 0]])
    target = torch.randn(3, 5, 2)

    def loss_for(target_values: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return engine.batch_losses({"tok": tokens}, [target_values])[1][0]

    loss = loss_for(target)
    noisy = target.clone()
    noisy[tokens == 0] = 1e3
    torch.testing.assert_close(loss_for(noisy), loss)
    with torch.no_grad():
        pred = model({"tok": tokens})["y"]
    keras_pred = keras.ops.convert_to_tensor(pred.numpy())
    keras_backend.set_keras_mask(keras_pred, keras.ops.convert_to_tensor((tokens != 0).numpy()))
    expected = keras_np(keras.losses.MeanSquaredError()(target.numpy(), keras_pred))
    np.testing.assert_allclose(loss.item(), float(expected), rtol=1e-5)


# --- Propagation rules ---------------------------------------------------------------------------------


def test_mask_propagation_rules():
    document = graph([
        ("a", "Input", {"shape": [6], "dtype": "int64"}), ("b", "Input", {"shape": [6, 4]}),
        ("ea", "Embedding", {"input_dim": 9, "output_dim": 4, "mask_zero": True}),
        ("plain", "Embedding", {"input_dim": 9, "output_dim": 4}),
        ("act", "Activation", {"activation": "relu"}),  # passes
        ("mixed", "Add", {}),  # one input without a mask: Keras drops it
        ("cat", "Concatenate", {"axis": 1}),  # along the steps: the masks are joined
        ("flat", "Flatten", {}),  # drops it, with a warning
        ("y1", "Output", {"loss": "mse"}), ("y2", "Output", {"loss": "mse"}), ("y3", "Output", {"loss": "mse"}),
    ], [("a", "ea"), ("a", "plain"), ("ea", "act"), ("act", "mixed", 0), ("b", "mixed", 1), ("act", "cat", 0), ("plain", "cat", 1),
        ("ea", "flat"), ("mixed", "y1"), ("cat", "y2"), ("flat", "y3")])
    analysis = analyze(document)
    assert analysis.ok
    masks = {nid: info.mask for nid, info in analysis.nodes.items()}
    assert masks["act"].source == "ea" and masks["mixed"] is None and masks["flat"] is None
    assert masks["cat"].steps == 12 and masks["y2"].steps == 12
    assert [(i.code, i.node) for i in analysis.warnings] == [("mask_dropped", "flat")]
    published = analysis.to_json()["nodes"]  # what the editor receives
    assert published["cat"]["mask"] == {"steps": 12, "source": "cat"} and published["act"]["mask"]["source"] == "ea"
    assert "mask" not in published["flat"] and "mask" not in published["b"]
    model = build_model(analysis, seed=0)
    tokens = torch.tensor([[1, 2, 0, 0, 0, 0]])
    out = model.forward_train({"a": tokens, "b": torch.randn(1, 6, 4)})
    assert set(out["masks"]) == {"y2"}
    assert out["masks"]["y2"].tolist() == [[True, True, False, False, False, False] + [True] * 6]


def test_concatenating_a_masked_sequence_with_itself_joins_the_masks():
    """Found by the property test: two inputs carrying the same mask, joined along the steps."""
    document = graph([("a", "Input", {"shape": [3], "dtype": "int64"}),
                      ("e", "Embedding", {"input_dim": 9, "output_dim": 2, "mask_zero": True}),
                      ("d", "Dense", {"units": 2}), ("cat", "Concatenate", {"axis": 1}), ("y", "Output", {"loss": "mse"})],
                     [("a", "e"), ("e", "d"), ("e", "cat", 0), ("d", "cat", 1), ("cat", "y")])
    model = build_model(analyzed(document), seed=0)
    out = model.forward_train({"a": torch.tensor([[4, 0, 0]])})
    assert out["masks"]["y"].tolist() == [[True, False, False, True, False, False]]


def test_a_head_ignores_a_mask_made_for_another_axis():
    """Embedding(mask_zero) → Permute gives (features, time): the head's first axis is not the mask's
    steps, so its loss cannot skip them; the analysis says so and the head trains unmasked."""
    document = chain(("a", "Input", {"shape": [5], "dtype": "int64"}),
                     ("e", "Embedding", {"input_dim": 9, "output_dim": 3, "mask_zero": True}),
                     ("p", "Permute", {"dims": [2, 1]}), ("y", "Output", {"loss": "mse"}))
    analysis = analyzed(document)
    assert [(i.code, i.node) for i in analysis.warnings] == [("mask_ignored", "y")]
    assert build_model(analysis, seed=0).forward_train({"a": torch.tensor([[1, 2, 0, 0, 0]])})["masks"] == {}


# --- Training with masks --------------------------------------------------------------------------------


def test_training_a_masked_sequence_head_ignores_the_padding_targets():
    """The trainer's real path: padded steps carry absurd targets (1e3), which would dominate an
    unmasked mean squared error; the masked loss and metric never see them."""
    from layerloom.data import Dataset
    from layerloom.train import train

    rng = np.random.default_rng(0)
    n, length = 64, 8
    lengths = rng.integers(1, length + 1, n)
    tokens = rng.integers(1, 10, (n, length))
    tokens[np.arange(length) >= lengths[:, None]] = 0
    target = (tokens[..., None] / 10.0).astype(np.float32)
    target[tokens == 0] = 1e3
    document = chain(("tok", "Input", {"shape": [length], "dtype": "int64"}),
                     ("emb", "Embedding", {"input_dim": 10, "output_dim": 4, "mask_zero": True}),
                     ("lstm", "LSTM", {"units": 8, "return_sequences": True}),
                     ("td", "TimeDistributed", {"layer": {"type": "Dense", "params": {"units": 1}}}),
                     ("y", "Output", {"loss": "mse", "metrics": ["mae"]}))
    data = Dataset.from_arrays("padded", {"train": {"tok": tokens, "y": target}})
    result = train(document, data, {"epochs": 3, "batch_size": 16, "optimizer": {"name": "adam", "lr": 0.01}})
    losses = [epoch["loss"] for epoch in result.history]
    assert losses[-1] < losses[0] < 1.0  # unmasked, the padding alone would put it near 1e5
    assert result.history[-1]["y/mae"] < 1.0


# --- The keras.io transformer text classifier, without custom code ------------------------------------------


def transformer_classifier(maxlen: int, vocab: int, dim: int, heads: int, ff: int) -> dict:
    """keras.io's "Text classification with Transformer": token-and-position embedding, one transformer
    block, pooling over time, two Dense layers; here from catalog layers only."""
    nodes = [
        ("tokens", "Input", {"shape": [maxlen], "dtype": "int64"}),
        ("tok_emb", "Embedding", {"input_dim": vocab, "output_dim": dim}),
        ("pos_emb", "PositionEmbedding", {"sequence_length": maxlen}),
        ("embedded", "Add", {}),
        ("attention", "MultiHeadAttention", {"num_heads": heads, "key_dim": dim}),
        ("attn_drop", "Dropout", {"rate": 0.1}),
        ("res1", "Add", {}),
        ("norm1", "LayerNormalization", {"epsilon": 1e-6}),
        ("ffn1", "Dense", {"units": ff, "activation": "relu"}),
        ("ffn2", "Dense", {"units": dim}),
        ("ffn_drop", "Dropout", {"rate": 0.1}),
        ("res2", "Add", {}),
        ("norm2", "LayerNormalization", {"epsilon": 1e-6}),
        ("to_channels", "Permute", {"dims": [2, 1]}),  # (time, features) -> (features, time) for the 1D pooling
        ("pool", "GlobalAveragePooling1D", {}),
        ("drop", "Dropout", {"rate": 0.1}),
        ("hidden", "Dense", {"units": 20, "activation": "relu"}),
        ("drop2", "Dropout", {"rate": 0.1}),
        ("classes", "Dense", {"units": 2, "activation": "softmax"}),
        ("label", "Output", {"loss": "sparse_categorical_crossentropy"}),
    ]
    edges = [("tokens", "tok_emb"), ("tok_emb", "pos_emb"), ("tok_emb", "embedded", 0), ("pos_emb", "embedded", 1),
             ("embedded", "attention", 0), ("embedded", "attention", 1), ("attention", "attn_drop"),
             ("embedded", "res1", 0), ("attn_drop", "res1", 1), ("res1", "norm1"), ("norm1", "ffn1"), ("ffn1", "ffn2"),
             ("ffn2", "ffn_drop"), ("norm1", "res2", 0), ("ffn_drop", "res2", 1), ("res2", "norm2"),
             ("norm2", "to_channels"), ("to_channels", "pool"), ("pool", "drop"), ("drop", "hidden"), ("hidden", "drop2"),
             ("drop2", "classes"), ("classes", "label")]
    return graph(nodes, edges)


def test_transformer_text_classifier_equals_keras():
    maxlen, vocab, dim, heads, ff = 12, 50, 8, 2, 16
    analysis = analyzed(transformer_classifier(maxlen, vocab, dim, heads, ff))
    L = keras.layers
    tokens = keras.Input((maxlen,), dtype="int32")

    class TokenAndPositionEmbedding(L.Layer):  # keras.io's custom layer, which Layerloom needs no code for
        def __init__(self):
            super().__init__()
            self.token_emb, self.pos_emb = L.Embedding(vocab, dim), L.Embedding(maxlen, dim)

        def call(self, x):
            return self.token_emb(x) + self.pos_emb(keras.ops.arange(0, keras.ops.shape(x)[-1]))

    embedding = TokenAndPositionEmbedding()
    tok_emb, pos_emb = embedding.token_emb, embedding.pos_emb
    x = embedding(tokens)
    mha, norm1, norm2 = L.MultiHeadAttention(heads, dim), L.LayerNormalization(epsilon=1e-6), L.LayerNormalization(epsilon=1e-6)
    ffn1, ffn2, hidden, classes = L.Dense(ff, activation="relu"), L.Dense(dim), L.Dense(20, activation="relu"), L.Dense(2, activation="softmax")
    x = norm1(x + L.Dropout(0.1)(mha(x, x)))
    x = norm2(x + L.Dropout(0.1)(ffn2(ffn1(x))))
    out = classes(L.Dropout(0.1)(hidden(L.Dropout(0.1)(L.GlobalAveragePooling1D()(x)))))
    reference = keras.Model(tokens, out)
    assert analysis.total_params == reference.count_params()
    assert analysis.nodes["norm2"].output.shape == (maxlen, dim)

    model = build_model(analysis, seed=0).eval()
    with torch.no_grad():
        model.tok_emb.weight.copy_(t(keras_np(tok_emb.embeddings)))
        model.pos_emb.embeddings.copy_(t(keras_np(pos_emb.embeddings)))
        for ours, theirs in (("norm1", norm1), ("norm2", norm2)):
            getattr(model, ours).weight.copy_(t(keras_np(theirs.gamma)))
            getattr(model, ours).bias.copy_(t(keras_np(theirs.beta)))
        for ours, theirs in (("ffn1", ffn1), ("ffn2", ffn2), ("hidden", hidden), ("classes", classes)):
            getattr(model, ours).weight.copy_(t(keras_np(theirs.kernel).T))
            getattr(model, ours).bias.copy_(t(keras_np(theirs.bias)))
    copy_mha_weights(model.attention, mha)
    ids = np.random.default_rng(8).integers(0, vocab, (3, maxlen))
    with torch.no_grad():
        got = model({"tokens": torch.as_tensor(ids)})["label"].numpy()
    np.testing.assert_allclose(got, keras_np(reference(ids.astype("int32"))), atol=ATOL)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_attention_with_nothing_to_attend_to_stays_finite(dtype):
    """A padded query step, or a sequence with no valid step at all, gets a finite output (Keras's
    large negative number, not -inf), also in half precision, where -1e9 would overflow."""
    analysis = analyzed(graph([("x", "Input", {"shape": [5, 4]}), ("m", "Masking", {}),
                               ("mha", "MultiHeadAttention", {"num_heads": 2, "key_dim": 3}), ("y", "Output", {"loss": "mse"})],
                              [("x", "m"), ("m", "mha", 0), ("m", "mha", 1), ("mha", "y")]))
    model = build_model(analysis, seed=0).eval().to(dtype)
    x = torch.randn(2, 5, 4, dtype=dtype)
    x[0, 2:] = 0
    x[1] = 0
    with torch.no_grad():
        assert torch.isfinite(model({"x": x})["y"]).all()


def test_a_mask_travels_through_a_block_call():
    """Embedding(mask_zero) → a block holding an LSTM (its ports pass masks) → a head: the padded
    sequence gives the unpadded one's output, as without the block."""
    encoder = {"args": {}, "nodes": [{"id": "x", "type": "Input", "params": {}},
                                     {"id": "rnn", "type": "LSTM", "params": {"units": 3}},
                                     {"id": "y", "type": "Output", "params": {}}],
               "edges": [{"source": "x", "target": "rnn"}, {"source": "rnn", "target": "y"}]}

    def document(length: int) -> dict:
        doc = chain(("tok", "Input", {"shape": [length], "dtype": "int64"}),
                    ("emb", "Embedding", {"input_dim": 9, "output_dim": 2, "mask_zero": True}),
                    ("enc", "Block", {"block": "encoder", "args": {}}), ("out", "Output", {"loss": "mse"}))
        doc["blocks"] = {"encoder": encoder}
        return doc

    padded = analyzed(document(6))
    assert padded.nodes["enc.rnn"].input_specs is not None and not padded.warnings
    model = build_model(padded, seed=0).eval()
    alone = build_model(analyzed(document(3)), seed=0).eval()
    alone.load_state_dict(model.state_dict())
    with torch.no_grad():
        got = model({"tok": torch.tensor([[4, 5, 6, 0, 0, 0]])})["out"]
        expected = alone({"tok": torch.tensor([[4, 5, 6]])})["out"]
    torch.testing.assert_close(got, expected, atol=1e-6, rtol=0)
