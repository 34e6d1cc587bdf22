/**
 * The application: loads the layer catalog, opens the draft (or an empty graph) in a document store,
 * keeps it analysed and autosaved, and lays out header, palette, canvas, inspector and problems.
 */

import { ReactFlowProvider } from "@xyflow/react";
import { useEffect, useMemo, useState } from "react";
import { getLayers, validateGraph } from "./api/client";
import { Canvas } from "./canvas/Canvas";
import { ViewHandle, ViewProvider } from "./canvas/viewApi";
import { emptyGraph, serializeGraph } from "./domain/format";
import { placeUnplaced } from "./domain/layout";
import type { LayerSpec } from "./domain/types";
import { BottomPanel } from "./panels/BottomPanel";
import { Header } from "./panels/Header";
import { Inspector } from "./panels/Inspector";
import { NoticeBar } from "./panels/Notice";
import { ShortcutSheet } from "./panels/ShortcutSheet";
import { TrainingHost } from "./training/TrainingEntry";
import { Palette } from "./panels/Palette";
import { startLiveAnalysis } from "./state/analysis";
import { dispatch, type DocCommandName } from "./state/commands";
import { createDocumentStore, selectDoc, type DocumentStore } from "./state/documentStore";
import { EditorProvider } from "./state/EditorProvider";
import { readDraft, startAutosave } from "./state/persistence";
import { useTheme } from "./theme";
import { AccountContext } from "./account/account";
import { useSignIn } from "./account/SignIn";

export function App() {
  const [catalog, setCatalog] = useState<LayerSpec[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [attempt, setAttempt] = useState(0);
  const [theme, toggleTheme] = useTheme();
  const signIn = useSignIn(); // token mode: the login page until signed in

  useEffect(() => {
    const ctrl = new AbortController();
    setError(null);
    getLayers(ctrl.signal)
      .then(setCatalog)
      .catch((e) => ctrl.signal.aborted || setError((e as Error).message));
    return () => ctrl.abort();
  }, [attempt]);

  if (signIn.view) return signIn.view;
  if (error) {
    return (
      <div className="ll-splash">
        <div className="ll-splash-title">Layerloom cannot reach its server</div>
        <div className="ll-muted">{error}</div>
        <button type="button" className="ll-btn ll-btn-primary" onClick={() => setAttempt(attempt + 1)}>
          Try again
        </button>
      </div>
    );
  }
  if (!catalog) return <div className="ll-splash ll-muted">Loading the layer catalog…</div>;
  return (
    <AccountContext.Provider value={signIn.account}>
      <Editor catalog={catalog} theme={theme} onToggleTheme={toggleTheme} />
    </AccountContext.Provider>
  );
}

function Editor({ catalog, theme, onToggleTheme }: { catalog: LayerSpec[]; theme: "light" | "dark"; onToggleTheme: () => void }) {
  const store: DocumentStore = useMemo(() => {
    const draft = readDraft();
    const doc = draft ? placeUnplaced(draft.doc) : emptyGraph();
    return createDocumentStore(doc, { catalog, server: draft?.server ?? null, saved: draft?.saved ?? false });
  }, [catalog]);
  const view = useMemo(() => new ViewHandle(), []);

  useEffect(() => startLiveAnalysis(store, validateGraph), [store]);
  useEffect(() => startAutosave(store), [store]);
  useEffect(() => {
    // For the end-to-end tests and the benchmark: the open editor's store and document.
    const w = window as unknown as {
      __layerloom?: DocumentStore;
      __layerloomDoc?: () => unknown;
      __layerloomDispatch?: (name: DocCommandName, args?: unknown) => boolean;
    };
    w.__layerloom = store;
    w.__layerloomDoc = () => serializeGraph(selectDoc(store.getState()));
    w.__layerloomDispatch = (name, args) => (dispatch as (s: DocumentStore, n: DocCommandName, a?: unknown) => boolean)(store, name, args);
  }, [store]);

  return (
    <EditorProvider store={store}>
      <ReactFlowProvider>
        <ViewProvider handle={view}>
          <div className="ll-app">
            <Header theme={theme} onToggleTheme={onToggleTheme} />
            <Palette />
            <main className="ll-main">
              <Canvas colorMode={theme} />
              <BottomPanel />
            </main>
            <Inspector />
            <TrainingHost theme={theme} />
            <NoticeBar />
            <ShortcutSheet />
          </div>
        </ViewProvider>
      </ReactFlowProvider>
    </EditorProvider>
  );
}
