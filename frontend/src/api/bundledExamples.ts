/** examples/*.json, bundled at build time: the fallback for GET /api/templates (see templates.ts). */

const modules = import.meta.glob<Record<string, unknown>>("../../../examples/*.json", { eager: true, import: "default" });

export const EXAMPLES: Record<string, unknown>[] = Object.keys(modules)
  .sort()
  .map((path) => modules[path]);
