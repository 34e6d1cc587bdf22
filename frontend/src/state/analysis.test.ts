import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { AnalysisResult } from "../domain/types";
import { CATALOG, example } from "../testing/fixtures";
import { mergeAnalysis, startLiveAnalysis, type Validator } from "./analysis";
import { dispatch } from "./commands";
import { createDocumentStore, emptyAnalysis } from "./documentStore";
import { DRAFT_KEY, readDraft, startAutosave, writeDraft } from "./persistence";

function result(overrides: Partial<AnalysisResult> = {}): AnalysisResult {
  return {
    ok: true,
    name: "seed-mlp",
    errors: [],
    warnings: [],
    nodes: {
      d1: { type: "Dense", inputs: ["x"], output_shape: [64], dtype: "float", params: { trainable: 6464, non_trainable: 0, total: 6464 }, shared_with: null },
      d2: { type: "Dense", inputs: ["a1"], output_shape: [10], dtype: "float", params: { trainable: 650, non_trainable: 0, total: 650 }, shared_with: null },
    },
    order: ["d1", "d2"],
    totals: { total: 7114, trainable: 7114, non_trainable: 0 },
    ...overrides,
  };
}

describe("live analysis", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("debounces edits and applies only the latest answer, never recorded in history", async () => {
    const store = createDocumentStore(example("seed_mlp"), { catalog: CATALOG });
    const calls: Record<string, unknown>[] = [];
    const validate: Validator = async (doc) => {
      calls.push(doc);
      return result();
    };
    const stop = startLiveAnalysis(store, validate, { debounceMs: 100 });
    await vi.advanceTimersByTimeAsync(1);
    expect(calls).toHaveLength(1); // the initial check runs at once
    for (let i = 0; i < 5; i++) {
      dispatch(store, "setParam", { id: "d1", name: "units", value: 60 + i });
      await vi.advanceTimersByTimeAsync(20);
    }
    expect(store.getState().analysis.status).toBe("pending");
    await vi.advanceTimersByTimeAsync(150);
    expect(calls).toHaveLength(2); // five quick edits, one request
    expect((calls[1].nodes as { params: { units: number } }[])[1].params.units).toBe(64);
    expect(store.getState().analysis.totals?.total).toBe(7114);
    expect(store.getState().analysis.status).toBe("ok");
    expect(store.temporal.getState().pastStates).toHaveLength(5); // the edits, not the analysis
    stop();
  });

  it("a drag does not trigger a check; its drop does", async () => {
    const store = createDocumentStore(example("seed_mlp"), { catalog: CATALOG });
    const validate = vi.fn<Validator>(async () => result());
    const stop = startLiveAnalysis(store, validate, { debounceMs: 50 });
    await vi.advanceTimersByTimeAsync(1);
    dispatch(store, "dragNodes", { d1: { x: 1, y: 1 } });
    await vi.advanceTimersByTimeAsync(100);
    expect(validate).toHaveBeenCalledTimes(1);
    stop();
  });

  it("a stale answer is dropped", async () => {
    const store = createDocumentStore(example("seed_mlp"), { catalog: CATALOG });
    let n = 0;
    const validate: Validator = (_doc, signal) =>
      new Promise((resolve, reject) => {
        const mine = ++n;
        signal.addEventListener("abort", () => reject(new DOMException("aborted", "AbortError")));
        setTimeout(() => resolve(result({ totals: { total: mine, trainable: mine, non_trainable: 0 } })), mine === 1 ? 500 : 10);
      });
    const stop = startLiveAnalysis(store, validate, { debounceMs: 10 });
    await vi.advanceTimersByTimeAsync(1);
    dispatch(store, "setParam", { id: "d1", name: "units", value: 3 });
    await vi.advanceTimersByTimeAsync(1000);
    expect(store.getState().analysis.totals?.total).toBe(2);
    stop();
  });

  it("reports an unreachable compiler without losing the last answer", async () => {
    const store = createDocumentStore(example("seed_mlp"), { catalog: CATALOG });
    let fail = false;
    const stop = startLiveAnalysis(store, async () => {
      if (fail) throw new Error("down");
      return result();
    }, { debounceMs: 5 });
    await vi.advanceTimersByTimeAsync(1);
    fail = true;
    dispatch(store, "setParam", { id: "d1", name: "units", value: 3 });
    await vi.advanceTimersByTimeAsync(20);
    expect(store.getState().analysis.status).toBe("offline");
    expect(store.getState().analysis.totals?.total).toBe(7114);
    stop();
  });
});

describe("merging analyses", () => {
  it("keeps unchanged per-node objects, so their nodes do not re-render", () => {
    const doc = example("seed_mlp");
    const first = mergeAnalysis(emptyAnalysis(), result(), doc, 5);
    const nextResult = result();
    nextResult.nodes.d2 = { ...nextResult.nodes.d2, output_shape: [11] };
    const second = mergeAnalysis(first, nextResult, doc, 5);
    expect(second.nodeInfo.d1).toBe(first.nodeInfo.d1);
    expect(second.nodeInfo.d2).not.toBe(first.nodeInfo.d2);
    const bad = result({ ok: false, errors: [{ code: "shape", message: "m", severity: "error", node: "d2" }] });
    const third = mergeAnalysis(second, bad, doc, 5);
    const fourth = mergeAnalysis(third, structuredClone(bad), doc, 5);
    expect(fourth.issues.byNode.d2).toBe(third.issues.byNode.d2);
    expect(fourth.status).toBe("invalid");
  });
});

describe("draft autosave", () => {
  beforeEach(() => localStorage.clear());

  it("round-trips the document and its server reference", () => {
    const store = createDocumentStore(example("two_head"), { catalog: CATALOG, server: { graphId: "g", name: "two-head", version: 2 }, saved: true });
    writeDraft(store.getState());
    const draft = readDraft()!;
    expect(draft.doc).toEqual(example("two_head"));
    expect(draft.server).toEqual({ graphId: "g", name: "two-head", version: 2 });
    expect(draft.saved).toBe(true);
  });

  it("writes shortly after each change", async () => {
    vi.useFakeTimers();
    const store = createDocumentStore(example("seed_mlp"), { catalog: CATALOG });
    const stop = startAutosave(store, 50);
    dispatch(store, "setParam", { id: "d1", name: "units", value: 3 });
    expect(localStorage.getItem(DRAFT_KEY)).toBeNull();
    await vi.advanceTimersByTimeAsync(60);
    expect(readDraft()!.doc.nodes[1].params).toEqual({ units: 3 });
    expect(readDraft()!.saved).toBe(false);
    stop();
    vi.useRealTimers();
  });

  it("ignores a broken draft", () => {
    localStorage.setItem(DRAFT_KEY, "{nope");
    expect(readDraft()).toBeNull();
    localStorage.setItem(DRAFT_KEY, JSON.stringify({ doc: { version: 99, nodes: [] } }));
    expect(readDraft()).toBeNull();
  });
});
