"""The model zoo in examples/: every graph validates cleanly, builds, and runs a forward whose heads have
the shapes the analysis predicts; the shared-weight siamese really holds one encoder; and the
``layerloom check`` command line works on a good file, a broken one, and with ``--json``."""

from __future__ import annotations

import inspect
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from graph_helpers import saved_buffer_count
from layerloom.graph import analyze, build_model

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
EXAMPLE_FILES = sorted(EXAMPLES.glob("*.json"))
BATCH = 3

# The zoo the docs and the template gallery rely on; a file going missing should fail loudly.
EXPECTED_EXAMPLES = {
    "seed_mlp", "ticket_classifier", "toy_resnet", "inception_module", "siamese", "dense_autoencoder",
    "conv_autoencoder", "regression_mlp", "two_head", "lstm_text_classifier", "digits_cnn", "iris_mlp", "masked_lstm",
    # written by examples/generate_zoo.py
    "resnet50", "densenet121", "mobilenet_v2", "efficientnet_b0", "xception", "inception_v3", "se_cnn", "transformer_text_classifier",
}


def load(name: str) -> dict:
    return json.loads((EXAMPLES / f"{name}.json").read_text(encoding="utf-8"))


def random_inputs(analysis, batch: int = BATCH, seed: int = 0) -> dict[str, torch.Tensor]:
    """One random batch per Input: floats in [0, 1), or token ids below the vocabulary size of every
    Embedding the Input feeds."""
    gen = torch.Generator().manual_seed(seed)
    vocab: dict[str, int] = {}
    for info in analysis.nodes.values():
        if info.type == "Embedding":
            src = info.inputs[0]
            vocab[src] = min(vocab.get(src, info.params.input_dim), info.params.input_dim)
    out = {}
    for nid in analysis.input_ids:
        info = analysis.nodes[nid]
        shape = (batch, *info.output.shape)
        dtype = info.params.dtype
        if dtype == "float32":
            out[nid] = torch.rand(shape, generator=gen)
        else:
            assert nid in vocab, f"integer input {nid} feeds no Embedding"
            out[nid] = torch.randint(0, vocab[nid], shape, generator=gen, dtype=getattr(torch, dtype))
    return out


def cli_command() -> list[str]:
    script = Path(sys.executable).with_name("layerloom")
    if script.exists():
        return [str(script)]
    found = shutil.which("layerloom")
    return [found] if found else [sys.executable, "-m", "layerloom.cli"]


def broken_seed(breakage: str) -> dict:
    doc = load("seed_mlp")
    if breakage == "dangling_edge":
        doc["edges"].append({"source": "d2", "target": "nowhere"})
    elif breakage == "unknown_type":
        doc["nodes"][1]["type"] = "Dence"
    elif breakage == "cycle":  # d1 becomes an Add fed by x and by a1, which d1 itself feeds
        doc["nodes"][1] = {"id": "d1", "type": "Add", "params": {}}
        doc["edges"].append({"source": "a1", "target": "d1", "target_port": 1})
    else:
        raise AssertionError(breakage)
    return doc


@pytest.fixture(scope="module", autouse=True)
def cli_runs(request, tmp_path_factory):
    """Starts the command-line runs at the beginning of this module so that the seconds each spends
    importing torch overlap with the in-process tests; ``cli_runs[name]()`` waits for one. Nothing is
    started when no selected test asks for ``cli_runs``."""
    wanted = any(getattr(item, "module", None) is request.module
                 and "cli_runs" in inspect.signature(item.function).parameters for item in request.session.items)
    if not wanted:
        yield {}
        return
    tmp = tmp_path_factory.mktemp("cli")
    broken = tmp / "broken.json"
    broken.write_text(json.dumps(broken_seed("dangling_edge")), encoding="utf-8")
    argv = {
        "text": ["check", "examples/seed_mlp.json"],
        "broken": ["check", str(broken)],
    }
    procs = {name: subprocess.Popen([*cli_command(), *args], cwd=ROOT, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True) for name, args in argv.items()}
    results: dict[str, subprocess.CompletedProcess] = {}

    def wait(name: str) -> subprocess.CompletedProcess:
        if name not in results:
            out, err = procs[name].communicate(timeout=120)
            results[name] = subprocess.CompletedProcess(argv[name], procs[name].returncode, out, err)
        return results[name]

    yield {name: (lambda name=name: wait(name)) for name in argv}
    for proc in procs.values():
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


# ---------------------------------------------------------------------------------------------- zoo


