"""``python -m reference_impl``: one entrypoint for every reference service (docs/docker.md).

    python -m reference_impl pds|stratos|stratos-appview|hold|atcr [SERVICE ARGS...]
    python -m reference_impl health URL     # exit 0 when URL answers 200 within 2 s
    python -m reference_impl services       # the service names, one per line

A service runs exactly as ``python -m reference_impl.<module> SERVICE ARGS...`` would: its
``__main__`` module is executed with the remaining arguments. Usage mistakes are one line on
stderr and exit status 2.
"""

from __future__ import annotations

import runpy
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence
from types import MappingProxyType

PROG = "python -m reference_impl"
HEALTH_TIMEOUT_S = 2.0
EXIT_USAGE = 2

# Service name -> the package whose ``__main__`` runs it (the harness's names, docs/docker.md).
SERVICES = MappingProxyType(
    {
        "pds": "reference_impl.pds",
        "stratos": "reference_impl.stratos",
        "stratos-appview": "reference_impl.stratos.appview",
        "hold": "reference_impl.atcr.hold",
        "atcr": "reference_impl.atcr.appview",
    }
)

USAGE = f"""usage: {PROG} SERVICE [ARGS...] | health URL | services

  SERVICE   one of: {", ".join(SERVICES)}; ARGS are the service's own
            (--host H --port P --data-dir D [--fault NAME]... [--list-faults])
  health    exit 0 when URL answers HTTP 200 within {HEALTH_TIMEOUT_S:g} s, else 1
  services  print the service names, one per line
"""


def _usage_error(message: str) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def health(url: str, timeout: float = HEALTH_TIMEOUT_S) -> int:
    """0 when ``url`` answers 200 within ``timeout``; 1 (and one line on stderr) otherwise."""
    if not url.startswith(("http://", "https://")):
        return _usage_error(f"health: expected an http(s) URL, got {url!r}")
    # No proxies: a health check is about the service on this host, whatever the environment
    # says.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=timeout) as response:
            status = int(response.status)
    except urllib.error.HTTPError as exc:
        status = exc.code
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        print(f"{PROG} health: {url}: {reason}", file=sys.stderr)
        return 1
    if status != 200:
        print(f"{PROG} health: {url}: HTTP {status}", file=sys.stderr)
        return 1
    return 0


def run_service(name: str, args: Sequence[str]) -> None:
    """Run service ``name`` as ``python -m <its module> ARGS...`` would, in this process."""
    # alter_sys: argv[0] and sys.modules["__main__"] become the service's, as under ``-m``.
    sys.argv = [sys.argv[0], *args]
    runpy.run_module(SERVICES[name], run_name="__main__", alter_sys=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        print(USAGE, end="", file=sys.stderr)
        return EXIT_USAGE
    command, rest = args[0], args[1:]
    if command in ("-h", "--help", "help"):
        print(USAGE, end="")
        return 0
    if command == "services":
        if rest:
            return _usage_error("services takes no arguments")
        print("\n".join(SERVICES))
        return 0
    if command == "health":
        if len(rest) != 1:
            return _usage_error("usage: health URL")
        return health(rest[0])
    if command not in SERVICES:
        known = ", ".join(SERVICES)
        return _usage_error(f"unknown service {command!r} (services: {known}; or health, services)")
    run_service(command, rest)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
