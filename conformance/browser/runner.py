"""Run the CORS-04 page in real headless Chromium (Debian's package) driven by Playwright.

One browser launch per ``chromium_context``; ``run_dpop_flow`` serves the page on a free loopback
port (another origin than the target's), opens it in a fresh page, runs the flow and returns a
``BrowserFlowResult``. What the browser's network layer saw is recorded by header *names* (plus
the CORS headers' values); console messages pass through ``redact``. Playwright is imported
lazily: a machine without it (or without Chromium) gets ``BrowserUnavailable`` with a one-line
install hint. Never runs ``playwright install``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from conformance.browser.flow import (
    STEP_AUTHORIZATION_ONLY,
    STEP_SIMPLE,
    BrowserFlowResult,
    NetworkResponse,
    result_from_page,
)
from conformance.browser.page import DpopFlowPage, FlowTarget
from conformance.localserver import serve_in_thread
from conformance.scenarios.base import parse_www_authenticate

DEFAULT_CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ENV = "ATCONFORM_CHROMIUM"  # another Chromium binary (the default is Debian's)
# Headless as root, no background traffic at all (docs: shared notes, "Browser").
CHROMIUM_FLAGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
INSTALL_HINT = (
    "install Chromium with `apt-get install chromium` and Playwright with "
    "`pip install atconform[browser]` (the harness uses the system Chromium; "
    "never `playwright install`)"
)
RUN_TIMEOUT_MS = 60000
MAX_CONSOLE = 20


class BrowserUnavailable(RuntimeError):
    """Headless Chromium or Playwright is missing: CORS-04 cannot run (an error, not a skip)."""


class BrowserRunError(RuntimeError):
    """The page itself could not run (the harness's side failed, not the target's)."""


def find_chromium(executable: str | Path | None = None) -> Path:
    """The Chromium binary: ``executable``, else ``$ATCONFORM_CHROMIUM``, else /usr/bin/chromium,
    else ``chromium`` on PATH."""
    candidates: list[Path] = []
    chosen = executable if executable is not None else os.environ.get(CHROMIUM_ENV) or None
    if chosen is not None:
        candidates.append(Path(chosen))
    else:
        candidates.append(DEFAULT_CHROMIUM)
        for name in ("chromium", "chromium-browser"):
            found = shutil.which(name)
            if found:
                candidates.append(Path(found))
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    looked = ", ".join(str(c) for c in candidates) or "PATH"
    raise BrowserUnavailable(
        f"CORS-04 needs headless Chromium (looked in {looked}): {INSTALL_HINT}"
    )


@contextmanager
def chromium_context(executable: str | Path | None = None) -> Iterator[Any]:
    """One headless Chromium with a fresh user-data dir; yields its Playwright BrowserContext."""
    chromium = find_chromium(executable)
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        raise BrowserUnavailable(
            f"CORS-04 needs Playwright for Python ({exc.name or 'playwright'} not importable): "
            f"{INSTALL_HINT}"
        ) from None
    with tempfile.TemporaryDirectory(prefix="atconform-chromium-") as profile:
        with sync_playwright() as playwright:
            try:
                context = playwright.chromium.launch_persistent_context(
                    profile,
                    executable_path=str(chromium),
                    headless=True,
                    args=list(CHROMIUM_FLAGS),
                )
            except PlaywrightError as exc:
                first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else "error"
                raise BrowserUnavailable(
                    f"CORS-04 could not start {chromium}: {first_line} — {INSTALL_HINT}"
                ) from None
            try:
                yield context
            finally:
                context.close()


def _same_resource(url: str, target: httpx.URL) -> bool:
    try:
        seen = httpx.URL(url)
    except (httpx.InvalidURL, ValueError):
        return False
    return (seen.scheme, seen.host, seen.port, seen.path) == (
        target.scheme,
        target.host,
        target.port,
        target.path,
    )


class _Recorder:
    """Playwright event listeners: network responses from the target, console messages."""

    def __init__(self, page_server: DpopFlowPage, redact: Callable[[str], str]) -> None:
        self.page_server = page_server
        self.target = httpx.URL(page_server.target.url)
        self.redact = redact
        self.network: list[NetworkResponse] = []
        self.console: list[str] = []

    def step_of(self, request_headers: dict[str, str]) -> str:
        dpop = request_headers.get("dpop")
        if dpop:
            return self.page_server.step_of_proof(dpop) or "unknown"
        if request_headers.get("authorization"):
            return STEP_AUTHORIZATION_ONLY
        return STEP_SIMPLE

    def on_response(self, response: Any) -> None:
        try:
            request = response.request
            if request.method.upper() == "OPTIONS" or not _same_resource(response.url, self.target):
                return
            headers = {k.lower(): v for k, v in response.all_headers().items()}
            request_headers = {k.lower(): v for k, v in request.headers.items()}
            challenge_error = None
            for challenge in parse_www_authenticate(response.header_values("www-authenticate")):
                if challenge.is_scheme("DPoP"):
                    challenge_error = challenge.params.get("error")
                    break
            self.network.append(
                NetworkResponse(
                    step=self.step_of(request_headers),
                    method=request.method.upper(),
                    status=int(response.status),
                    header_names=tuple(sorted(headers)),
                    allow_origin=headers.get("access-control-allow-origin"),
                    expose_headers=headers.get("access-control-expose-headers"),
                    challenge_error=challenge_error,
                )
            )
        except Exception as exc:  # a listener must never break the run
            self.console.append(f"(atconform: could not record a response: {type(exc).__name__})")

    def on_console(self, message: Any) -> None:
        text = str(message.text)
        # "Failed to load resource: ..." repeats what the steps already record.
        if message.type not in ("error", "warning") or text.startswith("Failed to load resource"):
            return
        if len(self.console) < MAX_CONSOLE:
            self.console.append(self.redact(text)[:500])


def run_dpop_flow(
    context: Any,
    target: FlowTarget,
    *,
    secret_sink: Callable[[str], None] | None = None,
    redact: Callable[[str], str] | None = None,
    page_host: str = "127.0.0.1",
) -> BrowserFlowResult:
    """Serve the page on a loopback origin other than the target's and run the flow in it."""
    page_server = DpopFlowPage(target, secret_sink=secret_sink)
    recorder = _Recorder(page_server, redact or (lambda text: text))
    with serve_in_thread(page_server.app(), host=page_host) as page_url:
        page_origin = page_url.rstrip("/")
        if page_origin == target.origin:
            raise BrowserRunError("the page must be served from another origin than the target's")
        page = context.new_page()
        page.set_default_timeout(RUN_TIMEOUT_MS)
        page.on("response", recorder.on_response)
        page.on("console", recorder.on_console)
        try:
            page.goto(f"{page_origin}/", wait_until="load")
            raw = page.evaluate("() => window.atconformRun()")
        finally:
            page.close()
    result = result_from_page(
        raw,
        page_origin=page_origin,
        target=target.public,
        network=recorder.network,
        console=recorder.console,
    )
    if result.page_error is not None:
        raise BrowserRunError(f"the CORS-04 page could not run: {result.page_error}")
    return result


def run_browser_dpop_flow(
    target: FlowTarget,
    *,
    executable: str | Path | None = None,
    secret_sink: Callable[[str], None] | None = None,
    redact: Callable[[str], str] | None = None,
) -> BrowserFlowResult:
    """Launch Chromium once, run the flow, close it."""
    with chromium_context(executable) as context:
        return run_dpop_flow(context, target, secret_sink=secret_sink, redact=redact)
