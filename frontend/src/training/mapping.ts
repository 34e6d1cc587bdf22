/**
 * Mapping a graph's Inputs and heads to a dataset's arrays: pre-filled by name, then Keras's fit(x, y)
 * rule, then a suggestion by role and shape; checked on the
 * client against the dataset's description before anything is submitted (the server checks again
 * and its 422 problems are shown per node). Also reading a CSV header for the column picker.
 */

import type { ArrayInfo } from "../api/datasets";

export interface GraphEnd {
  id: string;
  role: "input" | "output";
  /** Input: its declared sample shape; Output: the shape it produces (from the analysis), if known. */
  shape: number[] | null;
  dtype?: string | null;
  loss?: string;
  lossWeight?: number;
  metrics?: string[];
}

const TARGET_KINDS = new Set(["class_labels", "values"]);
const isTarget = (a: ArrayInfo) => TARGET_KINDS.has(a.kind);
const fmt = (s: readonly number[]) => `(${s.join(", ")}${s.length === 1 ? "," : ""})`;
const sameShape = (a: readonly number[] | null | undefined, b: readonly number[]) => !!a && a.length === b.length && a.every((d, i) => d === b[i]);

/**
 * Keras's `fit(x, y)`: with exactly one Input and one Output, and a dataset with exactly one features
 * array and one target array (class labels or values), an end that neither `mapping` nor a same-named
 * array feeds takes the array of its role. The server applies the same rule (train/mapping.py
 * `fit_xy_mapping`); both pass the cases in auto_mapping_cases.json.
 */
export function fitXyMapping(inputs: string[], outputs: string[], arrays: Record<string, string>, mapping: Record<string, string> = {}): Record<string, string> {
  const names = Object.keys(arrays);
  const features = names.filter((a) => !TARGET_KINDS.has(arrays[a]));
  const targets = names.filter((a) => TARGET_KINDS.has(arrays[a]));
  if (inputs.length !== 1 || outputs.length !== 1 || features.length !== 1 || targets.length !== 1) return {};
  const out: Record<string, string> = {};
  for (const [node, array] of [[inputs[0], features[0]], [outputs[0], targets[0]]] as const) {
    if (!mapping[node] && !(node in arrays)) out[node] = array;
  }
  return out;
}

/** Whether a head can learn from this target array (its loss, its output shape, the class count). */
function targetFits(e: GraphEnd, a: ArrayInfo): boolean {
  if (a.kind === "class_labels") {
    if (e.loss && /mean_|huber|mse|mae|kl_|cosine/.test(e.loss)) return false;
    if (e.loss === "binary_crossentropy") return sameShape(e.shape, [1]);
    return sameShape(e.shape, [a.num_classes ?? 0]);
  }
  return e.loss !== "sparse_categorical_crossentropy" && sameShape(e.shape, a.shape);
}

/** The array to suggest for an end, by role, kind and shape (the ones that fit first); never one of the
 * other role, so a head is never offered the features. `taken` arrays are passed over. */
export function suggestArray(e: GraphEnd, arrays: ArrayInfo[], taken: Set<string> = new Set()): ArrayInfo | null {
  const pool = arrays.filter((a) => (e.role === "input" ? !isTarget(a) : isTarget(a)) && !taken.has(a.name));
  const fits = pool.filter((a) => (e.role === "input" ? sameShape(e.shape, a.shape) : targetFits(e, a)));
  return fits[0] ?? pool[0] ?? null;
}

export function describeArray(a: ArrayInfo): string {
  if (a.kind === "class_labels") return `class labels, ${a.num_classes ?? "?"} classes`;
  return `${a.kind === "values" ? "targets" : "features"} ${fmt(a.shape)}`;
}

/** Pre-fill: a valid current choice; else the array of the same name; else Keras's fit(x, y) rule
 * (`fitXyMapping`, as the server applies it); else the suggestion (`suggestArray`); else "". */
export function prefillMapping(ends: GraphEnd[], arrays: ArrayInfo[], current: Record<string, string> = {}): Record<string, string> {
  const names = new Set(arrays.map((a) => a.name));
  const out: Record<string, string> = {};
  for (const e of ends) {
    if (current[e.id] && names.has(current[e.id])) out[e.id] = current[e.id];
    else if (names.has(e.id)) out[e.id] = e.id;
  }
  const kinds = Object.fromEntries(arrays.map((a) => [a.name, a.kind]));
  const role = (r: GraphEnd["role"]) => ends.filter((e) => e.role === r).map((e) => e.id);
  Object.assign(out, fitXyMapping(role("input"), role("output"), kinds, out));
  const taken = new Set(Object.values(out));
  for (const e of ends) {
    if (out[e.id]) continue;
    out[e.id] = suggestArray(e, arrays, taken)?.name ?? "";
    if (out[e.id]) taken.add(out[e.id]);
  }
  return out;
}

