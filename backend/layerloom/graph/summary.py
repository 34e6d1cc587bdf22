"""Keras-style model summary: rows as data (for the API and the editor), rendered to text separately."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from .catalog import format_shape
from .compiler import Analysis


@dataclass(frozen=True)
class SummaryRow:
    node: str
    type: str
    output_shape: str
    params: int
    connected_to: list[str]
    shared_with: str | None


def summary_rows(analysis: Analysis) -> list[SummaryRow]:
    """One row per node in topological order; a shared call site shows 0 parameters (counted once)."""
    rows = []
    for nid in analysis.order or list(analysis.nodes):
        info = analysis.nodes[nid]
        rows.append(SummaryRow(
            node=nid,
            type=info.type,
            output_shape=format_shape(info.output.shape) if info.output else "?",
            params=info.trainable + info.non_trainable,
            connected_to=list(info.inputs or []),
            shared_with=info.share,
        ))
    return rows


def summary_json(analysis: Analysis) -> dict[str, Any]:
    return {
        "name": analysis.name,
        "rows": [asdict(r) for r in summary_rows(analysis)],
        "total": analysis.total_params,
        "trainable": analysis.trainable_params,
        "non_trainable": analysis.non_trainable_params,
    }


def render_summary(analysis: Analysis) -> str:
    """The table as text: node (type), output shape (batch first, as None), params, connected to."""
    header = ("Node (type)", "Output shape", "Param #", "Connected to")
    lines = []
    for r in summary_rows(analysis):
        info = analysis.nodes[r.node]
        shape = "(" + ", ".join(["None", *map(str, info.output.shape)]) + ")" if info.output else "?"
        params = f"{r.params:,}" if not r.shared_with else f"0 (shares {r.shared_with})"
        lines.append((f"{r.node} ({r.type})", shape, params, ", ".join(r.connected_to) or "-"))
    widths = [max(len(row[i]) for row in [header, *lines]) for i in range(4)]
    rule = "─" * (sum(widths) + 6)

    def fmt(row: tuple[str, ...]) -> str:
        return "  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip()

    out = [f'Model: "{analysis.name}"', rule, fmt(header), rule, *[fmt(l) for l in lines], rule,
           f" Total params: {analysis.total_params:,}",
           f" Trainable params: {analysis.trainable_params:,}",
           f" Non-trainable params: {analysis.non_trainable_params:,}"]
    return "\n".join(out)
