/**
 * Auto-layout with dagre, left to right (or top to bottom). Merge inputs keep their port order
 * across the flow (top to bottom, or left to right when the flow runs down): the sources of each
 * merge are constrained to that order within a rank, and a final pass swaps the slots of any
 * same-rank sources that still came out of order.
 */

import dagre from "@dagrejs/dagre";
import { targetPort } from "./graph";
import type { GraphDoc, Layout, XY } from "./types";

export interface Size {
  width: number;
  height: number;
}

export const DEFAULT_NODE_SIZE: Size = { width: 184, height: 64 };

/** Which way the data flows: left to right (the default) or top to bottom. */
export type LayoutDirection = "LR" | "TB";

export interface LayoutOptions {
  sizes?: Readonly<Record<string, Size>>;
  rankSep?: number;
  nodeSep?: number;
  /** Only place these nodes; others keep their positions (used for documents without layout). */
  only?: ReadonlySet<string>;
  direction?: LayoutDirection;
}

/** Positions (top-left) for every node. */
export function computeLayout(doc: Pick<GraphDoc, "nodes" | "edges">, opts: LayoutOptions = {}): Record<string, XY> {
  // Pass 1 finds each node's rank (column); pass 2 asks dagre to keep the inputs of every merge, and
  // the chains feeding them, in port order within their columns.
  const down = opts.direction === "TB";
  const first = runDagre(doc, opts, mergeOrderConstraints(doc, null));
  const columns = new Map<string, number>();
  for (const [id, p] of Object.entries(first)) columns.set(id, down ? p.y : p.x);
  const pos = runDagre(doc, opts, mergeOrderConstraints(doc, columns)) ?? first;
  enforcePortOrder(doc, pos, down);
  return pos;
}

function runDagre(doc: Pick<GraphDoc, "nodes" | "edges">, opts: LayoutOptions, constraints: OrderConstraint[]): Record<string, XY> {
  const g = new dagre.graphlib.Graph({ multigraph: true });
  g.setGraph({ rankdir: opts.direction ?? "LR", ranksep: opts.rankSep ?? 72, nodesep: opts.nodeSep ?? 28, marginx: 0, marginy: 0 });
  g.setDefaultEdgeLabel(() => ({}));
  const sizeOf = (id: string) => opts.sizes?.[id] ?? DEFAULT_NODE_SIZE;
  const ids = new Set(doc.nodes.map((n) => n.id));
  for (const n of doc.nodes) g.setNode(n.id, { ...sizeOf(n.id) });
  // Edges in port order, so dagre's initial ordering already sees port 0 before port 1.
  const edges = doc.edges
    .map((e, i) => ({ e, i }))
    .filter(({ e }) => ids.has(e.source) && ids.has(e.target) && e.source !== e.target)
    .sort((a, b) => (a.e.target === b.e.target ? targetPort(a.e) - targetPort(b.e) : a.i - b.i));
  for (const { e, i } of edges) g.setEdge(e.source, e.target, {}, `e${i}`);
  try {
    dagre.layout(g, { constraints });
  } catch {
    dagre.layout(g); // constraints that cannot all hold are a hint only
  }
  const pos: Record<string, XY> = {};
  for (const n of doc.nodes) {
    const v = g.node(n.id) as { x: number; y: number; width: number; height: number } | undefined;
    if (!v) continue;
    pos[n.id] = { x: Math.round(v.x - v.width / 2), y: Math.round(v.y - v.height / 2) };
  }
  return pos;
}

interface OrderConstraint {
  left: string;
  right: string;
}

/**
 * "left above right" pairs: consecutive inputs of each merge, and — once columns are known — the
 * chains that feed them, followed back (through single predecessors) while they stay side by side.
 */
