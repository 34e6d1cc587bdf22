import { describe, expect, it } from "vitest";
import { computeLayout } from "./layout";
import { thumbnailOf } from "./thumbnail";
import type { GraphDoc } from "./types";

const chain = (n: number, layout: GraphDoc["layout"] = {}): GraphDoc =>
  ({
    format: "layerloom.graph",
    version: 1,
    name: "chain",
    nodes: Array.from({ length: n }, (_, i) => ({ id: `n${i}`, type: i === 0 ? "Input" : i === n - 1 ? "Output" : "Dense", params: {} })),
    edges: Array.from({ length: n - 1 }, (_, i) => ({ source: `n${i}`, target: `n${i + 1}` })),
    layout,
  }) as unknown as GraphDoc;

describe("template thumbnails", () => {
  it("fit every node inside the box, with the aspect ratio of the layout kept", () => {
    const t = thumbnailOf(chain(6), { width: 240, height: 90, pad: 6 });
    expect(t.nodes).toHaveLength(6);
    expect(t.wires).toHaveLength(5);
    for (const n of t.nodes) {
      expect(n.x).toBeGreaterThanOrEqual(6 - 0.1);
      expect(n.y).toBeGreaterThanOrEqual(6 - 0.1);
      expect(n.x + n.w).toBeLessThanOrEqual(234 + 0.1);
      expect(n.y + n.h).toBeLessThanOrEqual(84 + 0.1);
    }
    const [a] = t.nodes;
    expect(a.w / a.h).toBeCloseTo(184 / 64, 1); // nodes keep the canvas's proportions
  });

  it("uses the canvas's layout: a graph without positions is laid out left to right like the editor lays it out", () => {
    const doc = chain(4);
    const t = thumbnailOf(doc, { width: 300, height: 100 });
    const xs = t.nodes.map((n) => n.x);
    expect([...xs].sort((p, q) => p - q)).toEqual(xs); // each layer right of its input
    const canvas = computeLayout(doc);
    const order = Object.entries(canvas).sort((p, q) => p[1].x - q[1].x).map(([id]) => id);
    expect(t.nodes.slice().sort((p, q) => p.x - q.x).map((n) => n.id)).toEqual(order);
  });

  it("keeps stored positions: a graph drawn top to bottom stays top to bottom", () => {
    const layout = { n0: { x: 0, y: 0 }, n1: { x: 0, y: 200 }, n2: { x: 0, y: 400 } };
    const t = thumbnailOf(chain(3, layout), { width: 200, height: 200 });
    expect(t.nodes.map((n) => n.x)).toEqual([t.nodes[0].x, t.nodes[0].x, t.nodes[0].x]);
    expect(t.nodes[0].y).toBeLessThan(t.nodes[1].y);
    expect(t.nodes[1].y).toBeLessThan(t.nodes[2].y);
    // A wire starts at its source's right side and ends at its target's left side.
    const [m] = t.wires;
    expect(m.startsWith(`M${t.nodes[0].x + t.nodes[0].w},`)).toBe(true);
  });

  it("makes a long chain tall enough to see, still inside the box", () => {
    const t = thumbnailOf(chain(70), { width: 264, height: 84, pad: 6 });
    for (const n of t.nodes) {
      expect(n.h).toBeGreaterThanOrEqual(4 - 0.1);
      expect(n.x + n.w).toBeLessThanOrEqual(258 + 0.1);
      expect(n.y + n.h).toBeLessThanOrEqual(78 + 0.1);
    }
  });

  it("draws an empty graph as an empty box", () => {
    expect(thumbnailOf(chain(0), { width: 100, height: 50 })).toEqual({ width: 100, height: 50, nodes: [], wires: [] });
  });
});
