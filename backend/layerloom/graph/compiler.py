"""Validation and shape inference: graph document -> ``Analysis`` (every problem at once).

Steps, each collecting issues instead of stopping at the first: format version, envelope schema,
Block calls expanded into their inner nodes (graph/blocks.py, which also points issues found inside
a block back at the call), node ids and types, each node's params (pydantic, pointed at node and field), edges and ports,
shared layers, topological order (cycles named), per-node output shapes and weight counts in that
order (with each layer's own warnings, such as a Dense acting on the width of an image), limits,
then warnings for nodes whose result reaches no Output.

Shapes and weight counts come from each layer's rules in the catalog rather than from running
modules on meta tensors: PyTorch's meta kernels cost about half a millisecond per op, which would
put a 1,000-node graph at half a second. tests/unit/test_compiler_properties.py checks the rules
against the real modules on hundreds of random graphs.
"""

from __future__ import annotations

import gc
import heapq
import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import ValidationError

from ..settings import get_settings
from .blocks import CallInfo, Expansion, FlatGraph, calls_json, expand_blocks
from .catalog import Layer, Params, ShapeError, TensorSpec, Weight, get_layer, suggest_type
from .format import Graph, GraphFormatError, is_node_id, upgrade
from .masking import MaskSpec, infer_mask

Severity = Literal["error", "warning"]
MAX_MERGE_PORTS = 64

# Node ids become attributes of the generated module, so they must not hide the module's own: the
# public names of torch.fx.GraphModule in torch 2.13, written out so analysis needs no torch
# (tests/unit/test_validation.py checks the list against the installed torch).
RESERVED_IDS = frozenset({
    'T_destination', 'add_module', 'add_submodule', 'apply', 'bfloat16', 'buffers', 'call_super_init', 'children',
    'code', 'compile', 'cpu', 'cuda', 'delete_all_unused_submodules', 'delete_submodule', 'double', 'dump_patches',
    'eval', 'extra_repr', 'float', 'forward', 'get_buffer', 'get_extra_state', 'get_parameter', 'get_submodule',
    'graph', 'half', 'ipu', 'load_state_dict', 'modules', 'mtia', 'named_buffers', 'named_children',
    'named_modules', 'named_parameters', 'parameters', 'print_readable', 'recompile', 'register_backward_hook', 'register_buffer', 'register_forward_hook',
    'register_forward_pre_hook', 'register_full_backward_hook', 'register_full_backward_pre_hook', 'register_load_state_dict_post_hook', 'register_load_state_dict_pre_hook', 'register_module', 'register_parameter', 'register_state_dict_post_hook',
    'register_state_dict_pre_hook', 'requires_grad_', 'set_extra_state', 'set_submodule', 'share_memory', 'state_dict', 'to', 'to_empty',
    'to_folder', 'train', 'type', 'xpu', 'zero_grad',
    'inputs',
})


