"""docker/compose.yaml as Debian's docker-compose reads it (docs/docker.md, "compose").

``docker-compose config`` needs no engine: it interpolates and validates the file and prints
the resolved model, which these tests check against the settings the process runtime gives the
same services.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from conformance.runtime.process import (
    DEFAULT_PORTS,
    PROFILE_SERVICES,
    hold_did,
    service_specs,
)

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker" / "compose.yaml"
SERVICES = PROFILE_SERVICES["all"]
TOKEN = "test-sync-token-0123456789"
# Variables the file interpolates; cleared so the caller's environment cannot change the model.
INTERPOLATED = (
    "STRATOS_SYNC_TOKEN",
    "ATCONFORM_BASE_IMAGE",
    "STRATOS_ENROLLMENT_MODE",
    "HOLD_ALLOW_ALL_CREW",
)
# What `atconform serve` changes for a hand-started deployment (no allowlist, no crew list).
SERVE_OPENED = {
    "stratos": {"STRATOS_ENROLLMENT_MODE": "open"},
    "hold": {"HOLD_ALLOW_ALL_CREW": "true"},
}


def compose_config(**env: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.skip("docker-compose is not installed (apt-get install docker-compose)")
    clean = {k: v for k, v in os.environ.items() if k not in INTERPOLATED}
    clean = {k: v for k, v in clean.items() if not k.startswith("COMPOSE_")}
    return subprocess.run(
        [binary, "-f", str(COMPOSE_FILE), "config"],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def model() -> dict[str, Any]:
    done = compose_config(STRATOS_SYNC_TOKEN=TOKEN)
    assert done.returncode == 0, done.stderr
    parsed = yaml.safe_load(done.stdout)
    assert isinstance(parsed, dict)
    return parsed


def test_the_five_services(model: dict[str, Any]) -> None:
    assert sorted(model["services"]) == sorted(SERVICES)


@pytest.mark.parametrize("name", SERVICES)
def test_service_runs_the_image_on_loopback_with_host_networking(
    model: dict[str, Any], name: str
) -> None:
    service = model["services"][name]
    assert service["network_mode"] == "host"
    assert service["image"] == "atconform-reference:latest"
    assert service.get("ports", []) == []  # host networking publishes nothing
    port = str(DEFAULT_PORTS[name])
    assert service["command"] == [
        name, "--host", "127.0.0.1", "--port", port, "--data-dir", "/data"
    ]  # fmt: skip


@pytest.mark.parametrize("name", SERVICES)
def test_service_builds_the_image_offline_from_the_repository(
    model: dict[str, Any], name: str
) -> None:
    build = model["services"][name]["build"]
    assert Path(build["context"]) == ROOT
    assert build["dockerfile"] == "docker/Dockerfile"
    assert build["network"] == "none"
    assert build["args"] == {"BASE_IMAGE": "python:3.11-slim"}


def test_the_base_image_follows_atconform_base_image() -> None:
    done = compose_config(STRATOS_SYNC_TOKEN=TOKEN, ATCONFORM_BASE_IMAGE="atconform-base:bookworm")
    assert done.returncode == 0, done.stderr
    services = yaml.safe_load(done.stdout)["services"]
    for name in SERVICES:
        assert services[name]["build"]["args"]["BASE_IMAGE"] == "atconform-base:bookworm"


@pytest.mark.parametrize("name", SERVICES)
def test_service_health_check_uses_the_entrypoint(model: dict[str, Any], name: str) -> None:
    check = model["services"][name]["healthcheck"]
    url = f"http://127.0.0.1:{DEFAULT_PORTS[name]}/xrpc/_health"
    assert check["test"] == ["CMD", "python", "-m", "reference_impl", "health", url]
    for key in ("interval", "timeout", "retries", "start_period"):
        assert check[key], key


def test_each_service_keeps_its_data_in_its_own_named_volume(model: dict[str, Any]) -> None:
    declared = set(model["volumes"])
    sources = []
    for name in SERVICES:
        volumes = model["services"][name]["volumes"]
        assert len(volumes) == 1, volumes
        source, target = volumes[0].split(":")[:2]
        assert target == "/data"
        assert source in declared
        sources.append(source)
    assert len(set(sources)) == len(SERVICES)


def test_services_start_after_their_dependencies_are_healthy(model: dict[str, Any]) -> None:
    services = model["services"]
    assert "depends_on" not in services["pds"]
    for name in SERVICES[1:]:
        depends = services[name]["depends_on"]
        assert depends, name
        for dependency, condition in depends.items():
            assert condition == {"condition": "service_healthy"}
            # Start order of the process runtime: dependencies come first.
            assert SERVICES.index(dependency) < SERVICES.index(name)
    assert set(services["atcr"]["depends_on"]) == {"pds", "hold"}
    assert set(services["stratos-appview"]["depends_on"]) == {"stratos"}


@pytest.mark.parametrize("name", SERVICES)
def test_service_gets_the_settings_of_the_process_runtime(model: dict[str, Any], name: str) -> None:
    [spec] = [s for s in service_specs(SERVICES, DEFAULT_PORTS) if s.name == name]
    environment = model["services"][name]["environment"]
    for key, value in {**spec.env, **SERVE_OPENED.get(name, {})}.items():
        assert environment.get(key) == value, key


def test_the_hold_did_matches_the_hold_url(model: dict[str, Any]) -> None:
    environment = model["services"]["atcr"]["environment"]
    assert environment["ATCR_DEFAULT_HOLD_DID"] == hold_did("http://127.0.0.1:8080")
    assert environment["ATCR_DEFAULT_HOLD_DID"] == "did:web:127.0.0.1%3A8080"


def test_opening_the_deployment_can_be_overridden() -> None:
    done = compose_config(
        STRATOS_SYNC_TOKEN=TOKEN, STRATOS_ENROLLMENT_MODE="allowlist", HOLD_ALLOW_ALL_CREW="false"
    )
    assert done.returncode == 0, done.stderr
    services = yaml.safe_load(done.stdout)["services"]
    assert services["stratos"]["environment"]["STRATOS_ENROLLMENT_MODE"] == "allowlist"
    assert services["hold"]["environment"]["HOLD_ALLOW_ALL_CREW"] == "false"


def test_both_stratos_services_share_the_sync_token(model: dict[str, Any]) -> None:
    services = model["services"]
    assert services["stratos"]["environment"]["STRATOS_SYNC_TOKEN"] == TOKEN
    assert services["stratos-appview"]["environment"]["STRATOS_APPVIEW_SYNC_TOKEN"] == TOKEN


@pytest.mark.parametrize("value", [None, ""])
def test_config_fails_without_a_sync_token(value: str | None) -> None:
    done = compose_config() if value is None else compose_config(STRATOS_SYNC_TOKEN=value)
    assert done.returncode != 0
    assert "set STRATOS_SYNC_TOKEN" in done.stderr
    assert done.stdout.strip() == ""
