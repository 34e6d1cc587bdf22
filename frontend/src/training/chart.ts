/**
 * A uPlot line chart that is given new data many times a second: `set` reuses the plot (setData)
 * while the series stay the same and rebuilds it only when a series appears or the scale changes.
 * The element carries data-points (x values plotted) and data-last (each series' last value) for
 * tests and the benchmark.
 */

import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

export interface LineSeries {
  key: string;
  label: string;
  color: string;
  dash?: boolean;
  values: (number | null)[];
  /** Points only (a scatter). */
  points?: boolean;
}

/** A vertical marker at an x value (the best epoch), drawn as a DOM element over the plot so that it
 * can be read and tested: `data-testid="best-marker"`, `data-key`, `data-x`, `data-epoch`. */
export interface Marker {
  key: string;
  x: number;
  epoch: number;
  color: string;
  label: string;
}

/** One run's rows: its own x values and series (several runs are joined on x by uPlot.join). */
export interface SeriesTable {
  x: number[];
  series: LineSeries[];
}

export interface ChartOptions {
  log: boolean;
  height: number;
  xLabel: string;
  /** How x values read: plain numbers, seconds as a duration, or Unix seconds as clock time. */
  xKind?: "number" | "duration" | "time";
  markers?: Marker[];
  /** Lines or points only (scatter). */
  scatter?: boolean;
  square?: boolean;
}

export const PALETTE = ["#4a63e0", "#dc6a12", "#1f9d55", "#d0367a", "#8356e8", "#0a84c6", "#c77700", "#66758c"];

function cssVar(name: string, fallback: string): string {
  if (typeof document === "undefined") return fallback;
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;
}

export class ChartCore {
  private plot: uPlot | null = null;
  private signature = "";
  private resize: ResizeObserver | null = null;

  constructor(
    private el: HTMLElement,
    private opts: ChartOptions,
  ) {
    if (typeof ResizeObserver !== "undefined") {
      this.resize = new ResizeObserver(() => this.plot?.setSize({ width: this.width(), height: this.opts.height }));
      this.resize.observe(el);
    }
  }

  private width(): number {
    return Math.max(200, this.el.clientWidth || 600);
  }

  /** New markers without rebuilding the plot. */
  setMarkers(markers: Marker[]): void {
    this.opts = { ...this.opts, markers };
    this.placeMarkers();
  }

  setOptions(opts: Partial<ChartOptions>): void {
    this.opts = { ...this.opts, ...opts };
    this.signature = ""; // rebuild on the next set
  }

  /** Draw several runs' tables joined on x (each keeps its own x values; gaps elsewhere). */
  setTables(tables: SeriesTable[]): number {
    const nonEmpty = tables.filter((t) => t.series.length);
    if (nonEmpty.length <= 1) return this.set(nonEmpty[0]?.x ?? [], nonEmpty[0]?.series ?? []);
    const joined = uPlot.join(nonEmpty.map((t) => [t.x, ...t.series.map((s) => s.values)] as uPlot.AlignedData));
    const x = Array.from(joined[0] as ArrayLike<number>);
    let col = 1;
    const series = nonEmpty.flatMap((t) => t.series.map((s) => ({ ...s, values: Array.from(joined[col++] as ArrayLike<number | null | undefined>, (v) => (v === undefined ? null : v)) })));
    return this.set(x, series);
  }

  /** Draw these series; returns how many points a log scale left out (zero or negative values). */
  set(x: number[], series: LineSeries[]): number {
    const log = this.opts.log;
    const cols = series.map((s) => (log ? forLogScale(s.values).values : s.values));
    const hidden = log ? series.reduce((n, s) => n + forLogScale(s.values).hidden, 0) : 0;
    this.el.dataset.logHidden = String(hidden);
    const data = [x, ...cols] as uPlot.AlignedData;
    const sig = series.map((s) => `${s.key}|${s.color}|${s.dash ? 1 : 0}`).join(",");
    if (!this.plot || sig !== this.signature) {
      this.signature = sig;
      this.build(data, series);
    } else {
      this.plot.setData(data);
    }
    this.el.dataset.points = String(x.length);
    this.el.dataset.xKind = this.opts.xKind ?? "number";
    this.el.dataset.series = JSON.stringify(series.map((s) => s.key));
    this.el.dataset.labels = JSON.stringify(series.map((s) => s.label));
    this.placeMarkers();
    const last: Record<string, number | null> = {};
    series.forEach((s) => {
      let v: number | null = null;
      for (let i = s.values.length - 1; i >= 0 && v === null; i--) v = s.values[i];
      last[s.key] = v;
    });
    this.el.dataset.last = JSON.stringify(last);
    return hidden;
  }

