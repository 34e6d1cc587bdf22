/**
 * Inspector forms generated from a layer's params JSON Schema (the subset pydantic emits: integer,
 * number, string enums, booleans, arrays of numbers or of enums, and anyOf such as "an int or a pair"
 * for kernel_size). Values are checked here so the form can show messages inline, before the
 * compiler sees them.
 */

import type { JsonSchema } from "./types";

export type FieldKind =
  | "integer"
  | "number"
  | "enum"
  | "boolean"
  | "string"
  /** shape-like lists and tuples (`3, 32, 32`, `3` or `3, 3`), typed as text */
  | "numbers"
  /** a list of enum values (Output metrics) */
  | "enumList"
  /** a nested object (TimeDistributed / Bidirectional's inner layer), typed as JSON */
  | "json";

export interface FieldSpec {
  name: string;
  title: string;
  description?: string;
  kind: FieldKind;
  schema: JsonSchema;
  required: boolean;
  hasDefault: boolean;
  default?: unknown;
  options?: unknown[];
}

function branches(schema: JsonSchema): JsonSchema[] {
  return schema.anyOf ?? [schema];
}

function kindOf(schema: JsonSchema): FieldKind {
  const bs = branches(schema).filter((b) => b.type !== "null");
  if (bs.length === 1) {
    const b = bs[0];
    if (b.$ref || b.type === "object") return "json";
    if (b.enum) return "enum";
    if (b.type === "integer") return "integer";
    if (b.type === "number") return "number";
    if (b.type === "boolean") return "boolean";
    if (b.type === "array" && b.items?.enum) return "enumList";
    if (b.type === "array") return "numbers";
    return "string";
  }
  return "numbers";
}

/** The form's fields: required ones first, then the rest in schema order. */
export function describeFields(schema: JsonSchema): FieldSpec[] {
  const props = schema.properties ?? {};
  const required = new Set(schema.required ?? []);
  const fields = Object.entries(props).map(([name, s]): FieldSpec => {
    const field: FieldSpec = {
      name,
      title: s.title ?? name,
      description: s.description,
      kind: kindOf(s),
      schema: s,
      required: required.has(name),
      hasDefault: "default" in s,
      default: s.default,
    };
    const enumBranch = branches(s).find((b) => b.enum);
    if (enumBranch) field.options = enumBranch.enum;
    if (field.kind === "enumList") field.options = branches(s).find((b) => b.type === "array")?.items?.enum;
    return field;
  });
  return [...fields.filter((f) => f.required), ...fields.filter((f) => !f.required)];
}

const fmt = (n: number) => (Math.abs(n) >= 1e6 ? n.toExponential(0).replace("+", "") : String(n));

/** Why `value` does not fit `schema`, or null. Messages are short and say what is expected. */
export function validateValue(schema: JsonSchema, value: unknown): string | null {
  if (schema.anyOf) {
    for (const b of schema.anyOf) {
      const p = validateValue(b, value);
      if (p === null) return null;
      // the branch of the value's own kind explains best
      if (sameKind(b, value)) return p;
    }
    return describeAnyOf(schema.anyOf);
  }
  if (schema.enum) {
    return schema.enum.some((e) => e === value) ? null : `Choose one of ${schema.enum.join(", ")}.`;
  }
  switch (schema.type) {
    case "null":
      return value === null ? null : "Must be empty.";
    case "boolean":
      return typeof value === "boolean" ? null : "Must be true or false.";
    case "string":
      return typeof value === "string" ? null : "Must be text.";
    case "integer":
    case "number": {
      if (typeof value !== "number" || !Number.isFinite(value)) return "Must be a number.";
      if (schema.type === "integer" && !Number.isInteger(value)) return "Must be a whole number.";
      if (schema.minimum !== undefined && value < schema.minimum) return `Must be ≥ ${fmt(schema.minimum)}.`;
      if (schema.maximum !== undefined && value > schema.maximum) return `Must be ≤ ${fmt(schema.maximum)}.`;
      if (schema.exclusiveMinimum !== undefined && value <= schema.exclusiveMinimum) return `Must be > ${fmt(schema.exclusiveMinimum)}.`;
      if (schema.exclusiveMaximum !== undefined && value >= schema.exclusiveMaximum) return `Must be < ${fmt(schema.exclusiveMaximum)}.`;
      return null;
    }
    case "array": {
      if (!Array.isArray(value)) return "Must be a list.";
      const { minItems: lo, maxItems: hi } = schema;
      if (lo !== undefined && hi !== undefined && (value.length < lo || value.length > hi)) {
        return lo === hi ? `Give exactly ${lo} value${lo === 1 ? "" : "s"}.` : `Give ${lo} to ${hi} values.`;
      }
      if (lo !== undefined && value.length < lo) return `Give at least ${lo} value${lo === 1 ? "" : "s"}.`;
      if (hi !== undefined && value.length > hi) return `Give at most ${hi} values.`;
      if (schema.items) {
        for (const [i, item] of value.entries()) {
          const p = validateValue(schema.items, item);
          if (p) return value.length > 1 ? `Item ${i + 1}: ${p}` : p;
        }
      }
      return null;
    }
    default:
      return null;
  }
}

