import { describe, expect, it } from "vitest";
import { CATALOG, example } from "../testing/fixtures";
import { baseName, groupCatalog, inputPortCount, specOf } from "./catalog";
import { emptyGraph } from "./format";
import {
  addNode,
  addNodeAfter,
  canConnect,
  canSitOnWire,
  insertOnEdge,
  pathBetween,
  connect,
  copyFragment,
  duplicate,
  edgeKey,
  edgeKeys,
  firstFreePort,
  moveNodes,
  pasteFragment,
  removeElements,
  renameNode,
  setParam,
  setShare,
  shareCandidates,
} from "./graph";
import { idProblem, isValidId, uniqueId } from "./ids";
import type { GraphDoc } from "./types";

function build(): GraphDoc {
  let doc = emptyGraph("t");
  for (const [type, pos] of [["Input", 0], ["Dense", 1], ["Dense", 2], ["Add", 3], ["Output", 4]] as const) {
    doc = addNode(doc, { type, position: { x: pos * 200, y: 0 } }).doc;
  }
  return doc;
}

function mustConnect(doc: GraphDoc, source: string, target: string, targetPort = 0): GraphDoc {
  const r = connect(doc, CATALOG, { source, target, targetPort });
  if ("ok" in r) throw new Error(r.ok ? "unexpected" : r.message);
  return r;
}

describe("ids", () => {
  it("follow the backend's rule", () => {
    expect(isValidId("dense_1")).toBe(true);
    expect(isValidId("x")).toBe(true);
    expect(isValidId("1x")).toBe(false);
    expect(isValidId("a-b")).toBe(false);
    expect(isValidId("a".repeat(64))).toBe(true);
    expect(isValidId("a".repeat(65))).toBe(false);
    expect(idProblem("d1", new Set(["d1"]))).toMatch(/already used/);
    expect(idProblem("_x", new Set())).toMatch(/Start with a letter/);
  });
  it("are Keras-style names, dense_1, dense_2 …", () => {
    expect(baseName("Dense")).toBe("dense");
    expect(baseName("Conv2D")).toBe("conv2d");
    expect(baseName("Conv2DTranspose")).toBe("conv2d_transpose");
    expect(baseName("GlobalAveragePooling2D")).toBe("global_average_pooling2d");
    expect(baseName("BatchNormalization")).toBe("batch_normalization");
    expect(baseName("LSTM")).toBe("lstm");
    expect(baseName("SimpleRNN")).toBe("simple_rnn");
    const doc = build();
    expect(doc.nodes.map((n) => n.id)).toEqual(["input_1", "dense_1", "dense_2", "add_1", "output_1"]);
    expect(uniqueId(doc, "dense")).toBe("dense_3");
    // a freed name is reused, never a counter that ignores the document
    expect(uniqueId(removeElements(doc, ["dense_1"]), "dense")).toBe("dense_1");
  });
});

describe("catalog", () => {
  it("groups the palette in the issue's order", () => {
    expect(groupCatalog(CATALOG).map((g) => g.category)).toEqual([
      "Inputs/Outputs", "Core", "Convolution", "Pooling", "Recurrent", "Activation", "Attention", "Normalization",
      "Preprocessing", "Augmentation", "Merge", "Regularization",
    ]);
  });
  it("searches types and docs", () => {
    const hits = groupCatalog(CATALOG, "lstm").flatMap((g) => g.layers.map((l) => l.type));
    expect(hits).toContain("LSTM");
    expect(groupCatalog(CATALOG, "zzz")).toEqual([]);
  });
  it("counts the ports a merge shows", () => {
    const add = specOf(CATALOG, "Add");
    expect(inputPortCount(add, [], "m")).toBe(2);
    expect(inputPortCount(add, [{ source: "a", target: "m", target_port: 3 }], "m")).toBe(4);
    expect(inputPortCount(add, [], "m", 5)).toBe(5);
    expect(inputPortCount(specOf(CATALOG, "Subtract"), [], "m", 5)).toBe(2);
  });
});

