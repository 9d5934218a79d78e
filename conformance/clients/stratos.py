"""Driving Stratos enrollment the way a browser would (docs/stratos.md, "Enrollment over OAuth").

``GET <stratos>/oauth/authorize?handle&boundaries`` → 303 to the user's PDS → the PDS's sign-in
form, submitted → 303 back to ``<stratos>/oauth/callback`` → Stratos's verdict. Every hop is kept
so checks can judge (and reports show) the exchange that decided. Redirects are followed by hand:
the harness must see each one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import httpx

from conformance.clients.oauth import fill_authorization_form, parse_forms
from conformance.redact import Redactor

REDIRECTS = (301, 302, 303, 307, 308)


class EnrollmentFlowError(Exception):
    """The flow could not be driven (no redirect where one was due, no sign-in form): the harness
    could not run the check, which is not the same as the service refusing the enrollment."""

    def __init__(self, step: str, message: str, response: httpx.Response | None = None) -> None:
        super().__init__(f"{step}: {message}")
        self.step = step
        self.response = response


@dataclass(frozen=True)
class EnrollmentAttempt:
    """Every response of one enrollment, in order; ``final`` is Stratos's answer to the callback
    (or the first answer that was not a redirect)."""

    responses: tuple[httpx.Response, ...]

    @property
    def final(self) -> httpx.Response:
        return self.responses[-1]

    @property
    def enrolled(self) -> bool:
        body = self.body
        return (
            self.final.status_code == 200
            and isinstance(body, dict)
            and body.get("enrolled") is True
        )

    @property
    def body(self) -> Any:
        try:
            return self.final.json()
        except ValueError:
            return None


class ServiceLogin:
    """Logs a user in to a service that is an OAuth client of their PDS, as a browser would:
    the service's start URL → 303 to the PDS → sign-in form → 303 back to the service's
    callback → the service's verdict. Used for Stratos enrollment and the ATCR AppView login."""

    def __init__(self, http: httpx.Client, redactor: Redactor) -> None:
        self.http = http
        self.redactor = redactor

    def login(
        self, start_url: str, params: dict[str, str], handle: str, password: str
    ) -> EnrollmentAttempt:
        self.redactor.add(password)
        start = self.http.get(start_url, params=params)
        responses = [start]
        if start.status_code not in REDIRECTS:
            return EnrollmentAttempt(tuple(responses))

        authorize_url = urljoin(str(start.url), start.headers.get("location", ""))
        page = self.http.get(authorize_url, headers={"Accept": "text/html"})
        responses.append(page)
        forms = [f for f in parse_forms(page.text) if f.method == "post" and f.has_password()]
        if page.status_code != 200 or not forms:
            raise EnrollmentFlowError("PDS sign-in page", "no sign-in form to submit", page)
        query = parse_qs(urlsplit(authorize_url).query)
        fields = fill_authorization_form(
            forms[0],
            request_uri=query.get("request_uri", [""])[0],
            client_id=query.get("client_id", [""])[0],
            identifier=handle,
            password=password,
        )
        submitted = self.http.post(
            urljoin(str(page.url), forms[0].action or str(page.url)),
            content=urlencode(fields).encode("utf-8"),
            headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "text/html"},
        )
        responses.append(submitted)
        if submitted.status_code not in REDIRECTS:
            raise EnrollmentFlowError("PDS sign-in", "the sign-in did not redirect back", submitted)

        callback_url = urljoin(str(submitted.url), submitted.headers.get("location", ""))
        for code in parse_qs(urlsplit(callback_url).query).get("code", []):
            self.redactor.add(code)
        responses.append(self.http.get(callback_url))
        return EnrollmentAttempt(tuple(responses))


class StratosEnroller:
    def __init__(self, http: httpx.Client, redactor: Redactor) -> None:
        self.http = http
        self.redactor = redactor

    def enroll(
        self, stratos_url: str, handle: str, password: str, boundaries: Sequence[str] = ()
    ) -> EnrollmentAttempt:
        params = {"handle": handle}
        if boundaries:
            params["boundaries"] = ",".join(boundaries)
        return ServiceLogin(self.http, self.redactor).login(
            f"{stratos_url.rstrip('/')}/oauth/authorize", params, handle, password
        )


def qualify(service_did: str, name: str) -> str:
    """A bare domain name as this service's qualified domain (``<serviceDid>/<name>``)."""
    return name if "/" in name else f"{service_did}/{name}"


def post_record(text: str, boundary: Sequence[str] = (), **extra: Any) -> dict[str, Any]:
    """A zone.stratos.feed.post record, bounded to the given qualified domains."""
    record: dict[str, Any] = {
        "$type": "zone.stratos.feed.post",
        "text": text,
        "createdAt": "2026-11-20T12:00:00.000Z",
        **extra,
    }
    if boundary:
        record["boundary"] = {"values": [{"value": d} for d in boundary]}
    return record
