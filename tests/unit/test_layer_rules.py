"""Rules of the layers real architectures need: the channels-first warning, broadcasting merges
(and their errors), and the errors for parameters that do not fit the input."""

from __future__ import annotations

import torch

from graph_helpers import chain
from layerloom.graph import analyze, build_model


def graph(nodes: list[tuple[str, str, dict]], edges: list[tuple[str, str, int]]) -> dict:
    return {"format": "layerloom.graph", "version": 1, "name": "g",
            "nodes": [{"id": i, "type": t, "params": p} for i, t, p in nodes],
            "edges": [{"source": s, "target": t, "target_port": port} for s, t, port in edges]}


def channel_warnings(*layers, input_shape):
    analysis = analyze(chain(("x", "Input", {"shape": input_shape}), *layers, ("y", "Output", {"loss": "mse"})))
    assert analysis.ok, [i.message for i in analysis.errors]
    return [w for w in analysis.warnings if w.code == "channels"]


def test_dense_on_the_width_of_an_image_warns_and_names_the_fix():
    (warning,) = channel_warnings(("d", "Dense", {"units": 8}), input_shape=[64, 7, 7])
    assert warning.node == "d" and warning.severity == "warning" and warning.field == "inputs"
    assert "(64, 7, 7)" in warning.message and "1x1 Conv2D" in warning.message


def test_layernorm_on_the_width_warns_and_axis_1_does_not():
    (warning,) = channel_warnings(("n", "LayerNormalization", {}), input_shape=[96, 14, 14])
    assert warning.node == "n" and warning.field == "params.axis" and "axis to 1" in warning.message
    assert channel_warnings(("n", "LayerNormalization", {"axis": 1}), input_shape=[96, 14, 14]) == []
    assert channel_warnings(("n", "LayerNormalization", {"axis": [1, 2, 3]}), input_shape=[96, 14, 14]) == []


def test_no_channel_warning_where_the_last_axis_is_features():
    assert channel_warnings(("d", "Dense", {"units": 4}), ("n", "LayerNormalization", {}), input_shape=[10, 16]) == []
    assert channel_warnings(("d", "Dense", {"units": 4}), input_shape=[32]) == []
    # Pooled to (C, 1, 1): no spatial axes left, the last axis is not a width.
    assert channel_warnings(("p", "GlobalAveragePooling2D", {"keepdims": True}), ("d", "Dense", {"units": 4}),
                            input_shape=[8, 5, 5]) == []
    assert channel_warnings(("c", "Conv2D", {"filters": 4, "kernel_size": 1}), input_shape=[8, 5, 5]) == []


def squeeze_excitation(channels=8, size=6) -> dict:
    return graph([
        ("x", "Input", {"shape": [channels, size, size]}),
        ("squeeze", "GlobalAveragePooling2D", {"keepdims": True}),
        ("reduce", "Conv2D", {"filters": 2, "kernel_size": 1, "activation": "relu"}),
        ("expand", "Conv2D", {"filters": channels, "kernel_size": 1, "activation": "sigmoid"}),
        ("scale", "Multiply", {}),
        ("y", "Output", {"loss": "mse"}),
    ], [("x", "squeeze", 0), ("squeeze", "reduce", 0), ("reduce", "expand", 0), ("expand", "scale", 0), ("x", "scale", 1),
        ("scale", "y", 0)])


def test_squeeze_and_excitation_scale_broadcasts_over_the_map():
    analysis = analyze(squeeze_excitation())
    assert analysis.ok, [i.message for i in analysis.errors]
    assert analysis.nodes["expand"].output.shape == (8, 1, 1)
    assert analysis.nodes["scale"].output.shape == (8, 6, 6)
    model = build_model(analysis, seed=0).eval()
    x = torch.randn(2, 8, 6, 6)
    with torch.no_grad():
        out = model({"x": x})["y"]
        gate = torch.sigmoid(model.expand(torch.relu(model.reduce(x.mean(dim=(2, 3), keepdim=True)))))
    torch.testing.assert_close(out, x * gate)


def test_merges_of_different_ranks_align_at_the_end_as_keras():
    analysis = analyze(graph([("a", "Input", {"shape": [4]}), ("b", "Input", {"shape": [3, 4]}), ("m", "Add", {}),
                              ("y", "Output", {"loss": "mse"})], [("a", "m", 0), ("b", "m", 1), ("m", "y", 0)]))
    assert analysis.ok and analysis.nodes["m"].output.shape == (3, 4)
    model = build_model(analysis, seed=0)
    a, b = torch.randn(2, 4), torch.randn(2, 3, 4)
    torch.testing.assert_close(model({"a": a, "b": b})["y"], a[:, None, :] + b)


