"""The reference image built for real (docs/docker.md, "The image" and "Offline base image").

Needs a Docker engine (skipped, with the reason, without one). The base is the offline one
(``docker/offline-base-image``: idempotent, cached), so no registry is needed; the image is
built through the harness's own ``ensure_image`` with no network, exactly as ``--runtime
docker`` builds it.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from docker_support import docker_client_or_skip, offline_base_image

from conformance.localserver import free_port
from conformance.runtime.image import (
    FAKETIME_LIBRARY,
    ImageError,
    ensure_image,
    has_faketime,
    prepare_context,
    project_root,
)

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ["pds", "stratos", "stratos-appview", "hold", "atcr"]
HEALTH_DEADLINE_S = 90.0
LABEL = {"io.atconform.test": "image-build"}


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    docker_client = docker_client_or_skip()
    try:
        yield docker_client
    finally:
        docker_client.close()


@pytest.fixture(scope="module")
def base_image(client: Any) -> str:
    return offline_base_image()


@pytest.fixture(scope="module")
def tag(client: Any, base_image: str) -> str:
    # The context first, even when an image with this tag exists already (built from another
    # checkout of the same sources): what this checkout downloads is what the tests compare.
    prepare_context(project_root())
    return ensure_image(client, project_root(), base_image)


def run_once(client: Any, tag: str, command: list[str], **kwargs: Any) -> str:
    """Run a throwaway container without network; its stdout. The container and the anonymous
    /data volume it gets are removed after (``containers.run(remove=True)`` keeps the volume)."""
    container = client.containers.create(tag, command, network_mode="none", labels=LABEL, **kwargs)
    try:
        container.start()
        result = container.wait(timeout=120)
        output = container.logs(stdout=True, stderr=False).decode()
        errors = container.logs(stdout=False, stderr=True).decode()
        assert result["StatusCode"] == 0, errors
        return str(output)
    finally:
        container.remove(force=True, v=True)


def test_the_image_lists_the_five_services(client: Any, tag: str) -> None:
    assert run_once(client, tag, ["services"]).splitlines() == SERVICES


def test_the_services_import_without_network(client: Any, tag: str) -> None:
    probe = (
        "import json, os, sys\n"
        "import reference_impl.pds.app, reference_impl.stratos.production\n"
        "import reference_impl.stratos.appview.app, reference_impl.atcr.hold.app\n"
        "import reference_impl.atcr.appview.production, lexicons\n"
        "print(json.dumps({'uid': os.getuid(), 'prefix': sys.prefix, 'cwd': os.getcwd(),\n"
        "  'package': reference_impl.pds.app.__file__, 'data': os.access('/data', os.W_OK)}))\n"
    )
    seen = json.loads(run_once(client, tag, ["-c", probe], entrypoint=["python"]))
    assert seen == {
        "uid": 10001,
        "prefix": "/opt/venv",
        "cwd": "/data",
        "package": "/app/reference_impl/pds/app.py",
        "data": True,
    }


def test_the_image_is_labelled_and_configured_per_the_contract(client: Any, tag: str) -> None:
    config = client.images.get(tag).attrs["Config"]
    assert config["Entrypoint"] == ["python", "-m", "reference_impl"]
    assert config["User"] == "reference"
    assert "/data" in config["Volumes"]
    assert "PYTHONPATH=/app" in config["Env"]
    assert client.images.get("atconform-reference:latest").id == client.images.get(tag).id


def test_a_second_ensure_reuses_the_image(client: Any, tag: str, base_image: str) -> None:
    before = client.images.get(tag)
    said: list[str] = []
    again = ensure_image(client, project_root(), base_image, progress=said.append)
    assert again == tag
    assert client.images.get(again).id == before.id
    assert client.images.get(again).attrs["Created"] == before.attrs["Created"]
    assert [line for line in said if "build" in line] == []
    assert any("reusing" in line for line in said)


def test_a_missing_base_image_is_one_line_naming_the_offline_script(client: Any) -> None:
    missing = f"atconform-no-such-base:{uuid.uuid4().hex[:8]}"
    with pytest.raises(ImageError) as raised:
        ensure_image(client, project_root(), missing)
    assert "docker/offline-base-image" in raised.value.message
    assert "--base-image atconform-base:bookworm" in raised.value.message


def test_a_pds_container_on_loopback_becomes_healthy(client: Any, tag: str) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    container = client.containers.run(
        tag,
        ["pds", "--host", "127.0.0.1", "--port", str(port), "--data-dir", "/data"],
        environment={"PDS_PUBLIC_URL": url, "PDS_HANDLE_DOMAINS": ".test"},
        network_mode="host",
        detach=True,
        labels=LABEL,
        name=f"atconform-test-pds-{uuid.uuid4().hex[:8]}",
    )
    try:
        status = None
        deadline = time.monotonic() + HEALTH_DEADLINE_S
        with httpx.Client(timeout=2.0, trust_env=False) as http:
            while time.monotonic() < deadline:
                container.reload()
                if container.status == "exited":
                    break
                try:
                    status = http.get(f"{url}/xrpc/_health").status_code
                except httpx.TransportError:
                    status = None
                if status == 200:
                    break
                time.sleep(0.5)
        logs = container.logs().decode("utf-8", "replace")[-3000:]
        assert status == 200, logs
        # The same check compose runs, from inside the container.
        check = container.exec_run(
            ["python", "-m", "reference_impl", "health", f"{url}/xrpc/_health"]
        )
        assert check.exit_code == 0, check.output
        assert f"starting pds on 127.0.0.1:{port}" in logs
    finally:
        container.remove(force=True, v=True)
    assert client.containers.list(all=True, filters={"id": container.id}) == []


def test_libfaketime_is_in_the_image_exactly_when_it_was_downloaded(client: Any, tag: str) -> None:
    downloaded = any((ROOT / "docker" / "build" / "debs").glob("libfaketime*.deb"))
    assert has_faketime(client, tag) is downloaded
    if not downloaded:
        return
    host_now = time.time()
    skewed = run_once(
        client,
        tag,
        ["-c", "import time; print(time.time())"],
        entrypoint=["python"],
        environment={
            "LD_PRELOAD": FAKETIME_LIBRARY,
            "FAKETIME": "+86400",
            "FAKETIME_DONT_FAKE_MONOTONIC": "1",
        },
    )
    assert float(skewed) > host_now + 86400 - 3600
