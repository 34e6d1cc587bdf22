/**
 * Reading and writing graph documents. `parseGraph` upgrades older versions through named steps and
 * refuses newer ones with a typed reason (never a guess); `serializeGraph` writes back exactly what
 * was read, so a document round-trips through the editor unchanged (absent fields stay absent).
 */

import type { GraphDoc, GraphEdge, GraphNode, Layout } from "./types";

export const FORMAT_NAME = "layerloom.graph";
export const CURRENT_VERSION = 1;

const KNOWN_KEYS = new Set(["format", "version", "name", "description", "nodes", "edges", "layout", "blocks"]);

/** One upgrade step, keyed by the version it upgrades *from*. Version 1 is the first published
 * format, so there are none yet; each future format change adds a named step here (and a frozen
 * example of the old version under src/domain/fixtures/). */
export interface Migration {
  name: string;
  up: (doc: Record<string, unknown>) => Record<string, unknown>;
}
export const MIGRATIONS: Readonly<Record<number, Migration>> = {};

/** Throws when the steps do not cover versions 1 … CURRENT_VERSION-1 exactly (checked at load). */
export function checkMigrations(steps: Readonly<Record<number, Migration>> = MIGRATIONS, current = CURRENT_VERSION): void {
  const have = Object.keys(steps).map(Number).sort((a, b) => a - b);
  const want = Array.from({ length: current - 1 }, (_, i) => i + 1);
  if (have.length !== want.length || have.some((v, i) => v !== want[i])) {
    throw new Error(`graph-format migrations must cover versions [${want}], got [${have}]`);
  }
}
checkMigrations();

export type ParseFailure =
  | { ok: false; reason: "not_json"; message: string }
  | { ok: false; reason: "not_a_graph"; message: string }
  | { ok: false; reason: "format"; message: string }
  | { ok: false; reason: "version"; message: string }
  | { ok: false; reason: "version_unsupported"; message: string }
  | { ok: false; reason: "schema"; message: string };

export type ParseResult = { ok: true; doc: GraphDoc; upgradedFrom?: number } | ParseFailure;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Parse JSON text into a document. */
export function parseGraphText(text: string): ParseResult {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { ok: false, reason: "not_json", message: `Not valid JSON: ${(err as Error).message}` };
  }
  return parseGraph(value);
}

/**
 * Check the envelope and upgrade to the current version. Only the envelope is checked here (the
 * compiler judges ids, types, params and wiring, and reports every problem on its node).
 */
