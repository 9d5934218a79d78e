"""Provisioning test accounts on a PDS that allows ``createAccount`` (open or invite-gated).

Handles are random (``conform-<random>-a.<domain>``, ``...-b...``) so runs never collide;
passwords are strong random strings registered with the Redactor before they are sent.
A failure raises ``XrpcCallFailed``: the harness could not set up, it is not a verdict.
"""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass, field

from conformance.clients.pds import PdsClient
from conformance.redact import Redactor

_ALPHABET = string.ascii_lowercase + string.digits


@dataclass(frozen=True)
class AccountCredentials:
    """An account the harness can log in as. ``repr`` never shows the password."""

    handle: str
    did: str
    password: str = field(repr=False)

    def __repr__(self) -> str:
        return (
            f"AccountCredentials(handle={self.handle!r}, did={self.did!r}, password='[redacted]')"
        )


def _suffix(index: int) -> str:
    """a, b, ..., z, aa, ab, ... (spreadsheet-style column names)."""
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = string.ascii_lowercase[rem] + letters
    return letters


def random_handles(count: int, handle_domain: str, *, run_id: str | None = None) -> list[str]:
    domain = handle_domain.strip().strip(".").lower()
    if not domain:
        raise ValueError("handle_domain must not be empty")
    run = run_id or "".join(secrets.choice(_ALPHABET) for _ in range(8))
    return [f"conform-{run}-{_suffix(i)}.{domain}" for i in range(count)]


def strong_password() -> str:
    return secrets.token_urlsafe(24)


def provision_accounts(
    pds: PdsClient,
    count: int,
    handle_domain: str,
    invite_code: str | None,
    redactor: Redactor,
    *,
    email_domain: str | None = None,
) -> list[AccountCredentials]:
    """Create ``count`` fresh accounts; ``email_domain`` adds an e-mail (real PDSes want one)."""
    if count < 0:
        raise ValueError("count must not be negative")
    redactor.add(invite_code)
    accounts: list[AccountCredentials] = []
    for handle in random_handles(count, handle_domain):
        password = strong_password()
        redactor.add(password)
        email = f"{handle.split('.', 1)[0]}@{email_domain}" if email_domain else None
        session = pds.signup(handle, password, email=email, invite_code=invite_code)
        accounts.append(
            AccountCredentials(handle=session.handle, did=session.did, password=password)
        )
    return accounts
