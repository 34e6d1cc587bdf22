import { describe, expect, it } from "vitest";
import { CATALOG, example } from "../testing/fixtures";
import { dispatch, redo, undo } from "../state/commands";
import { createDocumentStore, selectDoc, sameDoc } from "../state/documentStore";
import { blockDef, blockPorts } from "./blocks";
import { indexIssues } from "./issues";
import { computeLayout } from "./layout";
import { breadcrumb, closeTo, openBlock, scopedId, writeBack } from "./scope";
import type { GraphDoc } from "./types";

const level = (d: GraphDoc) => ({ nodes: d.nodes, edges: d.edges, layout: d.layout });

describe("blocks opened in place (pure)", () => {
  it("opens a call's definition, names the path, writes edits back and goes back up", () => {
    const doc = example("se_cnn");
    const r = openBlock(level(doc), doc.blocks, null, "stage2");
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.level.nodes.map((n) => n.id)).toContain("se_excite");
    expect(Object.keys(r.level.layout).sort()).toEqual(r.level.nodes.map((n) => n.id).sort()); // placed
    expect(r.scope.path).toEqual([{ call: "stage2", block: "conv_se" }]);
    expect(scopedId(r.scope, "conv")).toBe("stage2.conv");
    expect(scopedId(null, "conv")).toBe("conv");
    expect(breadcrumb("se-cnn", r.scope).map((c) => c.label)).toEqual(["se-cnn", "stage2 · conv_se"]);

    const nodes = r.level.nodes.map((n) => (n.id === "conv" ? { ...n, params: { ...n.params, kernel_size: 5 } } : n));
    const blocks = writeBack(doc.blocks, r.scope, { ...r.level, nodes });
    expect(blockDef({ blocks }, "conv_se")!.nodes.find((n) => n.id === "conv")!.params!.kernel_size).toBe(5);
    expect(blockDef({ blocks }, "conv_se")!.args).toEqual(blockDef(doc, "conv_se")!.args); // other fields kept
    expect(doc.blocks).not.toBe(blocks); // the input is untouched

    const back = closeTo(r.scope, blocks, 0)!;
    expect(back.scope).toBeNull();
    expect(back.call).toBe("stage2");
    expect(back.level.nodes).toBe(doc.nodes);
  });

  it("refuses what is not a call, a missing block, and a block already open above", () => {
    const doc = example("se_cnn");
    expect(openBlock(level(doc), doc.blocks, null, "avg_pool")).toMatchObject({ ok: false, message: "avg_pool is not a block call." });
    const missing = { ...doc, nodes: doc.nodes.map((n) => (n.id === "stage1" ? { ...n, params: { block: "nope" } } : n)) };
    expect(openBlock(level(missing), doc.blocks, null, "stage1")).toMatchObject({ ok: false });
    const r = openBlock(level(doc), doc.blocks, null, "stage1");
    if (!r.ok) throw new Error(r.message);
    const self = { ...r.level, nodes: [...r.level.nodes, { id: "again", type: "Block", params: { block: "conv_se" } }] };
    expect(openBlock(self, doc.blocks, r.scope, "again")).toMatchObject({ ok: false });
  });

  it("places a problem inside a block on the call and on the inner node of every call it repeats in", () => {
    const issue = { code: "shape", message: "stage1 › conv: …", severity: "error" as const, node: "stage1", path: ["stage1", "inner", "conv"], nodes: ["stage1", "stage3"] };
    const idx = indexIssues({ errors: [issue], warnings: [] }, []);
    for (const k of ["stage1", "stage1.inner", "stage1.inner.conv", "stage3", "stage3.inner", "stage3.inner.conv"]) expect(idx.byNode[k]).toEqual([issue]);
  });
});

describe("blocks opened in place (store)", () => {
  const fresh = () => createDocumentStore(example("se_cnn"), { catalog: CATALOG });

  it("an edit inside changes the definition; undo and redo cross levels; the document is what is saved", () => {
    const s = fresh();
    const doc0 = selectDoc(s.getState());
    dispatch(s, "openBlock", "stage1");
    expect(s.getState().scope?.path).toHaveLength(1);
    expect(s.temporal.getState().pastStates).toHaveLength(0); // opening is not an edit
    expect(sameDoc(s.getState(), { ...doc0, blocks: doc0.blocks })).toBe(true);
    expect(selectDoc(s.getState()).nodes).toBe(doc0.nodes); // the document, not the level

    dispatch(s, "setParam", { id: "conv", name: "kernel_size", value: 5 });
    const edited = selectDoc(s.getState());
    expect(blockDef(edited, "conv_se")!.nodes.find((n) => n.id === "conv")!.params!.kernel_size).toBe(5);
    expect(edited.nodes).toBe(doc0.nodes);

    dispatch(s, "closeBlock");
    expect(s.getState().scope).toBeNull();
    expect(s.getState().nodes).toBe(doc0.nodes);
    expect(s.getState().selection.nodes).toEqual(["stage1"]);

    undo(s); // back into the block, before the edit
    expect(s.getState().scope?.path[0].call).toBe("stage1");
    expect(blockDef(s.getState(), "conv_se")!.nodes.find((n) => n.id === "conv")!.params!.kernel_size).toBe(3);
    redo(s);
    expect(blockDef(s.getState(), "conv_se")!.nodes.find((n) => n.id === "conv")!.params!.kernel_size).toBe(5);
  });

  it("adding an Input port inside gives every call another input handle", () => {
    const s = fresh();
    dispatch(s, "openBlock", "stage2");
    dispatch(s, "addNode", { type: "Input", position: { x: 0, y: 300 } });
    dispatch(s, "closeBlock");
    const st = s.getState();
    for (const id of ["stage1", "stage2", "stage3"]) expect(blockPorts(st, st.nodes.find((n) => n.id === id)!).inputs).toBe(2);
    dispatch(s, "openBlock", "stage3");
    dispatch(s, "select", { nodes: ["input_1"], edges: [] });
    dispatch(s, "deleteSelection");
    dispatch(s, "closeBlock");
    expect(blockPorts(s.getState(), s.getState().nodes.find((n) => n.id === "stage1")!).inputs).toBe(1);
  });

  it("Escape is bound to going back up, Enter to opening the selected call", () => {
    const s = fresh();
    dispatch(s, "select", { nodes: ["stage3"], edges: [] });
    expect(dispatch(s, "openBlock")).toBe(true);
    expect(dispatch(s, "closeBlock")).toBe(true);
    expect(dispatch(s, "closeBlock")).toBe(false); // at the document already
  });
});

