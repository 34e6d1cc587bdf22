/**
 * Feedback while a wire is being drawn: when the pointer is over a port the wire may not enter, the
 * port turns red (CSS on React Flow's `connectingto` handle without `valid`) and this tooltip says
 * why, naming the cycle's nodes or the wire already there. On release the wire snaps back and the
 * same reason stays in the notice bar (see Canvas's onConnectEnd).
 */

import { useConnection } from "@xyflow/react";
import { useMemo } from "react";
import { canConnect } from "../domain/graph";
import { useDocumentStore } from "../state/EditorProvider";
import { handlePort } from "./viewModel";

export function WireRefusalTip({ container }: { container: HTMLElement | null }) {
  const store = useDocumentStore();
  const c = useConnection((s) =>
    s.inProgress && s.isValid === false && s.toHandle
      ? { from: s.fromNode.id, fromHandle: s.fromHandle.id, fromType: s.fromHandle.type, to: s.toHandle.nodeId, toHandle: s.toHandle.id }
      : null,
  );
  const tip = useMemo(() => {
    if (!c || !container) return null;
    // A wire may be drawn from either end; normalise to source → target.
    const forward = c.fromType === "source";
    const conn = forward
      ? { source: c.from, target: c.to, sourcePort: handlePort(c.fromHandle), targetPort: handlePort(c.toHandle) }
      : { source: c.to, target: c.from, sourcePort: handlePort(c.toHandle), targetPort: handlePort(c.fromHandle) };
    const s = store.getState();
    const check = canConnect(s, s.catalog, conn);
    if (check.ok) return null;
    const handle = container.querySelector(`[data-testid="${forward ? "in" : "out"}-${c.to}-${handlePort(c.toHandle)}"]`);
    const box = container.getBoundingClientRect();
    const r = handle?.getBoundingClientRect();
    return { message: check.message, x: r ? r.left - box.left + r.width / 2 : 0, y: r ? r.top - box.top : 0 };
  }, [c, container, store]);
  if (!tip) return null;
  return (
    <div className="ll-wire-refusal" role="tooltip" data-testid="wire-refusal" style={{ left: tip.x, top: tip.y }}>
      {tip.message}
    </div>
  );
}
