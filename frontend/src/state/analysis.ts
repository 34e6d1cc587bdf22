/**
 * Live analysis: every document change is sent (debounced) to the compiler, and its answer —
 * shapes, parameter counts, errors and warnings — is stored beside the document. Server-computed
 * results are never recorded in the history. Only the latest request's answer is applied; older
 * requests are aborted.
 */

import { serializeGraph } from "../domain/format";
import { indexIssues, type IssueIndex } from "../domain/issues";
import type { AnalysisResult, GraphDoc, Issue, NodeAnalysis } from "../domain/types";
import { sameDoc, selectDoc, type AnalysisView, type DocumentStore, type EditorState } from "./documentStore";

export type Validator = (doc: Record<string, unknown>, signal: AbortSignal) => Promise<AnalysisResult>;

export interface LiveAnalysisOptions {
  debounceMs?: number;
  now?: () => number;
}

/** Whether the document changed (opening a block or going back up changes only the level shown). */
const docChanged = (a: EditorState, b: EditorState) => !sameDoc(a, b) || a.meta !== b.meta;

/** Start analysing the store's document on every change; returns a stop function. */
export function startLiveAnalysis(store: DocumentStore, validate: Validator, opts: LiveAnalysisOptions = {}): () => void {
  const debounceMs = opts.debounceMs ?? 100;
  const now = opts.now ?? (() => performance.now());
  let timer: ReturnType<typeof setTimeout> | null = null;
  let inflight: AbortController | null = null;
  let seq = 0;

  const run = async () => {
    timer = null;
    inflight?.abort();
    const controller = new AbortController();
    inflight = controller;
    const mine = ++seq;
    const state = store.getState();
    const doc = selectDoc(state);
    const started = now();
    try {
      const result = await validate(serializeGraph(doc), controller.signal);
      if (mine !== seq) return;
      store.setState({ analysis: mergeAnalysis(store.getState().analysis, result, doc, now() - started) });
    } catch (err) {
      if (controller.signal.aborted || mine !== seq) return;
      const prev = store.getState().analysis;
      store.setState({ analysis: { ...prev, status: "offline", message: (err as Error).message } });
    } finally {
      if (inflight === controller) inflight = null;
    }
  };

  const schedule = (immediate = false) => {
    if (timer) clearTimeout(timer);
    const prev = store.getState().analysis;
    if (prev.status !== "pending") store.setState({ analysis: { ...prev, status: "pending" } });
    timer = setTimeout(run, immediate ? 0 : debounceMs);
  };

  const unsubscribe = store.subscribe((s, prev) => {
    if (docChanged(s, prev)) schedule();
  });
  schedule(true);
  return () => {
    unsubscribe();
    if (timer) clearTimeout(timer);
    inflight?.abort();
  };
}

function sameNodeInfo(a: NodeAnalysis | undefined, b: NodeAnalysis): boolean {
  if (!a) return false;
  return (
    a.type === b.type &&
    a.dtype === b.dtype &&
    a.shared_with === b.shared_with &&
    a.params.total === b.params.total &&
    a.params.trainable === b.params.trainable &&
    a.params.non_trainable === b.params.non_trainable &&
    String(a.output_shape) === String(b.output_shape) &&
    String(a.inputs) === String(b.inputs)
  );
}

function sameIssues(a: Issue[] | undefined, b: Issue[]): boolean {
  if (!a || a.length !== b.length) return false;
  return a.every((x, i) => JSON.stringify(x) === JSON.stringify(b[i]));
}

/**
 * The new analysis, reusing the previous per-node objects where nothing changed, so that a node
 * component subscribed to its own entry re-renders only when its shape, count or issues change.
 */
export function mergeAnalysis(prev: AnalysisView, result: AnalysisResult, doc: GraphDoc, roundTripMs: number): AnalysisView {
  const nodeInfo: Record<string, NodeAnalysis> = {};
  for (const [id, info] of Object.entries(result.nodes ?? {})) {
    nodeInfo[id] = sameNodeInfo(prev.nodeInfo[id], info) ? prev.nodeInfo[id] : info;
  }
  const fresh = indexIssues(result, doc.edges);
  const issues: IssueIndex = {
    ...fresh,
    byNode: shareMap(prev.issues.byNode, fresh.byNode),
    byEdge: shareMap(prev.issues.byEdge, fresh.byEdge),
  };
  return {
    status: result.ok ? "ok" : "invalid",
    result,
    nodeInfo,
    issues,
    totals: result.totals ?? null,
    roundTripMs,
  };
}

function shareMap(prev: Record<string, Issue[]>, next: Record<string, Issue[]>): Record<string, Issue[]> {
  const out: Record<string, Issue[]> = {};
  for (const [k, v] of Object.entries(next)) out[k] = sameIssues(prev[k], v) ? prev[k] : v;
  return out;
}
