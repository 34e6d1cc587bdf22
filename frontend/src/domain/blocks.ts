/**
 * Blocks in the editor: group a selection into a block (Ctrl+G) and expand a call back into its
 * layers. A block is a named subgraph in the document's `blocks` (docs/graph-format.md#blocks); its
 * Input nodes are its input ports and its Output nodes its output ports, in order. The compiler
 * gives the call's shapes and totals; this module only rewrites documents (pure, no React).
 */

import { nextFree } from "./ids";
import { nodeIndex, renameNode, sourcePort, targetPort } from "./graph";
import { computeLayout } from "./layout";
import type { GraphDoc, GraphEdge, GraphNode, Layout, Params, XY } from "./types";

export const BLOCK_TYPE = "Block";

/** A block definition as stored in `doc.blocks[name]` (args and other fields kept as they are). */
export interface BlockDef {
  description?: string;
  args?: Record<string, { type: string; default?: unknown; description?: string }>;
  nodes: GraphNode[];
  edges: GraphEdge[];
  layout?: Layout;
  [key: string]: unknown;
}

export function blockDef(doc: Pick<GraphDoc, "blocks">, name: unknown): BlockDef | undefined {
  if (typeof name !== "string" || !doc.blocks) return undefined;
  const def = doc.blocks[name] as BlockDef | undefined;
  return def && Array.isArray(def.nodes) ? def : undefined;
}

/** A Block node's ports: its block's Input and Output nodes (0/1 while the block is missing). */
export function blockPorts(doc: Pick<GraphDoc, "blocks">, node: GraphNode): { inputs: number; outputs: number; names: { inputs: string[]; outputs: string[] } } {
  const def = blockDef(doc, node.params?.block);
  if (!def) return { inputs: 1, outputs: 1, names: { inputs: [], outputs: [] } };
  const inputs = def.nodes.filter((n) => n.type === "Input").map((n) => n.id);
  const outputs = def.nodes.filter((n) => n.type === "Output").map((n) => n.id);
  return { inputs: inputs.length, outputs: outputs.length, names: { inputs, outputs } };
}

export type GroupResult = { ok: true; doc: GraphDoc; id: string; block: string } | { ok: false; message: string };

/**
 * Replace the selected nodes by one call of a new block holding them. Wires entering the selection
 * become the block's input ports (one per distinct source output), wires leaving it its output
 * ports; the call sits where the selection was. Refused, with the reason, for a selection that
 * holds the graph's own Inputs or Outputs, shares weights across its border, or has no wire out.
 */
