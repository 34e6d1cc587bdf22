/**
 * Pure operations on graph documents. Every function returns a new document (or a refusal) and never
 * mutates its input, so the store can keep history by reference and React can compare by identity.
 */

import { baseName, inputPortCount, nodeSpec, specOf } from "./catalog";
import { copyBase, idProblem, nextFree } from "./ids";
import type { Catalog, GraphDoc, GraphEdge, GraphNode, Layout, Params, XY } from "./types";

// ---- lookups -------------------------------------------------------------------------------

const indexCache = new WeakMap<readonly GraphNode[], ReadonlyMap<string, GraphNode>>();

/** id → node, cached per nodes array (documents are immutable). */
export function nodeIndex(nodes: readonly GraphNode[]): ReadonlyMap<string, GraphNode> {
  let idx = indexCache.get(nodes);
  if (!idx) {
    idx = new Map(nodes.map((n) => [n.id, n]));
    indexCache.set(nodes, idx);
  }
  return idx;
}

export const sourcePort = (e: GraphEdge) => e.source_port ?? 0;
export const targetPort = (e: GraphEdge) => e.target_port ?? 0;

/** A stable key for an edge: source:port>target:port. Unique in a valid document. */
export function edgeKey(e: GraphEdge): string {
  return `${e.source}:${sourcePort(e)}>${e.target}:${targetPort(e)}`;
}

const keysCache = new WeakMap<readonly GraphEdge[], string[]>();

/** Keys for every edge, by index; repeated wires (an invalid document) get #2, #3 … */
export function edgeKeys(edges: readonly GraphEdge[]): string[] {
  let keys = keysCache.get(edges);
  if (!keys) {
    const seen = new Map<string, number>();
    keys = edges.map((e) => {
      const k = edgeKey(e);
      const n = (seen.get(k) ?? 0) + 1;
      seen.set(k, n);
      return n === 1 ? k : `${k}#${n}`;
    });
    keysCache.set(edges, keys);
  }
  return keys;
}

/** Node ids reachable from `start` by following edges forward. */
export function descendants(edges: readonly GraphEdge[], start: string): Set<string> {
  const out = new Map<string, string[]>();
  for (const e of edges) {
    const list = out.get(e.source);
    if (list) list.push(e.target);
    else out.set(e.source, [e.target]);
  }
  const seen = new Set<string>([start]);
  const stack = [start];
  while (stack.length) {
    for (const next of out.get(stack.pop()!) ?? []) {
      if (!seen.has(next)) {
        seen.add(next);
        stack.push(next);
      }
    }
  }
  return seen;
}

/** A path of node ids from `from` to `to` following edges forward (breadth-first: a shortest one), or null. */
export function pathBetween(edges: readonly GraphEdge[], from: string, to: string): string[] | null {
  const out = new Map<string, string[]>();
  for (const e of edges) {
    const list = out.get(e.source);
    if (list) list.push(e.target);
    else out.set(e.source, [e.target]);
  }
  const parent = new Map<string, string | null>([[from, null]]);
  const queue = [from];
  for (let i = 0; i < queue.length; i++) {
    const at = queue[i];
    if (at === to) {
      const path: string[] = [];
      for (let n: string | null = at; n !== null; n = parent.get(n) ?? null) path.push(n);
      return path.reverse();
    }
    for (const next of out.get(at) ?? []) {
      if (!parent.has(next)) {
        parent.set(next, at);
        queue.push(next);
      }
    }
  }
  return null;
}

// ---- connection rules ----------------------------------------------------------------------

export interface Connection {
  source: string;
  target: string;
  sourcePort?: number;
  targetPort?: number;
}

export type ConnectRefusal =
  | "missing_node"
  | "self_loop"
  | "no_output_port"
  | "no_input_port"
  | "port_taken"
  | "cycle";

/** A refusal says why, and which nodes are involved (the cycle's nodes, or the wire already there). */
export type ConnectCheck = { ok: true } | { ok: false; reason: ConnectRefusal; message: string; nodes?: string[] };

