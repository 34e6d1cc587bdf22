import { describe, expect, it } from "vitest";
import { example } from "../testing/fixtures";
import { createEdgeBuilder, createNodeBuilder, handlePort, portUse } from "./viewModel";

describe("React Flow view model", () => {
  it("keeps every node object but the dragged one", () => {
    const doc = example("inception_module");
    const build = createNodeBuilder();
    const sel = { nodes: [], edges: [] };
    const sizes = {};
    const first = build(doc.nodes, doc.layout, null, sel, sizes);
    expect(build(doc.nodes, doc.layout, null, sel, sizes)).toBe(first);
    const frame1 = build(doc.nodes, doc.layout, { mixed: { x: 1, y: 2 } }, sel, sizes);
    const i = doc.nodes.findIndex((n) => n.id === "mixed");
    expect(frame1[i].position).toEqual({ x: 1, y: 2 });
    expect(frame1.filter((n, k) => n !== first[k]).map((n) => n.id)).toEqual(["mixed"]);
    const frame2 = build(doc.nodes, doc.layout, { mixed: { x: 5, y: 6 } }, sel, sizes);
    expect(frame2.filter((n, k) => n !== frame1[k]).map((n) => n.id)).toEqual(["mixed"]);
    // the drop: back to the layout (the document has moved it by then)
    const moved = { ...doc.layout, mixed: { x: 5, y: 6 } };
    const dropped = build(doc.nodes, moved, null, sel, sizes);
    expect(dropped[i].position).toEqual({ x: 5, y: 6 });
    expect(dropped.filter((n, k) => n !== first[k]).map((n) => n.id)).toEqual(["mixed"]);
    // selecting one node changes only that node
    const selected = build(doc.nodes, moved, null, { nodes: ["gap"], edges: [] }, sizes);
    expect(selected.filter((n, k) => n !== dropped[k]).map((n) => n.id)).toEqual(["gap"]);
  });

  it("edges: stable objects, handles by port", () => {
    const doc = example("inception_module");
    const build = createEdgeBuilder();
    const a = build(doc.edges, { nodes: [], edges: [] });
    const b = build(doc.edges, { nodes: [], edges: ["x:0>branch1_1x1:0"] });
    expect(b.filter((e, k) => e !== a[k]).map((e) => e.id)).toEqual(["x:0>branch1_1x1:0"]);
    expect(a.find((e) => e.target === "mixed" && e.source === "branch4_proj")?.targetHandle).toBe("in3");
    expect(handlePort("in3")).toBe(3);
    expect(handlePort(null)).toBe(0);
    expect(portUse(doc.edges).get("mixed")).toEqual({ maxIn: 3, maxOut: 0 });
  });
});
