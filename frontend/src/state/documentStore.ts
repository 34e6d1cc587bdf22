/**
 * One store per open graph: the document (tracked by zundo for undo/redo) and the editor's
 * ephemeral state around it (selection, measured node sizes, the clipboard, the server's analysis);
 * a drag in progress lives in the small `gesture` store beside it, which only the canvas reads. Only `{nodes, edges, layout, blocks}` is tracked: selection, viewport,
 * inferred shapes and save status never enter the history, and a set that leaves those four
 * references unchanged records nothing.
 *
 * Edits go through `state/commands.ts`, where each command declares its history policy.
 */

import { temporal, type TemporalState } from "zundo";
import { createStore, type StoreApi } from "zustand/vanilla";
import { makeCatalog } from "../domain/catalog";
import type { Fragment } from "../domain/graph";
import { indexIssues, type IssueIndex } from "../domain/issues";
import type { Size } from "../domain/layout";
import type { Scope } from "../domain/scope";
import type {
  AnalysisResult,
  Catalog,
  GraphDoc,
  GraphEdge,
  GraphNode,
  LayerSpec,
  Layout,
  NodeAnalysis,
  ParamTotals,
  XY,
} from "../domain/types";

/** The tracked slice: what undo/redo restores. */
export interface TrackedDoc {
  nodes: GraphNode[];
  edges: GraphEdge[];
  layout: Layout;
  blocks: Record<string, unknown> | undefined;
}

/** Document fields outside the history (renaming the graph is not an undoable edit). */
export interface DocMeta {
  version: number;
  name: string;
  description?: string;
  extra?: Record<string, unknown>;
}

export interface Selection {
  nodes: string[];
  edges: string[];
}

export type AnalysisStatus = "idle" | "pending" | "ok" | "invalid" | "offline";

export interface AnalysisView {
  status: AnalysisStatus;
  result: AnalysisResult | null;
  /** Per node, structurally shared between analyses so unchanged nodes keep their object. */
  nodeInfo: Record<string, NodeAnalysis>;
  issues: IssueIndex;
  totals: ParamTotals | null;
  /** Milliseconds from sending the document to having the answer applied. */
  roundTripMs: number | null;
  message?: string;
}

export interface ServerRef {
  graphId: string;
  name: string;
  version: number | null;
}

export interface Notice {
  id: number;
  kind: "info" | "error" | "success";
  text: string;
}

/** What undo/redo restores: the level being edited and where it is (a block opened in place). */
export interface HistorySlice extends TrackedDoc {
  scope: Scope | null;
}

export interface EditorState extends HistorySlice {
  meta: DocMeta;
  catalog: Catalog;
  selection: Selection;
  /** Measured node sizes (React Flow), used by auto-layout. */
  sizes: Record<string, Size>;
  /** Ports the user added to merges beyond those fed (view state; the document has no unfed ports). */
  portRequests: Record<string, number>;
  clipboard: Fragment | null;
  pasteCount: number;
  analysis: AnalysisView;
  server: ServerRef | null;
  /** The tracked references at the last save or open, to tell whether there are unsaved changes. */
  savedRefs: TrackedDoc | null;
  notice: Notice | null;
}

/**
 * The state of a gesture in progress, kept in a store of its own: a drag updates it every frame, and
 * only the canvas listens to it (none of the hundreds of node, edge and panel subscriptions of the
 * document store run per frame).
 */
export interface GestureState {
  /** Positions of nodes being dragged; committed to `layout` as one move on drop. */
  drag: Record<string, XY> | null;
}

export type DocumentStore = StoreApi<EditorState> & {
  temporal: StoreApi<TemporalState<HistorySlice>>;
  gesture: StoreApi<GestureState>;
};

export const HISTORY_LIMIT = 300;

export const EMPTY_ISSUES: IssueIndex = indexIssues({ errors: [], warnings: [] }, []);

export function emptyAnalysis(): AnalysisView {
  return { status: "idle", result: null, nodeInfo: {}, issues: EMPTY_ISSUES, totals: null, roundTripMs: null };
}

/**
 * The document's own parts. Inside an open block, `nodes`/`edges`/`layout` are the block's, and the
 * document's graph is the one the scope remembers.
 */
