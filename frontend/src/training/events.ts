/**
 * Pure logic of the live run view, no React and no DOM: merging the event stream by seq (a
 * reconnect replays from the last seq seen, so nothing is lost or counted twice), the reconnect
 * policy, building chart series from events, smoothing, and progress with an ETA.
 */

import type { JobEvent } from "../api/jobs";

// ---- the event log: dedupe and merge by seq ----------------------------------------------

export type AddResult = "append" | "duplicate" | "reorder" | "state";

/** The events of one job, each seq once and in seq order; `lastSeq` is what a reconnect asks after. */
export class EventLog {
  readonly events: JobEvent[] = [];
  private seen = new Set<number>();
  lastSeq = 0;
  state: string | null = null;

  /** Add one message: "append" (new, after all others), "reorder" (new, but earlier than some:
   * the caller should rebuild), "duplicate" (already had it: ignore) or "state" (a state change). */
  add(ev: JobEvent): AddResult {
    if (ev.type === "state" || ev.seq === undefined) {
      if (ev.state) this.state = ev.state;
      return "state";
    }
    if (this.seen.has(ev.seq)) return "duplicate";
    this.seen.add(ev.seq);
    if (ev.status) this.state = ev.status;
    if (ev.seq > this.lastSeq) {
      this.events.push(ev);
      this.lastSeq = ev.seq;
      return "append";
    }
    let i = this.events.length;
    while (i > 0 && (this.events[i - 1].seq ?? 0) > ev.seq) i--;
    this.events.splice(i, 0, ev);
    return "reorder";
  }

  get size(): number {
    return this.events.length;
  }
}

/** A REST event-log row ({seq, type, payload}) as a stream message. */
export function fromLogRow(row: { seq: number; type: string; payload: Record<string, unknown> }): JobEvent {
  return { seq: row.seq, type: row.type, ...(row.payload as Partial<JobEvent>) } as JobEvent;
}

// ---- reconnecting ---------------------------------------------------------------------------

export interface BackoffPolicy {
  baseMs: number;
  factor: number;
  maxMs: number;
  /** 0..1: the delay is drawn from [d·(1 − jitter), d]. */
  jitter: number;
  maxAttempts: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 500, factor: 2, maxMs: 15_000, jitter: 0.2, maxAttempts: 50 };

/** The wait before reconnect attempt `attempt` (0 = first after a drop), or null to give up. */
export function backoffDelay(attempt: number, policy: BackoffPolicy = DEFAULT_BACKOFF, random: () => number = Math.random): number | null {
  if (attempt >= policy.maxAttempts) return null;
  const d = Math.min(policy.maxMs, policy.baseMs * policy.factor ** attempt);
  return Math.round(d * (1 - policy.jitter * random()));
}

/** Reconnect unless the server closed normally (1000: the job has ended and everything was sent),
 * refused us (1008), or the job is known to be over. */
export function shouldReconnect(code: number, state: string | null): boolean {
  if (code === 1000 || code === 1008) return false;
  return !(state === "succeeded" || state === "failed" || state === "cancelled");
}

// ---- series ----------------------------------------------------------------------------------

/** Columns for uPlot: x (epochs, fractional for steps) and one column per series, null where a
 * series has no value at that x. Built incrementally: `add` appends one row per step/epoch event. */
export class SeriesBuilder {
  /** x in epochs (the default axis); `steps`, `times` and `kinds` are the same rows' other coordinates. */
  x: number[] = [];
  steps: number[] = [];
  /** Unix seconds of each row (null when an event had no time). */
  times: (number | null)[] = [];
  kinds: ("step" | "epoch")[] = [];
  /** The epoch number of each epoch row (null for step rows). */
  epochOf: (number | null)[] = [];
  cols = new Map<string, (number | null)[]>();
  stepsPerEpoch: number | null = null;
  /** When training began (the opening status event), else the first row's time: "relative time" 0. */
  startTime: number | null = null;
  /** Bumped when a new series appears (the chart must be rebuilt, not just given new data). */
  shape = 0;

  constructor(
    readonly keep: (key: string) => boolean = () => true,
    /** Epoch events only (Compare: one point per epoch, as in the history). */
    readonly epochsOnly = false,
  ) {}

