/**
 * The sign-in gate: asks /api/me who we are. In token mode without a valid session that is a 401,
 * and the login page is shown instead of the editor (also when a session ends later: any 401 from
 * the API makes the gate ask again). Logging in reloads the page, so nothing of a previous user's
 * session stays in memory; logging out drops the browser's draft.
 */

import { useCallback, useEffect, useMemo, useState, type ReactNode } from "react";
import { getMe, logOut, type Me } from "../api/account";
import { ApiError, UNAUTHORIZED_EVENT } from "../api/client";
import { forgetDraft, keepDraftFor, type Account } from "./account";
import { LoginPage } from "./LoginPage";

type State = { kind: "checking" } | { kind: "login" } | { kind: "in"; me: Me } | { kind: "error"; message: string };

export function useSignIn(): { account: Account | null; view: ReactNode | null } {
  const [state, setState] = useState<State>({ kind: "checking" });
  const [attempt, setAttempt] = useState(0);

  useEffect(() => {
    const ctrl = new AbortController();
    getMe(ctrl.signal).then(
      (me) => {
        keepDraftFor(me.id);
        setState({ kind: "in", me });
      },
      (e) => {
        if (ctrl.signal.aborted) return;
        setState(e instanceof ApiError && e.status === 401 ? { kind: "login" } : { kind: "error", message: (e as Error).message });
      },
    );
    return () => ctrl.abort();
  }, [attempt]);

  useEffect(() => {
    const again = () => setAttempt((n) => n + 1);
    window.addEventListener(UNAUTHORIZED_EVENT, again);
    return () => window.removeEventListener(UNAUTHORIZED_EVENT, again);
  }, []);

  const refresh = useCallback(() => {
    getMe().then((me) => setState({ kind: "in", me }), () => undefined);
  }, []);
  const signOut = useCallback(() => {
    logOut().finally(() => {
      setState({ kind: "login" }); // unmounts the editor (its autosave stops) ...
      setTimeout(forgetDraft, 0); // ... then its draft goes
    });
  }, []);
  const me = state.kind === "in" ? state.me : null;
  const account = useMemo(() => (me ? { me, refresh, logOut: signOut } : null), [me, refresh, signOut]);

  if (state.kind === "checking") return { account: null, view: <div className="ll-splash ll-muted">Signing in…</div> };
  if (state.kind === "login") return { account: null, view: <LoginPage onLoggedIn={() => window.location.reload()} /> };
  if (state.kind === "error") {
    return {
      account: null,
      view: (
        <div className="ll-splash">
          <div className="ll-splash-title">Layerloom cannot reach its server</div>
          <div className="ll-muted">{state.message}</div>
          <button type="button" className="ll-btn ll-btn-primary" onClick={() => setAttempt(attempt + 1)}>
            Try again
          </button>
        </div>
      ),
    };
  }
  return { account, view: null };
}
