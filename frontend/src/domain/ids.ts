/** Node ids are the user's names (state_dict keys, summary rows, dataset arrays), so they follow the
 * backend's rule exactly. */

import type { GraphDoc } from "./types";

export const NODE_ID_RE = /^[A-Za-z][A-Za-z0-9_]{0,63}$/;

export function isValidId(id: string): boolean {
  return NODE_ID_RE.test(id);
}

/** Why an id cannot be used, or null. */
export function idProblem(id: string, taken: ReadonlySet<string>): string | null {
  if (!id) return "A name is required.";
  if (id.length > 64) return "At most 64 characters.";
  if (!/^[A-Za-z]/.test(id)) return "Start with a letter.";
  if (!isValidId(id)) return "Use only letters, digits and _.";
  if (taken.has(id)) return `"${id}" is already used by another node.`;
  return null;
}

/** The first free `base_N` (N ≥ 1) in a document: dense_1, dense_2, … */
export function uniqueId(doc: Pick<GraphDoc, "nodes">, base: string, reserved: ReadonlySet<string> = new Set()): string {
  const taken = new Set(doc.nodes.map((n) => n.id));
  return nextFree(base, (id) => taken.has(id) || reserved.has(id));
}

export function nextFree(base: string, isTaken: (id: string) => boolean): string {
  let stem = base.replace(/[^A-Za-z0-9_]/g, "_");
  if (!/^[A-Za-z]/.test(stem)) stem = `n_${stem}`;
  stem = stem.slice(0, 56);
  for (let i = 1; ; i++) {
    const id = `${stem}_${i}`;
    if (!isTaken(id)) return id;
  }
}

/** For a copy of `id`: strip a trailing _N and pick the next free one. */
export function copyBase(id: string): string {
  return id.replace(/_\d+$/, "") || id;
}
