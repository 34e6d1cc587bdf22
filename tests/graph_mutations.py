"""The graph mutation fuzzer's cases: seeded random mutations of the example graphs (edges deleted,
duplicated and retargeted, params of the wrong type, huge numbers, unicode ids, deep nesting,
random blocks). Used in-process (tests/unit/test_graph_fuzz.py) and over HTTP
(tests/integration/test_graph_fuzz_api.py)."""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path
from typing import Any

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "examples").glob("*.json"))
CASES = 2000
SEED = 20261130

WEIRD_VALUES: list[Any] = [
    None, True, False, 0, -1, 1.5, -0.0, 2**63, -(2**63) - 1, 10**400, 1e308, -1e308, 1e-320,
    "", "relu", "ü", "\x00", "a" * 10_000, "1e400", [], [1], [0, 0], [-1, 3], [2**40, 2**40],
    [[1, 2], [3]], {}, {"a": 1}, [None], ["x"] * 50, 3.14159, 10**18,
]
WEIRD_IDS = ["", " ", "ü", "名前", "a.b", "a b", "\n", "d1\n", "x" * 300, "🙂", "0", "..", "__proto__", 7, None]


def _deep(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value] if depth % 2 else {"k": value}
    return value


def _random_block(rng: random.Random, node_dicts: list[dict]) -> dict:
    inner = copy.deepcopy(rng.choice(node_dicts)) if node_dicts else {"id": "n", "type": "Dense"}
    return {"id": f"blk{rng.randrange(100)}", "params": rng.choice([{}, {"units": {"type": "int"}}, []]),
            "nodes": [{"id": "in", "type": "Input", "params": {"shape": [4]}}, inner],
            "edges": [{"source": "in", "target": inner.get("id", "n")}] if rng.random() < 0.7 else []}


def _mutate(rng: random.Random, document: dict) -> None:
    # Earlier mutations may have replaced the lists or their items: mutate only what is still a dict.
    nodes: list = document["nodes"] if isinstance(document.get("nodes"), list) else []
    edges: list = document["edges"] if isinstance(document.get("edges"), list) else []
    node_dicts = [n for n in nodes if isinstance(n, dict)]
    edge_dicts = [e for e in edges if isinstance(e, dict)]
    ids = [n.get("id") for n in node_dicts] + WEIRD_IDS
    kind = rng.randrange(14)
    if kind == 0 and edges:
        del edges[rng.randrange(len(edges))]
    elif kind == 1 and edges:
        edges.append(copy.deepcopy(rng.choice(edges)))
    elif kind == 2 and edge_dicts:
        rng.choice(edge_dicts)[rng.choice(["source", "target"])] = rng.choice(ids)
    elif kind == 3 and edge_dicts:
        rng.choice(edge_dicts)[rng.choice(["source_port", "target_port", "source", "target"])] = rng.choice(WEIRD_VALUES)
    elif kind == 4 and node_dicts:
        node = rng.choice(node_dicts)
        params = node.setdefault("params", {})
        if isinstance(params, dict):
            key = rng.choice(list(params) or ["units"]) if rng.random() < 0.8 else rng.choice(["bogus", "", "ü"])
            params[key] = rng.choice(WEIRD_VALUES)
    elif kind == 5 and node_dicts:
        rng.choice(node_dicts)["id"] = rng.choice(WEIRD_IDS)
    elif kind == 6 and node_dicts:
        rng.choice(node_dicts)["type"] = rng.choice(["Nope", "", None, 3, "input", "Dense ", "Output", "Add", "Lambda"])
    elif kind == 7 and nodes:
        nodes.append(copy.deepcopy(rng.choice(nodes)))
    elif kind == 8 and nodes:
        del nodes[rng.randrange(len(nodes))]
    elif kind == 9:
        target = rng.choice(node_dicts) if node_dicts else document
        target[rng.choice(["params", "extra", "id", "type"])] = _deep(rng.choice([50, 300]))  # deeper than any real graph; copyable
    elif kind == 10:
        document.setdefault("blocks", [])
        if isinstance(document["blocks"], list):
            document["blocks"].append(_random_block(rng, node_dicts))
            if node_dicts:
                rng.choice(node_dicts)["type"] = document["blocks"][-1]["id"]
    elif kind == 11:
        field = rng.choice(["nodes", "edges", "layout", "version", "format", "name", "blocks"])
        document[field] = rng.choice(WEIRD_VALUES + [_deep(100)])
    elif kind == 12 and node_dicts:
        rng.choice(node_dicts)["params"] = rng.choice(WEIRD_VALUES)
    elif kind == 13 and node_dicts:  # a cycle or a self-loop
        a, b = rng.choice(node_dicts).get("id"), rng.choice(node_dicts).get("id")
        edges.extend([{"source": a, "target": b}, {"source": b, "target": a}])


def mutated_examples() -> list[tuple[str, dict]]:
    rng = random.Random(SEED)
    originals = {path.stem: json.loads(path.read_text()) for path in EXAMPLES}
    cases = []
    for index in range(CASES):
        name = rng.choice(sorted(originals))
        document = copy.deepcopy(originals[name])
        for _ in range(rng.randint(1, 4)):
            _mutate(rng, document)
        cases.append((f"{index}-{name}", document))
    return cases
