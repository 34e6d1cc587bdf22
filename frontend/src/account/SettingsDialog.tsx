/**
 * Settings: who you are, your quotas with their current use, your API tokens (made here, shown
 * once, revoked here), and for admins the users, who can be disabled and given their own quotas.
 * Log out is here too.
 */

import { useCallback, useEffect, useState } from "react";
import {
  createToken, inputUnit, listTokens, listUsers, overrideText, parseOverride, quotaText, revokeToken,
  setUserDisabled, setUserQuotas, type AdminUser, type Quota, type TokenInfo,
} from "../api/account";
import { Modal } from "../panels/dialogs";
import { useAccount } from "./account";

function when(iso: string | null): string {
  if (!iso) return "never";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

export function QuotaTable({ quotas }: { quotas: Quota[] }) {
  return (
    <table className="ll-table" data-testid="quota-table">
      <tbody>
        {quotas.map((q) => (
          <tr key={q.name} data-testid={`quota-${q.name}`}>
            <td>{q.description}</td>
            <td className="ll-mono ll-muted">{q.name}</td>
            <td className="ll-num">{quotaText(q)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Tokens() {
  const [tokens, setTokens] = useState<TokenInfo[] | null>(null);
  const [name, setName] = useState("");
  const [shown, setShown] = useState<{ name: string; token: string } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const load = useCallback(() => {
    listTokens().then(setTokens, (e) => setError((e as Error).message));
  }, []);
  useEffect(load, [load]);

  const create = async () => {
    setError(null);
    try {
      const made = await createToken(name.trim());
      setShown({ name: made.name ?? "", token: made.token });
      setName("");
      load();
    } catch (e) {
      setError((e as Error).message);
    }
  };
  const revoke = async (id: string) => {
    setError(null);
    try {
      await revokeToken(id);
      load();
    } catch (e) {
      setError((e as Error).message);
    }
  };

  return (
    <div className="ll-section" data-testid="tokens">
      <div className="ll-section-title">API tokens</div>
      <div className="ll-field-hint">For scripts and the Python client: send <span className="ll-mono">Authorization: Bearer TOKEN</span>.</div>
      <div className="ll-row">
        <input className="ll-input" placeholder="What is it for? (e.g. laptop)" value={name} maxLength={100}
          onChange={(e) => setName(e.target.value)} data-testid="token-name" />
        <button type="button" className="ll-btn ll-btn-primary ll-nowrap" disabled={!name.trim()} onClick={create} data-testid="token-create">
          Create token
        </button>
      </div>
      {shown && (
        <div className="ll-warning" data-testid="token-shown">
          Your new token {shown.name && <b>{shown.name}</b>}. Copy it now: it is not shown again.
          <div className="ll-mono ll-token-value" data-testid="token-value">{shown.token}</div>
        </div>
      )}
      {error && <div className="ll-field-msg" role="alert">{error}</div>}
      {tokens && tokens.length === 0 && <div className="ll-muted">No tokens yet.</div>}
      {tokens && tokens.length > 0 && (
        <table className="ll-table">
          <tbody>
            {tokens.map((t) => (
              <tr key={t.id} data-testid="token-row">
                <td>{t.name ?? <span className="ll-muted">(unnamed)</span>}</td>
                <td className="ll-muted">made {when(t.created_at)}</td>
                <td className="ll-muted">used {when(t.last_used_at)}</td>
                <td>
                  <button type="button" className="ll-btn ll-btn-small ll-btn-danger" onClick={() => revoke(t.id)} data-testid="token-revoke">
                    Revoke
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}

/** One user's quota overrides: an empty field is the server's setting, 0 is no limit. */
function QuotaEditor({ user, onSaved }: { user: AdminUser; onSaved: () => void }) {
  const [texts, setTexts] = useState<Record<string, string>>(() =>
    Object.fromEntries(user.quotas.map((q) => [q.name, overrideText(q, user.quota_overrides)])));
  const [error, setError] = useState<string | null>(null);
  const [saving, setSaving] = useState(false);
  const save = async () => {
    const quotas: Record<string, number | null> = {};
    for (const q of user.quotas) {
      const parsed = parseOverride(q, texts[q.name] ?? "");
      if ("error" in parsed) {
        setError(parsed.error);
        return;
      }
      quotas[q.name] = parsed.value;
    }
    setError(null);
    setSaving(true);
    try {
      await setUserQuotas(user.id, quotas);
      onSaved();
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setSaving(false);
    }
  };
  return (
    <div className="ll-quota-editor" data-testid={`quota-editor-${user.name}`}>
      <div className="ll-field-hint">
        Leave a field empty for the server's setting; 0 means no limit. Changes apply to {user.name}'s next job or upload.
      </div>
      <table className="ll-table">
        <tbody>
          {user.quotas.map((q) => (
            <tr key={q.name}>
              <td><label htmlFor={`quota-${user.id}-${q.name}`}>{q.description}</label></td>
              <td className="ll-nowrap">
                <input id={`quota-${user.id}-${q.name}`} className="ll-input ll-input-quota" inputMode="decimal"
                  placeholder="setting" value={texts[q.name] ?? ""} data-testid={`quota-input-${q.name}`}
                  onChange={(e) => setTexts({ ...texts, [q.name]: e.target.value })} /> {inputUnit(q)}
              </td>
              <td className="ll-muted" data-testid={`quota-now-${q.name}`}>now {quotaText(q)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {error && <div className="ll-field-msg" role="alert" data-testid="quota-error">{error}</div>}
      <div className="ll-row">
        <span className="ll-spacer" />
        <button type="button" className="ll-btn ll-btn-primary" disabled={saving} onClick={save} data-testid="quota-save">
          Save quotas
        </button>
      </div>
    </div>
  );
}

function Users({ selfId }: { selfId: string }) {
  const [users, setUsers] = useState<AdminUser[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [editing, setEditing] = useState<string | null>(null);
  const load = useCallback(() => {
    listUsers().then(setUsers, (e) => setError((e as Error).message));
  }, []);
  useEffect(load, [load]);
  const toggle = async (u: AdminUser) => {
    setError(null);
    try {
      await setUserDisabled(u.id, !u.disabled);
      load();
    } catch (e) {
      setError((e as Error).message);
    }
  };
  return (
    <div className="ll-section" data-testid="admin-users">
      <div className="ll-section-title">Users (admin)</div>
      {error && <div className="ll-field-msg" role="alert">{error}</div>}
      {users && (
        <table className="ll-table">
          <tbody>
            {users.map((u) => {
              const running = u.quotas.find((q) => q.name === "max_running_jobs");
              const stored = u.quotas.find((q) => q.name === "max_stored_bytes");
              const overridden = Object.keys(u.quota_overrides).length;
              return [
                <tr key={u.id} data-testid={`user-${u.name}`}>
                  <td>
                    <b>{u.name}</b> {u.is_admin && <span className="ll-chip">admin</span>} {u.disabled && <span className="ll-chip">disabled</span>}
                  </td>
                  <td className="ll-muted">{running && `running ${quotaText(running)}`}</td>
                  <td className="ll-muted">{stored && `stored ${quotaText(stored)}`}</td>
                  <td className="ll-nowrap">
                    <button type="button" className="ll-btn ll-btn-small" aria-expanded={editing === u.id}
                      onClick={() => setEditing(editing === u.id ? null : u.id)} data-testid={`user-quotas-${u.name}`}>
                      Quotas{overridden ? ` (${overridden} set)` : ""}
                    </button>{" "}
                    {u.id !== selfId && (
                      <button type="button" className={`ll-btn ll-btn-small ${u.disabled ? "" : "ll-btn-danger"}`} onClick={() => toggle(u)}
                        data-testid={`user-toggle-${u.name}`}>
                        {u.disabled ? "Enable" : "Disable"}
                      </button>
                    )}
                  </td>
                </tr>,
                editing === u.id && (
                  <tr key={`${u.id}-quotas`}>
                    <td colSpan={4}>
                      <QuotaEditor key={JSON.stringify(u.quota_overrides)} user={u} onSaved={load} />
                    </td>
                  </tr>
                ),
              ];
            })}
          </tbody>
        </table>
      )}
    </div>
  );
}

export function SettingsDialog({ onClose }: { onClose: () => void }) {
  const account = useAccount();
  const refresh = account?.refresh;
  useEffect(() => refresh?.(), [refresh]); // the quotas' use as of now
  if (!account) return null;
  const { me } = account;
  return (
    <Modal title="Settings" onClose={onClose} wide testId="settings">
      <div className="ll-section">
        <div className="ll-row">
          <span>
            Signed in as <b data-testid="settings-user">{me.name}</b>
            {me.is_admin && <span className="ll-chip">admin</span>}
          </span>
          <span className="ll-spacer" />
          {me.auth_mode === "token" && (
            <button type="button" className="ll-btn" onClick={account.logOut} data-testid="logout">
              Log out
            </button>
          )}
        </div>
      </div>
      <div className="ll-section">
        <div className="ll-section-title">Quotas</div>
        <div className="ll-field-hint">
          Set by the server's operator, or by an admin for you alone. Over the running-jobs quota a new job {me.running_policy === "queue" ? "waits in the queue" : "is refused"}.
        </div>
        <QuotaTable quotas={me.quotas} />
      </div>
      <Tokens />
      {me.is_admin && <Users selfId={me.id} />}
    </Modal>
  );
}