  /** Put the markers where their x is now (after data, size or zoom changed). */
  private placeMarkers(): void {
    const u = this.plot;
    if (!u) return;
    const over = u.over;
    over.querySelectorAll(".lt-marker").forEach((m) => m.remove());
    for (const m of this.opts.markers ?? []) {
      const left = u.valToPos(m.x, "x");
      if (!Number.isFinite(left) || left < 0 || left > over.clientWidth + 0.5) continue;
      const div = document.createElement("div");
      div.className = "lt-marker";
      div.dataset.testid = "best-marker";
      div.dataset.key = m.key;
      div.dataset.x = String(m.x);
      div.dataset.epoch = String(m.epoch);
      div.title = m.label;
      div.style.left = `${left}px`;
      if (left > over.clientWidth - 44) div.classList.add("is-flip"); // the tag goes left of a line at the right edge
      div.style.setProperty("--marker", m.color);
      const tag = document.createElement("span");
      tag.textContent = `★ ${m.epoch}`;
      div.appendChild(tag);
      over.appendChild(div);
    }
  }

  private build(data: uPlot.AlignedData, series: LineSeries[]): void {
    this.plot?.destroy();
    const axis = cssVar("--muted", "#6b7383");
    const grid = cssVar("--border", "#e2e5ea");
    const text = cssVar("--text-2", "#3d4555");
    const scatter = this.opts.scatter;
    const axisStyle = { stroke: axis, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 }, font: "11px system-ui, sans-serif" };
    const xKind = this.opts.xKind ?? "number";
    const xTick = (v: number): string => (xKind === "duration" ? formatSeconds(v) : xKind === "time" ? clock(v) : String(+v.toFixed(3)));
    this.plot = new uPlot(
      {
        width: this.width(),
        height: this.opts.height,
        legend: { live: true },
        cursor: { drag: { x: true, y: false } },
        scales: { x: { time: false }, y: this.opts.log ? { distr: 3 } : {} },
        hooks: { setScale: [() => this.placeMarkers()], setSize: [() => this.placeMarkers()] },
        axes: [
          { ...axisStyle, label: this.opts.xLabel, labelFont: "11px system-ui, sans-serif", labelSize: 18, values: (_u, vals) => vals.map((v) => (v === null ? "" : xTick(v))) },
          { ...axisStyle, size: 56, values: (_u, vals) => vals.map((v) => (v === null ? "" : Math.abs(v) >= 1000 || (Math.abs(v) < 0.01 && v !== 0) ? v.toExponential(1) : String(+v.toPrecision(3)))) },
        ],
        series: [
          { label: this.opts.xLabel, value: (_u, v) => (v === null ? "—" : xTick(v)) },
          ...series.map((s) => ({
            label: s.label,
            stroke: s.color,
            width: s.dash ? 1.5 : 1.75,
            dash: s.dash ? [6, 4] : undefined,
            spanGaps: true,
            paths: scatter ? () => null : undefined,
            points: scatter ? { show: true, size: 5, stroke: s.color, fill: s.color, width: 0 } : { show: false },
            value: (_u: uPlot, v: number | null) => (v === null ? "—" : String(+v.toPrecision(4))),
          })),
        ],
      },
      data,
      this.el,
    );
    this.el.querySelectorAll<HTMLElement>(".u-legend").forEach((l) => (l.style.color = text));
  }

  destroy(): void {
    this.resize?.disconnect();
    this.plot?.destroy();
    this.plot = null;
  }
}

/** A log axis cannot show zero or negative values: they become gaps, and the count is returned so
 * the chart can say how many it left out (a loss of exactly 0 is common, e.g. a perfectly fit batch). */
export function forLogScale(values: ReadonlyArray<number | null>): { values: Array<number | null>; hidden: number } {
  let hidden = 0;
  const out = values.map((v) => {
    if (v === null || v > 0) return v;
    hidden += 1;
    return null;
  });
  return { values: out, hidden };
}

/** A duration tick: "45s", "2m05s", "1h03m" (short: ticks are close together). */
export function formatSeconds(v: number): string {
  const s = Math.round(v);
  if (Math.abs(s) < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, "0")}m`;
}

/** A clock tick for Unix seconds: "14:03:27". */
export function clock(v: number): string {
  return new Date(v * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
}
