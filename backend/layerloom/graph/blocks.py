"""Blocks as a compiler pass: every Block call is expanded into its inner nodes before the checks.

A block is a named subgraph in the document's ``blocks``; a node ``{"type": "Block", "params":
{"block": "name", "args": {...}}}`` calls it. ``expand_blocks`` rewrites the document into one flat
graph whose inner nodes are named ``call.inner`` (``stage2_b1.conv1``; nested calls give
``stage2.b1.conv1``), with the call's arguments substituted into the inner params. The compiler then
runs its ordinary checks and inference on that flat graph, and ``Expansion.translate`` points each
issue back at the call: ``node`` is the top-level call, ``path`` the chain down to the inner node,
and the message starts ``stage2_b1 › conv1: ...``.

A block's Input and Output nodes become port nodes: identities that keep their ids (so the editor can
show the shape each call gives them) and their types, but are neither graph inputs nor heads. An
Input port may declare ``shape`` and ``dtype``; without them it takes what the call feeds it.

The builder needs no special case: ids with dots become nested submodules (``stage2_b1.conv1.weight``)
and a call that ``share``\\ s another one simply shares every inner node with its counterpart.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .catalog import Layer, Params, ShapeError, TensorSpec, format_shape
from .lazy import torch_ops
from .format import ARG_TYPE_WORDS, ArgValue, Block, Edge, Graph, Node, convert_arg

BLOCK_TYPE = "Block"
SEPARATOR = " › "  # how a path inside blocks is written in messages: stage2_b1 › conv1
_SKIP = "_skip"  # code of the placeholder's own non-issue; translate() drops it
_MAX_PARAM_DEPTH = 32


class BlockCallParams(BaseModel):
    """Params of a Block node."""

    model_config = ConfigDict(extra="forbid")

    block: str = Field(..., min_length=1, description="Name of the block in the document's 'blocks'.")
    args: dict[str, ArgValue] = Field(default_factory=dict, description="Values for the block's arguments.")


# ---- port and placeholder layers (never in the public catalog) ------------------------------------


class _InputPortParams(Params):
    shape: list[Annotated[int, Field(ge=1, le=10_000_000)]] | None = Field(None, min_length=1, max_length=4)
    dtype: Literal["float32", "int64", "int32"] | None = None


class InputPort(Layer):
    """An Input inside a block: passes on what the call feeds this port, checking the declared shape."""

    type = "Input"
    category = "Inputs/Outputs"
    doc = "An input port of a block."
    params_model = _InputPortParams
    accepts_int = True
    mask_role = "pass"  # a Keras mask travels into the block (used once masks exist in the catalog)

    def output(self, p: _InputPortParams, inputs: list[TensorSpec]) -> TensorSpec:
        spec = inputs[0]
        if p.shape is not None and tuple(p.shape) != spec.shape:
            raise ShapeError(f"this block input expects shape {format_shape(tuple(p.shape))}, but the call feeds it "
                             f"{spec}; feed it that shape, or remove 'shape' so it takes any.")
        if p.dtype is not None and ("float" if p.dtype == "float32" else "int") != spec.dtype:
            raise ShapeError(f"this block input expects {p.dtype} values, but the call feeds it "
                             f"{'integer ids' if spec.dtype == 'int' else 'float values'}.", code="dtype")
        return spec

    def emit(self, call: Any, p: Any, args: list[Any]) -> Any:
        return args[0]


class _OutputPortParams(Params):
    # An Output inside a block is a port, not a head: a loss or metrics written on it are ignored.
    model_config = ConfigDict(extra="ignore", frozen=True)


class OutputPort(Layer):
    type = "Output"
    category = "Inputs/Outputs"
    doc = "An output port of a block."
    params_model = _OutputPortParams
    accepts_int = True
    mask_role = "pass"

    def output(self, p: Any, inputs: list[TensorSpec]) -> TensorSpec:
        return inputs[0]

    def emit(self, call: Any, p: Any, args: list[Any]) -> Any:
        return args[0]


class _Unexpanded(Layer):
    """Stands in for a call that could not be expanded (its error is already reported), so that its
    edges stay valid and the nodes after it are skipped quietly, as after any node with an error."""

    type = BLOCK_TYPE
    category = "Core"
    doc = "A block call that has an error."
    min_inputs = 0
    max_inputs = None
    num_outputs = 1 << 20

    def output(self, p: Any, inputs: list[TensorSpec]) -> TensorSpec:
        raise ShapeError("", code=_SKIP)


class _TimeInputPort(InputPort):
    """The input port of a block under TimeDistributed: takes the (time, *step) tensor the call feeds
    it; a declared ``shape`` is one step's."""

    def output(self, p: _InputPortParams, inputs: list[TensorSpec]) -> TensorSpec:
        spec = inputs[0]
        if len(spec.shape) < 2:
            raise ShapeError(f"TimeDistributed needs a (time, ...) input with at least two axes, got shape {spec}.")
        InputPort.output(self, p, [TensorSpec(spec.shape[1:], spec.dtype)])
        return spec


