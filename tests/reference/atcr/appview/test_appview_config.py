"""The ``ATCR_*`` settings table (docs/atcr.md): defaults, every variable read, bad values as
one clear line and exit status 2, the registry signing key created 0600 and reused."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from reference_impl.atcr.appview.config import (
    KNOWN_FAULTS,
    AtcrConfig,
    ConfigError,
    http_addr_argv,
    load_or_create_auth_key,
)

MODULE = "reference_impl.atcr.appview"


def config(env: dict[str, str], tmp: Path) -> AtcrConfig:
    return AtcrConfig.from_env(env, public_url="http://127.0.0.1:5000", data_dir=tmp)


def test_defaults(tmp_path: Path) -> None:
    c = config({}, tmp_path)
    assert c.base_url == "http://127.0.0.1:5000"
    assert c.service_name == "atcr.localhost"
    assert c.default_hold_did == "did:web:127.0.0.1%3A8080"
    assert c.auth_key_path == tmp_path / "auth-key.pem"
    assert c.database_path == tmp_path / "appview.sqlite"
    assert c.pds_url == c.plc_url == "http://127.0.0.1:2583"
    assert c.spool_dir == tmp_path / "uploads"


def test_every_variable_is_read(tmp_path: Path) -> None:
    c = config(
        {
            "ATCR_BASE_URL": "https://registry.example/",
            "ATCR_SERVICE_NAME": "registry.example",
            "ATCR_DEFAULT_HOLD_DID": "did:web:hold.example",
            "ATCR_AUTH_KEY_PATH": str(tmp_path / "keys" / "k.pem"),
            "ATCR_LOG_LEVEL": "WARNING",
            "ATCR_UI_DATABASE_URL": f"sqlite:///{tmp_path}/ui.db",
            "ATCR_PDS_URL": "http://pds.example",
            "ATCR_PLC_URL": "https://plc.example",
        },
        tmp_path,
    )
    assert c.base_url == "https://registry.example"
    assert c.service_name == "registry.example"
    assert c.default_hold_did == "did:web:hold.example"
    assert c.auth_key_path == tmp_path / "keys" / "k.pem"
    assert c.log_level == 30
    assert c.database_path == tmp_path / "ui.db"
    assert (c.pds_url, c.plc_url) == ("http://pds.example", "https://plc.example")


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("ATCR_BASE_URL", "ftp://x"),
        ("ATCR_PDS_URL", "not a url"),
        ("ATCR_PLC_URL", "http://"),
        ("ATCR_DEFAULT_HOLD_DID", "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"),
        ("ATCR_LOG_LEVEL", "loud"),
        ("ATCR_UI_DATABASE_URL", "postgres://db/atcr"),
        ("ATCR_SERVICE_NAME", "has space"),
    ],
)
def test_bad_values_name_the_variable(tmp_path: Path, variable: str, value: str) -> None:
    with pytest.raises(ConfigError, match=variable):
        config({variable: value}, tmp_path)


def test_http_addr_applies_only_without_explicit_host_or_port() -> None:
    env = {"ATCR_HTTP_ADDR": "0.0.0.0:5123"}
    assert http_addr_argv([], env) == ["--host", "0.0.0.0", "--port", "5123"]
    assert http_addr_argv(["--port", "1"], env) == ["--port", "1"]
    assert http_addr_argv(["--host=::1"], env) == ["--host=::1"]
    assert http_addr_argv([], {**env, "ATCR_PORT": "7"}) == []
    assert http_addr_argv([], {"ATCR_HTTP_ADDR": "[::1]:5000"})[1] == "::1"
    with pytest.raises(ConfigError, match="ATCR_HTTP_ADDR"):
        http_addr_argv([], {"ATCR_HTTP_ADDR": "nonsense"})


def test_auth_key_is_created_private_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "auth-key.pem"
    first = load_or_create_auth_key(path)
    assert isinstance(first.curve, ec.SECP256R1)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    second = load_or_create_auth_key(path)
    assert first.private_numbers() == second.private_numbers()
    path.write_text("garbage")
    with pytest.raises(ConfigError, match="ATCR_AUTH_KEY_PATH"):
        load_or_create_auth_key(path)


def test_bad_setting_exits_2_with_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "ATCR_LOG_LEVEL": "loud"}
    done = subprocess.run(
        [sys.executable, "-m", MODULE, "--data-dir", str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "ATCR_LOG_LEVEL" in lines[0], done.stderr


def test_list_faults_names_all_six() -> None:
    done = subprocess.run(
        [sys.executable, "-m", MODULE, "--list-faults"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert sorted(done.stdout.split()) == sorted(KNOWN_FAULTS)
    assert len(KNOWN_FAULTS) == 6
