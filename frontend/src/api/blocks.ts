/** The built-in block library (`GET /api/blocks`): definitions to copy into a document's `blocks`. */

import { request } from "./client";

export interface LibraryBlock {
  name: string;
  title: string;
  description: string;
  block: Record<string, unknown>;
  example: { inputs: number[][]; args: Record<string, unknown> };
}

export function getBlockLibrary(signal?: AbortSignal): Promise<LibraryBlock[]> {
  return request<LibraryBlock[]>("GET", "/blocks", undefined, signal);
}
