"""Push/pull throughput of the reference ATCR against Debian's docker-registry, same machine,
same image sets, one run; and the AppView's and Hold's peak RSS while a 1 GiB layer streams.

    .venv/bin/python benchmarks/atcr_throughput.py [--big-layer-mib 1024] [--workers 4]

Image sets: 10 layers of 8 MiB, and 100 layers of 64 KiB (one image each). Every blob goes up
monolithically (POST + PUT) with ``--workers`` uploads in flight, then the manifest; the pull
fetches the manifest and every blob (following the AppView's redirect to the hold). Reported
per registry and set: MB/s, requests/s, p95 request latency. Peak RSS is the kernel's VmHWM of
each service process, read after the big layer went up as a chunked (PATCH) upload streamed from
a generator. Bounded in count; loopback only. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "support"))

from debian_registry import running_debian_registry

from conformance.clients.oci import RegistryAuth, RegistryClient, location_of
from conformance.clients.oci_images import Blob, Manifest, image, random_bytes
from conformance.clients.stratos import ServiceLogin
from conformance.redact import Redactor
from conformance.runtime.embedded import start_embedded
from conformance.runtime.process import (
    ProcessRuntime,
    pick_free_ports,
    reference_services,
)
from conformance.scenarios.stratos_access import percentile

MIB = 1024 * 1024
SETS = {"10x8MiB": (10, 8 * MIB), "100x64KiB": (100, 64 * 1024)}


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    bytes_moved: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def timed(self, send: Callable[[], httpx.Response], size: int = 0) -> httpx.Response:
        started = time.perf_counter()
        response = send()
        elapsed = time.perf_counter() - started
        if response.status_code >= 400:
            raise SystemExit(
                f"{response.request.method} {response.request.url.path}: "
                f"{response.status_code} {response.text[:200]}"
            )
        with self.lock:
            self.latencies.append(elapsed)
            self.bytes_moved += size
        return response

    def summary(self, wall: float) -> dict[str, float]:
        return {
            "MB_per_s": round(self.bytes_moved / 1e6 / wall, 1),
            "requests_per_s": round(len(self.latencies) / wall, 1),
            "p95_ms": round(percentile(self.latencies, 95) * 1000, 1),
            "requests": len(self.latencies),
            "wall_s": round(wall, 2),
        }


def push(client: RegistryClient, name: str, manifest: Manifest, workers: int) -> dict:
    tally = Tally()

    def one(blob: Blob) -> None:
        started = tally.timed(lambda: client.start_upload(name))
        location = location_of(started)
        assert location
        tally.timed(lambda: client.finish_upload(location, blob.digest, blob.data), blob.size)

    began = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(one, manifest.blobs))
    tally.timed(lambda: client.put_manifest(name, "bench", manifest.content), manifest.size)
    return tally.summary(time.perf_counter() - began)


def pull(client: RegistryClient, name: str, manifest: Manifest, workers: int) -> dict:
    tally = Tally()
    began = time.perf_counter()
    tally.timed(lambda: client.get_manifest(name, "bench"), manifest.size)

    def one(blob: Blob) -> None:
        response = tally.timed(lambda: client.get_blob(name, blob.digest), blob.size)
        if response.content != blob.data:
            raise SystemExit(f"pulled bytes of {blob.digest} differ")

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(one, manifest.blobs))
    return tally.summary(time.perf_counter() - began)


def measure_registry(
    client: RegistryClient, namespace: str, images: dict[str, Manifest], workers: int
) -> dict:
    out = {}
    for label, manifest in images.items():
        name = f"{namespace}/bench-{label.lower()}"
        out[label] = {
            "push": push(client, name, manifest, workers),
            "pull": pull(client, name, manifest, workers),
        }
    return out


def big_layer_chunks(total: int, chunk: int) -> Iterator[bytes]:
    block = random_bytes(chunk, seed=7)
    sent = 0
    while sent < total:
        piece = block[: min(chunk, total - sent)]
        sent += len(piece)
        yield piece


def push_big_layer(client: RegistryClient, name: str, total: int) -> dict:
    """A chunked upload of ``total`` bytes in 64 MiB PATCHes; returns timing and the digest."""
    import hashlib

    chunk = 16 * MIB
    digest = hashlib.sha256()
    for piece in big_layer_chunks(total, chunk):
        digest.update(piece)
    began = time.perf_counter()
    location = location_of(client.start_upload(name))
    assert location
    offset = 0
    per_patch = 64 * MIB
    source = big_layer_chunks(total, chunk)
    while offset < total:
        size = min(per_patch, total - offset)

        def body(n: int = size) -> Iterator[bytes]:
            left = n
            while left > 0:
                piece = next(source)
                left -= len(piece)
                yield piece

        response = client.http.patch(
            client.url(location),
            content=body(),
            headers={
                "Content-Type": "application/octet-stream",
                "Content-Range": f"{offset}-{offset + size - 1}",
                "Content-Length": str(size),
            },
        )
        if response.status_code != 202:
            raise SystemExit(f"PATCH: {response.status_code} {response.text[:200]}")
        location = location_of(response) or location
        offset += size
    done = client.finish_upload(location, "sha256:" + digest.hexdigest())
    if done.status_code != 201:
        raise SystemExit(f"PUT: {done.status_code} {done.text[:200]}")
    wall = time.perf_counter() - began
    return {"bytes": total, "wall_s": round(wall, 1), "MB_per_s": round(total / 1e6 / wall, 1)}


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--big-layer-mib", type=int, default=1024)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    images = {
        label: image([random_bytes(size) for _ in range(count)])
        for label, (count, size) in SETS.items()
    }
    result: dict = {"sets": list(SETS), "workers": args.workers}
    names = ["pds", "hold", "atcr"]
    redactor = Redactor(None)
    with (
        tempfile.TemporaryDirectory() as tmp,
        ProcessRuntime(Path(tmp) / "data", Path(tmp) / "logs") as runtime,
        httpx.Client(timeout=120, trust_env=False) as http,
    ):
        target = start_embedded(
            runtime, reference_services("atcr", pick_free_ports(names)), redactor
        )
        account = target.accounts[0]
        password = target.password(account)
        login = ServiceLogin(http, redactor).login(
            f"{target.atcr.registry}/auth/oauth/login",
            {"handle": account.handle},
            account.handle,
            password,
        )
        if login.final.status_code != 200:
            raise SystemExit(f"AppView login failed: {login.final.status_code}")
        with httpx.Client(
            timeout=300, trust_env=False, auth=RegistryAuth(redactor, account.handle, password)
        ) as reg_http:
            assert target.atcr.registry
            client = RegistryClient(reg_http, target.atcr.registry)
            result["reference_atcr"] = measure_registry(
                client, account.handle, images, args.workers
            )
            if args.big_layer_mib:
                before = {n: peak_rss_mib(runtime.pid(n)) for n in ("atcr", "hold")}
                big = push_big_layer(
                    client, f"{account.handle}/bench-big", args.big_layer_mib * MIB
                )
                big["peak_rss_mib_before"] = before
                big["peak_rss_mib_after"] = {
                    n: peak_rss_mib(runtime.pid(n)) for n in ("atcr", "hold")
                }
                result["big_layer"] = big
        with running_debian_registry() as url:
            client = RegistryClient(http, url)
            result["debian_registry"] = measure_registry(client, "atconform", images, args.workers)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