export function groupIntoBlock(doc: GraphDoc, ids: Iterable<string>): GroupResult {
  const pick = new Set(ids);
  const idx = nodeIndex(doc.nodes);
  const chosen = doc.nodes.filter((n) => pick.has(n.id));
  if (chosen.length === 0) return { ok: false, message: "Select the layers to group first." };
  const ends = chosen.filter((n) => n.type === "Input" || n.type === "Output");
  if (ends.length) return { ok: false, message: `The model's own ${ends.map((n) => n.id).join(", ")} stay outside a block: leave them out of the selection.` };
  for (const n of doc.nodes) {
    if (n.share && pick.has(n.id) !== pick.has(n.share) && idx.has(n.share)) {
      return { ok: false, message: `${n.id} shares weights with ${n.share}: select both or neither.` };
    }
  }

  const takenNames = new Set(Object.keys(doc.blocks ?? {}));
  const takenIds = new Set(doc.nodes.filter((n) => !pick.has(n.id)).map((n) => n.id));
  const block = nextFree("block", (b) => takenNames.has(b) || takenIds.has(b));
  const innerIds = new Set(chosen.map((n) => n.id));
  const portId = (stem: string) => {
    const id = nextFree(stem, (i) => innerIds.has(i));
    innerIds.add(id);
    return id;
  };

  const inPorts = new Map<string, string>(); // "source:port" -> inner Input id
  const outPorts = new Map<string, number>(); // "inner:port" -> output port index
  const innerEdges: GraphEdge[] = [];
  const inputNodes: GraphNode[] = [];
  const outputNodes: GraphNode[] = [];
  const outerEdges: GraphEdge[] = [];
  const callInputs: GraphEdge[] = [];

  for (const e of doc.edges) {
    const fromIn = pick.has(e.source);
    const toIn = pick.has(e.target);
    if (fromIn && toIn) innerEdges.push(e);
    else if (!fromIn && !toIn) outerEdges.push(e);
    else if (toIn) {
      const key = `${e.source}:${sourcePort(e)}`;
      let port = inPorts.get(key);
      if (!port) {
        port = portId("in");
        inPorts.set(key, port);
        inputNodes.push({ id: port, type: "Input", params: {} });
        const feed: GraphEdge = { source: e.source, target: block, target_port: inputNodes.length - 1 };
        if (sourcePort(e)) feed.source_port = sourcePort(e);
        callInputs.push(feed);
      }
      const inner: GraphEdge = { source: port, target: e.target };
      if (e.target_port !== undefined) inner.target_port = e.target_port;
      innerEdges.push(inner);
    } else {
      const key = `${e.source}:${sourcePort(e)}`;
      let k = outPorts.get(key);
      if (k === undefined) {
        k = outputNodes.length;
        outPorts.set(key, k);
        const out = portId("out");
        outputNodes.push({ id: out, type: "Output", params: {} });
        const inner: GraphEdge = { source: e.source, target: out };
        if (sourcePort(e)) inner.source_port = sourcePort(e);
        innerEdges.push(inner);
      }
      const leaving: GraphEdge = { source: block, target: e.target };
      if (k) leaving.source_port = k;
      if (e.target_port !== undefined) leaving.target_port = e.target_port;
      outerEdges.push(leaving);
    }
  }
  if (outputNodes.length === 0) return { ok: false, message: "Nothing leaves the selection: a block needs at least one wire out." };

  // Inner positions relative to the selection's corner; the call takes the corner.
  const xs = chosen.map((n) => doc.layout[n.id]?.x ?? 0);
  const ys = chosen.map((n) => doc.layout[n.id]?.y ?? 0);
  const corner = { x: Math.min(...xs), y: Math.min(...ys) };
  const innerLayout: Layout = {};
  for (const n of chosen) {
    const p = doc.layout[n.id];
    if (!p) continue;
    const { [EXPANDED_FROM]: _mark, ...rest } = p; // a mark of an earlier expansion means nothing inside
    innerLayout[n.id] = { ...rest, x: p.x - corner.x + 240, y: p.y - corner.y };
  }
  inputNodes.forEach((n, i) => (innerLayout[n.id] = { x: 0, y: i * 120 }));
  const right = Math.max(240, ...Object.values(innerLayout).map((p) => p.x)) + 240;
  outputNodes.forEach((n, i) => (innerLayout[n.id] = { x: right, y: i * 120 }));

  const def: BlockDef = { nodes: [...inputNodes, ...chosen, ...outputNodes], edges: innerEdges, layout: innerLayout };
  const layout: Layout = {};
  for (const [id, p] of Object.entries(doc.layout)) if (!pick.has(id)) layout[id] = p;
  // The call sits where the selection's middle was (its left edge, its mean height).
  layout[block] = { x: corner.x, y: Math.round(ys.reduce((a, b) => a + b, 0) / ys.length) };
  const call: GraphNode = { id: block, type: BLOCK_TYPE, params: { block } };
  const firstAt = doc.nodes.findIndex((n) => pick.has(n.id));
  const nodes = doc.nodes.filter((n) => !pick.has(n.id));
  nodes.splice(Math.min(firstAt, nodes.length), 0, call);
  return {
    ok: true,
    id: block,
    block,
    doc: { ...doc, nodes, edges: [...outerEdges, ...callInputs], layout, blocks: { ...(doc.blocks ?? {}), [block]: def } },
  };
}

/** `{"arg": "name"}` references replaced by the call's args or the block's defaults, recursively. */
function substitute(value: unknown, args: Params, def: BlockDef): unknown {
  if (Array.isArray(value)) return value.map((v) => substitute(v, args, def));
  if (value && typeof value === "object") {
    const obj = value as Record<string, unknown>;
    const keys = Object.keys(obj);
    if (keys.length === 1 && keys[0] === "arg" && typeof obj.arg === "string") {
      return obj.arg in args ? args[obj.arg] : def.args?.[obj.arg]?.default;
    }
    return Object.fromEntries(keys.map((k) => [k, substitute(obj[k], args, def)]));
  }
  return value;
}

export type ExpandResult = { ok: true; doc: GraphDoc; ids: string[] } | { ok: false; message: string };