describe("port rules", () => {
  it("wire output to input; merges get target_port, single inputs do not", () => {
    let doc = build();
    doc = mustConnect(doc, "input_1", "dense_1");
    doc = mustConnect(doc, "dense_1", "add_1", 0);
    doc = mustConnect(doc, "dense_2", "add_1", 1);
    expect(doc.edges).toEqual([
      { source: "input_1", target: "dense_1" },
      { source: "dense_1", target: "add_1", target_port: 0 },
      { source: "dense_2", target: "add_1", target_port: 1 },
    ]);
  });
  it("one edge per input port", () => {
    const doc = mustConnect(mustConnect(build(), "input_1", "dense_1"), "input_1", "dense_2");
    expect(canConnect(doc, CATALOG, { source: "dense_2", target: "dense_1" })).toMatchObject({ ok: false, reason: "port_taken" });
    const merged = mustConnect(doc, "dense_1", "add_1", 0);
    expect(canConnect(merged, CATALOG, { source: "dense_2", target: "add_1", targetPort: 0 })).toMatchObject({ ok: false, reason: "port_taken" });
    expect(canConnect(merged, CATALOG, { source: "dense_2", target: "add_1", targetPort: 1 }).ok).toBe(true);
    expect(firstFreePort(merged, CATALOG, "add_1")).toBe(1);
  });
  it("no cycles, no self loops", () => {
    let doc = mustConnect(build(), "dense_1", "dense_2");
    expect(canConnect(doc, CATALOG, { source: "dense_2", target: "dense_1" })).toMatchObject({ ok: false, reason: "cycle" });
    expect(canConnect(doc, CATALOG, { source: "dense_1", target: "dense_1" })).toMatchObject({ ok: false, reason: "self_loop" });
    doc = mustConnect(doc, "dense_2", "add_1", 0);
    expect(canConnect(doc, CATALOG, { source: "add_1", target: "dense_1" })).toMatchObject({ ok: false, reason: "cycle" });
  });
  it("Inputs take nothing, Outputs give nothing, fixed-arity merges stop at their max", () => {
    const doc = addNode(build(), { type: "Subtract", position: { x: 0, y: 0 } }).doc;
    expect(canConnect(doc, CATALOG, { source: "dense_1", target: "input_1" })).toMatchObject({ ok: false, reason: "no_input_port" });
    expect(canConnect(doc, CATALOG, { source: "output_1", target: "dense_1" })).toMatchObject({ ok: false, reason: "no_output_port" });
    expect(canConnect(doc, CATALOG, { source: "dense_1", target: "subtract_1", targetPort: 2 })).toMatchObject({ ok: false, reason: "no_input_port" });
    expect(canConnect(doc, CATALOG, { source: "dense_1", target: "add_1", targetPort: 7 }).ok).toBe(true);
    expect(canConnect(doc, CATALOG, { source: "nope", target: "add_1" })).toMatchObject({ ok: false, reason: "missing_node" });
  });
});

