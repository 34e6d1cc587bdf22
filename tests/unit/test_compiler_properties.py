"""Property test: on random valid DAGs, inferred shapes and parameter counts equal what the built
module really produces and holds. Graphs mix every layer family with merges, shared layers, attention,
wrappers and Keras masks (Embedding(mask_zero), Masking), whose inferred presence and steps equal the
masks the training forward really returns; the second test wraps random sub-DAGs of them into blocks
(nested, parametric and shared calls)."""

from __future__ import annotations

import copy
from typing import Any

import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graph_helpers import random_inputs, real_output_shapes, real_weight_counts, saved_buffer_count
from layerloom.graph import analyze, build_model, get_layer
from layerloom.graph.blocks import call_totals
from layerloom.graph.catalog import ShapeError, TensorSpec
from layerloom.graph.layers.merge import broadcast_shapes

LAMBDA_EXPRESSIONS = ["x * sigmoid(x)", "clip(x, -1, 1) ** 2 - x", "x - mean(x, axis=-1, keepdims=True)",
                      "sum(x, axis=1)", "max(exp(x), axis=(1, -1), keepdims=True) / 2", "softplus(-x) + abs(x)"]
LAMBDA_MERGES = ["a * sigmoid(b)", "a + b", "maximum(a, b) - minimum(a, 0)", "a + mean(b, axis=-1, keepdims=True)"]
# Not "exponential": chained, it overflows to inf on random graphs (test_keras_parity_layers checks it).
ACTIVATIONS = ["relu", "tanh", "sigmoid", "softmax", "leaky_relu", "gelu", "elu", "linear", "selu", "hard_sigmoid",
               "hardsigmoid", "relu6", "hard_silu", "mish"]


