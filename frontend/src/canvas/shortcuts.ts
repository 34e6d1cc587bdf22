/** Keyboard shortcuts, read from the command registry (state/commands.ts). */

import { useEffect } from "react";
import { appCommands, commandForKeys, dispatch, docCommands, eventKeys, type AppCommandName, type DocCommandName } from "../state/commands";
import type { DocumentStore } from "../state/documentStore";
import type { ViewApi } from "./viewApi";

function isEditable(target: EventTarget | null): boolean {
  if (!(target instanceof HTMLElement)) return false;
  const tag = target.tagName;
  return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || target.isContentEditable;
}

/** Run the command bound to a key combination; returns whether one ran. */
export function runShortcut(store: DocumentStore, view: Pick<ViewApi, "fitView">, keys: string): boolean {
  const binding = commandForKeys(keys);
  if (!binding) return false;
  if (binding.name in appCommands) {
    const cmd = appCommands[binding.name as AppCommandName];
    if ("enabled" in cmd && !cmd.enabled(store.getState(), store)) return true;
    cmd.run({ store, fitView: () => view.fitView() });
    return true;
  }
  const name = binding.name as DocCommandName;
  (dispatch as (s: DocumentStore, n: DocCommandName, a?: unknown) => boolean)(store, name, undefined);
  return name in docCommands;
}

export function useShortcuts(store: DocumentStore, view: Pick<ViewApi, "fitView">): void {
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.defaultPrevented || isEditable(e.target)) return;
      // Let the browser copy text the user selected in a panel.
      if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === "c" && window.getSelection()?.toString()) return;
      // A dialog is open: shortcuts belong to it.
      if (document.querySelector(".ll-modal")) return;
      if (runShortcut(store, view, eventKeys(e))) e.preventDefault();
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [store, view]);
}
