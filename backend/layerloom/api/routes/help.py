"""Help pages the editor links to: one page per layer type, generated from the catalog, and the
table of issue codes from docs/graph-format.md. Served by the app itself, so the links work
offline and always describe the catalog this server runs."""

from __future__ import annotations

import html
import re
from functools import cache
from typing import Any

from fastapi import HTTPException
from fastapi.responses import HTMLResponse

from ...graph import catalog_json, get_layer
from ...graph.catalog import suggest_type
from ...settings import REPO_ROOT
from ..routing import make_router

router = make_router("help", errors=())
# The pages are HTML, but a missing layer is the shared JSON error body (FastAPI would document a
# model-based error under the route's text/html).
NOT_FOUND_JSON = {404: {"description": "No such layer type", "content": {
    "application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}}}

FORMAT_DOCS = REPO_ROOT / "docs" / "graph-format.md"

_STYLE = """
body { font: 15px/1.5 system-ui, sans-serif; max-width: 900px; margin: 32px auto; padding: 0 20px; color: #1c2230; }
code { font: 13px ui-monospace, monospace; background: #f1f3f6; padding: 1px 4px; border-radius: 4px; }
table { border-collapse: collapse; width: 100%; margin: 12px 0; }
th, td { text-align: left; padding: 6px 8px; border-bottom: 1px solid #e2e5ea; vertical-align: top; }
.muted { color: #6b7383; } :target { background: #fff6e5; }
@media (prefers-color-scheme: dark) { body { background: #14171f; color: #e4e7ee; } code { background: #232837; }
  th, td { border-color: #2c3242; } :target { background: #3a2f14; } }
"""


def _page(title: str, body: str) -> HTMLResponse:
    return HTMLResponse(f"<!doctype html><html lang=en><meta charset=utf-8><title>{html.escape(title)} · Layerloom"
                        f"</title><style>{_STYLE}</style><body>{body}</body></html>")


def _schema_type(prop: dict[str, Any]) -> str:
    if "enum" in prop:
        return " | ".join(repr(v) for v in prop["enum"])
    if "anyOf" in prop:
        return " or ".join(_schema_type(p) for p in prop["anyOf"])
    if "$ref" in prop:  # a wrapper's inner layer
        return 'object {"type": ..., "params": {...}}'
    kind = prop.get("type", "any")
    if kind == "array" and isinstance(prop.get("items"), dict):
        return f"list of {_schema_type(prop['items'])}"
    bounds = [f"{op} {prop[key]}" for key, op in (("minimum", "≥"), ("exclusiveMinimum", ">"), ("maximum", "≤"),
                                                   ("exclusiveMaximum", "<")) if key in prop]
    return kind + (f" ({', '.join(bounds)})" if bounds else "")


MASK_ROLES = {  # catalog.MaskRole, for people (docs/graph-format.md, "Masks")
    "produce": "makes a mask of padded steps that travels with its output",
    "pass": "keeps the mask its input carries",
    "consume": "uses the mask its input carries (masked steps are skipped)",
    "drop": "does not support masking; a mask stops here",
}


@router.get("/help/layers/{layer_type}", response_class=HTMLResponse, responses=NOT_FOUND_JSON)
def layer_help(layer_type: str) -> HTMLResponse:
    """A layer's page: what it does, its parameters (type, default, meaning) and its ports."""
    if get_layer(layer_type) is None:
        hint = suggest_type(layer_type)
        raise HTTPException(404, f"No layer type {layer_type!r}" + (f"; did you mean {hint!r}?" if hint else "."))
    entry = next(e for e in _catalog() if e["type"] == layer_type)
    schema = entry["params_schema"]
    required = set(schema.get("required", []))
    rows = []
    for name, prop in schema.get("properties", {}).items():
        default = "required" if name in required else html.escape(repr(prop.get("default")))
        rows.append(f"<tr><td><code>{html.escape(name)}</code></td><td>{html.escape(_schema_type(prop))}</td>"
                    f"<td>{default}</td><td>{html.escape(prop.get('description', ''))}</td></tr>")
    inputs = entry["inputs"]
    ports = (f"{inputs['min']}" if inputs["min"] == inputs["max"] else
             f"{inputs['min']} to {inputs['max'] if inputs['max'] is not None else 'any number'}")
    params = ("<table><tr><th>parameter</th><th>type</th><th>default</th><th>meaning</th></tr>" + "".join(rows)
              + "</table>") if rows else "<p class=muted>No parameters.</p>"
    return _page(layer_type, f"<p class=muted>{html.escape(entry['category'])}</p><h1>{html.escape(layer_type)}</h1>"
                 f"<p>{html.escape(entry['doc'])}</p><h2>Parameters</h2>{params}<h2>Ports</h2>"
                 f"<p>Inputs: {ports}. Outputs: {entry['outputs']}.</p>"
                 f"<p>Keras masks: {MASK_ROLES[entry['mask']]}.</p>"
                 f"<p class=muted>Shapes are per sample, without the batch axis, channels first. "
                 f"<a href=\"/api/help/errors\">Issue codes</a></p>")


@router.get("/help/errors", response_class=HTMLResponse)
def errors_help() -> HTMLResponse:
    """Every issue code the compiler reports, with an anchor per code (``#code-<code>``)."""
    return _page("Issue codes", "<h1>Issue codes</h1><p>Every problem in a graph is reported at once as "
                 "<code>{code, message, severity, node?, edge?, field?}</code>; the message says what to change.</p>"
                 + _errors_table())


@cache
def _catalog() -> list[dict[str, Any]]:
    return catalog_json()


def _inline(text: str) -> str:
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text))


@cache
def _errors_table() -> str:
    """The Errors table of docs/graph-format.md (the one place the codes are described), as HTML."""
    text = FORMAT_DOCS.read_text(encoding="utf-8")
    section = text.split("\n## Errors", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    out = ["<table><tr><th>code</th><th>severity</th><th>when</th></tr>"]
    for line in rows:
        codes, severity, when = (cell.strip() for cell in line.strip("|").split("|", 2))
        anchors = "".join(f'<span id="code-{c}"></span>' for c in re.findall(r"`([a-z_]+)`", codes))
        out.append(f"<tr><td>{anchors}{_inline(codes)}</td><td>{html.escape(severity)}</td><td>{_inline(when)}</td></tr>")
    return "".join(out) + "</table>"
