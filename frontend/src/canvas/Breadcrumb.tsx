/**
 * Where the canvas is: the document, or a block opened in place through a chain of calls. Each
 * crumb goes back up to its level (Escape goes up one).
 */

import { breadcrumb } from "../domain/scope";
import { dispatch } from "../state/commands";
import { useDocumentStore, useEditor } from "../state/EditorProvider";
import "./blocks.css";

export function Breadcrumb() {
  const store = useDocumentStore();
  const scope = useEditor((s) => s.scope);
  const name = useEditor((s) => s.meta.name);
  if (!scope) return null;
  const crumbs = breadcrumb(name, scope);
  return (
    <nav className="ll-breadcrumb" aria-label="Open block" data-testid="breadcrumb">
      {crumbs.map((c, i) => (
        <span key={c.depth} className="ll-crumb-item">
          {i > 0 && <span className="ll-crumb-sep" aria-hidden>›</span>}
          {i < crumbs.length - 1 ? (
            <button type="button" className="ll-crumb" onClick={() => dispatch(store, "closeBlock", c.depth)} data-testid={`crumb-${c.depth}`}>
              {c.label}
            </button>
          ) : (
            <span className="ll-crumb is-current" data-testid={`crumb-${c.depth}`} aria-current="location">
              {c.label}
            </span>
          )}
        </span>
      ))}
      <span className="ll-crumb-hint">editing the block: every call of it changes · Esc goes back</span>
    </nav>
  );
}
