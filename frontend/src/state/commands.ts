/**
 * Every edit of the editor, listed once. A command is data: a name, a label, its shortcut keys, its
 * history policy and a pure `perform` over the store's state built from `domain/` functions
 * (`false` when it does not apply). The toolbar, the shortcuts and the tests all go through
 * `dispatch`, which applies the result according to the policy:
 *
 * - `record`    undoable; one history entry (when the document actually changed);
 * - `never`     changes what is not the user's edit (loading a graph, save status); not recorded,
 *               and `clearsHistory` starts a fresh history;
 * - `amend`     the rest of a gesture whose first step was recorded (live typing in one field):
 *               changes the document without a new entry, so one undo goes back to before the gesture;
 * - `ephemeral` part of a gesture or view state (a drag in progress, selection, measured sizes):
 *               may not touch the document; a drag becomes one durable `endDrag` on drop.
 */

import { canAddPort, inputPortCount, specOf } from "../domain/catalog";
import {
  addNode,
  addNodeAfter,
  connect,
  insertOnEdge,
  copyFragment,
  duplicate,
  edgeKeys,
  moveNodes,
  nodeIndex,
  pasteFragment,
  removeElements,
  renameNode,
  setParam,
  setShare,
  type Connection,
} from "../domain/graph";
import { addBlockCall, collapseExpanded, expandBlock, groupIntoBlock, type AddCallArgs } from "../domain/blocks";
import { autoLayout, placeUnplaced, type LayoutDirection } from "../domain/layout";
import { closeTo, openBlock, writeBack } from "../domain/scope";
import type { GraphDoc, XY } from "../domain/types";
import {
  emptyAnalysis,
  levelDoc,
  splitDoc,
  tracked,
  type DocumentStore,
  type EditorState,
  type GestureState,
  type Notice,
  type Selection,
  type ServerRef,
} from "./documentStore";

export type HistoryPolicy = "record" | "amend" | "never" | "ephemeral";

/** What a command sees: the document store's state and the gesture in progress. */
export type CommandState = EditorState & GestureState;
type Patch = Partial<CommandState>;

export interface DocCommand<A> {
  kind: "doc";
  label: string;
  keys?: readonly string[];
  history: HistoryPolicy;
  clearsHistory?: boolean;
  /** Whether the command applies now (toolbar buttons are disabled otherwise). */
  enabled?: (s: CommandState) => boolean;
  perform: (s: CommandState, args: A) => Patch | false;
}

/** What app commands may touch besides the store: the view (fit, focus) lives in the canvas. */
export interface AppEnv {
  store: DocumentStore;
  fitView: () => void;
}

export interface AppCommand {
  kind: "app";
  label: string;
  keys?: readonly string[];
  enabled?: (s: EditorState, store: DocumentStore) => boolean;
  run: (env: AppEnv) => void;
}

/** The document parts of a new document, for a patch. */
function docPatch(doc: GraphDoc): Patch {
  return { nodes: doc.nodes, edges: doc.edges, layout: doc.layout, blocks: doc.blocks };
}

let noticeId = 0;
export function notice(kind: Notice["kind"], text: string): Patch {
  return { notice: { id: ++noticeId, kind, text } };
}

const hasSelection = (s: CommandState) => s.selection.nodes.length + s.selection.edges.length > 0;
const hasNodeSelection = (s: CommandState) => s.selection.nodes.length > 0;

const EMPTY_SELECTION: Selection = { nodes: [], edges: [] };

function renameKey<T>(map: Record<string, T>, from: string, to: string): Record<string, T> {
  if (!(from in map)) return map;
  const next = { ...map, [to]: map[from] };
  delete next[from];
  return next;
}

function withoutKeys<T>(map: Record<string, T>, keys: readonly string[]): Record<string, T> {
  if (!keys.some((k) => k in map)) return map;
  const next = { ...map };
  for (const k of keys) delete next[k];
  return next;
}

const PASTE_STEP = 40;