def candidate_layers(draw, shape: tuple[int, ...]) -> tuple[list[tuple[str, dict[str, Any]]], list[tuple[str, dict[str, Any]]]]:
    """Layers (type, params) worth trying on a tensor of this shape: (any rank, this rank only)."""
    small = st.integers(1, 6)
    rank = len(shape)
    channels = shape[0]
    groups = draw(st.sampled_from([g for g in (1, 2, 3) if channels % g == 0]))
    out: list[tuple[str, dict[str, Any]]] = [
        ("Dense", {"units": draw(small), "activation": draw(st.sampled_from(ACTIVATIONS)), "use_bias": draw(st.booleans())}),
        ("Activation", {"activation": draw(st.sampled_from(ACTIVATIONS))}),
        ("Dropout", {"rate": 0.3}),
        ("Dropout", {"rate": 0.3, "noise_shape": [None, *[draw(st.sampled_from([None, 1])) for _ in shape]]}),
        ("BatchNormalization", {"momentum": 0.9, "center": draw(st.booleans()), "scale": draw(st.booleans())}),
        ("LayerNormalization", {"axis": draw(st.sampled_from([-1, 1, list(range(1, rank + 1))])),
                                "center": draw(st.booleans()), "scale": draw(st.booleans())}),
        ("GroupNormalization", {"groups": groups, "center": draw(st.booleans())}),
        ("UnitNormalization", {"axis": draw(st.sampled_from([-1, 1]))}),
        ("ActivityRegularization", {"l2": 0.01}),
        ("Flatten", {}),
        ("Reshape", {"target_shape": [-1, 1] if rank < 4 else [-1]}),
        ("Lambda", {"expression": draw(st.sampled_from(LAMBDA_EXPRESSIONS))}),
        ("Normalization", draw(st.sampled_from([{"adapt": True}, {"axis": None, "mean": 1.0, "variance": 2.0},
                                                {"axis": 1, "adapt": True, "invert": True}]))),
        ("ReLU", draw(st.sampled_from([{}, {"max_value": 6.0}, {"max_value": 1.5, "negative_slope": 0.2, "threshold": 0.1}]))),
        ("LeakyReLU", {"negative_slope": 0.2}),
        ("PReLU", {"shared_axes": draw(st.sampled_from([None, list(range(2, rank + 1)) or None]))}),
        ("ELU", {"alpha": 0.7}),
        ("Softmax", {"axis": draw(st.sampled_from([-1, 1]))}),
        ("Rescaling", {"scale": 0.5, "offset": draw(st.sampled_from([0.0, -1.0]))}),
        ("GaussianNoise", {"stddev": 0.1}),
        ("GaussianDropout", {"rate": 0.2}),
    ]
    generic, out = out, []
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
            ("Conv1D", {"filters": groups * draw(small), "groups": groups, "kernel_size": draw(st.integers(1, 3)),
                        "padding": draw(st.sampled_from(["valid", "same"]))}),
            ("DepthwiseConv1D", {"kernel_size": draw(st.integers(1, 3)), "strides": draw(st.integers(1, 2)),
                                 "depth_multiplier": draw(st.integers(1, 2)), "padding": draw(st.sampled_from(["valid", "same"]))}),
            ("SeparableConv1D", {"filters": draw(small), "kernel_size": draw(st.integers(1, 3)), "strides": draw(st.integers(1, 2)),
                                 "depth_multiplier": draw(st.integers(1, 2)), "padding": draw(st.sampled_from(["valid", "same"])),
                                 "use_bias": draw(st.booleans())}),
            ("Conv1DTranspose", {"filters": draw(small), "kernel_size": draw(st.integers(1, 3)), "strides": draw(st.integers(1, 3)),
                                 "padding": draw(st.sampled_from(["valid", "same"]))}),
            ("Cropping1D", {"cropping": draw(st.sampled_from([1, [1, 0], [0, 2]]))}),
            ("ZeroPadding1D", {"padding": draw(st.sampled_from([1, [2, 0]]))}),
            ("UpSampling1D", {"size": draw(st.integers(1, 3))}),
            ("SpatialDropout1D", {"rate": 0.3}),
            ("Masking", {"mask_value": 0.0}),
            ("PositionEmbedding", {"sequence_length": shape[0] + draw(st.integers(0, 2))}),
            ("Bidirectional", {"layer": {"type": draw(st.sampled_from(["SimpleRNN", "LSTM", "GRU"])),
                                         "params": {"units": draw(small), "return_sequences": draw(st.booleans())}},
                               "merge_mode": draw(st.sampled_from(["concat", "sum", "mul", "ave"]))}),
        ]
    if rank >= 2:
        out.append(("TimeDistributed", {"layer": {"type": "Dense", "params": {"units": draw(small),
                                                                             "activation": draw(st.sampled_from(ACTIVATIONS))}}}))
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
            ("Conv2D", {"filters": groups * draw(small), "groups": groups, "kernel_size": draw(st.sampled_from([1, 3])),
                        "strides": strides, "padding": draw(st.sampled_from(["valid", "same"]))}),
            ("DepthwiseConv2D", {"kernel_size": draw(st.sampled_from([1, 2, 3, [2, 3]])), "strides": strides,
                                 "depth_multiplier": draw(st.integers(1, 2)), "padding": draw(st.sampled_from(["valid", "same"])),
                                 "activation": draw(st.sampled_from(ACTIVATIONS))}),
            ("SeparableConv2D", {"filters": draw(small), "kernel_size": draw(st.sampled_from([1, 3, [3, 2]])), "strides": strides,
                                 "depth_multiplier": draw(st.integers(1, 2)), "padding": draw(st.sampled_from(["valid", "same"]))}),
            ("Cropping2D", {"cropping": draw(st.sampled_from([1, [1, 0], [[0, 1], [1, 0]]]))}),
            ("SpatialDropout2D", {"rate": 0.3}),
        ]
    if rank == 4:
        strides = draw(st.integers(1, 2))
        out += [
            ("Conv3D", {"filters": groups * draw(small), "groups": groups, "kernel_size": draw(st.sampled_from([1, 2, [1, 2, 3]])),
                        "strides": strides, "padding": draw(st.sampled_from(["valid", "same"]))}),
            (draw(st.sampled_from(["MaxPooling3D", "AveragePooling3D"])),
             {"pool_size": draw(st.sampled_from([2, [1, 2, 2]])), "padding": draw(st.sampled_from(["valid", "same"]))}),
            (draw(st.sampled_from(["GlobalMaxPooling3D", "GlobalAveragePooling3D"])), {"keepdims": draw(st.booleans())}),
            ("SpatialDropout3D", {"rate": 0.3}),
        ]
    return generic, out


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
        kind = draw(st.sampled_from(["vector", "sequence", "image", "tokens", "volume"]))
        if kind == "tokens":
            length = draw(st.integers(2, 6))
            tokens = add("Input", {"shape": [length], "dtype": "int64"}, [])
            emb = add("Embedding", {"input_dim": 5, "output_dim": draw(st.integers(1, 4)), "mask_zero": draw(st.booleans())},
                      [tokens])
            tensors.append((emb, TensorSpec((length, nodes[-1]["params"]["output_dim"]))))
            continue
        shape = {"vector": [draw(st.integers(1, 8))],
                 "sequence": [draw(st.integers(2, 6)), draw(st.integers(1, 5))],
                 "image": [draw(st.integers(1, 3)), draw(st.integers(3, 9)), draw(st.integers(3, 9))],
                 "volume": [draw(st.integers(1, 2)), draw(st.integers(2, 4)), draw(st.integers(3, 5)), draw(st.integers(3, 5))]}[kind]
        tensors.append((add("Input", {"shape": shape}, []), TensorSpec(tuple(shape))))

    for _ in range(draw(st.integers(1, 14))):
        src, spec = draw(st.sampled_from(tensors))
        action = draw(st.sampled_from(["layer", "layer", "layer", "merge", "share"]))
        if action == "merge":
            same_shape = [t for t in tensors if t[1].shape == spec.shape and t[0] != src]
            same_rank = [t for t in tensors if len(t[1].shape) == len(spec.shape) and t[0] != src
                         and t[1].shape[1:] == spec.shape[1:]]
            broadcastable = [t for t in tensors if t[0] != src and t[1].shape != spec.shape
                             and broadcast_shapes(t[1].shape, spec.shape) is not None]
            kind = draw(st.sampled_from(["elementwise", "broadcast", "concatenate", "dot", "lambda", "attention"]))
            if kind == "broadcast" and broadcastable:  # e.g. a (C, 1, 1) scale times a (C, H, W) map
                other = draw(st.sampled_from(broadcastable))
                merge = draw(st.sampled_from(["Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum"]))
                nid = add(merge, {}, [src, other[0]] if draw(st.booleans()) else [other[0], src])
                tensors.append((nid, TensorSpec(broadcast_shapes(spec.shape, other[1].shape))))
                continue
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
            elif kind == "attention" and len(spec.shape) == 2:
                sequences = [t for t in tensors if len(t[1].shape) == 2]
                value = draw(st.sampled_from(sequences))  # may be src itself: self-attention
                keys = [t[0] for t in sequences if t[1].shape[0] == value[1].shape[0]]
                key = [draw(st.sampled_from(keys))] if draw(st.booleans()) else []
                params = {"num_heads": draw(st.integers(1, 3)), "key_dim": draw(st.integers(1, 6)),
                          "use_causal_mask": draw(st.booleans())}
                if draw(st.booleans()):
                    params["output_shape"] = draw(st.integers(1, 6))
                nid = add("MultiHeadAttention", params, [src, value[0], *key])
                tensors.append((nid, TensorSpec((spec.shape[0], params.get("output_shape", spec.shape[1])))))
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
        generic, specific = candidate_layers(draw, spec.shape)
        # Half the draws from the rank's own layers, so convolutions and pooling are not drowned out.
        layer_type, params = draw(st.sampled_from(specific if specific and draw(st.booleans()) else generic))
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
    assert all(torch.isfinite(v).all() for v in out["heads"].values())  # fully padded sequences included
    # Masks reach exactly the heads the analysis says, covering the steps it says.
    assert {nid: tuple(m.shape) for nid, m in out["masks"].items()} == {
        nid: (2, analysis.nodes[nid].mask.steps) for nid in analysis.output_ids if analysis.nodes[nid].mask}


