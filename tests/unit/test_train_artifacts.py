"""Run artifacts: two weights formats with metadata, history and manifest, and strict loading."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import safetensors
import safetensors.torch
import torch

from layerloom.graph import compile_graph
from layerloom.train import ArtifactError, graph_sha256, load_trained, read_manifest
from layerloom.train.artifacts import write_artifacts

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture
def graph():
    return json.loads((EXAMPLES / "seed_mlp.json").read_text())


@pytest.fixture
def run_dir(tmp_path, graph):
    model = compile_graph(graph, seed=3)
    write_artifacts(tmp_path, model, graph=graph, history=[{"epoch": 1, "loss": 0.5}], manifest={"metrics": {"loss": 0.5}})
    return tmp_path


def test_graph_hash_ignores_key_order_but_not_content(graph):
    reordered = dict(reversed(list(graph.items())))
    assert graph_sha256(reordered) == graph_sha256(graph)
    assert graph_sha256({**graph, "name": "other"}) != graph_sha256(graph)


def test_artifacts_are_written_with_metadata_and_versions(run_dir, graph):
    names = sorted(p.name for p in run_dir.iterdir())
    assert names == ["history.json", "manifest.json", "weights.pt", "weights.safetensors"]
    with safetensors.safe_open(str(run_dir / "weights.safetensors"), framework="pt") as fh:
        metadata = fh.metadata()
    assert metadata == {"format": "layerloom.weights", "graph_name": "seed-mlp", "graph_sha256": graph_sha256(graph)}
    manifest = read_manifest(run_dir)
    assert manifest["graph"] == graph and manifest["metrics"] == {"loss": 0.5}
    assert set(manifest["versions"]) == {"layerloom", "torch", "python"}
    assert json.loads((run_dir / "history.json").read_text()) == [{"epoch": 1, "loss": 0.5}]


def test_both_weight_files_hold_the_same_state(run_dir, graph):
    expected = compile_graph(graph, seed=3).state_dict()
    from_pt = torch.load(run_dir / "weights.pt", weights_only=True)
    from_st = safetensors.torch.load_file(str(run_dir / "weights.safetensors"))
    assert sorted(from_pt) == sorted(from_st) == sorted(expected) == ["d1.bias", "d1.weight", "d2.bias", "d2.weight"]
    for key, value in expected.items():
        assert torch.equal(from_pt[key], value) and torch.equal(from_st[key], value)


def test_load_trained_builds_the_graph_and_loads_strictly(run_dir, graph):
    model = load_trained(run_dir)
    assert not model.training
    x = torch.randn(4, 100)
    assert torch.equal(model({"x": x})["y"], compile_graph(graph, seed=3).eval()({"x": x})["y"])


def test_weights_that_do_not_fit_are_listed_sorted(run_dir):
    state = safetensors.torch.load_file(str(run_dir / "weights.safetensors"))
    del state["d2.weight"], state["d1.bias"]
    state["extra.weight"] = torch.zeros(1)
    with safetensors.safe_open(str(run_dir / "weights.safetensors"), framework="pt") as fh:
        metadata = fh.metadata()
    safetensors.torch.save_file(state, str(run_dir / "weights.safetensors"), metadata=metadata)
    with pytest.raises(ArtifactError, match=r"missing: d1.bias, d2.weight; unexpected: extra.weight"):
        load_trained(run_dir)


def test_weights_of_another_graph_are_refused(run_dir):
    state = safetensors.torch.load_file(str(run_dir / "weights.safetensors"))
    safetensors.torch.save_file(state, str(run_dir / "weights.safetensors"), metadata={"graph_sha256": "0" * 64})
    with pytest.raises(ArtifactError, match="different graph"):
        load_trained(run_dir)


def test_a_directory_without_a_manifest_is_explained(tmp_path):
    with pytest.raises(ArtifactError, match="finished run"):
        load_trained(tmp_path)
