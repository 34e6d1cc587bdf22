/**
 * Helpers over the layer catalog (`GET /api/layers`). The editor keeps no layer list of its own:
 * palette entries, ports and inspector forms all come from here.
 */

import type { Catalog, GraphEdge, GraphNode, JsonSchema, LayerSpec, Params } from "./types";

export function makeCatalog(specs: readonly LayerSpec[]): Catalog {
  return new Map(specs.map((s) => [s.type, s]));
}

export interface CatalogGroup {
  category: string;
  layers: LayerSpec[];
}

/** Groups and layers in catalog order (the backend orders the catalog by palette category); filtered by a search. */
export function groupCatalog(catalog: Catalog, query = ""): CatalogGroup[] {
  const q = query.trim().toLowerCase();
  const groups = new Map<string, LayerSpec[]>();
  for (const spec of catalog.values()) {
    if (q && !matches(spec, q)) continue;
    const list = groups.get(spec.category) ?? [];
    list.push(spec);
    groups.set(spec.category, list);
  }
  return [...groups.entries()].map(([category, layers]) => ({ category, layers }));
}

function matches(spec: LayerSpec, q: string): boolean {
  return (
    spec.type.toLowerCase().includes(q) ||
    spec.category.toLowerCase().includes(q) ||
    spec.doc.toLowerCase().includes(q)
  );
}

/** A spec for node types the catalog does not know (the compiler reports them): one in, one out. */
export function specOf(catalog: Catalog, type: string): LayerSpec {
  return (
    catalog.get(type) ?? {
      type,
      category: "Unknown",
      doc: "Not in the layer catalog.",
      params_schema: { type: "object", properties: {} },
      inputs: { min: 1, max: 1 },
      outputs: 1,
    }
  );
}

/**
 * The spec of one node: its catalog entry, except a block call (`type: "Block"`), whose ports are its
 * block's Input and Output nodes (docs/graph-format.md#blocks) and which the catalog does not list.
 */
export function nodeSpec(catalog: Catalog, node: Pick<GraphNode, "type" | "params"> | undefined, blocks?: Record<string, unknown>): LayerSpec {
  if (!node) return specOf(catalog, "");
  if (node.type !== "Block") return specOf(catalog, node.type);
  const name = node.params?.block;
  const def = typeof name === "string" ? (blocks?.[name] as { nodes?: GraphNode[] } | undefined) : undefined;
  const inputs = def?.nodes?.filter((n) => n.type === "Input").length ?? 1;
  const outputs = def?.nodes?.filter((n) => n.type === "Output").length ?? 1;
  return {
    type: "Block",
    category: "Blocks",
    doc: def ? `A call of the block ${String(name)}.` : `The block ${String(name)} is not defined in this graph.`,
    params_schema: { type: "object", properties: {} },
    inputs: { min: inputs, max: inputs },
    outputs,
  };
}

/** True for layers with ordered, growable input ports (Add, Concatenate, …): max is null or > 1. */
export function isMerge(spec: LayerSpec): boolean {
  return spec.inputs.max === null || spec.inputs.max > 1;
}

/**
 * How many input ports to draw: at least the minimum, every fed port, and any the user asked for
 * (`requested`), capped by the maximum.
 */
export function inputPortCount(spec: LayerSpec, edges: readonly GraphEdge[], nodeId: string, requested = 0): number {
  let highestFed = -1;
  for (const e of edges) if (e.target === nodeId) highestFed = Math.max(highestFed, e.target_port ?? 0);
  let n = Math.max(spec.inputs.min, highestFed + 1, requested);
  if (spec.inputs.max !== null) n = Math.min(n, Math.max(spec.inputs.max, highestFed + 1));
  return n;
}

/** Whether another port may be added to a node that shows `count` ports. */
export function canAddPort(spec: LayerSpec, count: number): boolean {
  return isMerge(spec) && (spec.inputs.max === null || count < spec.inputs.max);
}

/** Keras-style base name of a layer type: Conv2D → conv2d, BatchNormalization → batch_normalization. */
export function baseName(type: string): string {
  const snake = type
    .replace(/(\d)D(?![a-z])/g, "$1d") // Conv2D → Conv2d, so it becomes conv2d
    .replace(/([a-z0-9])([A-Z])/g, "$1_$2")
    .replace(/([A-Z]+)([A-Z][a-z])/g, "$1_$2")
    .toLowerCase()
    .replace(/[^a-z0-9_]/g, "_");
  return /^[a-z]/.test(snake) ? snake : `layer_${snake}`;
}

/** The effective params of a node: its own, or (for a shared call) its owner's. */
export function effectiveParams(node: GraphNode, nodes: ReadonlyMap<string, GraphNode>): Params {
  if (node.share) {
    const owner = nodes.get(node.share);
    if (owner) return owner.params ?? {};
  }
  return node.params ?? {};
}

/** The schema's default for a property, if it declares one. */
export function defaultOf(schema: JsonSchema | undefined): unknown {
  return schema?.default;
}

/** Params a new node starts with: empty (defaults apply), like the examples write them. */
export function initialParams(): Params {
  return {};
}
