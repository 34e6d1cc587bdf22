/** How numbers and shapes are written in the editor. */

/** 7114 → "7,114" (the Keras summary's style). */
export function formatCount(n: number): string {
  // (toLocaleString is slow enough to show up when 500 nodes render)
  const s = String(Math.round(Math.abs(n))).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return n < 0 ? `-${s}` : s;
}

/** 1234567 → "1.2M", for tight spaces. */
export function formatCompact(n: number): string {
  if (n < 10_000) return formatCount(n);
  if (n < 1_000_000) return `${(n / 1000).toFixed(n < 100_000 ? 1 : 0)}k`;
  if (n < 1_000_000_000) return `${(n / 1_000_000).toFixed(n < 100_000_000 ? 1 : 0)}M`;
  return `${(n / 1_000_000_000).toFixed(1)}B`;
}

/** A per-sample shape: [64] → "64", [3, 32, 32] → "3×32×32". */
export function formatShape(shape: readonly number[] | null | undefined): string {
  if (!shape) return "?";
  if (shape.length === 0) return "scalar";
  return shape.join("×");
}

/** Keras's notation with the batch axis: [64] → "(None, 64)". */
export function formatBatchShape(shape: readonly number[] | null | undefined): string {
  if (!shape) return "?";
  return `(None, ${shape.join(", ")})`;
}

/**
 * A one-line digest of a node's params for its card: required params first, then every param set
 * to something other than its default (`units 64 · softmax`, `shape 3×32×32`).
 */
export function summarizeParams(
  schema: { properties?: Record<string, { default?: unknown; enum?: unknown[]; type?: string }>; required?: string[] },
  params: Record<string, unknown>,
): string {
  const props = schema.properties ?? {};
  const required = schema.required ?? [];
  const names = [...required, ...Object.keys(props).filter((k) => !required.includes(k))];
  const parts: string[] = [];
  for (const name of names) {
    if (!(name in params)) continue;
    const value = params[name];
    const prop = props[name] ?? {};
    if (!required.includes(name) && "default" in prop && JSON.stringify(prop.default) === JSON.stringify(value)) continue;
    const label = name.replace(/_/g, " ");
    if (typeof value === "boolean") parts.push(value ? label : `no ${label}`);
    else if (typeof value === "string") parts.push(value);
    else if (Array.isArray(value)) {
      parts.push(value.every((v) => typeof v === "string") ? value.join(", ") : `${label} ${value.map((v) => (Array.isArray(v) ? v.join("×") : v)).join("×")}`);
    } else if (value === null) continue;
    else if (typeof value === "object") {
      // a wrapper's inner layer: "LSTM units 32"
      const inner = value as { type?: unknown; params?: Record<string, unknown> };
      const innerParams = Object.entries(inner.params ?? {}).map(([k, v]) => `${k.replace(/_/g, " ")} ${typeof v === "object" ? JSON.stringify(v) : v}`);
      parts.push([inner.type, ...innerParams].filter(Boolean).join(" "));
    } else parts.push(`${label} ${value}`);
  }
  return parts.join(" · ");
}