def test_merge_shapes_that_do_not_broadcast_name_both_inputs():
    analysis = analyze(graph([("left", "Input", {"shape": [3, 4, 5]}), ("right", "Input", {"shape": [2, 4, 5]}),
                              ("m", "Multiply", {}), ("y", "Output", {"loss": "mse"})],
                             [("left", "m", 0), ("right", "m", 1), ("m", "y", 0)]))
    (error,) = analysis.errors
    assert error.node == "m" and error.code == "shape"
    assert "(3, 4, 5) from left" in error.message and "(2, 4, 5) from right" in error.message


def errors_of(*layers, input_shape):
    analysis = analyze(chain(("x", "Input", {"shape": input_shape}), *layers, ("y", "Output", {"loss": "mse"})))
    return [(e.node, e.code, e.field, e.message) for e in analysis.errors]


def test_params_that_do_not_fit_the_input_are_clear_errors():
    [(node, code, field, message)] = errors_of(("c", "Conv2D", {"filters": 4, "groups": 2}), input_shape=[3, 8, 8])
    assert (node, code, field) == ("c", "shape", "params.groups") and "divisible by 2" in message
    [(node, code, field, message)] = errors_of(("c", "Conv2D", {"filters": 3, "groups": 2}), input_shape=[4, 8, 8])
    assert (node, code, field) == ("c", "bad_param", "params") and "multiple of groups" in message
    [(node, code, field, message)] = errors_of(("g", "GroupNormalization", {"groups": 3}), input_shape=[8, 4, 4])
    assert (node, code, field) == ("g", "shape", "params.groups") and "divisible by 3" in message
    [(node, code, field, message)] = errors_of(("d", "Dropout", {"noise_shape": [None, 1]}), input_shape=[4, 5])
    assert (node, code, field) == ("d", "shape", "params.noise_shape") and "3 entries" in message
    [(node, code, field, message)] = errors_of(("c", "Cropping1D", {"cropping": [3, 2]}), input_shape=[2, 5])
    assert (node, code, field) == ("c", "shape", "params.cropping") and "leaving nothing" in message
    [(node, code, field, message)] = errors_of(("p", "PReLU", {"shared_axes": [3]}), input_shape=[2, 5])
    assert (node, code, field) == ("p", "shape", "params.shared_axes") and "axes 1..2" in message
    errors = errors_of(("c", "Conv1D", {"filters": 2, "kernel_size": [2, 3]}), input_shape=[2, 9])
    assert errors and {(node, code, field) for node, code, field, _ in errors} == {("c", "bad_param", "params.kernel_size")}
    [(node, code, field, message)] = errors_of(("s", "Softmax", {"axis": 3}), input_shape=[2, 9])
    assert (node, code, field) == ("s", "shape", "params.axis") and "out of range" in message
    [(node, code, _, _)] = errors_of(("r", "ReLU", {"threshold": -1}), input_shape=[4])
    assert (node, code) == ("r", "bad_param")


def test_rescaling_turns_integer_pixels_into_floats():
    analysis = analyze(chain(("x", "Input", {"shape": [3, 2, 2], "dtype": "int64"}), ("r", "Rescaling", {"scale": 0.5, "offset": 1.0}),
                             ("c", "Conv2D", {"filters": 1, "kernel_size": 1}), ("y", "Output", {"loss": "mse"})))
    assert analysis.ok, [i.message for i in analysis.errors]
    model = build_model(analysis, seed=0)
    pixels = torch.tensor([[[[0, 2], [4, 6]]] * 3])
    with torch.no_grad():
        torch.testing.assert_close(model({"x": pixels})["y"], model.c(pixels.float() * 0.5 + 1.0))


def test_noise_layers_are_identities_at_inference_only():
    analysis = analyze(chain(("x", "Input", {"shape": [4, 6]}), ("n", "GaussianNoise", {"stddev": 1.0}),
                             ("d", "GaussianDropout", {"rate": 0.5}), ("s", "SpatialDropout1D", {"rate": 0.5}),
                             ("o", "Dropout", {"rate": 0.5, "noise_shape": [None, 1, None]}), ("y", "Output", {"loss": "mse"})))
    model = build_model(analysis, seed=0)
    x = torch.randn(3, 4, 6)
    model.eval()
    torch.testing.assert_close(model({"x": x})["y"], x)
    model.train()
    assert not torch.allclose(model({"x": x})["y"], x)
