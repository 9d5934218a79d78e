"""The CORS-04 page and its own server (another loopback origin than the target's).

``GET /`` serves one self-contained HTML page (inline script, no other resource).
``GET /session`` hands the page the target URL and the access token (the page must put the token
in ``Authorization`` itself, as a browser client does); ``POST /proof`` makes each DPoP proof
server-side with ``make_dpop_proof`` and the bound key, so the private key never enters the
browser. Every proof is registered with ``secret_sink`` and remembered with the page step that
asked for it, so the runner can tell which step a network response answered. Nothing here logs
the token or a proof (uvicorn's access log is off in ``serve_in_thread``).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from conformance.browser.flow import READ_HEADERS, STEPS
from conformance.clients.dpop import DpopKey, htu_of, make_dpop_proof

NO_STORE = {"Cache-Control": "no-store"}
FETCH_TIMEOUT_MS = 15000


@dataclass(frozen=True)
class FlowTarget:
    """The authenticated GET the page calls, and the DPoP-bound token + key it calls it with."""

    url: str
    access_token: str = field(repr=False)
    key: DpopKey = field(repr=False)
    method: str = "GET"

    def __post_init__(self) -> None:
        if self.method.upper() != "GET":
            raise ValueError("the CORS-04 page calls a query (GET) method")
        parsed = httpx.URL(self.url)
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise ValueError(f"not an absolute http(s) URL: {self.url!r}")

    @property
    def origin(self) -> str:
        parsed = httpx.URL(self.url)
        default = 443 if parsed.scheme == "https" else 80
        return f"{parsed.scheme}://{parsed.host}:{parsed.port or default}"

    @property
    def public(self) -> str:
        """``GET <url>`` — safe to show (the URL carries only public parameters)."""
        return f"{self.method.upper()} {self.url}"


PAGE_SCRIPT = """
"use strict";
const READ = __READ_HEADERS__;
const TIMEOUT_MS = __TIMEOUT_MS__;

async function ownJson(path, init) {
  const response = await fetch(path, Object.assign({cache: "no-store"}, init || {}));
  if (!response.ok) { throw new Error(path + " answered " + response.status); }
  return response.json();
}

async function proof(step, nonce, ath) {
  const body = JSON.stringify({step: step, nonce: nonce, ath: ath});
  const made = await ownJson("/proof", {
    method: "POST", headers: {"Content-Type": "application/json"}, body: body});
  return made.proof;
}

function challengeError(value) {
  if (value === null) { return null; }
  const match = /(?:^|[\\s,])error\\s*=\\s*"?([^",\\s]+)"?/i.exec(value);
  return match ? match[1] : null;
}

// One cross-origin fetch, as a browser ATProto client makes it. Never logs anything.
async function call(session, name, opts) {
  const headers = {};
  if (opts.auth) { headers["Authorization"] = "DPoP " + session.token; }
  if (opts.dpop) { headers["DPoP"] = await proof(name, opts.nonce || null, !!opts.auth); }
  const step = {
    name: name, ran: true, headersSent: Object.keys(headers).map(h => h.toLowerCase()),
    sentNonce: !!(opts.dpop && opts.nonce), threw: false, error: null, status: null,
    readable: {}, challengeError: null, bodyError: null};
  let nonce = null;
  try {
    const response = await fetch(session.url, {
      method: session.method, headers: headers, mode: "cors", credentials: "omit",
      cache: "no-store", signal: AbortSignal.timeout(TIMEOUT_MS)});
    step.status = response.status;
    for (const header of READ) { step.readable[header] = response.headers.get(header) !== null; }
    step.challengeError = challengeError(response.headers.get("www-authenticate"));
    nonce = response.headers.get("dpop-nonce");
    const text = await response.text();
    try {
      const body = JSON.parse(text);
      if (body && typeof body.error === "string") { step.bodyError = body.error.slice(0, 100); }
    } catch (ignored) { /* not JSON */ }
  } catch (e) {
    step.threw = true;
    step.error = ((e && e.name) || "Error") + ": " + ((e && e.message) || String(e));
  }
  return {step: step, nonce: nonce};
}

