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
import { request } from "./client";

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
