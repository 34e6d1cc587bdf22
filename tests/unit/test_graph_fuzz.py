"""The graph mutation fuzzer through ``analyze()``: nothing may escape as an exception, and every
issue must carry a code and a message a user can act on."""

from __future__ import annotations

import json
from typing import Any

from graph_mutations import CASES, mutated_examples
from layerloom.graph import analyze


def _check_issues(label: str, analysis: Any) -> None:
    for issue in analysis.issues:
        assert isinstance(issue.code, str) and issue.code, (label, issue)
        assert isinstance(issue.message, str) and issue.message.strip(), (label, issue)
        json.dumps(issue.to_json())  # every issue can be sent back to the editor


def test_mutated_example_graphs_never_escape_analyze() -> None:
    escaped: list[str] = []
    refused = 0
    for label, document in mutated_examples():
        try:
            analysis = analyze(document)
        except Exception as error:  # noqa: BLE001 - the point is to catch anything that escapes
            escaped.append(f"{label}: {type(error).__name__}: {error}"[:300])
            continue
        _check_issues(label, analysis)
        refused += bool(analysis.errors)
    assert not escaped, f"{len(escaped)} of {CASES} mutated graphs raised:\n" + "\n".join(escaped[:20])
    assert refused > CASES // 2  # the mutations do break graphs: the fuzzer is not testing no-ops
