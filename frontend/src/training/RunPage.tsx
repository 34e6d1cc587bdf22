/** One run, as W&B's run page: the runs sidebar (check runs to overlay them), state, progress
 * (epochs, steps, ETA, samples/s), live curves over the websocket grouped by head with the best
 * epoch marked, cancel, the error if it failed, and once it succeeded Try it, results and downloads. */

import { useEffect, useMemo, useRef, useState } from "react";
import { cancelJob, downloadUrl, FINAL_STATES, getJob, getResults, type Job, type JobResults } from "../api/jobs";
import { SeriesBuilder, bestEpochOf, formatDuration, formatRate, headerMessage, progressOf, type Progress } from "./events";
import { RunCharts, type RunTrace } from "./LiveCharts";
import { useRunHistories } from "./histories";
import { overlayRuns, runColors, runLabel } from "./runs";
import { ColorChip, HParamTable, RunsSidebar, XAxisPicker, useRecentJobs } from "./RunsPanel";
import { useTrainingUi } from "./ui";
import { Results } from "./Results";
import { JobStream } from "./stream";
import { openJobGraph } from "./openGraph";
import { useDocumentStore } from "../state/EditorProvider";
import { exportModel, saveBlob, type ExportFormat } from "../api/predict";
import { TryIt } from "./TryIt";

/** The monitored metric's best epoch so far, by the server's rule (early_stopping.monitor, else
 * val_loss, else loss), while the server's own (jobs.best) is not there yet. */
function bestSoFar(b: SeriesBuilder, config: Record<string, unknown> | undefined): { epoch: number; monitor: string } | null {
  const es = config?.early_stopping as { monitor?: string } | undefined;
  const monitor = es?.monitor && b.cols.has(es.monitor) ? es.monitor : b.cols.has("val_loss") ? "val_loss" : "loss";
  const col = b.cols.get(monitor);
  if (!col) return null;
  const rows = b.epochOf.flatMap((e, i) => (e !== null && col[i] !== null ? [{ epoch: e, [monitor]: col[i] as number }] : []));
  const best = bestEpochOf(rows, monitor);
  return best ? { epoch: best.epoch, monitor } : null;
}