class _TimeFold(Layer):
    """(batch, time, *step) → (batch·time, *step): every step goes through the block as a sample."""

    type = "Input"
    category = "Inputs/Outputs"
    doc = "The steps of a TimeDistributed block's input."
    params_model = _OutputPortParams
    accepts_int = True

    def output(self, p: Any, inputs: list[TensorSpec]) -> TensorSpec:
        return TensorSpec(inputs[0].shape[1:], inputs[0].dtype)

    def emit(self, call: Any, p: Any, args: list[Any]) -> Any:
        return call.function(torch_ops.fold_time, args[0])


class _TimeUnfold(Layer):
    """An output port of a block under TimeDistributed: (batch·time, *out) back to (batch, time, *out),
    the batch and time of the call's input (its port 1)."""

    type = "Output"
    category = "Inputs/Outputs"
    doc = "An output port of a TimeDistributed block."
    params_model = _OutputPortParams
    accepts_int = True
    min_inputs = max_inputs = 2

    def output(self, p: Any, inputs: list[TensorSpec]) -> TensorSpec:
        return TensorSpec((inputs[1].shape[0], *inputs[0].shape), inputs[0].dtype)

    def emit(self, call: Any, p: Any, args: list[Any]) -> Any:
        return call.function(torch_ops.unfold_time, args[0], args[1])


INPUT_PORT, OUTPUT_PORT, UNEXPANDED = InputPort(), OutputPort(), _Unexpanded()
TIME_INPUT, TIME_FOLD, TIME_UNFOLD = _TimeInputPort(), _TimeFold(), _TimeUnfold()
TIME_DISTRIBUTED = "TimeDistributed"


def time_distributed_block(node: Any) -> bool:
    """Whether a node is a TimeDistributed over a Block call (expanded like a call, step by step)."""
    if node.type != TIME_DISTRIBUTED or not isinstance(node.params, dict):
        return False
    inner = node.params.get("layer")
    return isinstance(inner, dict) and inner.get("type") == BLOCK_TYPE


# ---- the result ------------------------------------------------------------------------------------


@dataclass(slots=True)
class CallInfo:
    """One Block call after expansion. Ids are expanded ids (``s2`` or, nested, ``s2.b1``)."""

    id: str
    block: str
    args: dict[str, ArgValue]
    index: int  # position among its siblings, for stable ordering
    parent: str | None = None  # the call this one sits in
    inputs: list[str] = field(default_factory=list)  # its Input port nodes, by port
    outputs: list[str] = field(default_factory=list)  # its Output port nodes, by port
    members: list[str] = field(default_factory=list)  # direct inner nodes and calls, in the block's order
    nodes: list[str] = field(default_factory=list)  # every expanded node inside it, nested ones too
    share: str | None = None  # the call whose weights this one reuses (the root of a chain)
    time_distributed: bool = False  # a TimeDistributed over the block: applied to every step


@dataclass(slots=True)
class BlockIssue:
    """An issue found by the expansion itself; the compiler turns it into an ``Issue``."""

    code: str
    message: str
    node: str | None = None
    edge: int | None = None
    field: str | None = None
    path: list[str] | None = None


