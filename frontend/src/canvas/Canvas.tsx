/**
 * The canvas: React Flow in controlled mode over the document store. Node and edge types are
 * registered once at module scope; `isValidConnection` delegates to `domain.canConnect`; palette
 * drops carry our own MIME type and are placed with `screenToFlowPosition`. Every change React Flow
 * reports is turned into a command (a drag is ephemeral until the drop records one move).
 */

import {
  Background,
  BackgroundVariant,
  ControlButton,
  Controls,
  MiniMap,
  ReactFlow,
  useReactFlow,
  useStore as useFlowStore,
  type Connection as FlowConnection,
  type EdgeChange,
  type FinalConnectionState,
  type EdgeTypes,
  type FitViewOptions,
  type IsValidConnection,
  type Node,
  type NodeChange,
  type NodeTypes,
} from "@xyflow/react";
import { useCallback, useEffect, useMemo, useRef, useState, type DragEvent } from "react";
import { useStore } from "zustand";
import { specOf } from "../domain/catalog";
import { canConnect, canSitOnWire, type Connection } from "../domain/graph";
import type { Size } from "../domain/layout";
import type { XY } from "../domain/types";
import { dispatch, layoutDirection } from "../state/commands";
import type { DocumentStore } from "../state/documentStore";
import { useDocumentStore, useEditor } from "../state/EditorProvider";
import { Breadcrumb } from "./Breadcrumb";
import { categoryClass } from "./categories";
import { LayerNode } from "./LayerNode";
import { QuickAdd, type QuickAddAt } from "./QuickAdd";
import { useShortcuts } from "./shortcuts";
import { LAYER_MIME, useView, ZoomedOutContext } from "./viewApi";
import { createEdgeBuilder, createNodeBuilder, handlePort, type LayerFlowNode, type WireFlowEdge } from "./viewModel";
import { WireEdge } from "./WireEdge";
import { WireRefusalTip } from "./WireFeedback";

const nodeTypes = { layer: LayerNode } satisfies NodeTypes;
const edgeTypes = { wire: WireEdge } satisfies EdgeTypes;

/** Fitting keeps the drawing clear of the zoom controls (left) and the minimap (right). */
const FIT_OPTIONS = { padding: { top: "36px", bottom: "36px", left: "64px", right: "190px" }, maxZoom: 1.25 } satisfies FitViewOptions;

// Props React Flow copies into its store: module constants, so a re-render of the canvas (every
// drag frame) does not hand it new objects and re-render every edge.
const MULTI_SELECT_KEYS = ["Meta", "Control"];
const DEFAULT_EDGE_OPTIONS = { type: "wire" } as const;
const MINIMAP_STYLE = { width: 160, height: 104 };

/** Below this zoom a card shows only its name and shape, in larger type, to stay readable. */
export const COMPACT_ZOOM = 0.6;
/** The smallest zoom a newly opened document is shown at (cards at full detail). */
const READABLE_ZOOM = COMPACT_ZOOM;
const isZoomedOut = (s: { transform: [number, number, number] }) => s.transform[2] < COMPACT_ZOOM;

/** The wire (edge key) under a screen point, if any: React Flow marks each edge group with data-id. */
function edgeAt(x: number, y: number): string | null {
  for (const el of document.elementsFromPoint(x, y)) {
    const g = el.closest(".react-flow__edge");
    const id = g?.getAttribute("data-id");
    if (id) return id;
  }
  return null;
}

/** Half the usual node size: a dropped layer lands centered on the pointer. */
const DROP_OFFSET = { x: 92, y: 36 };

function toConnection(c: FlowConnection | { source: string; target: string; sourceHandle?: string | null; targetHandle?: string | null }): Connection {
  return { source: c.source, target: c.target, sourcePort: handlePort(c.sourceHandle), targetPort: handlePort(c.targetHandle) };
}

function makeIsValidConnection(store: DocumentStore): IsValidConnection<WireFlowEdge> {
  return (c) => {
    const s = store.getState();
    return canConnect(s, s.catalog, toConnection(c)).ok;
  };
}