export function RunPage({ jobId, theme }: { jobId: string; theme: string }) {
  const store = useDocumentStore();
  const [job, setJob] = useState<Job | null>(null);
  const [progress, setProgress] = useState<Progress | null>(null);
  const [tick, setTick] = useState(0);
  const [conn, setConn] = useState<{ status: string; connects: number }>({ status: "connecting", connects: 0 });
  const [log, setLog] = useState(true);
  const [smoothing, setSmoothing] = useState(0);
  const [results, setResults] = useState<JobResults | null>(null);
  const [error, setError] = useState<string | null>(null);
  const builder = useRef(new SeriesBuilder((k) => k !== "lr"));
  const stream = useRef<JobStream | null>(null);
  const frame = useRef<number | null>(null);
  const batchSize = useRef<number | null>(null);
  const axis = useTrainingUi((s) => s.axis);
  const selected = useTrainingUi((s) => s.runs);
  const { jobs } = useRecentJobs();

  useEffect(() => {
    builder.current = new SeriesBuilder((k) => k !== "lr");
    setResults(null);
    setProgress(null);
    setError(null);
    getJob(jobId).then((j) => ((batchSize.current = typeof j.config.batch_size === "number" ? j.config.batch_size : 32), setJob(j)), (e) => setError((e as Error).message));
    const flush = () => {
      frame.current = null;
      const s = stream.current;
      if (!s) return;
      setProgress(progressOf(s.log.events, s.log.state, batchSize.current));
      setTick((t) => t + 1);
    };
    const schedule = () => {
      if (frame.current === null) frame.current = requestAnimationFrame(flush);
    };
    const s = new JobStream(jobId, {
      onEvent: (ev, result) => {
        if (result === "reorder") {
          const b = new SeriesBuilder((k) => k !== "lr");
          s.log.events.forEach((e) => b.add(e));
          builder.current = b;
        } else if (result === "append") builder.current.add(ev);
        if (ev.type === "state" || ev.type === "status") {
          const st = ev.state ?? ev.status;
          if (st && FINAL_STATES.includes(st)) getJob(jobId).then(setJob, () => {});
          else if (st) setJob((j) => (j ? { ...j, state: st as Job["state"] } : j));
        }
        schedule();
      },
      onStatus: (status, info) => setConn({ status, connects: info.connects }),
    });
    stream.current = s.start();
    const w = window as unknown as { __layerloomDropSocket?: () => void };
    if (import.meta.env.DEV) w.__layerloomDropSocket = () => s.drop();
    return () => {
      s.stop();
      stream.current = null;
      if (frame.current !== null) cancelAnimationFrame(frame.current);
      frame.current = null;
    };
  }, [jobId]);

  const state = job?.state ?? progress?.state ?? "…";
  useEffect(() => {
    if (state !== "succeeded") return;
    const ctrl = new AbortController();
    getResults(jobId, ctrl.signal).then(setResults, () => {});
    return () => ctrl.abort();
  }, [state, jobId]);

  // The page's run and the runs checked in the sidebar, each in its own colour.
  const allJobs = useMemo(() => (job && !jobs.some((j) => j.id === job.id) ? [job, ...jobs] : jobs), [job, jobs]);
  const colors = useMemo(() => runColors(allJobs), [allJobs]);
  const byId = useMemo(() => new Map(allJobs.map((j) => [j.id, j])), [allJobs]);
  const others = overlayRuns(jobId, selected, jobs.length ? new Set(jobs.map((j) => j.id)) : null).slice(1);
  const histories = useRunHistories(others, (id) => byId.get(id)?.state);

  const b = builder.current;
  const best = job?.best ? { epoch: job.best.epoch, monitor: job.best.monitor, final: true } : (() => {
    const so = bestSoFar(b, job?.config);
    return so ? { ...so, final: false } : null;
  })();
  const traceOf = (j: Job, bld: SeriesBuilder, primary: boolean): RunTrace => {
    const jb = primary ? best : j.best ? { epoch: j.best.epoch, monitor: j.best.monitor, final: true } : null;
    return {
      id: j.id, label: runLabel(j), color: colors.get(j.id) ?? "#888", builder: bld, primary,
      best: jb ? { epoch: jb.epoch, label: `${jb.final ? "Best" : "Best so far"} epoch by ${jb.monitor}: ${jb.epoch}` } : null,
    };
  };
  const runs: RunTrace[] = [];
  const self = job ?? null;
  if (self) runs.push(traceOf(self, b, true));
  else runs.push({ id: jobId, label: "this run", color: "#4a63e0", builder: b, primary: true, best: null });
  for (const id of others) {
    const j = byId.get(id);
    const h = histories.builders[id];
    if (j && h) runs.push(traceOf(j, h, false));
  }
  const log0 = stream.current?.log;
  const active = !FINAL_STATES.includes(state);
  const elapsed = job?.started_at ? ((job.finished_at ? Date.parse(job.finished_at) : Date.now()) - Date.parse(job.started_at)) / 1000 : null;
  const totalSteps = progress?.stepsPerEpoch && progress.totalEpochs ? progress.stepsPerEpoch * progress.totalEpochs : null;

  return (
    <div className="lt-run-layout">
      <RunsSidebar current={jobId} jobs={allJobs} colors={colors} />
      <div className="lt-run" data-testid="run-view" data-state={state} data-events={log0?.size ?? 0} data-max-seq={log0?.lastSeq ?? 0} data-connects={conn.connects}>
        <section className="lt-card lt-run-head">
          <div className="lt-run-title">
            <ColorChip color={colors.get(jobId) ?? "#4a63e0"} />
            <span className={`lt-state is-${state}`} data-testid="run-state">{state}</span>
            <b>{job?.graph_name ?? "…"}</b>
            <span className="lt-muted" data-testid="run-dataset">on {job?.dataset_name ?? "…"}{job?.graph_version ? ` · v${job.graph_version}` : ""}</span>
            <span className="ll-spacer" />
            <span className={`lt-conn is-${conn.status}`} title="Live connection">{conn.status}</span>
            {active && (
              <button type="button" className="ll-btn ll-btn-danger" data-testid="cancel" disabled={state === "cancelling"} onClick={() => cancelJob(jobId).then(setJob, (e) => setError((e as Error).message))}>
                Cancel
              </button>
            )}
            <button type="button" className="ll-btn" onClick={() => void openJobGraph(store, jobId, job)} data-testid="open-graph">Open graph</button>
          </div>
          <div className="lt-progress-row">
            <progress max={1} value={state === "succeeded" ? 1 : (progress?.fraction ?? 0)} data-testid="run-progress" />
            <div className="lt-stats">
              <Stat label="Epoch" testId="run-epoch" value={String(progress?.epoch ?? 0)} of={progress?.totalEpochs} />
              <Stat label="Step" testId="run-step" value={String(progress?.step ?? 0)} of={totalSteps} />
              <Stat label={active ? "ETA" : "Took"} testId="run-eta" value={active ? formatDuration(progress?.etaSeconds ?? null) : formatDuration(elapsed)} />
              <Stat label="Samples/s" testId="run-rate" value={formatRate(progress?.samplesPerSecond ?? null)} />
              <Stat label="Best epoch" testId="run-best" value={best ? String(best.epoch) : "—"} hint={best ? `${best.final ? "" : "so far, "}by ${best.monitor}` : undefined} />
            </div>
          </div>
          {headerMessage(state, FINAL_STATES, progress) && <div className="lt-muted" data-testid="run-message">{headerMessage(state, FINAL_STATES, progress)}</div>}
          {(job?.error || error) && <div className="lt-error lt-run-error" data-testid="run-error">{job?.error ?? error}</div>}
        </section>

        <section className="lt-card">
          <div className="lt-chart-tools">
            <h2>Curves</h2>
            <XAxisPicker />
            <label className="lt-check"><input type="checkbox" checked={log} onChange={(e) => setLog(e.target.checked)} data-testid="log-scale" />Log-scale loss</label>
            <label className="lt-check">Smoothing
              <input type="range" min={0} max={0.99} step={0.01} value={smoothing} onChange={(e) => setSmoothing(Number(e.target.value))} data-testid="smoothing" />
              <span className="lt-mono">{smoothing.toFixed(2)}</span>
            </label>
            {runs.length > 1 && <span className="lt-muted" data-testid="overlay-count">{runs.length} runs overlaid</span>}
          </div>
          {runs.length > 1 && (
            <div className="lt-legend" data-testid="run-legend">
              {runs.map((r) => <span key={r.id} className="lt-legend-item"><ColorChip color={r.color} />{r.label}</span>)}
            </div>
          )}
          <RunCharts runs={runs} tick={tick + histories.tick} log={log} smoothing={smoothing} theme={theme} axis={axis} />
        </section>

        {runs.length > 1 && <HParamTable jobs={runs.map((r) => byId.get(r.id)).filter((j): j is Job => !!j)} colors={colors} />}
        {state === "succeeded" && <TryIt jobId={jobId} job={job} />}
        {state === "succeeded" && <Downloads jobId={jobId} />}
        {results && <Results results={results} />}
      </div>
    </div>
  );
}