  add(ev: JobEvent): boolean {
    if (ev.total_epochs !== undefined && ev.steps_per_epoch) this.stepsPerEpoch = ev.steps_per_epoch;
    if (ev.total_epochs !== undefined && ev.time && this.startTime === null) this.startTime = ev.time;
    if ((ev.type !== "step" && ev.type !== "epoch") || !ev.metrics) return false;
    if (this.epochsOnly && ev.type !== "epoch") return false;
    const x = ev.type === "epoch" ? (ev.epoch ?? 0) : this.stepsPerEpoch && ev.step !== undefined ? ev.step / this.stepsPerEpoch : (ev.epoch ?? 1) - 1;
    const row = this.x.length;
    this.x.push(x);
    this.steps.push(ev.step ?? 0);
    this.times.push(ev.time ?? null);
    this.kinds.push(ev.type);
    this.epochOf.push(ev.type === "epoch" ? (ev.epoch ?? 0) : null);
    if (this.startTime === null && ev.time) this.startTime = ev.time;
    for (const [key, value] of Object.entries(ev.metrics)) {
      if (!this.keep(key) || typeof value !== "number") continue;
      let col = this.cols.get(key);
      if (!col) {
        col = new Array<number | null>(row).fill(null);
        this.cols.set(key, col);
        this.shape++;
      }
      col.push(Number.isFinite(value) ? value : null);
    }
    for (const col of this.cols.values()) if (col.length === row) col.push(null);
    return true;
  }

  get points(): number {
    return this.x.length;
  }

  /** The last non-null value of a series. */
  last(key: string): number | null {
    const col = this.cols.get(key);
    if (!col) return null;
    for (let i = col.length - 1; i >= 0; i--) if (col[i] !== null) return col[i];
    return null;
  }
}

// ---- x axes ----------------------------------------------------------------------------------

export type XAxis = "epoch" | "step" | "relative" | "wall";

export const X_AXES: ReadonlyArray<{ value: XAxis; label: string }> = [
  { value: "epoch", label: "Epoch" },
  { value: "step", label: "Step" },
  { value: "relative", label: "Relative time" },
  { value: "wall", label: "Wall time" },
];

/** The rows' x values on an axis: epochs (fractional for steps), optimizer steps, seconds since
 * training began, or Unix seconds. A row without a time keeps its neighbour's, so x never goes back. */
export function xValues(b: Pick<SeriesBuilder, "x" | "steps" | "times" | "startTime">, axis: XAxis): number[] {
  if (axis === "epoch") return b.x.slice();
  if (axis === "step") return b.steps.slice();
  const t0 = b.startTime ?? b.times.find((t) => t !== null) ?? 0;
  let last = t0;
  return b.times.map((t) => {
    last = t === null ? last : Math.max(last, t);
    return axis === "wall" ? last : last - t0;
  });
}

/** An axis's title. */
export function xAxisLabel(axis: XAxis): string {
  return axis === "epoch" ? "epoch" : axis === "step" ? "step" : axis === "relative" ? "time since start" : "time";
}

/** Where an epoch's point is on an axis (the best-epoch marker), or null when the run has no row for it. */
export function epochX(b: SeriesBuilder, epoch: number, axis: XAxis): number | null {
  const row = b.epochOf.indexOf(epoch);
  if (row < 0) return axis === "epoch" ? epoch : null;
  return xValues(b, axis)[row];
}

// ---- charts: which metric goes where -------------------------------------------------------

/** The heads a run reports ("y/loss" → y), in the order first seen. */
export function headsOf(keys: Iterable<string>): string[] {
  const heads: string[] = [];
  for (const k of keys) {
    if (k === "lr" || k.startsWith("test_")) continue;
    const bare = k.startsWith("val_") ? k.slice(4) : k;
    const slash = bare.lastIndexOf("/");
    if (slash > 0 && !heads.includes(bare.slice(0, slash))) heads.push(bare.slice(0, slash));
  }
  return heads;
}

/** The chart a key is drawn on: with one head, "loss" and one per metric (chartOf); with several
 * heads, "loss" holds the total only and each head has its own "head/loss", "head/accuracy"…. */
export function chartIdOf(key: string, multiHead: boolean): string | null {
  const group = chartOf(key);
  if (!multiHead || group === null) return group;
  const bare = key.startsWith("val_") ? key.slice(4) : key;
  const slash = bare.lastIndexOf("/");
  return slash > 0 ? `${bare.slice(0, slash)}/${group}` : group;
}

