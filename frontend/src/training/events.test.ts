import { describe, expect, it } from "vitest";
import type { JobEvent } from "../api/jobs";
import { EventLog, SeriesBuilder, backoffDelay, bestEpochOf, chartIdOf, chartOf, chartSections, epochX, formatBest, formatRate, headerMessage, noCurveReason, progressOf, shouldReconnect, smooth, xAxisLabel, xValues, DEFAULT_BACKOFF } from "./events";

const step = (seq: number, s: number, loss: number): JobEvent => ({ seq, type: "step", epoch: Math.floor(s / 10) + 1, step: s, metrics: { loss, "y/loss": loss, "y/accuracy": 0.5, lr: 0.001 }, time: 100 + s });
const start: JobEvent = { seq: 1, type: "status", status: "running", total_epochs: 2, steps_per_epoch: 10, step: 0, time: 100 };

describe("EventLog", () => {
  it("keeps each seq once, in order, and knows the last seq", () => {
    const log = new EventLog();
    expect(log.add(start)).toBe("append");
    expect(log.add(step(2, 5, 1))).toBe("append");
    expect(log.add(step(2, 5, 1))).toBe("duplicate");
    expect(log.add(step(4, 15, 0.5))).toBe("append");
    expect(log.add(step(3, 10, 0.8))).toBe("reorder");
    expect(log.events.map((e) => e.seq)).toEqual([1, 2, 3, 4]);
    expect(log.lastSeq).toBe(4);
    expect(log.add({ type: "state", state: "succeeded" })).toBe("state");
    expect(log.state).toBe("succeeded");
  });

  it("a replay after a reconnect (overlapping seqs) adds nothing twice", () => {
    const log = new EventLog();
    const all = [start, step(2, 2, 2), step(3, 4, 1.8), step(4, 6, 1.5)];
    all.slice(0, 3).forEach((e) => log.add(e));
    const added = all.filter((e) => log.add(e) !== "duplicate");
    expect(added.map((e) => e.seq)).toEqual([4]);
    expect(log.size).toBe(4);
  });
});

describe("reconnect policy", () => {
  it("backs off exponentially up to a cap, with bounded jitter, and gives up eventually", () => {
    const p = { ...DEFAULT_BACKOFF, jitter: 0 };
    expect([0, 1, 2, 3].map((a) => backoffDelay(a, p))).toEqual([500, 1000, 2000, 4000]);
    expect(backoffDelay(20, p)).toBe(p.maxMs);
    expect(backoffDelay(p.maxAttempts, p)).toBeNull();
    const d = backoffDelay(1, { ...p, jitter: 0.2 }, () => 1)!;
    expect(d).toBe(800);
  });
  it("reconnects on a drop, not on a normal close or a finished job", () => {
    expect(shouldReconnect(1006, "running")).toBe(true);
    expect(shouldReconnect(1000, "running")).toBe(false);
    expect(shouldReconnect(1008, null)).toBe(false);
    expect(shouldReconnect(1006, "succeeded")).toBe(false);
  });
});

describe("series", () => {
  it("one x per step/epoch event in epochs, nulls where a series has no value, lr left out", () => {
    const b = new SeriesBuilder((k) => k !== "lr");
    b.add(start);
    b.add(step(2, 5, 2));
    b.add({ seq: 3, type: "epoch", epoch: 1, step: 10, metrics: { loss: 1.5, "y/loss": 1.5, val_loss: 1.7 } });
    b.add(step(4, 15, 1));
    expect(b.x).toEqual([0.5, 1, 1.5]);
    expect(b.cols.get("loss")).toEqual([2, 1.5, 1]);
    expect(b.cols.get("val_loss")).toEqual([null, 1.7, null]);
    expect(b.cols.has("lr")).toBe(false);
    expect(b.last("val_loss")).toBe(1.7);
    expect(b.points).toBe(3);
  });
  it("groups metrics into charts", () => {
    expect(chartOf("loss")).toBe("loss");
    expect(chartOf("val_y/loss")).toBe("loss");
    expect(chartOf("val_y/accuracy")).toBe("accuracy");
    expect(chartOf("lr")).toBeNull();
    expect(chartOf("test_loss")).toBeNull();
  });
});

