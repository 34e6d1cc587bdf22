import { describe, expect, it } from "vitest";
import { CATALOG, example } from "../testing/fixtures";
import { addBlockCall, blockPorts, collapseExpanded, expandBlock, expandedFrom, groupIntoBlock } from "./blocks";
import { canConnect } from "./graph";
import type { GraphDoc } from "./types";

const sortEdges = (doc: GraphDoc) => [...doc.edges].map((e) => JSON.stringify(e)).sort();

describe("group into a block (Ctrl+G)", () => {
  it("turns a residual stage into one call whose ports are the wires that cross the selection", () => {
    const doc = example("toy_resnet");
    const r = groupIntoBlock(doc, ["block2_conv1", "block2_conv2", "block2_out"]);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.id).toBe("block_1");
    const def = r.doc.blocks!.block_1 as { nodes: { id: string; type: string }[]; edges: unknown[] };
    // block1_out feeds two inner layers: one input port; block2_out leaves twice: one output port
    expect(def.nodes.filter((n) => n.type === "Input").map((n) => n.id)).toEqual(["in_1"]);
    expect(def.nodes.filter((n) => n.type === "Output").map((n) => n.id)).toEqual(["out_1"]);
    expect(r.doc.nodes.map((n) => n.id)).toEqual(["x", "conv1", "conv2", "block1_out", "block_1", "block3_conv1",
      "block3_conv2", "block3_out", "conv3", "gap", "dense", "dropout", "classifier", "y"]);
    expect(r.doc.edges).toContainEqual({ source: "block1_out", target: "block_1", target_port: 0 });
    expect(r.doc.edges).toContainEqual({ source: "block_1", target: "block3_conv1" });
    expect(r.doc.edges).toContainEqual({ source: "block_1", target: "block3_out", target_port: 1 });
    expect(blockPorts(r.doc, r.doc.nodes[4])).toMatchObject({ inputs: 1, outputs: 1 });
    expect(doc.nodes).toHaveLength(16); // the input document is untouched
  });

  it("refuses the model's own Inputs and Outputs, weights shared across the border, and a selection with no way out", () => {
    const doc = example("toy_resnet");
    expect(groupIntoBlock(doc, ["x", "conv1"])).toMatchObject({ ok: false });
    expect(groupIntoBlock(doc, [])).toMatchObject({ ok: false });
    const shared: GraphDoc = { ...doc, nodes: doc.nodes.map((n) => (n.id === "block3_conv1" ? { ...n, params: {}, share: "block2_conv1" } : n)) };
    const r = groupIntoBlock(shared, ["block2_conv1", "block2_conv2", "block2_out"]);
    expect(r).toMatchObject({ ok: false });
    if (!r.ok) expect(r.message).toContain("shares weights");
  });

  it("expanding the call gives back the same layers and wires; grouping again collapses them", () => {
    const doc = example("toy_resnet");
    const grouped = groupIntoBlock(doc, ["block2_conv1", "block2_conv2", "block2_out"]);
    if (!grouped.ok) throw new Error(grouped.message);
    const expanded = expandBlock(grouped.doc, "block_1");
    if (!expanded.ok) throw new Error(expanded.message);
    expect(expanded.ids).toEqual(["block2_conv1", "block2_conv2", "block2_out"]);
    expect(sortEdges(expanded.doc)).toEqual(sortEdges(doc));
    expect(expanded.doc.blocks).toEqual({}); // no other call: the definition goes too
    expect(new Set(expanded.doc.nodes.map((n) => n.id))).toEqual(new Set(doc.nodes.map((n) => n.id)));
    const again = groupIntoBlock(expanded.doc, expanded.ids);
    expect(again.ok).toBe(true);
  });

  it("expanding fills in the block's arguments and keeps other calls' definition", () => {
    const doc = example("seed_mlp");
    const def = {
      args: { width: { type: "int", default: 8 } },
      nodes: [
        { id: "i", type: "Input" },
        { id: "d", type: "Dense", params: { units: { arg: "width" } } },
        { id: "o", type: "Output" },
      ],
      edges: [{ source: "i", target: "d" }, { source: "d", target: "o" }],
    };
    const one = addBlockCall(doc, { name: "wide", def, args: { width: 32 }, position: { x: 0, y: 0 } });
    const two = addBlockCall(one.doc, { name: "wide", position: { x: 0, y: 100 } });
    expect(two.doc.blocks).toEqual({ wide: def }); // copied once
    const r = expandBlock(two.doc, one.id);
    if (!r.ok) throw new Error(r.message);
    expect(r.doc.nodes.find((n) => n.id === "d")?.params).toEqual({ units: 32 });
    expect(r.doc.blocks).toEqual({ wide: def }); // the second call still uses it
    const r2 = expandBlock(r.doc, two.id);
    if (!r2.ok) throw new Error(r2.message);
    expect(r2.doc.nodes.find((n) => n.id === "wide_2_d")?.params).toEqual({ units: 8 }); // the default
  });
});

