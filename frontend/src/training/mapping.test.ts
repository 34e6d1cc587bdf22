import { describe, expect, it } from "vitest";
import type { ArrayInfo } from "../api/datasets";
import { csvOptions, fitXyMapping, mappingForSubmit, mappingProblems, parseCsvHeader, prefillMapping, suggestArray, type GraphEnd } from "./mapping";
import autoMappingCases from "./auto_mapping_cases.json";
import { confusionView } from "./confusion";
import { buildConfig, defaultStandardize, defaultValidationSplit } from "./config";
import { splitLabel } from "./Results";
import { DEFAULT_FORM } from "./ui";

const arr = (name: string, kind: string, shape: number[], extra: Partial<ArrayInfo> = {}): ArrayInfo => ({ name, kind, shape, dtype: kind === "class_labels" ? "int64" : "float32", num_classes: null, class_names: null, ...extra });
const digits = [arr("x", "features", [1, 8, 8]), arr("y", "class_labels", [], { num_classes: 10 })];

describe("mapping pre-fill", () => {
  it("maps by name", () => {
    const ends: GraphEnd[] = [{ id: "x", role: "input", shape: [1, 8, 8] }, { id: "y", role: "output", shape: [10] }];
    expect(prefillMapping(ends, digits)).toEqual({ x: "x", y: "y" });
  });
  it("falls back to the only array of the right role, and keeps a valid current choice", () => {
    const ends: GraphEnd[] = [{ id: "image", role: "input", shape: [1, 8, 8] }, { id: "label", role: "output", shape: [10] }];
    expect(prefillMapping(ends, digits)).toEqual({ image: "x", label: "y" });
    expect(prefillMapping(ends, [...digits, arr("z", "features", [3])], { image: "z" })).toEqual({ image: "z", label: "y" });
    expect(mappingForSubmit({ image: "x", y: "y", q: "" })).toEqual({ image: "x" });
  });
});

describe("fit(x, y) auto-mapping, the server's rule", () => {
  it("passes every shared case (train/mapping.py passes the same file)", () => {
    expect(autoMappingCases.cases.length).toBeGreaterThanOrEqual(8);
    type Case = { name: string; inputs: string[]; outputs: string[]; arrays: Record<string, string>; mapping: Record<string, string>; expect: Record<string, string> };
    for (const c of autoMappingCases.cases as unknown as Case[]) {
      expect(fitXyMapping(c.inputs, c.outputs, c.arrays, c.mapping), c.name).toEqual(c.expect);
    }
  });
  it("pre-fills a one-Input, one-Output graph on a features + labels dataset", () => {
    const wine = [arr("x", "features", [13]), arr("y", "class_labels", [], { num_classes: 3 })];
    const ends: GraphEnd[] = [{ id: "features", role: "input", shape: [13] }, { id: "species", role: "output", shape: [3], loss: "sparse_categorical_crossentropy" }];
    expect(prefillMapping(ends, wine)).toEqual({ features: "x", species: "y" });
    expect(mappingProblems(ends, wine, prefillMapping(ends, wine))).toEqual({});
  });
  it("suggests by shape and role beyond the rule, and never gives a head the features", () => {
    const data = [arr("x", "features", [4]), arr("x2", "features", [2]), arr("labels", "class_labels", [], { num_classes: 3 }), arr("z", "values", [2])];
    const ends: GraphEnd[] = [{ id: "a", role: "input", shape: [2] }, { id: "head", role: "output", shape: [2], loss: "mse" }];
    expect(prefillMapping(ends, data)).toEqual({ a: "x2", head: "z" });
    const cls: GraphEnd = { id: "label", role: "output", shape: [3], loss: "sparse_categorical_crossentropy" };
    expect(suggestArray(cls, data)?.name).toBe("labels");
    const p = mappingProblems([cls], data, { label: "" });
    expect(p.label[0]).toContain("map it to “labels” (class labels, 3 classes)");
    const onFeatures = mappingProblems([cls], data, { label: "x" });
    expect(onFeatures.label[0]).toContain("holds features, not targets");
    expect(onFeatures.label[0]).toContain("“labels”");
    expect(mappingProblems([cls], [arr("x", "features", [4])], { label: "" }).label[0]).toContain("no target array");
  });
});

describe("mismatch messages", () => {
  it("says what to change for a wrong input shape and a wrong class count", () => {
    const ends: GraphEnd[] = [{ id: "x", role: "input", shape: [100] }, { id: "y", role: "output", shape: [3], loss: "sparse_categorical_crossentropy" }];
    const p = mappingProblems(ends, digits, { x: "x", y: "y" });
    expect(p.x[0]).toContain("set the Input's shape to [1, 8, 8]");
    expect(p.y[0]).toContain("units=10");
  });
  it("reports unmapped and unknown arrays, and nothing when all fits", () => {
    const ends: GraphEnd[] = [{ id: "x", role: "input", shape: [1, 8, 8] }, { id: "y", role: "output", shape: [10] }];
    expect(mappingProblems(ends, digits, { x: "x", y: "y" })).toEqual({});
    const p = mappingProblems(ends, digits, { x: "", y: "label" });
    expect(p.x[0]).toContain("not mapped");
    expect(p.y[0]).toContain("does not have");
  });
  it("refuses a value loss on class labels", () => {
    const p = mappingProblems([{ id: "y", role: "output", shape: [1], loss: "mean_squared_error" }], digits, { y: "y" });
    expect(p.y[0]).toContain("class labels");
  });
});

