"""Property test: on random valid DAGs, inferred shapes and parameter counts equal what the built
module really produces and holds. Graphs mix every layer family with merges and shared layers."""

from __future__ import annotations

from typing import Any

import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graph_helpers import random_inputs, real_output_shapes, real_weight_counts, saved_buffer_count
from layerloom.graph import analyze, build_model, get_layer
from layerloom.graph.catalog import ShapeError, TensorSpec

LAMBDA_EXPRESSIONS = ["x * sigmoid(x)", "clip(x, -1, 1) ** 2 - x", "x - mean(x, axis=-1, keepdims=True)",
                      "sum(x, axis=1)", "max(exp(x), axis=(1, -1), keepdims=True) / 2", "softplus(-x) + abs(x)"]
LAMBDA_MERGES = ["a * sigmoid(b)", "a + b", "maximum(a, b) - minimum(a, 0)", "a + mean(b, axis=-1, keepdims=True)"]
ACTIVATIONS = ["relu", "tanh", "sigmoid", "softmax", "leaky_relu", "gelu", "elu", "linear", "selu", "hard_sigmoid"]


def candidate_layers(draw, shape: tuple[int, ...]) -> list[tuple[str, dict[str, Any]]]:
    """Layers (type, params) worth trying on a tensor of this shape."""
    small = st.integers(1, 6)
    rank = len(shape)
    out: list[tuple[str, dict[str, Any]]] = [
        ("Dense", {"units": draw(small), "activation": draw(st.sampled_from(ACTIVATIONS)), "use_bias": draw(st.booleans())}),
        ("Activation", {"activation": draw(st.sampled_from(ACTIVATIONS))}),
        ("Dropout", {"rate": 0.3}),
        ("BatchNormalization", {"momentum": 0.9}),
        ("LayerNormalization", {}),
        ("ActivityRegularization", {"l2": 0.01}),
        ("Flatten", {}),
        ("Reshape", {"target_shape": [-1, 1] if rank < 4 else [-1]}),
        ("Lambda", {"expression": draw(st.sampled_from(LAMBDA_EXPRESSIONS))}),
        ("Normalization", draw(st.sampled_from([{"adapt": True}, {"axis": None, "mean": 1.0, "variance": 2.0},
                                                {"axis": 1, "adapt": True, "invert": True}]))),
    ]
    if rank == 1:
        out.append(("RepeatVector", {"n": draw(st.integers(1, 4))}))
    if rank == 2:
        out += [
            ("Conv1D", {"filters": draw(small), "kernel_size": draw(st.integers(1, 3)), "strides": draw(st.integers(1, 2)),
                        "padding": draw(st.sampled_from(["valid", "same"]))}),
            (draw(st.sampled_from(["MaxPooling1D", "AveragePooling1D"])),
             {"pool_size": draw(st.integers(1, 3)), "padding": draw(st.sampled_from(["valid", "same"]))}),
            (draw(st.sampled_from(["GlobalMaxPooling1D", "GlobalAveragePooling1D"])), {}),
            (draw(st.sampled_from(["SimpleRNN", "LSTM", "GRU"])),
             {"units": draw(small), "return_sequences": draw(st.booleans()), "bidirectional": draw(st.booleans())}),
            ("Permute", {"dims": [2, 1]}),
        ]
    if rank == 3:
        strides = draw(st.integers(1, 2))
        out += [
            ("Conv2D", {"filters": draw(small), "kernel_size": draw(st.sampled_from([1, 2, 3, [2, 3]])), "strides": strides,
                        "dilation_rate": 1 if strides > 1 else draw(st.integers(1, 2)),
                        "padding": draw(st.sampled_from(["valid", "same"])), "activation": draw(st.sampled_from(ACTIVATIONS))}),
            ("Conv2DTranspose", {"filters": draw(small), "kernel_size": draw(st.sampled_from([1, 2, 3])), "strides": draw(st.integers(1, 3)),
                                 "padding": draw(st.sampled_from(["valid", "same"]))}),
            (draw(st.sampled_from(["MaxPooling2D", "AveragePooling2D"])),
             {"pool_size": draw(st.sampled_from([2, 3, [2, 1]])), "strides": draw(st.sampled_from([None, 1, 2])),
              "padding": draw(st.sampled_from(["valid", "same"]))}),
            (draw(st.sampled_from(["GlobalMaxPooling2D", "GlobalAveragePooling2D"])), {"keepdims": draw(st.booleans())}),
            ("UpSampling2D", {"size": draw(st.sampled_from([1, 2, [2, 1]])), "interpolation": draw(st.sampled_from(["nearest", "bilinear"]))}),
            ("ZeroPadding2D", {"padding": draw(st.sampled_from([1, [1, 2], [[0, 1], [2, 0]]]))}),
            ("Permute", {"dims": [1, 3, 2]}),
        ]
    return out