export interface ChartSection {
  /** null: the one section of a single-head run; "Total", or a head's id. */
  title: string | null;
  /** Chart ids (chartIdOf), loss first. */
  charts: string[];
}

/** The charts of a run, grouped: one section for a single-head run; for several heads a "Total"
 * section (the summed loss) and one section per head with its loss and metrics. */
export function chartSections(keys: Iterable<string>): ChartSection[] {
  const all = [...keys];
  const heads = headsOf(all);
  const multi = heads.length > 1;
  const ids = new Set<string>();
  for (const k of all) {
    const id = chartIdOf(k, multi);
    if (id) ids.add(id);
  }
  const lossFirst = (a: string, b: string) => {
    const ma = a.slice(a.lastIndexOf("/") + 1);
    const mb = b.slice(b.lastIndexOf("/") + 1);
    return ma === "loss" ? -1 : mb === "loss" ? 1 : ma.localeCompare(mb);
  };
  if (!multi) return ids.size ? [{ title: null, charts: [...ids].sort(lossFirst) }] : [];
  const sections: ChartSection[] = [];
  const total = [...ids].filter((id) => !id.includes("/")).sort(lossFirst);
  if (total.length) sections.push({ title: "Total", charts: total });
  for (const h of heads) {
    const charts = [...ids].filter((id) => id.startsWith(`${h}/`) && !id.slice(h.length + 1).includes("/")).sort(lossFirst);
    if (charts.length) sections.push({ title: h, charts });
  }
  return sections;
}

/** Which chart a metric belongs on: "loss" for every loss, else the metric's own name (accuracy, mae…). */
export function chartOf(key: string): string | null {
  if (key === "lr" || key.startsWith("test_")) return null;
  const bare = key.startsWith("val_") ? key.slice(4) : key;
  const metric = bare.includes("/") ? bare.slice(bare.lastIndexOf("/") + 1) : bare;
  return metric === "loss" ? "loss" : metric;
}

/** A readable label: "loss" → "train loss (total)", "val_y/loss" → "val y loss". */
export function seriesLabel(key: string): string {
  const val = key.startsWith("val_");
  const bare = val ? key.slice(4) : key;
  const name = bare === "loss" ? "loss (total)" : bare.replace("/", " ");
  return `${val ? "val" : "train"} ${name}`;
}

/** TensorBoard's debiased exponential moving average; nulls stay null and do not break the average. */
export function smooth(values: readonly (number | null)[], weight: number): (number | null)[] {
  if (weight <= 0) return values.slice();
  const w = Math.min(weight, 0.999);
  const out: (number | null)[] = new Array(values.length);
  let last = 0;
  let n = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v === null || !Number.isFinite(v)) {
      out[i] = v;
      continue;
    }
    last = last * w + (1 - w) * v;
    n++;
    out[i] = last / (1 - w ** n);
  }
  return out;
}

// ---- progress ---------------------------------------------------------------------------------

export interface Progress {
  state: string | null;
  epoch: number;
  totalEpochs: number | null;
  step: number;
  stepsPerEpoch: number | null;
  /** 0..1 of all steps, when known. */
  fraction: number | null;
  etaSeconds: number | null;
  /** Training throughput since training began (or since the resume), when the events allow it. */
  samplesPerSecond: number | null;
  stepsPerSecond: number | null;
  /** Training samples seen so far (the events' `samples`, else steps × batch size). */
  samples: number | null;
  message: string | null;
  /** The status the message came with ("running", "cancelled", ...). */
  messageStatus: string | null;
}

/** Progress from the events so far; the ETA is the remaining steps at the rate since training began.
 * Samples/s uses the events' `samples` counts; runs from before they existed fall back to steps ×
 * ``batchSize`` when it is given (a last, smaller batch per epoch makes that a slight overestimate). */
