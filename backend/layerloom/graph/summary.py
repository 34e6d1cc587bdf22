"""Keras-style model summary: rows as data (for the API and the editor), rendered to text separately.

A Block call is one row with the call's totals; its ``children`` are the rows of its inner nodes
(nested calls again as one row each), which ``render_summary(expand_nested=True)`` prints indented,
like Keras's ``summary(expand_nested=True)``. A block's Input and Output ports get no row of their
own: "connected to" names the node that really feeds a port.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from .blocks import CallInfo, call_totals
from .catalog import TensorSpec, format_shape
from .compiler import Analysis, _gc_paused


@dataclass(frozen=True)
class SummaryRow:
    node: str  # the node's id; inside a block the expanded id, e.g. "stage2_b1.conv1"
    type: str
    output_shape: str
    params: int
    connected_to: list[str]
    shared_with: str | None
    block: str | None = None  # for a Block call: the block it calls
    children: list["SummaryRow"] = field(default_factory=list)  # for a Block call: its inner rows


def summary_rows(analysis: Analysis) -> list[SummaryRow]:
    """One row per top-level node in topological order; a shared call site shows 0 parameters
    (counted once). Calls carry their inner rows in ``children``."""
    order = analysis.order or list(analysis.nodes)
    if not analysis.calls:
        return [_node_row(analysis, nid) for nid in order]
    position = {nid: i for i, nid in enumerate(order)}
    return _level_rows(analysis, "", order, position)


def _level_rows(analysis: Analysis, prefix: str, ids: list[str], position: dict[str, int]) -> list[SummaryRow]:
    rows, seen = [], set()
    for nid in ids:
        child = prefix + nid[len(prefix):].split(".", 1)[0]  # the node or call directly at this level
        if child in seen:
            continue
        seen.add(child)
        call = analysis.calls.get(child)
        if call is not None:
            inner = sorted(call.nodes, key=lambda n: position.get(n, math.inf))
            rows.append(_call_row(analysis, call, _level_rows(analysis, child + ".", inner, position)))
        elif child in analysis.nodes and not (prefix and analysis.nodes[child].type in ("Input", "Output")):
            rows.append(_node_row(analysis, child))
    return rows


def _node_row(analysis: Analysis, nid: str) -> SummaryRow:
    info = analysis.nodes[nid]
    return SummaryRow(
        node=nid,
        type=info.type,
        output_shape=format_shape(info.output.shape) if info.output else "?",
        params=info.trainable + info.non_trainable,
        connected_to=[_producer(analysis, src) for src in info.inputs or []],
        shared_with=info.share,
    )


def _call_row(analysis: Analysis, call: CallInfo, children: list[SummaryRow]) -> SummaryRow:
    trainable, non_trainable = call_totals(analysis, call)
    outputs = [_spec(analysis, p) for p in call.outputs]
    sources = [(analysis.nodes[p].inputs or [None])[0] if p in analysis.nodes else None for p in call.inputs]
    return SummaryRow(
        node=call.id,
        type="Block",
        output_shape=", ".join(format_shape(o.shape) if o else "?" for o in outputs) or "?",
        params=trainable + non_trainable,
        connected_to=[_producer(analysis, s) for s in sources if s is not None],
        shared_with=call.share,
        block=call.block,
        children=children,
    )


def _spec(analysis: Analysis, nid: str) -> TensorSpec | None:
    info = analysis.nodes.get(nid)
    return info.output if info else None


def _producer(analysis: Analysis, nid: str) -> str:
    """The name to show for the node feeding a value: a block's Input port is followed to what feeds
    it, and a block's Output port shows as its call (``call[k]`` when the block has several outputs)."""
    for _ in range(len(analysis.nodes)):
        info = analysis.nodes.get(nid)
        if info is None or "." not in nid or info.type not in ("Input", "Output"):
            return nid
        if info.type == "Input":
            if not info.inputs:
                return nid
            nid = info.inputs[0]
            continue
        call = analysis.calls[nid.rsplit(".", 1)[0]]
        return call.id if len(call.outputs) == 1 else f"{call.id}[{call.outputs.index(nid)}]"
    return nid


def summary_json(analysis: Analysis) -> dict[str, Any]:
    with _gc_paused():  # thousands of small dicts: see compiler._gc_paused
        return {
        "name": analysis.name,
            "rows": [_row_json(r) for r in summary_rows(analysis)],
            "total": analysis.total_params,
            "trainable": analysis.trainable_params,
            "non_trainable": analysis.non_trainable_params,
        }


def _row_json(row: SummaryRow) -> dict[str, Any]:
    # By hand: dataclasses.asdict deep-copies every value and cost half a second on 9,000 rows.
    return {"node": row.node, "type": row.type, "output_shape": row.output_shape, "params": row.params,
            "connected_to": row.connected_to, "shared_with": row.shared_with, "block": row.block,
            "children": [_row_json(c) for c in row.children]}


def render_summary(analysis: Analysis, expand_nested: bool = False) -> str:
    """The table as text: node (type), output shape (batch first, as None), params, connected to.
    With ``expand_nested`` each Block call's inner rows follow it, indented."""
    header = ("Node (type)", "Output shape", "Param #", "Connected to")
    lines: list[tuple[str, ...]] = []

    def add(rows: list[SummaryRow], depth: int) -> None:
        for r in rows:
            name = r.node.rsplit(".", 1)[-1] if depth else r.node
            kind = f"Block {r.block}" if r.block else r.type
            params = f"{r.params:,}" if not r.shared_with else f"0 (shares {r.shared_with})"
            inside = r.node.rsplit(".", 1)[0] + "." if depth else ""  # name siblings by their own ids
            sources = [s.removeprefix(inside) for s in r.connected_to]
            lines.append(("  " * depth + f"{name} ({kind})", _batch_shapes(analysis, r.node), params,
                          ", ".join(sources) or "-"))
            if expand_nested and r.children:
                add(r.children, depth + 1)

    add(summary_rows(analysis), 0)
    widths = [max(len(row[i]) for row in [header, *lines]) for i in range(4)]
    rule = "─" * (sum(widths) + 6)

    def fmt(row: tuple[str, ...]) -> str:
        return "  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip()

    out = [f'Model: "{analysis.name}"', rule, fmt(header), rule, *[fmt(l) for l in lines], rule,
           f" Total params: {analysis.total_params:,}",
           f" Trainable params: {analysis.trainable_params:,}",
           f" Non-trainable params: {analysis.non_trainable_params:,}"]
    return "\n".join(out)


def _batch_shapes(analysis: Analysis, nid: str) -> str:
    """A node's (or call's) output shapes with the batch dimension first, as None, as Keras prints them."""
    call = analysis.calls.get(nid)
    specs = [_spec(analysis, p) for p in call.outputs] if call else [_spec(analysis, nid)]
    return ", ".join("(" + ", ".join(["None", *map(str, s.shape)]) + ")" if s else "?" for s in specs) or "?"
