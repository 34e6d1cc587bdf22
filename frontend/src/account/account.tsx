/**
 * Who is signed in, for the header's account button and the settings dialog. App provides it once
 * /api/me has answered; in local mode the user is the machine's single local user.
 */

import { createContext, useContext } from "react";
import type { Me } from "../api/account";
import { DRAFT_KEY } from "../state/persistence";

export interface Account {
  me: Me;
  /** Reload who I am and my quotas (after a job or an upload). */
  refresh: () => void;
  logOut: () => void;
}

export const AccountContext = createContext<Account | null>(null);

export const useAccount = (): Account | null => useContext(AccountContext);

const DRAFT_OWNER_KEY = "layerloom.draft.owner";

/**
 * The browser's draft belongs to the user who wrote it: a different user signing in on the same
 * browser starts without it (it holds the other user's graph and its server id).
 */
export function keepDraftFor(userId: string): void {
  try {
    if (localStorage.getItem(DRAFT_OWNER_KEY) !== userId) {
      localStorage.removeItem(DRAFT_KEY);
      localStorage.setItem(DRAFT_OWNER_KEY, userId);
    }
  } catch {
    // no storage: there is no draft either
  }
}

export function forgetDraft(): void {
  try {
    localStorage.removeItem(DRAFT_KEY);
    localStorage.removeItem(DRAFT_OWNER_KEY);
  } catch {
    // no storage
  }
}
