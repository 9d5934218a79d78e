"""Debian's ``docker-registry`` (CNCF Distribution 2.8) as a third-party OCI peer for the tests.

``running_debian_registry()`` installs the package when ``/usr/bin/docker-registry`` is missing
(as root, non-interactively; the packaged systemd service is never started), writes a config
with filesystem storage in a fresh temporary directory, deletes enabled, no auth, listening on a
free loopback port, runs ``docker-registry serve`` as a child process, waits for ``GET /v2/`` to
answer 200 and yields the base URL. The process is stopped (by its own pid) on exit.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from conformance.localserver import free_port

REGISTRY_BINARY = Path("/usr/bin/docker-registry")
STARTUP_TIMEOUT_S = 20.0

CONFIG_TEMPLATE = """\
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:{port}
  secret: atconform-test-secret
"""


class RegistryUnavailable(RuntimeError):
    """The package could not be installed or the registry did not start."""


def ensure_installed() -> Path:
    """The registry binary, installing Debian's package first when it is missing (idempotent)."""
    if REGISTRY_BINARY.exists():
        return REGISTRY_BINARY
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise RegistryUnavailable("docker-registry is not installed and apt-get cannot run as root")
    # policy-rc.d inside containers already refuses to start services; the env keeps apt quiet.
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    done = subprocess.run(
        ["apt-get", "install", "-y", "--no-install-recommends", "docker-registry"],
        env=env, capture_output=True, text=True, timeout=600, check=False,
    )
    if done.returncode != 0 or not REGISTRY_BINARY.exists():
        raise RegistryUnavailable(f"apt-get install docker-registry failed: {done.stderr[-500:]}")
    return REGISTRY_BINARY


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RegistryUnavailable(f"docker-registry exited: {log.read_text()[-800:]}")
            try:
                if client.get(f"{url}/v2/").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
    raise RegistryUnavailable(
        f"docker-registry did not answer GET /v2/ within {STARTUP_TIMEOUT_S}s"
    )


@contextmanager
def running_debian_registry() -> Iterator[str]:
    """A fresh Distribution registry on loopback for the ``with`` block; yields its base URL."""
    binary = ensure_installed()
    with tempfile.TemporaryDirectory(prefix="atconform-registry-") as tmp:
        root = Path(tmp)
        port = free_port()
        config = root / "config.yml"
        config.write_text(CONFIG_TEMPLATE.format(root=root / "storage", port=port))
        log = root / "registry.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [str(binary), "serve", str(config)], stdout=out, stderr=subprocess.STDOUT
            )
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_ready(url, process, log)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)


if __name__ == "__main__":  # manual use: keep one running and print its URL
    import signal

    # SIGTERM ends the wait like Ctrl-C, so the registry child is stopped too.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    with running_debian_registry() as base:
        print(base, flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
