"""The help pages the editor links to: one per layer type, from the catalog, and the issue codes
from docs/graph-format.md (served by the app, so the links work offline)."""

from __future__ import annotations

import re

from layerloom.graph import layer_types
from layerloom.settings import REPO_ROOT


def test_every_layer_has_a_help_page_with_its_parameters(anon) -> None:
    for layer_type in layer_types():
        page = anon.get(f"/api/help/layers/{layer_type}")
        assert page.status_code == 200, layer_type
        assert page.headers["content-type"].startswith("text/html")
        assert f"<h1>{layer_type}</h1>" in page.text
    dense = anon.get("/api/help/layers/Dense").text
    assert "<code>units</code>" in dense and "required" in dense and "Number of output features" in dense
    assert "<code>activation</code>" in dense and "&#x27;linear&#x27;" in dense  # the default
    assert "Keras masks: keeps the mask" in dense
    assert "Keras masks: uses the mask" in anon.get("/api/help/layers/LSTM").text


def test_an_unknown_layer_is_a_404_with_a_suggestion(anon) -> None:
    page = anon.get("/api/help/layers/dense")
    assert page.status_code == 404
    assert "Dense" in page.text


def test_every_issue_code_in_the_docs_has_an_anchor(anon) -> None:
    page = anon.get("/api/help/errors")
    assert page.status_code == 200
    docs = (REPO_ROOT / "docs" / "graph-format.md").read_text(encoding="utf-8").split("\n## Errors", 1)[1]
    codes = set(re.findall(r"^\| `([a-z_]+)`", docs, re.M))
    assert {"bad_param", "cycle", "shape", "unreachable"} <= codes
    for code in codes:
        assert f'id="code-{code}"' in page.text
