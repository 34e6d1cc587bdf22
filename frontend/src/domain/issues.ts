/**
 * Issue codes, in one table that matches the `code` field of the backend's issues
 * (docs/graph-format.md, "Errors"). The backend's message says what to change; this table adds a
 * short title for lists and a link to the code's entry in the docs.
 */

import { edgeKeys } from "./graph";
import type { AnalysisResult, GraphEdge, Issue } from "./types";

export const ISSUE_CODES = {
  not_a_graph: "Not a graph",
  format: "Wrong format",
  version: "Bad version",
  version_unsupported: "Newer format",
  schema: "Malformed document",
  too_large: "Too large",
  bad_id: "Invalid name",
  duplicate_id: "Duplicate name",
  unknown_type: "Unknown layer type",
  bad_param: "Invalid parameter",
  dangling_edge: "Dangling wire",
  port_out_of_range: "No such port",
  port_fed_twice: "Port fed twice",
  port_unfed: "Unconnected input",
  cycle: "Cycle",
  no_input: "No Input",
  no_output: "No Output",
  share_missing: "Shared layer missing",
  share_type: "Shared layer type differs",
  share_params: "Shared layer params differ",
  share_shape: "Shared weights do not fit",
  shape: "Shape mismatch",
  dtype: "Wrong dtype",
  param_budget: "Over parameter budget",
  unreachable: "Unused result",
  // Raised by the editor itself, never by the compiler:
  network: "Validation unavailable",
} as const satisfies Record<string, string>;

export type IssueCode = keyof typeof ISSUE_CODES;

/** Where every code is documented (the "Errors" table). */
export const ISSUE_DOCS = "docs/graph-format.md#errors";

export function issueTitle(code: string): string {
  return (ISSUE_CODES as Record<string, string>)[code] ?? code;
}

/** Reference to the code's entry in the format docs (the Errors table). */
export function issueHelpRef(code: string): string {
  return `${ISSUE_DOCS} (${code})`;
}

export interface IssueIndex {
  all: Issue[];
  byNode: Record<string, Issue[]>;
  /** By edge key (see domain/graph.edgeKey) of the document that was analysed. */
  byEdge: Record<string, Issue[]>;
  /** Issues about the whole graph (no node, no edge). */
  graph: Issue[];
  errorCount: number;
  warningCount: number;
}

/**
 * Place each issue on what it is about: its node (and every node of a cycle), its edge (the index
 * into the analysed document's edges, turned into a key so it survives later edits).
 */
export function indexIssues(result: Pick<AnalysisResult, "errors" | "warnings">, edges: readonly GraphEdge[]): IssueIndex {
  const keys = edgeKeys(edges);
  const all = [...result.errors, ...result.warnings];
  const byNode: Record<string, Issue[]> = {};
  const byEdge: Record<string, Issue[]> = {};
  const graph: Issue[] = [];
  const push = (map: Record<string, Issue[]>, k: string, issue: Issue) => {
    (map[k] ??= []).includes(issue) || map[k].push(issue);
  };
  for (const issue of all) {
    let placed = false;
    if (issue.node) {
      push(byNode, issue.node, issue);
      placed = true;
    }
    for (const n of issue.nodes ?? []) {
      push(byNode, n, issue);
      placed = true;
    }
    if (issue.edge !== undefined && keys[issue.edge]) {
      push(byEdge, keys[issue.edge], issue);
      placed = true;
    }
    if (issue.code === "cycle" && issue.nodes && issue.nodes.length > 1) {
      // paint the wires of the cycle too
      const ring = [...issue.nodes, issue.nodes[0]];
      edges.forEach((e, i) => {
        for (let j = 0; j + 1 < ring.length; j++) if (e.source === ring[j] && e.target === ring[j + 1]) push(byEdge, keys[i], issue);
      });
    }
    if (!placed) graph.push(issue);
  }
  return {
    all,
    byNode,
    byEdge,
    graph,
    errorCount: result.errors.length,
    warningCount: result.warnings.length,
  };
}

/** The worst severity in a list, or null. */
export function worstSeverity(issues: readonly Issue[] | undefined): "error" | "warning" | null {
  if (!issues?.length) return null;
  return issues.some((i) => i.severity === "error") ? "error" : "warning";
}

/** The param name an issue points at (`params.units` → units), if any. */
export function issueParam(issue: Issue): string | null {
  return issue.field?.startsWith("params.") ? issue.field.slice("params.".length).split(".")[0] : null;
}
