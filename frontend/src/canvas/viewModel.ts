/**
 * React Flow's nodes and edges, derived from the document and the ephemeral view state. Objects are
 * cached per id and rebuilt only when what they show changed, so dragging one node hands React Flow
 * 499 identical node objects and re-renders one.
 */

import type { Edge, Node } from "@xyflow/react";
import { edgeKeys, sourcePort, targetPort } from "../domain/graph";
import type { Size } from "../domain/layout";
import type { GraphEdge, GraphNode, Layout, XY } from "../domain/types";
import type { Selection } from "../state/documentStore";

export type LayerNodeData = { layerType: string };
export type LayerFlowNode = Node<LayerNodeData, "layer">;
export type WireFlowEdge = Edge<Record<string, never>, "wire">;

export const inHandle = (port: number) => `in${port}`;
export const outHandle = (port: number) => `out${port}`;

/** The port number of a handle id (in3 → 3), or 0. */
export function handlePort(handle: string | null | undefined): number {
  const m = handle ? /(\d+)$/.exec(handle) : null;
  return m ? Number(m[1]) : 0;
}

interface NodeCacheEntry {
  x: number;
  y: number;
  selected: boolean;
  measured: Size | undefined;
  type: string;
  flow: LayerFlowNode;
}

export function createNodeBuilder() {
  const cache = new Map<string, NodeCacheEntry>();
  let last: {
    nodes: GraphNode[];
    layout: Layout;
    drag: Record<string, XY> | null;
    selection: Selection;
    sizes: Record<string, Size>;
    result: LayerFlowNode[];
    index: Map<string, number>;
  } | null = null;
  let selectedFor: Selection | null = null;
  let selectedSet = new Set<string>();

  return function build(
    nodes: GraphNode[],
    layout: Layout,
    drag: Record<string, XY> | null,
    selection: Selection,
    sizes: Record<string, Size>,
  ): LayerFlowNode[] {
    if (last && last.nodes === nodes && last.layout === layout && last.selection === selection && last.sizes === sizes) {
      if (last.drag === drag) return last.result;
      if (drag && last.index) {
        // A drag frame: only the dragged nodes moved; copy the array and replace just those.
        const result = last.result.slice();
        const moved = new Set([...Object.keys(drag), ...Object.keys(last.drag ?? {})]);
        for (const id of moved) {
          const i = last.index.get(id);
          if (i === undefined) continue;
          result[i] = flowNode(nodes[i], i, drag[id] ?? layout[id], selection, sizes);
        }
        last = { ...last, drag, result };
        return result;
      }
    }
    selectedSet = selection === selectedFor ? selectedSet : new Set(selection.nodes);
    selectedFor = selection;
    const index = new Map<string, number>();
    const result = nodes.map((n, i): LayerFlowNode => {
      index.set(n.id, i);
      return flowNode(n, i, drag?.[n.id] ?? layout[n.id], selection, sizes);
    });
    if (cache.size > index.size) for (const id of cache.keys()) if (!index.has(id)) cache.delete(id);
    last = { nodes, layout, drag, selection, sizes, result, index };
    return result;
  };

  function flowNode(n: GraphNode, i: number, at: XY | undefined, selection: Selection, sizes: Record<string, Size>): LayerFlowNode {
    if (selection !== selectedFor) {
      selectedSet = new Set(selection.nodes);
      selectedFor = selection;
    }
    const pos = at ?? { x: (i % 8) * 220, y: Math.floor(i / 8) * 120 };
    const isSelected = selectedSet.has(n.id);
    const measured = sizes[n.id];
    const prev = cache.get(n.id);
    if (prev && prev.x === pos.x && prev.y === pos.y && prev.selected === isSelected && prev.measured === measured && prev.type === n.type) {
      return prev.flow;
    }
    const flow: LayerFlowNode = {
      id: n.id,
      type: "layer",
      position: { x: pos.x, y: pos.y },
      selected: isSelected,
      data: prev && prev.type === n.type ? prev.flow.data : { layerType: n.type },
    };
    if (measured) flow.measured = { width: measured.width, height: measured.height };
    cache.set(n.id, { x: pos.x, y: pos.y, selected: isSelected, measured, type: n.type, flow });
    return flow;
  }
}

interface EdgeCacheEntry {
  selected: boolean;
  edge: GraphEdge;
  flow: WireFlowEdge;
}

export function createEdgeBuilder() {
  const cache = new Map<string, EdgeCacheEntry>();
  let last: { edges: GraphEdge[]; selection: Selection; result: WireFlowEdge[] } | null = null;

  return function build(edges: GraphEdge[], selection: Selection): WireFlowEdge[] {
    if (last && last.edges === edges && last.selection === selection) return last.result;
    const keys = edgeKeys(edges);
    const selected = new Set(selection.edges);
    const seen = new Set<string>();
    const result = edges.map((e, i): WireFlowEdge => {
      const id = keys[i];
      seen.add(id);
      const isSelected = selected.has(id);
      const prev = cache.get(id);
      if (prev && prev.edge === e && prev.selected === isSelected) return prev.flow;
      const flow: WireFlowEdge = {
        id,
        type: "wire",
        source: e.source,
        target: e.target,
        sourceHandle: outHandle(sourcePort(e)),
        targetHandle: inHandle(targetPort(e)),
        selected: isSelected,
      };
      cache.set(id, { selected: isSelected, edge: e, flow });
      return flow;
    });
    if (cache.size > seen.size) for (const id of cache.keys()) if (!seen.has(id)) cache.delete(id);
    last = { edges, selection, result };
    return result;
  };
}

/** Per node: the highest fed input port and the highest used output port (cached per edges array). */
export interface PortUse {
  maxIn: number;
  maxOut: number;
}

const portCache = new WeakMap<readonly GraphEdge[], Map<string, PortUse>>();

export function portUse(edges: readonly GraphEdge[]): Map<string, PortUse> {
  let map = portCache.get(edges);
  if (!map) {
    map = new Map();
    for (const e of edges) {
      const t = map.get(e.target) ?? { maxIn: -1, maxOut: -1 };
      t.maxIn = Math.max(t.maxIn, targetPort(e));
      map.set(e.target, t);
      const s = map.get(e.source) ?? { maxIn: -1, maxOut: -1 };
      s.maxOut = Math.max(s.maxOut, sourcePort(e));
      map.set(e.source, s);
    }
    portCache.set(edges, map);
  }
  return map;
}

const sharerCache = new WeakMap<readonly GraphNode[], Map<string, string[]>>();

/** owner id → ids of the nodes that share its weights. */
export function sharers(nodes: readonly GraphNode[]): Map<string, string[]> {
  let map = sharerCache.get(nodes);
  if (!map) {
    map = new Map();
    for (const n of nodes) {
      if (!n.share) continue;
      const list = map.get(n.share) ?? [];
      list.push(n.id);
      map.set(n.share, list);
    }
    sharerCache.set(nodes, map);
  }
  return map;
}
