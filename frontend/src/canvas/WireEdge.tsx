/** A wire between ports; painted and explained (on hover) when the compiler has a problem with it. */

import { BaseEdge, getBezierPath, type EdgeProps } from "@xyflow/react";
import { memo } from "react";
import { worstSeverity } from "../domain/issues";
import { useEditor } from "../state/EditorProvider";
import type { WireFlowEdge } from "./viewModel";

function WireEdgeView(props: EdgeProps<WireFlowEdge>) {
  const { id, sourceX, sourceY, targetX, targetY, sourcePosition, targetPosition, selected } = props;
  const issues = useEditor((s) => s.analysis.issues.byEdge[id]);
  const [path] = getBezierPath({ sourceX, sourceY, targetX, targetY, sourcePosition, targetPosition });
  const severity = worstSeverity(issues);
  return (
    <>
      <BaseEdge
        id={id}
        path={path}
        interactionWidth={18}
        className={["ll-wire", selected ? "is-selected" : "", severity ? `has-${severity}` : ""].join(" ")}
      />
      {issues && (
        <path d={path} className="ll-wire-hit" data-testid={`edge-issue-${id}`}>
          <title>{issues.map((i) => i.message).join("\n")}</title>
        </path>
      )}
    </>
  );
}

export const WireEdge = memo(WireEdgeView);
