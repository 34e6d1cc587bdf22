/**
 * The keyboard-shortcut sheet, opened with "?" anywhere outside a text field. Its rows come from the
 * command registry (state/commands.ts), so a new shortcut appears here by being declared once.
 */

import { useEffect, useState } from "react";
import { keyLabel, shortcutBindings } from "../state/commands";
import { Modal } from "./dialogs";

/** Gestures that are not commands (React Flow's own), listed after the registry's shortcuts. */
const GESTURES: readonly [string, string][] = [
  ["Shift+drag", "Select several layers with a box"],
  ["Ctrl+click", "Add a layer to the selection"],
  ["Drag from an output into empty space", "Pick a layer to add there, wired"],
  ["Drop a layer onto a wire", "Insert it into the wire"],
  ["Double-click in the palette", "Add after the selected layer (or in the middle)"],
  ["?", "This sheet"],
];

function typingInField(target: EventTarget | null): boolean {
  return target instanceof HTMLElement && (["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName) || target.isContentEditable);
}

export function ShortcutSheet() {
  const [open, setOpen] = useState(false);
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.key !== "?" || e.ctrlKey || e.metaKey || e.altKey || typingInField(e.target)) return;
      if (document.querySelector(".ll-modal") && !open) return; // another dialog has the keyboard
      e.preventDefault();
      setOpen((v) => !v);
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [open]);
  if (!open) return null;
  const mac = /Mac|iPhone|iPad/.test(navigator.platform);
  return (
    <Modal title="Keyboard shortcuts" onClose={() => setOpen(false)} testId="shortcut-sheet">
      <table className="ll-shortcuts">
        <tbody>
          {shortcutBindings().map((b) => (
            <tr key={b.name} data-testid={`shortcut-${b.name}`}>
              <td>
                {b.keys.map((k) => (
                  <kbd key={k}>{keyLabel(k, mac)}</kbd>
                ))}
              </td>
              <td>{b.label}</td>
            </tr>
          ))}
          {GESTURES.map(([keys, what]) => (
            <tr key={keys}>
              <td>
                <kbd>{keys}</kbd>
              </td>
              <td>{what}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </Modal>
  );
}
