/** The palette: the catalog grouped by category, with search and each layer's doc. Drag a layer onto
 * the canvas, or double-click it to add it at the center of the view. */

import { useDeferredValue, useEffect, useMemo, useState, type DragEvent } from "react";
import { getBlockLibrary, type LibraryBlock } from "../api/blocks";
import { groupCatalog, specOf } from "../domain/catalog";
import { nodeIndex } from "../domain/graph";
import { dispatch } from "../state/commands";
import { useDocumentStore, useEditor } from "../state/EditorProvider";
import { layerHelpRef } from "../domain/issues";
import { categoryClass } from "../canvas/categories";
import { LAYER_MIME, useView } from "../canvas/viewApi";

export function Palette() {
  const store = useDocumentStore();
  const view = useView();
  const catalog = useEditor((s) => s.catalog);
  const [query, setQuery] = useState("");
  const deferred = useDeferredValue(query);
  const groups = useMemo(() => groupCatalog(catalog, deferred), [catalog, deferred]);
  const [collapsed, setCollapsed] = useState<Record<string, boolean>>({});

  const onDragStart = (e: DragEvent, type: string) => {
    e.dataTransfer.setData(LAYER_MIME, type);
    e.dataTransfer.setData("text/plain", type);
    e.dataTransfer.effectAllowed = "copy";
  };
  const add = (type: string) => {
    // With one node selected, the new layer follows it, wired from its first output.
    const s = store.getState();
    const after = s.selection.nodes.length === 1 ? s.selection.nodes[0] : null;
    const from = after ? s.layout[after] : undefined;
    if (after && from && specOf(s.catalog, nodeIndex(s.nodes).get(after)?.type ?? "").outputs > 0) {
      const width = s.sizes[after]?.width ?? 180;
      dispatch(store, "addNodeAfter", { after, port: 0, type, position: { x: from.x + width + 70, y: from.y } });
      return;
    }
    // Otherwise at the center of the view; repeated adds cascade instead of stacking exactly.
    let p = view.center();
    const placed = Object.values(store.getState().layout);
    for (let k = 0; k < 30 && placed.some((q) => Math.abs(q.x - p.x) < 12 && Math.abs(q.y - p.y) < 12); k++) {
      p = { x: p.x + 24, y: p.y + 24 };
    }
    dispatch(store, "addNode", { type, position: p });
  };

  return (
    <aside className="ll-palette" aria-label="Layers" data-testid="palette">
      <div className="ll-panel-title">Layers</div>
      <input
        className="ll-search"
        type="search"
        placeholder="Search layers…"
        value={query}
        onChange={(e) => setQuery(e.target.value)}
        aria-label="Search layers"
        data-testid="palette-search"
      />
      <div className="ll-palette-list">
        {groups.map((g) => {
          const closed = collapsed[g.category] && !deferred;
          return (
            <section key={g.category} className="ll-palette-group">
              <button
                type="button"
                className="ll-group-head"
                aria-expanded={!closed}
                onClick={() => setCollapsed((c) => ({ ...c, [g.category]: !c[g.category] }))}
              >
                <span className={`ll-caret ${closed ? "is-closed" : ""}`} aria-hidden>
                  ▾
                </span>
                {g.category}
                <span className="ll-group-count">{g.layers.length}</span>
              </button>
              {!closed &&
                g.layers.map((spec) => (
                  <div
                    key={spec.type}
                    className={`ll-palette-item ${categoryClass(spec.category)}`}
                    draggable
                    onDragStart={(e) => onDragStart(e, spec.type)}
                    onDoubleClick={() => add(spec.type)}
                    onKeyDown={(e) => {
                      if (e.key === "Enter") add(spec.type);
                    }}
                    tabIndex={0}
                    role="button"
                    title={`${spec.doc}\n\nDrag onto the canvas or onto a wire, or double-click to add (after the selected layer, if one is selected).`}
                    data-testid={`palette-${spec.type}`}
                  >
                    <div className="ll-palette-name">
                      <span className="ll-node-dot" />
                      {spec.type}
                      <a
                        className="ll-help-link"
                        href={layerHelpRef(spec.type)}
                        target="_blank"
                        rel="noreferrer"
                        draggable={false}
                        onDoubleClick={(e) => e.stopPropagation()}
                        title={`${spec.type}: parameters and ports`}
                        aria-label={`Help for ${spec.type}`}
                        data-testid={`help-${spec.type}`}
                      >
                        ?
                      </a>
                    </div>
                    <div className="ll-palette-doc">{spec.doc}</div>
                  </div>
                ))}
            </section>
          );
        })}
        <BlocksSection query={deferred} center={() => view.center()} />
        {groups.length === 0 && <div className="ll-muted ll-pad">No layer matches “{deferred}”.</div>}
      </div>
    </aside>
  );
}

/**
 * The palette's "Blocks" section: the document's own blocks, then the built-in library (GET
 * /api/blocks). Double-click (or Enter) adds a call; a library block is copied into the document.
 */
function BlocksSection({ query, center }: { query: string; center: () => { x: number; y: number } }) {
  const store = useDocumentStore();
  const blocks = useEditor((s) => s.blocks);
  const [library, setLibrary] = useState<LibraryBlock[]>([]);
  const [closed, setClosed] = useState(false);
  useEffect(() => {
    const ctrl = new AbortController();
    getBlockLibrary(ctrl.signal).then(setLibrary, () => {});
    return () => ctrl.abort();
  }, []);
  const q = query.trim().toLowerCase();
  const match = (name: string, text: string) => !q || name.toLowerCase().includes(q) || text.toLowerCase().includes(q) || "blocks".includes(q);
  const own = Object.entries(blocks ?? {}).filter(([name, def]) => match(name, String((def as { description?: string }).description ?? "")));
  const lib = library.filter((b) => match(b.name, `${b.title} ${b.description}`));
  if (!own.length && !lib.length) return null;
  const item = (key: string, name: string, doc: string, add: () => void) => (
    <div
      key={key}
      className="ll-palette-item ll-cat-blocks"
      tabIndex={0}
      role="button"
      onDoubleClick={add}
      onKeyDown={(e) => e.key === "Enter" && add()}
      title={`${doc}\n\nDouble-click to add a call of this block.`}
      data-testid={`palette-block-${key}`}
    >
      <div className="ll-palette-name">
        <span className="ll-node-dot" />
        {name}
      </div>
      <div className="ll-palette-doc">{doc}</div>
    </div>
  );
  return (
    <section className="ll-palette-group">
      <button type="button" className="ll-group-head" aria-expanded={!closed} onClick={() => setClosed(!closed)}>
        <span className={`ll-caret ${closed ? "is-closed" : ""}`} aria-hidden>
          ▾
        </span>
        Blocks
        <span className="ll-group-count">{own.length + lib.length}</span>
      </button>
      {!closed && (
        <>
          {own.map(([name, def]) =>
            item(name, name, String((def as { description?: string }).description || "A block of this graph."), () =>
              dispatch(store, "addBlockCall", { name, position: center() }),
            ),
          )}
          {lib.map((b) =>
            item(`lib-${b.name}`, b.title || b.name, b.description, () =>
              dispatch(store, "addBlockCall", { name: b.name, def: b.block, args: b.example.args, position: center() }),
            ),
          )}
        </>
      )}
    </section>
  );
}