@dataclass(slots=True)
class Issue:
    """One problem, pointed at a node and field or at an edge (its index in ``edges``)."""

    code: str
    message: str
    node: str | None = None
    edge: int | None = None
    field: str | None = None
    severity: Severity = "error"
    nodes: list[str] | None = None  # every node involved, e.g. the nodes on a cycle
    # Inside a block: the call chain down to the inner node, e.g. ["stage2_b1", "conv1"]; ``node`` is
    # then the top-level call (its first element).
    path: list[str] | None = None

    def to_json(self) -> dict[str, Any]:
        out = {"code": self.code, "message": self.message, "severity": self.severity}
        for key in ("node", "edge", "field", "nodes", "path"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out


@dataclass(frozen=True, slots=True)
class Limits:
    max_params: int
    max_nodes: int
    max_edges: int
    max_tensor_elements: int
    max_block_depth: int = 16

    @classmethod
    def from_settings(cls) -> "Limits":
        s = get_settings()
        return cls(s.max_params, s.max_graph_nodes, s.max_graph_edges, s.max_tensor_elements, s.max_block_depth)


@dataclass(slots=True)
class NodeInfo:
    """What the compiler knows about one node (one call site)."""

    id: str
    type: str
    index: int  # position in the document, for stable ordering
    layer: Layer | None = None
    params: Params | None = None
    share: str | None = None  # the node owning the weights this call reuses (resolved to the root)
    inputs: list[str] | None = None  # source node ids by input port, once all ports are fed
    input_specs: list[TensorSpec] | None = None
    output: TensorSpec | None = None
    weights: list[Weight] = field(default_factory=list)  # empty for a shared call site
    mask: MaskSpec | None = None  # the Keras mask its output carries (graph/masking.py)

    @property
    def trainable(self) -> int:
        return sum(w.size for w in self.weights if w.trainable)

    @property
    def non_trainable(self) -> int:
        return sum(w.size for w in self.weights if not w.trainable)


@dataclass(slots=True)
class Analysis:
    """The validated graph: per-node shapes and weights in topological order, and every issue."""

    name: str = "untitled"
    graph: Graph | None = None
    nodes: dict[str, NodeInfo] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)
    # Block calls by expanded id ("s2", nested "s2.b1"); ``nodes`` holds their inner nodes as "s2.conv1".
    calls: dict[str, CallInfo] = field(default_factory=dict)

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == "error"]

    @property
    def warnings(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def input_ids(self) -> list[str]:
        return [n.id for n in self.nodes.values() if n.type == "Input" and "." not in n.id]  # not a block's ports

    @property
    def output_ids(self) -> list[str]:
        return [n.id for n in self.nodes.values() if n.type == "Output" and "." not in n.id]

    @property
    def trainable_params(self) -> int:
        return sum(n.trainable for n in self.nodes.values())

    @property
    def non_trainable_params(self) -> int:
        return sum(n.non_trainable for n in self.nodes.values())

    @property
    def total_params(self) -> int:
        return self.trainable_params + self.non_trainable_params

    def to_json(self) -> dict[str, Any]:
        nodes = {}
        for info in self.nodes.values():
            nodes[info.id] = {
                "type": info.type,
                "inputs": info.inputs,
                "output_shape": list(info.output.shape) if info.output else None,
                "dtype": info.output.dtype if info.output else None,
                "params": {"trainable": info.trainable, "non_trainable": info.non_trainable,
                           "total": info.trainable + info.non_trainable},
                "shared_with": info.share,
            }
            if info.mask is not None:
                nodes[info.id]["mask"] = {"steps": info.mask.steps, "source": info.mask.source}
        if self.calls:
            calls_json(self, nodes)  # one entry per call, and each inner node's call
        return {
            "ok": self.ok,
            "name": self.name,
            "errors": [i.to_json() for i in self.errors],
            "warnings": [i.to_json() for i in self.warnings],
            "nodes": nodes,
            "order": self.order,
            "totals": {"total": self.total_params, "trainable": self.trainable_params,
                       "non_trainable": self.non_trainable_params},
        }


def analyze(document: Any, limits: Limits | None = None) -> Analysis:
    """Validate a graph document and infer every node's output shape and weights."""
    with _gc_paused():
        return _analyze(document, limits or Limits.from_settings())


_gc_lock = threading.Lock()
_gc_pausers = 0


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while analysing. The analysis allocates many small objects
    and makes no cycles worth collecting, but with torch loaded each full collection walks millions
    of objects: a 5,000-node graph spent two thirds of its time in them. Counted, so concurrent
    analyses (API threads) re-enable it only when the last one finishes."""
    global _gc_pausers
    with _gc_lock:
        owned = _gc_pausers > 0 or gc.isenabled()  # else someone else turned it off: leave it alone
        if owned:
            _gc_pausers += 1
            gc.disable()
    try:
        yield
    finally:
        if owned:
            with _gc_lock:
                _gc_pausers -= 1
                if _gc_pausers == 0:
                    gc.enable()


def _analyze(document: Any, limits: Limits) -> Analysis:
    result = Analysis()
    try:
        document = upgrade(document)
    except GraphFormatError as err:
        result.issues.append(Issue(err.code, err.message, field=err.field))
        return result
    for key, limit in (("nodes", limits.max_nodes), ("edges", limits.max_edges)):
        items = document.get(key)
        if isinstance(items, list) and len(items) > limit:
            result.issues.append(Issue("too_large", f"The graph has {len(items)} {key}; the limit is {limit}.", field=key))
            return result
    try:
        graph = Graph.model_validate(document)
    except ValidationError as err:
        result.issues.extend(_envelope_issues(err, document))
        return result
    result.graph, result.name = graph, graph.name
    expansion = expand_blocks(graph, limits.max_nodes, limits.max_edges, limits.max_block_depth)
    own = [Issue(i.code, i.message, node=i.node, edge=i.edge, field=i.field, path=i.path) for i in expansion.issues]
    if expansion.fatal:
        result.issues.extend(own)
        return result
    result.calls = expansion.calls
    _Checker(result, expansion.graph, limits, expansion).run()
    if expansion.has_blocks:  # point issues found in the expanded graph back at the calls
        result.issues = own + expansion.point_at_calls(result.issues)
    return result


def _envelope_issues(err: ValidationError, document: dict[str, Any]) -> list[Issue]:
    issues = []
    for e in err.errors():
        loc = list(e["loc"])
        issue = Issue("schema", "", field=".".join(str(p) for p in loc) or None)
        if len(loc) >= 2 and loc[0] == "nodes" and isinstance(loc[1], int):
            raw = document["nodes"][loc[1]]
            node_id = raw.get("id") if isinstance(raw, dict) else None
            if isinstance(node_id, str):  # else keep the full path, e.g. nodes.0.id
                issue.node = node_id
                issue.field = ".".join(str(p) for p in loc[2:]) or None
        elif len(loc) >= 2 and loc[0] == "edges" and isinstance(loc[1], int):
            issue.edge = loc[1]
            issue.field = ".".join(str(p) for p in loc[2:]) or None
        where = issue.field or "document"
        issue.message = f"{where}: {e['msg']}"
        if issue.node:
            issue.message = f"{issue.node}: {issue.message}"
        elif issue.edge is not None:
            issue.message = f"edge {issue.edge}: {issue.message}"
        issues.append(issue)
    return issues


def _param_issue(node_id: str, layer_type: str, e: dict[str, Any]) -> Issue:
    # Drop the union-branch tags pydantic puts in the location ("int", "list[constrained-int]").
    path = ".".join(str(p) for p in e["loc"] if not (isinstance(p, str) and (p in ("int", "float", "list[...]") or not p.isidentifier())))
    if e["type"] == "extra_forbidden":
        known = list(get_layer(layer_type).params_model.model_fields)  # type: ignore[union-attr]
        hint = f" {layer_type} takes: {', '.join(known)}." if known else f" {layer_type} takes no parameters."
        msg = f"{node_id}: unknown parameter '{path}'.{hint}"
    elif e["type"] == "missing":
        msg = f"{node_id}: {layer_type} needs the parameter '{path}'."
    else:
        got = e.get("input")
        shown = repr(got)
        if len(shown) >= 60:  # a long value (say a 1 MB string) is not echoed back whole
            shown = "value" if isinstance(got, (dict, list)) else shown[:40] + "…"
        msg = f"{node_id}: {path} = {shown} is invalid: {e['msg']}."
    return Issue("bad_param", msg, node=node_id, field=f"params.{path}" if path else "params")


class _Checker:
    """Runs the checks in order over one parsed graph, filling ``result``."""

    def __init__(self, result: Analysis, graph: "Graph | FlatGraph", limits: Limits, expansion: Expansion | None = None) -> None:
        self.result, self.graph, self.limits = result, graph, limits
        # Blocks expanded: inner ids are "call.inner" (checked as "inner"); ports have their own layers.
        self.local_ids = expansion.local_ids if expansion else {}
        self.block_layers = expansion.layers if expansion else {}
        self.nodes = result.nodes
        self.incoming: dict[str, dict[int, int]] = {}  # node -> port -> edge index
        self.outgoing: dict[str, list[str]] = {}

    def add(self, code: str, message: str, **where: Any) -> None:
        self.result.issues.append(Issue(code, message, **where))

    def run(self) -> None:
        self.check_nodes()
        self.check_shares()
        self.check_edges()
        self.check_ports()
        self.order_nodes()
        self.check_inputs_outputs()
        self.infer_shapes()
        self.check_shared_weights()
        self.warn_unused()

    def check_nodes(self) -> None:
        for index, node in enumerate(self.graph.nodes):
            name = self.local_ids.get(node.id, node.id)
            if not is_node_id(name):
                self.add("bad_id", f"Node id {name!r} is not a valid name: use up to 64 letters, digits and '_', "
                         "starting with a letter (it names the layer's weights and its data array).", node=node.id, field="id")
            elif name in RESERVED_IDS:
                self.add("bad_id", f"Node id {name!r} is reserved (a method of the generated PyTorch module); "
                         f"rename it, e.g. to '{name}_1'.", node=node.id, field="id")
            if node.id in self.nodes:
                self.add("duplicate_id", f"Two nodes are named {node.id!r}; node ids must be unique.", node=node.id, field="id")
                continue
            info = NodeInfo(node.id, node.type, index)
            self.nodes[node.id] = info
            self.incoming[node.id] = {}
            self.outgoing[node.id] = []
            layer = self.block_layers.get(node.id) or get_layer(node.type)
            if layer is None:
                hint = suggest_type(node.type)
                self.add("unknown_type", f"{node.id}: unknown layer type {node.type!r}"
                         + (f"; did you mean {hint!r}?" if hint else "; see GET /api/layers for the catalog."),
                         node=node.id, field="type")
                continue
            info.layer = layer
            if node.share is not None:
                continue  # a shared call site takes its owner's params, checked in check_shares
            try:
                info.params = layer.params_model.model_validate(node.params)
            except ValidationError as err:
                for e in err.errors():
                    self.result.issues.append(_param_issue(node.id, node.type, e))

    def check_shares(self) -> None:
        raw = {n.id: n for n in self.graph.nodes}
        for info in self.nodes.values():
            share = raw[info.id].share
            if share is None or info.layer is None:
                continue
            root, seen = share, {info.id}
            while root in raw and raw[root].share is not None and root not in seen:
                seen.add(root)
                root = raw[root].share  # type: ignore[assignment]
            owner = self.nodes.get(root)
            if share == info.id or root in seen:
                self.add("share_missing", f"{info.id}: 'share' must name another node that owns the weights, not form a loop.",
                         node=info.id, field="share")
            elif owner is None:
                self.add("share_missing", f"{info.id}: shares the weights of {share!r}, but there is no such node.",
                         node=info.id, field="share")
            elif owner.type != info.type:
                self.add("share_type", f"{info.id}: a {info.type} can only share weights with another {info.type}, "
                         f"but {root} is a {owner.type}.", node=info.id, field="share")
            elif info.type in ("Input", "Output"):
                self.add("share_type", f"{info.id}: {info.type} nodes have no weights to share; remove 'share'.",
                         node=info.id, field="share")
            elif owner.params is not None:
                own_params = raw[info.id].params
                if own_params and _parsed_or_none(owner.layer, own_params) != owner.params:
                    self.add("share_params", f"{info.id}: shares the weights of {root}, so it takes {root}'s parameters; "
                             "remove its own 'params' or make them equal.", node=info.id, field="params")
                info.params, info.share = owner.params, root

    def check_edges(self) -> None:
        for k, edge in enumerate(self.graph.edges):
            src, dst = self.nodes.get(edge.source), self.nodes.get(edge.target)
            bad = False
            for end, info, name in (("source", src, edge.source), ("target", dst, edge.target)):
                if info is None:
                    self.add("dangling_edge", f"edge {k}: its {end} {name!r} is not a node; remove the edge or add the node.",
                             edge=k, field=end)
                    bad = True
            if bad:
                continue
            assert src is not None and dst is not None
            if src.layer is not None and edge.source_port >= src.layer.num_outputs:
                msg = (f"edge {k}: {src.id} is an Output and ends the graph; nothing can take its value."
                       if src.layer.num_outputs == 0 else
                       f"edge {k}: {src.id} has one output port (0), not port {edge.source_port}.")
                self.add("port_out_of_range", msg, edge=k, node=src.id, field="source_port")
                continue
            if dst.layer is not None:
                most = dst.layer.max_inputs if dst.layer.max_inputs is not None else MAX_MERGE_PORTS
                if edge.target_port >= most:
                    msg = (f"edge {k}: {dst.id} is an Input and takes no incoming edge." if most == 0 else
                           f"edge {k}: {dst.id} ({dst.type}) has input ports 0..{most - 1}, not {edge.target_port}.")
                    self.add("port_out_of_range", msg, edge=k, node=dst.id, field="target_port")
                    continue
            ports = self.incoming[dst.id]
            if edge.target_port in ports:
                first = self.graph.edges[ports[edge.target_port]].source
                self.add("port_fed_twice", f"{dst.id}: input port {edge.target_port} is fed by both {first} and {src.id}; "
                         "each input port takes one edge" + (" (use a merge layer such as Add or Concatenate to combine them)." if dst.layer and dst.layer.max_inputs == 1 else "."),
                         edge=k, node=dst.id, field="target_port")
                continue
            ports[edge.target_port] = k
            self.outgoing[src.id].append(dst.id)

    def check_ports(self) -> None:
        for info in self.nodes.values():
            layer = info.layer
            if layer is None:
                continue
            ports = self.incoming[info.id]
            count = max(ports) + 1 if ports else 0
            needed = max(layer.min_inputs, count)
            missing = [p for p in range(needed) if p not in ports]
            if not missing:
                info.inputs = [self.graph.edges[ports[p]].source for p in range(needed)]
                continue
            if layer.max_inputs is None and count < layer.min_inputs:
                msg = f"{info.id}: {info.type} merges at least {layer.min_inputs} inputs but has {len(ports)}; connect another layer to it."
            elif len(missing) == 1 and layer.max_inputs == 1:
                msg = f"{info.id}: {info.type} has no input; connect a layer to it."
            else:
                msg = f"{info.id}: input port(s) {', '.join(map(str, missing))} of {info.type} are not connected; connect them or remove the higher ports."
            self.add("port_unfed", msg, node=info.id, field="inputs")

    def order_nodes(self) -> None:
        """Kahn's algorithm, ties broken by document order. graphlib would stop at the first cycle;
        this keeps ordering (and inferring) everything that does not depend on one."""
        indegree = {nid: len(self.incoming[nid]) for nid in self.nodes}
        ready = [(info.index, nid) for nid, info in self.nodes.items() if indegree[nid] == 0]
        heapq.heapify(ready)
        order = []
        while ready:
            _, nid = heapq.heappop(ready)
            order.append(nid)
            for child in self.outgoing[nid]:
                indegree[child] -= 1
                if indegree[child] == 0:
                    heapq.heappush(ready, (self.nodes[child].index, child))
        self.result.order = order
        if len(order) < len(self.nodes):
            stuck = {nid for nid, d in indegree.items() if d > 0}
            for cycle in self._cycles(stuck):
                loop = " → ".join(cycle + [cycle[0]])
                self.add("cycle", f"These nodes form a cycle: {loop}. A model's data must flow one way; remove one of these edges.",
                         node=cycle[0], nodes=cycle)

    def _cycles(self, stuck: set[str], limit: int = 20) -> list[list[str]]:
        """One cycle per back edge found by an iterative depth-first search over the stuck nodes."""
        state: dict[str, int] = {}  # 1 = on the current path, 2 = finished
        found, seen_sets = [], set()
        for start in sorted(stuck, key=lambda n: self.nodes[n].index):
            if start in state:
                continue
            path, iters = [start], [iter(self.outgoing[start])]
            state[start] = 1
            while path:
                child = next(iters[-1], None)
                if child is None:
                    state[path.pop()] = 2
                    iters.pop()
                elif child in stuck and state.get(child) == 1:
                    cycle = path[path.index(child):]
                    key = frozenset(cycle)
                    if key not in seen_sets and len(found) < limit:
                        seen_sets.add(key)
                        found.append(cycle)
                elif child in stuck and child not in state:
                    state[child] = 1
                    path.append(child)
                    iters.append(iter(self.outgoing[child]))
        return found

    def check_inputs_outputs(self) -> None:
        types = {info.type for info in self.nodes.values() if "." not in info.id}  # a block's ports do not count
        if "Input" not in types:
            self.add("no_input", "The graph has no Input node; add one for each array the model reads.", field="nodes")
        if "Output" not in types:
            self.add("no_output", "The graph has no Output node; add one after each layer whose result is a prediction.", field="nodes")

    def infer_shapes(self) -> None:
        budget_hit = False
        total = 0
        for nid in self.result.order:
            info = self.nodes[nid]
            if info.layer is None or info.params is None or info.inputs is None:
                continue
            specs = [self.nodes[src].output for src in info.inputs]
            if any(s is None for s in specs):
                continue  # an upstream node already has an error
            specs_known: list[TensorSpec] = specs  # type: ignore[assignment]
            info.input_specs = specs_known
            if not info.layer.accepts_int:
                ints = [src for src, s in zip(info.inputs, specs_known) if s.dtype == "int"]
                if ints:
                    self.add("dtype", f"{nid}: {info.type} takes float values, but {', '.join(ints)} gives integer ids; "
                             "feed them to an Embedding first, or set the Input's dtype to float32.", node=nid, field="inputs")
                    continue
            try:
                out = info.layer.infer(info.params, specs_known, info.inputs)
                weights = [] if info.share else info.layer.weights(info.params, specs_known)
            except ShapeError as err:
                incoming = ", ".join(f"{s} from {src}" for s, src in zip(specs_known, info.inputs))
                message = str(err)
                if info.layer.max_inputs == 1 and incoming:
                    message += f" (input: {incoming})"
                self.add(err.code, f"{nid}: {message}", node=nid, field=err.field)
                continue
            size = math.prod(out.shape)
            if size > self.limits.max_tensor_elements:
                self.add("too_large", f"{nid}: its output {out} has {size:,} values per sample; the limit is "
                         f"{self.limits.max_tensor_elements:,}. Use fewer units or a smaller input.", node=nid)
                continue
            info.output, info.weights = out, weights
            for code, field_name, note in info.layer.notes(info.params, specs_known):
                self.add(code, f"{nid}: {note}", node=nid, field=field_name, severity="warning")
            info.mask, notes = infer_mask(nid, info.layer, info.params, specs_known, [self.nodes[s].mask for s in info.inputs])
            for code, message, severity in notes:
                self.add(code, message, node=nid, field="inputs", severity=severity)
            total += info.trainable + info.non_trainable
            if total > self.limits.max_params and not budget_hit:
                budget_hit = True
                biggest = sorted(self.nodes.values(), key=lambda n: -(n.trainable + n.non_trainable))[:3]
                names = ", ".join(f"{n.id} ({n.trainable + n.non_trainable:,})" for n in biggest if n.weights)
                self.add("param_budget", f"The model needs more than {self.limits.max_params:,} parameters "
                         f"(the budget); the largest layers so far are {names}. Make them smaller.", node=biggest[0].id,
                         field="params")

    def check_shared_weights(self) -> None:
        for info in self.nodes.values():
            if not info.share or info.input_specs is None or info.output is None:
                continue
            owner = self.nodes[info.share]
            if owner.input_specs is None:
                continue
            try:
                mine = info.layer.weights(info.params, info.input_specs)  # type: ignore[union-attr]
            except ShapeError:
                mine = []
            if [w.shape for w in mine] != [w.shape for w in owner.weights]:
                ins = ", ".join(map(str, owner.input_specs))
                self.add("share_shape", f"{info.id}: shares the weights of {owner.id}, which takes {ins}, but {info.id} gets "
                         f"{', '.join(map(str, info.input_specs))}; shared weights need inputs of the same size.",
                         node=info.id, field="share")

    def warn_unused(self) -> None:
        reaches_output = {nid for nid, info in self.nodes.items() if info.type == "Output" and "." not in nid}  # heads, not ports
        parents: dict[str, list[str]] = {nid: [] for nid in self.nodes}
        for nid, ports in self.incoming.items():
            parents[nid] = [self.graph.edges[k].source for k in ports.values()]
        stack = list(reaches_output)
        while stack:
            for parent in parents[stack.pop()]:
                if parent not in reaches_output:
                    reaches_output.add(parent)
                    stack.append(parent)
        if not any(i.type == "Output" for i in self.nodes.values()):
            return  # no_output already says it
        for nid, info in self.nodes.items():
            if nid not in reaches_output:
                self.add("unreachable", f"{nid} does not lead to any Output, so its result is unused; connect it or delete it.",
                         node=nid, severity="warning")


def _parsed_or_none(layer: Layer | None, params: dict[str, Any]) -> Params | None:
    try:
        return layer.params_model.model_validate(params) if layer else None
    except ValidationError:
        return None