export function progressOf(events: readonly JobEvent[], state: string | null, batchSize: number | null = null): Progress {
  let totalEpochs: number | null = null;
  let spe: number | null = null;
  let epoch = 0;
  let step = 0;
  let t0: number | null = null;
  let s0 = 0;
  let tLast: number | null = null;
  let message: string | null = null;
  let messageStatus: string | null = null;
  let samples0: number | null = null;
  let samples: number | null = null;
  for (const ev of events) {
    if (ev.total_epochs !== undefined) {
      totalEpochs = ev.total_epochs;
      spe = ev.steps_per_epoch ?? null;
      t0 = ev.time ?? null;
      s0 = ev.step ?? 0;
      // A resumed run starts after its checkpoint's epoch: samples already seen do not count in the rate.
      samples0 = ev.train_samples !== undefined ? (ev.epoch ?? 0) * ev.train_samples : null;
    }
    if (ev.type === "step" || ev.type === "epoch") {
      step = Math.max(step, ev.step ?? 0);
      epoch = Math.max(epoch, ev.type === "epoch" ? (ev.epoch ?? 0) : (ev.epoch ?? 1) - 1);
      if (ev.time) tLast = ev.time;
      if (typeof ev.samples === "number") samples = Math.max(samples ?? 0, ev.samples);
    }
    if (ev.type === "status" && ev.message) [message, messageStatus] = [ev.message, ev.status ?? null];
  }
  const total = totalEpochs && spe ? totalEpochs * spe : null;
  const fraction = total ? Math.min(1, step / total) : null;
  let eta: number | null = null;
  if (total && t0 !== null && tLast !== null && step > s0 && tLast > t0 && state !== "succeeded") {
    eta = ((total - step) * (tLast - t0)) / (step - s0);
  }
  const seconds = t0 !== null && tLast !== null && tLast > t0 ? tLast - t0 : null;
  const stepsPerSecond = seconds && step > s0 ? (step - s0) / seconds : null;
  if (samples === null && batchSize && step > 0) samples = step * batchSize;
  let samplesPerSecond: number | null = null;
  if (seconds && samples !== null) {
    const base = samples0 ?? (batchSize ? s0 * batchSize : 0);
    if (samples > base) samplesPerSecond = (samples - base) / seconds;
  }
  return { state, epoch, totalEpochs, step, stepsPerEpoch: spe, fraction, etaSeconds: eta, samplesPerSecond, stepsPerSecond, samples, message, messageStatus };
}

/** "1,234/s", "12.5/s", "0.42/s". */
export function formatRate(perSecond: number | null): string {
  if (perSecond === null || !Number.isFinite(perSecond)) return "—";
  const digits = perSecond >= 100 ? 0 : perSecond >= 10 ? 1 : 2;
  return `${perSecond.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits })}/s`;
}

export function formatDuration(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds)) return "—";
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, "0")}m`;
}

/** The best value of each validation (else training) metric over the epochs: max for accuracy-like, min otherwise. */
/** The epoch with the best value of ``metric`` (max for accuracy/auc/r2, else min; the earliest on ties). */
export function bestEpochOf(epochs: ReadonlyArray<Record<string, number>>, metric: string): { epoch: number; value: number } | null {
  const higher = /(accuracy|auc|r2)$/.test(metric);
  let best: { epoch: number; value: number } | null = null;
  for (const row of epochs) {
    const v = row[metric];
    if (typeof v !== "number" || Number.isNaN(v)) continue;
    if (!best || (higher ? v > best.value : v < best.value)) best = { epoch: row.epoch, value: v };
  }
  return best;
}

/** The status message to show under a run's header: none that contradicts a final state (e.g.
 * "Cancelling…" or a failure message under "cancelled") while the final event is on its way. */
export function headerMessage(state: string, finalStates: readonly string[], progress: Pick<Progress, "message" | "messageStatus"> | null): string | null {
  if (!progress?.message) return null;
  return !finalStates.includes(state) || progress.messageStatus === state ? progress.message : null;
}

/** Why a run draws no curve of ``metric`` in Compare, or null when it does. */
export function noCurveReason(state: string, epochs: ReadonlyArray<Record<string, number>>, metric: string): string | null {
  if (epochs.some((row) => typeof row[metric] === "number")) return null;
  if (!epochs.length) {
    if (state === "queued") return "it has not started yet";
    if (state === "running" || state === "cancelling") return "no epoch has finished yet";
    return `${state === "failed" ? "it failed" : `it was ${state}`} before its first epoch ended`;
  }
  if (metric.startsWith("val_")) return `it reports no ${metric} (it had no validation data)`;
  return `it does not report ${metric}`;
}

/** "val_y/accuracy 0.973 @ epoch 14" for the Jobs table's Best column; "—" before a job has ended. */
export function formatBest(best: { epoch: number; monitor: string; value: number } | null | undefined): string {
  if (!best) return "—";
  return `${best.monitor} ${best.value.toPrecision(3)} @ epoch ${best.epoch}`;
}