export function parseGraph(value: unknown): ParseResult {
  if (!isObject(value)) {
    return { ok: false, reason: "not_a_graph", message: "A graph must be a JSON object with 'nodes' and 'edges'." };
  }
  const fmt = value.format ?? FORMAT_NAME;
  if (fmt !== FORMAT_NAME) {
    return { ok: false, reason: "format", message: `'format' must be '${FORMAT_NAME}', got ${JSON.stringify(fmt)}.` };
  }
  const version = value.version ?? CURRENT_VERSION;
  if (typeof version !== "number" || !Number.isInteger(version) || version < 1) {
    return { ok: false, reason: "version", message: `'version' must be a positive integer, got ${JSON.stringify(version)}.` };
  }
  if (version > CURRENT_VERSION) {
    return {
      ok: false,
      reason: "version_unsupported",
      message: `This graph uses format version ${version}, made by a newer Layerloom; this editor reads versions up to ${CURRENT_VERSION}.`,
    };
  }
  let raw: Record<string, unknown> = value;
  for (let v = version; v < CURRENT_VERSION; v++) {
    raw = { ...MIGRATIONS[v].up({ ...raw }), version: v + 1 };
  }
  if (!Array.isArray(raw.nodes)) {
    return { ok: false, reason: "schema", message: "'nodes' must be a list of {id, type, params}." };
  }
  const nodes: GraphNode[] = [];
  for (const [i, n] of raw.nodes.entries()) {
    if (!isObject(n) || typeof n.id !== "string" || typeof n.type !== "string") {
      return { ok: false, reason: "schema", message: `nodes[${i}] must be an object with a string 'id' and 'type'.` };
    }
    if (n.params !== undefined && !isObject(n.params)) {
      return { ok: false, reason: "schema", message: `nodes[${i}].params must be an object.` };
    }
    const node: GraphNode = { ...n, id: n.id, type: n.type } as GraphNode;
    nodes.push(node);
  }
  const rawEdges = raw.edges ?? [];
  if (!Array.isArray(rawEdges)) return { ok: false, reason: "schema", message: "'edges' must be a list." };
  const edges: GraphEdge[] = [];
  for (const [i, e] of rawEdges.entries()) {
    if (!isObject(e) || typeof e.source !== "string" || typeof e.target !== "string") {
      return { ok: false, reason: "schema", message: `edges[${i}] must have a string 'source' and 'target'.` };
    }
    for (const port of ["source_port", "target_port"] as const) {
      const p = e[port];
      if (p !== undefined && !(typeof p === "number" && Number.isInteger(p) && p >= 0)) {
        return { ok: false, reason: "schema", message: `edges[${i}].${port} must be a non-negative integer.` };
      }
    }
    edges.push({ ...e } as unknown as GraphEdge);
  }
  const layout = raw.layout ?? {};
  if (!isObject(layout)) return { ok: false, reason: "schema", message: "'layout' must be an object." };
  const cleanLayout: Layout = {};
  for (const [id, pos] of Object.entries(layout)) {
    // Keep whatever UI data an entry holds; positions must be numbers to be drawn.
    if (isObject(pos) && typeof pos.x === "number" && typeof pos.y === "number") {
      cleanLayout[id] = pos as Layout[string];
    } else if (isObject(pos)) {
      cleanLayout[id] = { ...pos, x: Number(pos.x) || 0, y: Number(pos.y) || 0 };
    }
  }
  const doc: GraphDoc = {
    format: FORMAT_NAME,
    version: CURRENT_VERSION,
    name: typeof raw.name === "string" ? raw.name : "untitled",
    nodes,
    edges,
    layout: cleanLayout,
  };
  if (raw.description !== undefined) doc.description = String(raw.description);
  if (raw.blocks !== undefined) {
    if (!isObject(raw.blocks)) return { ok: false, reason: "schema", message: "'blocks' must be an object." };
    doc.blocks = raw.blocks;
  }
  const extra: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(raw)) if (!KNOWN_KEYS.has(k)) extra[k] = v;
  if (Object.keys(extra).length) doc.extra = extra;
  const result: ParseResult = { ok: true, doc };
  if (version !== CURRENT_VERSION) result.upgradedFrom = version;
  return result;
}

/** The document as the backend reads it (plain JSON, fields in the conventional order). */
export function serializeGraph(doc: GraphDoc): Record<string, unknown> {
  const out: Record<string, unknown> = {
    format: FORMAT_NAME,
    version: doc.version,
    name: doc.name,
  };
  if (doc.description !== undefined) out.description = doc.description;
  out.nodes = doc.nodes.map((n) => ({ ...n }));
  out.edges = doc.edges.map((e) => ({ ...e }));
  out.layout = doc.layout;
  if (doc.blocks !== undefined) out.blocks = doc.blocks;
  if (doc.extra) for (const [k, v] of Object.entries(doc.extra)) if (!(k in out)) out[k] = v;
  return out;
}

/** Pretty JSON for export files. */
export function graphToText(doc: GraphDoc): string {
  return JSON.stringify(serializeGraph(doc), null, 2) + "\n";
}

export function emptyGraph(name = "untitled"): GraphDoc {
  return { format: FORMAT_NAME, version: CURRENT_VERSION, name, description: "", nodes: [], edges: [], layout: {} };
}
