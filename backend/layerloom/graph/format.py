"""The graph document (format ``layerloom.graph``) as pydantic models, and its version upgrades.

The editor, the REST API, the Python client and storage all exchange this one document. Only its
envelope is checked here (ids, edges, ports as integers); each node's ``params`` are checked against
the layer catalog by the validator, so that every problem can be pointed at a node and field.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

FORMAT_NAME = "layerloom.graph"
CURRENT_VERSION = 1

# Node ids become Python attribute names, forward() locals and state_dict keys, so they are
# restricted to identifiers. A dot would split a state_dict key, a dash is not an attribute name.
# In Python, check with ``fullmatch`` (is_node_id): ``$`` with ``re.match`` also accepts a final "\n".
NODE_ID_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")
# The same rule anchored, for pydantic ``pattern`` and JSON Schema: their regex engines (Rust's,
# ECMAScript's) search unless anchored, and their ``$`` matches only at the very end of the text.
NODE_ID_PATTERN = f"^{NODE_ID_RE.pattern}$"


def is_node_id(text: str) -> bool:
    """Whether ``text`` as a whole is a valid node id (no trailing newline, nothing around it)."""
    return NODE_ID_RE.fullmatch(text) is not None


class Edge(BaseModel):
    """A wire from one node's output port to another node's input port."""

    model_config = ConfigDict(extra="forbid")

    source: str
    target: str
    source_port: int = Field(0, ge=0)
    target_port: int = Field(0, ge=0)


class Node(BaseModel):
    """One call of a layer. ``share`` names another node whose weights this call reuses."""

    model_config = ConfigDict(extra="forbid")

    id: str
    type: str
    params: dict[str, Any] = Field(default_factory=dict)
    share: str | None = None


ArgValue = bool | int | float | str  # bool first: JSON true must not become the int 1


ARG_TYPE_WORDS = {"int": "an integer", "float": "a number", "str": "a string", "bool": "true or false"}


def convert_arg(value: ArgValue, kind: str) -> ArgValue | None:
    """``value`` as a block argument of type ``kind``, or None when it is not one (a bool is no int)."""
    if kind == "bool":
        return value if isinstance(value, bool) else None
    if isinstance(value, bool):
        return None
    if kind == "int":
        return value if isinstance(value, int) else None
    if kind == "float":
        return float(value) if isinstance(value, (int, float)) else None
    return value if isinstance(value, str) else None


class BlockArg(BaseModel):
    """One argument a block declares. Inner params refer to it as ``{"arg": "<name>"}``; a call
    passes a value in ``params.args`` or takes ``default``. Without a default the argument is required."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["int", "float", "str", "bool"]
    default: ArgValue | None = None
    description: str = Field("", max_length=2_000)

    @model_validator(mode="after")
    def _default_has_the_type(self) -> "BlockArg":
        if self.default is not None:
            converted = convert_arg(self.default, self.type)
            if converted is None:
                raise ValueError(f"the default {self.default!r} is not {ARG_TYPE_WORDS[self.type]}")
            self.default = converted
        return self


BlockName = Annotated[str, StringConstraints(pattern=NODE_ID_PATTERN)]


class Block(BaseModel):
    """A named subgraph, defined once and called by ``Block`` nodes. Its Input nodes are its input
    ports and its Output nodes its output ports, in document order; an Input may leave out ``shape``
    (it then takes the shape of what each call feeds it)."""

    model_config = ConfigDict(extra="allow")  # editor data (e.g. a title) is kept and ignored

    description: str = Field("", max_length=10_000)
    args: dict[BlockName, BlockArg] = Field(default_factory=dict)
    nodes: list[Node]
    edges: list[Edge] = Field(default_factory=list)
    layout: dict[str, Any] = Field(default_factory=dict)


class Graph(BaseModel):
    """A whole graph document. ``layout`` and other UI data never change the compiled model;
    unknown top-level keys are kept (for the editor's own data) and ignored."""

    model_config = ConfigDict(extra="allow")

    format: Literal["layerloom.graph"] = FORMAT_NAME
    version: Literal[1] = CURRENT_VERSION
    name: str = Field("untitled", max_length=200)
    description: str = Field("", max_length=10_000)
    nodes: list[Node]
    edges: list[Edge] = Field(default_factory=list)
    layout: dict[str, Any] = Field(default_factory=dict)
    # Reusable subgraphs by name, called by nodes {"type": "Block", "params": {"block": name, "args": {...}}}.
    blocks: dict[BlockName, Block] = Field(default_factory=dict)


class GraphFormatError(ValueError):
    """The document is not a graph this Layerloom can read (wrong format or version)."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field  # the top-level key at fault, e.g. "version"


# Named upgrade steps, keyed by the version they upgrade *from*. Version 1 is the first published
# format, so there are none yet; each future change adds one step here and a frozen example of the
# old format under tests/fixtures/formats/.
Migration = Callable[[dict[str, Any]], dict[str, Any]]
MIGRATIONS: dict[int, tuple[str, Migration]] = {}


def _check_migrations() -> None:
    expected = list(range(1, CURRENT_VERSION))
    if sorted(MIGRATIONS) != expected:
        raise RuntimeError(f"graph-format migrations must cover versions {expected}, got {sorted(MIGRATIONS)}")


_check_migrations()


def upgrade(document: Any) -> dict[str, Any]:
    """Return ``document`` upgraded to the current version, or raise GraphFormatError.

    A document made by a newer Layerloom is refused rather than guessed at.
    """
    if not isinstance(document, dict):
        raise GraphFormatError("not_a_graph", "A graph must be a JSON object with 'nodes' and 'edges'.")
    fmt = document.get("format", FORMAT_NAME)
    if fmt != FORMAT_NAME:
        raise GraphFormatError("format", f"'format' must be '{FORMAT_NAME}', got {fmt!r}.", field="format")
    version = document.get("version", CURRENT_VERSION)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise GraphFormatError("version", f"'version' must be a positive integer, got {version!r}.", field="version")
    if version > CURRENT_VERSION:
        raise GraphFormatError(
            "version_unsupported",
            f"This graph uses format version {version}, made by a newer Layerloom; "
            f"this one reads versions up to {CURRENT_VERSION}. Upgrade Layerloom to open it.",
            field="version",
        )
    while version < CURRENT_VERSION:
        _name, step = MIGRATIONS[version]
        document = step(dict(document))
        version += 1
        document["version"] = version
    return document


def graph_json_schema() -> dict[str, Any]:
    """JSON Schema of the document envelope (node params are published per layer by the catalog)."""
    return Graph.model_json_schema()
