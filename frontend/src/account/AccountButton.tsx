/** The header's account button: the signed-in user's name; opens the settings dialog. */

import { useState } from "react";
import { useAccount } from "./account";
import { SettingsDialog } from "./SettingsDialog";
import { Icon } from "../panels/icons";

export function AccountButton() {
  const account = useAccount();
  const [open, setOpen] = useState(false);
  if (!account) return null;
  return (
    <>
      <button type="button" className="ll-tool has-text" onClick={() => setOpen(true)} title="Settings: account, quotas, API tokens"
        aria-label="Settings" data-testid="account">
        <Icon name="user" />
        {account.me.name}
      </button>
      {open && <SettingsDialog onClose={() => setOpen(false)} />}
    </>
  );
}