def test_the_zoo_is_complete():
    assert EXPECTED_EXAMPLES <= {p.stem for p in EXAMPLE_FILES}


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=[p.stem for p in EXAMPLE_FILES])
def test_example_validates_without_errors_or_warnings(path):
    analysis = analyze(json.loads(path.read_text(encoding="utf-8")))
    assert analysis.ok, [f"[{i.code}] {i.message}" for i in analysis.errors]
    assert analysis.issues == [], [f"[{i.code}] {i.message}" for i in analysis.issues]
    assert analysis.input_ids and analysis.output_ids


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=[p.stem for p in EXAMPLE_FILES])
def test_example_is_documented_and_laid_out(path):
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert doc["format"] == "layerloom.graph" and doc["version"] == 1
    assert doc["name"] and doc["name"] != "untitled"
    assert doc["description"].strip()
    ids = [n["id"] for n in doc["nodes"]]
    assert set(doc["layout"]) == set(ids), "every node (and only nodes) has a position"
    positions = set()
    for nid in ids:
        pos = doc["layout"][nid]
        assert isinstance(pos["x"], (int, float)) and isinstance(pos["y"], (int, float))
        positions.add((pos["x"], pos["y"]))
    assert len(positions) == len(ids), "no two nodes sit on top of each other"
    # Left to right: every edge goes to a node further right.
    for edge in doc["edges"]:
        assert doc["layout"][edge["source"]]["x"] < doc["layout"][edge["target"]]["x"], edge


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=[p.stem for p in EXAMPLE_FILES])
def test_example_builds_and_runs_with_the_predicted_shapes(path):
    analysis = analyze(json.loads(path.read_text(encoding="utf-8")))
    model = build_model(analysis, seed=0)
    model.eval()
    # The allocated weights are exactly what the analysis counted: parameters, and the saved float
    # buffers (batch-norm statistics; not PyTorch's integer num_batches_tracked, which Keras has not).
    assert sum(p.numel() for p in model.parameters()) == analysis.trainable_params
    assert saved_buffer_count(model) == analysis.non_trainable_params
    inputs = random_inputs(analysis)
    with torch.no_grad():
        out = model(inputs)
    assert set(out) == set(analysis.output_ids)
    for head in analysis.output_ids:
        expected = (BATCH, *analysis.nodes[head].output.shape)
        assert tuple(out[head].shape) == expected, head
        assert out[head].dtype == torch.float32
        assert torch.isfinite(out[head]).all(), head


def test_seed_mlp_has_7114_parameters():
    analysis = analyze(load("seed_mlp"))
    assert analysis.total_params == 7_114
    assert analysis.trainable_params == 7_114 and analysis.non_trainable_params == 0
    model = build_model(analysis, seed=0)
    assert sum(p.numel() for p in model.parameters()) == 7_114


# ------------------------------------------------------------------------------------------ siamese


def test_siamese_encoders_hold_one_set_of_weights():
    analysis = analyze(load("siamese"))
    assert analysis.nodes["right_hidden"].share == "left_hidden"
    assert analysis.nodes["right_embed"].share == "left_embed"
    encoder = (64 * 64 + 64) + (64 * 32 + 32)  # counted once
    head = 1 * 1 + 1
    assert analysis.total_params == encoder + head == 6_242
    assert analysis.nodes["right_hidden"].trainable == analysis.nodes["right_embed"].trainable == 0

    model = build_model(analysis, seed=0)
    model.eval()
    keys = set(model.state_dict())
    assert not any(k.startswith(("right_hidden.", "right_embed.")) for k in keys), keys
    assert keys == {f"{n}.{w}" for n in ("left_hidden", "left_embed", "same_prob") for w in ("weight", "bias")}
    assert sum(p.numel() for p in model.parameters()) == 6_242

    # Capture what the (shared) last encoder layer returns for each branch: it is called twice.
    seen: list[torch.Tensor] = []
    hook = model.left_embed.register_forward_hook(lambda mod, args, result: seen.append(result.detach().clone()))
    try:
        gen = torch.Generator().manual_seed(1)
        left, right = torch.rand(BATCH, 64, generator=gen), torch.rand(BATCH, 64, generator=gen)
        with torch.no_grad():
            model({"left": left, "right": left.clone()})
        assert len(seen) == 2
        torch.testing.assert_close(seen[0], seen[1], rtol=0, atol=0)  # same input, same weights

        seen.clear()
        with torch.no_grad():
            before = model({"left": left, "right": right})["same"]
        left_before, right_before = seen
        seen.clear()
        with torch.no_grad():
            model.left_hidden.weight.add_(0.25)  # change the owner's weights only
            after = model({"left": left, "right": right})["same"]
        left_after, right_after = seen
    finally:
        hook.remove()
    assert not torch.allclose(left_before, left_after)
    assert not torch.allclose(right_before, right_after), "the right branch does not use the owner's weights"
    assert not torch.allclose(before, after)


# ---------------------------------------------------------------------------------------------- CLI


def test_cli_check_prints_the_summary(cli_runs):
    result = cli_runs["text"]()
    assert result.returncode == 0, result.stderr
    assert "7,114" in result.stdout
    assert "d1 (Dense)" in result.stdout
    assert result.stderr == ""


def test_cli_check_reports_a_broken_graph(cli_runs):
    result = cli_runs["broken"]()
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "error [dangling_edge]" in result.stderr
    assert "nowhere" in result.stderr
    assert "Total params" not in result.stdout


def test_cli_check_json_is_parseable(capsys):
    from layerloom.cli import main

    assert main(["check", "--json", str(EXAMPLES / "seed_mlp.json")]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    data = json.loads(captured.out)
    assert data["ok"] is True and data["errors"] == [] and data["warnings"] == []
    assert data["totals"]["total"] == 7_114
    assert data["summary"]["total"] == 7_114
    assert data["nodes"]["d2"]["output_shape"] == [10]


@pytest.mark.parametrize("breakage", ["dangling_edge", "unknown_type", "cycle"])
def test_cli_main_reports_each_error_code(tmp_path, capsys, breakage):
    """The same entry point in-process (no torch start-up per case): text and --json."""
    from layerloom.cli import main

    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(broken_seed(breakage)), encoding="utf-8")
    assert main(["check", str(broken)]) == 1
    captured = capsys.readouterr()
    assert f"error [{breakage}]" in captured.err
    assert "Total params" not in captured.out
    assert main(["check", "--json", str(broken)]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is False
    assert breakage in [e["code"] for e in data["errors"]]
