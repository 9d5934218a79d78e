"""The ``skopeo`` command line: copies between a Docker engine, OCI layout directories and a
registry (plain HTTP on loopback, hence ``--*-tls-verify=false``)."""

from __future__ import annotations

import shutil
from pathlib import Path

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
        argv = [self.binary, "copy", "--dest-tls-verify=false",
                "--dest-creds", self._creds(username, password),
                *self._daemon_host("--src-daemon-host"),
                f"docker-daemon:{local_reference}", f"docker://{remote}"]
        return run_step("skopeo copy docker-daemon → registry", argv, redactor=self.redactor,
                        timeout=self.timeout)

    def pull_to_oci_dir(
        self, remote: str, directory: Path, username: str, password: str
    ) -> CommandStep:
        """docker://<remote> → oci:<directory>:pulled (an OCI image layout)."""
        argv = [self.binary, "copy", "--src-tls-verify=false",
                "--src-creds", self._creds(username, password),
                f"docker://{remote}", f"oci:{directory}:pulled"]
        return run_step("skopeo copy registry → oci dir", argv, redactor=self.redactor,
                        timeout=self.timeout)

    def push_from_oci_dir(
        self, directory: Path, remote: str, username: str, password: str
    ) -> CommandStep:
        """oci:<directory>:pulled → docker://<remote>."""
        argv = [self.binary, "copy", "--dest-tls-verify=false",
                "--dest-creds", self._creds(username, password),
                f"oci:{directory}:pulled", f"docker://{remote}"]
        return run_step("skopeo copy oci dir → registry", argv, redactor=self.redactor,
                        timeout=self.timeout)

    def inspect(self, remote: str, username: str, password: str) -> CommandStep:
        argv = [self.binary, "inspect", "--raw", "--tls-verify=false",
                "--creds", self._creds(username, password), f"docker://{remote}"]
        return run_step("skopeo inspect --raw", argv, redactor=self.redactor,
                        timeout=self.timeout)
