"""TLS per host from hosts.toml (CA bundle, skip_verify), and retries of transient failures."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from client_helpers import FakeRegistry, repository
from registry_helpers import ServerThread

from ketch._common.digest import Digest
from ketch.image.platform import select_manifest
from ketch.image.store import ImageStore
from ketch.registry.client import ConnectError, ResponseError, pull
from ketch.registry.server import RegistryConfig
from ketch.testing.tls import self_signed_cert

_CONFIG = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'


def _select(read, target):  # type: ignore[no-untyped-def]
    return select_manifest(read, target).descriptor


@pytest.fixture
def tls_server(tmp_path: Path):  # type: ignore[no-untyped-def]
    if shutil.which("openssl") is None:
        pytest.skip("needs openssl")
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    self_signed_cert(cert, key)
    from ketch.registry.server.run import ssl_context

    server = ServerThread(
        RegistryConfig(root=str(tmp_path / "root"), access_log=False),
        ssl_context=ssl_context(str(cert), str(key)),
    ).start()
    yield server, cert
    server.stop()


def _hosts(tmp_path: Path, domain: str, body: str) -> Path:
    d = tmp_path / "certs.d" / domain
    d.mkdir(parents=True, exist_ok=True)
    (d / "hosts.toml").write_text(body)
    return tmp_path / "certs.d"


def test_tls_with_a_configured_ca_and_with_skip_verify(tls_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    server, cert = tls_server
    domain = f"127.0.0.1:{server.port}"
    hosts = _hosts(tmp_path / "a", domain, f'server = "https://{domain}"\nca = "{cert}"\n')
    assert repository(domain, "x/y", tmp_path, hosts_dir=hosts).blob_size(Digest.from_bytes(b"")) is None
    hosts = _hosts(tmp_path / "b", domain, f'server = "https://{domain}"\n')
    with pytest.raises(ConnectError, match="certificate verify failed"):
        repository(domain, "x/y", tmp_path, hosts_dir=hosts, retries=0).tags()
    hosts = _hosts(tmp_path / "c", domain, f'server = "https://{domain}"\nskip_verify = true\n')
    with pytest.raises(ResponseError) as e:  # reached: the repository does not exist
        repository(domain, "x/y", tmp_path, hosts_dir=hosts).tags()
    assert e.value.status == 404


def test_transient_503s_are_retried(tmp_path: Path) -> None:
    fake = FakeRegistry().start()
    try:
        fake.add_image("v1", _CONFIG, [os.urandom(1000)])
        fake.unavailable = 3
        store = ImageStore(str(tmp_path / "s"), durable=False)
        result = pull(repository(fake.domain, "busy/image", tmp_path), "v1", store.content, select=_select)
        assert result.fetched == 2 and fake.served_503 == 3
        fake.unavailable = 100
        with pytest.raises(ResponseError, match="503"):
            pull(
                repository(fake.domain, "busy/image", tmp_path, retries=2),
                "v2",
                store.content,
                select=_select,
            )
    finally:
        fake.stop()


def test_connections_are_bounded_and_reused(tmp_path: Path) -> None:
    fake = FakeRegistry().start()
    try:
        fake.add_image("v1", _CONFIG, [os.urandom(200_000) for _ in range(8)])
        store = ImageStore(str(tmp_path / "s"), durable=False)
        repo = repository(fake.domain, "many/layers", tmp_path, max_connections=2)
        assert pull(repo, "v1", store.content, select=_select, workers=8).fetched == 9
        assert 1 <= len(fake.connections) <= 2  # eight workers, never more than two connections
        seen = set(fake.connections)
        repo.resolve("v1")
        assert fake.connections == seen  # the next request went over a kept-alive connection
    finally:
        fake.stop()


def test_credentials_are_not_sent_along_a_redirect_to_another_host(tmp_path: Path) -> None:
    """Blob GETs redirected to storage elsewhere must not carry the registry's Authorization (the leak of
    CVE-2018-1000007 in curl, CVE-2023-32681 in requests)."""
    from ketch.registry.client import CredentialStore

    storage = FakeRegistry().start()
    registry = FakeRegistry().start()
    try:
        layer = os.urandom(5000)
        desc = registry.add_image("v1", _CONFIG, [layer])
        storage.blobs.update(registry.blobs)
        registry.require_basic = True
        registry.redirect_blobs = f"http://{storage.domain}"
        auth_file = tmp_path / "auth.json"
        CredentialStore(str(auth_file), docker_config="").login(registry.domain, "user", "secret")
        store = ImageStore(str(tmp_path / "s"), durable=False)
        result = pull(
            repository(registry.domain, "r/app", tmp_path, auth_file=auth_file),
            "v1",
            store.content,
            select=_select,
        )
        assert result.target.digest == desc.digest and result.fetched == 2
        assert registry.authorization_seen  # the registry got the credentials
        assert storage.authorization_seen == []  # the storage host did not
    finally:
        storage.stop()
        registry.stop()