describe("edits", () => {
  it("never mutate their input", () => {
    const doc = example("seed_mlp");
    const frozen = JSON.stringify(doc);
    removeElements(doc, ["d1"]);
    renameNode(doc, "d1", "hidden");
    setParam(doc, "d1", "units", 3);
    moveNodes(doc, { d1: { x: 1, y: 2 } });
    duplicate(doc, ["d1", "a1"]);
    expect(JSON.stringify(doc)).toBe(frozen);
  });
  it("delete removes the node's edges and layout", () => {
    const doc = removeElements(example("seed_mlp"), ["a1"]);
    expect(doc.nodes.map((n) => n.id)).toEqual(["x", "d1", "d2", "y"]);
    expect(doc.edges).toEqual([{ source: "x", target: "d1" }, { source: "d2", target: "y" }]);
    expect(doc.layout.a1).toBeUndefined();
  });
  it("delete removes edges by key", () => {
    const doc = example("seed_mlp");
    const next = removeElements(doc, [], [edgeKey(doc.edges[1])]);
    expect(next.edges).toHaveLength(3);
    expect(next.nodes).toBe(doc.nodes);
  });
  it("rename carries edges, layout and share references", () => {
    const doc = example("siamese");
    const r = renameNode(doc, "left_hidden", "encoder");
    if (!r.ok) throw new Error(r.message);
    expect(r.doc.nodes.find((n) => n.id === "right_hidden")!.share).toBe("encoder");
    expect(r.doc.edges.filter((e) => e.source === "encoder" || e.target === "encoder")).toHaveLength(2);
    expect(r.doc.layout.encoder).toEqual(doc.layout.left_hidden);
    expect(r.doc.layout.left_hidden).toBeUndefined();
    expect(renameNode(doc, "left_hidden", "right")).toMatchObject({ ok: false });
    expect(renameNode(doc, "left_hidden", "9lives")).toMatchObject({ ok: false });
  });
  it("set and unset params; a no-op keeps the document", () => {
    const doc = example("seed_mlp");
    expect(setParam(doc, "d1", "units", 64)).toBe(doc);
    const a = setParam(doc, "d1", "units", 32);
    expect(a.nodes.find((n) => n.id === "d1")!.params).toEqual({ units: 32 });
    expect(a.nodes.filter((n) => n.id !== "d1").every((n, i) => n === doc.nodes.filter((m) => m.id !== "d1")[i])).toBe(true);
    const b = setParam(a, "d1", "activation", "relu");
    expect(setParam(b, "d1", "activation", undefined).nodes.find((n) => n.id === "d1")!.params).toEqual({ units: 32 });
  });
  it("sharing clears own params; unsharing copies the owner's", () => {
    const doc = example("seed_mlp");
    expect(shareCandidates(doc, "d2")).toEqual(["d1"]);
    const shared = setShare(doc, "d2", "d1");
    expect(shared.nodes.find((n) => n.id === "d2")).toEqual({ id: "d2", type: "Dense", params: {}, share: "d1" });
    const own = setShare(shared, "d2", null);
    expect(own.nodes.find((n) => n.id === "d2")).toEqual({ id: "d2", type: "Dense", params: { units: 64 } });
  });
  it("move rounds, and a move to the same place is no change", () => {
    const doc = example("seed_mlp");
    const moved = moveNodes(doc, { d1: { x: 10.4, y: 20.6 } });
    expect(moved.layout.d1).toEqual({ x: 10, y: 21 });
    expect(moveNodes(moved, { d1: { x: 10, y: 21 } })).toBe(moved);
  });
});

describe("copy, paste, duplicate", () => {
  it("duplicates with fresh ids, internal edges and an offset", () => {
    const doc = example("seed_mlp");
    const { doc: next, ids } = duplicate(doc, ["d1", "a1"], { x: 40, y: 40 });
    expect(ids).toEqual(["d1_1", "a1_1"]);
    expect(next.edges.slice(doc.edges.length)).toEqual([{ source: "d1_1", target: "a1_1" }]);
    expect(next.layout.d1_1).toEqual({ x: doc.layout.d1.x + 40, y: doc.layout.d1.y + 40 });
    expect(next.nodes.find((n) => n.id === "d1_1")!.params).toEqual({ units: 64 });
  });
  it("numbers copies like new layers: dense_1 → dense_2", () => {
    let doc = addNode(emptyGraph(), { type: "Dense", position: { x: 0, y: 0 } }).doc;
    doc = duplicate(doc, ["dense_1"]).doc;
    doc = duplicate(doc, ["dense_1"]).doc;
    expect(doc.nodes.map((n) => n.id)).toEqual(["dense_1", "dense_2", "dense_3"]);
  });
  it("a copied shared call keeps sharing; a copied owner+sharer pair shares the copy", () => {
    const doc = example("siamese");
    const one = duplicate(doc, ["right_hidden"]);
    expect(one.doc.nodes.at(-1)).toMatchObject({ id: "right_hidden_1", share: "left_hidden" });
    const both = duplicate(doc, ["left_hidden", "right_hidden"]);
    expect(both.doc.nodes.at(-1)).toMatchObject({ id: "right_hidden_1", share: "left_hidden_1" });
  });
  it("a fragment pastes into another document", () => {
    const frag = copyFragment(example("seed_mlp"), ["x", "d1"])!;
    const target = example("seed_mlp");
    const { doc, ids } = pasteFragment(target, frag, { x: 0, y: 300 });
    expect(ids).toEqual(["x_1", "d1_1"]);
    expect(edgeKeys(doc.edges)).toContain("x_1:0>d1_1:0");
  });
  it("edge keys stay unique even for repeated wires", () => {
    expect(edgeKeys([{ source: "a", target: "b" }, { source: "a", target: "b" }])).toEqual(["a:0>b:0", "a:0>b:0#2"]);
  });
});

