/** The login page of token auth mode: user name and password; the server sets the session cookie. */

import { useState, type FormEvent } from "react";
import { logIn } from "../api/account";

export function LoginPage({ onLoggedIn }: { onLoggedIn: () => void }) {
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await logIn(username, password);
      onLoggedIn();
    } catch (err) {
      setError((err as Error).message);
      setPassword("");
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="ll-splash">
      <form className="ll-login" onSubmit={submit} aria-label="Log in" data-testid="login-form">
        <div className="ll-splash-title">Log in to Layerloom</div>
        <label className="ll-field-label" htmlFor="login-user">User name</label>
        <input id="login-user" className="ll-input" autoComplete="username" value={username} autoFocus required
          maxLength={100} onChange={(e) => setUsername(e.target.value)} data-testid="login-user" />
        <label className="ll-field-label" htmlFor="login-password">Password</label>
        <input id="login-password" className="ll-input" type="password" autoComplete="current-password" value={password}
          required maxLength={1000} onChange={(e) => setPassword(e.target.value)} data-testid="login-password" />
        {error && <div className="ll-field-msg" role="alert" data-testid="login-error">{error}</div>}
        <button type="submit" className="ll-btn ll-btn-primary" disabled={busy || !username || !password} data-testid="login-submit">
          {busy ? "Logging in…" : "Log in"}
        </button>
        <div className="ll-field-hint">Accounts are made by the server's operator (<span className="ll-mono">layerloom user create NAME</span>).</div>
      </form>
    </div>
  );
}
