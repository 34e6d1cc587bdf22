"""The Layerloom graph being written: nodes, edges, unique ids, shapes (asked of the compiler, so
the importer never re-implements shape rules) and layout conversions (Permute nodes)."""

from __future__ import annotations

import re
from typing import Any

from ..graph import Analysis, analyze
from ..graph.compiler import RESERVED_IDS
from ..graph.format import CURRENT_VERSION
from .layout import Tensor, to_cf_dims, to_keras_dims

MAX_ID = 64


def clean_id(name: str) -> str:
    text = re.sub(r"[^A-Za-z0-9_]", "_", name)
    if not text or not text[0].isalpha():
        text = "n_" + text
    return text[:MAX_ID]


class GraphBuilder:
    def __init__(self, name: str) -> None:
        self.name = name
        self.nodes: list[dict[str, Any]] = []
        self.edges: list[dict[str, Any]] = []
        self.ids: set[str] = set()
        self.reserved: set[str] = set()  # head and input ids chosen up front
        self.blocks: dict[str, dict[str, Any]] = {}  # the document's block definitions (nested models)
        self._analysis: Analysis | None = None
        self._converted: dict[tuple[str, int, bool], Tensor] = {}

    def unique_id(self, wanted: str, *, reserved_ok: bool = False) -> str:
        base = clean_id(wanted)
        taken = self.ids | (set() if reserved_ok else self.reserved) | RESERVED_IDS
        if base not in taken:
            return base
        for suffix in ["_layer"] + [f"_{k}" for k in range(2, 100_000)]:
            candidate = base[: MAX_ID - len(suffix)] + suffix
            if candidate not in taken:
                return candidate
        raise RuntimeError("no free id")  # pragma: no cover - 100,000 layers of one name

    def add(self, type_: str, params: dict[str, Any], inputs: list[Tensor], wanted_id: str, *,
            share: str | None = None, reserved_ok: bool = False) -> str:
        node_id = self.unique_id(wanted_id, reserved_ok=reserved_ok)
        self.ids.add(node_id)
        node: dict[str, Any] = {"id": node_id, "type": type_, "params": {} if share else params}
        if share:
            node["share"] = share
        self.nodes.append(node)
        for port, tensor in enumerate(inputs):
            edge: dict[str, Any] = {"source": tensor.node, "target": node_id, "target_port": port}
            if tensor.port:
                edge["source_port"] = tensor.port
            self.edges.append(edge)
        self._analysis = None
        return node_id

    def document(self) -> dict[str, Any]:
        document = {"format": "layerloom.graph", "version": CURRENT_VERSION, "name": self.name,
                    "nodes": self.nodes, "edges": self.edges}
        if self.blocks:
            document["blocks"] = self.blocks
        return document

    def analysis(self) -> Analysis:
        if self._analysis is None:
            self._analysis = analyze(self.document())
        return self._analysis

    def shape(self, tensor: Tensor) -> tuple[int, ...] | None:
        """Our (channels-first where cf) shape of a tensor, or None when the compiler could not infer it."""
        analysis = self.analysis()
        node = tensor.node
        call = analysis.calls.get(node)
        if call is not None:  # a Block call: the shape of its Output port
            if tensor.port >= len(call.outputs):
                return None
            node = call.outputs[tensor.port]
        info = analysis.nodes.get(node)
        return info.output.shape if info is not None and info.output is not None else None

    def rank(self, tensor: Tensor) -> int:
        shape = self.shape(tensor)
        if shape is None:
            raise ShapeUnknown(tensor.node)
        return len(shape)

    def keras_order(self, tensor: Tensor) -> Tensor:
        """The tensor with Keras's axis order (a Permute after a channels-first tensor)."""
        if not tensor.cf:
            return tensor
        return self._permute(tensor, to_keras_dims(self.rank(tensor)), cf=False, suffix="channels_last")

    def channels_first(self, tensor: Tensor) -> Tensor:
        if tensor.cf:
            return tensor
        rank = self.rank(tensor)
        if rank < 2:
            return tensor
        return self._permute(tensor, to_cf_dims(rank), cf=True, suffix="channels_first")

    def _permute(self, tensor: Tensor, dims: list[int], *, cf: bool, suffix: str) -> Tensor:
        key = (tensor.node, tensor.port, cf)
        if key not in self._converted:
            node = self.add("Permute", {"dims": dims}, [tensor], f"{tensor.node}_{suffix}")
            self._converted[key] = Tensor(node, cf)
        return self._converted[key]


class ShapeUnknown(Exception):
    """A layer needs its input's shape but the compiler could not infer it (an earlier error)."""
