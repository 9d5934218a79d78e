"""Server-rendered HTML of the authorize endpoint: the sign-in/consent page and error page.

Pages are self-contained (inline CSS, no scripts, no external assets) so a headless browser or
a plain form POST can complete them offline.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from urllib.parse import urlsplit

import jinja2

from .authorization import PendingAuthorization
from .metadata import AUTHORIZE_PATH

# No scripts, no framing (clickjacking), no referrer leaking the request_uri. form-action is
# left open on purpose: browsers apply it to the redirect that follows the form post, and the
# client's redirect_uri is on another origin.
SECURITY_HEADERS: Mapping[str, str] = MappingProxyType(
    {
        "Content-Security-Policy": (
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"
        ),
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
    }
)


class Pages:
    def __init__(self, issuer: str) -> None:
        self._issuer_host = urlsplit(issuer).netloc
        self._env = jinja2.Environment(
            loader=jinja2.PackageLoader("reference_impl.pds.oauth", "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
        )

    def sign_in(
        self, pending: PendingAuthorization, message: str | None = None, identifier: str = ""
    ) -> str:
        return self._env.get_template("authorize.html").render(
            issuer_host=self._issuer_host,
            pending=pending,
            message=message,
            identifier=identifier or pending.login_hint or "",
            action=AUTHORIZE_PATH,
        )

    def error(self, error: str, description: str) -> str:
        return self._env.get_template("error.html").render(error=error, description=description)