export const docCommands = {
  addNode: {
    kind: "doc",
    label: "Add layer",
    history: "record",
    perform: (s, args: { type: string; position: XY; params?: Record<string, unknown> }) => {
      const { doc, id } = addNode(levelDoc(s), args);
      return { ...docPatch(doc), selection: { nodes: [id], edges: [] } };
    },
  } as DocCommand<{ type: string; position: XY; params?: Record<string, unknown> }>,

  /** A layer dropped onto a wire is spliced into it (one undo entry). */
  insertOnEdge: {
    kind: "doc",
    label: "Insert layer into wire",
    history: "record",
    perform: (s, args: { edge: string; type: string; position: XY }) => {
      const r = insertOnEdge(levelDoc(s), s.catalog, args.edge, { type: args.type, position: args.position });
      if (!r.ok) return notice("error", r.message);
      return { ...docPatch(r.doc), selection: { nodes: [r.id], edges: [] } };
    },
  } as DocCommand<{ edge: string; type: string; position: XY }>,

  /** A layer added after a node's output (palette with a selection, or a wire dropped on empty canvas). */
  addNodeAfter: {
    kind: "doc",
    label: "Add layer after",
    history: "record",
    perform: (s, args: { after: string; port: number; type: string; position: XY }) => {
      const r = addNodeAfter(levelDoc(s), s.catalog, args.after, args.port, { type: args.type, position: args.position });
      if (!r.ok) return notice("error", r.message);
      return { ...docPatch(r.doc), selection: { nodes: [r.id], edges: [] } };
    },
  } as DocCommand<{ after: string; port: number; type: string; position: XY }>,

  deleteSelection: {
    kind: "doc",
    label: "Delete",
    keys: ["Delete", "Backspace"],
    history: "record",
    enabled: hasSelection,
    perform: (s) => {
      if (!hasSelection(s)) return false;
      const doc = removeElements(levelDoc(s), s.selection.nodes, s.selection.edges);
      return {
        ...docPatch(doc),
        selection: EMPTY_SELECTION,
        portRequests: withoutKeys(s.portRequests, s.selection.nodes),
      };
    },
  } as DocCommand<void>,

  removeEdges: {
    kind: "doc",
    label: "Remove wires",
    history: "record",
    perform: (s, keys: string[]) => {
      const doc = removeElements(levelDoc(s), [], keys);
      return { ...docPatch(doc), selection: { ...s.selection, edges: s.selection.edges.filter((k) => !keys.includes(k)) } };
    },
  } as DocCommand<string[]>,

  connect: {
    kind: "doc",
    label: "Connect",
    history: "record",
    perform: (s, c: Connection) => {
      const result = connect(levelDoc(s), s.catalog, c);
      if ("ok" in result) return result.ok ? false : notice("error", result.message);
      return docPatch(result);
    },
  } as DocCommand<Connection>,

  /** Ephemeral positions while dragging: no history, no document change. */
  dragNodes: {
    kind: "doc",
    label: "Drag",
    history: "ephemeral",
    perform: (s, positions: Record<string, XY>) => ({ drag: { ...(s.drag ?? {}), ...positions } }),
  } as DocCommand<Record<string, XY>>,

  /** The drop: one durable move from the pre-drag positions. */
  endDrag: {
    kind: "doc",
    label: "Move",
    history: "record",
    perform: (s, positions?: Record<string, XY>) => {
      const all = { ...(s.drag ?? {}), ...(positions ?? {}) };
      if (!Object.keys(all).length) return s.drag ? { drag: null } : false;
      return { ...docPatch(moveNodes(levelDoc(s), all)), drag: null };
    },
  } as DocCommand<Record<string, XY> | undefined>,

  moveNodes: {
    kind: "doc",
    label: "Move",
    history: "record",
    perform: (s, positions: Record<string, XY>) => docPatch(moveNodes(levelDoc(s), positions)),
  } as DocCommand<Record<string, XY>>,

  setParam: {
    kind: "doc",
    label: "Set parameter",
    history: "record",
    perform: (s, a: { id: string; name: string; value: unknown }) => docPatch(setParam(levelDoc(s), a.id, a.name, a.value)),
  } as DocCommand<{ id: string; name: string; value: unknown }>,

  /** A later keystroke's value while typing in the field that `setParam` started: same undo entry. */
  amendParam: {
    kind: "doc",
    label: "Set parameter",
    history: "amend",
    perform: (s, a: { id: string; name: string; value: unknown }) => docPatch(setParam(levelDoc(s), a.id, a.name, a.value)),
  } as DocCommand<{ id: string; name: string; value: unknown }>,

  setShare: {
    kind: "doc",
    label: "Share weights",
    history: "record",
    perform: (s, a: { id: string; owner: string | null }) => docPatch(setShare(levelDoc(s), a.id, a.owner)),
  } as DocCommand<{ id: string; owner: string | null }>,

  renameNode: {
    kind: "doc",
    label: "Rename",
    history: "record",
    perform: (s, a: { from: string; to: string }) => {
      const r = renameNode(levelDoc(s), a.from, a.to);
      if (!r.ok) return notice("error", r.message);
      const swap = (id: string) => (id === a.from ? a.to : id);
      return {
        ...docPatch(r.doc),
        selection: { nodes: s.selection.nodes.map(swap), edges: [] },
        sizes: renameKey(s.sizes, a.from, a.to),
        portRequests: renameKey(s.portRequests, a.from, a.to),
      };
    },
  } as DocCommand<{ from: string; to: string }>,

  addPort: {
    kind: "doc",
    label: "Add input port",
    history: "ephemeral",
    perform: (s, id: string) => {
      const node = nodeIndex(s.nodes).get(id);
      if (!node) return false;
      const spec = specOf(s.catalog, node.type);
      const count = inputPortCount(spec, s.edges, id, s.portRequests[id]);
      if (!canAddPort(spec, count)) return false;
      return { portRequests: { ...s.portRequests, [id]: count + 1 } };
    },
  } as DocCommand<string>,

  copy: {
    kind: "doc",
    label: "Copy",
    keys: ["mod+c"],
    history: "ephemeral",
    enabled: hasNodeSelection,
    perform: (s) => {
      const fragment = copyFragment(levelDoc(s), s.selection.nodes);
      return fragment ? { clipboard: fragment, pasteCount: 0 } : false;
    },
  } as DocCommand<void>,

  cut: {
    kind: "doc",
    label: "Cut",
    keys: ["mod+x"],
    history: "record",
    enabled: hasNodeSelection,
    perform: (s) => {
      const doc = levelDoc(s);
      const fragment = copyFragment(doc, s.selection.nodes);
      if (!fragment) return false;
      return { ...docPatch(removeElements(doc, s.selection.nodes)), clipboard: fragment, pasteCount: 0, selection: EMPTY_SELECTION };
    },
  } as DocCommand<void>,

  paste: {
    kind: "doc",
    label: "Paste",
    keys: ["mod+v"],
    history: "record",
    enabled: (s) => s.clipboard !== null,
    perform: (s) => {
      if (!s.clipboard) return false;
      const step = PASTE_STEP * (s.pasteCount + 1);
      const { doc, ids } = pasteFragment(levelDoc(s), s.clipboard, { x: step, y: step });
      return { ...docPatch(doc), selection: { nodes: ids, edges: [] }, pasteCount: s.pasteCount + 1 };
    },
  } as DocCommand<void>,

  duplicate: {
    kind: "doc",
    label: "Duplicate",
    keys: ["mod+d"],
    history: "record",
    enabled: hasNodeSelection,
    perform: (s) => {
      if (!hasNodeSelection(s)) return false;
      const { doc, ids } = duplicate(levelDoc(s), s.selection.nodes, { x: PASTE_STEP, y: PASTE_STEP });
      return { ...docPatch(doc), selection: { nodes: ids, edges: [] } };
    },
  } as DocCommand<void>,

  /** Ctrl+G: the selected layers become one call of a new block (one undo entry). */
  groupBlock: {
    kind: "doc",
    label: "Group into a block",
    keys: ["mod+g"],
    history: "record",
    enabled: hasNodeSelection,
    perform: (s) => {
      if (!hasNodeSelection(s)) return false;
      const r = groupIntoBlock(levelDoc(s), s.selection.nodes);
      if (!r.ok) return notice("error", r.message);
      return { ...docPatch(r.doc), selection: { nodes: [r.id], edges: [] } };
    },
  } as DocCommand<void>,

  /** A call of a block of the document, or of a library block (copied into the document first). */
  addBlockCall: {
    kind: "doc",
    label: "Add block",
    history: "record",
    perform: (s, a: AddCallArgs) => {
      const r = addBlockCall(levelDoc(s), a);
      return { ...docPatch(r.doc), selection: { nodes: [r.id], edges: [] } };
    },
  } as DocCommand<AddCallArgs>,

  /** A block call's layers put back in its place (Ctrl+G on them collapses them again). */
  expandBlock: {
    kind: "doc",
    label: "Expand the block",
    keys: ["mod+shift+g"],
    history: "record",
    perform: (s, id?: string) => {
      const target = id ?? (s.selection.nodes.length === 1 ? s.selection.nodes[0] : undefined);
      if (!target) return false;
      const r = expandBlock(levelDoc(s), target);
      if (!r.ok) return notice("error", r.message);
      return { ...docPatch(r.doc), selection: { nodes: r.ids, edges: [] } };
    },
  } as DocCommand<string | undefined>,

  /**
   * Lay the level out; the direction is given, or the one last used (kept in the document's
   * `extra.layout_direction`, outside the history), or left to right.
   */
  /** The layers expanded from a call, collapsed back into it (⤡ on one of their cards). */
  collapseExpanded: {
    kind: "doc",
    label: "Collapse back into the block",
    history: "record",
    perform: (s, id: string) => {
      const r = collapseExpanded(levelDoc(s), id);
      if (!r.ok) return notice("error", r.message);
      return { ...docPatch(r.doc), selection: { nodes: [r.id], edges: [] } };
    },
  } as DocCommand<string>,

  autoLayout: {
    kind: "doc",
    label: "Auto-layout",
    keys: ["shift+l"],
    history: "record",
    enabled: (s) => s.nodes.length > 0,
    perform: (s, direction?: LayoutDirection) => {
      const dir = direction ?? layoutDirection(s);
      const patch: Patch = docPatch(autoLayout(levelDoc(s), s.sizes, dir));
      if (dir !== layoutDirection(s)) patch.meta = { ...s.meta, extra: { ...(s.meta.extra ?? {}), layout_direction: dir } };
      return patch;
    },
  } as DocCommand<LayoutDirection | undefined>,

  /** Open a block call's definition in place (double-click, Enter): the canvas edits the block. */
  openBlock: {
    kind: "doc",
    label: "Open the block",
    keys: ["Enter"],
    history: "never",
    perform: (s, id?: string) => {
      const target = id ?? (s.selection.nodes.length === 1 ? s.selection.nodes[0] : undefined);
      if (!target || nodeIndex(s.nodes).get(target)?.type !== "Block") return false;
      const r = openBlock(s, s.blocks, s.scope, target);
      if (!r.ok) return notice("error", r.message);
      return { ...r.level, scope: r.scope, selection: EMPTY_SELECTION, portRequests: {}, drag: null };
    },
  } as DocCommand<string | undefined>,

  /** Back up one level (Escape), or to a breadcrumb's level (0: the document). */
  closeBlock: {
    kind: "doc",
    label: "Close the block",
    keys: ["Escape"],
    history: "never",
    enabled: (s) => s.scope !== null,
    perform: (s, depth?: number) => {
      if (!s.scope) return false;
      const r = closeTo(s.scope, s.blocks, depth ?? s.scope.path.length - 1);
      if (!r) return false;
      return { ...r.level, scope: r.scope, selection: { nodes: [r.call], edges: [] }, portRequests: {}, drag: null };
    },
  } as DocCommand<number | undefined>,

  select: {
    kind: "doc",
    label: "Select",
    history: "ephemeral",
    perform: (s, sel: Selection) => {
      const same =
        sel.nodes.length === s.selection.nodes.length &&
        sel.edges.length === s.selection.edges.length &&
        sel.nodes.every((n, i) => n === s.selection.nodes[i]) &&
        sel.edges.every((e, i) => e === s.selection.edges[i]);
      return same ? false : { selection: sel };
    },
  } as DocCommand<Selection>,

  selectAll: {
    kind: "doc",
    label: "Select all",
    keys: ["mod+a"],
    history: "ephemeral",
    perform: (s) => ({ selection: { nodes: s.nodes.map((n) => n.id), edges: edgeKeys(s.edges) } }),
  } as DocCommand<void>,

  measure: {
    kind: "doc",
    label: "Measure",
    history: "ephemeral",
    perform: (s, sizes: Record<string, { width: number; height: number }>) => ({ sizes: { ...s.sizes, ...sizes } }),
  } as DocCommand<Record<string, { width: number; height: number }>>,

  /** Open a document (from the server, a file, a template or the draft): a fresh history. */
  loadDocument: {
    kind: "doc",
    label: "Open",
    history: "never",
    clearsHistory: true,
    perform: (s, a: { doc: GraphDoc; server?: ServerRef | null; saved?: boolean }) => {
      const placed = placeUnplaced(a.doc);
      const { tracked: doc, meta } = splitDoc(placed);
      return {
        ...doc,
        scope: null,
        meta,
        selection: EMPTY_SELECTION,
        drag: null,
        portRequests: {},
        clipboard: s.clipboard,
        analysis: { ...emptyAnalysis(), status: "pending" },
        server: a.server ?? null,
        savedRefs: a.saved ? doc : null,
      };
    },
  } as DocCommand<{ doc: GraphDoc; server?: ServerRef | null; saved?: boolean }>,

  setMeta: {
    kind: "doc",
    label: "Rename graph",
    history: "never",
    perform: (s, a: { name?: string; description?: string }) => {
      const meta = { ...s.meta };
      if (a.name !== undefined) meta.name = a.name;
      if (a.description !== undefined) meta.description = a.description;
      return { meta };
    },
  } as DocCommand<{ name?: string; description?: string }>,

  /** The document as it is now is what the server holds. */
  markSaved: {
    kind: "doc",
    label: "Saved",
    history: "never",
    perform: (s, server: ServerRef) => ({ server, savedRefs: tracked(s), meta: { ...s.meta, name: server.name } }),
  } as DocCommand<ServerRef>,

  notify: {
    kind: "doc",
    label: "Notify",
    history: "ephemeral",
    perform: (_s, a: { kind: Notice["kind"]; text: string } | null) => (a ? notice(a.kind, a.text) : { notice: null }),
  } as DocCommand<{ kind: Notice["kind"]; text: string } | null>,
} satisfies Record<string, DocCommand<never>>;

