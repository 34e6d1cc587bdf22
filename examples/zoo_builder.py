"""A small builder for the generated examples: nodes, edges and block calls, written the way Keras's
functional code reads (``x = g.add("conv1", "Conv2D", {...}, x)``), that emits a Layerloom graph
document either with blocks (each block defined once in ``blocks`` and called by ``Block`` nodes) or
flat (each call's inner nodes inlined as ``call_inner``).

It also records, for every node it emits, the name Keras gives the same layer in
``keras.applications``, so the parity test can compare each of our nodes with Keras's layer of the
same name. Keras names a layer either explicitly (``name="conv1_conv"``) or, when the code gives no
name, after its class with a per-class counter in creation order (``conv2d``, ``conv2d_1``, …):
``AUTO`` reproduces the latter, so nodes must be added in the order Keras's code creates layers.
"""

from __future__ import annotations

import copy
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

AUTO = object()  # the Keras layer is unnamed in Keras's code: class name + per-class counter
NO_KERAS_LAYER = ""  # a node Keras does not need: a Permute between our channels-first layout and Keras's

ROW, COLUMN = 200, 260  # layout grid: rows (parallel branches) and columns (depth)


def _snake(type_name: str) -> str:
    """Keras's ``to_snake_case`` of a class name: Conv2D -> conv2d, BatchNormalization -> batch_normalization."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", type_name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def arg(name: str) -> dict[str, str]:
    """A reference to a block argument inside an inner node's params."""
    return {"arg": name}


def _substitute(value: Any, args: dict[str, Any]) -> Any:
    if isinstance(value, dict):
        if set(value) == {"arg"}:
            return args[value["arg"]]
        return {k: _substitute(v, args) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, args) for v in value]
    return value


@dataclass
class BlockDef:
    """A block: its inner nodes (Input ports first, Output ports last), edges, declared arguments,
    and for each inner node how Keras names the layer (a format string over the call's ``keras_vars``,
    ``{prefix}`` by default the call id, or AUTO)."""

    name: str
    description: str
    args: dict[str, dict[str, Any]]
    nodes: list[dict[str, Any]] = field(default_factory=list)
    edges: list[dict[str, Any]] = field(default_factory=list)
    keras: dict[str, Any] = field(default_factory=dict)
    inputs: list[str] = field(default_factory=list)

    def input(self, nid: str = "x") -> str:
        self.nodes.append({"id": nid, "type": "Input"})
        self.inputs.append(nid)
        return nid

    def add(self, nid: str, type_: str, params: dict[str, Any] | None, *sources: str, keras: Any = None) -> str:
        self.nodes.append({"id": nid, "type": type_, "params": params or {}})
        for port, src in enumerate(sources):
            self.edges.append({"source": src, "target": nid, **({"target_port": port} if port else {})})
        self.keras[nid] = keras if keras is not None else "{prefix}_" + nid
        return nid

    def output(self, source: str, nid: str = "y") -> None:
        self.nodes.append({"id": nid, "type": "Output"})
        self.edges.append({"source": source, "target": nid})

    def definition(self) -> dict[str, Any]:
        return {"description": self.description, "args": self.args, "nodes": self.nodes, "edges": self.edges}


