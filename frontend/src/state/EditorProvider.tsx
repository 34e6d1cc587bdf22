/**
 * The document store behind a provider: one store per open editor (tests build fresh ones), read
 * through narrow hooks that fail loudly outside the provider.
 */

import { createContext, useContext, type ReactNode } from "react";
import { useStore } from "zustand";
import { useShallow } from "zustand/react/shallow";
import type { TemporalState } from "zundo";
import type { DocumentStore, EditorState, HistorySlice } from "./documentStore";

const StoreContext = createContext<DocumentStore | null>(null);

export class EditorContextError extends Error {
  readonly code = "editor_context";
  constructor() {
    super("[layerloom:editor_context] An editor hook was used outside <EditorProvider>; wrap the component in it.");
  }
}

export function EditorProvider({ store, children }: { store: DocumentStore; children: ReactNode }) {
  return <StoreContext.Provider value={store}>{children}</StoreContext.Provider>;
}

export function useDocumentStore(): DocumentStore {
  const store = useContext(StoreContext);
  if (!store) throw new EditorContextError();
  return store;
}

/** Subscribe to one slice of the editor state (re-render only when it changes by identity). */
export function useEditor<T>(selector: (s: EditorState) => T): T {
  return useStore(useDocumentStore(), selector);
}

/** Like useEditor, for selectors that build arrays or objects (compared shallowly). */
export function useEditorShallow<T>(selector: (s: EditorState) => T): T {
  return useStore(useDocumentStore(), useShallow(selector));
}

export function useHistory<T>(selector: (s: TemporalState<HistorySlice>) => T): T {
  return useStore(useDocumentStore().temporal, selector);
}
