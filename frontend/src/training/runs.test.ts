import { describe, expect, it } from "vitest";
import type { Job } from "../api/jobs";
import { RUN_COLORS, flattenConfig, hparamRows, overlayRuns, runColors, runLabel, toggleRun } from "./runs";

const job = (id: string, minute: number, extra: Partial<Job> = {}): Job =>
  ({
    id,
    created_at: `2026-12-07T12:${String(minute).padStart(2, "0")}:00Z`,
    graph_name: "seed-mlp",
    graph_version: null,
    dataset: "3f2a9c1e-0000-4000-8000-000000000000",
    dataset_name: "blobs",
    config: {},
    mapping: {},
    ...extra,
  }) as Job;

describe("run colours", () => {
  const runs = Array.from({ length: 12 }, (_, i) => job(`run-${i}`, i));
  it("give the first runs distinct colours", () => {
    const c = runColors(runs);
    expect(new Set(runs.slice(0, RUN_COLORS.length).map((r) => c.get(r.id))).size).toBe(RUN_COLORS.length);
  });
  it("are stable: filtering, reordering or adding newer runs never recolours a run", () => {
    const all = runColors(runs);
    const someOld = runColors(runs.slice(0, 5).reverse());
    for (const r of runs.slice(0, 5)) expect(someOld.get(r.id)).toBe(all.get(r.id));
    const plusNew = runColors([...runs, job("run-new", 59)]);
    for (const r of runs) expect(plusNew.get(r.id)).toBe(all.get(r.id));
  });
});

describe("overlay selection", () => {
  it("toggles in checking order, and a run's page draws itself first, then the other checked runs that still exist", () => {
    let sel: string[] = [];
    sel = toggleRun(sel, "b");
    sel = toggleRun(sel, "a");
    sel = toggleRun(sel, "c");
    expect(sel).toEqual(["b", "a", "c"]);
    sel = toggleRun(sel, "a");
    expect(sel).toEqual(["b", "c"]);
    expect(overlayRuns("c", sel)).toEqual(["c", "b"]);
    expect(overlayRuns("a", ["b", "gone"], new Set(["a", "b"]))).toEqual(["a", "b"]);
    expect(overlayRuns("a", [])).toEqual(["a"]);
  });
  it("labels a run by graph, version, dataset name and time, never by an id", () => {
    const label = runLabel(job("0b3c7a52-aaaa-4bbb-8ccc-dddddddddddd", 4, { graph_version: 2 }));
    expect(label).toMatch(/^seed-mlp v2 · blobs · \d\d:\d\d:\d\d$/);
    expect(label).not.toMatch(/[0-9a-f]{8}-/);
  });
});

describe("hyper-parameter table", () => {
  it("flattens nested config into dotted keys", () => {
    expect(flattenConfig({ epochs: 3, optimizer: { name: "adam", lr: 0.01 }, early_stopping: {}, heads: ["y"] })).toEqual({
      epochs: "3", "optimizer.name": "adam", "optimizer.lr": "0.01", early_stopping: "{}", heads: '["y"]',
    });
  });
  it("lists graph and dataset first, then every key any run sets, and marks exactly the rows that differ", () => {
    const rows = hparamRows([
      job("a", 1, { config: { epochs: 3, batch_size: 16, optimizer: { name: "adam", lr: 0.01 } } }),
      job("b", 2, { config: { epochs: 3, batch_size: 32, optimizer: { name: "adam" } } }),
    ]);
    expect(rows.map((r) => r.key)).toEqual(["graph", "dataset", "batch_size", "epochs", "optimizer.lr", "optimizer.name"]);
    const differs = Object.fromEntries(rows.map((r) => [r.key, r.differs]));
    expect(differs).toEqual({ graph: false, dataset: false, batch_size: true, epochs: false, "optimizer.lr": true, "optimizer.name": false });
    expect(rows.find((r) => r.key === "optimizer.lr")!.values).toEqual(["0.01", null]); // unset: the default applies
    expect(rows.find((r) => r.key === "dataset")!.values).toEqual(["blobs", "blobs"]); // a name, not an id
  });
});