# ---- blocks: random sub-DAGs wrapped into blocks (nested, parametric, shared) ---------------------


def wrap_in_block(draw, doc: dict[str, Any], name: str, call_id: str) -> bool:
    """Turn a contiguous run of ``doc``'s nodes into the block ``name`` called by ``call_id``.

    Nodes are generated sources-first, so a contiguous run is convex (no path leaves it and comes
    back): wrapping it cannot make a cycle. Edges entering the run become the block's Input ports,
    values leaving it its Output ports. Some int params become block arguments, some ports declare
    their shape, and the run may already hold a Block call (then the blocks nest)."""
    nodes, edges = doc["nodes"], doc["edges"]
    candidates = [k for k, n in enumerate(nodes) if n["type"] not in ("Input", "Output")]
    if not candidates:
        return False
    first = draw(st.sampled_from(candidates))
    last = draw(st.sampled_from([k for k in candidates if k >= first][:6]))
    inside = {n["id"] for n in nodes[first:last + 1] if n["type"] not in ("Input", "Output")}
    if any((n.get("share") in inside) != (n["id"] in inside) for n in nodes if n.get("share")):
        return False  # a share across the boundary: leave this run alone
    before = analyze(doc)
    in_ports: dict[tuple[str, int], int] = {}
    out_ports: dict[tuple[str, int], int] = {}
    inner_edges, outer_edges = [], []
    for e in edges:
        key = (e["source"], e.get("source_port", 0))
        if e["source"] in inside and e["target"] in inside:
            inner_edges.append(e)
        elif e["target"] in inside:
            inner_edges.append({**e, "source": f"in{in_ports.setdefault(key, len(in_ports))}", "source_port": 0})
        elif e["source"] in inside:
            outer_edges.append({**e, "source": call_id, "source_port": out_ports.setdefault(key, len(out_ports))})
        else:
            outer_edges.append(e)
    outer_edges += [{"source": s, "source_port": sp, "target": call_id, "target_port": p} for (s, sp), p in in_ports.items()]
    inner_edges += [{"source": s, "source_port": sp, "target": f"out{q}"} for (s, sp), q in out_ports.items()]
    ports_in = []
    for (source, source_port), p in in_ports.items():
        port: dict[str, Any] = {"id": f"in{p}", "type": "Input", "params": {}}
        call = before.calls.get(source)  # an earlier call feeds the run: its output port's shape
        spec = before.nodes[call.outputs[source_port] if call else source].output
        if draw(st.booleans()):  # declare the shape, as a typed function signature would
            port["params"] = {"shape": list(spec.shape), "dtype": "float32" if spec.dtype == "float" else "int64"}
        ports_in.append(port)
    args, call_args, body = {}, {}, []
    for n in nodes[first:last + 1]:
        if n["id"] not in inside:
            continue
        n = copy.deepcopy(n)
        for key in ("units", "filters"):
            if isinstance(n["params"].get(key), int) and draw(st.booleans()):
                arg = f"{n['id']}_{key}"
                value = n["params"][key]
                n["params"][key] = {"arg": arg}
                passed = draw(st.booleans())
                args[arg] = {"type": "int", "default": None if passed else value}
                if passed:
                    call_args[arg] = value
        body.append(n)
    doc["blocks"][name] = {"args": args, "nodes": ports_in + body + [
        {"id": f"out{q}", "type": "Output", "params": {}} for q in range(len(out_ports))], "edges": inner_edges}
    call = {"id": call_id, "type": "Block", "params": {"block": name, "args": call_args}}
    rest = [n for n in nodes[first:last + 1] if n["id"] not in inside]  # Inputs: they stay before the call
    doc["nodes"] = nodes[:first] + rest + [call] + nodes[last + 1:]
    doc["edges"] = outer_edges
    # Call the block again on the same inputs: with its own weights, or sharing the first call's.
    for again, share in (("dup", False), ("shared", True)):
        if draw(st.booleans()):
            other = f"{call_id}_{again}"
            node: dict[str, Any] = {"id": other, "type": "Block", "params": {"block": name, "args": call_args}}
            if share:
                node["share"] = call_id
            doc["nodes"].append(node)
            doc["edges"] += [{"source": s, "source_port": sp, "target": other, "target_port": p}
                             for (s, sp), p in in_ports.items()]
            for q in range(len(out_ports)):
                doc["nodes"].append({"id": f"{other}_y{q}", "type": "Output", "params": {"loss": "mse"}})
                doc["edges"].append({"source": other, "source_port": q, "target": f"{other}_y{q}"})
    return True


