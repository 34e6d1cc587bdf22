import { describe, expect, it } from "vitest";
import { CATALOG } from "../testing/fixtures";
import { summarizeParams, formatCount, formatShape } from "./display";
import { describeFields, formatFieldText, parseFieldText, validateParams, validateValue } from "./schemaForm";

const fields = (type: string) => describeFields(CATALOG.get(type)!.params_schema);
const field = (type: string, name: string) => fields(type).find((f) => f.name === name)!;

describe("forms from JSON Schema", () => {
  it("knows every catalog param's kind", () => {
    for (const spec of CATALOG.values()) for (const f of describeFields(spec.params_schema)) expect(f.kind).toBeTruthy();
  });
  it("puts required params first", () => {
    expect(fields("Dense").map((f) => f.name)).toEqual(["units", "activation", "use_bias"]);
    expect(fields("Dense").map((f) => f.kind)).toEqual(["integer", "enum", "boolean"]);
    expect(field("Output", "metrics").kind).toBe("enumList");
    expect(field("Input", "shape").kind).toBe("numbers");
    expect(field("Conv2D", "kernel_size").kind).toBe("numbers");
  });
  it("reads tuples and shapes typed as text", () => {
    expect(parseFieldText(field("Conv2D", "kernel_size"), "3")).toEqual({ ok: true, value: 3 });
    expect(parseFieldText(field("Conv2D", "kernel_size"), "3, 5")).toEqual({ ok: true, value: [3, 5] });
    expect(parseFieldText(field("Conv2D", "kernel_size"), "3x5")).toEqual({ ok: true, value: [3, 5] });
    expect(parseFieldText(field("Input", "shape"), "100")).toEqual({ ok: true, value: [100] });
    expect(parseFieldText(field("Input", "shape"), "3, 32, 32")).toEqual({ ok: true, value: [3, 32, 32] });
    expect(parseFieldText(field("ZeroPadding2D", "padding"), "[[1, 2], [3, 4]]")).toEqual({ ok: true, value: [[1, 2], [3, 4]] });
    expect(parseFieldText(field("MaxPooling2D", "strides"), "")).toEqual({ ok: true, value: undefined });
    expect(parseFieldText(field("Dense", "units"), "six")).toMatchObject({ ok: false });
  });
  it("round-trips lists with empty entries and axes", () => {
    const noise = field("Dropout", "noise_shape");
    expect(parseFieldText(noise, "[null, 1, null]")).toEqual({ ok: true, value: [null, 1, null] });
    expect(formatFieldText([null, 1, null])).toBe("[null,1,null]");
    expect(parseFieldText(noise, formatFieldText([null, 1, null]))).toEqual({ ok: true, value: [null, 1, null] });
    expect(validateValue(noise.schema, [null, 1, null])).toBeNull();
    expect(parseFieldText(field("LayerNormalization", "axis"), "1")).toEqual({ ok: true, value: 1 });
    expect(parseFieldText(field("LayerNormalization", "axis"), "2, 3")).toEqual({ ok: true, value: [2, 3] });
    expect(field("ReLU", "max_value").kind).toBe("number");
  });
  it("edits a wrapper's inner layer as a JSON object", () => {
    const inner = field("TimeDistributed", "layer");
    expect(inner.kind).toBe("json");
    const typed = '{"type": "Dense", "params": {"units": 8}}';
    expect(parseFieldText(inner, typed)).toEqual({ ok: true, value: { type: "Dense", params: { units: 8 } } });
    expect(parseFieldText(inner, "[1, 2]")).toMatchObject({ ok: false });
    expect(parseFieldText(inner, "{nope")).toMatchObject({ ok: false });
    expect(field("Bidirectional", "layer").kind).toBe("json");
    const spec = CATALOG.get("Bidirectional")!.params_schema;
    expect(summarizeParams(spec, { layer: { type: "LSTM", params: { units: 32 } }, merge_mode: "sum" })).toBe("LSTM units 32 · sum");
  });
  it("explains what is wrong", () => {
    expect(validateValue(field("Dense", "units").schema, 0)).toBe("Must be ≥ 1.");
    expect(validateValue(field("Dense", "units").schema, 2.5)).toBe("Must be a whole number.");
    expect(validateValue(field("Dropout", "rate").schema, 1)).toBe("Must be < 1.");
    expect(validateValue(field("Conv2D", "kernel_size").schema, [3, 3, 3])).toBe("Give exactly 2 values.");
    expect(validateValue(field("Conv2D", "kernel_size").schema, [3, 0])).toBe("Item 2: Must be ≥ 1.");
    expect(validateValue(field("Conv2D", "kernel_size").schema, 3)).toBeNull();
    expect(validateValue(field("Input", "shape").schema, [1, 2, 3, 4, 5])).toBe("Give 1 to 4 values.");
    expect(validateValue(field("MaxPooling2D", "strides").schema, null)).toBeNull();
    expect(validateValue(field("Dense", "activation").schema, "nope")).toMatch(/Choose one of linear, relu/);
  });
  it("checks a whole params object", () => {
    const schema = CATALOG.get("Dense")!.params_schema;
    expect(validateParams(schema, {})).toEqual({ units: "Required." });
    expect(validateParams(schema, { units: 3, bias: true })).toEqual({ bias: "Not a parameter of this layer." });
  });
});

describe("display", () => {
  it("writes counts and shapes", () => {
    expect(formatCount(7114)).toBe("7,114");
    expect(formatShape([3, 32, 32])).toBe("3×32×32");
    expect(formatShape(null)).toBe("?");
  });
  it("digests params for a node card", () => {
    const dense = CATALOG.get("Dense")!.params_schema;
    expect(summarizeParams(dense, { units: 10, activation: "softmax" })).toBe("units 10 · softmax");
    expect(summarizeParams(dense, { units: 10, activation: "linear", use_bias: false })).toBe("units 10 · no use bias");
    expect(summarizeParams(CATALOG.get("Input")!.params_schema, { shape: [3, 32, 32] })).toBe("shape 3×32×32");
  });
});