describe("smoothing", () => {
  it("is the identity at 0, debiased (first value kept), and passes nulls through", () => {
    expect(smooth([1, 2, 3], 0)).toEqual([1, 2, 3]);
    const s = smooth([4, null, 4, 4], 0.9);
    expect(s[0]).toBeCloseTo(4);
    expect(s[1]).toBeNull();
    expect(s[3]).toBeCloseTo(4);
    const t = smooth([0, 10], 0.5);
    expect(t[1]).toBeGreaterThan(0);
    expect(t[1]).toBeLessThan(10);
  });
});

describe("progress", () => {
  it("epoch, step, fraction and an ETA from the rate so far", () => {
    const p = progressOf([start, step(2, 5, 1)], "running");
    expect(p.totalEpochs).toBe(2);
    expect(p.step).toBe(5);
    expect(p.fraction).toBeCloseTo(0.25);
    expect(p.etaSeconds).toBeCloseTo(15); // 5 steps took 5 s, 15 to go
  });
});

describe("best epoch", () => {
  const history = [
    { epoch: 1, val_loss: 0.9, val_accuracy: 0.6 },
    { epoch: 2, val_loss: 0.5, val_accuracy: 0.8 },
    { epoch: 3, val_loss: 0.6, val_accuracy: 0.9 },
    { epoch: 4, val_loss: 0.8, val_accuracy: 0.9 },
  ];
  it("picks the lowest loss and the highest accuracy, the earliest on ties, never simply the last epoch", () => {
    expect(bestEpochOf(history, "val_loss")).toEqual({ epoch: 2, value: 0.5 });
    expect(bestEpochOf(history, "val_accuracy")).toEqual({ epoch: 3, value: 0.9 });
    expect(bestEpochOf(history, "val_y/r2")).toBeNull();
  });
  it("shows the monitored metric with its epoch, and a dash before the run has ended", () => {
    expect(formatBest({ epoch: 14, monitor: "val_accuracy", value: 0.97312 })).toBe("val_accuracy 0.973 @ epoch 14");
    expect(formatBest(null)).toBe("—");
  });
});

describe("Compare: why a run has no curve", () => {
  it("names the reason: not started, no epoch yet, ended early, no validation data, metric not reported", () => {
    expect(noCurveReason("queued", [], "val_loss")).toBe("it has not started yet");
    expect(noCurveReason("running", [], "val_loss")).toBe("no epoch has finished yet");
    expect(noCurveReason("failed", [], "loss")).toBe("it failed before its first epoch ended");
    expect(noCurveReason("cancelled", [], "loss")).toBe("it was cancelled before its first epoch ended");
    expect(noCurveReason("succeeded", [{ epoch: 1, loss: 1 }], "val_loss")).toContain("no validation data");
    expect(noCurveReason("succeeded", [{ epoch: 1, loss: 1 }], "y/auc")).toBe("it does not report y/auc");
    expect(noCurveReason("succeeded", [{ epoch: 1, loss: 1 }], "loss")).toBeNull();
  });
});

describe("run header message", () => {
  const finals = ["succeeded", "failed", "cancelled"];
  it("never contradicts a final state, and shows a message that agrees", () => {
    expect(headerMessage("cancelled", finals, { message: "Cancelling…", messageStatus: "cancelling" })).toBeNull();
    expect(headerMessage("cancelled", finals, { message: "Cancelled during epoch 2.", messageStatus: "cancelled" })).toBe("Cancelled during epoch 2.");
    expect(headerMessage("running", finals, { message: "Training…", messageStatus: "running" })).toBe("Training…");
  });
  it("keeps the message's status from the events", () => {
    const p = progressOf([{ seq: 1, type: "status", status: "cancelled", message: "Cancelled." }], "cancelled");
    expect([p.message, p.messageStatus]).toEqual(["Cancelled.", "cancelled"]);
  });
});