function sameKind(schema: JsonSchema, value: unknown): boolean {
  if (schema.type === "array") return Array.isArray(value);
  if (schema.type === "integer" || schema.type === "number") return typeof value === "number";
  if (schema.type === "null") return value === null;
  return false;
}

function describeAnyOf(bs: JsonSchema[]): string {
  const parts = bs.map((b) => {
    if (b.type === "integer") return b.minimum !== undefined ? `a whole number ≥ ${fmt(b.minimum)}` : "a whole number";
    if (b.type === "number") return "a number";
    if (b.type === "null") return "empty";
    if (b.type === "array") {
      const n = b.minItems === b.maxItems ? `${b.minItems}` : `${b.minItems ?? 0}–${b.maxItems ?? "n"}`;
      return b.items?.type === "array" ? `${n} pairs` : `${n} numbers`;
    }
    return b.type ?? "a value";
  });
  return `Must be ${parts.join(" or ")}.`;
}

export type ParsedText = { ok: true; value: unknown } | { ok: false; message: string };

/**
 * Read what the user typed into a text field. Empty means "unset" (the default applies). Numbers
 * separated by commas, spaces or × give a list (`3, 32, 32`, `3x3`); `[[1, 1], [2, 2]]` is read as
 * JSON; a single number stays a number unless the schema only takes lists.
 */
export function parseFieldText(field: Pick<FieldSpec, "kind" | "schema">, text: string): ParsedText {
  const t = text.trim();
  if (t === "") return { ok: true, value: undefined };
  if (field.kind === "string") return { ok: true, value: t };
  if (field.kind === "json") {
    try {
      const value: unknown = JSON.parse(t);
      if (value && typeof value === "object" && !Array.isArray(value)) return { ok: true, value };
    } catch {
      // fall through to the message
    }
    return { ok: false, message: 'Write a JSON object, e.g. {"type": "Dense", "params": {"units": 8}}.' };
  }
  let value: unknown;
  if (t.startsWith("[")) {
    try {
      value = JSON.parse(t);
    } catch {
      return { ok: false, message: "Not a valid list; write e.g. [[1, 1], [2, 2]]." };
    }
  } else {
    const parts = t.split(/\s*[,;×x*]\s*|\s+/i).filter(Boolean);
    const nums = parts.map(Number);
    if (nums.some((n) => !Number.isFinite(n))) return { ok: false, message: "Use numbers, separated by commas." };
    value = nums.length === 1 ? nums[0] : nums;
  }
  const bs = branches(field.schema);
  if (typeof value === "number" && !bs.some((b) => b.type === "integer" || b.type === "number") && bs.some((b) => b.type === "array")) {
    value = [value];
  }
  return { ok: true, value };
}

/** How a value appears in a text field. */
export function formatFieldText(value: unknown): string {
  if (value === undefined || value === null) return "";
  // Nested lists and lists with empty entries (Dropout's noise_shape [null, 1, null]) are shown as JSON.
  if (Array.isArray(value)) return value.some((v) => Array.isArray(v) || v === null) ? JSON.stringify(value) : value.join(", ");
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

/** A short label for a default value (placeholder text). */
export function defaultLabel(field: FieldSpec): string {
  if (!field.hasDefault) return field.required ? "required" : "";
  if (field.default === null) return "auto";
  return formatFieldText(field.default);
}

/** Check a whole params object against the schema: field → message. */
export function validateParams(schema: JsonSchema, params: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of describeFields(schema)) {
    const v = params[f.name];
    if (v === undefined) {
      if (f.required) out[f.name] = "Required.";
      continue;
    }
    const p = validateValue(f.schema, v);
    if (p) out[f.name] = p;
  }
  for (const k of Object.keys(params)) if (!schema.properties?.[k] && schema.additionalProperties === false) out[k] = "Not a parameter of this layer.";
  return out;
}