describe("block calls take their ports from their block", () => {
  it("wires may enter every input port of a call, and no more", () => {
    const def = {
      nodes: [
        { id: "a", type: "Input" },
        { id: "b", type: "Input" },
        { id: "m", type: "Add" },
        { id: "o", type: "Output" },
      ],
      edges: [{ source: "a", target: "m", target_port: 0 }, { source: "b", target: "m", target_port: 1 }, { source: "m", target: "o" }],
    };
    const r = addBlockCall(example("seed_mlp"), { name: "pair", def, position: { x: 0, y: 0 } });
    expect(canConnect(r.doc, CATALOG, { source: "x", target: r.id, targetPort: 1 }).ok).toBe(true);
    expect(canConnect(r.doc, CATALOG, { source: "x", target: r.id, targetPort: 2 })).toMatchObject({ ok: false, reason: "no_input_port" });
  });
});

describe("a canvas node collapses what was expanded", () => {
  it("expand then collapse from one of the expanded cards gives the call and its block back", () => {
    const doc = example("toy_resnet");
    const g = groupIntoBlock(doc, ["block2_conv1", "block2_conv2", "block2_out"]);
    if (!g.ok) throw new Error(g.message);
    const renamed = { ...g.doc, blocks: { stage: g.doc.blocks!.block_1 }, nodes: g.doc.nodes.map((n) => (n.id === "block_1" ? { ...n, id: "s2", params: { block: "stage" } } : n)) };
    renamed.edges = renamed.edges.map((e) => ({ ...e, source: e.source === "block_1" ? "s2" : e.source, target: e.target === "block_1" ? "s2" : e.target }));
    renamed.layout = { ...renamed.layout, s2: renamed.layout.block_1 };
    delete renamed.layout.block_1;
    const x = expandBlock(renamed, "s2");
    if (!x.ok) throw new Error(x.message);
    expect(x.doc.blocks?.stage).toBeUndefined(); // no other call: the definition went with it
    expect(expandedFrom(x.doc, "block2_conv2")).toEqual({ call: "s2", block: "stage" });
    const c = collapseExpanded(x.doc, "block2_conv2");
    if (!c.ok) throw new Error(c.message);
    expect(c.id).toBe("s2");
    expect(c.block).toBe("stage");
    expect(c.doc.nodes.find((n) => n.id === "s2")).toEqual({ id: "s2", type: "Block", params: { block: "stage" } });
    expect(sortEdges(c.doc)).toEqual(sortEdges(renamed));
    const def = c.doc.blocks!.stage as { nodes: { id: string }[]; layout: Record<string, Record<string, unknown>> };
    expect(def.nodes.map((n) => n.id).sort()).toEqual((renamed.blocks.stage as { nodes: { id: string }[] }).nodes.map((n) => n.id).sort());
    expect(Object.values(def.layout).every((p) => !("expanded_from" in p))).toBe(true);
    expect(collapseExpanded(c.doc, "conv1")).toMatchObject({ ok: false });
  });
});
