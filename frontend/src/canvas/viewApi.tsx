/**
 * What panels may ask of the canvas's view (the viewport is not document state): the center of
 * what is on screen, fitting the view, and bringing a node into view. The canvas registers the
 * implementation when it mounts.
 */

import { createContext, useContext, type ReactNode } from "react";
import type { XY } from "../domain/types";

export interface ViewApi {
  /** The flow position at the center of the visible canvas. */
  center(): XY;
  fitView(): void;
  /** Back to 100% at the origin (a new, empty document). */
  resetView(): void;
  focusNode(id: string): void;
}

export class ViewHandle implements ViewApi {
  impl: ViewApi | null = null;
  /** A newly opened document is fitted once all its nodes are measured (see Canvas). */
  fitPending = true;
  requestFit(): void {
    this.fitPending = true;
  }
  center(): XY {
    return this.impl?.center() ?? { x: 0, y: 0 };
  }
  fitView(): void {
    this.impl?.fitView();
  }
  resetView(): void {
    this.impl?.resetView();
  }
  focusNode(id: string): void {
    this.impl?.focusNode(id);
  }
}

const ViewContext = createContext<ViewHandle | null>(null);

export function ViewProvider({ handle, children }: { handle: ViewHandle; children: ReactNode }) {
  return <ViewContext.Provider value={handle}>{children}</ViewContext.Provider>;
}

export function useView(): ViewHandle {
  const v = useContext(ViewContext);
  if (!v) throw new Error("[layerloom:view_context] useView() outside <ViewProvider>.");
  return v;
}

/** Our own MIME type for palette drags (so other drops are ignored). */
export const LAYER_MIME = "application/x-layerloom-layer";

/** Whether the canvas is zoomed out far enough that cards show only their name and shape. Provided
 * by the canvas, so the nodes re-render once when it flips, not on every viewport change. */
export const ZoomedOutContext = createContext(false);
