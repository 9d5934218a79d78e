"""Password and app-password hashing (scrypt), and app-password generation."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

_N, _R, _P = 2**14, 8, 1
_APP_PASSWORD_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"  # noqa: S105 (an alphabet)


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return "scrypt${}${}".format(
        base64.b64encode(salt).decode("ascii"), base64.b64encode(digest).decode("ascii")
    )


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, salt_b64, digest_b64 = stored.split("$")
        salt, expected = base64.b64decode(salt_b64), base64.b64decode(digest_b64)
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    actual = hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=_N, r=_R, p=_P, dklen=len(expected)
    )
    return hmac.compare_digest(actual, expected)


def generate_app_password() -> str:
    """``xxxx-xxxx-xxxx-xxxx``, the shape PDSes hand out (and clients recognise)."""
    chars = [secrets.choice(_APP_PASSWORD_ALPHABET) for _ in range(16)]
    return "-".join("".join(chars[i : i + 4]) for i in range(0, 16, 4))


def looks_like_app_password(value: str) -> bool:
    parts = value.split("-")
    return len(parts) == 4 and all(len(p) == 4 and p.isalnum() for p in parts)
