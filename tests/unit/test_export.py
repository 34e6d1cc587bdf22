"""Exports of a finished run (backend/layerloom/export/):

- ONNX: onnxruntime gives the trained model's outputs within 1e-5 at batch sizes 1 and 7 (and at a
  second sequence length for the LSTM), one self-contained file, inputs and outputs named after the
  graph's ids; a SimpleRNN, whose length the exporter freezes, is refused with that reason.
- pytorch: model.py + weights.safetensors give the same outputs in a Python that cannot import
  layerloom, and model.py reads like hand-written code.
- pt2: torch.export.load gives the same outputs.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import safetensors.torch
import torch

from layerloom.cli import main
from layerloom.data import load_builtin
from layerloom.export import ExportError, export_run
from layerloom.export.onnx_export import sample_inputs
from layerloom.graph import analyze, compile_graph
from layerloom.train import load_trained, train
from layerloom.train.artifacts import write_artifacts

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def example(name: str) -> dict:
    if name == "lambda_normalization":
        return lambda_and_normalization()
    if name == "shared_block":
        return shared_block()
    if name == "augmented_cnn":
        return augmented_cnn()
    return json.loads((EXAMPLES / f"{name}.json").read_text())


def lambda_and_normalization() -> dict:
    """Given and adapted Normalization, and a Lambda expression, before a Dense head."""
    return {"format": "layerloom.graph", "version": 1, "name": "lambda-normalization", "nodes": [
        {"id": "x", "type": "Input", "params": {"shape": [6]}},
        {"id": "given", "type": "Normalization", "params": {"mean": [0.5], "variance": [4.0]}},
        {"id": "adapted", "type": "Normalization", "params": {"adapt": True}},
        {"id": "gate", "type": "Lambda", "params": {"expression": "x * sigmoid(x) + clip(x, -1, 1) ** 2 - mean(x, axis=-1, keepdims=True)"}},
        {"id": "d", "type": "Dense", "params": {"units": 3}},
        {"id": "y", "type": "Output", "params": {"loss": "mse"}}],
        "edges": [{"source": "x", "target": "given"}, {"source": "given", "target": "adapted"},
                  {"source": "adapted", "target": "gate"}, {"source": "gate", "target": "d"}, {"source": "d", "target": "y"}]}


def augmented_cnn() -> dict:
    """Every augmentation layer before a small conv net: exports must hold none of their randomness
    (and RandomCrop's inference center crop must be written out)."""
    nodes = [{"id": "x", "type": "Input", "params": {"shape": [3, 12, 12]}},
             {"id": "flip", "type": "RandomFlip"},
             {"id": "rotate", "type": "RandomRotation", "params": {"factor": 0.2}},
             {"id": "zoom", "type": "RandomZoom", "params": {"height_factor": 0.2}},
             {"id": "shift", "type": "RandomTranslation", "params": {"height_factor": 0.1, "width_factor": 0.1}},
             {"id": "contrast", "type": "RandomContrast", "params": {"factor": 0.3, "value_range": [-5, 5]}},
             {"id": "bright", "type": "RandomBrightness", "params": {"factor": 0.1, "value_range": [-5, 5]}},
             {"id": "crop", "type": "RandomCrop", "params": {"height": 8, "width": 10}},
             {"id": "conv", "type": "Conv2D", "params": {"filters": 4, "kernel_size": 3, "activation": "relu"}},
             {"id": "flat", "type": "Flatten"},
             {"id": "d", "type": "Dense", "params": {"units": 3, "activation": "softmax"}},
             {"id": "y", "type": "Output", "params": {"loss": "sparse_categorical_crossentropy"}}]
    order = [n["id"] for n in nodes]
    return {"format": "layerloom.graph", "version": 1, "name": "augmented-cnn", "nodes": nodes,
            "edges": [{"source": a, "target": b} for a, b in zip(order, order[1:])]}


def shared_block() -> dict:
    """A block called twice with one set of weights (``share``), between plain layers."""
    conv_bn = {"args": {"filters": {"type": "int"}}, "nodes": [
        {"id": "x", "type": "Input"},
        {"id": "conv1", "type": "Conv2D", "params": {"filters": {"arg": "filters"}, "kernel_size": 3, "padding": "same"}},
        {"id": "bn", "type": "BatchNormalization"},
        {"id": "relu", "type": "Activation", "params": {"activation": "relu"}},
        {"id": "y", "type": "Output"}],
        "edges": [{"source": "x", "target": "conv1"}, {"source": "conv1", "target": "bn"},
                  {"source": "bn", "target": "relu"}, {"source": "relu", "target": "y"}]}
    return {"format": "layerloom.graph", "version": 1, "name": "shared-block", "blocks": {"conv_bn": conv_bn}, "nodes": [
        {"id": "x", "type": "Input", "params": {"shape": [3, 8, 8]}},
        {"id": "stem", "type": "Conv2D", "params": {"filters": 8, "kernel_size": 1}},
        {"id": "b1", "type": "Block", "params": {"block": "conv_bn", "args": {"filters": 8}}},
        {"id": "b2", "type": "Block", "params": {"block": "conv_bn", "args": {"filters": 8}}, "share": "b1"},
        {"id": "gap", "type": "GlobalAveragePooling2D", "params": {}},
        {"id": "d", "type": "Dense", "params": {"units": 3, "activation": "softmax"}},
        {"id": "y", "type": "Output", "params": {"loss": "categorical_crossentropy"}}],
        "edges": [{"source": "x", "target": "stem"}, {"source": "stem", "target": "b1"}, {"source": "b1", "target": "b2"},
                  {"source": "b2", "target": "gap"}, {"source": "gap", "target": "d"}, {"source": "d", "target": "y"}]}


def simple_rnn_classifier() -> dict:
    graph = example("lstm_text_classifier")
    graph["name"] = "rnn-text-classifier"
    for node in graph["nodes"]:
        if node["type"] == "LSTM":
            node["type"] = "SimpleRNN"
    return graph


@pytest.fixture(scope="module")
def run_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The seed MLP trained for real (2 epochs); the other graphs with their seeded initial weights
    written as a run (what is exported is whatever the run holds)."""
    runs = {}
    out = tmp_path_factory.mktemp("runs")
    train(example("seed_mlp"), load_builtin("random_classification"), {"epochs": 2, "batch_size": 64},
          out_dir=out / "seed_mlp")
    runs["seed_mlp"] = out / "seed_mlp"
    graphs = {name: example(name) for name in ("two_head", "toy_resnet", "lstm_text_classifier", "siamese",
                                                "inception_module", "conv_autoencoder", "ticket_classifier")}
    graphs["simple_rnn"] = simple_rnn_classifier()
    graphs["lambda_normalization"] = lambda_and_normalization()
    graphs["shared_block"] = shared_block()
    graphs["augmented_cnn"] = augmented_cnn()
    for name, graph in graphs.items():
        model = compile_graph(graph, seed=7)
        if name == "shared_block":  # trained batch-norm statistics, so eval mode differs from a fresh layer
            with torch.no_grad():
                model.b1.bn.running_mean.copy_(torch.linspace(-0.5, 0.5, 8))
                model.b1.bn.running_var.copy_(torch.linspace(0.5, 2.0, 8))
        if name == "lambda_normalization":  # as if adapted to data: statistics that change the outputs
            with torch.no_grad():
                model.adapted.mean.copy_(torch.linspace(-1, 1, 6))
                model.adapted.variance.copy_(torch.linspace(0.5, 3, 6))
                model.adapted.count.fill_(100)
        write_artifacts(out / name, model, graph=graph, history=[], manifest={})
        runs[name] = out / name
    return runs


def reference_outputs(run_dir: Path, inputs: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
    with torch.no_grad():
        return {k: v.numpy() for k, v in load_trained(run_dir)(inputs).items()}


@pytest.mark.slow
@pytest.mark.parametrize("name", ["seed_mlp", "two_head", "toy_resnet", "lstm_text_classifier", "augmented_cnn"])
def test_onnx_matches_the_trained_model(run_dirs: dict[str, Path], name: str) -> None:
    import onnx
    import onnxruntime

    path = export_run(run_dirs[name], "onnx")
    analysis = analyze(example(name))
    proto = onnx.load(str(path))
    assert all(t.data_location == onnx.TensorProto.DEFAULT for t in proto.graph.initializer)  # self-contained
    assert not list(path.parent.glob("*.data"))
    assert not [n.op_type for n in proto.graph.node if n.op_type.startswith("Random")]  # no augmentation left
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == analysis.input_ids
    assert [o.name for o in session.get_outputs()] == analysis.output_ids
    assert all(isinstance(i.shape[0], str) for i in session.get_inputs())  # dynamic batch
    cases = [(1, {}), (7, {})]
    if name == "lstm_text_classifier":
        assert isinstance(session.get_inputs()[0].shape[1], str)  # dynamic sequence length
        cases.append((7, {"tokens": 9}))
    for batch, longer in cases:
        inputs = sample_inputs(analysis, batch, longer, seed=100 + batch)
        expected = reference_outputs(run_dirs[name], inputs)
        got = session.run(None, {k: v.numpy() for k, v in inputs.items()})
        for head, value in zip(analysis.output_ids, got):
            assert value.shape == expected[head].shape
            np.testing.assert_allclose(value, expected[head], atol=1e-5, rtol=0)


@pytest.mark.slow
def test_onnx_refuses_a_simple_rnn_whose_length_the_exporter_freezes(run_dirs: dict[str, Path]) -> None:
    with pytest.raises(ExportError, match="sequence length of 'tokens'"):
        export_run(run_dirs["simple_rnn"], "onnx")
    assert not (run_dirs["simple_rnn"] / "exports" / "model.onnx").exists()  # nothing served later either


# A Python that has torch and safetensors but not layerloom: -I ignores PYTHONPATH and the user's
# site, -S skips site-packages' .pth files (the editable install of layerloom is one); the script
# then adds only the directories of torch and safetensors. One process runs every export (each
# model.py imported from its own folder), as starting Python with torch costs seconds.
RUN_EXPORTED = """
import importlib.util, os, sys
sys.path[:0] = {paths!r}
try:
    import layerloom
    raise SystemExit("layerloom is importable; the test would prove nothing")
except ImportError:
    pass
import safetensors.torch, torch
for folder, class_name in {exports!r}:
    os.chdir(folder)
    spec = importlib.util.spec_from_file_location("model_" + class_name, os.path.join(folder, "model.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    net = getattr(module, class_name)()
    net.load_state_dict(safetensors.torch.load_file("weights.safetensors"))
    net.eval()
    with torch.no_grad():
        outputs = net(safetensors.torch.load_file("inputs.safetensors"))
    safetensors.torch.save_file({{k: v.contiguous() for k, v in outputs.items()}}, "outputs.safetensors")
"""
# A shared layer (siamese), a block called twice with shared weights, a Lambda and Normalization, the torch_ops helpers (SamePool, KerasLSTM,
# CroppedConvTranspose2d), several inputs and heads.
PYTORCH_EXPORTS = ["seed_mlp", "siamese", "inception_module", "lstm_text_classifier", "conv_autoencoder",
                   "ticket_classifier", "lambda_normalization", "shared_block", "augmented_cnn"]


@pytest.fixture(scope="module")
def pytorch_exports(run_dirs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each model's zip unpacked in its own folder with random inputs, run by a layerloom-free Python."""
    folders, exports = {}, []
    for name in PYTORCH_EXPORTS:
        folder = tmp_path_factory.mktemp(f"pytorch-{name}")
        with zipfile.ZipFile(export_run(run_dirs[name], "pytorch")) as zf:
            assert sorted(zf.namelist()) == ["README.md", "graph.json", "model.py", "weights.safetensors"]
            zf.extractall(folder)
        inputs = sample_inputs(analyze(example(name)), 5, seed=3)
        safetensors.torch.save_file(inputs, str(folder / "inputs.safetensors"))
        folders[name] = folder
        exports.append((str(folder), type(load_trained(run_dirs[name])).__name__))
    paths = sorted({str(Path(m.__file__).resolve().parents[1]) for m in (torch, safetensors)})
    result = subprocess.run([sys.executable, "-I", "-S", "-c", RUN_EXPORTED.format(paths=paths, exports=exports)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return folders


@pytest.mark.parametrize("name", PYTORCH_EXPORTS)
def test_pytorch_export_runs_without_layerloom(run_dirs: dict[str, Path], pytorch_exports: dict[str, Path],
                                               name: str) -> None:
    folder = pytorch_exports[name]
    assert json.loads((folder / "graph.json").read_text()) == example(name)
    inputs = safetensors.torch.load_file(str(folder / "inputs.safetensors"))
    got = safetensors.torch.load_file(str(folder / "outputs.safetensors"))
    expected = reference_outputs(run_dirs[name], inputs)
    assert set(got) == set(expected)
    for head in expected:
        np.testing.assert_allclose(got[head].numpy(), expected[head], atol=1e-6, rtol=0)
    class_name = type(load_trained(run_dirs[name])).__name__
    readme = (folder / "README.md").read_text()
    assert f"from model import {class_name}" in readme and "load_state_dict" in readme


def test_model_py_reads_like_hand_written_code(run_dirs: dict[str, Path], tmp_path: Path) -> None:
    with zipfile.ZipFile(export_run(run_dirs["siamese"], "pytorch")) as zf:
        source = zf.read("model.py").decode()
    tree = ast.parse(source)
    assert "layerloom" not in source.replace("written by Layerloom", "").lower()
    assert "= None" not in source and "torch.fx" not in source and "getitem" not in source
    classes = [n.name for n in tree.body if isinstance(n, ast.ClassDef)]
    assert classes == ["Siamese"]
    functions = [n.name for n in tree.body if isinstance(n, ast.FunctionDef)]
    assert functions == ["batch_dot"]  # the one helper it calls, inlined
    assert "self.left_hidden = nn.Linear(64, 64)" in source
    # The shared encoder is one module called twice, as one would write it.
    assert source.count("self.left_hidden(") == 2 and source.count("self.left_hidden =") == 1
    assert "similarity = batch_dot(left_embed, right_embed, axes=(1, 1), normalize=True)" in source
    assert max(len(line) for line in source.splitlines()) <= 120


def test_a_block_call_reads_as_a_module_dict(run_dirs: dict[str, Path]) -> None:
    with zipfile.ZipFile(export_run(run_dirs["shared_block"], "pytorch")) as zf:
        source = zf.read("model.py").decode()
    assert 'self.b1 = nn.ModuleDict({\n            "conv1": nn.Conv2d(8, 8, 3, padding=1),' in source
    assert "nn.BatchNorm2d(8, eps=0.001, momentum=0.01)" in source  # floats as a person writes them
    assert "b2_conv1 = self.b1.conv1(b1_relu)" in source and "self.b2" not in source  # shared: one module


@pytest.mark.parametrize("name", ["seed_mlp", "two_head"])
def test_pt2_loads_with_torch_export_and_matches(run_dirs: dict[str, Path], name: str) -> None:
    program = torch.export.load(str(export_run(run_dirs[name], "pt2")))
    analysis = analyze(example(name))
    for batch in (1, 7):
        inputs = sample_inputs(analysis, batch, seed=batch)
        with torch.no_grad():
            got = program.module()(inputs)
        expected = reference_outputs(run_dirs[name], inputs)
        for head in expected:
            np.testing.assert_allclose(got[head].numpy(), expected[head], atol=1e-5, rtol=0)


def test_cli_export_writes_the_file(run_dirs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "mlp.zip"
    assert main(["export", str(run_dirs["seed_mlp"]), "--format", "pytorch", "-o", str(out)]) == 0
    assert zipfile.is_zipfile(out) and "Wrote" in capsys.readouterr().out
    assert main(["export", str(tmp_path), "--format", "pt2", "-o", str(tmp_path / "x.pt2")]) == 1
    assert "manifest.json" in capsys.readouterr().err
