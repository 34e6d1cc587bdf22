/**
 * Types of the graph document (format `layerloom.graph`, see docs/graph-format.md), of the layer
 * catalog published by `GET /api/layers`, and of the compiler's analysis
 * (`POST /api/graphs/validate`). The frontend only edits documents; their meaning lives in the
 * backend's compiler.
 */

export type Params = Record<string, unknown>;

export interface GraphNode {
  id: string;
  type: string;
  /** Absent on a shared call site in the examples; kept absent on round trip. */
  params?: Params;
  /** The id of the node whose weights this call reuses. */
  share?: string | null;
}

export interface GraphEdge {
  source: string;
  target: string;
  source_port?: number;
  target_port?: number;
}

export type XY = { x: number; y: number };

/** One node's UI data: its position, plus anything else another tool stored there (kept). */
export interface LayoutEntry {
  x: number;
  y: number;
  [key: string]: unknown;
}

/** UI-only data per node id; the compiler ignores it. */
export type Layout = Record<string, LayoutEntry>;

export interface GraphDoc {
  format: "layerloom.graph";
  version: number;
  name: string;
  description?: string;
  nodes: GraphNode[];
  edges: GraphEdge[];
  layout: Layout;
  blocks?: Record<string, unknown>;
  /** Unknown top-level keys, kept verbatim (the backend keeps them too). */
  extra?: Record<string, unknown>;
}

// ---- catalog -------------------------------------------------------------------------------

/** The subset of JSON Schema that pydantic emits for layer params. */
export interface JsonSchema {
  type?: "integer" | "number" | "string" | "boolean" | "array" | "object" | "null";
  title?: string;
  description?: string;
  default?: unknown;
  enum?: unknown[];
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  items?: JsonSchema;
  minItems?: number;
  maxItems?: number;
  anyOf?: JsonSchema[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean;
  /** a nested model (a wrapper's inner layer), edited as JSON */
  $ref?: string;
}

export interface LayerSpec {
  type: string;
  category: string;
  doc: string;
  params_schema: JsonSchema;
  /** max null: any number of ordered ports (merges). */
  inputs: { min: number; max: number | null };
  outputs: number;
}

export type Catalog = ReadonlyMap<string, LayerSpec>;

// ---- analysis ------------------------------------------------------------------------------

export type Severity = "error" | "warning";

export interface Issue {
  code: string;
  message: string;
  severity: Severity;
  node?: string;
  /** Index into the `edges` of the document that was analysed. */
  edge?: number;
  field?: string;
  nodes?: string[];
  /** Inside blocks: the chain from the document's call down to the inner node (`["stage2_b1", "conv1"]`). */
  path?: string[];
}

export interface NodeAnalysis {
  type: string;
  inputs: string[] | null;
  output_shape: number[] | null;
  dtype: string | null;
  params: { trainable: number; non_trainable: number; total: number };
  shared_with: string | null;
}

export interface ParamTotals {
  total: number;
  trainable: number;
  non_trainable: number;
}

export interface SummaryRow {
  node: string;
  type: string;
  output_shape: string;
  params: number;
  connected_to: string[];
  shared_with: string | null;
  /** A block call's name of block, and its inner rows (Keras's expand_nested). */
  block?: string | null;
  children?: SummaryRow[];
}

export interface AnalysisResult {
  ok: boolean;
  name: string;
  errors: Issue[];
  warnings: Issue[];
  nodes: Record<string, NodeAnalysis>;
  order: string[];
  totals: ParamTotals;
  summary?: { rows: SummaryRow[] } & ParamTotals;
}
