/** Opening and saving documents: the server's named graphs with versions, JSON files, templates. */

import { getGraph, getVersion, createGraph, importKeras, renameGraph, saveGraphVersion } from "../api/graphs";
import { graphToText, parseGraph, parseGraphText, serializeGraph } from "../domain/format";
import { dispatch } from "../state/commands";
import { sameDoc, selectDoc, type DocumentStore } from "../state/documentStore";

function fail(store: DocumentStore, text: string): false {
  dispatch(store, "notify", { kind: "error", text });
  return false;
}

/** Save: a new version of the graph this document came from, or a new named graph. */
export async function saveDocument(store: DocumentStore, opts: { name?: string; asNew?: boolean } = {}): Promise<boolean> {
  const s = store.getState();
  const name = (opts.name ?? s.meta.name).trim() || "untitled";
  if (name !== s.meta.name) dispatch(store, "setMeta", { name });
  const document = serializeGraph(selectDoc(store.getState()));
  try {
    const server = opts.asNew ? null : s.server;
    const saved = server ? await saveGraphVersion(server.graphId, document) : await createGraph(name, document);
    let graphName = saved.graph.name;
    if (server && name !== saved.graph.name) graphName = (await renameGraph(server.graphId, name)).name;
    dispatch(store, "markSaved", { graphId: saved.graph.id, name: graphName, version: saved.version.number });
    const problems = saved.check.ok ? "" : ` (saved as a draft: ${saved.check.errors.length} error${saved.check.errors.length === 1 ? "" : "s"} to fix before training)`;
    dispatch(store, "notify", { kind: "success", text: `Saved “${graphName}” version ${saved.version.number}${problems}.` });
    return true;
  } catch (err) {
    return fail(store, `Could not save: ${(err as Error).message}`);
  }
}

/** Open a server graph (its latest version, or the one asked for). */
export async function openGraph(store: DocumentStore, graphId: string, version?: number): Promise<boolean> {
  try {
    const detail = await getGraph(graphId);
    const v = version && version !== detail.version.number ? await getVersion(graphId, version) : detail.version;
    const parsed = parseGraph(v.document);
    if (!parsed.ok) return fail(store, parsed.message);
    const latest = v.number === detail.latest_version;
    dispatch(store, "loadDocument", {
      doc: parsed.doc,
      // An older version opens as the graph's next version when saved.
      server: { graphId: detail.id, name: detail.name, version: v.number },
      saved: latest,
    });
    return true;
  } catch (err) {
    return fail(store, `Could not open the graph: ${(err as Error).message}`);
  }
}

/** Open a document from a JSON file. */
export async function importFile(store: DocumentStore, file: File): Promise<boolean> {
  const parsed = parseGraphText(await file.text());
  if (!parsed.ok) return fail(store, `${file.name}: ${parsed.message}`);
  dispatch(store, "loadDocument", { doc: parsed.doc, server: null });
  dispatch(store, "notify", { kind: "info", text: `Imported ${file.name}${parsed.upgradedFrom ? ` (upgraded from format version ${parsed.upgradedFrom})` : ""}.` });
  return true;
}

/** Open a Keras model (.keras or model.to_json()): the server converts it into a graph. */
export async function importKerasFile(store: DocumentStore, file: File): Promise<boolean> {
  try {
    const imported = await importKeras(file);
    const parsed = parseGraph(imported.graph);
    if (!parsed.ok) return fail(store, `${file.name}: ${parsed.message}`);
    dispatch(store, "loadDocument", { doc: parsed.doc, server: null });
    const notes = imported.warnings.length ? ` ${imported.warnings.length} note(s): ${imported.warnings.slice(0, 3).join(" ")}` : "";
    const weights = imported.weights_id ? ` Its weights are stored (id ${imported.weights_id}) for fine-tuning.` : "";
    dispatch(store, "notify", { kind: "info", text: `Imported the Keras model ${file.name}.${weights}${notes}` });
    return true;
  } catch (err) {
    return fail(store, `Could not import ${file.name}: ${(err as Error).message}`);
  }
}

export function fileNameFor(name: string): string {
  return `${(name || "graph").replace(/[^A-Za-z0-9._-]+/g, "_").replace(/^_+|_+$/g, "") || "graph"}.json`;
}

/** Download the document as a JSON file. */
export function exportFile(store: DocumentStore): void {
  const doc = selectDoc(store.getState());
  const blob = new Blob([graphToText(doc)], { type: "application/json" });
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = fileNameFor(doc.name);
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

export function hasUnsavedChanges(store: DocumentStore): boolean {
  const s = store.getState();
  if (s.nodes.length === 0) return false;
  return !(s.savedRefs && sameDoc(s.savedRefs, s));
}
