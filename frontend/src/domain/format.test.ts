import { describe, expect, it } from "vitest";
import { EXAMPLES } from "../testing/fixtures";
import { CURRENT_VERSION, checkMigrations, emptyGraph, graphToText, parseGraph, parseGraphText, serializeGraph } from "./format";

describe("graph format round trip", () => {
  const names = Object.keys(EXAMPLES);

  it("finds the model zoo", () => {
    expect(names).toEqual(expect.arrayContaining(["seed_mlp", "inception_module", "siamese", "toy_resnet", "two_head"]));
    expect(names.length).toBeGreaterThanOrEqual(12);
  });

  it.each(names)("%s serializes back to exactly what was read", (name) => {
    const raw = EXAMPLES[name];
    const parsed = parseGraph(structuredClone(raw));
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    expect(serializeGraph(parsed.doc)).toEqual(raw);
    // and through the JSON text of an export file
    const again = parseGraphText(graphToText(parsed.doc));
    expect(again.ok && serializeGraph(again.doc)).toEqual(raw);
  });

  it("keeps a shared call's absent params absent", () => {
    const parsed = parseGraph(structuredClone(EXAMPLES.siamese));
    if (!parsed.ok) throw new Error(parsed.message);
    const shared = parsed.doc.nodes.find((n) => n.id === "right_hidden")!;
    expect(shared).toEqual({ id: "right_hidden", type: "Dense", share: "left_hidden" });
    const out = serializeGraph(parsed.doc).nodes as Record<string, unknown>[];
    expect(out.find((n) => n.id === "right_hidden")).not.toHaveProperty("params");
  });

  it("keeps unknown top-level keys and blocks", () => {
    const raw = { ...structuredClone(EXAMPLES.seed_mlp), blocks: {}, editor: { zoom: 2 } };
    const parsed = parseGraph(raw);
    if (!parsed.ok) throw new Error(parsed.message);
    expect(serializeGraph(parsed.doc)).toEqual(raw);
  });

  it("fills in defaults the backend also assumes", () => {
    const parsed = parseGraph({ nodes: [{ id: "x", type: "Input", params: { shape: [3] } }] });
    if (!parsed.ok) throw new Error(parsed.message);
    expect(parsed.doc).toMatchObject({ format: "layerloom.graph", version: 1, name: "untitled", edges: [], layout: {} });
  });
});

describe("graph format refusals", () => {
  it("refuses a newer version with a clear, typed reason", () => {
    const r = parseGraph({ ...structuredClone(EXAMPLES.seed_mlp), version: CURRENT_VERSION + 1 });
    expect(r).toMatchObject({ ok: false, reason: "version_unsupported" });
    expect(!r.ok && r.message).toMatch(/newer Layerloom/);
  });
  it.each([
    ["not json", "{", "not_json"],
    ["not an object", "[1, 2]", "not_a_graph"],
    ["wrong format", '{"format": "keras", "nodes": []}', "format"],
    ["bad version", '{"version": 0, "nodes": []}', "version"],
    ["nodes missing", '{"version": 1}', "schema"],
    ["node without type", '{"nodes": [{"id": "x"}]}', "schema"],
    ["negative port", '{"nodes": [], "edges": [{"source": "a", "target": "b", "target_port": -1}]}', "schema"],
  ])("%s", (_label, text, reason) => {
    expect(parseGraphText(text)).toMatchObject({ ok: false, reason });
  });
  it("checks that migrations are numbered 1 … current-1", () => {
    expect(() => checkMigrations({}, 1)).not.toThrow();
    expect(() => checkMigrations({}, 2)).toThrow(/cover versions \[1\]/);
    expect(() => checkMigrations({ 2: { name: "x", up: (d) => d } }, 2)).toThrow();
  });
  it("writes a fresh graph the backend accepts", () => {
    expect(serializeGraph(emptyGraph("a"))).toEqual({ format: "layerloom.graph", version: 1, name: "a", description: "", nodes: [], edges: [], layout: {} });
  });
});
