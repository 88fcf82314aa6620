"""Looking at and resetting the mock's state, for the admin API and the CLI.

Vaults are shown with the masked card (first six and last four digits), never
the sealed number, and as inquireVaulting would answer: a 3DS challenge left
open past its time is failed before it is read, so the admin API, the CLI, the
dashboard and inquireVaulting agree even while the dispatcher has not run.
Reset deletes recorded state (vaults, the journal and every
other per-client table) and keeps registered clients, keys and the clock.
"""
from __future__ import annotations

from .clock import iso
from .store import loads

VAULT_STATUSES = ("SUCCESS", "FAIL", "PROCESSING")


class StateError(Exception):
    """code: NOT_FOUND | CONFLICT | BAD_REQUEST; message names what is wrong."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


def _iso(epoch: float | None) -> str | None:
    return None if epoch is None else iso(epoch)


def describe_vault(row) -> dict:
    """A vault as the admin API shows it. No full card number, no CVV (never stored)."""
    out = {
        "clientId": row["client_id"],
        "vaultingRequestId": row["vaulting_request_id"],
        "status": row["status"],
        "result": {"resultStatus": row["result_status"], "resultCode": row["result_code"],
                   "resultMessage": row["result_message"]},
        "vaultingResultCode": row["vaulting_result_code"],
        "vaultingResultMessage": row["vaulting_result_message"],
        "source": row["source"],
        "card": {"masked": row["card_masked"], "brand": row["brand"], "fingerprint": row["card_fingerprint"]},
        "cardToken": row["card_token"],
        "paymentMethodDetail": loads(row["payment_method_detail"]),
        "notificationUrl": row["notification_url"],
        "redirectUrl": row["redirect_url"],
        "metadata": row["metadata"],
        "challenge": None,
        "createdAt": _iso(row["created_at"]),
        "updatedAt": _iso(row["updated_at"]),
    }
    if row["challenge_id"]:
        out["challenge"] = {"id": row["challenge_id"], "expiresAt": _iso(row["challenge_expires_at"]),
                            "urls": loads(row["urls"])}
    return out


class State:
    def __init__(self, store, clients, vaulting):
        self.store = store
        self.clients = clients
        self.vaulting = vaulting

    def vaults(self, client_id: str | None = None, status: str | None = None, limit: int = 100,
               offset: int = 0) -> list[dict]:
        if status is not None and status not in VAULT_STATUSES:
            raise StateError("BAD_REQUEST", f"status must be one of {', '.join(VAULT_STATUSES)}")
        self.vaulting.expire_challenges()
        rows = self.store.list_vaults(client_id=client_id, status=status, limit=limit, offset=offset)
        return [describe_vault(r) for r in rows]

    def vault(self, vaulting_request_id: str, client_id: str | None = None) -> dict:
        if client_id is not None:
            row = self.store.get_vault(client_id, vaulting_request_id)
            if row is None:
                raise StateError("NOT_FOUND", f"client {client_id!r} has no vault {vaulting_request_id!r}")
            return describe_vault(self.vaulting.expire_if_due(row))
        rows = self.store.find_vaults(vaulting_request_id)
        if not rows:
            raise StateError("NOT_FOUND", f"no vault {vaulting_request_id!r}")
        if len(rows) > 1:
            owners = ", ".join(r["client_id"] for r in rows)
            raise StateError("CONFLICT", f"vaultingRequestId {vaulting_request_id!r} is used by several clients "
                                         f"({owners}); name one with clientId")
        return describe_vault(self.vaulting.expire_if_due(rows[0]))

    def reset(self, client_id: str | None = None) -> dict:
        """Everything (client_id None) or one registered client's state."""
        if client_id is not None and self.clients.get(client_id) is None:
            raise StateError("NOT_FOUND", f"no client {client_id!r}")
        deleted = self.store.reset_state(client_id)
        return {"reset": "all" if client_id is None else client_id, "deleted": deleted}
