/** Every run: graph, dataset, state, duration and best metrics, filtered; pick several to overlay
 * one metric's curves; open a run, or its graph in the editor. */

import { useEffect, useMemo, useRef, useState } from "react";
import { getMetrics, listJobs, type Job, type MetricsHistory } from "../api/jobs";
import { useDocumentStore } from "../state/EditorProvider";
import { ChartCore, PALETTE } from "./chart";
import { bestEpochOf, formatBest, formatDuration, noCurveReason } from "./events";
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
  const [jobs, setJobs] = useState<Job[]>([]);
  const [count, setCount] = useState(0);
  const [state, setState] = useState("");
  const [dataset, setDataset] = useState("");
  const [graph, setGraph] = useState("");
  const [selected, setSelected] = useState<string[]>([]);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    const ctrl = new AbortController();
    const load = () =>
      listJobs({ state: state || undefined, dataset: dataset || undefined, limit: 200 }, ctrl.signal).then(
        (d) => (setJobs(d.data), setCount(d.count), setError(null)),
        (e) => ctrl.signal.aborted || setError((e as Error).message),
      );
    void load();
    const t = setInterval(load, 3000);
    return () => (ctrl.abort(), clearInterval(t));
  }, [state, dataset]);

  const shown = jobs.filter((j) => !graph || j.graph_name.toLowerCase().includes(graph.toLowerCase()));
  const datasets = [...new Set(jobs.map((j) => j.dataset))];
  const toggle = (id: string) => setSelected((s) => (s.includes(id) ? s.filter((x) => x !== id) : [...s, id]));

  return (
    <div className="lt-jobs" data-testid="jobs-page">
      <section className="lt-card">
        <div className="lt-chart-tools">
          <h2>Runs <span className="lt-muted">({count})</span></h2>
          <label>State<select value={state} onChange={(e) => setState(e.target.value)} data-testid="filter-state">{STATES.map((s) => <option key={s} value={s}>{s || "any"}</option>)}</select></label>
          <label>Dataset<select value={dataset} onChange={(e) => setDataset(e.target.value)} data-testid="filter-dataset"><option value="">any</option>{datasets.map((d) => <option key={d}>{d}</option>)}</select></label>
          <label>Graph<input value={graph} onChange={(e) => setGraph(e.target.value)} placeholder="name contains…" data-testid="filter-graph" /></label>
        </div>
        {error && <div className="lt-error">{error}</div>}
        <table className="lt-table lt-jobs-table">
          <thead><tr><th /><th>Graph</th><th>Dataset</th><th>State</th><th>Started</th><th>Duration</th><th title="The best epoch by the monitored metric: early_stopping.monitor, else val_loss, else loss">Best</th><th /></tr></thead>
          <tbody>
            {shown.map((j) => (
              <tr key={j.id} data-testid={`job-${j.id}`} className={selected.includes(j.id) ? "is-selected" : ""}>
                <td><input type="checkbox" checked={selected.includes(j.id)} onChange={() => toggle(j.id)} data-testid={`select-${j.id}`} aria-label="Select for comparison" /></td>
                <td><b>{j.graph_name}</b>{j.graph_version ? <span className="lt-muted"> v{j.graph_version}</span> : null}</td>
                <td>{j.dataset}</td>
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
                <td colSpan={8} className="lt-muted" data-testid="jobs-empty">
                  No runs yet. To start one: draw a model (or open a template), press <b>Train</b> in the header, pick a
                  dataset, and start. Runs appear here with their live curves.
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </section>
      {selected.length > 0 && <Compare ids={selected} jobs={jobs} theme={theme} />}
    </div>
  );
}

function Compare({ ids, jobs, theme }: { ids: string[]; jobs: Job[]; theme: string }) {
  const [hist, setHist] = useState<Record<string, MetricsHistory>>({});
  const [metric, setMetric] = useState("val_loss");
  const el = useRef<HTMLDivElement>(null);
  const core = useRef<ChartCore | null>(null);
  const idsKey = ids.join(",");
  useEffect(() => {
    let live = true;
    Promise.all(ids.map((id) => getMetrics(id).then((m) => [id, m] as const, () => [id, { epochs: [], final: null }] as const))).then((all) => live && setHist(Object.fromEntries(all)));
    return () => void (live = false);
  }, [idsKey]); // eslint-disable-line react-hooks/exhaustive-deps
  const keys = useMemo(() => {
    const s = new Set<string>();
    Object.values(hist).forEach((h) => h.epochs.forEach((r) => Object.keys(r).forEach((k) => k !== "epoch" && s.add(k))));
    return [...s].sort();
  }, [hist]);
  const m = keys.includes(metric) ? metric : keys.includes("val_loss") ? "val_loss" : (keys[0] ?? "loss");
  useEffect(() => {
    if (!el.current) return;
    core.current ??= new ChartCore(el.current, { log: false, height: 280, xLabel: "epoch" });
    core.current.setOptions({});
    const xs = [...new Set(Object.values(hist).flatMap((h) => h.epochs.map((r) => r.epoch)))].sort((a, b) => a - b);
    const series = ids.filter((id) => hist[id]).map((id, i) => {
      const by = new Map(hist[id].epochs.map((r) => [r.epoch, r[m] ?? null]));
      const j = jobs.find((x) => x.id === id);
      return { key: id, label: `${j?.graph_name ?? id.slice(0, 8)} · ${j?.dataset ?? ""} · ${id.slice(0, 6)}`, color: PALETTE[i % PALETTE.length], values: xs.map((x) => by.get(x) ?? null) };
    });
    core.current.set(xs, series);
  }, [hist, m, theme]); // eslint-disable-line react-hooks/exhaustive-deps
  useEffect(() => () => core.current?.destroy(), []);
  const best = ids.map((id) => [id, bestEpochOf(hist[id]?.epochs ?? [], m)] as const);
  const missing = ids.filter((id) => hist[id])
    .map((id) => [id, noCurveReason(jobs.find((j) => j.id === id)?.state ?? "", hist[id].epochs, m)] as const)
    .filter((entry): entry is readonly [string, string] => entry[1] !== null);
  return (
    <section className="lt-card" data-testid="compare">
      <div className="lt-chart-tools">
        <h2>Compare {ids.length} run{ids.length === 1 ? "" : "s"}</h2>
        <label>Metric<select value={m} onChange={(e) => setMetric(e.target.value)} data-testid="compare-metric">{keys.map((k) => <option key={k}>{k}</option>)}</select></label>
        <span className="lt-muted">best: {best.map(([id, v]) => `${id.slice(0, 6)} ${v ? `${v.value.toPrecision(3)} @ epoch ${v.epoch}` : "—"}`).join(" · ")}</span>
      </div>
      <div ref={el} className="lt-chart" data-testid="compare-chart" data-runs={Object.keys(hist).length} />
      {missing.length > 0 && (
        <ul className="lt-muted" data-testid="compare-missing">
          {missing.map(([id, why]) => <li key={id}>No {m} curve for {id.slice(0, 6)}: {why}.</li>)}
        </ul>
      )}
    </section>
  );
}
