"""Graphs and their immutable, numbered versions."""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from .canonical import NotStorable, canonical_json
from .models import Graph, GraphVersion, User, utcnow

__all__ = ["NotStorable", "canonical_json", "add_version", "create_graph", "document_sha256", "get_version"]


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