describe("auto-layout direction", () => {
  it("top to bottom ranks nodes down the page, left to right across it", () => {
    const doc = example("seed_mlp");
    const chain = ["x", "d1", "a1", "d2"].filter((id) => doc.nodes.some((n) => n.id === id));
    const down = computeLayout(doc, { direction: "TB" });
    const across = computeLayout(doc, { direction: "LR" });
    for (let i = 1; i < chain.length; i++) {
      expect(down[chain[i]].y).toBeGreaterThan(down[chain[i - 1]].y);
      expect(across[chain[i]].x).toBeGreaterThan(across[chain[i - 1]].x);
    }
  });

  it("the command remembers the direction in the document", () => {
    const s = createDocumentStore(example("seed_mlp"), { catalog: CATALOG });
    dispatch(s, "autoLayout", "TB");
    expect(selectDoc(s.getState()).extra?.layout_direction).toBe("TB");
    const y = (id: string) => s.getState().layout[id].y;
    expect(y(s.getState().edges[0].target)).toBeGreaterThan(y(s.getState().edges[0].source));
  });
});

describe("nested blocks open further", () => {
  const nested = (): GraphDoc => ({
    format: "layerloom.graph",
    version: 1,
    name: "nest",
    nodes: [
      { id: "x", type: "Input", params: { shape: [4] } },
      { id: "a1", type: "Block", params: { block: "outer" } },
      { id: "y", type: "Output", params: { loss: "mse" } },
    ],
    edges: [{ source: "x", target: "a1" }, { source: "a1", target: "y" }],
    layout: { x: { x: 0, y: 0 }, a1: { x: 200, y: 0 }, y: { x: 400, y: 0 } },
    blocks: {
      outer: {
        nodes: [{ id: "i", type: "Input" }, { id: "b1", type: "Block", params: { block: "inner" } }, { id: "o", type: "Output" }],
        edges: [{ source: "i", target: "b1" }, { source: "b1", target: "o" }],
      },
      inner: {
        nodes: [{ id: "i", type: "Input" }, { id: "d", type: "Dense", params: { units: 3 } }, { id: "o", type: "Output" }],
        edges: [{ source: "i", target: "d" }, { source: "d", target: "o" }],
      },
    },
  });

  it("opens a call inside a block, names the whole path, and edits the inner block", () => {
    const s = createDocumentStore(nested(), { catalog: CATALOG });
    dispatch(s, "openBlock", "a1");
    dispatch(s, "openBlock", "b1");
    const st = s.getState();
    expect(st.scope!.path.map((f) => f.call)).toEqual(["a1", "b1"]);
    expect(scopedId(st.scope, "d")).toBe("a1.b1.d");
    expect(breadcrumb("nest", st.scope).map((c) => c.label)).toEqual(["nest", "a1 · outer", "b1 · inner"]);
    dispatch(s, "setParam", { id: "d", name: "units", value: 7 });
    expect(blockDef(s.getState(), "inner")!.nodes[1].params).toEqual({ units: 7 });
    dispatch(s, "closeBlock"); // up one: the outer block, its call of inner selected
    expect(s.getState().nodes.map((n) => n.id)).toEqual(["i", "b1", "o"]);
    expect(s.getState().selection.nodes).toEqual(["b1"]);
    dispatch(s, "openBlock", "b1");
    dispatch(s, "closeBlock", 0); // the breadcrumb's first crumb: straight to the document
    expect(s.getState().scope).toBeNull();
    expect(s.getState().selection.nodes).toEqual(["a1"]);
    expect(selectDoc(s.getState()).nodes.map((n) => n.id)).toEqual(["x", "a1", "y"]);
  });
});

describe("top-to-bottom layout keeps merge inputs in port order, left to right", () => {
  it("on the inception module", () => {
    const doc = example("inception_module");
    const pos = computeLayout(doc, { direction: "TB" });
    const merges = new Map<string, { port: number; source: string }[]>();
    for (const e of doc.edges) {
      const list = merges.get(e.target) ?? [];
      list.push({ port: e.target_port ?? 0, source: e.source });
      merges.set(e.target, list);
    }
    let checked = 0;
    for (const list of merges.values()) {
      if (list.length < 2) continue;
      const sameRank = list.filter((a) => pos[a.source].y === pos[list[0].source].y).sort((a, b) => a.port - b.port);
      for (let i = 1; i < sameRank.length; i++, checked++) expect(pos[sameRank[i].source].x).toBeGreaterThan(pos[sameRank[i - 1].source].x);
    }
    expect(checked).toBeGreaterThan(0);
  });
});