/**
 * Whether a wire may be drawn: both nodes exist, the source has that output port, the target has
 * that input port, the wire closes no cycle (checked first: the more basic reason), and the port is
 * free (one edge per input port).
 */
/** The parts of a document that wiring rules read (`blocks` gives block calls their ports). */
type Wiring = Pick<GraphDoc, "nodes" | "edges"> & Partial<Pick<GraphDoc, "blocks">>;

export function canConnect(doc: Wiring, catalog: Catalog, c: Connection): ConnectCheck {
  const idx = nodeIndex(doc.nodes);
  const src = idx.get(c.source);
  const dst = idx.get(c.target);
  const sp = c.sourcePort ?? 0;
  const tp = c.targetPort ?? 0;
  if (!src || !dst) return { ok: false, reason: "missing_node", message: "Both ends must be nodes of this graph." };
  if (src.id === dst.id) return { ok: false, reason: "self_loop", message: "A layer cannot feed itself." };
  const srcSpec = nodeSpec(catalog, src, doc.blocks);
  if (sp < 0 || sp >= srcSpec.outputs) {
    return { ok: false, reason: "no_output_port", message: `${src.type} has no output port ${sp}.` };
  }
  const dstSpec = nodeSpec(catalog, dst, doc.blocks);
  if (tp < 0 || (dstSpec.inputs.max !== null && tp >= dstSpec.inputs.max)) {
    return { ok: false, reason: "no_input_port", message: dstSpec.inputs.max === 0 ? `${dst.type} takes no input.` : `${dst.type} has no input port ${tp}.` };
  }
  const back = pathBetween(doc.edges, dst.id, src.id);
  if (back) {
    const cycle = [src.id, ...back];
    return { ok: false, reason: "cycle", nodes: back, message: `${src.id} → ${dst.id} would close the cycle ${cycle.join(" → ")}; a model must flow one way.` };
  }
  const taken = doc.edges.find((e) => e.target === dst.id && targetPort(e) === tp);
  if (taken) {
    return {
      ok: false,
      reason: "port_taken",
      nodes: [taken.source, dst.id],
      message: `${dst.id}: input port ${tp} is already fed by ${taken.source} (wire ${taken.source} → ${dst.id}); delete that wire first, or use a merge layer (Add, Concatenate …) to combine inputs.`,
    };
  }
  return { ok: true };
}

/** A new edge as the backend writes it: target_port only on multi-input layers, source_port only if not 0. */
export function makeEdge(catalog: Catalog, doc: Pick<GraphDoc, "nodes"> & Partial<Pick<GraphDoc, "blocks">>, c: Connection): GraphEdge {
  const edge: GraphEdge = { source: c.source, target: c.target };
  if ((c.sourcePort ?? 0) !== 0) edge.source_port = c.sourcePort;
  const dst = nodeIndex(doc.nodes).get(c.target);
  const spec = dst ? nodeSpec(catalog, dst, doc.blocks) : undefined;
  if ((c.targetPort ?? 0) !== 0 || (spec && spec.inputs.max !== 1)) edge.target_port = c.targetPort ?? 0;
  return edge;
}

export function connect(doc: GraphDoc, catalog: Catalog, c: Connection): GraphDoc | ConnectCheck {
  const check = canConnect(doc, catalog, c);
  if (!check.ok) return check;
  return { ...doc, edges: [...doc.edges, makeEdge(catalog, doc, c)] };
}

/** The first free input port of a node, or null (used when dropping a wire on a node's body). */
export function firstFreePort(doc: Wiring, catalog: Catalog, nodeId: string): number | null {
  const node = nodeIndex(doc.nodes).get(nodeId);
  if (!node) return null;
  const spec = nodeSpec(catalog, node, doc.blocks);
  const fed = new Set(doc.edges.filter((e) => e.target === nodeId).map(targetPort));
  const limit = spec.inputs.max ?? inputPortCount(spec, doc.edges, nodeId) + 1;
  for (let p = 0; p < limit; p++) if (!fed.has(p)) return p;
  return null;
}

