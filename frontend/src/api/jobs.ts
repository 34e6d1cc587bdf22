/**
 * Training jobs (backend/layerloom/api/routes/jobs.py):
 *
 *   POST   /api/jobs {graph | graph_id + graph_version, dataset, mapping, config} → job (201) | 422 {errors}
 *   GET    /api/jobs?state=&dataset=&graph_id=&offset=&limit=                    → {data: [job], count}
 *   GET    /api/jobs/{id}, POST /api/jobs/{id}/cancel, DELETE /api/jobs/{id}
 *   GET    /api/jobs/{id}/metrics  → {epochs: [{epoch, loss, …}], final}
 *   GET    /api/jobs/{id}/events?after=  (the log; the websocket at the same path streams it)
 *   GET    /api/jobs/{id}/results  → confusion matrices, predicted-vs-true pairs, samples
 *   GET    /api/jobs/{id}/{weights?format=safetensors|pt, manifest, graph, checkpoint}  (downloads)
 */

import { API_BASE, ApiError, request } from "./client";

export type JobState = "queued" | "running" | "cancelling" | "succeeded" | "failed" | "cancelled" | "interrupted";
export const FINAL_STATES: readonly string[] = ["succeeded", "failed", "cancelled"];

/** The epoch with the best value of the monitored metric (early_stopping.monitor, else val_loss, else loss). */
export interface BestEpoch {
  epoch: number;
  monitor: string;
  mode: "min" | "max";
  value: number;
  metrics: Record<string, number>;
}

export interface Job {
  id: string;
  state: JobState;
  graph_name: string;
  graph_id: string | null;
  graph_version: number | null;
  /** The built-in's name or the upload's id: what the dataset filter takes. */
  dataset: string;
  /** What to show: the built-in's name or the upload's name (never an id). */
  dataset_name: string;
  attempt: number;
  max_attempts: number;
  cancel_requested: boolean;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  error: string | null;
  final_metrics: Record<string, number> | null;
  /** The best epoch by the monitored metric, computed by the server when the job ended. */
  best: BestEpoch | null;
  /** The options as given (defaults left out). */
  config: Record<string, unknown>;
  /** Every option with the value the run used, defaults included. */
  effective_config?: Record<string, unknown>;
  mapping: Record<string, string>;
}

export interface Problem {
  code?: string;
  message: string;
  field?: string | null;
  node?: string | null;
}

export interface JobSubmit {
  graph?: Record<string, unknown>;
  graph_id?: string;
  graph_version?: number;
  dataset: string;
  mapping: Record<string, string>;
  config: Record<string, unknown>;
}

/** One message of the event stream (the websocket), or one row of the event log (REST). */
export interface JobEvent {
  seq?: number;
  type: "step" | "epoch" | "status" | "log" | "state" | string;
  epoch?: number;
  step?: number;
  metrics?: Record<string, number>;
  time?: number;
  status?: string;
  state?: string;
  message?: string;
  level?: string;
  total_epochs?: number;
  steps_per_epoch?: number;
  /** The opening "running" status: the train split's size. */
  train_samples?: number;
  /** Step and epoch events: training samples seen since the run began (absent in older runs). */
  samples?: number;
}

export interface MetricsHistory {
  epochs: Array<Record<string, number>>;
  final: Record<string, number> | null;
}

export type SampleView =
  | { kind: "image"; png: string; shape?: number[] }
  | { kind: "values"; values: number[]; shape?: number[]; truncated?: boolean }
  | { kind: "label"; value: number; class: string }
  | { kind: string; [key: string]: unknown };

export type HeadResult =
  | { kind: "classification"; classes: string[]; confusion_matrix: number[][]; accuracy: number }
  | { kind: "regression"; pairs: Array<[number, number]>; [key: string]: unknown };

export interface JobResults {
  split: string;
  size: number;
  heads: Record<string, HeadResult>;
  samples: Array<{ index?: number; inputs: Record<string, SampleView>; heads: Record<string, { true: unknown; predicted: unknown; confidence?: number }> }>;
}

/** The problems of a refused submission (422/404 `{detail, errors}`), or the error's message alone. */
export function problemsOf(err: unknown): Problem[] {
  if (err instanceof ApiError && err.body && typeof err.body === "object") {
    const b = err.body as { errors?: Problem[] };
    if (Array.isArray(b.errors) && b.errors.length) return b.errors;
  }
  return [{ message: (err as Error).message }];
}

export function submitJob(body: JobSubmit): Promise<Job> {
  return request("POST", "/jobs", body);
}

/** The server's checks of a submission, storing nothing (204, or the 422 a submission would get). */
export function checkJob(body: JobSubmit): Promise<void> {
  return request("POST", "/jobs/check", body);
}

export interface JobFilters {
  state?: string;
  dataset?: string;
  graph_id?: string;
  offset?: number;
  limit?: number;
}

export function listJobs(f: JobFilters = {}, signal?: AbortSignal): Promise<{ data: Job[]; count: number }> {
  const q = new URLSearchParams({ limit: String(f.limit ?? 100), offset: String(f.offset ?? 0) });
  if (f.state) q.set("state", f.state);
  if (f.dataset) q.set("dataset", f.dataset);
  if (f.graph_id) q.set("graph_id", f.graph_id);
  return request("GET", `/jobs?${q}`, undefined, signal);
}

export const getJob = (id: string, signal?: AbortSignal): Promise<Job> => request("GET", `/jobs/${encodeURIComponent(id)}`, undefined, signal);
export const cancelJob = (id: string): Promise<Job> => request("POST", `/jobs/${encodeURIComponent(id)}/cancel`);
export const deleteJob = (id: string): Promise<void> => request("DELETE", `/jobs/${encodeURIComponent(id)}`);
export const getMetrics = (id: string, signal?: AbortSignal): Promise<MetricsHistory> =>
  request("GET", `/jobs/${encodeURIComponent(id)}/metrics`, undefined, signal);
export const getResults = (id: string, signal?: AbortSignal): Promise<JobResults> =>
  request("GET", `/jobs/${encodeURIComponent(id)}/results`, undefined, signal);
export const getJobGraph = (id: string): Promise<Record<string, unknown>> => request("GET", `/jobs/${encodeURIComponent(id)}/graph`);

export function getEvents(id: string, after = 0, signal?: AbortSignal): Promise<Array<{ seq: number; type: string; payload: Record<string, unknown> }>> {
  return request("GET", `/jobs/${encodeURIComponent(id)}/events?after=${after}&limit=10000`, undefined, signal);
}

export type Download = "safetensors" | "pt" | "manifest" | "graph" | "checkpoint";

export function downloadUrl(id: string, what: Download): string {
  const base = `${API_BASE}/jobs/${encodeURIComponent(id)}`;
  if (what === "safetensors" || what === "pt") return `${base}/weights?format=${what}`;
  return `${base}/${what}`;
}

/** ws(s)://host/api/jobs/{id}/events?after=SEQ (no ticket: local mode needs none, token mode sends the session cookie). */
export function eventsSocketUrl(id: string, after: number, loc: { protocol: string; host: string } = window.location): string {
  const proto = loc.protocol === "https:" ? "wss:" : "ws:";
  return `${proto}//${loc.host}${API_BASE}/jobs/${encodeURIComponent(id)}/events?after=${after}`;
}