@dataclass(slots=True)
class FlatNode:
    """A node of the expanded graph: what the checks read of a ``format.Node``, built without
    pydantic's cost (the values come from an already validated document)."""

    id: str
    type: str
    params: dict[str, Any]
    share: str | None = None


@dataclass(slots=True)
class FlatEdge:
    source: str
    target: str
    source_port: int = 0
    target_port: int = 0


@dataclass(slots=True)
class FlatGraph:
    nodes: list[FlatNode]
    edges: list[FlatEdge]


@dataclass(slots=True)
class Expansion:
    graph: Graph | FlatGraph  # the graph the checks run on: the document itself when it calls no block
    calls: dict[str, CallInfo] = field(default_factory=dict)
    layers: dict[str, Layer] = field(default_factory=dict)  # port and placeholder nodes: their layer
    local_ids: dict[str, str] = field(default_factory=dict)  # expanded id -> the id written in its block
    issues: list[BlockIssue] = field(default_factory=list)
    fatal: bool = False  # too large to check further
    edge_origin: list[tuple[str | None, int]] | None = None  # per flat edge: (call it is in, index there)
    quiet: set[str] = field(default_factory=set)  # nodes whose further issues would repeat a reported one

    @property
    def has_blocks(self) -> bool:
        return bool(self.calls) or bool(self.layers)

    def point_at_calls(self, issues: list[Any]) -> list[Any]:
        """Every issue of the flat graph translated (see ``translate``). An unused output port of a call
        is one warning saying so, in place of one for each inner node that only feeds that port."""
        if not self.has_blocks:
            return issues
        unused_ports = {i.node for i in issues if i.code == "unreachable" and self.layers.get(i.node) is OUTPUT_PORT}
        calls_with_unused_port = {nid.rsplit(".", 1)[0] for nid in unused_ports}
        out = []
        for issue in issues:
            if issue.code == "unreachable" and issue.node in self.local_ids:
                call_id = issue.node.rsplit(".", 1)[0]
                if issue.node in unused_ports:
                    call = self.calls[call_id]
                    issue.message = (f"{issue.node}: output port {call.outputs.index(issue.node)} ('{self.local_ids[issue.node]}') "
                                     f"of block '{call.block}' is not used, so the layers that only feed it compute nothing.")
                elif call_id in calls_with_unused_port or any(call_id.startswith(c + ".") for c in calls_with_unused_port):
                    continue
            translated = self.translate(issue)
            if translated is not None:
                out.append(translated)
        return self._merge_repeats(out)

    def _merge_repeats(self, issues: list[Any]) -> list[Any]:
        """A mistake in a block's definition shows in every call of it; say it once and list the other
        calls (in ``nodes`` and the message) instead of repeating it for each of ResNet's 16 calls."""
        first_of: dict[tuple, Any] = {}
        others: dict[int, list[str]] = {}
        out = []
        for issue in issues:
            if issue.path and len(issue.path) > 1 and issue.path[0] in self.calls:
                top = issue.path[0]
                key = (self.calls[top].block, issue.code, issue.severity, issue.field, tuple(issue.path[1:]),
                       issue.message.replace(top + SEPARATOR, "\0"))
                first = first_of.setdefault(key, issue)
                if first is not issue:
                    others.setdefault(id(first), []).append(top)
                    continue
            out.append(issue)
        for issue in out:
            more = others.get(id(issue))
            if more:
                shown = ", ".join(more[:5]) + (f" and {len(more) - 5} more" if len(more) > 5 else "")
                issue.message += f" (the same in {shown})"
                issue.nodes = [issue.node, *more]
        return out

    def _is_expanded(self, name: str) -> bool:
        """An id of the flat graph inside a call (or one an edge in a block names, even if missing)."""
        return name in self.local_ids or name in self.calls or name.rsplit(".", 1)[0] in self.calls

    def translate(self, issue: Any) -> Any | None:
        """Point an issue from the flat graph at the document: returns the issue, changed in place,
        or None when it repeats one the expansion already reported."""
        if not self.has_blocks:
            return issue
        if issue.code == _SKIP or (issue.node is not None and issue.node in self.quiet):
            return None
        if (issue.node in self.local_ids and self.layers.get(issue.node) is INPUT_PORT
                and issue.code in ("port_unfed", "port_fed_twice")):
            return None  # the call's own port check said it, in the call's terms
        message = _ID_RE.sub(lambda m: _display(m.group(0)) if self._is_expanded(m.group(0)) else m.group(0), issue.message)
        edge_call = None
        if issue.edge is not None and self.edge_origin is not None:
            edge_call, local = self.edge_origin[issue.edge]
            where = f"edge {local}" if edge_call is None else f"{_display(edge_call)}{SEPARATOR}edge {local}"
            message = re.sub(rf"\bedge {issue.edge}\b", where, message, count=1)
            issue.edge = local if edge_call is None else None
        inner = issue.node if issue.node and "." in issue.node else edge_call
        if inner:
            issue.path = inner.split(".")
            issue.node = issue.path[0]
            if not message.startswith(_display(inner)):
                message = f"{_display(inner)}: {message}"
        issue.message = message
        return issue


