/** The editor's commands, run through the same `dispatch` the UI uses, asserting on the document
 * and on the undo stack. */

import { describe, expect, it } from "vitest";
import { emptyGraph, serializeGraph } from "../domain/format";
import { edgeKey } from "../domain/graph";
import { CATALOG, example } from "../testing/fixtures";
import { commandForKeys, dispatch, eventKeys, redo, shortcutBindings, undo } from "./commands";
import { createDocumentStore, selectDoc, type DocumentStore } from "./documentStore";

const fresh = (doc = emptyGraph("t")) => createDocumentStore(doc, { catalog: CATALOG });
const past = (s: DocumentStore) => s.temporal.getState().pastStates.length;
const future = (s: DocumentStore) => s.temporal.getState().futureStates.length;
const ids = (s: DocumentStore) => s.getState().nodes.map((n) => n.id);

describe("history: one entry per gesture", () => {
  it("adding, connecting and editing are one entry each", () => {
    const s = fresh();
    dispatch(s, "addNode", { type: "Input", position: { x: 0, y: 0 } });
    dispatch(s, "addNode", { type: "Dense", position: { x: 200, y: 0 } });
    dispatch(s, "connect", { source: "input_1", target: "dense_1" });
    dispatch(s, "setParam", { id: "dense_1", name: "units", value: 64 });
    expect(past(s)).toBe(4);
    undo(s);
    expect(s.getState().nodes[1].params).toEqual({});
    undo(s);
    expect(s.getState().edges).toEqual([]);
    redo(s);
    redo(s);
    expect(s.getState().nodes[1].params).toEqual({ units: 64 });
    expect(future(s)).toBe(0);
  });

  it("live typing in one field is one entry: the first step records, the rest amend it", () => {
    const s = fresh(example("seed_mlp"));
    const before = s.getState().nodes.find((n) => n.id === "d1")!.params;
    dispatch(s, "setParam", { id: "d1", name: "units", value: 6 });
    dispatch(s, "amendParam", { id: "d1", name: "units", value: 64 });
    expect(s.getState().nodes.find((n) => n.id === "d1")!.params).toMatchObject({ units: 64 });
    expect(past(s)).toBe(1);
    undo(s);
    expect(s.getState().nodes.find((n) => n.id === "d1")!.params).toEqual(before);
    redo(s);
    expect(s.getState().nodes.find((n) => n.id === "d1")!.params).toMatchObject({ units: 64 });
  });

  it("a drag of many frames is one entry, undone to the pre-drag position", () => {
    const s = fresh(example("seed_mlp"));
    const before = s.getState().layout.d1;
    for (let i = 1; i <= 60; i++) dispatch(s, "dragNodes", { d1: { x: before.x + i * 3, y: before.y + i } });
    expect(past(s)).toBe(0);
    expect(s.getState().layout.d1).toBe(before); // the document does not move during the drag
    expect(s.gesture.getState().drag?.d1).toEqual({ x: before.x + 180, y: before.y + 60 });
    dispatch(s, "endDrag", { d1: { x: before.x + 181, y: before.y + 61 } });
    expect(past(s)).toBe(1);
    expect(s.gesture.getState().drag).toBeNull();
    expect(s.getState().layout.d1).toEqual({ x: before.x + 181, y: before.y + 61 });
    undo(s);
    expect(s.getState().layout.d1).toEqual(before);
    redo(s);
    expect(s.getState().layout.d1).toEqual({ x: before.x + 181, y: before.y + 61 });
  });

  it("a multi-node drag is one entry", () => {
    const s = fresh(example("seed_mlp"));
    dispatch(s, "dragNodes", { d1: { x: 1, y: 1 }, a1: { x: 2, y: 2 } });
    dispatch(s, "dragNodes", { d1: { x: 5, y: 5 }, a1: { x: 6, y: 6 } });
    dispatch(s, "endDrag", undefined);
    expect(past(s)).toBe(1);
    expect(s.getState().layout.a1).toEqual({ x: 6, y: 6 });
  });

  it("selection, measuring, analysis and notices leave no trace", () => {
    const s = fresh(example("seed_mlp"));
    dispatch(s, "select", { nodes: ["d1"], edges: [] });
    dispatch(s, "selectAll");
    dispatch(s, "measure", { d1: { width: 180, height: 70 } });
    dispatch(s, "notify", { kind: "info", text: "hi" });
    dispatch(s, "copy");
    s.setState({ analysis: { ...s.getState().analysis, status: "ok" } });
    expect(past(s)).toBe(0);
  });

  it("a no-op edit leaves no entry", () => {
    const s = fresh(example("seed_mlp"));
    dispatch(s, "setParam", { id: "d1", name: "units", value: 64 });
    dispatch(s, "moveNodes", { d1: s.getState().layout.d1 });
    dispatch(s, "renameNode", { from: "d1", to: "d1" });
    expect(past(s)).toBe(0);
  });

  it("opening a document is never recorded and starts a fresh history", () => {
    const s = fresh();
    dispatch(s, "addNode", { type: "Input", position: { x: 0, y: 0 } });
    dispatch(s, "loadDocument", { doc: example("inception_module") });
    expect(past(s)).toBe(0);
    expect(future(s)).toBe(0);
    expect(serializeGraph(selectDoc(s.getState()))).toEqual(serializeGraph(example("inception_module")));
    undo(s);
    expect(s.getState().nodes).toHaveLength(12);
  });

  it("an ephemeral command may not change the document", () => {
    const s = fresh(example("seed_mlp"));
    expect(dispatch(s, "addPort", "d1")).toBe(false); // Dense has no growable ports
    dispatch(s, "addNode", { type: "Add", position: { x: 0, y: 0 } });
    expect(dispatch(s, "addPort", "add_1")).toBe(true);
    expect(s.getState().portRequests.add_1).toBe(3);
    expect(past(s)).toBe(1);
  });
});

