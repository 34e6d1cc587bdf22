/**
 * Pure logic of comparing runs, no React and no DOM: a stable colour per run, the overlay
 * selection, a run's readable label, and the hyper-parameter table with its differences.
 */

import type { Job } from "../api/jobs";

/** Run colours: distinct in both themes (TensorBoard's and W&B's runs are told apart by colour only). */
export const RUN_COLORS = ["#4a63e0", "#dc6a12", "#1f9d55", "#d0367a", "#8356e8", "#0a84c6", "#c77700", "#5d8a1f", "#b0413e", "#2a9d8f"];

function hash(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}

/**
 * A colour per run that does not change when runs are selected, filtered or added: runs are taken
 * oldest first, each gets the colour its id hashes to, or the next one no earlier run of the same
 * "round" took, so the first RUN_COLORS.length runs never share a colour. A run's colour depends
 * only on itself and the runs older than it.
 */
export function runColors(jobs: ReadonlyArray<Pick<Job, "id" | "created_at">>): Map<string, string> {
  const byAge = [...jobs].sort((a, b) => a.created_at.localeCompare(b.created_at) || a.id.localeCompare(b.id));
  const out = new Map<string, string>();
  let used = new Set<number>();
  for (const j of byAge) {
    if (used.size === RUN_COLORS.length) used = new Set();
    let i = hash(j.id) % RUN_COLORS.length;
    while (used.has(i)) i = (i + 1) % RUN_COLORS.length;
    used.add(i);
    out.set(j.id, RUN_COLORS[i]);
  }
  return out;
}

/** Check or uncheck a run; the order of checking is kept (the first checked is drawn first). */
export function toggleRun(selected: readonly string[], id: string): string[] {
  return selected.includes(id) ? selected.filter((x) => x !== id) : [...selected, id];
}

/** The runs drawn on a run's page: that run first, then every other checked run that still exists. */
export function overlayRuns(current: string, selected: readonly string[], known: ReadonlySet<string> | null = null): string[] {
  return [current, ...selected.filter((id) => id !== current && (!known || known.has(id)))];
}

/** "seed-mlp v2 · digits · 12:04:31": what a legend or a sidebar shows for a run (never an id). */
export function runLabel(j: Pick<Job, "graph_name" | "graph_version" | "dataset_name" | "created_at">): string {
  const when = new Date(j.created_at);
  const time = Number.isNaN(when.getTime()) ? "" : ` · ${when.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false })}`;
  return `${j.graph_name}${j.graph_version ? ` v${j.graph_version}` : ""} · ${j.dataset_name}${time}`;
}

// ---- hyper-parameters -------------------------------------------------------------------------

/** Nested config as dotted keys: {optimizer: {name: "adam", lr: 0.01}} → optimizer.name, optimizer.lr. */
export function flattenConfig(value: unknown, prefix = "", out: Record<string, string> = {}): Record<string, string> {
  if (value && typeof value === "object" && !Array.isArray(value)) {
    const entries = Object.entries(value as Record<string, unknown>);
    if (!entries.length && prefix) out[prefix] = "{}";
    for (const [k, v] of entries) flattenConfig(v, prefix ? `${prefix}.${k}` : k, out);
  } else if (prefix) {
    out[prefix] = Array.isArray(value) ? JSON.stringify(value) : String(value);
  }
  return out;
}

export interface HParamRow {
  key: string;
  /** One per run, in the runs' order; null where the run does not set it (the default applies). */
  values: (string | null)[];
  differs: boolean;
}

/** The rows of the hyper-parameter table: graph, dataset, then every config key any run sets,
 * sorted; a row differs when two runs have different values (an unset value counts as its own). */
export function hparamRows(jobs: ReadonlyArray<Pick<Job, "graph_name" | "graph_version" | "dataset_name" | "config" | "mapping">>): HParamRow[] {
  const flat = jobs.map((j) => ({
    graph: j.graph_name + (j.graph_version ? ` v${j.graph_version}` : ""),
    dataset: j.dataset_name,
    ...flattenConfig(j.config ?? {}),
    ...flattenConfig(Object.keys(j.mapping ?? {}).length ? { mapping: j.mapping } : {}),
  }) as Record<string, string>);
  const keys = [...new Set(flat.flatMap((f) => Object.keys(f)))];
  const fixed = ["graph", "dataset"];
  const rank = (k: string) => (fixed.includes(k) ? fixed.indexOf(k) : fixed.length);
  keys.sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  return keys.map((key) => {
    const values = flat.map((f) => (key in f ? f[key] : null));
    return { key, values, differs: new Set(values).size > 1 };
  });
}