function mergeOrderConstraints(doc: Pick<GraphDoc, "edges">, columns: ReadonlyMap<string, number> | null): OrderConstraint[] {
  const byTarget = new Map<string, { port: number; source: string }[]>();
  const preds = new Map<string, Set<string>>();
  for (const e of doc.edges) {
    const list = byTarget.get(e.target) ?? [];
    list.push({ port: targetPort(e), source: e.source });
    byTarget.set(e.target, list);
    const p = preds.get(e.target) ?? new Set();
    p.add(e.source);
    preds.set(e.target, p);
  }
  const only = (id: string) => {
    const p = preds.get(id);
    return p && p.size === 1 ? [...p][0] : null;
  };
  const out: OrderConstraint[] = [];
  const seen = new Set<string>();
  const add = (left: string, right: string) => {
    const key = `${left}\0${right}`;
    if (left === right || seen.has(key) || seen.has(`${right}\0${left}`)) return false;
    seen.add(key);
    out.push({ left, right });
    return true;
  };
  for (const list of byTarget.values()) {
    if (list.length < 2) continue;
    list.sort((a, b) => a.port - b.port);
    for (let i = 1; i < list.length; i++) {
      let a: string | null = list[i - 1].source;
      let b: string | null = list[i].source;
      if (!columns) {
        add(a, b);
        continue;
      }
      for (let steps = 0; a && b && a !== b && steps < 64; steps++) {
        const ca = columns.get(a);
        const cb = columns.get(b);
        if (ca === undefined || cb === undefined) break;
        if (ca === cb) {
          if (!add(a, b)) break;
          a = only(a);
          b = only(b);
        } else if (ca > cb) a = only(a);
        else b = only(b);
      }
    }
  }
  return out;
}

/**
 * Among sources of one merge that share a rank, reassign their slots so port order reads top-down
 * (left to right when the flow runs down).
 */
function enforcePortOrder(doc: Pick<GraphDoc, "edges">, pos: Record<string, XY>, down = false): void {
  const rank = down ? "y" : "x";
  const slot = down ? "x" : "y";
  const byTarget = new Map<string, { port: number; source: string }[]>();
  for (const e of doc.edges) {
    if (!pos[e.source]) continue;
    const list = byTarget.get(e.target) ?? [];
    list.push({ port: targetPort(e), source: e.source });
    byTarget.set(e.target, list);
  }
  for (const list of byTarget.values()) {
    if (list.length < 2) continue;
    const columns = new Map<number, { port: number; source: string }[]>();
    for (const item of list) {
      const r = pos[item.source][rank];
      const col = columns.get(r) ?? [];
      if (!col.some((c) => c.source === item.source)) col.push(item);
      columns.set(r, col);
    }
    for (const col of columns.values()) {
      if (col.length < 2) continue;
      const slots = col.map((c) => pos[c.source][slot]).sort((a, b) => a - b);
      col.sort((a, b) => a.port - b.port).forEach((c, i) => (pos[c.source] = { ...pos[c.source], [slot]: slots[i] }));
    }
  }
}

/** The layout with computed positions merged in (other UI data in each entry is kept). */
export function applyPositions(layout: Layout, positions: Readonly<Record<string, XY>>): Layout {
  const next: Layout = { ...layout };
  for (const [id, p] of Object.entries(positions)) next[id] = { ...(layout[id] ?? {}), x: p.x, y: p.y };
  return next;
}

/** Lay out the whole document (the auto-layout command). */
export function autoLayout(doc: GraphDoc, sizes?: Readonly<Record<string, Size>>, direction: LayoutDirection = "LR"): GraphDoc {
  if (!doc.nodes.length) return doc;
  return { ...doc, layout: applyPositions(doc.layout, computeLayout(doc, { sizes, direction })) };
}

/** Give positions to nodes that have none, keeping every placed node where it is. */
export function placeUnplaced(doc: GraphDoc, sizes?: Readonly<Record<string, Size>>): GraphDoc {
  const missing = doc.nodes.filter((n) => !doc.layout[n.id]);
  if (!missing.length) return doc;
  if (missing.length === doc.nodes.length) return autoLayout(doc, sizes);
  // Lay out everything, then shift the new positions below the existing drawing.
  const all = computeLayout(doc, { sizes });
  let bottom = -Infinity;
  for (const p of Object.values(doc.layout)) bottom = Math.max(bottom, p.y);
  const minY = Math.min(...missing.map((n) => all[n.id]?.y ?? 0));
  const positions: Record<string, XY> = {};
  for (const n of missing) {
    const p = all[n.id] ?? { x: 0, y: 0 };
    positions[n.id] = { x: p.x, y: p.y - minY + bottom + 120 };
  }
  return { ...doc, layout: applyPositions(doc.layout, positions) };
}
