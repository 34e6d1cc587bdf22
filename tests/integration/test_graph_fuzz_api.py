"""A sample of the graph mutation fuzzer's cases (tests/graph_mutations.py) through
``POST /api/graphs/validate``: never a 5xx, and every issue in the answer has a code and a message."""

from __future__ import annotations

import json

from graph_mutations import mutated_examples


def test_mutated_graphs_through_validate_are_never_a_server_error(client_a) -> None:
    for label, document in mutated_examples()[::40]:  # 50 of the 2,000
        response = client_a.post("/api/graphs/validate", content=json.dumps(document),
                                 headers={"Content-Type": "application/json"})
        assert response.status_code < 500, (label, response.text[:500])
        body = response.json()
        for issue in body.get("errors", []) + body.get("warnings", []):
            assert issue.get("code") and issue.get("message"), (label, issue)