describe("x axes", () => {
  const b = new SeriesBuilder();
  b.add({ ...start, time: 1000 });
  b.add({ seq: 2, type: "step", epoch: 1, step: 5, metrics: { loss: 2 }, time: 1002 });
  b.add({ seq: 3, type: "epoch", epoch: 1, step: 10, metrics: { loss: 1.5, val_loss: 1.7 }, time: 1004 });
  b.add({ seq: 4, type: "step", epoch: 2, step: 15, metrics: { loss: 1 } }); // no time: keeps the last one
  b.add({ seq: 5, type: "epoch", epoch: 2, step: 20, metrics: { loss: 0.9, val_loss: 1.2 }, time: 1009 });
  it("gives epochs, steps, seconds since training began, or wall-clock seconds for the same rows", () => {
    expect(xValues(b, "epoch")).toEqual([0.5, 1, 1.5, 2]);
    expect(xValues(b, "step")).toEqual([5, 10, 15, 20]);
    expect(xValues(b, "relative")).toEqual([2, 4, 4, 9]);
    expect(xValues(b, "wall")).toEqual([1002, 1004, 1004, 1009]);
    expect(xAxisLabel("relative")).toBe("time since start");
  });
  it("puts the best epoch's marker where that epoch's point is on each axis", () => {
    expect(epochX(b, 2, "epoch")).toBe(2);
    expect(epochX(b, 1, "step")).toBe(10);
    expect(epochX(b, 1, "relative")).toBe(4);
    expect(epochX(b, 2, "wall")).toBe(1009);
    expect(epochX(b, 7, "step")).toBeNull();
  });
  it("Compare's builder keeps one point per epoch", () => {
    const e = new SeriesBuilder(() => true, true);
    [start, step(2, 5, 1), { seq: 3, type: "epoch", epoch: 1, step: 10, metrics: { loss: 0.8 } }].forEach((ev) => e.add(ev));
    expect(e.x).toEqual([1]);
    expect(e.cols.get("loss")).toEqual([0.8]);
  });
});

describe("charts grouped by head", () => {
  it("one section for a single-head run: a loss chart and one per metric", () => {
    expect(chartSections(["loss", "y/loss", "y/accuracy", "val_loss", "val_y/accuracy", "lr"])).toEqual([{ title: null, charts: ["loss", "accuracy"] }]);
  });
  it("a Total section and one per head when a run has several heads", () => {
    const keys = ["loss", "val_loss", "a/loss", "a/accuracy", "val_a/accuracy", "b/loss", "b/mae", "val_b/loss", "lr"];
    expect(chartSections(keys)).toEqual([
      { title: "Total", charts: ["loss"] },
      { title: "a", charts: ["a/loss", "a/accuracy"] },
      { title: "b", charts: ["b/loss", "b/mae"] },
    ]);
    expect(chartIdOf("val_b/loss", true)).toBe("b/loss");
    expect(chartIdOf("loss", true)).toBe("loss");
    expect(chartIdOf("val_a/accuracy", false)).toBe("accuracy");
  });
});

describe("throughput", () => {
  const open: JobEvent = { seq: 1, type: "status", status: "running", epoch: 0, total_epochs: 2, steps_per_epoch: 4, train_samples: 100, step: 0, time: 100 };
  it("samples/s from the events' sample counts, steps/s from the steps, over the time since training began", () => {
    const p = progressOf([open, { seq: 2, type: "step", epoch: 1, step: 2, samples: 64, metrics: { loss: 1 }, time: 102 }, { seq: 3, type: "epoch", epoch: 1, step: 4, samples: 100, metrics: { loss: 1 }, time: 104 }], "running");
    expect(p.samples).toBe(100);
    expect(p.samplesPerSecond).toBeCloseTo(25);
    expect(p.stepsPerSecond).toBeCloseTo(1);
    expect(p.etaSeconds).toBeCloseTo(4); // 4 steps left at 1 step/s
    expect(formatRate(p.samplesPerSecond)).toBe("25.0/s");
  });
  it("a resumed run counts only the samples since the resume", () => {
    const resumed: JobEvent = { ...open, epoch: 1, step: 4, time: 200 };
    const p = progressOf([resumed, { seq: 9, type: "epoch", epoch: 2, step: 8, samples: 200, metrics: { loss: 1 }, time: 210 }], "running");
    expect(p.samplesPerSecond).toBeCloseTo(10); // 100 new samples in 10 s, not 200
  });
  it("older runs without sample counts fall back to steps × batch size, or say nothing", () => {
    const old = [start, step(2, 5, 1)]; // 5 steps in 5 s
    expect(progressOf(old, "running", 32).samplesPerSecond).toBeCloseTo(32);
    expect(progressOf(old, "running").samplesPerSecond).toBeNull();
    expect(formatRate(null)).toBe("—");
    expect(formatRate(1234.4)).toBe("1,234/s");
  });
});