function Stat({ label, value, of, testId, hint }: { label: string; value: string; of?: number | null; testId: string; hint?: string }) {
  return (
    <div className="lt-stat" title={hint}>
      <div className="lt-stat-label" data-testid={`${testId}-label`}>{label}</div>
      <div className="lt-stat-value"><b data-testid={testId}>{value}</b>{of ? <span className="lt-muted"> / {of}</span> : null}</div>
    </div>
  );
}

const SNIPPET = `import json, safetensors.torch
from layerloom.graph import analyze, build_model

model = build_model(analyze(json.load(open("graph.json"))))
model.load_state_dict(safetensors.torch.load_file("weights.safetensors"))
model.eval()`;

function Downloads({ jobId }: { jobId: string }) {
  const links: Array<[string, Parameters<typeof downloadUrl>[1]]> = [
    ["Weights (.safetensors)", "safetensors"],
    ["Weights (.pt)", "pt"],
    ["Graph (JSON)", "graph"],
    ["Manifest", "manifest"],
    ["Checkpoint", "checkpoint"],
  ];
  return (
    <section className="lt-card" data-testid="downloads">
      <h2>Downloads</h2>
      <div className="lt-actions">
        {links.map(([label, what]) => (
          <a key={what} className="ll-btn" href={downloadUrl(jobId, what)} download data-testid={`download-${what}`}>{label}</a>
        ))}
      </div>
      <Exports jobId={jobId} />
      <div className="lt-muted">Load the weights in plain PyTorch (save the graph as graph.json and the weights as weights.safetensors):</div>
      <pre className="lt-snippet" data-testid="snippet">{SNIPPET}</pre>
    </section>
  );
}

const EXPORTS: Array<[string, ExportFormat, string]> = [
  ["ONNX", "onnx", "model.onnx"],
  ["PyTorch code (.zip)", "pytorch", "model-pytorch.zip"],
  ["torch.export (.pt2)", "pt2", "model.pt2"],
];

/** Exports are built (and, for ONNX, checked) on first request, so they are fetched, not linked:
 * a model that cannot be exported shows the reason here instead of an error page. */
function Exports({ jobId }: { jobId: string }) {
  const [busy, setBusy] = useState<ExportFormat | null>(null);
  const [error, setError] = useState<string | null>(null);
  const run = async (format: ExportFormat, filename: string) => {
    setBusy(format);
    setError(null);
    try {
      saveBlob(await exportModel(jobId, format), filename);
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(null);
    }
  };
  return (
    <>
      <div className="lt-actions" data-testid="exports">
        {EXPORTS.map(([label, format, filename]) => (
          <button key={format} type="button" className="ll-btn" disabled={busy !== null} data-testid={`export-${format}`}
            onClick={() => void run(format, filename)}>
            {busy === format ? "Exporting…" : `Export ${label}`}
          </button>
        ))}
      </div>
      {error && <div className="lt-error" data-testid="export-error">{error}</div>}
    </>
  );
}