export const appCommands = {
  undo: {
    kind: "app",
    label: "Undo",
    keys: ["mod+z"],
    enabled: (_s, store) => store.temporal.getState().pastStates.length > 0,
    run: ({ store }) => undo(store),
  },
  redo: {
    kind: "app",
    label: "Redo",
    keys: ["mod+shift+z", "mod+y"],
    enabled: (_s, store) => store.temporal.getState().futureStates.length > 0,
    run: ({ store }) => redo(store),
  },
  fitView: {
    kind: "app",
    label: "Fit view",
    keys: ["f"],
    run: ({ fitView }) => fitView(),
  },
} satisfies Record<string, AppCommand>;

export type DocCommandName = keyof typeof docCommands;
export type AppCommandName = keyof typeof appCommands;
export type CommandName = DocCommandName | AppCommandName;
type ArgsOf<C> = C extends DocCommand<infer A> ? A : never;
export type CommandArgs<K extends DocCommandName> = ArgsOf<(typeof docCommands)[K]>;

const TRACKED_KEYS = ["nodes", "edges", "layout", "blocks", "scope"] as const;

/** The auto-layout direction this document last used. */
export function layoutDirection(s: Pick<EditorState, "meta">): LayoutDirection {
  return s.meta.extra?.layout_direction === "TB" ? "TB" : "LR";
}

