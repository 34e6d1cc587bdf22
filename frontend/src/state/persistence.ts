/**
 * The draft: the open document is written to localStorage shortly after every change (and when the
 * page is hidden or unloaded), so that a reload loses nothing. The draft also remembers which server
 * graph it came from.
 */

import { parseGraph, serializeGraph } from "../domain/format";
import type { GraphDoc } from "../domain/types";
import { sameDoc, selectDoc, type DocumentStore, type EditorState, type ServerRef } from "./documentStore";

export const DRAFT_KEY = "layerloom.draft.v1";

export interface Draft {
  doc: GraphDoc;
  server: ServerRef | null;
  /** Whether the draft equals the server's version (no unsaved changes). */
  saved: boolean;
  savedAt: number;
}

type StorageLike = Pick<Storage, "getItem" | "setItem" | "removeItem">;

function storage(): StorageLike | null {
  try {
    return typeof localStorage === "undefined" ? null : localStorage;
  } catch {
    return null;
  }
}

export function readDraft(store: StorageLike | null = storage()): Draft | null {
  const text = store?.getItem(DRAFT_KEY);
  if (!text) return null;
  try {
    const raw = JSON.parse(text) as { doc: unknown; server?: ServerRef | null; saved?: boolean; savedAt?: number };
    const parsed = parseGraph(raw.doc);
    if (!parsed.ok) return null;
    return { doc: parsed.doc, server: raw.server ?? null, saved: !!raw.saved, savedAt: raw.savedAt ?? 0 };
  } catch {
    return null;
  }
}

export function writeDraft(state: EditorState, store: StorageLike | null = storage()): void {
  if (!store) return;
  const saved = state.savedRefs !== null && sameDoc(state.savedRefs, state);
  const draft = { doc: serializeGraph(selectDoc(state)), server: state.server, saved, savedAt: Date.now() };
  try {
    store.setItem(DRAFT_KEY, JSON.stringify(draft));
  } catch {
    // quota exceeded: the draft is a convenience, the server copy is the record
  }
}

/** Keep the draft up to date; returns a stop function. */
export function startAutosave(store: DocumentStore, delayMs = 300): () => void {
  let timer: ReturnType<typeof setTimeout> | null = null;
  const flush = () => {
    if (timer) clearTimeout(timer);
    timer = null;
    writeDraft(store.getState());
  };
  const unsubscribe = store.subscribe((s, prev) => {
    if (s.nodes !== prev.nodes || s.edges !== prev.edges || s.layout !== prev.layout || s.blocks !== prev.blocks || s.meta !== prev.meta || s.server !== prev.server || s.savedRefs !== prev.savedRefs) {
      if (timer) clearTimeout(timer);
      timer = setTimeout(flush, delayMs);
    }
  });
  const onHide = () => {
    if (timer) flush();
  };
  window.addEventListener("pagehide", onHide);
  window.addEventListener("beforeunload", onHide);
  document.addEventListener("visibilitychange", onHide);
  return () => {
    unsubscribe();
    window.removeEventListener("pagehide", onHide);
    window.removeEventListener("beforeunload", onHide);
    document.removeEventListener("visibilitychange", onHide);
    if (timer) flush();
  };
}
