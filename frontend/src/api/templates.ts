/**
 * The template gallery's data: the model zoo in examples/, served by `GET /api/templates` as
 * `[{id, name, description, graph}]` — the backend is the one source of the examples.
 */

import { request } from "./client";

export interface Template {
  id?: string;
  name: string;
  description: string;
  graph: Record<string, unknown>;
}

export async function getTemplates(signal?: AbortSignal): Promise<Template[]> {
  return request<Template[]>("GET", "/templates", undefined, signal);
}
