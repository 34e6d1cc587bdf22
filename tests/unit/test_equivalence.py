"""Built models compute exactly what a hand-written PyTorch module computes.

For three examples (the seed MLP, the toy ResNet, the two-head convnet) a plain ``nn.Module`` is
written out by hand with PyTorch's own layers; the built model's weights are copied into it by
mapping state_dict keys (node ids) to the hand-written module's attribute names, and both run in eval
mode on the same input. The generated forward is also checked to be readable: one line per layer
call, named after the node ids."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from layerloom.graph import analyze, build_model

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TOLERANCE = 1e-6


class SeedMLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.hidden = nn.Linear(100, 64)
        self.out = nn.Linear(64, 10)

    def forward(self, x):
        return {"y": torch.softmax(self.out(torch.relu(self.hidden(x))), dim=-1)}


class ToyResNet(nn.Module):
    """The Keras guide's toy ResNet, channels first; 3×3 'same' with stride 1 is padding=1."""

    def __init__(self) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(3, 32, 3)
        self.c2 = nn.Conv2d(32, 64, 3)
        self.r1a = nn.Conv2d(64, 64, 3, padding=1)
        self.r1b = nn.Conv2d(64, 64, 3, padding=1)
        self.r2a = nn.Conv2d(64, 64, 3, padding=1)
        self.r2b = nn.Conv2d(64, 64, 3, padding=1)
        self.c3 = nn.Conv2d(64, 64, 3)
        self.fc = nn.Linear(64, 256)
        self.drop = nn.Dropout(0.5)
        self.logits = nn.Linear(256, 10)

    def forward(self, x):
        x = F.relu(self.c1(x))
        x = F.relu(self.c2(x))
        block1 = F.max_pool2d(x, 3)
        block2 = F.relu(self.r1b(F.relu(self.r1a(block1)))) + block1
        block3 = F.relu(self.r2b(F.relu(self.r2a(block2)))) + block2
        x = F.relu(self.c3(block3))
        x = x.mean(dim=(2, 3))
        x = self.drop(F.relu(self.fc(x)))
        return {"y": F.softmax(self.logits(x), dim=1)}


class TwoHead(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 16, 3, padding=1)
        self.trunk = nn.Linear(16 * 4 * 4, 64)
        self.digit_head = nn.Linear(64, 10)
        self.ink_head = nn.Linear(64, 1)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv(x)), 2)
        h = F.relu(self.trunk(x.flatten(1)))
        return {"digit": F.softmax(self.digit_head(h), dim=1), "ink": self.ink_head(h)}


# example -> (hand-written class, {node id: hand-written attribute}, {input: per-sample shape})
CASES = {
    "seed_mlp": (SeedMLP, {"d1": "hidden", "d2": "out"}, {"x": (100,)}),
    "toy_resnet": (ToyResNet, {
        "conv1": "c1", "conv2": "c2", "block2_conv1": "r1a", "block2_conv2": "r1b", "block3_conv1": "r2a",
        "block3_conv2": "r2b", "conv3": "c3", "dense": "fc", "classifier": "logits",
    }, {"x": (3, 32, 32)}),
    "two_head": (TwoHead, {"conv": "conv", "trunk": "trunk", "digit_probs": "digit_head", "ink_pred": "ink_head"},
                 {"x": (1, 8, 8)}),
}


def load_analysis(name: str):
    analysis = analyze(json.loads((EXAMPLES / f"{name}.json").read_text(encoding="utf-8")))
    assert analysis.ok, [i.message for i in analysis.errors]
    return analysis


def mapped_state_dict(built: nn.Module, names: dict[str, str]) -> dict[str, torch.Tensor]:
    out = {}
    for key, value in built.state_dict().items():
        node, _, rest = key.partition(".")
        assert node in names, f"no hand-written counterpart for {key}"
        out[f"{names[node]}.{rest}"] = value.clone()
    return out


@pytest.mark.parametrize("name", sorted(CASES))
def test_built_model_matches_hand_written_module(name):
    hand_class, names, input_shapes = CASES[name]
    analysis = load_analysis(name)
    built = build_model(analysis, seed=0)
    hand = hand_class()
    hand.load_state_dict(mapped_state_dict(built, names), strict=True)  # every weight, both ways
    built.eval()
    hand.eval()
    gen = torch.Generator().manual_seed(1234)
    x = {k: torch.randn((4, *shape), generator=gen, dtype=torch.float32) for k, shape in input_shapes.items()}
    with torch.no_grad():
        got = built(x)
        want = hand(*x.values())
    assert set(got) == set(want) == set(analysis.output_ids)
    for head in want:
        assert got[head].shape == want[head].shape, head
        assert got[head].dtype == torch.float32
        diff = (got[head] - want[head]).abs().max().item()
        assert diff < TOLERANCE, f"{name}/{head}: max abs difference {diff}"


def test_equivalence_notices_a_wrong_weight():
    """The comparison is sharp enough to see one changed weight."""
    hand_class, names, _ = CASES["two_head"]
    built = build_model(load_analysis("two_head"), seed=0).eval()
    hand = hand_class()
    hand.load_state_dict(mapped_state_dict(built, names))
    hand.eval()
    with torch.no_grad():
        hand.conv.weight[0, 0, 1, 1] += 1e-3
        x = torch.randn(4, 1, 8, 8, generator=torch.Generator().manual_seed(0))
        diff = (built({"x": x})["digit"] - hand(x)["digit"]).abs().max().item()
    assert diff > TOLERANCE


@pytest.mark.parametrize("name", sorted(CASES))
def test_generated_code_has_one_line_per_layer_call(name):
    analysis = load_analysis(name)
    built = build_model(analysis, seed=0)
    # Each statement without fx's trailing "; x = None" bookkeeping.
    lines = [line.split(";")[0].strip() for line in built.code.splitlines() if line.strip()]
    weighted = {key.partition(".")[0] for key in built.state_dict()}
    for nid in analysis.order:
        info = analysis.nodes[nid]
        if info.type == "Output":
            continue
        # Every node's value is one local named after it ...
        assigned = [line for line in lines if re.match(rf"{nid} = ", line)]
        assert len(assigned) == 1, (nid, built.code)
        # ... and a module-backed node is called exactly once, by its own name.
        if hasattr(built, nid):
            calls = [line for line in lines if re.match(rf"{nid}(_pre)? = self\.{nid}\(", line)]
            assert len(calls) == 1, (nid, built.code)
    for nid in weighted:
        assert any(re.match(rf"{nid}(_pre)? = self\.{nid}\(", line) for line in lines), nid
    if name == "seed_mlp":
        assert "d1 = self.d1(x)" in lines
        assert "a1 = torch.relu(d1)" in lines
    # Inputs come from the dict by their node id, heads are returned under their Output ids.
    for nid in analysis.input_ids:
        assert any(line.startswith(f"{nid} = inputs['{nid}']") for line in lines), nid
    returned = [line for line in lines if line.startswith("return ")]
    assert len(returned) == 1
    for head in analysis.output_ids:
        assert f"'{head}':" in returned[0], head
