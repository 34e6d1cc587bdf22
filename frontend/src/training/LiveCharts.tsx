/** The curves of one run, or of several overlaid: charts grouped by head (a "Total" section and one
 * per head when a run has several heads), each run in its colour when overlaid, the best epoch
 * marked, on the chosen x axis; log scale, smoothing and hover values (uPlot's legend). */

import { useEffect, useMemo, useRef, useState } from "react";
import { ChartCore, PALETTE, type LineSeries, type Marker, type SeriesTable } from "./chart";
import { runName } from "./runs";
import { chartIdOf, chartSections, epochX, headsOf, seriesLabel, smooth, xAxisLabel, xValues, type SeriesBuilder, type XAxis } from "./events";

/** One run on the charts. */
export interface RunTrace {
  id: string;
  label: string;
  color: string;
  builder: SeriesBuilder;
  /** The epoch to mark, and what its marker says on hover. */
  best: { epoch: number; label: string } | null;
  /** The page's own run: its series keep the bare metric keys (others are "runId:key"). */
  primary: boolean;
}

export interface SeriesStyle {
  /** Every series of the run in this colour (overlay); else one colour per metric. */
  color?: string;
  keyPrefix?: string;
  labelPrefix?: string;
}

/** The series of one chart for one run: train series smoothed, validation dashed in its train series' colour. */
export function chartSeries(builder: SeriesBuilder, chart: string, smoothing: number, multiHead = false, style: SeriesStyle = {}): LineSeries[] {
  const keys = [...builder.cols.keys()].filter((k) => chartIdOf(k, multiHead) === chart);
  const bases = [...new Set(keys.map((k) => (k.startsWith("val_") ? k.slice(4) : k)))].sort((a, b) => (a === "loss" ? -1 : b === "loss" ? 1 : a.localeCompare(b)));
  const out: LineSeries[] = [];
  const pre = style.keyPrefix ?? "";
  const label = (k: string) => (style.labelPrefix ? `${style.labelPrefix} · ${seriesLabel(k)}` : seriesLabel(k));
  bases.forEach((base, i) => {
    const color = style.color ?? PALETTE[i % PALETTE.length];
    const train = builder.cols.get(base);
    if (train) out.push({ key: pre + base, label: label(base), color, values: smoothing > 0 ? smooth(train, smoothing) : train });
    const val = builder.cols.get(`val_${base}`);
    if (val) out.push({ key: `${pre}val_${base}`, label: label(`val_${base}`), color, dash: true, values: val });
  });
  return out;
}

function chartTitle(id: string, section: string | null): string {
  const metric = section && section !== "Total" ? id.slice(section.length + 1) : id;
  return metric === "loss" ? (section === "Total" ? "Loss (total of the heads)" : "Loss") : metric;
}

export function RunCharts({ runs, tick, log, smoothing, theme, axis }: { runs: RunTrace[]; tick: number; log: boolean; smoothing: number; theme: string; axis: XAxis }) {
  const keys = useMemo(() => {
    const all = new Set<string>();
    runs.forEach((r) => r.builder.cols.forEach((_v, k) => all.add(k)));
    return [...all];
  }, [runs, tick]); // eslint-disable-line react-hooks/exhaustive-deps
  const sections = chartSections(keys);
  const multi = headsOf(keys).length > 1;
  if (!sections.length) return <div className="lt-muted lt-empty">Waiting for the first steps…</div>;
  return (
    <div className="lt-sections">
      {sections.map((sec) => (
        <div key={sec.title ?? "all"} className="lt-section" data-testid={`charts-${sec.title ?? "all"}`}>
          {sec.title && <h3 className="lt-section-title">{sec.title === "Total" ? "Total" : `Head ${sec.title}`}</h3>}
          <div className="lt-charts">
            {sec.charts.map((id) => (
              <MetricChart key={id} id={id} title={chartTitle(id, sec.title)} runs={runs} multi={multi} tick={tick} log={log} smoothing={smoothing} theme={theme} axis={axis} />
            ))}
          </div>
        </div>
      ))}
    </div>
  );
}

function MetricChart({ id, title, runs, multi, tick, log, smoothing, theme, axis }: { id: string; title: string; runs: RunTrace[]; multi: boolean; tick: number; log: boolean; smoothing: number; theme: string; axis: XAxis }) {
  const el = useRef<HTMLDivElement>(null);
  const core = useRef<ChartCore | null>(null);
  const isLoss = id === "loss" || id.endsWith("/loss");
  const xKind = axis === "relative" ? "duration" : axis === "wall" ? "time" : "number";
  useEffect(() => {
    core.current = new ChartCore(el.current!, { log: log && isLoss, height: id === "loss" ? 260 : 200, xLabel: xAxisLabel(axis), xKind });
    return () => core.current?.destroy();
  }, [id]); // eslint-disable-line react-hooks/exhaustive-deps
  useEffect(() => {
    core.current?.setOptions({ log: log && isLoss, xLabel: xAxisLabel(axis), xKind });
  }, [log, theme, id, axis]); // eslint-disable-line react-hooks/exhaustive-deps
  const [logHidden, setLogHidden] = useState(0);
  const overlay = runs.length > 1;
  useEffect(() => {
    const c = core.current;
    if (!c) return;
    const tables: SeriesTable[] = runs.map((r) => ({
      x: xValues(r.builder, axis),
      series: chartSeries(r.builder, id, smoothing, multi, overlay ? { color: r.color, keyPrefix: r.primary ? "" : `${r.id}:`, labelPrefix: runName(r.id) } : {}),
    }));
    const markers: Marker[] = [];
    for (const r of runs) {
      if (!r.best) continue;
      const x = epochX(r.builder, r.best.epoch, axis);
      if (x !== null) markers.push({ key: r.id, x, epoch: r.best.epoch, color: overlay ? r.color : "var(--accent, #4a63e0)", label: r.best.label });
    }
    c.setMarkers(markers);
    setLogHidden(c.setTables(tables));
  }, [runs, id, tick, log, smoothing, theme, axis, multi, overlay]);
  return (
    <div className="lt-chart-box">
      <div className="lt-chart-title">{title}</div>
      <div ref={el} className="lt-chart" data-testid={`chart-${id}`} />
      {logHidden > 0 && (
        <div className="lt-muted" data-testid={`log-hidden-${id}`}>
          Log scale: {logHidden} zero or negative value{logHidden === 1 ? " is" : "s are"} not drawn.
        </div>
      )}
    </div>
  );
}
