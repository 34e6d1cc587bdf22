/**
 * Form fields generated from a JSON Schema property (domain/schemaForm.ts). Text-like fields keep a
 * draft while typing and commit on Enter or blur — one undo entry per edit, not per keystroke; an
 * invalid draft stays in the field with its message and is not committed. Number fields also apply
 * valid values while typing (debounced, through `onLive`), so shapes update before Enter or blur;
 * the live steps of one focus are one gesture (the first recorded, the rest amend it).
 */

import { useEffect, useId, useRef, useState, type ReactNode } from "react";
import {
  defaultLabel,
  formatFieldText,
  parseFieldText,
  validateValue,
  type FieldSpec,
} from "../domain/schemaForm";

export interface FieldProps {
  field: FieldSpec;
  /** The node's own value (undefined: not set, the default applies). */
  value: unknown;
  onCommit: (value: unknown) => void;
  /** Apply a valid value while typing (number fields); `first` is true for the first step of a focus. */
  onLive?: (value: unknown, first: boolean) => void;
  /** A message from the compiler about this field. */
  serverMessage?: string;
  disabled?: boolean;
}

export function Field(props: FieldProps) {
  const { field } = props;
  switch (field.kind) {
    case "enum":
      return <EnumField {...props} />;
    case "boolean":
      return <BooleanField {...props} />;
    case "enumList":
      return <EnumListField {...props} />;
    default:
      return <TextField {...props} />;
  }
}

function Row({ field, htmlFor, message, children, hint }: { field: FieldSpec; htmlFor?: string; message?: string | null; children: ReactNode; hint?: string }) {
  return (
    <div className={`ll-field ${message ? "has-error" : ""}`} data-testid={`field-${field.name}`}>
      <label className="ll-field-label" htmlFor={htmlFor} title={field.description}>
        {field.title}
        {field.required && <span className="ll-required" aria-label="required">*</span>}
      </label>
      {children}
      {message ? (
        <div className="ll-field-msg" role="alert" data-testid={`field-error-${field.name}`}>
          {message}
        </div>
      ) : (
        (hint ?? field.description) && <div className="ll-field-hint">{hint ?? field.description}</div>
      )}
    </div>
  );
}

/** How long typing must pause before a number field applies its value live. */
export const LIVE_DELAY_MS = 250;

function TextField({ field, value, onCommit, onLive, serverMessage, disabled }: FieldProps) {
  const id = useId();
  const shown = formatFieldText(value);
  const [draft, setDraft] = useState(shown);
  const [message, setMessage] = useState<string | null>(null);
  useEffect(() => {
    setDraft(shown);
    setMessage(null);
  }, [shown]);

  const check = (text: string): { ok: true; value: unknown } | { ok: false; message: string } => {
    const parsed = parseFieldText(field, text);
    if (!parsed.ok) return parsed;
    if (parsed.value === undefined) return field.required && !field.hasDefault ? { ok: false, message: "Required." } : parsed;
    const problem = validateValue(field.schema, parsed.value);
    return problem ? { ok: false, message: problem } : parsed;
  };
  const numeric = field.kind === "integer" || field.kind === "number";
  const live = useRef<{ timer: ReturnType<typeof setTimeout> | null; started: boolean }>({ timer: null, started: false });
  const stopLive = () => {
    if (live.current.timer) clearTimeout(live.current.timer);
    live.current = { timer: null, started: false };
  };
  useEffect(() => stopLive, []);
  const scheduleLive = (text: string) => {
    if (!numeric || !onLive) return;
    if (live.current.timer) clearTimeout(live.current.timer);
    live.current.timer = setTimeout(() => {
      live.current.timer = null;
      const r = check(text);
      if (!r.ok || r.value === undefined) return;
      onLive(r.value, !live.current.started);
      live.current.started = true;
    }, LIVE_DELAY_MS);
  };
  const commit = () => {
    const amend = live.current.started;
    stopLive();
    if (draft === shown) return setMessage(null);
    const r = check(draft);
    if (!r.ok) return setMessage(r.message);
    setMessage(null);
    if (amend && onLive) onLive(r.value, false);
    else onCommit(r.value);
  };
  return (
    <Row field={field} htmlFor={id} message={message ?? serverMessage}>
      <input
        id={id}
        className="ll-input"
        type="text"
        inputMode={numeric ? "decimal" : "text"}
        value={draft}
        placeholder={defaultLabel(field)}
        disabled={disabled}
        spellCheck={false}
        onChange={(e) => {
          setDraft(e.target.value);
          // Say what is wrong while typing, but only commit on Enter or blur.
          const r = check(e.target.value);
          setMessage(r.ok ? null : r.message);
          if (r.ok) scheduleLive(e.target.value);
        }}
        onBlur={commit}
        onKeyDown={(e) => {
          if (e.key === "Enter") commit();
          if (e.key === "Escape") {
            setDraft(shown);
            setMessage(null);
          }
        }}
        data-testid={`param-${field.name}`}
      />
    </Row>
  );
}

function EnumField({ field, value, onCommit, serverMessage, disabled }: FieldProps) {
  const id = useId();
  const current = value === undefined ? field.default : value;
  return (
    <Row field={field} htmlFor={id} message={serverMessage}>
      <select
        id={id}
        className="ll-input"
        value={current === undefined ? "" : String(current)}
        disabled={disabled}
        onChange={(e) => onCommit(field.options?.find((o) => String(o) === e.target.value))}
        data-testid={`param-${field.name}`}
      >
        {current === undefined && <option value="">— choose —</option>}
        {field.options?.map((o) => (
          <option key={String(o)} value={String(o)}>
            {String(o)}
            {field.hasDefault && o === field.default ? " (default)" : ""}
          </option>
        ))}
      </select>
    </Row>
  );
}

function BooleanField({ field, value, onCommit, serverMessage, disabled }: FieldProps) {
  const id = useId();
  const checked = Boolean(value === undefined ? field.default : value);
  return (
    <div className={`ll-field ll-field-check ${serverMessage ? "has-error" : ""}`} data-testid={`field-${field.name}`}>
      <label className="ll-check" htmlFor={id} title={field.description}>
        <input id={id} type="checkbox" checked={checked} disabled={disabled} onChange={(e) => onCommit(e.target.checked)} data-testid={`param-${field.name}`} />
        {field.title}
      </label>
      {serverMessage ? <div className="ll-field-msg">{serverMessage}</div> : field.description && <div className="ll-field-hint">{field.description}</div>}
    </div>
  );
}

function EnumListField({ field, value, onCommit, serverMessage, disabled }: FieldProps) {
  const list = Array.isArray(value) ? (value as unknown[]) : Array.isArray(field.default) ? (field.default as unknown[]) : [];
  const toggle = (o: unknown) => {
    const next = list.includes(o) ? list.filter((x) => x !== o) : [...list, o];
    // keep the catalog's order, so the document does not depend on click order
    onCommit((field.options ?? []).filter((x) => next.includes(x)));
  };
  return (
    <Row field={field} message={serverMessage}>
      <div className="ll-chips" role="group" aria-label={field.title}>
        {field.options?.map((o) => (
          <button
            key={String(o)}
            type="button"
            className={`ll-chip-toggle ${list.includes(o) ? "is-on" : ""}`}
            aria-pressed={list.includes(o)}
            disabled={disabled}
            onClick={() => toggle(o)}
            data-testid={`param-${field.name}-${String(o)}`}
          >
            {String(o)}
          </button>
        ))}
      </div>
    </Row>
  );
}