window.atconformRun = async function () {
  const steps = [];
  try {
    const session = await ownJson("/session");
    steps.push((await call(session, "simple", {})).step);
    const first = await call(session, "first", {auth: true, dpop: true});
    steps.push(first.step);
    let nonce = first.nonce;
    // A real client retries only when it can see use_dpop_nonce in WWW-Authenticate, and
    // retries with whatever DPoP-Nonce it can read (none: it sends none again).
    if (first.step.status === 401 && first.step.challengeError === "use_dpop_nonce") {
      const retry = await call(session, "retry", {auth: true, dpop: true, nonce: nonce});
      steps.push(retry.step);
      nonce = retry.nonce || nonce;
    } else {
      let why = "the first request was not refused: no nonce was needed";
      if (first.step.threw) { why = "the first request was blocked"; }
      else if (first.step.status === 401) {
        why = "script cannot see use_dpop_nonce in the 401's WWW-Authenticate";
      }
      steps.push({name: "retry", ran: false, skipped: why});
    }
    steps.push((await call(session, "dpop-only", {dpop: true, nonce: nonce})).step);
    steps.push((await call(session, "authorization-only", {auth: true})).step);
    return {steps: steps};
  } catch (e) {
    return {steps: steps, error: "page: " + ((e && e.message) || String(e))};
  }
};
"""

PAGE_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>atconform CORS-04</title>
<link rel="icon" href="data:,"></head>
<body><p>atconform CORS-04: the DPoP flow from another origin.</p>
<script>__SCRIPT__</script></body></html>
"""


def page_html() -> str:
    script = PAGE_SCRIPT.replace("__READ_HEADERS__", json.dumps(list(READ_HEADERS))).replace(
        "__TIMEOUT_MS__", str(FETCH_TIMEOUT_MS)
    )
    return PAGE_HTML.replace("__SCRIPT__", script)


class DpopFlowPage:
    """The page's server: one per run (it remembers which step asked for which proof)."""

    def __init__(
        self, target: FlowTarget, *, secret_sink: Callable[[str], None] | None = None
    ) -> None:
        self.target = target
        self._secret_sink = secret_sink
        self._lock = threading.Lock()
        self._proof_steps: dict[str, str] = {}
        if secret_sink is not None:
            secret_sink(target.access_token)

    def step_of_proof(self, proof: str) -> str | None:
        with self._lock:
            return self._proof_steps.get(proof)

    async def _page(self, request: Request) -> Response:
        return HTMLResponse(page_html(), headers=NO_STORE)

    async def _session(self, request: Request) -> Response:
        return JSONResponse(
            {
                "url": self.target.url,
                "method": self.target.method.upper(),
                "token": self.target.access_token,
            },
            headers=NO_STORE,
        )

    async def _proof(self, request: Request) -> Response:
        try:
            asked = json.loads(await request.body())
        except ValueError:
            return JSONResponse({"error": "body is not JSON"}, status_code=400)
        if not isinstance(asked, dict) or asked.get("step") not in STEPS:
            return JSONResponse({"error": "unknown step"}, status_code=400)
        nonce = asked.get("nonce")
        proof = make_dpop_proof(
            self.target.key,
            self.target.method.upper(),
            htu_of(self.target.url),
            nonce=nonce if isinstance(nonce, str) and nonce else None,
            access_token=self.target.access_token if asked.get("ath") is True else None,
        )
        if self._secret_sink is not None:
            self._secret_sink(proof)
        with self._lock:
            self._proof_steps[proof] = str(asked["step"])
        return JSONResponse({"proof": proof}, headers=NO_STORE)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/", self._page, methods=["GET"]),
                Route("/session", self._session, methods=["GET"]),
                Route("/proof", self._proof, methods=["POST"]),
            ]
        )
