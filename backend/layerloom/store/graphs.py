"""Graphs and their immutable, numbered versions."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from .models import Graph, GraphVersion, User, utcnow


class NotStorable(ValueError):
    """A JSON value that one of our databases cannot hold."""


def canonical_json(value: Any) -> str:
    """One text per JSON value (sorted keys, no spaces): the input of a document's sha256.

    Refuses what a database would refuse later with a less helpful error: NaN or infinite numbers
    (not JSON at all) and NUL characters (PostgreSQL's JSONB cannot store them).
    """
    try:
        text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except ValueError as err:
        raise NotStorable(f"The document contains a number JSON cannot represent ({err}).") from None
    except TypeError as err:
        raise NotStorable(f"The document is not JSON data ({err}).") from None
    if "\x00" in text or "\\u0000" in text:
        raise NotStorable("The document contains a NUL character (\\u0000); remove it.")
    return text


def document_sha256(document: Any) -> str:
    return hashlib.sha256(canonical_json(document).encode("utf-8")).hexdigest()


def create_graph(session: Session, owner: User, name: str, document: dict[str, Any]) -> tuple[Graph, GraphVersion]:
    """A new graph with ``document`` as version 1 (flushed, not committed)."""
    graph = Graph(owner_id=owner.id, name=name, latest_version=0)
    session.add(graph)
    session.flush()
    return graph, add_version(session, graph, document)


def add_version(session: Session, graph: Graph, document: dict[str, Any]) -> GraphVersion:
    """Append ``document`` as the graph's next version (flushed, not committed).

    The number comes from one atomic ``UPDATE … RETURNING`` on the graph row, so two concurrent
    saves get different numbers on both databases; the unique (graph_id, number) key backs it up.
    """
    sha256 = document_sha256(document)
    number = session.execute(
        update(Graph)
        .where(Graph.id == graph.id)
        .values(latest_version=Graph.latest_version + 1, updated_at=utcnow())
        .returning(Graph.latest_version)
    ).scalar_one()
    version = GraphVersion(graph_id=graph.id, number=number, document=document, sha256=sha256)
    session.add(version)
    session.flush()
    return version


def get_version(session: Session, graph: Graph, number: int) -> GraphVersion | None:
    return session.scalar(select(GraphVersion).where(GraphVersion.graph_id == graph.id, GraphVersion.number == number))
