"""Augmentation layers against Keras 3 (torch backend, test-only): parameter counts 0 and the
same output shapes; the same geometry where a draw is forced (a range of one value); identity in
eval mode and absent from the inference graph; a flip and a crop visible in a training batch;
draws that replay from (seed, node id, epoch, step) and never touch the global generator."""

from __future__ import annotations

import os

os.environ["KERAS_BACKEND"] = "torch"  # before keras is imported anywhere

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from layerloom.graph import analyze, build_model  # noqa: E402
from layerloom.graph.augment_ops import RandomAugmentation, affine_transform, position_augmentations  # noqa: E402
from layerloom.graph.catalog import get_layer  # noqa: E402
from layerloom.graph.torch_ops import keras_center_crop  # noqa: E402

L = keras.layers
SHAPE = (3, 10, 12)  # channels, height, width


def graph(nodes: list[dict], shape=SHAPE) -> dict:
    nodes = [{"id": "x", "type": "Input", "params": {"shape": list(shape)}}, *nodes,
             {"id": "flat", "type": "Flatten"}, {"id": "d", "type": "Dense", "params": {"units": 2}},
             {"id": "y", "type": "Output", "params": {"loss": "mse"}}]
    order = [n["id"] for n in nodes]
    return {"format": "layerloom.graph", "version": 1, "name": "aug", "nodes": nodes,
            "edges": [{"source": a, "target": b} for a, b in zip(order, order[1:])]}


def module_for(type_: str, params: dict, shape=SHAPE, seed: int = 0) -> RandomAugmentation:
    model = build_model(analyze(graph([{"id": "aug", "type": type_, "params": params}], shape)), seed=seed)
    return model.aug


CASES = [
    ("RandomFlip", {}, lambda: L.RandomFlip()),
    ("RandomFlip", {"mode": "vertical"}, lambda: L.RandomFlip("vertical")),
    ("RandomRotation", {"factor": 0.2}, lambda: L.RandomRotation(0.2)),
    ("RandomZoom", {"height_factor": 0.2, "width_factor": [-0.1, 0.3]}, lambda: L.RandomZoom(0.2, (-0.1, 0.3))),
    ("RandomTranslation", {"height_factor": 0.1, "width_factor": 0.2}, lambda: L.RandomTranslation(0.1, 0.2)),
    ("RandomCrop", {"height": 6, "width": 7}, lambda: L.RandomCrop(6, 7)),
    ("RandomContrast", {"factor": 0.3}, lambda: L.RandomContrast(0.3)),
    ("RandomBrightness", {"factor": [-0.2, 0.4]}, lambda: L.RandomBrightness((-0.2, 0.4))),
]


