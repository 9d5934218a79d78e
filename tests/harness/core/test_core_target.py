"""Target profiles: TOML loading, ATCONFORM_* overrides, secrets by env var name only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conformance.errors import ConfigError
from conformance.target import embedded_target, load_target, target_from_dict

FULL = """
name = "staging"
allow_load = false
[stratos]
url = "https://stratos.staging.example.com/"
service_did = "did:web:stratos.staging.example.com"
rate_limit = { writes = 300, window_s = 60 }
[atcr]
registry = "https://atcr.staging.example.com"
hold = "https://hold.staging.example.com"
[identity]
pds = "https://pds.staging.example.com"
plc = "https://plc.directory"
[[accounts]]
handle = "conform-a.staging.example.com"
password_env = "ATCONFORM_A_PASSWORD"
boundaries = ["engineering"]
[[accounts]]
handle = "conform-b.staging.example.com"
password_env = "ATCONFORM_B_PASSWORD"
app_password_env = "ATCONFORM_B_APP_PASSWORD"
boundaries = ["engineering"]
[provision]
enabled = true
handle_domain = ".staging.example.com"
invite_code_env = "ATCONFORM_INVITE"
count = 4
[oauth]
confidential_client_metadata_url = "https://conform.example.com/client-metadata.json"
confidential_client_key_env = "ATCONFORM_CLIENT_KEY"
[clock]
warn_s = 0.5
fail_s = 5
"""

SECRETS = {
    "ATCONFORM_A_PASSWORD": "pw-a-secret-1",
    "ATCONFORM_B_PASSWORD": "pw-b-secret-2",
    "ATCONFORM_B_APP_PASSWORD": "app-b-secret-3",
    "ATCONFORM_INVITE": "invite-secret-4",
    "ATCONFORM_CLIENT_KEY": "client-key-secret-5",
}


def config_error(write_target, text: str, environ: dict[str, str] | None = None) -> str:
    path = write_target(text)
    with pytest.raises(ConfigError) as info:
        load_target(path, environ if environ is not None else dict(SECRETS))
    message = info.value.message
    assert "\n" not in message
    assert info.value.exit_code == 2
    return message


def test_full_profile_loads(write_target) -> None:
    t = load_target(write_target(FULL), SECRETS)
    assert t.name == "staging"
    assert t.stratos.url == "https://stratos.staging.example.com"  # trailing slash dropped
    assert t.stratos.rate_limit is not None
    assert (t.stratos.rate_limit.writes, t.stratos.rate_limit.window_s) == (300, 60)
    assert t.identity.plc == "https://plc.directory"
    assert [a.handle for a in t.accounts] == [
        "conform-a.staging.example.com",
        "conform-b.staging.example.com",
    ]
    assert t.accounts[0].boundaries == ("engineering",)
    assert t.password(t.accounts[0]) == "pw-a-secret-1"
    assert t.app_password(t.accounts[0]) is None
    assert t.app_password(t.accounts[1]) == "app-b-secret-3"
    assert t.provision.handle_domain == "staging.example.com"
    assert t.provision.count == 4
    assert t.clock.warn_s == 0.5 and t.clock.fail_s == 5.0
    assert t.confidential_client_available
    assert sorted(t.secret_values()) == sorted(SECRETS.values())
    assert not t.embedded


def test_redacted_dict_has_names_not_values(write_target) -> None:
    t = load_target(write_target(FULL), SECRETS)
    dumped = json.dumps(t.redacted_dict())
    for value in SECRETS.values():
        assert value not in dumped
    assert "ATCONFORM_A_PASSWORD" in dumped
    assert "pw-a-secret-1" not in repr(t)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"target file .*missing\.toml does not exist"):
        load_target(tmp_path / "missing.toml", {})


def test_directory_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a directory"):
        load_target(tmp_path, {})


def test_bad_toml_names_the_line(write_target) -> None:
    message = config_error(write_target, 'name = "x"\n[identity]\npds = \n')
    assert "invalid TOML" in message
    assert "line 3" in message


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (
            'name = "x"\n[stratos]\nulr = "http://a"\n',
            "stratos.ulr: unknown field (did you mean 'url'?)",
        ),
        ('name = "x"\nallow_lod = true\n', "allow_lod: unknown field (did you mean 'allow_load'?)"),
        (
            'name = "x"\n[[accounts]]\nhandle = "a.b"\npasword_env = "X"\n',
            "accounts[0].pasword_env: unknown field (did you mean 'password_env'?)",
        ),
        ('name = "x"\n[nonsense]\n', "nonsense: unknown field"),
    ],
)
def test_unknown_field_is_named_with_a_suggestion(write_target, text: str, fragment: str) -> None:
    assert fragment in config_error(write_target, text)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (
            'name = "x"\n[stratos]\nrate_limit = { writes = "many", window_s = 60 }\n',
            "stratos.rate_limit.writes: expected an integer, got 'many'",
        ),
        ('name = "x"\nallow_load = "yes"\n', "allow_load: expected true or false"),
        (
            'name = "x"\n[identity]\npds = 5\n',
            "identity.pds: expected an http(s) URL string, got 5",
        ),
        (
            'name = "x"\n[[accounts]]\nhandle = "a.b"\npassword_env = "P"\nboundaries = "eng"\n',
            "accounts[0].boundaries: expected a list of strings",
        ),
        ('name = "x"\nstratos = 3\n', "stratos: expected a table"),
        ('name = "x"\n[clock]\nwarn_s = true\n', "clock.warn_s: expected a number"),
    ],
)
def test_wrong_type(write_target, text: str, fragment: str) -> None:
    assert fragment in config_error(write_target, text, {"P": "secret-pw"})


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("ftp://pds.example.com", "is not an http(s) URL"),
        ("pds.example.com", "is not an http(s) URL"),
        ("http://", "has no host"),
        ("https://user:pw@pds.example.com", "must not carry credentials"),
        ("https://pds.example.com/?x=1", "must not have a query or fragment"),
        ("http://pds.example.com:99999", "is not a valid URL"),
    ],
)
def test_invalid_url(write_target, url: str, fragment: str) -> None:
    message = config_error(write_target, f'name = "x"\n[identity]\npds = "{url}"\n')
    assert "identity.pds" in message and fragment in message


def test_missing_name(write_target) -> None:
    assert "name is required" in config_error(write_target, "[identity]\n")


def test_missing_secret_env_var_is_named(write_target) -> None:
    env = dict(SECRETS)
    del env["ATCONFORM_B_APP_PASSWORD"]
    message = config_error(write_target, FULL, env)
    assert "ATCONFORM_B_APP_PASSWORD" in message
    assert "accounts[1].app_password_env" in message


def test_empty_secret_counts_as_missing(write_target) -> None:
    env = dict(SECRETS, ATCONFORM_A_PASSWORD="")
    assert "ATCONFORM_A_PASSWORD is not set" in config_error(write_target, FULL, env)


def test_account_needs_password_env(write_target) -> None:
    message = config_error(write_target, 'name = "x"\n[[accounts]]\nhandle = "a.example.com"\n')
    assert "accounts[0].password_env" in message and "required" in message


def test_duplicate_handles(write_target) -> None:
    text = 'name = "x"\n' + '[[accounts]]\nhandle = "a.example.com"\npassword_env = "P"\n' * 2
    assert "listed twice" in config_error(write_target, text, {"P": "secret-pw"})


def test_provisioning_needs_a_handle_domain(write_target) -> None:
    message = config_error(write_target, 'name = "x"\n[provision]\nenabled = true\n')
    assert "provision.handle_domain" in message


def test_confidential_client_fields_go_together(write_target) -> None:
    text = (
        'name = "x"\n[oauth]\nconfidential_client_metadata_url = "https://c.example.com/m.json"\n'
    )
    assert "go together" in config_error(write_target, text)


def test_confidential_client_disabled_without_metadata_url(write_target) -> None:
    t = load_target(write_target('name = "x"\n[identity]\npds = "http://127.0.0.1:1"\n'), {})
    assert not t.confidential_client_available


# --- environment overrides ---------------------------------------------------------------------


def test_env_overrides_every_kind_of_field(write_target) -> None:
    env = dict(
        SECRETS,
        ATCONFORM_NAME="ci",
        ATCONFORM_ALLOW_LOAD="yes",
        ATCONFORM_IDENTITY_PDS="http://127.0.0.1:2583",
        ATCONFORM_STRATOS_URL="http://127.0.0.1:3100",
        ATCONFORM_STRATOS_RATE_LIMIT_WRITES="10",
        ATCONFORM_ACCOUNTS_0_HANDLE="other.example.com",
        ATCONFORM_ACCOUNTS_1_BOUNDARIES="ops, eng",
        ATCONFORM_ACCOUNTS_2_HANDLE="third.example.com",
        ATCONFORM_ACCOUNTS_2_PASSWORD_ENV="THIRD_PW",
        THIRD_PW="third-secret",
        ATCONFORM_CLOCK_FAIL_S="20",
        ATCONFORM_PROVISION_ENABLED="0",
    )
    t = load_target(write_target(FULL), env)
    assert t.name == "ci"
    assert t.allow_load is True
    assert t.identity.pds == "http://127.0.0.1:2583"
    assert t.identity.plc == "https://plc.directory"  # untouched
    assert t.stratos.url == "http://127.0.0.1:3100"
    assert t.stratos.rate_limit is not None and t.stratos.rate_limit.writes == 10
    assert t.stratos.rate_limit.window_s == 60
    assert t.accounts[0].handle == "other.example.com"
    assert t.accounts[1].boundaries == ("ops", "eng")
    assert t.accounts[2].handle == "third.example.com"
    assert t.password(t.accounts[2]) == "third-secret"
    assert t.clock.fail_s == 20.0
    assert t.provision.enabled is False


def test_env_alone_can_build_a_profile() -> None:
    t = target_from_dict(
        {},
        {
            "ATCONFORM_NAME": "from-env",
            "ATCONFORM_IDENTITY_PDS": "http://127.0.0.1:9",
            "ATCONFORM_IDENTITY_PLC": "http://127.0.0.1:9",
        },
    )
    assert t.name == "from-env" and t.identity.pds == "http://127.0.0.1:9"


def test_env_value_of_wrong_type_names_the_variable(write_target) -> None:
    env = dict(SECRETS, ATCONFORM_STRATOS_RATE_LIMIT_WINDOW_S="soon")
    message = config_error(write_target, FULL, env)
    assert message.startswith("ATCONFORM_STRATOS_RATE_LIMIT_WINDOW_S:")
    assert "expected an integer" in message


def test_env_invalid_url_names_the_variable(write_target) -> None:
    env = dict(SECRETS, ATCONFORM_IDENTITY_PDS="ftp://x")
    assert config_error(write_target, FULL, env).startswith("ATCONFORM_IDENTITY_PDS: identity.pds:")


def test_env_typo_in_a_section_is_an_error(write_target) -> None:
    env = dict(SECRETS, ATCONFORM_STRATOS_ULR="http://127.0.0.1:1")
    message = config_error(write_target, FULL, env)
    assert "ATCONFORM_STRATOS_ULR" in message and "did you mean 'url'" in message


def test_env_secret_names_and_harness_vars_are_not_fields(write_target) -> None:
    text = (
        'name = "x"\n[[accounts]]\nhandle = "a.example.com"\n'
        'password_env = "ATCONFORM_ACCOUNTS_A_PASSWORD"\n'
    )
    env = {
        "ATCONFORM_ACCOUNTS_A_PASSWORD": "secret-a",  # looks like a field, is a secret's name
        "ATCONFORM_SECRET_LEDGER": "/tmp/ledger",
        "ATCONFORM_A_PASSWORD": "unused",
    }
    t = load_target(write_target(text), env)
    assert t.password(t.accounts[0]) == "secret-a"


def test_env_account_index_must_be_contiguous(write_target) -> None:
    env = dict(SECRETS, ATCONFORM_ACCOUNTS_5_HANDLE="x.example.com")
    assert "contiguous" in config_error(write_target, FULL, env)


# --- the embedded default and URLs per profile ------------------------------------------------


def test_embedded_target() -> None:
    t = embedded_target("http://127.0.0.1:40001")
    assert t.embedded and t.name == "embedded"
    assert t.identity.plc == "http://127.0.0.1:40001"
    assert t.provision.enabled and t.provision.handle_domain == "test"
    assert t.accounts == () and t.secret_values() == ()
    assert t.urls_for("identity") == (
        ("identity.pds", "http://127.0.0.1:40001"),
        ("identity.plc", "http://127.0.0.1:40001"),
    )


def test_urls_for_a_profile_need_their_fields(write_target) -> None:
    t = load_target(
        write_target(
            'name = "x"\n[identity]\npds = "http://127.0.0.1:1"\nplc = "http://127.0.0.1:1"\n'
        ),
        {},
    )
    with pytest.raises(ConfigError, match=r"profile stratos needs `url` in the \[stratos\] table"):
        t.urls_for("stratos")
    assert [label for label, _ in t.urls_for("all")] == ["identity.pds", "identity.plc"]


REGISTRY = """
name = "plain-registry"
[atcr]
registry = "http://127.0.0.1:5999"
namespace = "team"
username = "ci"
password_env = "REGISTRY_PASSWORD"
hold_stop = "systemctl stop hold"
hold_start = "systemctl start hold"
[[accounts]]
handle = "c.example.com"
password_env = "C_PASSWORD"
hold_crew = false
atcr_login = false
"""


def test_atcr_registry_fields(write_target) -> None:
    t = load_target(write_target(REGISTRY), {"REGISTRY_PASSWORD": "reg-pw", "C_PASSWORD": "c-pw"})
    assert (t.atcr.namespace, t.atcr.username) == ("team", "ci")
    assert t.secret(t.atcr.password_env or "") == "reg-pw"
    assert "reg-pw" in t.secret_values()
    assert (t.atcr.hold_stop, t.atcr.hold_start) == ("systemctl stop hold", "systemctl start hold")
    assert not t.accounts[0].hold_crew and not t.accounts[0].atcr_login
    assert "reg-pw" not in json.dumps(t.redacted_dict())


@pytest.mark.parametrize(
    ("drop", "message"),
    [
        ('username = "ci"\n', "username and password_env go together"),
        ('hold_start = "systemctl start hold"\n', "hold_stop and hold_start go together"),
    ],
)
def test_atcr_fields_that_go_together(write_target, drop: str, message: str) -> None:
    text = REGISTRY.replace(drop, "")
    assert message in config_error(
        write_target, text, {"REGISTRY_PASSWORD": "x", "C_PASSWORD": "y"}
    )