/**
 * Run a document command against a store and apply its result by its history policy. Returns
 * whether anything was applied.
 */
export function dispatch<K extends DocCommandName>(
  store: DocumentStore,
  name: K,
  ...args: undefined extends CommandArgs<K> ? [] | [CommandArgs<K>] : [CommandArgs<K>]
): boolean {
  const cmd = docCommands[name] as DocCommand<unknown>;
  const state: CommandState = { ...store.getState(), ...store.gesture.getState() };
  if (cmd.enabled && !cmd.enabled(state)) return false;
  const result = cmd.perform(state, args[0]);
  if (result === false) return false;
  // The gesture's part goes to its own store (after the document, so a drop never flashes back).
  const { drag, ...patch } = result;
  // Inside an open block, an edit of the level is an edit of the block's definition: written back
  // into `blocks` in the same step, so every call of it (and the analysis) sees it.
  const scope = "scope" in patch ? patch.scope : state.scope;
  if (scope && !("scope" in patch) && (["nodes", "edges", "layout"] as const).some((k) => k in patch && patch[k] !== state[k])) {
    patch.blocks = writeBack(patch.blocks ?? state.blocks, scope, {
      nodes: patch.nodes ?? state.nodes,
      edges: patch.edges ?? state.edges,
      layout: patch.layout ?? state.layout,
    });
  }
  const gesture: Partial<GestureState> | null = "drag" in result ? { drag } : null;
  const temporal = store.temporal.getState();
  const hasPatch = Object.keys(patch).length > 0;
  switch (cmd.history) {
    case "record":
      if (hasPatch) store.setState(patch);
      break;
    case "ephemeral":
      if (TRACKED_KEYS.some((k) => k in patch && patch[k] !== state[k])) {
        throw new Error(`command ${name} is ephemeral but changed the document`);
      }
      if (hasPatch) store.setState(patch);
      break;
    case "amend":
    case "never":
      temporal.pause();
      try {
        if (hasPatch) store.setState(patch);
      } finally {
        temporal.resume();
      }
      if (cmd.clearsHistory) temporal.clear();
      break;
  }
  if (gesture) store.gesture.setState(gesture);
  return true;
}

