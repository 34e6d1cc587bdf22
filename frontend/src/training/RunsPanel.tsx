/** The pieces shared by a run's page and the Jobs page's Compare: the runs sidebar (colour chips and
 * checkboxes to overlay runs), the hyper-parameter table with its differences, the x-axis picker. */

import { useEffect, useState } from "react";
import { listJobs, type Job } from "../api/jobs";
import { X_AXES, type XAxis } from "./events";
import { hparamRows, runLabel, runName } from "./runs";
import { useTrainingUi } from "./ui";

export function ColorChip({ color }: { color: string }) {
  return <span className="lt-swatch" style={{ background: color }} aria-hidden />;
}

/** The user's recent runs, polled (a list, not a stream: states change a few times per run). */
export function useRecentJobs(limit = 100): { jobs: Job[]; error: string | null } {
  const [jobs, setJobs] = useState<Job[]>([]);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    const ctrl = new AbortController();
    const load = () =>
      listJobs({ limit }, ctrl.signal).then(
        (d) => (setJobs(d.data), setError(null)),
        (e) => ctrl.signal.aborted || setError((e as Error).message),
      );
    void load();
    const t = setInterval(load, 4000);
    return () => (ctrl.abort(), clearInterval(t));
  }, [limit]);
  return { jobs, error };
}

export function XAxisPicker() {
  const axis = useTrainingUi((s) => s.axis);
  const setAxis = useTrainingUi((s) => s.setAxis);
  return (
    <label>
      X axis
      <select value={axis} onChange={(e) => setAxis(e.target.value as XAxis)} data-testid="x-axis">
        {X_AXES.map((a) => <option key={a.value} value={a.value}>{a.label}</option>)}
      </select>
    </label>
  );
}

/** TensorBoard's runs list: every recent run with its colour; checked runs are overlaid on this
 * run's charts (this run is always drawn). A click on a name opens that run. */
export function RunsSidebar({ current, jobs, colors }: { current: string; jobs: Job[]; colors: Map<string, string> }) {
  const selected = useTrainingUi((s) => s.runs);
  const toggle = useTrainingUi((s) => s.toggleRun);
  const open = useTrainingUi((s) => s.open);
  const [filter, setFilter] = useState("");
  const shown = jobs.filter((j) => !filter || runLabel(j).toLowerCase().includes(filter.toLowerCase()));
  return (
    <aside className="lt-card lt-sidebar" data-testid="runs-sidebar">
      <h2>Runs</h2>
      <input className="lt-search" value={filter} onChange={(e) => setFilter(e.target.value)} placeholder="Filter runs…" aria-label="Filter runs" data-testid="runs-filter" />
      <ul className="lt-run-list">
        {shown.map((j) => {
          const isCurrent = j.id === current;
          const checked = isCurrent || selected.includes(j.id);
          return (
            <li key={j.id} className={`lt-run-item ${isCurrent ? "is-current" : ""} ${checked ? "is-checked" : ""}`} data-testid={`run-item-${j.id}`}>
              <label className="lt-run-check" title={isCurrent ? "This run (always drawn)" : "Overlay on the charts"}>
                <input type="checkbox" checked={checked} disabled={isCurrent} onChange={() => toggle(j.id)} data-testid={`overlay-${j.id}`} />
                <ColorChip color={colors.get(j.id) ?? "#888"} />
              </label>
              <button type="button" className="lt-run-name" onClick={() => open("run", j.id)} title={runLabel(j)}>
                <span className="lt-run-graph">{runName(j.id)}</span>
                <span className="lt-muted lt-run-sub">{j.graph_name}{j.graph_version ? ` v${j.graph_version}` : ""} · {j.dataset_name} · {new Date(j.created_at).toLocaleTimeString([], { hour12: false })}</span>
              </button>
              <span className={`lt-state lt-state-dot is-${j.state}`} title={j.state} />
            </li>
          );
        })}
        {!shown.length && <li className="lt-muted">No runs.</li>}
      </ul>
    </aside>
  );
}

/** W&B's run comparison table: one column per run, one row per setting; rows that differ are
 * marked, and can be shown alone. */
export function HParamTable({ jobs, colors }: { jobs: Job[]; colors: Map<string, string> }) {
  const [onlyDiff, setOnlyDiff] = useState(false);
  if (jobs.length < 2) return null;
  const rows = hparamRows(jobs);
  const shown = onlyDiff ? rows.filter((r) => r.differs) : rows;
  const diffs = rows.filter((r) => r.differs).length;
  return (
    <section className="lt-card lt-hparams" data-testid="hparams">
      <div className="lt-chart-tools">
        <h2>Hyper-parameters</h2>
        <span className="lt-muted">{diffs} of {rows.length} differ</span>
        <label className="lt-check"><input type="checkbox" checked={onlyDiff} onChange={(e) => setOnlyDiff(e.target.checked)} data-testid="hparams-only-diff" />Differences only</label>
      </div>
      <div className="lt-table-scroll">
        <table className="lt-table">
          <thead>
            <tr>
              <th>Setting</th>
              {jobs.map((j) => <th key={j.id}><ColorChip color={colors.get(j.id) ?? "#888"} /> {runLabel(j)}</th>)}
            </tr>
          </thead>
          <tbody>
            {shown.map((r) => (
              <tr key={r.key} className={r.differs ? "is-diff" : ""} data-testid={`hparam-${r.key}`} data-differs={r.differs}>
                <th className="lt-mono">{r.key}</th>
                {r.values.map((v, i) => (
                  <td key={jobs[i].id} className="lt-mono">
                    {v ?? "—"}
                    {!r.explicit[i] && <span className="lt-muted lt-default" title="Not set by the run: the default"> default</span>}
                  </td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