/**
 * Put a call's layers back in place of the call ("expand"): inner nodes become `call_inner`, wires
 * into and out of the call are reconnected to the layers behind its ports, arguments are filled in.
 * The block's definition is dropped when no other call uses it. Grouping again collapses it.
 */
export function expandBlock(doc: GraphDoc, callId: string): ExpandResult {
  const call = nodeIndex(doc.nodes).get(callId);
  if (!call || call.type !== BLOCK_TYPE) return { ok: false, message: `${callId} is not a block call.` };
  if (call.share || doc.nodes.some((n) => n.share === callId)) return { ok: false, message: `${callId} shares its weights: expanding it would untie them.` };
  const name = call.params?.block as string;
  const def = blockDef(doc, name);
  if (!def) return { ok: false, message: `The block "${String(name)}" is not defined in this graph.` };
  const args = (call.params?.args as Params | undefined) ?? {};
  const taken = new Set(doc.nodes.filter((n) => n.id !== callId).map((n) => n.id));
  const rename = new Map<string, string>();
  const ports = def.nodes.filter((n) => n.type === "Input" || n.type === "Output");
  const inputs = def.nodes.filter((n) => n.type === "Input").map((n) => n.id);
  const outputs = def.nodes.filter((n) => n.type === "Output").map((n) => n.id);
  const inner = def.nodes.filter((n) => !ports.includes(n));
  for (const n of inner) {
    const prefixed = `${callId}_${n.id}`;
    const id = !taken.has(n.id) ? n.id : !taken.has(prefixed) ? prefixed : nextFree(prefixed, (i) => taken.has(i));
    taken.add(id);
    rename.set(n.id, id);
  }
  const nodes: GraphNode[] = inner.map((n) => {
    const copy: GraphNode = { ...n, id: rename.get(n.id)!, params: substitute(n.params ?? {}, args, def) as Params };
    if (n.share && rename.has(n.share)) copy.share = rename.get(n.share)!;
    return copy;
  });
  const edges: GraphEdge[] = [];
  const feeds = new Map<number, GraphEdge>(); // input port -> the outer wire feeding it
  for (const e of doc.edges) if (e.target === callId) feeds.set(targetPort(e), e);
  for (const e of def.edges) {
    const fromPort = inputs.indexOf(e.source);
    const toPort = outputs.indexOf(e.target);
    if (toPort >= 0) continue; // handled with the outer wires leaving the call
    if (fromPort >= 0) {
      const feed = feeds.get(fromPort);
      if (!feed) continue;
      const wire: GraphEdge = { source: feed.source, target: rename.get(e.target)! };
      if (sourcePort(feed)) wire.source_port = sourcePort(feed);
      if (e.target_port !== undefined) wire.target_port = e.target_port;
      edges.push(wire);
    } else {
      edges.push({ ...e, source: rename.get(e.source)!, target: rename.get(e.target)! });
    }
  }
  const behindOutput = new Map<number, GraphEdge>();
  for (const e of def.edges) {
    const k = outputs.indexOf(e.target);
    if (k >= 0) behindOutput.set(k, e);
  }
  const outer: GraphEdge[] = [];
  for (const e of doc.edges) {
    if (e.target === callId) continue;
    if (e.source !== callId) {
      outer.push(e);
      continue;
    }
    const inside = behindOutput.get(sourcePort(e));
    if (!inside) continue;
    const fromInput = inputs.indexOf(inside.source);
    const feed = fromInput >= 0 ? feeds.get(fromInput) : undefined;
    const wire: GraphEdge = { ...e, source: feed ? feed.source : rename.get(inside.source)! };
    delete wire.source_port;
    const sp = feed ? sourcePort(feed) : sourcePort(inside);
    if (sp) wire.source_port = sp;
    outer.push(wire);
  }
  const at = doc.layout[callId] ?? { x: 0, y: 0 };
  const layout: Layout = { ...doc.layout };
  delete layout[callId];
  // a definition without positions (a library block, a generated example) is laid out first
  const placed: Record<string, XY> = inner.every((n) => def.layout?.[n.id]) ? (def.layout as Layout) : computeLayout(def);
  for (const n of inner) {
    const p = placed[n.id];
    // tagged with the call it came from, so the card can collapse them back into it
    layout[rename.get(n.id)!] = { x: at.x + (p ? p.x - 240 : 0), y: at.y + (p ? p.y : 0), [EXPANDED_FROM]: { call: callId, block: name } };
  }
  const index = doc.nodes.findIndex((n) => n.id === callId);
  const outNodes = [...doc.nodes.slice(0, index), ...nodes, ...doc.nodes.slice(index + 1)];
  let blocks = doc.blocks;
  if (!outNodes.some((n) => n.type === BLOCK_TYPE && n.params?.block === name) && !usedInBlocks(doc, name)) {
    blocks = { ...(doc.blocks ?? {}) };
    delete blocks[name];
  }
  return { ok: true, ids: nodes.map((n) => n.id), doc: { ...doc, nodes: outNodes, edges: [...outer, ...edges], layout, blocks } };
}

