/** Open the exact graph a job trained in the editor (GET /api/jobs/{id}/graph). */

import { getJobGraph, type Job } from "../api/jobs";
import { parseGraph } from "../domain/format";
import { dispatch } from "../state/commands";
import type { DocumentStore } from "../state/documentStore";
import { useTrainingUi } from "./ui";

export async function openJobGraph(store: DocumentStore, jobId: string, job: Job | null): Promise<boolean> {
  try {
    const parsed = parseGraph(await getJobGraph(jobId));
    if (!parsed.ok) {
      dispatch(store, "notify", { kind: "error", text: parsed.message });
      return false;
    }
    const server = job?.graph_id ? { graphId: job.graph_id, name: job.graph_name, version: job.graph_version } : null;
    dispatch(store, "loadDocument", { doc: parsed.doc, server, saved: false });
    dispatch(store, "notify", { kind: "info", text: `Opened the graph of run ${jobId.slice(0, 8)}.` });
    useTrainingUi.getState().open(null);
    return true;
  } catch (err) {
    dispatch(store, "notify", { kind: "error", text: `Could not open the run's graph: ${(err as Error).message}` });
    return false;
  }
}
