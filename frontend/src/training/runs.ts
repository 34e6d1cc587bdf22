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

const ADJECTIVES = ["amber", "brisk", "calm", "dusty", "eager", "fuzzy", "gentle", "hazy", "icy", "jolly", "keen", "lucky", "misty", "noble", "olive", "proud", "quiet", "rapid", "silent", "tidy", "urban", "vivid", "witty", "young", "zesty", "bold", "crisp", "deep", "fair", "grand", "humble", "lively"];
const NOUNS = ["falcon", "river", "maple", "comet", "otter", "canyon", "ember", "harbor", "lynx", "meadow", "nebula", "orchid", "pebble", "quartz", "raven", "summit", "tundra", "violet", "willow", "yak", "zephyr", "badger", "cedar", "delta", "finch", "glacier", "heron", "iris", "jade", "koala", "lagoon", "moss"];

/** A short readable name made from a run's id ("amber-falcon"), as W&B names runs: the same id
 * always gives the same name, and two runs of one second are still told apart. */
export function runName(id: string): string {
  const h = hash(id);
  return `${ADJECTIVES[h % ADJECTIVES.length]}-${NOUNS[(h >>> 16) % NOUNS.length]}`;
}

/** "amber-falcon · seed-mlp v2 · digits": what a legend or a table shows for a run (never an id). */
export function runLabel(j: Pick<Job, "id" | "graph_name" | "graph_version" | "dataset_name">): string {
  return `${runName(j.id)} · ${j.graph_name}${j.graph_version ? ` v${j.graph_version}` : ""} · ${j.dataset_name}`;
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
  /** One per run, in the runs' order: the value the run used; null where it is unknown. */
  values: (string | null)[];
  /** Per run: whether the run set the value itself (else it is the default). */
  explicit: boolean[];
  differs: boolean;
}

type HParamJob = Pick<Job, "graph_name" | "graph_version" | "dataset_name" | "config" | "mapping"> & { effective_config?: Record<string, unknown> };

/** The rows of the hyper-parameter table: graph, dataset, then every option that some run set or
 * that differs between the runs (options all runs left at the same default are left out), sorted.
 * Values are what each run used (`effective_config`, defaults filled in by the server). */
export function hparamRows(jobs: ReadonlyArray<HParamJob>): HParamRow[] {
  const fixed = (j: HParamJob) => ({
    graph: j.graph_name + (j.graph_version ? ` v${j.graph_version}` : ""),
    dataset: j.dataset_name,
    ...flattenConfig(Object.keys(j.mapping ?? {}).length ? { mapping: j.mapping } : {}),
  });
  const given = jobs.map((j) => ({ ...fixed(j), ...flattenConfig(j.config ?? {}) }) as Record<string, string>);
  const used = jobs.map((j, i) => ({ ...given[i], ...flattenConfig(j.effective_config ?? {}), ...fixed(j) }) as Record<string, string>);
  const keys = [...new Set(used.flatMap((f) => Object.keys(f)))].filter(
    (k) => given.some((g) => k in g) || new Set(used.map((u) => u[k] ?? null)).size > 1,
  );
  const order = ["graph", "dataset"];
  const rank = (k: string) => (order.includes(k) ? order.indexOf(k) : order.length);
  keys.sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  return keys.map((key) => {
    const values = used.map((f) => (key in f ? f[key] : null));
    return { key, values, explicit: given.map((g) => key in g), differs: new Set(values).size > 1 };
  });
}
