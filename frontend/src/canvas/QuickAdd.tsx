/**
 * The searchable palette that opens where a wire was dropped on empty canvas: type to filter, Enter
 * or click to add the layer there, wired from the port the wire started at. Escape or a click
 * outside closes it.
 */

import { useEffect, useMemo, useRef, useState } from "react";
import { groupCatalog } from "../domain/catalog";
import { canSitOnWire } from "../domain/graph";
import { useEditor } from "../state/EditorProvider";

export interface QuickAddAt {
  /** Where to show it, relative to the canvas. */
  screen: { x: number; y: number };
  /** Where the new layer goes, in flow coordinates. */
  flow: { x: number; y: number };
  from: string;
  port: number;
}

export function QuickAdd({ at, onPick, onClose }: { at: QuickAddAt; onPick: (type: string) => void; onClose: () => void }) {
  const catalog = useEditor((s) => s.catalog);
  const [query, setQuery] = useState("");
  const [active, setActive] = useState(0);
  const box = useRef<HTMLDivElement>(null);
  // Only layers that can take this wire (not an Input, which takes none).
  const items = useMemo(
    () => groupCatalog(catalog, query).flatMap((g) => g.layers).filter((spec) => canSitOnWire(catalog, spec.type) || spec.type === "Output"),
    [catalog, query],
  );
  useEffect(() => setActive(0), [query]);
  useEffect(() => {
    const away = (e: PointerEvent) => {
      if (box.current && !box.current.contains(e.target as Node)) onClose();
    };
    window.addEventListener("pointerdown", away, true);
    return () => window.removeEventListener("pointerdown", away, true);
  }, [onClose]);

  return (
    <div className="ll-quick-add nodrag nowheel" ref={box} style={{ left: at.screen.x, top: at.screen.y }} data-testid="quick-add">
      <input
        autoFocus
        className="ll-search"
        type="search"
        placeholder={`Add after ${at.from}…`}
        aria-label="Search layers to add"
        value={query}
        onChange={(e) => setQuery(e.target.value)}
        onKeyDown={(e) => {
          if (e.key === "Escape") onClose();
          else if (e.key === "ArrowDown") setActive((i) => Math.min(i + 1, items.length - 1));
          else if (e.key === "ArrowUp") setActive((i) => Math.max(i - 1, 0));
          else if (e.key === "Enter" && items[active]) onPick(items[active].type);
          else return;
          e.preventDefault();
        }}
        data-testid="quick-add-search"
      />
      <ul className="ll-quick-add-list" role="listbox">
        {items.slice(0, 40).map((spec, i) => (
          <li
            key={spec.type}
            role="option"
            aria-selected={i === active}
            className={i === active ? "is-active" : ""}
            onMouseEnter={() => setActive(i)}
            onClick={() => onPick(spec.type)}
            data-testid={`quick-add-${spec.type}`}
          >
            <span className="ll-quick-add-type">{spec.type}</span>
            <span className="ll-quick-add-cat">{spec.category}</span>
          </li>
        ))}
        {items.length === 0 && <li className="ll-muted">No layer matches “{query}”.</li>}
      </ul>
    </div>
  );
}
