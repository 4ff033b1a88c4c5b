"""hosts.toml parsing and loopback defaults; auth.json reading, writing and secrecy."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest

from ketch.registry.client import ConfigError, Credentials, CredentialStore, HostsConfig, is_loopback


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True),
        ("localhost:5000", True),
        ("127.0.0.1:5000", True),
        ("127.8.9.10", True),
        ("[::1]:5000", True),
        ("::1", True),
        ("10.0.0.1:5000", False),
        ("registry.example", False),
        ("example.com:443", False),
    ],
)
def test_loopback_detection(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_defaults_plain_http_for_loopback_only(tmp_path: Path) -> None:
    hosts = HostsConfig(str(tmp_path))
    assert [e.url for e in hosts.endpoints("127.0.0.1:5000")] == ["http://127.0.0.1:5000"]
    assert [e.url for e in hosts.endpoints("localhost:5000")] == ["http://localhost:5000"]
    assert [e.url for e in hosts.endpoints("quay.io")] == ["https://quay.io"]
    assert [e.url for e in hosts.endpoints("docker.io")] == ["https://registry-1.docker.io"]


def test_hosts_toml_mirrors_then_upstream(tmp_path: Path) -> None:
    d = tmp_path / "registry.example"
    d.mkdir()
    (d / "hosts.toml").write_text(
        """
server = "https://registry.example"
ca = "ca.pem"

[host."http://127.0.0.1:16999"]
  capabilities = ["pull", "resolve"]
  [host."http://127.0.0.1:16999".header]
    x-test = "1"

[host."https://mirror.example/v2/cache"]
  capabilities = ["pull"]
  skip_verify = true
  override_path = true
"""
    )
    eps = HostsConfig(str(tmp_path)).endpoints("registry.example")
    assert [e.url for e in eps] == [
        "http://127.0.0.1:16999",
        "https://mirror.example/v2/cache",
        "https://registry.example",
    ]
    assert [e.mirror for e in eps] == [True, True, False]
    assert eps[0].headers == (("x-test", "1"),) and not eps[0].can("push")
    assert (
        eps[1].skip_verify
        and eps[1].api_url("/v2/a/manifests/x") == "https://mirror.example/v2/cache/a/manifests/x"
    )
    assert eps[2].ca == (str(d / "ca.pem"),) and eps[2].can("push")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('server = "ftp://x"', "not an http"),
        ('[host."http://m"]\ncapabilities = ["fly"]', "unknown capability"),
        ('[host."http://m"]\nskip_verify = "yes"', "skip_verify"),
        ("server = [", "hosts.toml"),
    ],
)
def test_bad_hosts_toml_is_named(tmp_path: Path, text: str, message: str) -> None:
    d = tmp_path / "r.example"
    d.mkdir()
    (d / "hosts.toml").write_text(text)
    with pytest.raises(ConfigError, match=message):
        HostsConfig(str(tmp_path)).endpoints("r.example")


def test_login_writes_podman_auth_json_and_logout_removes(tmp_path: Path) -> None:
    path = tmp_path / "containers" / "auth.json"
    creds = CredentialStore(str(path), docker_config="")
    creds.login("registry.example:5000", "alice", "s3:cret")
    doc = json.loads(path.read_text())
    assert base64.b64decode(doc["auths"]["registry.example:5000"]["auth"]) == b"alice:s3:cret"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert creds.lookup("registry.example:5000") == Credentials("alice", "s3:cret")
    assert creds.lookup("other.example") is None
    assert creds.logout("registry.example:5000") and not creds.logout("registry.example:5000")
    assert creds.lookup("registry.example:5000") is None


def test_repository_scoped_entries_and_docker_config_fallback(tmp_path: Path) -> None:
    auth = tmp_path / "auth.json"
    auth.write_text(
        json.dumps(
            {
                "auths": {
                    "r.example": {"auth": base64.b64encode(b"team:one").decode()},
                    "r.example/special": {"auth": base64.b64encode(b"special:two").decode()},
                }
            }
        )
    )
    docker = tmp_path / "config.json"
    docker.write_text(
        json.dumps(
            {"auths": {"https://index.docker.io/v1/": {"auth": base64.b64encode(b"hub:three").decode()}}}
        )
    )
    store = CredentialStore(str(auth), docker_config=str(docker))
    assert store.lookup("r.example", "special/app") == Credentials("special", "two")
    assert store.lookup("r.example", "other/app") == Credentials("team", "one")
    assert store.lookup("docker.io", "library/busybox") == Credentials("hub", "three")


def test_secrets_never_appear_in_repr() -> None:
    assert "hunter2" not in repr(Credentials("bob", "hunter2"))


def test_malformed_auth_file_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "auth.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match=str(bad)):
        CredentialStore(str(bad), docker_config="").lookup("r.example")
    bad.write_text(json.dumps({"auths": {"r.example": {"auth": "!!!"}}}))
    with pytest.raises(ConfigError, match="undecodable"):
        CredentialStore(str(bad), docker_config="").lookup("r.example")
