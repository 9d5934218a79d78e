"""CORS-04 in a real browser: a page on another loopback origin runs the DPoP flow with ``fetch``.

- ``flow``: what the page reports (``BrowserFlowResult``), pure data, no browser needed;
- ``page``: the page's own server (HTML + JS, DPoP proofs made server-side so the private key
  never enters the browser);
- ``runner``: headless Chromium driven by Playwright (imported lazily; a missing browser or
  Playwright is a ``BrowserUnavailable`` with a one-line install hint).

``conformance.checks.cors.check_browser_dpop_flow`` judges the result.
"""

from __future__ import annotations

from conformance.browser.flow import (
    BrowserFlowResult,
    BrowserStep,
    NetworkResponse,
    result_from_page,
)

__all__ = ["BrowserFlowResult", "BrowserStep", "NetworkResponse", "result_from_page"]
