"""Every call the service makes to NetValve, named once: the gateway's metrics and the ledger's rows use
this one ``Operation``."""

from __future__ import annotations

from enum import StrEnum
from typing import Final


class Operation(StrEnum):
    INITIALIZE_HPF_SESSION = "initialize_hpf_session"
    SALE = "sale"
    AUTHORIZE = "authorize"
    CAPTURE = "capture"
    REFUND = "refund"
    CANCEL = "cancel"
    INQUIRY = "inquiry"
    GET_TRANSACTION = "get_transaction"
    GET_ORDER = "get_order"
    CREATE_HPP_ORDER = "create_hpp_order"
    BACKOFFICE_SIGN_IN = "backoffice_sign_in"
    BACKOFFICE_HPF_SCRIPTS = "backoffice_hpf_scripts"
    THREEDS_INITIALIZE = "threeds_initialize"
    THREEDS_AUTHENTICATE = "threeds_authenticate"
    THREEDS_RESULT = "threeds_result"
    CREATE_TOKEN = "create_token"  # noqa: S105 (an operation, not a credential)


# Calls that may move money or create state at NetValve: never re-sent once sent.
MUTATING_OPERATIONS: Final = frozenset(
    {
        Operation.SALE,
        Operation.AUTHORIZE,
        Operation.CAPTURE,
        Operation.REFUND,
        Operation.CANCEL,
        Operation.CREATE_HPP_ORDER,
        Operation.CREATE_TOKEN,
    }
)
