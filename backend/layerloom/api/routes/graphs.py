"""Graphs: checking a document, and saving it as a named graph with immutable, numbered versions.

A document is stored when its envelope parses (format, version, nodes and edges as objects); compile
errors (bad params, shapes, cycles…) are allowed, so a half-drawn graph can be saved as a draft, and
each save answers with the compiler's check. Only a graph whose check is ok can be trained.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Body, Path, Query
from fastapi.responses import JSONResponse
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ...graph import Analysis, Limits, analyze, summary_json
from ...store import graphs as store
from ...store.models import Graph, GraphVersion, utcnow
from ..deps import CurrentUser, GraphLimits, OwnedGraph, Paging, SessionDep
from ..errors import NotFound, Unprocessable, problem
from ..routing import make_router
from ..schemas import (
    MAX_INT,
    WholeNumber,
    AnalysisPublic,
    GraphCheck,
    GraphCreate,
    GraphDetail,
    GraphPublic,
    GraphSaved,
    GraphUpdate,
    GraphVersionCreate,
    GraphVersionInfo,
    GraphVersionPublic,
    Page,
)

router = make_router("graphs")


@router.post("/graphs/validate", response_model=AnalysisPublic)
def validate_graph(document: Annotated[dict[str, Any], Body()], _user: CurrentUser,
                   limits: GraphLimits) -> JSONResponse:
    """Check a graph document without storing it: every problem, shapes, parameter counts and the
    summary table. A graph with errors is still a 200 (``ok: false``); only a request that is not a
    JSON object is a 4xx."""
    analysis = analyze(document, limits)
    # Returned as a response, not a dict: re-validating a 10,000-node answer through the response
    # model took longer than producing it (response_model still documents the shape).
    return JSONResponse({**analysis.to_json(), "summary": summary_json(analysis)})


@router.post("/graphs", status_code=201, response_model=GraphSaved)
def create_graph(body: GraphCreate, user: CurrentUser, session: SessionDep, limits: GraphLimits) -> GraphSaved:
    """Create a graph with ``document`` as version 1."""
    analysis = _storable(body.document, limits)
    graph, version = store.create_graph(session, user, body.name or analysis.name, body.document)
    session.commit()
    return _saved(graph, version, analysis)


@router.get("/graphs", response_model=Page[GraphPublic])
def list_graphs(
    user: CurrentUser,
    session: SessionDep,
    paging: Paging,
    name: Annotated[str | None, Query(max_length=200, description="Only graphs whose name contains this, "
                                                                   "ignoring case.")] = None,
) -> Page[GraphPublic]:
    """The user's graphs, most recently changed first."""
    query = select(Graph).where(Graph.owner_id == user.id)
    if name:
        query = query.where(Graph.name.ilike(f"%{_escape_like(name)}%", escape="\\"))
    count = session.scalar(select(func.count()).select_from(query.subquery()))
    rows = session.scalars(
        query.order_by(Graph.updated_at.desc(), Graph.id).offset(paging.offset).limit(paging.limit)).all()
    return Page(data=[GraphPublic.model_validate(g) for g in rows], count=count or 0)


@router.get("/graphs/{graph_id}", response_model=GraphDetail)
def get_graph(graph: OwnedGraph, session: SessionDep) -> GraphDetail:
    """The graph with its latest version's document."""
    version = _version(session, graph, graph.latest_version)
    return GraphDetail(**GraphPublic.model_validate(graph).model_dump(),
                       version=GraphVersionPublic.model_validate(version))


@router.patch("/graphs/{graph_id}", response_model=GraphPublic)
def update_graph(body: GraphUpdate, graph: OwnedGraph, session: SessionDep) -> GraphPublic:
    """Rename a graph (its versions are immutable; save a new one to change the document)."""
    graph.name = body.name
    graph.updated_at = utcnow()
    session.commit()
    return GraphPublic.model_validate(graph)


@router.delete("/graphs/{graph_id}", status_code=204)
def delete_graph(graph: OwnedGraph, session: SessionDep) -> None:
    """Delete a graph and its versions. Jobs keep their own copy of the document they trained."""
    session.delete(graph)
    session.commit()


@router.post("/graphs/{graph_id}/versions", status_code=201, response_model=GraphSaved)
def create_graph_version(body: GraphVersionCreate, graph: OwnedGraph, session: SessionDep,
                         limits: GraphLimits) -> GraphSaved:
    """Save ``document`` as the graph's next version (numbers go 1, 2, 3…)."""
    analysis = _storable(body.document, limits)
    version = store.add_version(session, graph, body.document)
    session.commit()
    return _saved(graph, version, analysis)


@router.get("/graphs/{graph_id}/versions", response_model=Page[GraphVersionInfo])
def list_graph_versions(graph: OwnedGraph, session: SessionDep, paging: Paging) -> Page[GraphVersionInfo]:
    """The graph's versions, newest first, without their documents."""
    rows = session.scalars(
        select(GraphVersion).where(GraphVersion.graph_id == graph.id)
        .order_by(GraphVersion.number.desc()).offset(paging.offset).limit(paging.limit)
    ).all()
    return Page(data=[GraphVersionInfo.model_validate(v) for v in rows], count=graph.latest_version)


@router.get("/graphs/{graph_id}/versions/{number}", response_model=GraphVersionPublic)
def get_graph_version(graph: OwnedGraph, session: SessionDep,
                      number: Annotated[int, WholeNumber, Path(ge=1, le=MAX_INT)]) -> GraphVersionPublic:
    return GraphVersionPublic.model_validate(_version(session, graph, number))


def _escape_like(text: str) -> str:
    """``%`` and ``_`` in a search are literal characters, not LIKE wildcards."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _storable(document: dict[str, Any], limits: Limits) -> Analysis:
    """Analyze a document about to be saved; 422 when its envelope does not parse or a database
    could not hold it."""
    analysis = analyze(document, limits)
    if analysis.graph is None:
        raise Unprocessable("The document is not a graph that can be saved; see errors.",
                            [issue.to_json() for issue in analysis.errors])
    try:
        store.canonical_json(document, field="document")
    except store.NotStorable as err:
        raise Unprocessable(str(err), [problem("not_storable", str(err), field=err.field)]) from None
    return analysis


def _version(session: Session, graph: Graph, number: int) -> GraphVersion:
    version = store.get_version(session, graph, number)
    if version is None:
        raise NotFound(f"Graph {graph.id!r} has no version {number}; it has versions 1 to {graph.latest_version}.")
    return version


def _saved(graph: Graph, version: GraphVersion, analysis: Analysis) -> GraphSaved:
    return GraphSaved(
        graph=GraphPublic.model_validate(graph),
        version=GraphVersionPublic.model_validate(version),
        check=GraphCheck(ok=analysis.ok, errors=[i.to_json() for i in analysis.errors],
                         warnings=[i.to_json() for i in analysis.warnings]),
    )