/** Problems a user can act on, per node, from the description alone (shapes, names, class counts). */
export function mappingProblems(ends: GraphEnd[], arrays: ArrayInfo[], mapping: Record<string, string>): Record<string, string[]> {
  const byName = new Map(arrays.map((a) => [a.name, a]));
  const all = arrays.map((a) => a.name).join(", ");
  const out: Record<string, string[]> = {};
  const add = (id: string, msg: string) => (out[id] ??= []).push(msg);
  for (const e of ends) {
    const name = mapping[e.id];
    const role = e.role === "input" ? "Input" : "Output";
    const hint = () => {
      const s = suggestArray(e, arrays);
      return s ? `map it to “${s.name}” (${describeArray(s)})` : e.role === "input" ? "the dataset has no feature array" : "the dataset has no target array (class labels or values)";
    };
    if (!name) {
      add(e.id, `${role} “${e.id}” is not mapped to an array (arrays: ${all}); ${hint()}.`);
      continue;
    }
    const a = byName.get(name);
    if (!a) {
      add(e.id, `${role} “${e.id}” is mapped to “${name}”, which this dataset does not have (arrays: ${all}); ${hint()}.`);
      continue;
    }
    if (e.role === "output" && !isTarget(a)) {
      add(e.id, `Output “${e.id}” is mapped to “${name}”, which holds features, not targets; ${hint()}.`);
      continue;
    }
    if (e.role === "input") {
      if (a.kind === "class_labels") add(e.id, `Input “${e.id}” is mapped to “${name}”, which holds class labels; map a feature array instead.`);
      else if (e.shape && (e.shape.length !== a.shape.length || e.shape.some((d, i) => d !== a.shape[i]))) {
        add(e.id, `Input “${e.id}” has shape ${fmt(e.shape)} but “${name}” holds samples of shape ${fmt(a.shape)}; set the Input's shape to [${a.shape.join(", ")}] or map another array.`);
      }
      if (e.dtype === "float" && /^u?int/.test(a.dtype) && a.kind !== "class_labels") {
        add(e.id, `Input “${e.id}” takes float features but “${name}” holds integers; set the Input's dtype to int64 for token ids.`);
      }
      continue;
    }
    const out0 = e.shape;
    if (a.kind === "class_labels") {
      const k = a.num_classes ?? 0;
      if (e.loss && /mean_|huber|mse|mae/.test(e.loss)) {
        add(e.id, `Output “${e.id}” uses ${e.loss}, which compares values, but “${name}” holds class labels (${k} classes); use sparse_categorical_crossentropy with a ${k}-unit softmax.`);
      } else if (e.loss === "binary_crossentropy") {
        if (k > 2) add(e.id, `Output “${e.id}” uses binary_crossentropy but “${name}” has ${k} classes; use sparse_categorical_crossentropy with ${k} units.`);
      } else if (out0 && (out0.length !== 1 || out0[0] !== k)) {
        add(e.id, `Output “${e.id}” produces ${fmt(out0)} but “${name}” has ${k} classes; give the last Dense units=${k} (one per class).`);
      }
    } else if (out0 && (out0.length !== a.shape.length || out0.some((d, i) => d !== a.shape[i]))) {
      add(e.id, `Output “${e.id}” produces ${fmt(out0)} but the targets in “${name}” have shape ${fmt(a.shape)}; make the last layer produce ${fmt(a.shape)} or map another array.`);
    }
  }
  return out;
}

/** Only the entries that differ from the node's own id (what the server's `mapping` wants). */
export function mappingForSubmit(mapping: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(mapping).filter(([node, array]) => array && array !== node));
}

/** The header of a CSV file: its first line split on the delimiter, quotes respected. */
export function parseCsvHeader(text: string, delimiter?: string): string[] {
  const line = text.replace(/^\uFEFF/, "").split(/\r?\n/, 1)[0] ?? "";
  const delim = delimiter ?? ([",", ";", "\t"].map((d) => [d, line.split(d).length] as const).sort((a, b) => b[1] - a[1])[0][0]);
  const out: string[] = [];
  let cur = "";
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') (cur += '"'), i++;
      else if (c === '"') quoted = false;
      else cur += c;
    } else if (c === '"') quoted = true;
    else if (c === delim) out.push(cur.trim()), (cur = "");
    else cur += c;
  }
  if (line.length) out.push(cur.trim());
  return out;
}

export interface CsvChoice {
  inputs: string[];
  target: string;
  targetKind: "auto" | "categorical" | "numeric";
  split: string;
  inputShape: string;
}

/** The upload options for a CSV with the columns picked: {inputs: {x: [cols]}, targets: {y: {column, kind}}}. */
export function csvOptions(c: CsvChoice): { options: Record<string, unknown>; problems: string[] } {
  const problems: string[] = [];
  if (!c.inputs.length) problems.push("Pick at least one input column.");
  if (!c.target) problems.push("Pick the target column.");
  if (c.target && c.inputs.includes(c.target)) problems.push(`“${c.target}” cannot be both an input and the target.`);
  const options: Record<string, unknown> = {
    inputs: { x: c.inputs },
    targets: { y: { column: c.target, kind: c.targetKind } },
  };
  if (c.split) options.split_column = c.split;
  if (c.inputShape.trim()) {
    const dims = c.inputShape.split(/[,x× ]+/).filter(Boolean).map(Number);
    if (dims.some((d) => !Number.isInteger(d) || d < 1)) problems.push("The input shape must be whole numbers, e.g. 1, 8, 8.");
    else if (dims.reduce((a, b) => a * b, 1) !== c.inputs.length) {
      problems.push(`The input shape [${dims.join(", ")}] holds ${dims.reduce((a, b) => a * b, 1)} values but ${c.inputs.length} columns are picked.`);
    } else options.input_shapes = { x: dims };
  }
  return { options, problems };
}