/** Whether a layer type can sit inside a wire: it takes at least one input and gives an output. */
export function canSitOnWire(catalog: Catalog, type: string): boolean {
  const spec = specOf(catalog, type);
  return spec.outputs > 0 && (spec.inputs.max === null || spec.inputs.max > 0);
}

export type InsertResult = { ok: true; doc: GraphDoc; id: string } | { ok: false; message: string };

/**
 * Drop a new layer onto the wire `key`: source → new (its port 0) → target (the wire's port). The
 * new node gets the position given; refused (nothing changes) for layers without an input or output.
 */
export function insertOnEdge(doc: GraphDoc, catalog: Catalog, key: string, args: AddNodeArgs): InsertResult {
  const index = edgeKeys(doc.edges).indexOf(key);
  if (index < 0) return { ok: false, message: "That wire no longer exists." };
  if (!canSitOnWire(catalog, args.type)) return { ok: false, message: `${args.type} cannot sit inside a wire: it needs an input and an output.` };
  const wire = doc.edges[index];
  const added = addNode(doc, args);
  const edges = doc.edges.filter((_, i) => i !== index);
  const withNew = { ...added.doc, edges };
  const into = makeEdge(catalog, withNew, { source: wire.source, target: added.id, sourcePort: sourcePort(wire), targetPort: 0 });
  const out = makeEdge(catalog, withNew, { source: added.id, target: wire.target, targetPort: targetPort(wire) });
  const spliced = [...edges.slice(0, index), into, out, ...edges.slice(index)];
  return { ok: true, id: added.id, doc: { ...withNew, edges: spliced } };
}

/**
 * Add a layer fed by `after`'s output `port` (the palette with a node selected, or a wire dragged into
 * empty space). A layer that takes no input (an Input) is added unwired.
 */
export function addNodeAfter(doc: GraphDoc, catalog: Catalog, after: string, port: number, args: AddNodeArgs): InsertResult {
  const src = nodeIndex(doc.nodes).get(after);
  if (!src) return { ok: false, message: `No node "${after}".` };
  const added = addNode(doc, args);
  const spec = specOf(catalog, args.type);
  if (spec.inputs.max === 0 || nodeSpec(catalog, src, doc.blocks).outputs <= port) return { ok: true, id: added.id, doc: added.doc };
  const wired = connect(added.doc, catalog, { source: after, target: added.id, sourcePort: port, targetPort: 0 });
  if ("ok" in wired) return { ok: false, message: wired.ok ? "Nothing to wire." : wired.message };
  return { ok: true, id: added.id, doc: wired };
}

// ---- edits ---------------------------------------------------------------------------------

const round = (p: XY): XY => ({ x: Math.round(p.x), y: Math.round(p.y) });

export interface AddNodeArgs {
  type: string;
  position: XY;
  id?: string;
  params?: Params;
}

export function addNode(doc: GraphDoc, args: AddNodeArgs): { doc: GraphDoc; id: string } {
  const taken = new Set(doc.nodes.map((n) => n.id));
  const id = args.id && !taken.has(args.id) ? args.id : nextFree(baseName(args.type), (i) => taken.has(i));
  const node: GraphNode = { id, type: args.type, params: { ...(args.params ?? {}) } };
  return {
    id,
    doc: { ...doc, nodes: [...doc.nodes, node], layout: { ...doc.layout, [id]: round(args.position) } },
  };
}

/** Remove nodes (with their edges and layout) and edges given by key. */
export function removeElements(doc: GraphDoc, nodeIds: Iterable<string>, edgeKeyList: Iterable<string> = []): GraphDoc {
  const drop = new Set(nodeIds);
  const dropEdges = new Set(edgeKeyList);
  if (drop.size === 0 && dropEdges.size === 0) return doc;
  const keys = edgeKeys(doc.edges);
  const edges = doc.edges.filter((e, i) => !drop.has(e.source) && !drop.has(e.target) && !dropEdges.has(keys[i]));
  const nodes = drop.size ? doc.nodes.filter((n) => !drop.has(n.id)) : doc.nodes;
  if (nodes.length === doc.nodes.length && edges.length === doc.edges.length) return doc;
  let layout = doc.layout;
  if (drop.size) {
    layout = { ...doc.layout };
    for (const id of drop) delete layout[id];
  }
  return { ...doc, nodes, edges, layout };
}

