"""Run the reference services as plain subprocesses on loopback (the embedded default).

The harness never imports ``reference_impl``; it starts each service by module name
(``python -m reference_impl.pds --host 127.0.0.1 --port P --data-dir D [--fault NAME]``), waits
for its health endpoint, and stops it with SIGTERM (then SIGKILL after a grace period). Each
service's stdout and stderr go to ``<log_dir>/<name>.log``.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import IO, Generic, Protocol, Self, TypeVar

import httpx

from conformance.errors import EXIT_USAGE, ConfigError, HarnessError, UsageError
from conformance.runtime.faketime import faketime_env, host_library

LOOPBACK = "127.0.0.1"
DEFAULT_HEALTH_PATH = "/xrpc/_health"

# Default ports of the reference services (00-overview.md).
DEFAULT_PORTS: Mapping[str, int] = MappingProxyType(
    {"pds": 2583, "stratos": 3100, "stratos-appview": 3200, "atcr": 5000, "hold": 8080}
)
# Services that exist in reference_impl today; the others slot in here as they land.
SERVICE_MODULES: Mapping[str, str] = MappingProxyType(
    {
        "pds": "reference_impl.pds",
        "stratos": "reference_impl.stratos",
        "stratos-appview": "reference_impl.stratos.appview",
        "hold": "reference_impl.atcr.hold",
        "atcr": "reference_impl.atcr.appview",
    }
)
# The Stratos service identity of the embedded default (a valid record key: no "%").
STRATOS_SERVICE_DID = "did:web:stratos.localhost"
# What each profile needs running, in start order (dependencies first).
PROFILE_SERVICES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "identity": ("pds",),
        "stratos": ("pds", "stratos", "stratos-appview"),
        "atcr": ("pds", "hold", "atcr"),
        "oci": ("pds", "hold", "atcr"),
        "all": ("pds", "stratos", "stratos-appview", "hold", "atcr"),
    }
)


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    module: str
    port: int
    env: Mapping[str, str] = field(default_factory=dict)
    health_path: str = DEFAULT_HEALTH_PATH
    faults: tuple[str, ...] = ()
    # Seconds this service's wall clock runs ahead (negative: behind), via libfaketime.
    clock_offset_s: float = 0.0

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"


def port_in_use(port: int, host: str = LOOPBACK) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # SO_REUSEADDR as the servers use it: a port in TIME_WAIT is free, a listener is not.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return True
            raise
    return False


def pick_free_ports(names: Sequence[str], host: str = LOOPBACK) -> dict[str, int]:
    """Distinct free loopback ports, one per name (all held open together while choosing)."""
    with contextlib.ExitStack() as stack:
        ports: dict[str, int] = {}
        for name in names:
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind((host, 0))
            ports[name] = int(sock.getsockname()[1])
        return ports


def parse_ports(spec: str | None, known: Sequence[str] = tuple(DEFAULT_PORTS)) -> dict[str, int]:
    """``pds=2583,stratos=3100`` -> {"pds": 2583, "stratos": 3100}."""
    out: dict[str, int] = {}
    if not spec:
        return out
    for part in spec.split(","):
        name, sep, value = part.strip().partition("=")
        if not sep or not name or not value:
            raise UsageError(f"--ports: expected NAME=PORT, got {part.strip()!r}")
        if name not in known:
            raise UsageError(f"--ports: unknown service {name!r} (known: {', '.join(known)})")
        try:
            port = int(value)
        except ValueError:
            raise UsageError(f"--ports: {name}: {value!r} is not a port number") from None
        if not 1 <= port <= 65535:
            raise UsageError(f"--ports: {name}: {port} is not a port number")
        out[name] = port
    return out


FaultCatalogue = Callable[[str], frozenset[str]]


def faults_of_service(name: str, python: str = sys.executable) -> frozenset[str]:
    """The faults a reference service knows, asked of the service itself (``--list-faults``),
    so the harness holds no copy of that list and never imports the service."""
    done = subprocess.run(  # noqa: S603 - our interpreter, fixed argv, no shell
        [python, "-m", SERVICE_MODULES[name], "--list-faults"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        raise HarnessError(f"could not ask {name} for its faults: {done.stderr.strip()[-300:]}")
    return frozenset(line.strip() for line in done.stdout.splitlines() if line.strip())


def parse_faults(
    faults: Sequence[str],
    services: Sequence[str],
    catalogue: FaultCatalogue = faults_of_service,
) -> dict[str, tuple[str, ...]]:
    """``SERVICE:NAME`` goes to that service; a bare ``NAME`` to the started services that know
    it (UsageError, naming the known faults, when none does)."""
    out: dict[str, list[str]] = {s: [] for s in services}
    known: dict[str, frozenset[str]] = {}
    for fault in faults:
        service, sep, name = fault.partition(":")
        if not sep:
            for s in services:
                if s not in known:
                    known[s] = catalogue(s)
            owners = [s for s in services if fault in known[s]]
            if not owners:
                listed = ", ".join(sorted(set().union(*known.values()))) or "none"
                raise UsageError(f"--fault {fault}: no started service knows it (known: {listed})")
            for s in owners:
                out[s].append(fault)
        elif service not in out:
            raise UsageError(f"--fault {fault}: {service} is not started for this profile")
        elif not name:
            raise UsageError(f"--fault {fault}: missing fault name")
        else:
            out[service].append(name)
    return {s: tuple(v) for s, v in out.items()}


def services_for(profiles: Sequence[str]) -> tuple[str, ...]:
    """The services a set of profiles needs, in start order (dependencies first)."""
    wanted: dict[str, None] = {}
    for profile in profiles:
        try:
            wanted.update(dict.fromkeys(PROFILE_SERVICES[profile]))
        except KeyError:
            raise UsageError(f"unknown profile {profile!r}") from None
    order = PROFILE_SERVICES["all"]
    return tuple(sorted(wanted, key=order.index))


def reference_services(
    profile: str,
    ports: Mapping[str, int],
    faults: Sequence[str] = (),
) -> list[ServiceSpec]:
    """The services a profile needs, in start order; UsageError when one does not exist yet."""
    return service_specs(services_for([profile]), ports, faults, profile=profile)


def service_specs(
    names: Sequence[str],
    ports: Mapping[str, int],
    faults: Sequence[str] = (),
    *,
    profile: str | None = None,
) -> list[ServiceSpec]:
    missing = [n for n in names if n not in SERVICE_MODULES]
    if missing:
        which = f" (profile {profile} is not implemented yet)" if profile else ""
        raise UsageError(
            f"the reference implementation has no {', '.join(missing)} service yet{which}"
        )
    for name in names:
        if name not in ports:
            raise UsageError(f"no port chosen for service {name}")
    by_service = parse_faults(faults, names)
    urls = {n: f"http://{LOOPBACK}:{ports[n]}" for n in names}
    return [
        ServiceSpec(
            name=name,
            module=SERVICE_MODULES[name],
            port=ports[name],
            env=_service_env(name, urls),
            faults=by_service[name],
        )
        for name in names
    ]


def _service_env(name: str, urls: Mapping[str, str]) -> dict[str, str]:
    """Settings a service takes from env vars (prefix per service, 00-overview.md)."""
    if name == "pds":
        # The PDS also serves the DID directory and is its own OAuth authorization server.
        return {"PDS_PUBLIC_URL": urls["pds"], "PDS_HANDLE_DOMAINS": ".test"}
    if name == "stratos":
        return {
            "STRATOS_PUBLIC_URL": urls["stratos"],
            "STRATOS_SERVICE_DID": STRATOS_SERVICE_DID,
            "STRATOS_PDS_URL": urls["pds"],
            "STRATOS_PLC_URL": urls["pds"],
        }
    if name == "stratos-appview":
        return {
            "STRATOS_APPVIEW_PUBLIC_URL": urls["stratos-appview"],
            "STRATOS_APPVIEW_STRATOS_URL": urls["stratos"],
            "STRATOS_APPVIEW_PLC_URL": urls["pds"],
        }
    if name == "hold":
        return {
            "HOLD_PUBLIC_URL": urls["hold"],
            "HOLD_PLC_URL": urls["pds"],
            "HOLD_PUBLIC": "true",
            "HOLD_ALLOW_ALL_CREW": "false",
        }
    if name == "atcr":
        return {
            "ATCR_BASE_URL": urls["atcr"],
            "ATCR_PDS_URL": urls["pds"],
            "ATCR_PLC_URL": urls["pds"],
            "ATCR_DEFAULT_HOLD_DID": hold_did(urls["hold"]),
        }
    return {}


def hold_did(hold_url: str) -> str:
    """The did:web of a hold served at ``hold_url`` (docs/atcr.md: host, ``:`` as ``%3A``)."""
    return "did:web:" + hold_url.split("://", 1)[-1].split("/", 1)[0].replace(":", "%3A")


def wait_healthy(
    spec: ServiceSpec,
    timeout: float,
    *,
    exit_code: Callable[[], int | None],
    where: str,
    log_tail: Callable[[], str],
) -> None:
    """Poll ``spec``'s health endpoint until it answers 200; HarnessError (with the log tail)
    when the service exits first or the timeout passes. ``where`` says where its log is."""
    url = spec.url + spec.health_path
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=1.0, trust_env=False) as client:
        while True:
            code = exit_code()
            if code is not None:
                raise HarnessError(
                    f"{spec.name} exited with code {code} while starting; see {where}",
                    # Exit 2 is a service's own usage error (e.g. an unknown --fault name).
                    exit_code=EXIT_USAGE if code == EXIT_USAGE else None,
                    details=log_tail(),
                )
            try:
                if client.get(url).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise HarnessError(
                    f"{spec.name} did not answer {spec.health_path} with 200 within "
                    f"{timeout:g} s; see {where}",
                    details=log_tail(),
                )
            time.sleep(0.1)


def check_ports_free(specs: Sequence[ServiceSpec]) -> None:
    """Unique names and ports, none of them already listening (before anything starts)."""
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise ValueError("service names must be unique")
    ports = [s.port for s in specs]
    if len(set(ports)) != len(ports):
        raise ConfigError("two services were given the same port; choose others with --ports")
    for spec in specs:
        if port_in_use(spec.port):
            raise ConfigError(
                f"port {spec.port} is already in use ({spec.name}); choose another with "
                f"--ports {spec.name}=PORT"
            )


@dataclass
class _Running:
    spec: ServiceSpec
    process: subprocess.Popen[bytes]
    log: IO[bytes]
    log_path: Path


class _HasSpec(Protocol):
    spec: ServiceSpec


Running = TypeVar("Running", bound=_HasSpec)


class ServiceLifecycle(Generic[Running]):
    """What both runtimes share: start in order and wait for each to be healthy, stop in
    reverse order, and stop everything on exit or when a start fails. Subclasses say how one
    service is launched, awaited and terminated."""

    def __init__(self) -> None:
        self._running: dict[str, Running] = {}

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self, specs: Sequence[ServiceSpec]) -> dict[str, str]:
        """Start every service (ports checked first), wait until each is healthy; name -> URL."""
        for spec in specs:
            if spec.name in self._running:
                raise ValueError(f"{spec.name} is already running")
        check_ports_free(specs)
        try:
            for spec in specs:
                self._launch(spec)
                self._wait_healthy(spec.name)
        except BaseException:
            # Includes KeyboardInterrupt: never leave half a deployment running.
            self.stop()
            raise
        return self.urls

    def stop(self) -> None:
        """Stop every service, dependants first."""
        for name in reversed(list(self._running)):
            self._terminate(name)

    @property
    def urls(self) -> dict[str, str]:
        return {name: r.spec.url for name, r in self._running.items()}

    def _get(self, name: str) -> Running:
        try:
            return self._running[name]
        except KeyError:
            raise ValueError(f"no service named {name!r} was started") from None

    def _launch(self, spec: ServiceSpec) -> None:
        raise NotImplementedError

    def _wait_healthy(self, name: str) -> None:
        raise NotImplementedError

    def _terminate(self, name: str) -> None:
        raise NotImplementedError


class ProcessRuntime(ServiceLifecycle[_Running]):
    """Reference services as subprocesses: SIGTERM, then SIGKILL after a grace period."""

    def __init__(
        self,
        data_dir: Path,
        log_dir: Path,
        *,
        python: str = sys.executable,
        startup_timeout: float = 30.0,
        stop_grace: float = 5.0,
        base_env: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__()
        self.data_dir = data_dir
        self.log_dir = log_dir
        self.python = python
        self.startup_timeout = startup_timeout
        self.stop_grace = stop_grace
        self.base_env = dict(os.environ if base_env is None else base_env)

    @property
    def log_paths(self) -> dict[str, Path]:
        return {name: r.log_path for name, r in self._running.items()}

    @property
    def description(self) -> str:
        return f"local processes ({self.python})"

    def is_running(self, name: str) -> bool:
        r = self._running.get(name)
        return r is not None and r.process.poll() is None

    def pid(self, name: str) -> int:
        """Process id of a running service (for resource measurements)."""
        return self._get(name).process.pid

    def exited(self) -> dict[str, int]:
        """Services that have stopped on their own: name -> exit code."""
        out: dict[str, int] = {}
        for name, r in self._running.items():
            code = r.process.poll()
            if code is not None:
                out[name] = code
        return out

    # --- fault scenarios ----------------------------------------------------------------------

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Send a signal to one service (e.g. SIGKILL to test durability); no restart."""
        r = self._get(name)
        if r.process.poll() is None:
            r.process.send_signal(sig)
            if sig in (signal.SIGKILL, signal.SIGTERM):
                with contextlib.suppress(subprocess.TimeoutExpired):
                    r.process.wait(timeout=self.stop_grace)

    def pause(self, name: str) -> None:
        """Freeze one service (SIGSTOP): connections are accepted by the kernel, not answered."""
        self._get(name).process.send_signal(signal.SIGSTOP)

    def resume(self, name: str) -> None:
        self._get(name).process.send_signal(signal.SIGCONT)

    def restart(self, name: str) -> str:
        """Stop one service (if it still runs) and start it again on the same port and data."""
        spec = self._get(name).spec
        self._terminate(name)
        try:
            self._launch(spec)
            self._wait_healthy(name)
        except BaseException:
            self._terminate(name)
            raise
        return spec.url

    # --- internals ----------------------------------------------------------------------------

    def command(self, spec: ServiceSpec) -> list[str]:
        argv = [
            self.python,
            "-m",
            spec.module,
            "--host",
            LOOPBACK,
            "--port",
            str(spec.port),
            "--data-dir",
            str(self.data_dir / spec.name),
        ]
        for fault in spec.faults:
            argv += ["--fault", fault]
        return argv

    def _launch(self, spec: ServiceSpec) -> None:
        (self.data_dir / spec.name).mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{spec.name}.log"
        log = log_path.open("ab")
        env = {**self.base_env, **spec.env, **self._clock_env(spec), "PYTHONUNBUFFERED": "1"}
        try:
            process = subprocess.Popen(  # noqa: S603 - our interpreter, fixed argv, no shell
                self.command(spec),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
        except OSError as exc:
            log.close()
            raise HarnessError(f"could not start {spec.name}: {exc}") from None
        self._running[spec.name] = _Running(spec, process, log, log_path)

    @staticmethod
    def _clock_env(spec: ServiceSpec) -> dict[str, str]:
        if not spec.clock_offset_s:
            return {}
        library = host_library()
        if library is None:
            raise ConfigError(
                f"skewing {spec.name}'s clock needs libfaketime on this host "
                "(apt-get install libfaketime), or use --runtime docker"
            )
        return faketime_env(spec.clock_offset_s, library)

    def _wait_healthy(self, name: str) -> None:
        r = self._running[name]
        wait_healthy(
            r.spec,
            self.startup_timeout,
            exit_code=r.process.poll,
            where=str(r.log_path),
            log_tail=lambda: self.log_tail(name),
        )

    def log_location(self, name: str) -> str:
        return str(self.log_dir / f"{name}.log")

    def log_tail(self, name: str, lines: int = 20) -> str:
        r = self._running.get(name)
        if r is None or not r.log_path.is_file():
            return ""
        with contextlib.suppress(ValueError):
            r.log.flush()
        text = r.log_path.read_text("utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def _terminate(self, name: str) -> None:
        r = self._running.pop(name, None)
        if r is None:
            return
        try:
            if r.process.poll() is None:
                r.process.terminate()
                # A paused (SIGSTOPped) service only acts on SIGTERM once it runs again.
                r.process.send_signal(signal.SIGCONT)
                try:
                    r.process.wait(timeout=self.stop_grace)
                except subprocess.TimeoutExpired:
                    r.process.kill()
                    r.process.wait(timeout=self.stop_grace)
        finally:
            r.log.close()


@contextlib.contextmanager
def running_services(
    runtime: ProcessRuntime, specs: Sequence[ServiceSpec]
) -> Iterator[dict[str, str]]:
    """``with running_services(rt, specs) as urls:`` — started on entry, stopped on exit."""
    with runtime:
        yield runtime.start(specs)