/** Undo one entry. An in-progress drag is dropped first (it is not in the history yet). */
export function undo(store: DocumentStore): void {
  if (store.gesture.getState().drag) store.gesture.setState({ drag: null });
  store.temporal.getState().undo();
}

export function redo(store: DocumentStore): void {
  store.temporal.getState().redo();
}

export interface ShortcutBinding {
  name: CommandName;
  label: string;
  keys: readonly string[];
}

/** Every command that has keys, for the shortcut handler and the help overlay. */
export function shortcutBindings(): ShortcutBinding[] {
  const out: ShortcutBinding[] = [];
  for (const [name, c] of Object.entries(docCommands) as [DocCommandName, DocCommand<never>][]) {
    if (c.keys) out.push({ name, label: c.label, keys: c.keys });
  }
  for (const [name, c] of Object.entries(appCommands) as [AppCommandName, AppCommand][]) {
    if (c.keys) out.push({ name, label: c.label, keys: c.keys });
  }
  return out;
}

/** "mod+shift+z" for a keyboard event (mod = Ctrl or ⌘). */
export function eventKeys(e: Pick<KeyboardEvent, "key" | "ctrlKey" | "metaKey" | "shiftKey" | "altKey">): string {
  const parts: string[] = [];
  if (e.ctrlKey || e.metaKey) parts.push("mod");
  if (e.altKey) parts.push("alt");
  if (e.shiftKey) parts.push("shift");
  const key = e.key.length === 1 ? e.key.toLowerCase() : e.key;
  parts.push(key);
  return parts.join("+");
}

export function commandForKeys(keys: string): ShortcutBinding | undefined {
  return shortcutBindings().find((b) => b.keys.includes(keys));
}

/** Human form of a binding: mod+shift+z → Ctrl+Shift+Z. */
export function keyLabel(keys: string, mac = false): string {
  return keys
    .split("+")
    .map((k) => (k === "mod" ? (mac ? "⌘" : "Ctrl") : k === "shift" ? "Shift" : k === "alt" ? "Alt" : k.length === 1 ? k.toUpperCase() : k))
    .join("+");
}