/** Set positions (rounded to whole pixels); unchanged positions leave the document untouched. */
export function moveNodes(doc: GraphDoc, positions: Readonly<Record<string, XY>>): GraphDoc {
  let layout: Layout | null = null;
  const idx = nodeIndex(doc.nodes);
  for (const [id, pos] of Object.entries(positions)) {
    if (!idx.has(id)) continue;
    const p = round(pos);
    const old = doc.layout[id];
    if (old && old.x === p.x && old.y === p.y) continue;
    layout ??= { ...doc.layout };
    layout[id] = { ...(old ?? {}), ...p };
  }
  return layout ? { ...doc, layout } : doc;
}

function mapNode(doc: GraphDoc, id: string, fn: (n: GraphNode) => GraphNode): GraphDoc {
  let changed = false;
  const nodes = doc.nodes.map((n) => {
    if (n.id !== id) return n;
    const next = fn(n);
    changed ||= next !== n;
    return next;
  });
  return changed ? { ...doc, nodes } : doc;
}

/** Set one param; `undefined` removes it (the schema default applies). */
export function setParam(doc: GraphDoc, id: string, name: string, value: unknown): GraphDoc {
  return mapNode(doc, id, (n) => {
    const params = { ...(n.params ?? {}) };
    if (value === undefined) {
      if (!(name in params)) return n;
      delete params[name];
    } else {
      if (JSON.stringify(params[name]) === JSON.stringify(value)) return n;
      params[name] = value;
    }
    return { ...n, params };
  });
}

export function setParams(doc: GraphDoc, id: string, params: Params): GraphDoc {
  return mapNode(doc, id, (n) => ({ ...n, params: { ...params } }));
}

/**
 * Make `id` a second call of `owner`'s weights (or undo that with null). Sharing clears the node's
 * own params (it takes the owner's); unsharing copies the owner's params so the node stays valid.
 */
export function setShare(doc: GraphDoc, id: string, owner: string | null): GraphDoc {
  const idx = nodeIndex(doc.nodes);
  return mapNode(doc, id, (n) => {
    if ((n.share ?? null) === owner) return n;
    if (owner === null) {
      const next: GraphNode = { ...n, params: { ...(idx.get(n.share ?? "")?.params ?? n.params ?? {}) } };
      delete next.share;
      return next;
    }
    return { ...n, params: {}, share: owner };
  });
}

export type RenameResult = { ok: true; doc: GraphDoc } | { ok: false; message: string };

/** Rename a node; edges, layout and `share` references follow. */
export function renameNode(doc: GraphDoc, from: string, to: string): RenameResult {
  if (from === to) return { ok: true, doc };
  const idx = nodeIndex(doc.nodes);
  if (!idx.has(from)) return { ok: false, message: `No node "${from}".` };
  const problem = idProblem(to, new Set([...idx.keys()].filter((k) => k !== from)));
  if (problem) return { ok: false, message: problem };
  const nodes = doc.nodes.map((n) => {
    let next = n;
    if (n.id === from) next = { ...next, id: to };
    if (n.share === from) next = { ...next, share: to };
    return next;
  });
  const edges = doc.edges.map((e) =>
    e.source === from || e.target === from
      ? { ...e, source: e.source === from ? to : e.source, target: e.target === from ? to : e.target }
      : e,
  );
  const layout: Layout = {};
  for (const [k, v] of Object.entries(doc.layout)) layout[k === from ? to : k] = v;
  return { ok: true, doc: { ...doc, nodes, edges, layout } };
}

