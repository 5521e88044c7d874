"""Stored credentials: which payments with a gateway token the acquirer takes (`cit-mit-trans.md`).

A merchant-initiated payment (MIT) must refer to an approved customer-initiated one (CIT) on the same
token: the sale that created the token marked as the initial CIT (`recurringScheduleType: CIT_COF` or
`recurrenceMode: Initial`), or a later token sale with `credentialOnFileTransaction: CIT`. Without one the
MIT is declined `GTW_2081`, NetValve's own code for a recurring charge whose parent was not marked for it.
"""

from __future__ import annotations

from netvalve_sandbox.cards import Outcome
from netvalve_sandbox.state import GatewayToken, Ledger, Transaction
from netvalve_sandbox.validation import StoredCredential

MIT_WITHOUT_CIT = Outcome("GTW_2081")


def mit_refusal(ledger: Ledger, issued: GatewayToken | None, stored: StoredCredential) -> Outcome | None:
    """The decline of a merchant-initiated payment without an approved CIT to refer to, else None."""
    if stored.initiator != "MIT":
        return None
    reference = stored.initial_transaction_id
    if issued is None or reference is None or reference not in issued.cit_transaction_ids:
        return MIT_WITHOUT_CIT
    initial = ledger.transactions.get(reference)
    return None if initial is not None and initial.outcome.approved else MIT_WITHOUT_CIT


def record_cit(issued: GatewayToken | None, stored: StoredCredential, txn: Transaction) -> None:
    """Remember a customer-initiated payment on its token; whether it was approved is read when an MIT
    refers to it (a pending one may settle in between)."""
    if issued is not None and stored.initiator == "CIT":
        issued.cit_transaction_ids.append(txn.id)
