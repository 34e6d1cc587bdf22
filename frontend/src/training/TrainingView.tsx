/** The training screens over the editor's palette, canvas and inspector: setup, a run, the jobs list. */

import "./training.css";
import "./bench";
import { DatasetsPage } from "./DatasetsPage";
import { JobsPage } from "./JobsPage";
import { RunPage } from "./RunPage";
import { SetupPage } from "./SetupPage";
import { useTrainingUi } from "./ui";

export default function TrainingView({ theme }: { theme: string }) {
  const { view, jobId, open } = useTrainingUi();
  if (!view) return null;
  const tab = (v: "setup" | "run" | "jobs" | "datasets", label: string, disabled = false) => (
    <button type="button" role="tab" aria-selected={view === v} className={`lt-tab ${view === v ? "is-active" : ""}`} disabled={disabled} onClick={() => open(v)} data-testid={`tab-${v}`}>
      {label}
    </button>
  );
  return (
    <div className="lt-overlay" data-testid="training">
      <div className="lt-tabs" role="tablist">
        {tab("setup", "Data & setup")}
        {tab("run", "Run", !jobId)}
        {tab("jobs", "Jobs")}
        {tab("datasets", "Datasets")}
        <span className="ll-spacer" />
        <button type="button" className="ll-btn" onClick={() => open(null)} data-testid="back-to-editor">Back to the editor</button>
      </div>
      <div className="lt-body">
        {view === "setup" && <SetupPage />}
        {view === "run" && jobId && <RunPage jobId={jobId} theme={theme} />}
        {view === "jobs" && <JobsPage theme={theme} />}
        {view === "datasets" && <DatasetsPage />}
      </div>
    </div>
  );
}
