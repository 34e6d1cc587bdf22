import { describe, expect, it } from "vitest";
import type { Job } from "../api/jobs";
import { RUN_COLORS, flattenConfig, hparamRows, overlayRuns, runColors, runLabel, runName, toggleRun } from "./runs";

const job = (id: string, minute: number, extra: Partial<Job> & { effective_config?: Record<string, unknown> } = {}): Job =>
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
  it("labels a run by a name made from its id, its graph, version and dataset name, never by an id", () => {
    const id = "0b3c7a52-aaaa-4bbb-8ccc-dddddddddddd";
    const label = runLabel(job(id, 4, { graph_version: 2 }));
    expect(label).toBe(`${runName(id)} · seed-mlp v2 · blobs`);
    expect(runName(id)).toMatch(/^[a-z]+-[a-z]+$/);
    expect(runName(id)).toBe(runName(id));
    expect(label).not.toMatch(/[0-9a-f]{8}-/);
    // Runs of the same graph and dataset (even of the same second) get different names.
    const names = new Set(Array.from({ length: 20 }, (_, i) => runName(`00000000-0000-4000-8000-${String(i).padStart(12, "0")}`)));
    expect(names.size).toBeGreaterThanOrEqual(18);
  });
});

describe("hyper-parameter table", () => {
  it("flattens nested config into dotted keys", () => {
    expect(flattenConfig({ epochs: 3, optimizer: { name: "adam", lr: 0.01 }, early_stopping: {}, heads: ["y"] })).toEqual({
      epochs: "3", "optimizer.name": "adam", "optimizer.lr": "0.01", early_stopping: "{}", heads: '["y"]',
    });
  });
  it("lists graph and dataset first, then every option a run set or that differs, with the values used, and marks exactly the rows that differ", () => {
    const effective = (batch: number, lr: number) => ({ epochs: 3, batch_size: batch, shuffle: true, optimizer: { name: "adam", lr } });
    const rows = hparamRows([
      job("a", 1, { config: { epochs: 3, batch_size: 16, optimizer: { lr: 0.01 } }, effective_config: effective(16, 0.01) }),
      job("b", 2, { config: { epochs: 3 }, effective_config: effective(32, 0.001) }),
    ]);
    // shuffle and optimizer.name: left at the same default by both runs, so not listed.
    expect(rows.map((r) => r.key)).toEqual(["graph", "dataset", "batch_size", "epochs", "optimizer.lr"]);
    const differs = Object.fromEntries(rows.map((r) => [r.key, r.differs]));
    expect(differs).toEqual({ graph: false, dataset: false, batch_size: true, epochs: false, "optimizer.lr": true });
    const lr = rows.find((r) => r.key === "optimizer.lr")!;
    expect(lr.values).toEqual(["0.01", "0.001"]); // b's default, as the server filled it in
    expect(lr.explicit).toEqual([true, false]);
    expect(rows.find((r) => r.key === "dataset")!.values).toEqual(["blobs", "blobs"]); // a name, not an id
  });
  it("without the server's effective config, shows what was given and marks the rest unknown", () => {
    const rows = hparamRows([job("a", 1, { config: { epochs: 3 } }), job("b", 2, { config: {} })]);
    expect(rows.find((r) => r.key === "epochs")).toMatchObject({ values: ["3", null], differs: true });
  });
});