class Graph:
    """One example document being written. ``use_blocks`` picks blocks or flat inlining."""

    def __init__(self, name: str, description: str, use_blocks: bool = True) -> None:
        self.name, self.description, self.use_blocks = name, description, use_blocks
        self.nodes: list[dict[str, Any]] = []
        self.edges: list[dict[str, Any]] = []
        self.blocks: dict[str, dict[str, Any]] = {}
        self.keras_names: dict[str, str] = {}  # our (expanded) node id -> Keras layer name
        self._auto: Counter[str] = Counter()

    def _keras_name(self, spec: Any, type_: str, variables: dict[str, Any]) -> str:
        if spec is AUTO:
            base = _snake(type_)
            count = self._auto[base]
            self._auto[base] += 1
            return base if count == 0 else f"{base}_{count}"
        return spec.format(**variables)

    def _edge(self, source: str, target: str, port: int) -> None:
        self.edges.append({"source": source, "target": target, **({"target_port": port} if port else {})})

    def input(self, nid: str, shape: list[int], keras: str = "input_layer", dtype: str | None = None) -> str:
        params: dict[str, Any] = {"shape": shape}
        if dtype:
            params["dtype"] = dtype
        self.nodes.append({"id": nid, "type": "Input", "params": params})
        self.keras_names[nid] = keras
        return nid

    def add(self, nid: str, type_: str, params: dict[str, Any] | None, *sources: str, keras: Any = None) -> str:
        """A top-level layer named ``nid``; Keras's name is ``nid`` unless ``keras`` says otherwise."""
        self.nodes.append({"id": nid, "type": type_, "params": params or {}})
        for port, src in enumerate(sources):
            self._edge(src, nid, port)
        if keras is not NO_KERAS_LAYER:
            self.keras_names[nid] = self._keras_name(nid if keras is None else keras, type_, {})
        return nid

    def output(self, nid: str, source: str, params: dict[str, Any]) -> None:
        self.nodes.append({"id": nid, "type": "Output", "params": params})
        self._edge(source, nid, 0)

    def call(self, call_id: str, block: BlockDef, args: dict[str, Any], *sources: str, **keras_vars: Any) -> str:
        """Calls ``block`` on ``sources``; returns the id to feed on (the call, or the inlined output)."""
        variables = {"prefix": call_id, **keras_vars}
        full_args = {k: spec.get("default") for k, spec in block.args.items()} | args
        if self.use_blocks:
            self.blocks.setdefault(block.name, block.definition())
            self.nodes.append({"id": call_id, "type": "Block", "params": {"block": block.name, "args": args}})
            for port, src in enumerate(sources):
                self._edge(src, call_id, port)
            expanded = lambda inner: f"{call_id}.{inner}"  # noqa: E731
        else:
            expanded = lambda inner: f"{call_id}_{inner}"  # noqa: E731
        for node in block.nodes:
            if node["type"] in ("Input", "Output"):
                continue
            self.keras_names[expanded(node["id"])] = self._keras_name(block.keras[node["id"]], node["type"], variables)
        if self.use_blocks:
            return call_id
        # Flat: the inner nodes inlined, ports wired straight to the call's sources and consumers.
        port_source = dict(zip(block.inputs, sources))
        output = None
        for node in block.nodes:
            if node["type"] == "Input":
                continue
            if node["type"] == "Output":
                output = next(e["source"] for e in block.edges if e["target"] == node["id"])
                continue
            self.nodes.append({"id": expanded(node["id"]), "type": node["type"],
                               "params": _substitute(copy.deepcopy(node["params"]), full_args)})
        for edge in block.edges:
            target = next(n for n in block.nodes if n["id"] == edge["target"])
            if target["type"] == "Output":
                continue
            source = port_source.get(edge["source"]) or expanded(edge["source"])
            self._edge(source, expanded(edge["target"]), edge.get("target_port", 0))
        assert output is not None, block.name
        return expanded(output)

    def document(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"format": "layerloom.graph", "version": 1, "name": self.name,
                               "description": self.description, "nodes": self.nodes, "edges": self.edges}
        if self.blocks:
            doc["blocks"] = self.blocks
        doc["layout"] = layered_layout(self.nodes, self.edges)
        return doc


def layered_layout(nodes: list[dict[str, Any]], edges: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Left to right by depth (longest path from an input), parallel branches stacked in rows."""
    preds: dict[str, list[str]] = {n["id"]: [] for n in nodes}
    for e in edges:
        preds[e["target"]].append(e["source"])
    depth: dict[str, int] = {}
    for node in nodes:  # nodes are written in an order where sources come first
        depth[node["id"]] = 1 + max((depth[p] for p in preds[node["id"]]), default=-1)
    rows: Counter[int] = Counter()
    layout = {}
    for node in nodes:
        d = depth[node["id"]]
        layout[node["id"]] = {"x": d * COLUMN, "y": rows[d] * ROW}
        rows[d] += 1
    return layout
