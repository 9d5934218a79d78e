"""The ``skopeo`` command line: copies between a Docker engine, OCI layout directories and a
registry (plain HTTP on loopback, hence ``--*-tls-verify=false``)."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from conformance.realclients.commands import CommandStep, run_step
from conformance.redact import Redactor

STEP_TIMEOUT_S = 180.0


def skopeo_unavailable() -> str | None:
    return None if shutil.which("skopeo") else "no skopeo binary on PATH"


class SkopeoCli:
    def __init__(
        self, redactor: Redactor, docker_host: str | None = None, timeout: float = STEP_TIMEOUT_S
    ) -> None:
        self.redactor = redactor
        self.docker_host = docker_host
        self.timeout = timeout
        self.binary = shutil.which("skopeo") or "skopeo"

    def _creds(self, username: str, password: str) -> str:
        value = f"{username}:{password}"
        self.redactor.add(password)
        self.redactor.add(value)
        return value

    def _daemon_host(self, flag: str) -> list[str]:
        return [flag, self.docker_host] if self.docker_host else []

    def push_from_daemon(
        self, local_reference: str, remote: str, username: str, password: str
    ) -> CommandStep:
        """docker-daemon:<local> → docker://<remote>."""
        return self._copy("skopeo copy docker-daemon → registry",
                          f"docker-daemon:{local_reference}", f"docker://{remote}",
                          "dest", username, password, self._daemon_host("--src-daemon-host"))

    def pull_to_oci_dir(
        self, remote: str, directory: Path, username: str, password: str
    ) -> CommandStep:
        """docker://<remote> → oci:<directory>:pulled (an OCI image layout)."""
        return self._copy("skopeo copy registry → oci dir",
                          f"docker://{remote}", f"oci:{directory}:pulled",
                          "src", username, password)

    def push_from_oci_dir(
        self, directory: Path, remote: str, username: str, password: str
    ) -> CommandStep:
        """oci:<directory>:pulled → docker://<remote>."""
        return self._copy("skopeo copy oci dir → registry",
                          f"oci:{directory}:pulled", f"docker://{remote}",
                          "dest", username, password)

    def inspect(self, remote: str, username: str, password: str) -> CommandStep:
        argv = [self.binary, "inspect", "--raw", "--tls-verify=false",
                "--creds", self._creds(username, password), f"docker://{remote}"]
        return run_step("skopeo inspect --raw", argv, redactor=self.redactor,
                        timeout=self.timeout)

    def _copy(
        self,
        title: str,
        source: str,
        destination: str,
        registry_side: Literal["src", "dest"],
        username: str,
        password: str,
        extra: Sequence[str] = (),
    ) -> CommandStep:
        # Only the registry side of a copy talks plain HTTP and needs credentials.
        argv = [self.binary, "copy", f"--{registry_side}-tls-verify=false",
                f"--{registry_side}-creds", self._creds(username, password),
                *extra, source, destination]
        return run_step(title, argv, redactor=self.redactor, timeout=self.timeout)