describe("CSV", () => {
  it("reads the header with quotes and guesses the delimiter", () => {
    expect(parseCsvHeader('a,"b,c",d\n1,2,3')).toEqual(["a", "b,c", "d"]);
    expect(parseCsvHeader("a;b;c\r\n1;2;3")).toEqual(["a", "b", "c"]);
  });
  it("builds upload options and checks the picked columns", () => {
    const ok = csvOptions({ inputs: ["a", "b"], target: "t", targetKind: "auto", split: "", inputShape: "" });
    expect(ok.problems).toEqual([]);
    expect(ok.options).toEqual({ inputs: { x: ["a", "b"] }, targets: { y: { column: "t", kind: "auto" } } });
    expect(csvOptions({ inputs: ["a", "b", "c"], target: "t", targetKind: "auto", split: "", inputShape: "2, 2" }).problems[0]).toContain("3 columns");
    expect(csvOptions({ inputs: [], target: "", targetKind: "auto", split: "", inputShape: "" }).problems.length).toBe(2);
  });
});

describe("confusion matrix data", () => {
  it("row fractions, totals, accuracy and recall", () => {
    const v = confusionView(["a", "b"], [[3, 1], [0, 0]]);
    expect(v.total).toBe(4);
    expect(v.accuracy).toBe(0.75);
    expect(v.cells[0][0]).toMatchObject({ count: 3, rowFraction: 0.75, correct: true });
    expect(v.cells[0][1].correct).toBe(false);
    expect(v.recall).toEqual([0.75, null]);
    expect(confusionView([], [[1]]).classes).toEqual(["0"]);
  });
});

describe("config", () => {
  it("builds a TrainConfig with only what was set, and field problems", () => {
    const { config, problems } = buildConfig({ ...DEFAULT_FORM, epochs: "5", logEverySteps: "2", lossWeights: { y: "1" } }, ["y"]);
    expect(problems).toEqual({});
    expect(config).toMatchObject({ epochs: 5, batch_size: 32, optimizer: { name: "adam" }, log_every_steps: 2, loss_weights: { y: 1 } });
    expect(config.early_stopping).toBeUndefined();
    expect(buildConfig({ ...DEFAULT_FORM, epochs: "x", validationSplit: "1" }, []).problems).toMatchObject({ epochs: "A whole number.", validation_split: "Below 1." });
  });
});

describe("hardware and data loading", () => {
  it("sends only what differs from the server's defaults", () => {
    const { config } = buildConfig(DEFAULT_FORM, []);
    for (const key of ["device", "amp", "amp_dtype", "compile", "data_loading", "distributed"]) expect(config[key]).toBeUndefined();
    expect(buildConfig({ ...DEFAULT_FORM, processes: "1" }, []).config.distributed).toBeUndefined();
  });
  it("maps precision to autocast, processes to DDP, and names a bad process count", () => {
    const { config, problems } = buildConfig({ ...DEFAULT_FORM, device: "cuda", precision: "bfloat16", compile: true,
                                               dataLoading: "stream", processes: "2" }, []);
    expect(problems).toEqual({});
    expect(config).toMatchObject({ device: "cuda", amp: true, amp_dtype: "bfloat16", compile: true, data_loading: "stream",
                                   distributed: { nproc_per_node: 2, nnodes: 1 } });
    expect(buildConfig({ ...DEFAULT_FORM, processes: "1.5" }, []).problems).toEqual({ "distributed.nproc_per_node": "A whole number." });
    expect(buildConfig({ ...DEFAULT_FORM, processes: "65" }, []).problems).toEqual({ "distributed.nproc_per_node": "At most 64." });
  });
});

describe("standardization by default", () => {
  it("is on for CSV uploads only, and sent as config.standardize", () => {
    expect(defaultStandardize("csv")).toBe(true);
    expect(["builtin", "npz", "images", undefined].map(defaultStandardize)).toEqual([false, false, false, false]);
    expect(buildConfig({ ...DEFAULT_FORM, standardize: true }, []).config.standardize).toBe(true);
    expect(buildConfig(DEFAULT_FORM, []).config.standardize).toBeUndefined();
  });
});

describe("held-out data by default", () => {
  it("holds out 20% of train when the dataset has neither a valid nor a test split, and sends it", () => {
    expect(defaultValidationSplit({ train: 150 })).toBe("0.2");
    expect(defaultValidationSplit({ train: 150, valid: 0, test: 0 })).toBe("0.2");
    expect(defaultValidationSplit({ train: 150, test: 30 })).toBe("0");
    expect(defaultValidationSplit({ train: 150, valid: 30 })).toBe("0");
    const form = { ...DEFAULT_FORM, validationSplit: defaultValidationSplit({ train: 150 }) };
    expect(buildConfig(form, []).config.validation_split).toBe(0.2);
  });
  it("says which rows results were computed on, and flags training rows", () => {
    expect(splitLabel("test")).toBe("on the test split");
    expect(splitLabel("valid")).toContain("held out");
    expect(splitLabel("train")).toContain("not held out");
  });
});