@st.composite
def random_graphs(draw) -> dict[str, Any]:
    nodes: list[dict[str, Any]] = []
    edges: list[dict[str, Any]] = []
    tensors: list[tuple[str, TensorSpec]] = []  # float tensors available as inputs
    consumed: set[str] = set()
    dense_calls: list[tuple[str, int, dict[str, Any]]] = []  # (id, input features, params) for sharing

    def add(node_type: str, params: dict[str, Any], sources: list[str], share: str | None = None) -> str:
        nid = f"n{len(nodes)}"
        node: dict[str, Any] = {"id": nid, "type": node_type, "params": params}
        if share:
            node["share"] = share
            node["params"] = {}
        nodes.append(node)
        for port, src in enumerate(sources):
            edges.append({"source": src, "target": nid, "target_port": port})
            consumed.add(src)
        return nid

    for _ in range(draw(st.integers(1, 2))):
        kind = draw(st.sampled_from(["vector", "sequence", "image", "tokens"]))
        if kind == "tokens":
            length = draw(st.integers(2, 6))
            tokens = add("Input", {"shape": [length], "dtype": "int64"}, [])
            emb = add("Embedding", {"input_dim": 5, "output_dim": draw(st.integers(1, 4))}, [tokens])
            tensors.append((emb, TensorSpec((length, nodes[-1]["params"]["output_dim"]))))
            continue
        shape = {"vector": [draw(st.integers(1, 8))],
                 "sequence": [draw(st.integers(2, 6)), draw(st.integers(1, 5))],
                 "image": [draw(st.integers(1, 3)), draw(st.integers(3, 9)), draw(st.integers(3, 9))]}[kind]
        tensors.append((add("Input", {"shape": shape}, []), TensorSpec(tuple(shape))))

    for _ in range(draw(st.integers(1, 14))):
        src, spec = draw(st.sampled_from(tensors))
        action = draw(st.sampled_from(["layer", "layer", "layer", "merge", "share"]))
        if action == "merge":
            same_shape = [t for t in tensors if t[1].shape == spec.shape and t[0] != src]
            same_rank = [t for t in tensors if len(t[1].shape) == len(spec.shape) and t[0] != src
                         and t[1].shape[1:] == spec.shape[1:]]
            kind = draw(st.sampled_from(["elementwise", "concatenate", "dot", "lambda"]))
            if kind == "elementwise" and same_shape:
                other = draw(st.sampled_from(same_shape))
                merge = draw(st.sampled_from(["Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum"]))
                extra = [t[0] for t in same_shape if t[0] != other[0]][:1] if merge != "Subtract" else []
                nid = add(merge, {}, [src, other[0], *extra])
                tensors.append((nid, spec))
            elif kind == "concatenate" and same_rank:
                other = draw(st.sampled_from(same_rank))
                nid = add("Concatenate", {"axis": 1}, [src, other[0]])
                tensors.append((nid, TensorSpec((spec.shape[0] + other[1].shape[0], *spec.shape[1:]))))
            elif kind == "lambda":  # any two tensors; those that do not broadcast are refused and skipped
                other = draw(st.sampled_from(tensors))
                params = {"expression": draw(st.sampled_from(LAMBDA_MERGES))}
                try:
                    out = get_layer("Lambda").output(get_layer("Lambda").params_model(**params), [spec, other[1]])
                except ShapeError:
                    continue
                if max(out.shape) <= 64:
                    tensors.append((add("Lambda", params, [src, other[0]]), out))
            elif kind == "dot" and len(spec.shape) == 1 and same_shape:
                nid = add("Dot", {"axes": 1, "normalize": draw(st.booleans())}, [src, same_shape[0][0]])
                tensors.append((nid, TensorSpec((1,))))
            continue
        if action == "share":
            fitting = [d for d in dense_calls if d[1] == spec.shape[-1]]
            if fitting:
                owner, _, params = draw(st.sampled_from(fitting))
                out = get_layer("Dense").output(get_layer("Dense").params_model(**params), [spec])
                tensors.append((add("Dense", {}, [src], share=owner), out))
            continue
        layer_type, params = draw(st.sampled_from(candidate_layers(draw, spec.shape)))
        layer = get_layer(layer_type)
        try:
            out = layer.output(layer.params_model.model_validate(params), [spec])
        except ShapeError:
            continue  # not applicable to this shape; draw something else next time
        if max(out.shape) > 64 or len(out.shape) > 4:
            continue
        nid = add(layer_type, params, [src])
        if layer_type == "Dense":
            dense_calls.append((nid, spec.shape[-1], params))
        tensors.append((nid, out))

    for nid, _ in tensors:
        if nid not in consumed:
            add("Output", {"loss": "mse"}, [nid])
    return {"format": "layerloom.graph", "version": 1, "name": "random", "nodes": nodes, "edges": edges}


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(random_graphs())
def test_inferred_shapes_and_counts_equal_the_built_module(document):
    analysis = analyze(document)
    assert analysis.ok, [i.message for i in analysis.errors]
    model = build_model(analysis, seed=0)
    model.eval()
    real = real_output_shapes(model, analysis, random_inputs(analysis, batch=2))
    for nid, info in analysis.nodes.items():
        assert real[nid] == info.output.shape, f"{nid} ({info.type})"
        if not info.share:
            assert real_weight_counts(model, nid) == (info.trainable, info.non_trainable), f"{nid} ({info.type})"
    # Shared call sites add no weights: the model's unique parameters equal the inferred total.
    trainable = sum(p.numel() for p in model.parameters())
    buffers = saved_buffer_count(model)
    assert (trainable, buffers) == (analysis.trainable_params, analysis.non_trainable_params)
    # The training forward runs too and returns every head.
    model.train()
    out = model.forward_train(random_inputs(analysis, batch=2))
    assert set(out["heads"]) == set(analysis.output_ids)
    assert all(torch.isfinite(v).all() for v in out["heads"].values())
