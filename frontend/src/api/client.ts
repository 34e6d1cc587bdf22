/**
 * The backend's REST API, one function per route. Everything the editor asks the server goes
 * through here, so a changed route is changed in one place.
 */

import type { AnalysisResult, LayerSpec } from "../domain/types";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly body?: unknown,
  ) {
    super(message);
  }
}

export const API_BASE = "/api";

/**
 * Sent with every request: a web form on another site cannot add a custom header, so the server
 * refuses form-like requests without it (backend/layerloom/api/security.py).
 */
export const CLIENT_HEADER = { "X-Layerloom-Client": "editor" } as const;

/** Fired on every 401: the sign-in gate (account/SignIn.tsx) then asks who we are and shows the login. */
export const UNAUTHORIZED_EVENT = "layerloom:unauthorized";

/** FastAPI errors: {"detail": "text"} or {"detail": [{"msg": …, "loc": […]}]}, or our {"code","message"}. */
function errorMessage(status: number, body: unknown): string {
  if (body && typeof body === "object") {
    const b = body as Record<string, unknown>;
    if (typeof b.message === "string") return b.message;
    const d = b.detail;
    if (typeof d === "string") return d;
    if (d && typeof d === "object" && !Array.isArray(d) && typeof (d as Record<string, unknown>).message === "string") {
      return (d as Record<string, string>).message;
    }
    if (Array.isArray(d) && d.length) {
      return d.map((x) => (x && typeof x === "object" && "msg" in x ? String((x as { msg: unknown }).msg) : String(x))).join("; ");
    }
  }
  return `The server answered ${status}.`;
}

export async function request<T>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
  const init: RequestInit = { method, signal, headers: { Accept: "application/json", ...CLIENT_HEADER } };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    (init.headers as Record<string, string>)["Content-Type"] = "application/json";
  }
  let res: Response;
  try {
    res = await fetch(`${API_BASE}${path}`, init);
  } catch (err) {
    if ((err as Error).name === "AbortError") throw err;
    throw new ApiError(0, "The server cannot be reached.");
  }
  const text = await res.text();
  let data: unknown = undefined;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = text;
    }
  }
  if (res.status === 401 && path !== "/me" && typeof window !== "undefined") window.dispatchEvent(new Event(UNAUTHORIZED_EVENT));
  if (!res.ok) throw new ApiError(res.status, errorMessage(res.status, data), data);
  return data as T;
}

/** GET /api/layers: the layer catalog the palette and inspector are generated from. */
export function getLayers(signal?: AbortSignal): Promise<LayerSpec[]> {
  return request<LayerSpec[] | { layers: LayerSpec[] }>("GET", "/layers", undefined, signal).then((d) =>
    Array.isArray(d) ? d : d.layers,
  );
}

/**
 * POST /api/graphs/validate: the compiler's analysis. A document the compiler refuses outright
 * (wrong format, newer version) may come back as an HTTP error with a code; it is turned into an
 * analysis with that one error so the editor shows it like any other.
 */
export async function validateGraph(doc: Record<string, unknown>, signal?: AbortSignal): Promise<AnalysisResult> {
  try {
    return await request<AnalysisResult>("POST", "/graphs/validate", doc, signal);
  } catch (err) {
    if (err instanceof ApiError && (err.status === 400 || err.status === 422) && err.body && typeof err.body === "object") {
      const b = err.body as Record<string, unknown>;
      if ("errors" in b && "nodes" in b) return b as unknown as AnalysisResult;
      const detail = (b.detail ?? b) as Record<string, unknown>;
      const code = typeof detail.code === "string" ? detail.code : "schema";
      return {
        ok: false,
        name: String(doc.name ?? ""),
        errors: [{ code, message: err.message, severity: "error" }],
        warnings: [],
        nodes: {},
        order: [],
        totals: { total: 0, trainable: 0, non_trainable: 0 },
      };
    }
    throw err;
  }
}

export function getHealth(signal?: AbortSignal): Promise<unknown> {
  return request("GET", "/health", undefined, signal);
}