export function tracked(s: TrackedDoc & { scope?: Scope | null }): TrackedDoc {
  const top = s.scope ? s.scope.root : s;
  return { nodes: top.nodes, edges: top.edges, layout: top.layout, blocks: s.blocks };
}

/** Whether two states hold the same document (by reference), wherever each is open. */
export function sameDoc(a: TrackedDoc & { scope?: Scope | null }, b: TrackedDoc & { scope?: Scope | null }): boolean {
  const x = tracked(a);
  const y = tracked(b);
  return x.nodes === y.nodes && x.edges === y.edges && x.layout === y.layout && x.blocks === y.blocks;
}

export function historySlice(s: HistorySlice): HistorySlice {
  return { nodes: s.nodes, edges: s.edges, layout: s.layout, blocks: s.blocks, scope: s.scope };
}

/** History equality: the same level and the same document (opening a block alone records nothing). */
export function sameHistory(a: HistorySlice, b: HistorySlice): boolean {
  return a.nodes === b.nodes && a.edges === b.edges && a.layout === b.layout && a.blocks === b.blocks && a.scope === b.scope;
}

export function splitDoc(doc: GraphDoc): { tracked: TrackedDoc; meta: DocMeta } {
  const meta: DocMeta = { version: doc.version, name: doc.name };
  if (doc.description !== undefined) meta.description = doc.description;
  if (doc.extra) meta.extra = doc.extra;
  return { tracked: { nodes: doc.nodes, edges: doc.edges, layout: doc.layout, blocks: doc.blocks }, meta };
}

const docCache = new WeakMap<object, { key: unknown[]; doc: GraphDoc }>();

/** The whole document from the store's parts (memoized on their references), wherever the editor is open. */
export function selectDoc(s: Pick<EditorState, keyof TrackedDoc | "meta"> & { scope?: Scope | null }): GraphDoc {
  return levelDoc(s.scope ? { ...s, ...s.scope.root } : s);
}

/**
 * The level being edited as a document (the document itself, or an open block's graph with the
 * document's blocks): what editing commands work on.
 */
export function levelDoc(s: Pick<EditorState, keyof TrackedDoc | "meta">): GraphDoc {
  const key = [s.nodes, s.edges, s.layout, s.blocks, s.meta];
  const hit = docCache.get(s.nodes);
  if (hit && hit.key.every((k, i) => k === key[i])) return hit.doc;
  const doc: GraphDoc = {
    format: "layerloom.graph",
    version: s.meta.version,
    name: s.meta.name,
    nodes: s.nodes,
    edges: s.edges,
    layout: s.layout,
  };
  if (s.meta.description !== undefined) doc.description = s.meta.description;
  if (s.blocks !== undefined) doc.blocks = s.blocks;
  if (s.meta.extra) doc.extra = s.meta.extra;
  docCache.set(s.nodes, { key, doc });
  return doc;
}

export interface StoreOptions {
  catalog: Catalog | readonly LayerSpec[];
  server?: ServerRef | null;
  /** Whether `initial` is what the server holds (no unsaved changes). */
  saved?: boolean;
}

export function createDocumentStore(initial: GraphDoc, opts: StoreOptions): DocumentStore {
  const catalog = opts.catalog instanceof Map ? (opts.catalog as Catalog) : makeCatalog(opts.catalog as LayerSpec[]);
  const { tracked: doc, meta } = splitDoc(initial);
  const store = createStore<EditorState>()(
    temporal(
      (): EditorState => ({
        ...doc,
        scope: null,
        meta,
        catalog,
        selection: { nodes: [], edges: [] },
        sizes: {},
        portRequests: {},
        clipboard: null,
        pasteCount: 0,
        analysis: emptyAnalysis(),
        server: opts.server ?? null,
        savedRefs: opts.saved ? doc : null,
        notice: null,
      }),
      {
        partialize: historySlice,
        // No change to the document, no history entry (selection, drags, analysis, …).
        equality: sameHistory,
        limit: HISTORY_LIMIT,
      },
    ),
  ) as DocumentStore;
  store.gesture = createStore<GestureState>()(() => ({ drag: null }));
  return store;
}
