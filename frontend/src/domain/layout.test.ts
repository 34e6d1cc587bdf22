import { describe, expect, it } from "vitest";
import { EXAMPLES, example } from "../testing/fixtures";
import { emptyGraph } from "./format";
import { targetPort } from "./graph";
import { autoLayout, computeLayout, placeUnplaced } from "./layout";
import type { GraphDoc } from "./types";

function sourcesOfMerges(doc: GraphDoc) {
  const byTarget = new Map<string, { port: number; source: string }[]>();
  for (const e of doc.edges) {
    const list = byTarget.get(e.target) ?? [];
    list.push({ port: targetPort(e), source: e.source });
    byTarget.set(e.target, list);
  }
  return [...byTarget.values()].filter((l) => l.length > 1);
}

describe("auto-layout", () => {
  it.each(Object.keys(EXAMPLES))("%s flows left to right", (name) => {
    const doc = example(name);
    const pos = computeLayout(doc);
    expect(Object.keys(pos).sort()).toEqual(doc.nodes.map((n) => n.id).sort());
    for (const e of doc.edges) expect(pos[e.target].x).toBeGreaterThan(pos[e.source].x);
  });

  it.each(Object.keys(EXAMPLES))("%s keeps merge inputs in port order, top to bottom", (name) => {
    const doc = example(name);
    const pos = computeLayout(doc);
    for (const list of sourcesOfMerges(doc)) {
      const sorted = [...list].sort((a, b) => a.port - b.port);
      // among sources in the same column, port order reads top-down
      for (let i = 0; i < sorted.length; i++) {
        for (let j = i + 1; j < sorted.length; j++) {
          const a = pos[sorted[i].source];
          const b = pos[sorted[j].source];
          if (a.x === b.x && sorted[i].source !== sorted[j].source) expect(a.y).toBeLessThan(b.y);
        }
      }
    }
  });

  it("places nodes without overlap", () => {
    const doc = example("inception_module");
    const pos = Object.values(computeLayout(doc));
    for (let i = 0; i < pos.length; i++)
      for (let j = i + 1; j < pos.length; j++) {
        const overlap = Math.abs(pos[i].x - pos[j].x) < 184 && Math.abs(pos[i].y - pos[j].y) < 64;
        expect(overlap).toBe(false);
      }
  });

  it("keeps other UI data in a layout entry and places only what has no position", () => {
    const doc = example("seed_mlp");
    doc.layout = { x: { x: 5, y: 7, collapsed: true } };
    const placed = placeUnplaced(doc);
    expect(placed.layout.x).toEqual({ x: 5, y: 7, collapsed: true });
    expect(Object.keys(placed.layout).sort()).toEqual(["a1", "d1", "d2", "x", "y"]);
    expect(autoLayout(doc).layout.x.collapsed).toBe(true);
    expect(autoLayout(emptyGraph())).toEqual(emptyGraph());
  });
});