/** The layout key marking a node put in place by expanding a call: `{call, block}`. */
export const EXPANDED_FROM = "expanded_from";

/** The call a node was expanded from, if it still carries the mark. */
export function expandedFrom(doc: Pick<GraphDoc, "layout">, id: string): { call: string; block: string } | null {
  const tag = doc.layout[id]?.[EXPANDED_FROM] as { call?: unknown; block?: unknown } | undefined;
  return tag && typeof tag.call === "string" && typeof tag.block === "string" ? { call: tag.call, block: tag.block } : null;
}

/**
 * Collapse the layers expanded from a call back into one call (the ⤡ on their cards): every node
 * still marked with that call is grouped, and the call and its block get their old names back where
 * they are free (the block's arguments were filled in on expanding: the block holds the values).
 */
export function collapseExpanded(doc: GraphDoc, id: string): GroupResult {
  const tag = expandedFrom(doc, id);
  if (!tag) return { ok: false, message: `${id} was not expanded from a block call.` };
  const ids = doc.nodes.filter((n) => expandedFrom(doc, n.id)?.call === tag.call).map((n) => n.id);
  const r = groupIntoBlock(doc, ids);
  if (!r.ok) return r;
  let out = r.doc;
  let block = r.block;
  const blocks = { ...out.blocks! };
  if (!(tag.block in (doc.blocks ?? {})) && !doc.nodes.some((n) => n.id === tag.block && !ids.includes(n.id))) {
    blocks[tag.block] = blocks[block];
    delete blocks[block];
    block = tag.block;
  }
  out = { ...out, blocks, nodes: out.nodes.map((n) => (n.id === r.id ? { ...n, params: { ...n.params, block } } : n)) };
  let callId = r.id;
  if (callId !== tag.call && !out.nodes.some((n) => n.id === tag.call)) {
    const renamed = renameNode(out, callId, tag.call);
    if (renamed.ok) {
      out = renamed.doc;
      callId = tag.call;
    }
  }
  return { ok: true, doc: out, id: callId, block };
}

function usedInBlocks(doc: GraphDoc, name: string): boolean {
  return Object.values(doc.blocks ?? {}).some((b) => (b as BlockDef).nodes?.some((n) => n.type === BLOCK_TYPE && n.params?.block === name));
}

export interface AddCallArgs {
  /** The block's name in the document (a library entry is copied in under it, or the next free name). */
  name: string;
  /** A definition to copy in (a library entry); absent for a block the document already has. */
  def?: Record<string, unknown>;
  args?: Params;
  position: { x: number; y: number };
}

/** Add a call of a block, copying a library definition into the document when it brings one. */
export function addBlockCall(doc: GraphDoc, a: AddCallArgs): { doc: GraphDoc; id: string; block: string } {
  let block = a.name;
  let blocks = doc.blocks;
  if (a.def) {
    const existing = doc.blocks?.[a.name];
    if (existing && JSON.stringify(existing) !== JSON.stringify(a.def)) {
      block = nextFree(a.name, (b) => b in (doc.blocks ?? {}));
    }
    if (!existing || block !== a.name) blocks = { ...(doc.blocks ?? {}), [block]: structuredClone(a.def) };
  }
  const taken = new Set(doc.nodes.map((n) => n.id));
  const id = nextFree(block, (i) => taken.has(i));
  const params: Params = { block };
  if (a.args && Object.keys(a.args).length) params.args = { ...a.args };
  return {
    id,
    block,
    doc: {
      ...doc,
      nodes: [...doc.nodes, { id, type: BLOCK_TYPE, params }],
      layout: { ...doc.layout, [id]: { x: Math.round(a.position.x), y: Math.round(a.position.y) } },
      blocks,
    },
  };
}
