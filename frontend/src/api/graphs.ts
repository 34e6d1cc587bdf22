/**
 * Named graphs with immutable, numbered versions (backend/layerloom/api/routes/graphs.py):
 *
 *   POST /api/graphs {name?, document}              → {graph, version, check}   (version 1)
 *   GET  /api/graphs?name=&offset=&limit=           → {data: [graph], count}
 *   GET  /api/graphs/{id}                           → graph + {version: latest, with document}
 *   POST /api/graphs/{id}/versions {document}       → {graph, version, check}   (next number)
 *   GET  /api/graphs/{id}/versions                  → {data: [version info], count}
 *   GET  /api/graphs/{id}/versions/{n}              → version with document
 */

import type { Issue } from "../domain/types";
import { API_BASE, ApiError, CLIENT_HEADER, request } from "./client";

export interface GraphInfo {
  id: string;
  name: string;
  latest_version: number;
  created_at: string;
  updated_at: string;
}

export interface VersionInfo {
  number: number;
  sha256: string;
  created_at: string;
}

export interface VersionWithDocument extends VersionInfo {
  document: Record<string, unknown>;
}

export interface GraphDetail extends GraphInfo {
  version: VersionWithDocument;
}

export interface GraphSaved {
  graph: GraphInfo;
  version: VersionWithDocument;
  check: { ok: boolean; errors: Issue[]; warnings: Issue[] };
}

export interface Page<T> {
  data: T[];
  count: number;
}

export function listGraphs(name?: string, signal?: AbortSignal): Promise<Page<GraphInfo>> {
  const q = new URLSearchParams({ limit: "200" });
  if (name) q.set("name", name);
  return request("GET", `/graphs?${q}`, undefined, signal);
}

export function getGraph(id: string, signal?: AbortSignal): Promise<GraphDetail> {
  return request("GET", `/graphs/${encodeURIComponent(id)}`, undefined, signal);
}

export function createGraph(name: string, document: Record<string, unknown>): Promise<GraphSaved> {
  return request("POST", "/graphs", { name, document });
}

export function saveGraphVersion(id: string, document: Record<string, unknown>): Promise<GraphSaved> {
  return request("POST", `/graphs/${encodeURIComponent(id)}/versions`, { document });
}

export function renameGraph(id: string, name: string): Promise<GraphInfo> {
  return request("PATCH", `/graphs/${encodeURIComponent(id)}`, { name });
}

export function listVersions(id: string, signal?: AbortSignal): Promise<Page<VersionInfo>> {
  return request("GET", `/graphs/${encodeURIComponent(id)}/versions?limit=200`, undefined, signal);
}

export function getVersion(id: string, number: number, signal?: AbortSignal): Promise<VersionWithDocument> {
  return request("GET", `/graphs/${encodeURIComponent(id)}/versions/${number}`, undefined, signal);
}

/** POST /api/graphs/import (multipart): a Keras .keras archive or model.to_json() → a graph. */
export interface KerasImported {
  graph: Record<string, unknown>;
  weights_id: string | null;
  warnings: string[];
}

export async function importKeras(file: File): Promise<KerasImported> {
  const body = new FormData();
  body.append("file", file, file.name);
  let res: Response;
  try {
    res = await fetch(`${API_BASE}/graphs/import`, { method: "POST", body, headers: { Accept: "application/json", ...CLIENT_HEADER } });
  } catch {
    throw new ApiError(0, "The server cannot be reached.");
  }
  const data = await res.json().catch(() => undefined);
  if (!res.ok) {
    // Refusals list every layer: show them, not only the summary.
    const errors = (data as { errors?: { message?: string }[] } | undefined)?.errors ?? [];
    const detail = errors.map((e) => e.message).filter(Boolean).slice(0, 5).join(" ");
    throw new ApiError(res.status, detail || `The server answered ${res.status}.`, data);
  }
  return data as KerasImported;
}
