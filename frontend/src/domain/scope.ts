/**
 * Blocks opened in place. The editor always edits one level: the document itself, or the definition
 * of a block reached through a chain of calls (document › stage2_b1 (bottleneck) › se (squeeze)).
 * The level being edited is what the canvas shows; the scope remembers the document's own graph
 * while a block is open and the chain of calls, so a block's edits are written back into
 * `blocks[name]` (every call of it changes) and the analysis of the whole document can be read at
 * the open call's inner nodes (`stage2_b1.conv1`). Pure: no React, no store.
 */

import { BLOCK_TYPE, blockDef, type BlockDef } from "./blocks";
import { nodeIndex } from "./graph";
import { placeUnplaced } from "./layout";
import type { GraphDoc, GraphEdge, GraphNode, Layout } from "./types";

/** One level's graph: the document's, or a block definition's. */
export interface Level {
  nodes: GraphNode[];
  edges: GraphEdge[];
  layout: Layout;
}

export interface ScopeFrame {
  /** The call (at the level above) through which the block was opened. */
  call: string;
  /** The block it calls. */
  block: string;
}

export interface Scope {
  /** The document's own graph, as it was when the first block was opened (it cannot change inside). */
  root: Level;
  path: ScopeFrame[];
}

type Blocks = Record<string, unknown> | undefined;

export type OpenResult = { ok: true; level: Level; scope: Scope } | { ok: false; message: string };

/** The level a block definition shows: its graph, with positions for nodes that have none. */
function levelOf(def: BlockDef): Level {
  const doc = { nodes: def.nodes, edges: def.edges, layout: def.layout ?? {} } as GraphDoc;
  const placed = placeUnplaced(doc);
  return { nodes: def.nodes, edges: def.edges, layout: placed.layout };
}

/** Open the block that `callId` (a node of the current level) calls, one level down. */
export function openBlock(current: Level, blocks: Blocks, scope: Scope | null, callId: string): OpenResult {
  const call = nodeIndex(current.nodes).get(callId);
  if (!call || call.type !== BLOCK_TYPE) return { ok: false, message: `${callId} is not a block call.` };
  const name = call.params?.block;
  const def = blockDef({ blocks }, name);
  if (!def) return { ok: false, message: `The block "${String(name)}" is not defined in this graph.` };
  if (scope?.path.some((f) => f.block === name)) return { ok: false, message: `The block "${String(name)}" is already open above: it calls itself.` };
  const root = scope?.root ?? { nodes: current.nodes, edges: current.edges, layout: current.layout };
  return { ok: true, level: levelOf(def), scope: { root, path: [...(scope?.path ?? []), { call: callId, block: name as string }] } };
}

/**
 * Go back up to `depth` (0: the document itself). Returns the level shown there, the scope left
 * (null at the document) and the call to select (the one the user came out of).
 */
export function closeTo(scope: Scope, blocks: Blocks, depth: number): { level: Level; scope: Scope | null; call: string } | null {
  if (depth < 0 || depth >= scope.path.length) return null;
  const call = scope.path[depth].call;
  if (depth === 0) return { level: scope.root, scope: null, call };
  const def = blockDef({ blocks }, scope.path[depth - 1].block);
  if (!def) return { level: scope.root, scope: null, call: scope.path[0].call };
  return { level: levelOf(def), scope: { root: scope.root, path: scope.path.slice(0, depth) }, call };
}

/** The blocks with the open block's definition replaced by the level being edited (other fields kept). */
export function writeBack(blocks: Blocks, scope: Scope, level: Level): Blocks {
  const name = scope.path[scope.path.length - 1].block;
  const def = blockDef({ blocks }, name);
  if (!def) return blocks;
  if (def.nodes === level.nodes && def.edges === level.edges && def.layout === level.layout) return blocks;
  return { ...(blocks ?? {}), [name]: { ...def, nodes: level.nodes, edges: level.edges, layout: level.layout } };
}

/** The document's own graph: the current level at the top, else the one remembered by the scope. */
export function rootLevel(scope: Scope | null, current: Level): Level {
  return scope ? scope.root : current;
}

/** The id the analysis uses for a node of the current level (`stage2_b1.conv1` inside a call). */
export function scopedId(scope: Scope | null, id: string): string {
  return scope && scope.path.length ? `${scope.path.map((f) => f.call).join(".")}.${id}` : id;
}

/** The breadcrumb: the document, then each open call with its block's name. */
export function breadcrumb(docName: string, scope: Scope | null): { label: string; depth: number }[] {
  const out = [{ label: docName || "document", depth: 0 }];
  scope?.path.forEach((f, i) => out.push({ label: `${f.call} · ${f.block}`, depth: i + 1 }));
  return out;
}