_ID_RE = re.compile(r"\b[A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z][A-Za-z0-9_]*)+\b")


def _display(expanded_id: str) -> str:
    return expanded_id.replace(".", SEPARATOR)


class _TooLarge(Exception):
    pass


# ---- the pass --------------------------------------------------------------------------------------


def expand_blocks(graph: Graph, max_nodes: int, max_edges: int, max_depth: int) -> Expansion:
    """Expand every Block call of ``graph``; without calls the graph is returned as it is."""
    if not any(n.type == BLOCK_TYPE or time_distributed_block(n) for n in graph.nodes):
        return Expansion(graph=graph)
    expander = _Expander(graph, max_nodes, max_edges, max_depth)
    try:
        expander.level(graph.nodes, graph.edges, context=None)
    except _TooLarge as err:
        return Expansion(graph=graph, issues=[BlockIssue("too_large", str(err), field="blocks")], fatal=True)
    return Expansion(graph=FlatGraph(expander.nodes, expander.edges), calls=expander.calls, layers=expander.layers,
                     local_ids=expander.local_ids, issues=expander.issues, edge_origin=expander.edge_origin,
                     quiet=expander.quiet)


@dataclass(slots=True)
class _Context:
    """The call whose block body is being expanded."""

    call: CallInfo
    stack: list[str]  # block names from the outermost call down to this one
    args: dict[str, ArgValue]
    declared: dict[str, Any]
    share_owner: str | None  # the expanded id of the call this one shares weights with
    time: bool = False  # the block is applied to every step (TimeDistributed): its ports fold and unfold


