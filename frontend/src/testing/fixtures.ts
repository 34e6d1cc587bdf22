/** Test fixtures: the published catalog snapshot and the model zoo, read from the repository. */

import catalogJson from "../../../tests/fixtures/catalog.json";
import { makeCatalog } from "../domain/catalog";
import { parseGraph } from "../domain/format";
import type { GraphDoc, LayerSpec } from "../domain/types";

export const CATALOG_SPECS = catalogJson as unknown as LayerSpec[];
export const CATALOG = makeCatalog(CATALOG_SPECS);

const modules = import.meta.glob<Record<string, unknown>>("../../../examples/*.json", { eager: true, import: "default" });

/** file name (without .json) → raw JSON */
export const EXAMPLES: Record<string, Record<string, unknown>> = Object.fromEntries(
  Object.entries(modules).map(([path, json]) => [path.replace(/^.*\/(.*)\.json$/, "$1"), json]),
);

export function example(name: string): GraphDoc {
  const parsed = parseGraph(structuredClone(EXAMPLES[name]));
  if (!parsed.ok) throw new Error(parsed.message);
  return parsed.doc;
}
