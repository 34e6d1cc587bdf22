/** The editor's way in: header buttons (Train, Jobs) and the host that loads the training screens on
 * first use (a separate chunk: uPlot and the training UI are not part of the editor's first load). */

import { lazy, Suspense } from "react";
import { useTrainingUi } from "./ui";

const TrainingView = lazy(() => import("./TrainingView"));

export function TrainingNav() {
  const { view, open } = useTrainingUi();
  return (
    <>
      <button type="button" className={`ll-tool has-text is-primary ${view === "setup" || view === "run" ? "is-active" : ""}`} onClick={() => open(view === "setup" ? null : "setup")} title="Train this graph" data-testid="open-training">
        <svg className="ll-icon" width="16" height="16" viewBox="0 0 16 16" aria-hidden><path d="M4 3l9 5-9 5z" fill="currentColor" /></svg>
        Train
      </button>
      <button type="button" className={`ll-tool has-text is-primary ${view === "jobs" ? "is-active" : ""}`} onClick={() => open(view === "jobs" ? null : "jobs")} title="All training runs" data-testid="open-jobs">
        <svg className="ll-icon" width="16" height="16" viewBox="0 0 16 16" aria-hidden><path d="M2 13h12M4 11V7m4 4V3m4 8V6" stroke="currentColor" strokeWidth="1.6" fill="none" /></svg>
        Jobs
      </button>
    </>
  );
}

export function TrainingHost({ theme }: { theme: string }) {
  const view = useTrainingUi((s) => s.view);
  if (!view) return null;
  return (
    <Suspense fallback={<div className="ll-muted" style={{ gridArea: "palette / palette / inspector / inspector", padding: 24 }}>Loading…</div>}>
      <TrainingView theme={theme} />
    </Suspense>
  );
}
