/**
 * Using a finished job's model (backend/layerloom/api/routes/predict.py, exports.py):
 *
 *   POST /api/jobs/{id}/predict {inputs: {input id: values}}  → {outputs: {head: values}, classes: {head: {top, probability, probabilities}}}
 *   POST /api/jobs/{id}/predict (multipart file: image | CSV)  → the same (image) | text/csv (CSV)
 *   GET  /api/jobs/{id}/export?format=onnx|pytorch|pt2         → the file | 422 {detail, errors} when not faithful
 */

import { API_BASE, ApiError, CLIENT_HEADER, request } from "./client";

export type ExportFormat = "onnx" | "pytorch" | "pt2";

export interface ClassAnswer {
  top: string;
  probability: number;
  probabilities: Record<string, number>;
}

export interface PredictAnswer {
  outputs: Record<string, unknown>;
  classes: Record<string, ClassAnswer>;
}

export function predict(id: string, inputs: Record<string, unknown>): Promise<PredictAnswer> {
  return request("POST", `/jobs/${encodeURIComponent(id)}/predict`, { inputs });
}

async function failure(res: Response): Promise<ApiError> {
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    /* plain text */
  }
  const b = body as { detail?: string; errors?: Array<{ message: string }> };
  const message = [b?.detail, ...(b?.errors ?? []).map((e) => e.message).filter((m) => m !== b?.detail)].filter(Boolean).join(" ");
  return new ApiError(res.status, message || `The server answered ${res.status}.`, body);
}

/** An image (one answer) or a CSV (a CSV of predictions, as a Blob). */
export async function predictFile(id: string, file: Blob, filename: string): Promise<PredictAnswer | Blob> {
  const form = new FormData();
  form.append("file", file, filename);
  const res = await fetch(`${API_BASE}/jobs/${encodeURIComponent(id)}/predict`, { method: "POST", body: form, headers: { ...CLIENT_HEADER } });
  if (!res.ok) throw await failure(res);
  if ((res.headers.get("content-type") ?? "").startsWith("text/csv")) return res.blob();
  return res.json() as Promise<PredictAnswer>;
}

/** The export as a Blob (the first request builds and checks it: seconds). */
export async function exportModel(id: string, format: ExportFormat): Promise<Blob> {
  const res = await fetch(`${API_BASE}/jobs/${encodeURIComponent(id)}/export?format=${format}`);
  if (!res.ok) throw await failure(res);
  return res.blob();
}

/** Hand a Blob to the browser as a download. */
export function saveBlob(blob: Blob, filename: string): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = filename;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