class _Expander:
    def __init__(self, graph: Graph, max_nodes: int, max_edges: int, max_depth: int) -> None:
        self.blocks: dict[str, Block] = graph.blocks
        self.max_nodes, self.max_edges, self.max_depth = max_nodes, max_edges, max_depth
        self.nodes: list[FlatNode] = []
        self.edges: list[FlatEdge] = []
        self.edge_origin: list[tuple[str | None, int]] = []
        self.calls: dict[str, CallInfo] = {}
        self.layers: dict[str, Layer] = {}
        self.local_ids: dict[str, str] = {}
        self.issues: list[BlockIssue] = []
        self.quiet: set[str] = set()

    def report(self, code: str, subject: str, message: str, field: str | None = None, edge: int | None = None) -> None:
        """An issue about ``subject`` (an expanded id; its top-level call becomes ``node``)."""
        parts = subject.split(".")
        self.issues.append(BlockIssue(code, f"{_display(subject)}: {message}", node=parts[0], field=field, edge=edge,
                                      path=parts if len(parts) > 1 else None))

    def add_node(self, node: FlatNode, local_id: str | None, layer: Layer | None = None) -> None:
        if len(self.nodes) >= self.max_nodes:
            raise _TooLarge(f"With its blocks expanded the graph has more than {self.max_nodes:,} nodes (the limit, "
                            "max_graph_nodes); call fewer or smaller blocks.")
        self.nodes.append(node)
        if local_id is not None:
            self.local_ids[node.id] = local_id
        if layer is not None:
            self.layers[node.id] = layer

    # One graph level: the document's top level (context None) or one call's block body.
    def level(self, nodes: list[Node], edges: list[Edge], context: _Context | None) -> None:
        prefix = context.call.id + "." if context else ""
        by_id = {n.id: n for n in nodes}
        calls: dict[str, CallInfo] = {}
        for index, node in enumerate(nodes):
            xid = prefix + node.id
            params = self.substitute(node.params, context, xid) if context else node.params
            if context is not None:
                context.call.members.append(xid)
            timed = time_distributed_block(node)
            if node.type == BLOCK_TYPE or timed:
                if timed:
                    extra = set(params) - {"layer"}
                    inner = params["layer"]
                    if extra or set(inner) - {"type", "params"}:
                        self.report("bad_param", xid, "TimeDistributed over a block takes "
                                    "{\"layer\": {\"type\": \"Block\", \"params\": {\"block\": ..., \"args\": ...}}}.",
                                    field="params.layer")
                        call = None
                    else:
                        call = self.call(node, xid, index, inner.get("params") or {}, by_id, context, time=True)
                else:
                    call = self.call(node, xid, index, params, by_id, context)
                if call is None:
                    self.add_node(FlatNode(id=xid, type=BLOCK_TYPE, params={}, share=None),
                                  node.id if context else None, UNEXPANDED)
                    self.quiet.add(xid)
                else:
                    calls[node.id] = call
                continue
            share = node.share and prefix + node.share
            layer = None
            if context is not None:
                if node.type == "Input" and context.time:
                    layer, share = TIME_INPUT, None
                    # the steps node the block's layers read: (batch·time, *step)
                    self.add_node(FlatNode(id=self.steps_id(xid, by_id), type="Input", params={}), node.id, TIME_FOLD)
                    self.edges.append(FlatEdge(source=xid, target=self.steps_id(xid, by_id)))
                    self.edge_origin.append((context.call.id, 0))
                elif node.type == "Output" and context.time:
                    layer, share = TIME_UNFOLD, None
                elif node.type == "Input":
                    layer, share = INPUT_PORT, None
                elif node.type == "Output":
                    layer, share = OUTPUT_PORT, None
                elif context.share_owner:
                    share = f"{context.share_owner}.{node.id}"
            self.add_node(FlatNode(id=xid, type=node.type, params=params, share=share),
                          node.id if context else None, layer)
        fed: dict[tuple[str, int], int] = {}
        for k, edge in enumerate(edges):
            source, source_port = prefix + edge.source, edge.source_port
            target, target_port = prefix + edge.target, edge.target_port
            where = f"edge {k}" if context is None else f"{_display(context.call.id)}{SEPARATOR}edge {k}"
            if context is not None and context.time:
                port = by_id.get(edge.source) if edge.source not in calls else None
                if port is not None and port.type == "Input":
                    source = self.steps_id(source, by_id)
            if context is not None:
                port = by_id.get(edge.target) if edge.target not in calls else None
                if port is not None and port.type == "Input":
                    self.report_edge(where, k, context, f"{edge.target} is an input port of block '{context.call.block}'; "
                                     "it takes what the call feeds it, not an edge inside the block.", "target")
                    continue
                port = by_id.get(edge.source) if edge.source not in calls else None
                if port is not None and port.type == "Output":
                    self.report_edge(where, k, context, f"{edge.source} is an output port of block '{context.call.block}'; "
                                     "nothing inside the block can take its value (take it from the layer feeding it).",
                                     "source")
                    continue
            if edge.source in calls:
                call = calls[edge.source]
                if source_port >= len(call.outputs):
                    self.report_edge(where, k, context, f"{edge.source} (block '{call.block}') has output ports "
                                     f"0..{len(call.outputs) - 1}, not {source_port}.", "source_port")
                    continue
                source, source_port = call.outputs[source_port], 0
            if edge.target in calls:
                call = calls[edge.target]
                if target_port >= len(call.inputs):
                    self.report_edge(where, k, context, f"{edge.target} (block '{call.block}') has input ports "
                                     f"0..{len(call.inputs) - 1}, not {target_port}.", "target_port")
                    continue
                if (call.id, target_port) in fed:
                    first = edges[fed[call.id, target_port]].source
                    self.report("port_fed_twice", call.id, f"input port {target_port} is fed by both {first} and "
                                f"{edge.source}; each input port takes one edge.", field="inputs")
                    continue
                fed[call.id, target_port] = k
                target, target_port = call.inputs[target_port], 0
            if len(self.edges) >= self.max_edges:
                raise _TooLarge(f"With its blocks expanded the graph has more than {self.max_edges:,} edges (the limit, "
                                "max_graph_edges); call fewer or smaller blocks.")
            self.edges.append(FlatEdge(source=source, target=target, source_port=source_port,
                                                   target_port=target_port))
            self.edge_origin.append((context.call.id if context else None, k))
        if context is not None and context.time:
            first_input = next((n for n in nodes if n.type == "Input"), None)
            if first_input is not None:  # every output unfolds to the batch and time of the (one) input
                for n in nodes:
                    if n.type == "Output":
                        self.edges.append(FlatEdge(source=prefix + first_input.id, target=prefix + n.id, target_port=1))
                        self.edge_origin.append((context.call.id, 0))
        for call in calls.values():
            names = [self.local_ids[p] for p in call.inputs]
            for port, port_node in enumerate(call.inputs):
                if (call.id, port) not in fed:
                    self.report("port_unfed", call.id, f"input port {port} ('{names[port]}') of block '{call.block}' is "
                                f"not connected; the block takes {len(names)} input(s): {', '.join(names)}.",
                                field="inputs")

    @staticmethod
    def steps_id(port_xid: str, siblings: dict[str, Node]) -> str:
        """The id of the steps node after a TimeDistributed block's input port (free among its siblings)."""
        local = port_xid.rsplit(".", 1)[-1] + "_steps"
        while local in siblings:
            local += "_"
        return port_xid.rsplit(".", 1)[0] + "." + local

    def report_edge(self, where: str, k: int, context: _Context | None, message: str, field: str) -> None:
        if context is None:
            self.issues.append(BlockIssue("port_out_of_range", f"{where}: {message}", edge=k, field=field))
        else:
            parts = context.call.id.split(".")
            self.issues.append(BlockIssue("port_out_of_range", f"{where}: {message}", node=parts[0], field=field,
                                          path=parts))

    def call(self, node: Node, xid: str, index: int, params: dict[str, Any], siblings: dict[str, Node],
             context: _Context | None, time: bool = False) -> CallInfo | None:
        """Expand one Block node; None (with the error reported) when it cannot be."""
        if node.share is not None and not params:  # a sharing call may leave out its params: the owner's
            owner, seen = siblings.get(node.share), {node.id}
            while owner is not None and owner.share is not None and not owner.params and owner.id not in seen:
                seen.add(owner.id)
                owner = siblings.get(owner.share)
            if owner is not None and owner.params:
                params = self.substitute(owner.params, context, xid) if context else owner.params
        parsed = self.parse_call(xid, params)
        if parsed is None:
            return None
        stack = context.stack if context else []
        definition = self.blocks.get(parsed.block)
        if definition is None:
            close = difflib.get_close_matches(parsed.block, list(self.blocks), n=1)
            hint = f" Did you mean '{close[0]}'?" if close else (
                f" The document defines: {', '.join(self.blocks)}." if self.blocks else " The document defines no blocks.")
            self.report("unknown_block", xid, f"there is no block named '{parsed.block}'.{hint}", field="params.block")
            return None
        if parsed.block in stack:
            chain = SEPARATOR.join(stack[stack.index(parsed.block):] + [parsed.block])
            self.report("block_recursion", xid, f"block '{parsed.block}' calls itself ({chain}); a block cannot "
                        "contain itself, directly or through other blocks.", field="params.block")
            return None
        if len(stack) >= self.max_depth:
            self.report("too_deep", xid, f"blocks are nested more than {self.max_depth} deep "
                        f"({SEPARATOR.join(stack + [parsed.block])}); the limit is max_block_depth.", field="params.block")
            return None
        share_owner = f"{context.share_owner}.{node.id}" if context and context.share_owner else None
        if node.share is not None and share_owner is None:
            owner = self.share_owner(node, xid, parsed, siblings, context)
            if owner is None:
                return None
            share_owner, parsed = owner
        args = self.resolve_args(xid, parsed, definition)
        if args is None:
            return None
        if time and sum(n.type == "Input" for n in definition.nodes) != 1:
            self.report("bad_param", xid, f"TimeDistributed applies a block with one input to every step, but block "
                        f"'{parsed.block}' has {sum(n.type == 'Input' for n in definition.nodes)} inputs.",
                        field="params.layer.params.block")
            return None
        info = CallInfo(xid, parsed.block, args, index, parent=context.call.id if context else None,
                        share=share_owner, time_distributed=time)
        self.calls[xid] = info
        before = len(self.nodes)
        self.level(definition.nodes, definition.edges,
                   _Context(info, stack + [parsed.block], args, definition.args, share_owner, time))
        info.nodes = [n.id for n in self.nodes[before:]]
        prefix = xid + "."
        info.inputs = [prefix + n.id for n in definition.nodes if n.type == "Input"]
        info.outputs = [prefix + n.id for n in definition.nodes if n.type == "Output"]
        if not info.inputs or not info.outputs:
            self.report("block_ports", xid, f"block '{parsed.block}' needs at least one Input and one Output node "
                        "(its ports).", field="params.block")
            self.quiet.update(info.nodes)
            del self.calls[xid]
            return None
        return info

    def parse_call(self, xid: str, params: dict[str, Any]) -> BlockCallParams | None:
        try:
            return BlockCallParams.model_validate(params)
        except ValidationError as err:
            for e in err.errors():
                where = ".".join(str(p) for p in e["loc"])
                if e["type"] == "missing":
                    text = f"a Block node needs the parameter '{where}' (the name of a block)."
                elif e["type"] == "extra_forbidden":
                    text = f"unknown parameter '{where}'; a Block node takes 'block' and 'args'."
                else:
                    text = f"params.{where}: {e['msg']}."
                self.report("bad_param", xid, text, field=f"params.{where}")
            return None

    def share_owner(self, node: Node, xid: str, parsed: BlockCallParams, siblings: dict[str, Node],
                    context: _Context | None) -> tuple[str, BlockCallParams] | None:
        """The root call this one shares weights with, and the call params it takes from it."""
        root, seen = node.share, {node.id}
        while root in siblings and siblings[root].share is not None and root not in seen:
            seen.add(root)
            root = siblings[root].share
        prefix = context.call.id + "." if context else ""
        owner = siblings.get(root)  # type: ignore[arg-type]
        if root in seen or owner is None:
            self.report("share_missing", xid, f"shares the weights of {node.share!r}, but that is not another call "
                        "(or the shares form a loop).", field="share")
            return None
        if owner.type != BLOCK_TYPE:
            self.report("share_type", xid, f"a Block call can only share weights with another call of the same block, "
                        f"but {root} is a {owner.type}.", field="share")
            return None
        owner_params = self.substitute(owner.params, context, prefix + str(root)) if context else owner.params
        try:
            theirs = BlockCallParams.model_validate(owner_params)
        except ValidationError:
            return None  # the owner reports its own params
        if theirs.block != parsed.block:
            self.report("share_type", xid, f"calls block '{parsed.block}' but shares the weights of {root}, which calls "
                        f"'{theirs.block}'; shared calls must call the same block.", field="share")
            return None
        if parsed.args and parsed.args != theirs.args:
            self.report("share_params", xid, f"shares the weights of {root}, so it takes {root}'s arguments; remove its "
                        "own 'args' or make them equal.", field="params.args")
            return None
        return prefix + str(root), theirs

    def resolve_args(self, xid: str, parsed: BlockCallParams, definition: Block) -> dict[str, ArgValue] | None:
        declared = definition.args
        ok, values = True, {}
        for name, value in parsed.args.items():
            spec = declared.get(name)
            if spec is None:
                takes = f"it takes {', '.join(declared)}" if declared else "it takes no arguments"
                self.report("unknown_arg", xid, f"block '{parsed.block}' has no argument '{name}'; {takes}.",
                            field=f"params.args.{name}")
                ok = False
                continue
            converted = convert_arg(value, spec.type)
            if converted is None:
                self.report("bad_arg", xid, f"argument '{name}' of block '{parsed.block}' must be {ARG_TYPE_WORDS[spec.type]}, "
                            f"got {value!r}.", field=f"params.args.{name}")
                ok = False
                continue
            values[name] = converted
        for name, spec in declared.items():
            if name not in values and name not in parsed.args:
                if spec.default is None:
                    self.report("missing_arg", xid, f"block '{parsed.block}' needs the argument '{name}' "
                                f"({ARG_TYPE_WORDS[spec.type]}); give it in params.args.", field=f"params.args.{name}")
                    ok = False
                else:
                    values[name] = spec.default
        return values if ok else None

    def substitute(self, value: Any, context: _Context | None, xid: str, depth: int = 0) -> Any:
        """``value`` with every ``{"arg": name}`` replaced by the call's argument. Layer params nest a
        few levels at most; anything deeper is left as it is for the params check to refuse."""
        if depth > _MAX_PARAM_DEPTH:
            return value
        if isinstance(value, dict):
            if len(value) == 1 and "arg" in value and context is not None:
                name = value["arg"]
                if isinstance(name, str) and name in context.args:
                    return context.args[name]
                declared = ", ".join(context.declared) or "none"
                self.report("unknown_arg", xid, f"refers to the argument {name!r}, which block '{context.call.block}' "
                            f"does not declare (it declares: {declared}).", field="params")
                self.quiet.add(xid)
                return value
            return {k: self.substitute(v, context, xid, depth + 1) for k, v in value.items()}
        if isinstance(value, list):
            return [self.substitute(v, context, xid, depth + 1) for v in value]
        return value