describe("commands", () => {
  it("delete removes the selection (nodes with their wires, and wires)", () => {
    const s = fresh(example("seed_mlp"));
    dispatch(s, "select", { nodes: ["a1"], edges: [edgeKey({ source: "x", target: "d1" })] });
    dispatch(s, "deleteSelection");
    expect(ids(s)).toEqual(["x", "d1", "d2", "y"]);
    expect(s.getState().edges).toEqual([{ source: "d2", target: "y" }]);
    expect(past(s)).toBe(1);
    undo(s);
    expect(s.getState().edges).toHaveLength(4);
  });

  it("copy, paste twice, cut", () => {
    const s = fresh(example("seed_mlp"));
    dispatch(s, "select", { nodes: ["d1", "a1"], edges: [] });
    dispatch(s, "copy");
    dispatch(s, "paste");
    dispatch(s, "paste");
    expect(ids(s).slice(5)).toEqual(["d1_1", "a1_1", "d1_2", "a1_2"]);
    expect(s.getState().selection.nodes).toEqual(["d1_2", "a1_2"]);
    expect(s.getState().layout.d1_2.x - s.getState().layout.d1.x).toBe(80);
    expect(past(s)).toBe(2);
    dispatch(s, "cut");
    expect(ids(s)).not.toContain("d1_2");
    expect(past(s)).toBe(3);
  });

  it("duplicate selects the copies", () => {
    const s = fresh(example("seed_mlp"));
    dispatch(s, "select", { nodes: ["d2"], edges: [] });
    dispatch(s, "duplicate");
    expect(s.getState().selection.nodes).toEqual(["d2_1"]);
  });

  it("a refused wire explains itself and changes nothing", () => {
    const s = fresh(example("seed_mlp"));
    expect(dispatch(s, "connect", { source: "y", target: "d1" })).toBe(true);
    expect(s.getState().notice?.text).toMatch(/no output port/);
    dispatch(s, "connect", { source: "d2", target: "d1" });
    expect(s.getState().notice?.text).toMatch(/already fed|cycle/);
    expect(past(s)).toBe(0);
  });

  it("rename keeps the selection on the renamed node", () => {
    const s = fresh(example("seed_mlp"));
    dispatch(s, "select", { nodes: ["d1"], edges: [] });
    dispatch(s, "renameNode", { from: "d1", to: "hidden" });
    expect(s.getState().selection.nodes).toEqual(["hidden"]);
    expect(s.getState().edges[0]).toEqual({ source: "x", target: "hidden" });
    dispatch(s, "renameNode", { from: "hidden", to: "x" });
    expect(s.getState().notice?.text).toMatch(/already used/);
    expect(past(s)).toBe(1);
  });

  it("auto-layout is one undoable entry", () => {
    const s = fresh(example("inception_module"));
    const before = s.getState().layout;
    dispatch(s, "autoLayout");
    expect(past(s)).toBe(1);
    undo(s);
    expect(s.getState().layout).toBe(before);
  });

  it("saving records which server version the document is", () => {
    const s = fresh(example("seed_mlp"));
    dispatch(s, "markSaved", { graphId: "g1", name: "mlp", version: 3 });
    expect(s.getState().server).toEqual({ graphId: "g1", name: "mlp", version: 3 });
    expect(s.getState().meta.name).toBe("mlp");
    expect(past(s)).toBe(0);
  });
});

describe("shortcuts", () => {
  it("map keys to commands from the registry", () => {
    const key = (k: string, mods: Partial<KeyboardEvent> = {}) => eventKeys({ key: k, ctrlKey: false, metaKey: false, shiftKey: false, altKey: false, ...mods });
    expect(commandForKeys(key("Delete"))?.name).toBe("deleteSelection");
    expect(commandForKeys(key("z", { ctrlKey: true }))?.name).toBe("undo");
    expect(commandForKeys(key("Z", { ctrlKey: true, shiftKey: true }))?.name).toBe("redo");
    expect(commandForKeys(key("c", { metaKey: true }))?.name).toBe("copy");
    expect(commandForKeys(key("v", { ctrlKey: true }))?.name).toBe("paste");
    expect(commandForKeys(key("d", { ctrlKey: true }))?.name).toBe("duplicate");
    expect(commandForKeys(key("f"))?.name).toBe("fitView");
    const all = shortcutBindings().flatMap((b) => b.keys);
    expect(new Set(all).size).toBe(all.length); // no key bound twice
  });
});