export function Canvas({ colorMode }: { colorMode: "light" | "dark" }) {
  const store = useDocumentStore();
  const view = useView();
  const rf = useReactFlow<LayerFlowNode, WireFlowEdge>();
  const wrapper = useRef<HTMLDivElement>(null);

  const buildNodes = useMemo(() => createNodeBuilder(), [store]);
  const buildEdges = useMemo(() => createEdgeBuilder(), [store]);
  const drag = useStore(store.gesture, (g) => g.drag);
  const nodes = useEditor((s) => buildNodes(s.nodes, s.layout, drag, s.selection, s.sizes));
  const edges = useEditor((s) => buildEdges(s.edges, s.selection));
  const isValidConnection = useMemo(() => makeIsValidConnection(store), [store]);


  useShortcuts(store, view);
  const inBlock = useEditor((s) => s.scope !== null);
  const direction = useEditor(layoutDirection);
  // Opening a block or going back up shows another level: fit it once it is measured.
  const scope = useEditor((s) => s.scope);
  useEffect(() => {
    view.requestFit();
  }, [scope, view]);
  const [overview, toggleOverview] = useOverviewSetting();
  // Zoomed out, cards show only their name and shape in larger type: one subscription here, handed
  // to the nodes by context (instead of one subscription per node running on every viewport change).
  const zoomedOut = useFlowStore(isZoomedOut);

  // A newly opened document is fitted, unless that would shrink its cards below READABLE_ZOOM (a
  // 50-layer model in one row): then it opens at that zoom, at its start (the inputs, on the left),
  // and the rest is a scroll away. F still fits everything.
  const openReadable = useCallback(() => {
    const box = wrapper.current?.getBoundingClientRect();
    const bounds = rf.getNodesBounds(rf.getNodes());
    if (!box || !bounds.width) return void rf.fitView(FIT_OPTIONS);
    const pad = 64;
    const fitZoom = Math.min((box.width - pad - 190) / bounds.width, (box.height - 72) / bounds.height, FIT_OPTIONS.maxZoom);
    if (fitZoom >= READABLE_ZOOM) return void rf.fitView(FIT_OPTIONS);
    const zoom = READABLE_ZOOM;
    const fitsHeight = bounds.height * zoom <= box.height - 72;
    const y = fitsHeight ? (box.height - bounds.height * zoom) / 2 - bounds.y * zoom : 36 - bounds.y * zoom;
    void rf.setViewport({ x: pad - bounds.x * zoom, y, zoom });
  }, [rf]);

  // Fit a newly opened document once every node has been measured (React Flow's own queued fit
  // fires on the first measured batch, which may be only some of the nodes).
  useEffect(() => {
    if (!view.fitPending) return;
    if (nodes.length === 0) view.fitPending = false; // an empty document: nothing to fit, later drops stay put
    else if (nodes.every((n) => n.measured)) {
      view.fitPending = false;
      openReadable();
    }
  }, [nodes, rf, view]);

  // What panels may ask of the view.
  useEffect(() => {
    view.impl = {
      center(): XY {
        const r = wrapper.current?.getBoundingClientRect();
        if (!r) return { x: 0, y: 0 };
        const p = rf.screenToFlowPosition({ x: r.left + r.width / 2, y: r.top + r.height / 2 });
        return { x: p.x - DROP_OFFSET.x, y: p.y - DROP_OFFSET.y };
      },
      fitView() {
        // (on an empty canvas React Flow would queue the fit until the first layer is dropped)
        if (store.getState().nodes.length) void rf.fitView(FIT_OPTIONS);
      },
      resetView() {
        void rf.setViewport({ x: 0, y: 0, zoom: 1 });
      },
      focusNode(id: string) {
        const n = rf.getInternalNode(id);
        if (!n) return;
        const w = n.measured.width ?? 180;
        const h = n.measured.height ?? 70;
        void rf.setCenter(n.internals.positionAbsolute.x + w / 2, n.internals.positionAbsolute.y + h / 2, {
          zoom: Math.max(rf.getZoom(), 0.9),
          duration: 250,
        });
      },
    };
    return () => {
      view.impl = null;
    };
  }, [rf, view, store]);

  const onNodesChange = useCallback(
    (changes: NodeChange<LayerFlowNode>[]) => {
      let dragging: Record<string, XY> | null = null;
      let moved: Record<string, XY> | null = null;
      let sizes: Record<string, Size> | null = null;
      let select: Map<string, boolean> | null = null;
      const before = store.getState();
      const dragBefore = store.gesture.getState().drag;
      for (const c of changes) {
        if (c.type === "position" && c.position) {
          if (c.dragging) (dragging ??= {})[c.id] = c.position;
          else (moved ??= {})[c.id] = c.position;
        } else if (c.type === "dimensions" && c.dimensions) {
          const prev = before.sizes[c.id];
          if (!prev || prev.width !== c.dimensions.width || prev.height !== c.dimensions.height) {
            (sizes ??= {})[c.id] = { width: c.dimensions.width, height: c.dimensions.height };
          }
        } else if (c.type === "select") {
          (select ??= new Map()).set(c.id, c.selected);
        }
      }
      if (sizes) dispatch(store, "measure", sizes);
      if (dragging) dispatch(store, "dragNodes", dragging);
      if (moved) dispatch(store, dragBefore ? "endDrag" : "moveNodes", moved);
      if (select) {
        const sel = store.getState().selection;
        const next = sel.nodes.filter((id) => select!.get(id) !== false);
        for (const [id, on] of select) if (on && !next.includes(id)) next.push(id);
        dispatch(store, "select", { nodes: next, edges: sel.edges });
      }
    },
    [store],
  );

  const onEdgesChange = useCallback(
    (changes: EdgeChange<WireFlowEdge>[]) => {
      const select = new Map<string, boolean>();
      for (const c of changes) if (c.type === "select") select.set(c.id, c.selected);
      if (!select.size) return;
      const sel = store.getState().selection;
      const next = sel.edges.filter((id) => select.get(id) !== false);
      for (const [id, on] of select) if (on && !next.includes(id)) next.push(id);
      dispatch(store, "select", { nodes: sel.nodes, edges: next });
    },
    [store],
  );

  const onConnect = useCallback((c: FlowConnection) => dispatch(store, "connect", toConnection(c)), [store]);

  const [quickAdd, setQuickAdd] = useState<QuickAddAt | null>(null);
  const closeQuickAdd = useCallback(() => setQuickAdd(null), []);

  // A wire released on a port it may not enter snaps back, and the reason stays in the notice bar;
  // a wire from an output released on empty canvas opens the quick-add palette there.
  const onConnectEnd = useCallback(
    (event: MouseEvent | TouchEvent, c: FinalConnectionState) => {
      if (!c.fromNode || !c.fromHandle) return;
      if (c.toNode && c.toHandle && c.isValid === false) {
        const forward = c.fromHandle.type === "source";
        const conn = forward
          ? { source: c.fromNode.id, target: c.toNode.id, sourcePort: handlePort(c.fromHandle.id), targetPort: handlePort(c.toHandle.id) }
          : { source: c.toNode.id, target: c.fromNode.id, sourcePort: handlePort(c.toHandle.id), targetPort: handlePort(c.fromHandle.id) };
        dispatch(store, "connect", conn); // refused: records nothing, shows why
        return;
      }
      if (c.toNode || c.fromHandle.type !== "source") return;
      const point = "changedTouches" in event ? event.changedTouches[0] : event;
      const box = wrapper.current?.getBoundingClientRect();
      if (!point || !box) return;
      const flow = rf.screenToFlowPosition({ x: point.clientX, y: point.clientY });
      setQuickAdd({
        screen: { x: point.clientX - box.left, y: point.clientY - box.top },
        flow: { x: flow.x, y: flow.y - DROP_OFFSET.y },
        from: c.fromNode.id,
        port: handlePort(c.fromHandle.id),
      });
    },
    [rf, store],
  );

  const pickQuickAdd = useCallback(
    (type: string) => {
      if (!quickAdd) return;
      dispatch(store, "addNodeAfter", { after: quickAdd.from, port: quickAdd.port, type, position: quickAdd.flow });
      setQuickAdd(null);
    },
    [quickAdd, store],
  );

  const onNodeDragStop = useCallback(() => {
    // React Flow reports the final positions as a non-dragging change; this catches a drag that
    // ended without one (e.g. released outside the window).
    if (store.gesture.getState().drag) dispatch(store, "endDrag", undefined);
  }, [store]);

  const onDragOver = useCallback((e: DragEvent) => {
    if (e.dataTransfer.types.includes(LAYER_MIME)) {
      e.preventDefault();
      e.dataTransfer.dropEffect = "copy";
    }
  }, []);

  const onDrop = useCallback(
    (e: DragEvent) => {
      const type = e.dataTransfer.getData(LAYER_MIME);
      if (!type) return;
      e.preventDefault();
      const p = rf.screenToFlowPosition({ x: e.clientX, y: e.clientY });
      const position = { x: p.x - DROP_OFFSET.x, y: p.y - DROP_OFFSET.y };
      const wire = edgeAt(e.clientX, e.clientY);
      if (wire && canSitOnWire(store.getState().catalog, type)) dispatch(store, "insertOnEdge", { edge: wire, type, position });
      else dispatch(store, "addNode", { type, position });
    },
    [rf, store],
  );

  // Double-click on a block call opens its definition in place.
  const onNodeDoubleClick = useCallback(
    (_e: unknown, n: Node) => {
      if ((n.data as { layerType?: string }).layerType === "Block") dispatch(store, "openBlock", n.id);
    },
    [store],
  );

  const relayout = useCallback(() => {
    dispatch(store, "autoLayout", direction === "LR" ? "TB" : "LR");
    view.requestFit();
  }, [store, view, direction]);

  const miniClass = useCallback(
    (n: Node) => {
      const t = (n.data as { layerType?: string }).layerType ?? "";
      return `ll-mini ${categoryClass(specOf(store.getState().catalog, t).category)}`;
    },
    [store],
  );

  return (
    <div className={`ll-canvas ${drag ? "is-dragging" : ""} ${zoomedOut ? "is-zoomed-out" : ""} ${inBlock ? "is-in-block" : ""}`} ref={wrapper} data-testid="canvas">
      <Breadcrumb />
      <ZoomedOutContext.Provider value={zoomedOut}>
      <ReactFlow<LayerFlowNode, WireFlowEdge>
        nodes={nodes}
        edges={edges}
        nodeTypes={nodeTypes}
        edgeTypes={edgeTypes}
        onNodesChange={onNodesChange}
        onEdgesChange={onEdgesChange}
        onConnect={onConnect}
        onConnectEnd={onConnectEnd}
        isValidConnection={isValidConnection}
        onNodeDragStop={onNodeDragStop}
        onNodeDoubleClick={onNodeDoubleClick}
        zoomOnDoubleClick={false}
        onDragOver={onDragOver}
        onDrop={onDrop}
        colorMode={colorMode}
        deleteKeyCode={null}
        selectionKeyCode="Shift"
        multiSelectionKeyCode={MULTI_SELECT_KEYS}
        nodeDragThreshold={2}
        connectionRadius={28}
        minZoom={0.05}
        maxZoom={2.5}
        defaultEdgeOptions={DEFAULT_EDGE_OPTIONS}
      >
        <Background variant={BackgroundVariant.Dots} gap={20} size={1.2} className="ll-bg" />
        {overview && <MiniMap pannable zoomable nodeClassName={miniClass} className="ll-minimap" ariaLabel="Overview" style={MINIMAP_STYLE} />}
        <Controls showInteractive={false} className="ll-controls" fitViewOptions={FIT_OPTIONS}>
          <ControlButton onClick={toggleOverview} title={overview ? "Hide the overview map" : "Show the overview map"} aria-label="Toggle the overview map" data-testid="toggle-minimap">
            <svg viewBox="0 0 24 24" aria-hidden>
              <path d="M3 6l6-2 6 2 6-2v14l-6 2-6-2-6 2zM9 4v14M15 6v14" fill="none" stroke="currentColor" strokeWidth="2" strokeLinejoin="round" />
            </svg>
          </ControlButton>
          <ControlButton
            onClick={relayout}
            title={direction === "LR" ? "Lay out top to bottom" : "Lay out left to right"}
            aria-label={direction === "LR" ? "Lay out top to bottom" : "Lay out left to right"}
            data-testid="layout-direction"
            data-direction={direction}
          >
            <svg viewBox="0 0 24 24" aria-hidden>
              {direction === "LR" ? (
                <path d="M12 3v14M6 11l6 6 6-6M5 21h14" fill="none" stroke="currentColor" strokeWidth="2" strokeLinecap="round" strokeLinejoin="round" />
              ) : (
                <path d="M3 12h14M11 6l6 6-6 6M21 5v14" fill="none" stroke="currentColor" strokeWidth="2" strokeLinecap="round" strokeLinejoin="round" />
              )}
            </svg>
          </ControlButton>
        </Controls>
        <WireRefusalTip container={wrapper.current} />
      </ReactFlow>
      </ZoomedOutContext.Provider>
      {quickAdd && <QuickAdd at={quickAdd} onPick={pickQuickAdd} onClose={closeQuickAdd} />}
      {nodes.length === 0 && <EmptyHint />}
    </div>
  );
}

const OVERVIEW_KEY = "layerloom.minimap";

/** Whether the overview map is shown (remembered; it costs a little on every drag frame). */
function useOverviewSetting(): [boolean, () => void] {
  const [on, setOn] = useState(() => {
    try {
      return localStorage.getItem(OVERVIEW_KEY) !== "off";
    } catch {
      return true;
    }
  });
  const toggle = useCallback(() => {
    setOn((v) => {
      try {
        localStorage.setItem(OVERVIEW_KEY, v ? "off" : "on");
      } catch {
        /* ignore */
      }
      return !v;
    });
  }, []);
  return [on, toggle];
}

function EmptyHint() {
  return (
    <div className="ll-empty" data-testid="empty-hint">
      <div className="ll-empty-title">An empty canvas</div>
      <div>Drag a layer from the palette, double-click one, or start from a template. Press ? for shortcuts.</div>
    </div>
  );
}
