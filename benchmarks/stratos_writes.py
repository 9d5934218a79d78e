"""createRecord throughput of the reference Stratos: writes/s over many accounts, p50/p95.

    .venv/bin/python benchmarks/stratos_writes.py [--accounts 12] [--writes 100]

Starts the embedded reference (PDS, Stratos, AppView) on free loopback ports with enrollment
open, provisions and enrols the accounts through OAuth, then runs one writer thread per account,
each sending ``--writes`` createRecord calls with its own DPoP-bound token. Bounded in count;
stays under the per-DID rate limit (300 writes / 60 s). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import threading
import time
from pathlib import Path

import httpx

from conformance.clients.oauth import OAuthClient, OAuthSession
from conformance.clients.pds import PdsClient
from conformance.clients.stratos import StratosEnroller, post_record
from conformance.clients.xrpc import XrpcClient
from conformance.provision import provision_accounts
from conformance.redact import Redactor
from conformance.runtime.embedded import start_embedded
from conformance.runtime.process import ProcessRuntime, pick_free_ports, reference_services
from conformance.scenarios.stratos_access import median, percentile

RATE_LIMIT = 300


def writer(
    stratos_url: str, session: OAuthSession, writes: int, latencies: list[float], errors: list[int]
) -> None:
    with httpx.Client(timeout=30) as http:
        stratos = XrpcClient(stratos_url, http)
        auth = session.auth()
        for i in range(writes):
            started = time.perf_counter()
            response = stratos.procedure(
                "com.atproto.repo.createRecord",
                {
                    "repo": session.did,
                    "collection": "zone.stratos.feed.post",
                    "record": post_record(f"bench {i}"),
                },
                auth=auth,
            )
            elapsed = time.perf_counter() - started
            if response.status_code == 200:
                latencies.append(elapsed)
            else:
                errors.append(response.status_code)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=12)
    parser.add_argument("--writes", type=int, default=100, help="per account (≤ 300)")
    args = parser.parse_args()
    if not 1 <= args.writes <= RATE_LIMIT:
        parser.error(f"--writes must be between 1 and {RATE_LIMIT} (the per-DID limit)")
    os.environ["STRATOS_ENROLLMENT_MODE"] = "open"  # the runtime passes it on to Stratos
    names = ["pds", "stratos", "stratos-appview"]
    with (
        tempfile.TemporaryDirectory() as tmp,
        ProcessRuntime(Path(tmp) / "data", Path(tmp) / "logs") as runtime,
    ):
        redactor = Redactor(None)
        target = start_embedded(
            runtime, reference_services("stratos", pick_free_ports(names)), redactor
        )
        assert target.identity.pds and target.stratos.url
        sessions: list[OAuthSession] = []
        with httpx.Client(timeout=30) as http:
            pds = PdsClient(XrpcClient(target.identity.pds, http), redactor)
            accounts = provision_accounts(pds, args.accounts, "test", None, redactor)
            oauth, enroller = OAuthClient(http, redactor), StratosEnroller(http, redactor)
            for account in accounts:
                sessions.append(oauth.login(target.identity.pds, account.handle, account.password))
                attempt = enroller.enroll(target.stratos.url, account.handle, account.password)
                if not attempt.enrolled:
                    raise SystemExit(f"enrollment failed: {attempt.final.status_code}")

        latencies: list[float] = []
        errors: list[int] = []
        threads = [
            threading.Thread(
                target=writer, args=(target.stratos.url, s, args.writes, latencies, errors)
            )
            for s in sessions
        ]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - started

    print(
        json.dumps(
            {
                "accounts": args.accounts,
                "writes_per_account": args.writes,
                "acknowledged": len(latencies),
                "errors": errors,
                "wall_s": round(wall, 2),
                "writes_per_s": round(len(latencies) / wall, 1),
                "p50_ms": round(median(latencies) * 1000, 1),
                "p95_ms": round(percentile(latencies, 95) * 1000, 1),
                "max_ms": round(max(latencies) * 1000, 1),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