describe("connection rules with reasons", () => {
  it("a cycle names every node on it", () => {
    let doc = mustConnect(build(), "dense_1", "dense_2");
    doc = mustConnect(doc, "dense_2", "add_1", 0);
    const check = canConnect(doc, CATALOG, { source: "add_1", target: "dense_1" });
    expect(check).toMatchObject({ ok: false, reason: "cycle", nodes: ["dense_1", "dense_2", "add_1"] });
    if (!check.ok) expect(check.message).toContain("add_1 → dense_1 → dense_2 → add_1");
  });
  it("a taken port names the wire already there", () => {
    const doc = mustConnect(mustConnect(build(), "input_1", "dense_1"), "input_1", "dense_2");
    const check = canConnect(doc, CATALOG, { source: "dense_2", target: "dense_1" });
    expect(check).toMatchObject({ ok: false, reason: "port_taken", nodes: ["input_1", "dense_1"] });
    if (!check.ok) expect(check.message).toContain("input_1 → dense_1");
  });
  it("pathBetween finds a shortest forward path or none", () => {
    let doc = mustConnect(build(), "input_1", "dense_1");
    doc = mustConnect(doc, "dense_1", "dense_2");
    expect(pathBetween(doc.edges, "input_1", "dense_2")).toEqual(["input_1", "dense_1", "dense_2"]);
    expect(pathBetween(doc.edges, "dense_2", "input_1")).toBeNull();
  });
});

describe("insert on edge", () => {
  it("splices a layer into a wire, keeping the wire's ports", () => {
    let doc = mustConnect(build(), "input_1", "dense_1");
    doc = mustConnect(doc, "dense_1", "add_1", 1);
    const key = edgeKey(doc.edges[1]);
    const r = insertOnEdge(doc, CATALOG, key, { type: "Dropout", position: { x: 300, y: 10 } });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.id).toBe("dropout_1");
    expect(r.doc.edges).toEqual([
      { source: "input_1", target: "dense_1" },
      { source: "dense_1", target: "dropout_1" },
      { source: "dropout_1", target: "add_1", target_port: 1 },
    ]);
    expect(r.doc.layout.dropout_1).toEqual({ x: 300, y: 10 });
    expect(doc.edges).toHaveLength(2); // the input document is untouched
  });
  it("refuses layers that cannot sit in a wire, and vanished wires", () => {
    const doc = mustConnect(build(), "input_1", "dense_1");
    const key = edgeKey(doc.edges[0]);
    expect(canSitOnWire(CATALOG, "Input")).toBe(false);
    expect(canSitOnWire(CATALOG, "Output")).toBe(false);
    expect(insertOnEdge(doc, CATALOG, key, { type: "Input", position: { x: 0, y: 0 } })).toMatchObject({ ok: false });
    expect(insertOnEdge(doc, CATALOG, "nope", { type: "Dense", position: { x: 0, y: 0 } })).toMatchObject({ ok: false });
  });
});

describe("add after a node", () => {
  it("wires the new layer from the given output port", () => {
    const r = addNodeAfter(build(), CATALOG, "dense_1", 0, { type: "Dropout", position: { x: 400, y: 0 } });
    expect(r.ok && r.doc.edges).toEqual([{ source: "dense_1", target: "dropout_1" }]);
  });
  it("adds an Input unwired, and refuses a missing node", () => {
    const r = addNodeAfter(build(), CATALOG, "dense_1", 0, { type: "Input", position: { x: 400, y: 0 } });
    expect(r.ok && r.doc.edges).toEqual([]);
    expect(addNodeAfter(build(), CATALOG, "ghost", 0, { type: "Dense", position: { x: 0, y: 0 } })).toMatchObject({ ok: false });
  });
});
