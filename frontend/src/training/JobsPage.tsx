/** Every run: graph, dataset (by name), state, duration and best epoch, filtered; check several to
 * compare one metric's curves (each run in its colour, its best epoch marked) and their
 * hyper-parameters; open a run, or its graph in the editor. */

import { useEffect, useMemo, useRef, useState } from "react";
import { listDatasets } from "../api/datasets";
import { listJobs, type Job } from "../api/jobs";
import { useDocumentStore } from "../state/EditorProvider";
import { ChartCore } from "./chart";
import { epochX, formatBest, formatDuration, noCurveReason, xAxisLabel, xValues } from "./events";
import { useRunHistories } from "./histories";
import { runColors, runLabel, runName } from "./runs";
import { ColorChip, HParamTable, XAxisPicker } from "./RunsPanel";
import { openJobGraph } from "./openGraph";
import { useTrainingUi } from "./ui";

const STATES = ["", "queued", "running", "cancelling", "succeeded", "failed", "cancelled", "interrupted"];

function duration(j: Job): string {
  if (!j.started_at) return "—";
  const end = j.finished_at ? Date.parse(j.finished_at) : Date.now();
  return formatDuration((end - Date.parse(j.started_at)) / 1000);
}

/** The hover text of the Best cell: every metric of the best epoch. */
function bestDetail(j: Job): string | undefined {
  if (!j.best) return ["queued", "running", "cancelling"].includes(j.state) ? "Shown when the run ends." : "No epoch reported the monitored metric.";
  const rows = Object.entries(j.best.metrics).map(([k, v]) => `${k} ${v.toPrecision(4)}`);
  return `Best epoch by ${j.best.monitor} (${j.best.mode === "max" ? "highest" : "lowest"}): ${j.best.epoch}\n${rows.join("\n")}`;
}

export function JobsPage({ theme }: { theme: string }) {
  const store = useDocumentStore();
  const open = useTrainingUi((s) => s.open);
  const selected = useTrainingUi((s) => s.runs);
  const toggle = useTrainingUi((s) => s.toggleRun);
  const [jobs, setJobs] = useState<Job[]>([]);
  const [count, setCount] = useState(0);
  const [state, setState] = useState("");
  const [dataset, setDataset] = useState("");
  const [graph, setGraph] = useState("");
  const [error, setError] = useState<string | null>(null);
  // Filter choices by name: uploads and built-ins, plus any dataset a run names that the list lacks.
  const [datasets, setDatasets] = useState<Array<{ id: string; name: string }>>([]);
  const seen = useRef(new Map<string, Job>());

  useEffect(() => {
    const ctrl = new AbortController();
    listDatasets(ctrl.signal).then((d) => setDatasets(d.data.map((x) => ({ id: x.id, name: x.name }))), () => {});
    return () => ctrl.abort();
  }, []);

  useEffect(() => {
    const ctrl = new AbortController();
    const load = () =>
      listJobs({ state: state || undefined, dataset: dataset || undefined, limit: 200 }, ctrl.signal).then(
        (d) => (d.data.forEach((j) => seen.current.set(j.id, j)), setJobs(d.data), setCount(d.count), setError(null)),
        (e) => ctrl.signal.aborted || setError((e as Error).message),
      );
    void load();
    const t = setInterval(load, 3000);
    return () => (ctrl.abort(), clearInterval(t));
  }, [state, dataset]);

  const shown = jobs.filter((j) => !graph || j.graph_name.toLowerCase().includes(graph.toLowerCase()));
  // Colours over every run seen (not only the filtered ones), so a filter never recolours a run.
  const known = [...seen.current.values()];
  const colors = runColors(known);
  const options = [...datasets];
  for (const j of known) if (!options.some((o) => o.id === j.dataset)) options.push({ id: j.dataset, name: j.dataset_name });

  return (
    <div className="lt-jobs" data-testid="jobs-page">
      <section className="lt-card">
        <div className="lt-chart-tools">
          <h2>Runs <span className="lt-muted">({count})</span></h2>
          <label>State<select value={state} onChange={(e) => setState(e.target.value)} data-testid="filter-state">{STATES.map((s) => <option key={s} value={s}>{s || "any"}</option>)}</select></label>
          <label>Dataset<select value={dataset} onChange={(e) => setDataset(e.target.value)} data-testid="filter-dataset"><option value="">any</option>{options.map((d) => <option key={d.id} value={d.id}>{d.name}</option>)}</select></label>
          <label>Graph<input value={graph} onChange={(e) => setGraph(e.target.value)} placeholder="name contains…" data-testid="filter-graph" /></label>
          {selected.length > 0 && <span className="lt-muted">{selected.length} checked: compared below</span>}
        </div>
        {error && <div className="lt-error">{error}</div>}
        <div className="lt-table-scroll">
        <table className="lt-table lt-jobs-table">
          <thead><tr><th /><th>Run</th><th>Graph</th><th>Dataset</th><th>State</th><th>Started</th><th>Duration</th><th title="The best epoch by the monitored metric: early_stopping.monitor, else val_loss, else loss">Best</th><th /></tr></thead>
          <tbody>
            {shown.map((j) => (
              <tr key={j.id} data-testid={`job-${j.id}`} className={selected.includes(j.id) ? "is-selected" : ""}>
                <td>
                  <label className="lt-run-check">
                    <input type="checkbox" checked={selected.includes(j.id)} onChange={() => toggle(j.id)} data-testid={`select-${j.id}`} aria-label="Select for comparison" />
                    <ColorChip color={colors.get(j.id) ?? "#888"} />
                  </label>
                </td>
                <td className="lt-run-cell" data-testid={`name-${j.id}`}>{runName(j.id)}</td>
                <td><b>{j.graph_name}</b>{j.graph_version ? <span className="lt-muted"> v{j.graph_version}</span> : null}</td>
                <td data-testid={`dataset-${j.id}`}>{j.dataset_name}</td>
                <td><span className={`lt-state is-${j.state}`}>{j.state}</span></td>
                <td className="lt-muted">{new Date(j.created_at).toLocaleString()}</td>
                <td>{duration(j)}</td>
                <td className="lt-mono" title={bestDetail(j)} data-testid={`best-${j.id}`}>{formatBest(j.best)}</td>
                <td className="lt-row-actions">
                  <button type="button" className="ll-btn ll-btn-small" onClick={() => open("run", j.id)} data-testid={`view-${j.id}`}>View</button>
                  <button type="button" className="ll-btn ll-btn-small" onClick={() => void openJobGraph(store, j.id, j)}>Open graph</button>
                </td>
              </tr>
            ))}
            {!shown.length && (
              <tr>
                <td colSpan={9} className="lt-muted" data-testid="jobs-empty">
                  No runs yet. To start one: draw a model (or open a template), press <b>Train</b> in the header, pick a
                  dataset, and start. Runs appear here with their live curves.
                </td>
              </tr>
            )}
          </tbody>
        </table>
        </div>
      </section>
      {selected.length > 0 && <Compare ids={selected.filter((id) => seen.current.has(id))} jobs={known} colors={colors} theme={theme} />}
    </div>
  );
}