# ---- what the analysis reports about calls -----------------------------------------------------


def call_totals(analysis: Any, call: CallInfo) -> tuple[int, int]:
    """(trainable, non-trainable) weights the call owns; 0 for a call sharing another's weights."""
    trainable = non_trainable = 0
    for nid in call.nodes:
        info = analysis.nodes.get(nid)
        if info is not None:
            trainable += info.trainable
            non_trainable += info.non_trainable
    return trainable, non_trainable


def calls_json(analysis: Any, nodes: dict[str, dict[str, Any]]) -> None:
    """Add each call's entry to the analysis's ``nodes`` (type "Block", output shapes by port, totals,
    its inner nodes) and mark every inner node with the call it sits in."""
    for call in analysis.calls.values():
        outputs = [analysis.nodes[p].output if p in analysis.nodes else None for p in call.outputs]
        sources = [(analysis.nodes[p].inputs or [None])[0] if p in analysis.nodes else None for p in call.inputs]
        trainable, non_trainable = call_totals(analysis, call)
        nodes[call.id] = {
            "type": TIME_DISTRIBUTED if call.time_distributed else BLOCK_TYPE,
            "block": call.block,
            "args": call.args,
            "inputs": sources if all(sources) else None,
            "output_shape": list(outputs[0].shape) if outputs and outputs[0] else None,
            "output_shapes": [list(o.shape) if o else None for o in outputs],
            "dtype": outputs[0].dtype if outputs and outputs[0] else None,
            "params": {"trainable": trainable, "non_trainable": non_trainable, "total": trainable + non_trainable},
            "shared_with": call.share,
            "call": call.parent,
            "inner": list(call.members),
        }
        for port, nid in enumerate(call.inputs + call.outputs):
            if nid in nodes:
                nodes[nid]["port"] = port if port < len(call.inputs) else port - len(call.inputs)
        for nid in call.members:
            if nid in nodes:
                nodes[nid]["call"] = call.id