@st.composite
def random_block_graphs(draw) -> dict[str, Any]:
    doc = draw(random_graphs())
    doc["blocks"] = {}
    for k in range(draw(st.integers(1, 3))):  # a later run may contain an earlier call: nested blocks
        wrap_in_block(draw, doc, f"blk{k}", f"c{k}")
    return doc


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(random_block_graphs())
def test_blocks_infer_the_shapes_and_counts_of_the_built_module(document):
    analysis = analyze(document)
    assert analysis.ok, [i.message for i in analysis.errors]
    model = build_model(analysis, seed=0)
    model.eval()
    real = real_output_shapes(model, analysis, random_inputs(analysis, batch=2))
    for nid, info in analysis.nodes.items():
        assert real[nid] == info.output.shape, f"{nid} ({info.type})"
        if not info.share:
            assert real_weight_counts(model, nid) == (info.trainable, info.non_trainable), f"{nid} ({info.type})"
    for call in analysis.calls.values():
        owned = call_totals(analysis, call)
        if call.share is None and call.id in dict(model.named_modules()):
            assert real_weight_counts(model, call.id) == owned, call.id  # the call's submodule holds its totals
        elif call.share is not None:
            assert owned == (0, 0)
    trainable = sum(p.numel() for p in model.parameters())
    assert (trainable, saved_buffer_count(model)) == (analysis.trainable_params, analysis.non_trainable_params)
    model.train()
    out = model.forward_train(random_inputs(analysis, batch=2))
    assert set(out["heads"]) == set(analysis.output_ids)