function Compare({ ids, jobs, colors, theme }: { ids: string[]; jobs: Job[]; colors: Map<string, string>; theme: string }) {
  const [metric, setMetric] = useState("val_loss");
  const axis = useTrainingUi((s) => s.axis);
  const el = useRef<HTMLDivElement>(null);
  const core = useRef<ChartCore | null>(null);
  const byId = new Map(jobs.map((j) => [j.id, j]));
  const { builders, tick } = useRunHistories(ids, (id) => byId.get(id)?.state, true);
  const keys = useMemo(() => {
    const s = new Set<string>();
    Object.values(builders).forEach((b) => b.cols.forEach((_v, k) => s.add(k)));
    return [...s].sort();
  }, [builders, tick]); // eslint-disable-line react-hooks/exhaustive-deps
  const m = keys.includes(metric) ? metric : keys.includes("val_loss") ? "val_loss" : (keys[0] ?? "loss");
  const xKind = axis === "relative" ? "duration" : axis === "wall" ? "time" : "number";
  const drawn = ids.filter((id) => builders[id]);
  useEffect(() => {
    if (!el.current) return;
    core.current ??= new ChartCore(el.current, { log: false, height: 300, xLabel: xAxisLabel(axis), xKind });
    core.current.setOptions({ xLabel: xAxisLabel(axis), xKind });
    const tables = drawn.map((id) => {
      const b = builders[id];
      const j = byId.get(id);
      const values = b.cols.get(m);
      return { x: xValues(b, axis), series: values ? [{ key: id, label: j ? runLabel(j) : "run", color: colors.get(id) ?? "#888", values }] : [] };
    });
    const markers = drawn.flatMap((id) => {
      const best = byId.get(id)?.best;
      const x = best ? epochX(builders[id], best.epoch, axis) : null;
      return best && x !== null ? [{ key: id, x, epoch: best.epoch, color: colors.get(id) ?? "#888", label: `Best epoch by ${best.monitor}: ${best.epoch}` }] : [];
    });
    core.current.setMarkers(markers);
    core.current.setTables(tables);
  }, [builders, tick, m, theme, axis, ids.join(","), jobs]); // eslint-disable-line react-hooks/exhaustive-deps
  useEffect(() => () => core.current?.destroy(), []);
  const missing = drawn
    .map((id) => {
      const b = builders[id];
      const rows = b.epochOf.flatMap((e, i) => (e === null ? [] : [Object.fromEntries([["epoch", e], ...[...b.cols].flatMap(([k, c]) => (c[i] === null ? [] : [[k, c[i]]]))])]));
      return [id, noCurveReason(byId.get(id)?.state ?? "", rows as Array<Record<string, number>>, m)] as const;
    })
    .filter((entry): entry is readonly [string, string] => entry[1] !== null);
  const label = (id: string) => (byId.get(id) ? runLabel(byId.get(id)!) : "a run");
  const selectedJobs = ids.map((id) => byId.get(id)).filter((j): j is Job => !!j);
  return (
    <>
      <section className="lt-card" data-testid="compare">
        <div className="lt-chart-tools">
          <h2>Compare {ids.length} run{ids.length === 1 ? "" : "s"}</h2>
          <label>Metric<select value={m} onChange={(e) => setMetric(e.target.value)} data-testid="compare-metric">{keys.map((k) => <option key={k}>{k}</option>)}</select></label>
          <XAxisPicker />
        </div>
        <div className="lt-legend" data-testid="compare-legend">
          {selectedJobs.map((j) => (
            <span key={j.id} className="lt-legend-item">
              <ColorChip color={colors.get(j.id) ?? "#888"} />{runLabel(j)}
              <span className="lt-muted">{j.best ? ` · best ${j.best.monitor} ${j.best.value.toPrecision(3)} @ epoch ${j.best.epoch}` : ""}</span>
            </span>
          ))}
        </div>
        <div ref={el} className="lt-chart" data-testid="compare-chart" data-runs={drawn.length} />
        {missing.length > 0 && (
          <ul className="lt-muted" data-testid="compare-missing">
            {missing.map(([id, why]) => <li key={id}>No {m} curve for {label(id)}: {why}.</li>)}
          </ul>
        )}
      </section>
      <HParamTable jobs={selectedJobs} colors={colors} />
    </>
  );
}
