/** Short messages (a refused wire, a save, an import error), shown briefly at the bottom. */

import { useEffect } from "react";
import { dispatch } from "../state/commands";
import { useDocumentStore, useEditor } from "../state/EditorProvider";

export function NoticeBar() {
  const store = useDocumentStore();
  const notice = useEditor((s) => s.notice);
  useEffect(() => {
    if (!notice) return;
    const t = setTimeout(() => {
      if (store.getState().notice?.id === notice.id) dispatch(store, "notify", null);
    }, notice.kind === "error" ? 6000 : 3500);
    return () => clearTimeout(t);
  }, [notice, store]);
  if (!notice) return null;
  return (
    <div className={`ll-notice is-${notice.kind}`} role="status" data-testid="notice">
      {notice.text}
      <button type="button" className="ll-icon-btn" aria-label="Dismiss" onClick={() => dispatch(store, "notify", null)}>
        ✕
      </button>
    </div>
  );
}
