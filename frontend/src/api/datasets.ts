/**
 * Datasets (backend/layerloom/api/routes/datasets.py): the built-ins (id = name) and uploads.
 *
 *   GET  /api/datasets                     → {data: [dataset], count}
 *   GET  /api/datasets/{id}                → dataset with its description (arrays, split sizes)
 *   GET  /api/datasets/{id}/samples?split=&n=
 *   POST /api/datasets (multipart: file, name, kind, options JSON) → 201 dataset | 4xx {detail, errors}
 *   PATCH /api/datasets/{id} {name?, target_kinds?: {array: kind}} → dataset (a CSV re-parsed for target_kinds)
 *   DELETE /api/datasets/{id} → 204 (jobs that used it stay readable)
 */

import { API_BASE, CLIENT_HEADER, request } from "./client";
import type { Problem, SampleView } from "./jobs";

export interface ArrayInfo {
  name: string;
  kind: string;
  shape: number[];
  dtype: string;
  num_classes: number | null;
  class_names: string[] | null;
  note?: string | null;
  /** A CSV target: how its kind was decided, and the kind it can be switched to. */
  target?: TargetDecision | null;
}

export type TargetKind = "auto" | "categorical" | "numeric";

export interface TargetDecision {
  column: string;
  kind: "categorical" | "numeric";
  requested: TargetKind;
  reason: string;
  switch_to: "categorical" | "numeric" | null;
  /** What kind "auto" chooses for this column. */
  auto_kind?: "categorical" | "numeric" | null;
}

export interface DatasetDescription {
  name: string;
  arrays: ArrayInfo[];
  sizes: Record<string, number>;
}

export interface DatasetInfo {
  id: string;
  name: string;
  kind: string;
  summary?: string | null;
  task?: string | null;
  description: DatasetDescription;
  size_bytes?: number | null;
  created_at?: string | null;
  options?: Record<string, unknown>;
}

export interface Samples {
  split: string;
  size: number;
  /** True when the samples were picked class by class (the dataset has class labels). */
  stratified?: boolean;
  /** Each sample's row in the split. */
  indices?: number[];
  samples: Array<Record<string, SampleView>>;
}

export function listDatasets(signal?: AbortSignal): Promise<{ data: DatasetInfo[]; count: number }> {
  return request("GET", "/datasets?limit=200", undefined, signal);
}

export const getDataset = (id: string, signal?: AbortSignal): Promise<DatasetInfo> =>
  request("GET", `/datasets/${encodeURIComponent(id)}`, undefined, signal);

export function getSamples(id: string, split = "train", n = 8, signal?: AbortSignal): Promise<Samples> {
  return request("GET", `/datasets/${encodeURIComponent(id)}/samples?split=${split}&n=${n}`, undefined, signal);
}

export function updateDataset(id: string, patch: { name?: string; target_kinds?: Record<string, TargetKind> }): Promise<DatasetInfo> {
  return request("PATCH", `/datasets/${encodeURIComponent(id)}`, patch);
}

export function deleteDataset(id: string): Promise<void> {
  return request("DELETE", `/datasets/${encodeURIComponent(id)}`);
}

export interface UploadForm {
  file: File;
  name?: string;
  kind?: "csv" | "npz" | "images";
  options?: Record<string, unknown>;
}

export class UploadError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly problems: Problem[],
  ) {
    super(message);
  }
}

/** Upload with progress (XMLHttpRequest: fetch reports no upload progress). */
export function uploadDataset(form: UploadForm, onProgress?: (fraction: number) => void): { promise: Promise<DatasetInfo>; abort: () => void } {
  const xhr = new XMLHttpRequest();
  const promise = new Promise<DatasetInfo>((resolve, reject) => {
    const body = new FormData();
    body.append("file", form.file, form.file.name);
    if (form.name) body.append("name", form.name);
    if (form.kind) body.append("kind", form.kind);
    if (form.options) body.append("options", JSON.stringify(form.options));
    xhr.open("POST", `${API_BASE}/datasets`);
    xhr.setRequestHeader("Accept", "application/json");
    for (const [name, value] of Object.entries(CLIENT_HEADER)) xhr.setRequestHeader(name, value);
    xhr.upload.onprogress = (e) => e.lengthComputable && onProgress?.(e.loaded / e.total);
    xhr.onerror = () => reject(new UploadError("The server cannot be reached.", 0, []));
    xhr.onabort = () => reject(new UploadError("Upload cancelled.", 0, []));
    xhr.onload = () => {
      let data: unknown = null;
      try {
        data = JSON.parse(xhr.responseText);
      } catch {
        /* not JSON */
      }
      if (xhr.status >= 200 && xhr.status < 300) {
        onProgress?.(1);
        resolve(data as DatasetInfo);
        return;
      }
      const b = (data ?? {}) as { detail?: unknown; errors?: Problem[] };
      const detail = typeof b.detail === "string" ? b.detail : `The server answered ${xhr.status}.`;
      reject(new UploadError(detail, xhr.status, Array.isArray(b.errors) ? b.errors : []));
    };
    xhr.send(body);
  });
  return { promise, abort: () => xhr.abort() };
}
