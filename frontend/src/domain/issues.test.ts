import { describe, expect, it } from "vitest";
import { example } from "../testing/fixtures";
import { edgeKey } from "./graph";
import { ISSUE_CODES, indexIssues, issueParam, worstSeverity } from "./issues";
import type { Issue } from "./types";

describe("issues", () => {
  it("the table covers every code of docs/graph-format.md", () => {
    for (const code of [
      "not_a_graph", "format", "version", "version_unsupported", "schema", "too_large", "bad_id", "duplicate_id",
      "unknown_type", "bad_param", "dangling_edge", "port_out_of_range", "port_fed_twice", "port_unfed", "cycle",
      "no_input", "no_output", "share_missing", "share_type", "share_params", "share_shape", "shape", "dtype",
      "param_budget", "unreachable",
    ]) expect(ISSUE_CODES).toHaveProperty(code);
  });

  it("places issues on nodes, on edges by key, and on cycles", () => {
    const doc = example("seed_mlp");
    const errors: Issue[] = [
      { code: "shape", message: "d2: bad", severity: "error", node: "d2", field: "inputs" },
      { code: "port_fed_twice", message: "y twice", severity: "error", node: "y", edge: 3 },
      { code: "cycle", message: "loop", severity: "error", nodes: ["d1", "a1"] },
      { code: "no_output", message: "none", severity: "error" },
    ];
    const warnings: Issue[] = [{ code: "unreachable", message: "unused", severity: "warning", node: "a1" }];
    const idx = indexIssues({ errors, warnings }, doc.edges);
    expect(idx.byNode.d2).toEqual([errors[0]]);
    expect(idx.byNode.y).toEqual([errors[1]]);
    expect(idx.byEdge[edgeKey(doc.edges[3])]).toEqual([errors[1]]);
    expect(idx.byNode.a1).toEqual([errors[2], warnings[0]]);
    expect(idx.byEdge[edgeKey(doc.edges[1])]).toEqual([errors[2]]); // d1 → a1 is on the cycle
    expect(idx.graph).toEqual([errors[3]]);
    expect(idx.errorCount).toBe(4);
    expect(worstSeverity(idx.byNode.a1)).toBe("error");
    expect(worstSeverity(undefined)).toBeNull();
    expect(issueParam({ code: "bad_param", message: "", severity: "error", field: "params.units" })).toBe("units");
  });
});
