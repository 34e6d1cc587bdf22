"""Request and response bodies. Inputs (``…Create``, ``…Update``) and outputs (``…Public``) are
separate models, and ORM rows never leave the API: responses are built from these."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, Field, BeforeValidator, ConfigDict, StringConstraints

from ..store.models import DatasetKind

T = TypeVar("T")

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]

# Every integer a client sends (paging, seq numbers, version numbers) is bounded by this: the
# largest value an INTEGER column holds on PostgreSQL, far below SQLite's 2**63 (which overflowed).
MAX_INT = 2**31 - 1


def _whole_number(value: Any) -> Any:
    """Query and path integers are written in digits: ``0.0`` or ``1e3`` is refused, not rounded."""
    if isinstance(value, str) and not re.fullmatch(r"-?[0-9]+", value):
        raise ValueError(f"must be a whole number written in digits, got {value[:40]!r}")
    return value


# Use as ``Annotated[int, WholeNumber, Query(ge=..., le=MAX_INT)]``.
WholeNumber = BeforeValidator(_whole_number)


class _Public(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class Page(BaseModel, Generic[T]):
    """One page of a list: ``data`` holds the items, ``count`` how many there are in all."""

    data: list[T]
    count: int


# ---- errors -------------------------------------------------------------------------------


class Problem(BaseModel):
    """One problem, pointed at a graph node or edge (its index) and a field where it has one."""

    code: str
    message: str
    node: str | None = None
    edge: int | None = None
    field: str | None = None
    nodes: list[str] | None = None
    path: list[str] | None = None  # inside a block: the call chain down to the inner node
    severity: Literal["error", "warning"] | None = None


class ErrorResponse(BaseModel):
    detail: str
    errors: list[Problem]


# ---- graphs -------------------------------------------------------------------------------


class NodeAnalysis(BaseModel):
    """One node; inside a block its id is "call.inner". A Block call has its own entry with every
    output port's shape, its totals and its inner nodes' ids."""

    type: str
    inputs: list[str] | None
    output_shape: list[int] | None
    dtype: str | None
    params: dict[str, int]
    shared_with: str | None
    call: str | None = None  # the Block call this node sits in
    port: int | None = None  # for a block's Input / Output node: its port number
    block: str | None = None  # for a Block call: the block it calls, its arguments, outputs and inner nodes
    args: dict[str, bool | int | float | str] | None = None
    output_shapes: list[list[int] | None] | None = None
    inner: list[str] | None = None


class SummaryRow(BaseModel):
    node: str
    type: str
    output_shape: str
    params: int
    connected_to: list[str]
    shared_with: str | None
    block: str | None = None
    children: list["SummaryRow"] = []


class Summary(BaseModel):
    name: str
    rows: list[SummaryRow]
    total: int
    trainable: int
    non_trainable: int


class AnalysisPublic(BaseModel):
    """What the compiler found: every error and warning, each node's output shape and weights."""

    ok: bool
    name: str
    errors: list[Problem]
    warnings: list[Problem]
    nodes: dict[str, NodeAnalysis]
    order: list[str]
    totals: dict[str, int]
    summary: Summary


class GraphCheck(BaseModel):
    """The compiler's verdict on a saved version; a graph with errors is kept as a draft."""

    ok: bool
    errors: list[Problem]
    warnings: list[Problem]


class GraphCreate(BaseModel):
    """A new graph and its first document. ``name`` defaults to the document's own name."""

    name: Name | None = None
    document: dict[str, Any]


class GraphUpdate(BaseModel):
    name: Name


class GraphVersionCreate(BaseModel):
    document: dict[str, Any]


class GraphPublic(_Public):
    id: str
    name: str
    latest_version: int
    created_at: datetime
    updated_at: datetime


class GraphVersionInfo(_Public):
    number: int
    sha256: str
    created_at: datetime


class GraphVersionPublic(GraphVersionInfo):
    document: dict[str, Any]


class GraphDetail(GraphPublic):
    version: GraphVersionPublic


class GraphSaved(BaseModel):
    """The answer to a save: the graph, the version just written, and the compiler's check of it."""

    graph: GraphPublic
    version: GraphVersionPublic
    check: GraphCheck


# ---- datasets ------------------------------------------------------------------------------


class TargetDecision(BaseModel):
    """How a CSV target column became this array: the kind asked for (auto, categorical, numeric),
    the kind it got and why, and the other kind it can be switched to (PATCH target_kinds), if any."""

    column: str
    kind: Literal["categorical", "numeric"]
    requested: Literal["auto", "categorical", "numeric"]
    reason: str
    switch_to: Literal["categorical", "numeric"] | None = None
    auto_kind: Literal["categorical", "numeric"] | None = Field(None, description="What kind auto would choose.")


class ArrayInfo(BaseModel):
    name: str
    kind: str
    shape: list[int]
    dtype: str
    num_classes: int | None = None
    class_names: list[str] | None = None
    note: str | None = None
    target: TargetDecision | None = None


class DatasetDescription(BaseModel):
    """Arrays (matched to graph Input and Output ids by name), their shapes and the split sizes."""

    name: str
    arrays: list[ArrayInfo]
    sizes: dict[str, int]


class DatasetPublic(_Public):
    """A built-in (``id`` is its name, e.g. ``iris``) or one of the user's uploads (a UUID)."""

    id: str
    name: str
    kind: DatasetKind
    summary: str | None = None
    task: str | None = None
    description: DatasetDescription
    options: dict[str, Any] = {}
    size_bytes: int | None = None
    sha256: str | None = None
    created_at: datetime | None = None


# ---- health --------------------------------------------------------------------------------


class ComponentHealth(BaseModel):
    status: Literal["ok", "degraded", "error", "unknown"]
    detail: str = ""


class Health(BaseModel):
    status: Literal["ok", "degraded", "error"]
    components: dict[str, ComponentHealth]
