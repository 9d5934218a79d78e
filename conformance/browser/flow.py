"""What the CORS-04 page reports: one ``BrowserStep`` per ``fetch`` it made, what the browser's
network layer saw (``NetworkResponse``, recorded by the runner, header *names* and CORS header
values only), and the console's CORS messages. Pure data: the check judges it without a browser.

The page's steps, in order:

- ``simple``: a GET with no custom header (no preflight) — are responses readable cross-origin
  at all (``Access-Control-Allow-Origin``)?
- ``first``: ``Authorization: DPoP <token>`` + a proof without a nonce, as a client's first call;
- ``retry``: what a real client does next: only when the 401's ``WWW-Authenticate`` it can read
  says ``use_dpop_nonce``, it retries with the ``DPoP-Nonce`` it can read (none → no nonce);
- ``dpop-only``: a request carrying only the ``DPoP`` header (is ``dpop`` allowed in preflights?);
- ``authorization-only``: only ``Authorization`` (is ``authorization`` allowed?).

Nothing here holds a token, proof or nonce value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

STEP_SIMPLE = "simple"
STEP_FIRST = "first"
STEP_RETRY = "retry"
STEP_DPOP_ONLY = "dpop-only"
STEP_AUTHORIZATION_ONLY = "authorization-only"
STEPS = (STEP_SIMPLE, STEP_FIRST, STEP_RETRY, STEP_DPOP_ONLY, STEP_AUTHORIZATION_ONLY)

# Response headers the page tries to read from script on every step.
READ_HEADERS = (
    "dpop-nonce",
    "www-authenticate",
    "ratelimit-limit",
    "ratelimit-policy",
    "ratelimit-remaining",
    "ratelimit-reset",
)


@dataclass(frozen=True)
class BrowserStep:
    """One ``fetch`` of the page (or a step it skipped: ``ran`` False, ``skipped`` says why).

    ``threw``: fetch rejected (a CORS error: blocked preflight, or a response without a usable
    ``Access-Control-Allow-Origin``); then ``status`` is None. ``readable`` maps each of
    ``READ_HEADERS`` to whether script could read it. ``challenge_error`` is the ``error``
    parameter of the ``WWW-Authenticate`` script could read; ``body_error`` the XRPC/OAuth
    ``error`` of the JSON body.
    """

    name: str
    ran: bool = True
    skipped: str | None = None
    headers_sent: tuple[str, ...] = ()
    sent_nonce: bool = False
    threw: bool = False
    error: str | None = None
    status: int | None = None
    readable: Mapping[str, bool] = field(default_factory=dict)
    challenge_error: str | None = None
    body_error: str | None = None

    def can_read(self, header: str) -> bool:
        return bool(self.readable.get(header.lower(), False))

    @property
    def succeeded(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    def describe(self) -> str:
        """One line, e.g. ``first [authorization, dpop]: 401 (use_dpop_nonce), readable: ...``."""
        sent = f"[{', '.join(self.headers_sent)}]" if self.headers_sent else "[no auth headers]"
        if not self.ran:
            return f"{self.name}: not sent ({self.skipped or 'skipped'})"
        if self.threw:
            return f"{self.name} {sent}: fetch threw ({self.error or 'error'}) — a CORS error"
        parts = [f"{self.name} {sent}: {self.status}"]
        errors = [e for e in (self.challenge_error, self.body_error) if e]
        if errors:
            parts.append(f"({'/'.join(dict.fromkeys(errors))})")
        readable = [h for h in READ_HEADERS if self.can_read(h)]
        parts.append(f"readable from script: {', '.join(readable) if readable else 'none'}")
        return " ".join(parts)


@dataclass(frozen=True)
class NetworkResponse:
    """An actual response to the target as the browser's network layer saw it (Playwright).

    ``step`` is the page step whose request it answered (matched by the request's headers).
    Only header names and the CORS headers' values are kept — never ``DPoP-Nonce`` values.
    """

    step: str
    method: str
    status: int
    header_names: tuple[str, ...]
    allow_origin: str | None = None
    expose_headers: str | None = None
    challenge_error: str | None = None

    def has(self, header: str) -> bool:
        return header.lower() in self.header_names

    @property
    def exposed(self) -> frozenset[str]:
        if self.expose_headers is None:
            return frozenset()
        return frozenset(h.strip().lower() for h in self.expose_headers.split(",") if h.strip())


@dataclass(frozen=True)
class BrowserFlowResult:
    """Everything CORS-04 learnt from one page run."""

    page_origin: str
    target: str  # "<METHOD> <url>" (no secrets: the URL carries only public parameters)
    steps: tuple[BrowserStep, ...]
    network: tuple[NetworkResponse, ...] = ()
    console: tuple[str, ...] = ()
    page_error: str | None = None  # the page itself failed (script error, timeout)

    def step(self, name: str) -> BrowserStep | None:
        for step in self.steps:
            if step.name == name:
                return step
        return None

    def network_for(self, name: str) -> tuple[NetworkResponse, ...]:
        return tuple(n for n in self.network if n.step == name)

    def summary(self) -> str:
        return "; ".join(step.describe() for step in self.steps)


# --- parsing what the page returned (defensively: it is script output) ---------------------


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def step_from_page(raw: Mapping[str, Any]) -> BrowserStep:
    readable_raw = raw.get("readable")
    readable = (
        {str(k).lower(): bool(v) for k, v in readable_raw.items()}
        if isinstance(readable_raw, Mapping)
        else {}
    )
    sent = raw.get("headersSent")
    return BrowserStep(
        name=str(raw.get("name", "?")),
        ran=bool(raw.get("ran", True)),
        skipped=_str(raw.get("skipped")),
        headers_sent=tuple(str(h).lower() for h in sent) if isinstance(sent, list) else (),
        sent_nonce=bool(raw.get("sentNonce", False)),
        threw=bool(raw.get("threw", False)),
        error=_str(raw.get("error")),
        status=_int(raw.get("status")),
        readable=readable,
        challenge_error=_str(raw.get("challengeError")),
        body_error=_str(raw.get("bodyError")),
    )


def result_from_page(
    page_result: Any,
    *,
    page_origin: str,
    target: str,
    network: Sequence[NetworkResponse] = (),
    console: Sequence[str] = (),
    page_error: str | None = None,
) -> BrowserFlowResult:
    """Build the result from the page's JSON (``{"steps": [...]}``) and the runner's records."""
    steps: tuple[BrowserStep, ...] = ()
    if isinstance(page_result, Mapping) and isinstance(page_result.get("steps"), list):
        steps = tuple(step_from_page(s) for s in page_result["steps"] if isinstance(s, Mapping))
        if page_error is None:
            page_error = _str(page_result.get("error"))
    elif page_error is None:
        page_error = "the page returned no result"
    return BrowserFlowResult(page_origin, target, steps, tuple(network), tuple(console), page_error)