// ---- copy, paste, duplicate ----------------------------------------------------------------

/** A self-contained piece of a graph: nodes, the edges among them, and their positions. */
export interface Fragment {
  nodes: GraphNode[];
  edges: GraphEdge[];
  layout: Layout;
}

export function copyFragment(doc: GraphDoc, ids: Iterable<string>): Fragment | null {
  const pick = new Set(ids);
  const nodes = doc.nodes.filter((n) => pick.has(n.id));
  if (!nodes.length) return null;
  const edges = doc.edges.filter((e) => pick.has(e.source) && pick.has(e.target));
  const layout: Layout = {};
  for (const n of nodes) if (doc.layout[n.id]) layout[n.id] = doc.layout[n.id];
  return structuredClone({ nodes, edges, layout });
}

/**
 * Paste a fragment with fresh ids (dense_1 → the next free dense_N), shifted by `offset`. Edges
 * among the pasted nodes follow; a pasted node whose `share` owner was pasted too shares the copy,
 * otherwise it keeps sharing the original (another call of the same weights).
 */
export function pasteFragment(doc: GraphDoc, fragment: Fragment, offset: XY): { doc: GraphDoc; ids: string[] } {
  const taken = new Set(doc.nodes.map((n) => n.id));
  const rename = new Map<string, string>();
  for (const n of fragment.nodes) {
    const id = nextFree(copyBase(n.id), (i) => taken.has(i));
    taken.add(id);
    rename.set(n.id, id);
  }
  const nodes = fragment.nodes.map((n) => {
    const copy: GraphNode = structuredClone({ ...n, id: rename.get(n.id)! });
    if (n.share && rename.has(n.share)) copy.share = rename.get(n.share)!;
    return copy;
  });
  const edges = fragment.edges
    .filter((e) => rename.has(e.source) && rename.has(e.target))
    .map((e) => ({ ...e, source: rename.get(e.source)!, target: rename.get(e.target)! }));
  const layout: Layout = { ...doc.layout };
  fragment.nodes.forEach((n, i) => {
    const p = fragment.layout[n.id] ?? { x: i * 40, y: i * 40 };
    layout[rename.get(n.id)!] = { ...p, ...round({ x: p.x + offset.x, y: p.y + offset.y }) };
  });
  return {
    ids: nodes.map((n) => n.id),
    doc: { ...doc, nodes: [...doc.nodes, ...nodes], edges: [...doc.edges, ...edges], layout },
  };
}

export function duplicate(doc: GraphDoc, ids: Iterable<string>, offset: XY = { x: 40, y: 40 }): { doc: GraphDoc; ids: string[] } {
  const frag = copyFragment(doc, ids);
  return frag ? pasteFragment(doc, frag, offset) : { doc, ids: [] };
}

/** Nodes that may be `share` owners for `id`: same type, not itself, not a shared call themselves. */
export function shareCandidates(doc: GraphDoc, id: string): string[] {
  const node = nodeIndex(doc.nodes).get(id);
  if (!node) return [];
  return doc.nodes.filter((n) => n.id !== id && n.type === node.type && !n.share).map((n) => n.id);
}

/** The bounding box of positioned nodes (top-left corners). */
export function boundsOf(layout: Layout, ids: Iterable<string>): { x: number; y: number; right: number; bottom: number } | null {
  let box: { x: number; y: number; right: number; bottom: number } | null = null;
  for (const id of ids) {
    const p = layout[id];
    if (!p) continue;
    box = box
      ? { x: Math.min(box.x, p.x), y: Math.min(box.y, p.y), right: Math.max(box.right, p.x), bottom: Math.max(box.bottom, p.y) }
      : { x: p.x, y: p.y, right: p.x, bottom: p.y };
  }
  return box;
}

/** Whether the document has nodes without a position (imported from a tool that writes none). */
export function unplacedNodes(doc: GraphDoc): string[] {
  return doc.nodes.filter((n) => !doc.layout[n.id]).map((n) => n.id);
}

export { inputPortCount };
