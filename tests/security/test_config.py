"""Trusted-clients configuration, production refusals, and ``serve``'s development-mode rules."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from cds_service import cli
from cds_service.api.app import create_app
from cds_service.api.clients import SANDBOX_ISSUER, check_deployment, load_clients
from cds_service.errors import ConfigurationError
from cds_service.settings import Settings
from tests.security.kit import JwksServer, Keys, public_jwk

EC_JWK = '{kty = "EC", kid = "k1", crv = "P-384", x = "AA", y = "AA"}'
GOOD = (
    """
[[client]]
name = "EHR"
iss = "https://ehr.example.org"
jwks_url = "https://ehr.example.org/jwks.json"
jku_allow = ["https://ehr.example.org/jku.json"]
tenants = ["org-1", "org-2"]

[[client]]
iss = "https://inline.example.org"
[client.jwks]
keys = ["""
    + EC_JWK
    + """]
"""
)


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "clients.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_clients_file_is_read(tmp_path: Path) -> None:
    clients = load_clients(_write(tmp_path, GOOD))
    assert set(clients) == {"https://ehr.example.org", "https://inline.example.org"}
    ehr = clients["https://ehr.example.org"]
    assert ehr.name == "EHR"
    assert ehr.tenants == ("org-1", "org-2")
    assert ehr.jku_allow == ("https://ehr.example.org/jku.json",)
    inline = clients["https://inline.example.org"]
    assert inline.name == inline.iss
    assert inline.jwks is not None and inline.jwks[0]["kid"] == "k1"
    assert not clients.development


def test_inline_jwks_may_be_json_text(tmp_path: Path, keys: Keys) -> None:
    import json

    jwks = json.dumps({"keys": [public_jwk(keys.rsa, "r1")]})
    clients = load_clients(_write(tmp_path, f"[[client]]\niss = \"a\"\njwks = '{jwks}'\n"))
    assert clients["a"].jwks is not None


def test_no_file_means_development_mode() -> None:
    assert load_clients(None).development


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[[client]]\niss = ", "invalid TOML"),
        ('[[client]]\nname = "x"\njwks_url = "https://a/j"\n', "iss is required"),
        ('[[client]]\niss = "a"\njwks_uri = "https://a/j"\n', "unknown keys"),
        ('[[client]]\niss = "a"\n', "needs a key source"),
        ('[[client]]\niss = "a"\njwks_url = "http://ehr.example.org/j"\n', "https"),
        ('[[client]]\niss = "a"\njku_allow = ["ftp://a/j"]\n', "https"),
        ('[[client]]\niss = "a"\njku_allow = "https://a/j"\n', "list"),
        ('[[client]]\niss = "a"\njwks_url = "https://a/j"\ntenants = [1]\n', "list"),
        (
            '[[client]]\niss = "a"\njwks_url = "https://a/j"\n[client.jwks]\nkeys = ['
            + EC_JWK
            + "]\n",
            "not both",
        ),
        ('[[client]]\niss = "a"\njwks = "{nope"\n', "not valid JSON"),
        ('[[client]]\niss = "a"\n[client.jwks]\nkeys = []\n', "non-empty"),
        (
            '[[client]]\niss = "a"\n[client.jwks]\n'
            'keys = [{kty = "oct", kid = "h", k = "c2VjcmV0"}]\n',
            "kty EC or RSA",
        ),
        (
            '[[client]]\niss = "a"\n[client.jwks]\nkeys = [{kty = "EC", crv = "P-384"}]\n',
            "needs a kid",
        ),
        (
            '[[client]]\niss = "a"\n[client.jwks]\n'
            'keys = [{kty = "EC", kid = "k", crv = "P-384", x = "A", y = "A", d = "A"}]\n',
            "private key material",
        ),
        (
            '[[client]]\niss = "a"\njwks_url = "https://a/j"\n'
            '[[client]]\niss = "a"\njwks_url = "https://b/j"\n',
            "duplicate iss",
        ),
        ('iss = "a"\n', "unknown top-level keys"),
    ],
)
def test_bad_clients_file_refuses_to_start(tmp_path: Path, text: str, problem: str) -> None:
    with pytest.raises(ConfigurationError, match=problem):
        load_clients(_write(tmp_path, text))


def test_missing_clients_file_refuses_to_start(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot read"):
        load_clients(tmp_path / "absent.toml")


def test_loopback_http_key_urls_are_allowed(tmp_path: Path) -> None:
    text = '[[client]]\niss = "a"\njwks_url = "http://127.0.0.1:8081/jwks"\n'
    assert load_clients(_write(tmp_path, text))["a"].jwks_url == "http://127.0.0.1:8081/jwks"


def test_production_without_clients_refuses_to_start(tmp_path: Path) -> None:
    settings = Settings(environment="production", database_url=f"sqlite:///{tmp_path / 'db'}")
    with pytest.raises(ConfigurationError, match="trusted clients"):
        create_app(settings)
    empty = _write(tmp_path, "")
    with pytest.raises(ConfigurationError, match="trusted clients"):
        check_deployment(settings.model_copy(update={"clients_file": empty}), load_clients(empty))


SANDBOX_JWKS = f"{SANDBOX_ISSUER}/.well-known/jwks.json"
SANDBOX_CLIENTS = [
    f'[[client]]\niss = "{SANDBOX_ISSUER}"\njku_allow = ["{SANDBOX_JWKS}"]\n',
    f'[[client]]\niss = "https://ehr.example.org"\njwks_url = "{SANDBOX_JWKS}"\n',
]


@pytest.mark.parametrize("text", SANDBOX_CLIENTS, ids=["sandbox iss", "sandbox key url"])
def test_sandbox_is_never_trusted_in_production(tmp_path: Path, text: str) -> None:
    path = _write(tmp_path, text)
    production = Settings(environment="production", clients_file=path)
    with pytest.raises(ConfigurationError, match="Sandbox"):
        check_deployment(production, load_clients(path))
    # In development the sandbox may be trusted (its tokens are verified, not waved through).
    check_deployment(Settings(environment="development", clients_file=path), load_clients(path))


def test_production_base_url_must_be_https(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD)
    settings = Settings(
        environment="production", clients_file=path, base_url="http://cds.example.org"
    )
    with pytest.raises(ConfigurationError, match="https"):
        check_deployment(settings, load_clients(path))


# --- cds-service serve -----------------------------------------------------------------------


@pytest.fixture
def uvicorn_runs(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    import uvicorn

    runs: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: runs.append(kw))
    for name in ("CDS_CLIENTS_FILE", "CDS_ENVIRONMENT", "CDS_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CDS_DATABASE_URL", "sqlite://")
    return runs


def test_serve_first_log_line_says_development_unauthenticated(
    uvicorn_runs: list[dict[str, Any]], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    assert cli.main(["serve"]) == 0
    assert uvicorn_runs[0]["host"] == "127.0.0.1"
    first = caplog.records[0]
    assert first.levelno == logging.WARNING
    assert "development mode, unauthenticated" in first.getMessage()


def test_serve_refuses_a_public_host_in_development(
    uvicorn_runs: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["serve", "--host", "0.0.0.0"]) == 2
    assert "loopback only" in capsys.readouterr().err
    assert uvicorn_runs == []


def test_serve_insecure_allows_a_public_host_and_says_so(
    uvicorn_runs: list[dict[str, Any]], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    assert cli.main(["serve", "--host", "0.0.0.0", "--insecure"]) == 0
    assert "--insecure" in caplog.records[0].getMessage()


def test_serve_with_clients_binds_any_host(
    uvicorn_runs: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    jwks: JwksServer,
    keys: Keys,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from tests.security.kit import write_clients

    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("CDS_CLIENTS_FILE", str(write_clients(tmp_path / "c.toml", jwks, keys)))
    monkeypatch.setenv("CDS_ENVIRONMENT", "production")
    assert cli.main(["serve", "--host", "0.0.0.0"]) == 0
    assert uvicorn_runs[0]["host"] == "0.0.0.0"
    assert not any("unauthenticated" in r.getMessage() for r in caplog.records)


def test_serve_refuses_production_without_clients(
    uvicorn_runs: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("CDS_ENVIRONMENT", "production")
    assert cli.main(["serve"]) == 2
    assert "refusing to start" in capsys.readouterr().err
    assert uvicorn_runs == []
