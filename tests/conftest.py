"""Fixtures shared across the project's tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from shared_files import interop_vectors, shared_candidates

from conformance.browser.runner import CHROMIUM_FLAGS, DEFAULT_CHROMIUM

# The same Chromium and flags the harness's own browser check (CORS-04) uses.
CHROMIUM = DEFAULT_CHROMIUM


@dataclass
class PageVisit:
    """What a page did while it loaded: console messages, uncaught errors, every request."""

    page: Any
    console: list[tuple[str, str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)


@pytest.fixture
def open_in_chromium() -> Iterator[Callable[[str], PageVisit]]:
    """Open URLs in real headless Chromium (Debian's package, driven by Playwright)."""
    if not CHROMIUM.exists():
        pytest.skip("Chromium is not installed at /usr/bin/chromium (./run test installs it)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=list(CHROMIUM_FLAGS)
        )
        try:

            def visit(url: str) -> PageVisit:
                page = browser.new_context().new_page()
                seen = PageVisit(page)
                page.on("console", lambda m: seen.console.append((m.type, m.text)))
                page.on("pageerror", lambda e: seen.errors.append(str(e)))
                page.on("request", lambda r: seen.requests.append(r.url))
                page.goto(url, wait_until="load")
                return seen

            yield visit
        finally:
            browser.close()


@pytest.fixture(scope="session")
def interop_dir() -> Path:
    """The ATProto interop vectors folder; tests that need it skip when it is absent."""
    root = interop_vectors()
    if root is None:
        looked = ", ".join(str(p) for p in shared_candidates())
        pytest.skip(
            f"interop test vectors not found (looked in {looked}; set ATPROTO_INTEROP_TESTS)"
        )
    return root
