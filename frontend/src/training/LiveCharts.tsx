/** The run's curves: one chart for the losses (total, each head, validation) and one per metric,
 * fed incrementally from a SeriesBuilder; log scale, smoothing and hover values (uPlot's legend). */

import { useEffect, useRef, useState } from "react";
import { ChartCore, PALETTE, type LineSeries } from "./chart";
import { chartOf, seriesLabel, smooth, type SeriesBuilder } from "./events";

/** The series of one chart: train series smoothed, validation dashed in its train series' color. */
export function chartSeries(builder: SeriesBuilder, group: string, smoothing: number): LineSeries[] {
  const keys = [...builder.cols.keys()].filter((k) => chartOf(k) === group);
  const bases = [...new Set(keys.map((k) => (k.startsWith("val_") ? k.slice(4) : k)))].sort((a, b) => (a === "loss" ? -1 : b === "loss" ? 1 : a.localeCompare(b)));
  const out: LineSeries[] = [];
  bases.forEach((base, i) => {
    const color = PALETTE[i % PALETTE.length];
    const train = builder.cols.get(base);
    if (train) out.push({ key: base, label: seriesLabel(base), color, values: smoothing > 0 ? smooth(train, smoothing) : train });
    const val = builder.cols.get(`val_${base}`);
    if (val) out.push({ key: `val_${base}`, label: seriesLabel(`val_${base}`), color, dash: true, values: val });
  });
  return out;
}

export function chartGroups(builder: SeriesBuilder): string[] {
  const groups = new Set<string>();
  for (const k of builder.cols.keys()) {
    const g = chartOf(k);
    if (g) groups.add(g);
  }
  return [...groups].sort((a, b) => (a === "loss" ? -1 : b === "loss" ? 1 : a.localeCompare(b)));
}

export function MetricChart({ builder, group, tick, log, smoothing, theme }: { builder: SeriesBuilder; group: string; tick: number; log: boolean; smoothing: number; theme: string }) {
  const el = useRef<HTMLDivElement>(null);
  const core = useRef<ChartCore | null>(null);
  useEffect(() => {
    core.current = new ChartCore(el.current!, { log: log && group === "loss", height: group === "loss" ? 260 : 200, xLabel: "epoch" });
    return () => core.current?.destroy();
  }, [group]); // eslint-disable-line react-hooks/exhaustive-deps
  useEffect(() => {
    core.current?.setOptions({ log: log && group === "loss" });
  }, [log, theme, group]);
  const [logHidden, setLogHidden] = useState(0);
  useEffect(() => {
    setLogHidden(core.current?.set(builder.x, chartSeries(builder, group, smoothing)) ?? 0);
  }, [builder, group, tick, log, smoothing, theme]);
  return (
    <div className="lt-chart-box">
      <div className="lt-chart-title">{group === "loss" ? "Loss" : group}</div>
      <div ref={el} className="lt-chart" data-testid={`chart-${group}`} />
      {logHidden > 0 && (
        <div className="lt-muted" data-testid={`log-hidden-${group}`}>
          Log scale: {logHidden} zero or negative value{logHidden === 1 ? " is" : "s are"} not drawn.
        </div>
      )}
    </div>
  );
}
