/**
 * The template gallery's data: the model zoo in examples/.
 *
 * Expected route: `GET /api/templates` → `[{name, description, graph}]` (the backend reads
 * examples/*.json). Until the backend serves it, a 404 falls back to the same files bundled at build
 * time, loaded lazily (a separate chunk, not part of the first load).
 */

import { ApiError, request } from "./client";

export interface Template {
  name: string;
  description: string;
  graph: Record<string, unknown>;
}

export async function getTemplates(signal?: AbortSignal): Promise<Template[]> {
  try {
    const data = await request<Template[] | { data: Template[] }>("GET", "/templates", undefined, signal);
    return Array.isArray(data) ? data : data.data;
  } catch (err) {
    if (err instanceof ApiError && (err.status === 404 || err.status === 405)) return bundledTemplates();
    throw err;
  }
}

async function bundledTemplates(): Promise<Template[]> {
  const { EXAMPLES } = await import("./bundledExamples");
  return EXAMPLES.map((graph) => ({
    name: String(graph.name ?? "untitled"),
    description: String(graph.description ?? ""),
    graph,
  }));
}
