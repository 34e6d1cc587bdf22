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

export interface ChartOptions {
  log: boolean;
  height: number;
  xLabel: string;
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

  setOptions(opts: Partial<ChartOptions>): void {
    this.opts = { ...this.opts, ...opts };
    this.signature = ""; // rebuild on the next set
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
    const last: Record<string, number | null> = {};
    series.forEach((s) => {
      let v: number | null = null;
      for (let i = s.values.length - 1; i >= 0 && v === null; i--) v = s.values[i];
      last[s.key] = v;
    });
    this.el.dataset.last = JSON.stringify(last);
    return hidden;
  }

  private build(data: uPlot.AlignedData, series: LineSeries[]): void {
    this.plot?.destroy();
    const axis = cssVar("--muted", "#6b7383");
    const grid = cssVar("--border", "#e2e5ea");
    const text = cssVar("--text-2", "#3d4555");
    const scatter = this.opts.scatter;
    const axisStyle = { stroke: axis, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 }, font: "11px system-ui, sans-serif" };
    this.plot = new uPlot(
      {
        width: this.width(),
        height: this.opts.height,
        legend: { live: true },
        cursor: { drag: { x: true, y: false } },
        scales: { x: { time: false }, y: this.opts.log ? { distr: 3 } : {} },
        axes: [
          { ...axisStyle, label: this.opts.xLabel, labelFont: "11px system-ui, sans-serif", labelSize: 18 },
          { ...axisStyle, size: 56, values: (_u, vals) => vals.map((v) => (v === null ? "" : Math.abs(v) >= 1000 || (Math.abs(v) < 0.01 && v !== 0) ? v.toExponential(1) : String(+v.toPrecision(3)))) },
        ],
        series: [
          { label: this.opts.xLabel, value: (_u, v) => (v === null ? "—" : String(+v.toFixed(3))) },
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
