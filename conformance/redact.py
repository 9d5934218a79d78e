"""Redaction of secrets from anything the harness writes down (H-REP-01).

Two layers: *structural* rules (header names, JSON keys, form fields and URL query parameters
that always hold secrets, JWT-shaped strings) and a *registry* of the exact secret values the run
has learnt (passwords, tokens, codes, proofs). Every function returns a new value; inputs are
never modified.

``Redactor(ledger_path)`` also appends each newly registered secret to ``ledger_path`` (one per
line) so the project's tests can grep a run's artifacts for them; the CLI passes
``os.environ.get("ATCONFORM_SECRET_LEDGER")``.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus, unquote_plus, urlsplit, urlunsplit

REDACTED = "[redacted]"
MIN_SECRET_LENGTH = 6

SECRET_HEADERS = frozenset(
    {"authorization", "dpop", "cookie", "set-cookie", "proxy-authorization", "x-api-key"}
)

# JSON keys, form fields and query parameters whose values are secrets; compared
# case-insensitively. JSON keys named like a SECRET_HEADERS entry (echoed headers) count too.
SECRET_KEYS = frozenset(
    name.lower()
    for name in (
        "password",
        "newPassword",
        "accessJwt",
        "refreshJwt",
        "access_token",
        "refresh_token",
        "id_token",
        "token",
        "code",
        "code_verifier",
        "client_assertion",
        "client_secret",
        "appPassword",
        "privateKey",
        "private_key",
        "secret",
    )
)

# "code" is an OAuth authorization code in forms and query strings, but in JSON bodies it is
# an error code (OCI error bodies: {"errors": [{"code": "BLOB_UNKNOWN"}]}); authorization codes
# seen in JSON are still caught by value, as every code the harness learns is registered.
JSON_SECRET_KEYS = SECRET_KEYS - {"code"}

# Private members of a JWK (RFC 7518 §6.2.2, §6.3.2, §6.4.1); only redacted inside JWK-shaped
# objects so that a record field called "d" or "k" is left alone.
JWK_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})

_JWT = re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")


def _looks_like_jwk(obj: dict[str, Any]) -> bool:
    return "kty" in obj or ("crv" in obj and "x" in obj)


class Redactor:
    """A run's registry of secret values plus the redaction rules. Thread-safe."""

    def __init__(self, ledger_path: Path | str | os.PathLike[str] | None = None) -> None:
        self._lock = threading.Lock()
        self._originals: set[str] = set()
        self._values: set[str] = set()  # originals plus their encoded forms
        self._ordered: tuple[str, ...] = ()  # longest first, for replacement
        self._ledger = Path(ledger_path) if ledger_path else None

    def __repr__(self) -> str:
        return f"Redactor({len(self._originals)} secrets)"

    # --- registry ---------------------------------------------------------------------------

    def add(self, secret: str | None) -> None:
        """Register a secret value (and its URL- and JSON-encoded spellings).

        ``None``, empty strings and strings shorter than 6 characters are ignored: redacting
        them everywhere would shred unrelated text.
        """
        if not secret or len(secret) < MIN_SECRET_LENGTH:
            return
        forms = {
            secret,
            quote(secret, safe=""),
            quote_plus(secret, safe=""),
            json.dumps(secret)[1:-1],
        }
        with self._lock:
            if secret in self._originals:
                return
            self._originals.add(secret)
            self._values.update(f for f in forms if len(f) >= MIN_SECRET_LENGTH)
            self._ordered = tuple(sorted(self._values, key=len, reverse=True))
            if self._ledger is not None:
                with self._ledger.open("a", encoding="utf-8") as ledger:
                    ledger.write(secret.replace("\n", " ") + "\n")

    def add_all(self, secrets: Iterable[str | None]) -> None:
        for secret in secrets:
            self.add(secret)

    def __contains__(self, value: object) -> bool:
        with self._lock:
            return value in self._originals

    def known_values(self) -> tuple[str, ...]:
        """Every registered spelling, longest first (for scrubbing files after a run)."""
        with self._lock:
            return self._ordered

    # --- rules ------------------------------------------------------------------------------

    def text(self, value: str) -> str:
        """Replace every registered value and anything JWT-shaped."""
        for secret in self.known_values():
            if secret in value:
                value = value.replace(secret, REDACTED)
        return _JWT.sub(REDACTED, value)

    def headers(self, headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
        """Secret-bearing headers become ``[redacted]``; URLs in ``Location`` lose secret params."""
        result: list[tuple[str, str]] = []
        for name, value in headers:
            lowered = name.lower()
            if lowered in SECRET_HEADERS:
                result.append((name, REDACTED))
            elif lowered in ("location", "content-location"):
                result.append((name, self.url(value)))
            else:
                result.append((name, self.text(value)))
        return result

    def json_value(self, obj: Any) -> Any:
        """A copy of a JSON value with secret keys (and JWK private members) redacted."""
        if isinstance(obj, dict):
            jwk = _looks_like_jwk(obj)
            out: dict[Any, Any] = {}
            for key, value in obj.items():
                name = key.lower() if isinstance(key, str) else key
                secret = name in JSON_SECRET_KEYS or name in SECRET_HEADERS
                if secret or (jwk and name in JWK_PRIVATE_MEMBERS):
                    out[key] = REDACTED if value not in (None, "") else value
                else:
                    out[key] = self.json_value(value)
            return out
        if isinstance(obj, list):
            return [self.json_value(item) for item in obj]
        if isinstance(obj, str):
            return self._string(obj)
        return obj

    def _string(self, value: str) -> str:
        # JSON nested in a string (an echoed body, a serialised payload) gets the key rules too.
        stripped = value.strip()
        if stripped[:1] in ("{", "[") and stripped[-1:] in ("}", "]"):
            try:
                nested = json.loads(stripped)
            except ValueError:
                pass
            else:
                return json.dumps(self.json_value(nested), ensure_ascii=False)
        return self.text(value)

    def form(self, body: str) -> str:
        """An ``application/x-www-form-urlencoded`` body with secret fields redacted."""
        return self.text(self._query(body))

    def url(self, url: str) -> str:
        """A URL with secret query/fragment parameters and any userinfo password redacted."""
        try:
            parts = urlsplit(url)
        except ValueError:
            return self.text(url)
        netloc = parts.netloc
        if "@" in netloc:
            userinfo, host = netloc.rsplit("@", 1)
            if ":" in userinfo:
                userinfo = userinfo.split(":", 1)[0] + ":" + REDACTED
            netloc = f"{userinfo}@{host}"
        query = self._query(parts.query)
        fragment = self._query(parts.fragment)
        rebuilt = urlunsplit((parts.scheme, netloc, parts.path, query, fragment))
        return self.text(rebuilt)

    def _query(self, query: str) -> str:
        """Redact the values of secret keys, keeping everything else byte for byte."""
        parts = []
        for item in query.split("&"):
            key, sep, value = item.partition("=")
            if sep and value and unquote_plus(key).lower() in SECRET_KEYS:
                item = f"{key}={REDACTED}"
            parts.append(item)
        return "&".join(parts)
