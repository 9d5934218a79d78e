"""Start-to-healthy of the whole reference deployment under each runtime, and image times.

    .venv/bin/python benchmarks/runtime_startup.py [--runs 3] [--base-image atconform-base:bookworm]

For each runtime (process, docker) and run: open the runtime (for docker: connect and ensure
the image — reused after the first run), start all five services on free loopback ports, and
time from the start call until every service answered its health check; per service too (each
is started after the one before it is healthy). Everything is stopped after each run. Prints
one JSON object. Bounded: a fixed number of runs, each with the runtimes' startup timeouts.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from conformance.redact import Redactor
from conformance.runtime.choose import default_base_image, open_runtime
from conformance.runtime.embedded import with_sync_token
from conformance.runtime.process import pick_free_ports, service_specs, services_for


def one_run(kind: str, base_image: str) -> dict[str, Any]:
    names = services_for(["all"])
    specs = with_sync_token(service_specs(names, pick_free_ports(names)), Redactor(None))
    with tempfile.TemporaryDirectory(prefix="atconform-bench-") as tmp:
        opened = time.monotonic()
        with open_runtime(kind, Path(tmp) / "data", Path(tmp) / "logs",
                          base_image=base_image) as runtime:
            ready = time.monotonic()
            per_service: dict[str, float] = {}
            started = time.monotonic()
            for spec in specs:
                before = time.monotonic()
                runtime.start([spec])
                per_service[spec.name] = round(time.monotonic() - before, 2)
            healthy = time.monotonic() - started
            stopping = time.monotonic()
        stopped = time.monotonic() - stopping
    return {
        "open_s": round(ready - opened, 2),
        "start_to_healthy_s": round(healthy, 2),
        "per_service_s": per_service,
        "stop_and_remove_s": round(stopped, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--base-image", default=default_base_image())
    args = parser.parse_args()
    out = {
        kind: [one_run(kind, args.base_image) for _ in range(max(1, min(args.runs, 10)))]
        for kind in ("process", "docker")
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
