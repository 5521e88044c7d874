"""Errors answered in NetValve's two shapes: a 400 array of field errors, or one status object."""

from __future__ import annotations

from dataclasses import dataclass

from netvalve_sandbox.codes import MESSAGES, code_type


@dataclass(frozen=True)
class FieldError:
    code: str
    field: str
    detail: str | None = None

    def body(self) -> dict[str, str]:
        message = f"Validation error for field = {self.field}  Message:- {self.detail or MESSAGES[self.code]}"
        return {
            "responseCode": self.code,
            "responseMessage": message,
            "responseCodeType": code_type(self.code),
        }


class ValidationFailed(Exception):
    """Request fields are invalid: HTTP 400 with a JSON array, nothing is recorded."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__(", ".join(error.code for error in errors))
        self.errors = errors


class Refused(Exception):
    """The gateway refuses the operation without recording a transaction: one status object."""

    def __init__(self, code: str, status_code: int = 200) -> None:
        super().__init__(code)
        self.code = code
        self.status_code = status_code