@pytest.mark.parametrize("type_, params, make_keras", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_zero_parameters_and_keras_shapes(type_, params, make_keras):
    analysis = analyze(graph([{"id": "aug", "type": type_, "params": params}]))
    assert analysis.ok, analysis.errors
    layer = make_keras()
    keras_in = (None, *SHAPE[1:], SHAPE[0])
    layer.build(keras_in)
    keras_out = layer.compute_output_shape(keras_in)[1:]
    assert analysis.nodes["aug"].output.shape == (keras_out[-1], *keras_out[:-1])
    info = analysis.nodes["aug"]
    assert sum(w.size for w in info.layer.weights(info.params, info.input_specs)) == 0 == layer.count_params()
    model = build_model(analysis, seed=1)
    assert not list(model.aug.parameters()) and not list(model.aug.buffers())
    assert len(model.augmentations) == 1


@pytest.mark.parametrize("type_, params, make_keras", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_identity_in_eval_mode_and_absent_from_the_inference_graph(type_, params, make_keras):
    model = build_model(analyze(graph([{"id": "aug", "type": type_, "params": params}])), seed=2)
    x = torch.rand(5, *SHAPE) * 255
    model.eval()
    expected = keras_center_crop(x, params["height"], params["width"]) if type_ == "RandomCrop" else x
    assert torch.equal(model.aug(x), expected)
    assert "self.aug(" not in model.code  # prediction and every export: no random module at all
    model.train()
    assert not torch.equal(model.aug(x), x) or type_ == "RandomCrop"  # it does act in training


def test_keras_random_crop_inference_window():
    # Keras's inference rule: the largest centred window of the target aspect ratio, then a resize.
    x = torch.arange(2 * 1 * 10 * 12, dtype=torch.float32).reshape(2, 1, 10, 12)
    assert torch.equal(keras_center_crop(x, 5, 6), torch.nn.functional.interpolate(x, size=(5, 6), mode="bilinear"))
    assert torch.equal(keras_center_crop(x, 10, 10), x[..., :, 1:11])
    assert torch.equal(keras_center_crop(x, 4, 12)[..., :, :], torch.nn.functional.interpolate(
        x[..., 3:7, :], size=(4, 12), mode="bilinear"))


def keras_training_output(layer, x: torch.Tensor) -> torch.Tensor:
    out = layer(keras.ops.convert_to_tensor(x.permute(0, 2, 3, 1).numpy()), training=True)
    return torch.as_tensor(np.asarray(keras.ops.convert_to_numpy(out))).permute(0, 3, 1, 2)


FORCED = [  # a range of a single value: Keras's draw is known, so the geometry must match exactly
    ("RandomRotation", {"factor": [0.1, 0.1], "fill_mode": fill}, lambda fill=fill: L.RandomRotation((0.1, 0.1), fill_mode=fill))
    for fill in ("reflect", "wrap", "nearest", "constant")
] + [
    ("RandomRotation", {"factor": [-0.3, -0.3], "interpolation": "nearest", "fill_mode": "constant", "fill_value": 7.0},
     lambda: L.RandomRotation((-0.3, -0.3), interpolation="nearest", fill_mode="constant", fill_value=7.0)),
    ("RandomZoom", {"height_factor": [0.3, 0.3], "width_factor": [-0.2, -0.2]},
     lambda: L.RandomZoom((0.3, 0.3), (-0.2, -0.2))),
    ("RandomZoom", {"height_factor": [-0.4, -0.4], "fill_mode": "wrap"}, lambda: L.RandomZoom((-0.4, -0.4), fill_mode="wrap")),
    ("RandomTranslation", {"height_factor": [0.25, 0.25], "width_factor": [-0.15, -0.15], "fill_mode": "reflect"},
     lambda: L.RandomTranslation((0.25, 0.25), (-0.15, -0.15))),
    ("RandomTranslation", {"height_factor": [-0.5, -0.5], "width_factor": [0.3, 0.3], "fill_mode": "constant"},
     lambda: L.RandomTranslation((-0.5, -0.5), (0.3, 0.3), fill_mode="constant")),
    ("RandomBrightness", {"factor": [0.1, 0.1]}, lambda: L.RandomBrightness((0.1, 0.1))),
]


@pytest.mark.parametrize("type_, params, make_keras", FORCED, ids=[f"{c[0]}-{i}" for i, c in enumerate(FORCED)])
def test_forced_draws_match_keras(type_, params, make_keras):
    x = torch.rand(3, *SHAPE, generator=torch.Generator().manual_seed(4)) * 200
    ours = module_for(type_, params).train()(x)
    theirs = keras_training_output(make_keras(), x)
    torch.testing.assert_close(ours, theirs, atol=2e-3, rtol=1e-4)


def test_contrast_is_a_per_image_factor_about_each_channel_mean():
    x = torch.rand(16, *SHAPE, generator=torch.Generator().manual_seed(5))
    out = module_for("RandomContrast", {"factor": 0.5, "value_range": [-10, 10]}).train()(x)
    mean = x.mean(dim=(-2, -1), keepdim=True)
    factor = ((out - mean) / (x - mean)).flatten(1)
    # One factor per image, in Keras's range for factor 0.5: [1 - 0, 1 + 0.5].
    assert torch.allclose(factor, factor[:, :1].expand_as(factor), atol=1e-3)
    assert ((factor[:, 0] >= 1 - 1e-4) & (factor[:, 0] <= 1.5 + 1e-4)).all() and factor[:, 0].std() > 0.05


def test_a_flip_is_visible_in_a_training_batch():
    x = torch.rand(64, *SHAPE)
    out = module_for("RandomFlip", {"mode": "horizontal"}).train()(x)
    flipped = torch.tensor([torch.equal(o, i.flip(-1)) for o, i in zip(out, x)])
    kept = torch.tensor([torch.equal(o, i) for o, i in zip(out, x)])
    assert (flipped | kept).all() and 10 < int(flipped.sum()) < 54


def test_a_crop_is_a_window_of_the_training_batch():
    x = torch.arange(4 * 3 * 10 * 12, dtype=torch.float32).reshape(4, *SHAPE)
    crop = module_for("RandomCrop", {"height": 6, "width": 7}).train()
    windows = set()
    for _ in range(8):
        out = crop(x)
        assert out.shape == (4, 3, 6, 7)
        top, left = divmod(int(out[0, 0, 0, 0]), 12)
        assert torch.equal(out, x[..., top:top + 6, left:left + 7])  # one location for the whole batch
        windows.add((top, left))
    assert len(windows) > 1


def test_draws_replay_from_seed_node_epoch_and_step_only():
    x = torch.rand(8, *SHAPE)

    def draws(seed, epoch, step, node_params={"factor": 0.3}):
        aug = module_for("RandomRotation", node_params, seed=seed).train()
        position_augmentations([aug], epoch, step)
        return aug(x), aug(x)

    torch.manual_seed(0)
    before = torch.get_rng_state()
    a1, a2 = draws(1, 2, 10)
    assert torch.equal(torch.get_rng_state(), before)  # Dropout's generator is untouched
    b1, b2 = draws(1, 2, 10)
    assert torch.equal(a1, b1) and torch.equal(a2, b2) and not torch.equal(a1, a2)
    c1, _ = draws(1, 2, 11)
    assert torch.equal(c1, a2)  # the step counts per training call
    assert not torch.equal(draws(2, 2, 10)[0], a1) and not torch.equal(draws(1, 3, 10)[0], a1)


def test_affine_identity_matrix_returns_the_image():
    x = torch.rand(2, *SHAPE)
    identity = torch.tensor([[1.0, 0, 0, 0, 1, 0]] * 2)
    for fill in ("reflect", "wrap", "nearest", "constant"):
        assert torch.equal(affine_transform(x, identity, "bilinear", fill, 0.0), x)


@pytest.mark.parametrize("type_, params, field", [
    ("RandomRotation", {"factor": 1.5}, "params.factor"),
    ("RandomZoom", {"height_factor": [0.3, 0.1]}, "params.height_factor"),
    ("RandomTranslation", {"height_factor": 0.1, "width_factor": -1.2}, "params.width_factor"),
    ("RandomContrast", {"factor": 1.5}, "params.factor"),
])
def test_factors_keras_refuses_are_errors_on_the_field(type_, params, field):
    analysis = analyze(graph([{"id": "aug", "type": type_, "params": params}]))
    assert not analysis.ok
    issue = next(i for i in analysis.errors if i.node == "aug")
    assert issue.field == field and type_ in issue.message


def test_images_only_and_ordered_value_ranges():
    flat = analyze(graph([{"id": "aug", "type": "RandomFlip"}], shape=(12,)))
    assert not flat.ok and "(channels, height, width)" in flat.errors[0].message
    bad = analyze(graph([{"id": "aug", "type": "RandomBrightness", "params": {"factor": 0.1, "value_range": [1, 0]}}]))
    assert not bad.ok and "value_range" in bad.errors[0].message
    assert get_layer("RandomCrop").category == "Augmentation"


def test_a_keras_model_with_augmentation_imports_with_the_same_parameters(tmp_path):
    from layerloom.keras_import import import_keras

    inputs = keras.Input((10, 12, 3))
    x = L.RandomFlip("horizontal")(inputs)
    x = L.RandomRotation(0.1, fill_mode="constant", fill_value=2.0)(x)
    x = L.RandomZoom(0.2, width_factor=(-0.1, 0.3))(x)
    x = L.RandomTranslation(0.1, 0.2, interpolation="nearest")(x)
    x = L.RandomContrast(0.3, value_range=(0, 1))(x)
    x = L.RandomBrightness(0.2, value_range=(0, 1))(x)
    x = L.RandomCrop(6, 8)(x)
    outputs = L.Dense(2)(L.Flatten()(x))
    model = keras.Model(inputs, outputs)
    model.compile(loss="mse")
    model.save(tmp_path / "aug.keras")
    result = import_keras((tmp_path / "aug.keras").read_bytes())
    nodes = {n["type"]: n.get("params", {}) for n in result.graph["nodes"]}
    assert nodes["RandomFlip"] == {"mode": "horizontal"}
    assert nodes["RandomRotation"]["factor"] == [-0.1, 0.1] and nodes["RandomRotation"]["fill_value"] == 2.0
    assert nodes["RandomZoom"]["width_factor"] == [-0.1, 0.3]
    assert nodes["RandomContrast"] == {"factor": [0.0, 0.3], "value_range": [0.0, 1.0]}
    assert nodes["RandomCrop"] == {"height": 6, "width": 8}
    analysis = analyze(result.graph)
    assert analysis.ok, analysis.errors
    assert analysis.nodes[next(n["id"] for n in result.graph["nodes"] if n["type"] == "RandomCrop")].output.shape == (3, 6, 8)
    assert sum(p.numel() for p in build_model(analysis).parameters()) == model.count_params() == 6 * 8 * 3 * 2 + 2
