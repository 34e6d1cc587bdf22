/**
 * The signed-in user (token auth mode): login and logout, who am I with my quotas, my API tokens,
 * and the admin's user list. Routes: backend/layerloom/api/routes/account.py and admin.py.
 */

import { request } from "./client";

export interface Quota {
  name: string;
  description: string;
  unit: "jobs" | "bytes" | "datasets" | "seconds" | string;
  /** 0 means no limit. */
  limit: number;
  /** null for max_job_seconds, which limits each run. */
  used: number | null;
}

export interface Me {
  id: string;
  name: string;
  is_admin: boolean;
  auth_mode: "local" | "token";
  quotas: Quota[];
  running_policy: "queue" | "refuse";
}

export interface TokenInfo {
  id: string;
  name: string | null;
  created_at: string;
  last_used_at: string | null;
}

export interface AdminUser {
  id: string;
  name: string;
  is_admin: boolean;
  disabled: boolean;
  can_log_in: boolean;
  created_at: string;
  quota_overrides: Record<string, number>;
  quotas: Quota[];
}

export const getMe = (signal?: AbortSignal): Promise<Me> => request("GET", "/me", undefined, signal);
export const logIn = (username: string, password: string): Promise<void> => request("POST", "/session", { username, password });
export const logOut = (): Promise<void> => request("DELETE", "/session");
export const listTokens = (): Promise<TokenInfo[]> => request("GET", "/tokens");
export const createToken = (name: string): Promise<TokenInfo & { token: string }> => request("POST", "/tokens", { name });
export const revokeToken = (id: string): Promise<void> => request("DELETE", `/tokens/${encodeURIComponent(id)}`);
export const listUsers = (): Promise<AdminUser[]> => request("GET", "/admin/users");
export const setUserDisabled = (id: string, disabled: boolean): Promise<AdminUser> =>
  request("PATCH", `/admin/users/${encodeURIComponent(id)}`, { disabled });
/** Set (a number; 0 = no limit) or clear (null: the server's setting applies again) quota overrides. */
export const setUserQuotas = (id: string, quotas: Record<string, number | null>): Promise<AdminUser> =>
  request("PATCH", `/admin/users/${encodeURIComponent(id)}`, { quotas });

const MB = 1024 * 1024;

/** The unit an admin types a quota in: bytes are typed in MB (the unit quotaText shows them in). */
export const inputUnit = (q: Quota): string => (q.unit === "bytes" ? "MB" : q.unit);

/** What the quota editor's field shows for a user's override: "" when there is none. */
export function overrideText(q: Quota, overrides: Record<string, number>): string {
  const value = overrides[q.name];
  if (value === undefined) return "";
  return q.unit === "bytes" ? `${Number((value / MB).toFixed(3))}` : `${value}`;
}

/** A typed override: null for an empty field (no override), else a whole count or an error to show. */
export function parseOverride(q: Quota, text: string): { value: number | null } | { error: string } {
  const trimmed = text.trim();
  if (trimmed === "") return { value: null };
  const n = Number(trimmed);
  if (!Number.isFinite(n) || n < 0) return { error: `${q.description}: give 0 (no limit) or a positive number of ${inputUnit(q)}.` };
  if (q.unit !== "bytes" && !Number.isInteger(n)) return { error: `${q.description}: give a whole number of ${q.unit}.` };
  const value = q.unit === "bytes" ? Math.round(n * MB) : n;
  if (value > 2 ** 62) return { error: `${q.description}: at most ${q.unit === "bytes" ? humanBytes(2 ** 62) : 2 ** 62}.` };
  return { value };
}

/** "3 of 10 jobs", "1.2 MB of 5.0 GB", "no limit". */
export function quotaText(q: Quota): string {
  const show = (n: number) => (q.unit === "bytes" ? humanBytes(n) : `${n}`);
  const unit = q.unit === "bytes" ? "" : ` ${q.unit}`;
  if (!q.limit) return q.used === null ? "no limit" : `${show(q.used)}${unit} · no limit`;
  return q.used === null ? `${show(q.limit)}${unit} per run` : `${show(q.used)} of ${show(q.limit)}${unit}`;
}

export function humanBytes(n: number): string {
  const units = ["B", "KB", "MB", "GB", "TB"];
  let value = n;
  let i = 0;
  while (value >= 1024 && i < units.length - 1) {
    value /= 1024;
    i += 1;
  }
  return i === 0 ? `${n} B` : `${value.toFixed(1)} ${units[i]}`;
}
