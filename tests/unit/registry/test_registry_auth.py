"""Authentication and authorization: htpasswd Basic, the bearer token flow, scopes, TLS."""

from __future__ import annotations

import base64
import http.client
import json
import ssl
import urllib.parse
from collections.abc import Callable
from pathlib import Path

import bcrypt
import pytest
from registry_helpers import ServerThread

from ketch.registry.api import parse_challenges
from ketch.registry.server.auth import Grant, TokenError, TokenIssuer, parse_scope
from ketch.registry.server.config import AccessRule, AuthConfig, RegistryConfig
from ketch.testing.tls import self_signed_cert


def _htpasswd(path: Path, **users: str) -> str:
    lines = [f"{u}:{bcrypt.hashpw(p.encode(), bcrypt.gensalt(rounds=4)).decode()}" for u, p in users.items()]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def _sha(data: bytes) -> str:
    import hashlib

    return "sha256:" + hashlib.sha256(data).hexdigest()


def _basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_htpasswd_basic_auth(make_server: Callable[..., ServerThread], tmp_path: Path) -> None:
    auth = AuthConfig(mode="htpasswd", htpasswd=_htpasswd(tmp_path / "htpasswd", alice="s3cret"))
    server = make_server(auth=auth)
    r = server.request("GET", "/v2/")
    assert r.status == 401 and r.codes == ["UNAUTHORIZED"]
    assert parse_challenges(r.headers["WWW-Authenticate"])[0].scheme == "Basic"
    assert server.request("GET", "/v2/", headers=_basic("alice", "wrong")).status == 401
    assert server.request("GET", "/v2/", headers=_basic("bob", "s3cret")).status == 401
    assert server.request("GET", "/v2/", headers=_basic("alice", "s3cret")).status == 200
    r = server.request("POST", "/v2/a/blobs/uploads/", headers=_basic("alice", "s3cret"))
    assert r.status == 202


def _token_server(
    make_server: Callable[..., ServerThread], tmp_path: Path, **auth_kw: object
) -> ServerThread:
    secret = tmp_path / "secret"
    secret.write_bytes(b"0123456789abcdef0123456789abcdef")
    auth = AuthConfig(
        mode="token",
        htpasswd=_htpasswd(tmp_path / "htpasswd", alice="pw", bob="pw"),
        secret_file=str(secret),
        **auth_kw,  # type: ignore[arg-type]
    )
    return make_server(auth=auth)


def _token(server: ServerThread, challenge: str, creds: dict[str, str] | None = None) -> str:
    params = parse_challenges(challenge)[0].params
    realm = urllib.parse.urlsplit(params["realm"])
    query = urllib.parse.urlencode({"service": params["service"], "scope": params.get("scope", "")})
    r = server.request("GET", f"{realm.path}?{query}", headers=creds or {})
    assert r.status == 200, r.body
    doc = r.json()
    assert doc["token"] == doc["access_token"] and doc["expires_in"] > 0
    return str(doc["token"])


def test_bearer_token_flow(make_server: Callable[..., ServerThread], tmp_path: Path) -> None:
    server = _token_server(
        make_server,
        tmp_path,
        access=[
            AccessRule("alice", "alice/*", ("pull", "push", "delete")),
            AccessRule("bob", "alice/*", ("pull",)),
            AccessRule("bob", "bob/*", ("pull", "push")),
        ],
    )
    r = server.request("POST", "/v2/alice/app/blobs/uploads/")
    assert r.status == 401 and r.codes == ["UNAUTHORIZED"]
    [c] = parse_challenges(r.headers["WWW-Authenticate"])
    assert c.scheme == "Bearer"
    assert c.params["realm"] == f"http://127.0.0.1:{server.port}/token"
    assert c.params["service"] == "ketch-registry"
    assert c.params["scope"] == "repository:alice/app:pull,push"

    token = _token(server, r.headers["WWW-Authenticate"], _basic("alice", "pw"))
    bearer = {"Authorization": f"Bearer {token}"}
    assert server.request("POST", "/v2/alice/app/blobs/uploads/", headers=bearer).status == 202

    # bob may only pull there: his token lacks push, so the push is forbidden (403)
    bob = _token(server, r.headers["WWW-Authenticate"], _basic("bob", "pw"))
    r2 = server.request("POST", "/v2/alice/app/blobs/uploads/", headers={"Authorization": f"Bearer {bob}"})
    assert r2.status == 403 and r2.codes == ["DENIED"]
    # and alice's token for alice/app is no use for another repository
    r3 = server.request("GET", "/v2/other/tags/list", headers=bearer)
    assert r3.status == 403
    # anonymous gets a token with no actions
    anon = _token(server, r.headers["WWW-Authenticate"])
    assert (
        server.request("GET", "/v2/alice/app/tags/list", headers={"Authorization": f"Bearer {anon}"}).status
        == 403
    )
    # forged and garbage tokens are refused with invalid_token
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    for bad in (forged, "x.y.z", "garbage"):
        r4 = server.request("GET", "/v2/alice/app/tags/list", headers={"Authorization": f"Bearer {bad}"})
        assert r4.status == 401
        assert parse_challenges(r4.headers["WWW-Authenticate"])[0].params["error"] == "invalid_token"
    # with authentication on, a mount needs an explicit source the caller may pull: without ?from= a
    # known digest would otherwise copy a blob out of a repository the caller cannot read
    status = server.request(
        "POST", "/v2/alice/app/blobs/uploads/?digest=" + _sha(b"secret"), b"secret", bearer
    ).status
    assert status == 201
    other_token = _token(
        server,
        'Bearer realm="http://127.0.0.1/token",service="ketch-registry",scope="repository:bob/x:pull,push"',
        _basic("bob", "pw"),
    )
    r5 = server.request(
        "POST",
        f"/v2/bob/x/blobs/uploads/?mount={_sha(b'secret')}",
        headers={"Authorization": f"Bearer {other_token}"},
    )
    assert r5.status == 202
    # wrong password at the token endpoint
    q = "service=ketch-registry&scope=repository:alice/app:pull"
    assert server.request("GET", f"/token?{q}", headers=_basic("alice", "nope")).status == 401


def test_oauth2_password_grant(make_server: Callable[..., ServerThread], tmp_path: Path) -> None:
    server = _token_server(make_server, tmp_path)
    form = urllib.parse.urlencode(
        {
            "grant_type": "password",
            "username": "alice",
            "password": "pw",
            "service": "ketch-registry",
            "scope": "repository:x:pull,push",
            "client_id": "test",
        }
    ).encode()
    r = server.request("POST", "/token", form, {"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status == 200, r.body
    token = r.json()["access_token"]
    assert (
        server.request("POST", "/v2/x/blobs/uploads/", headers={"Authorization": f"Bearer {token}"}).status
        == 202
    )


def test_anonymous_pull(make_server: Callable[..., ServerThread], tmp_path: Path) -> None:
    server = _token_server(make_server, tmp_path, anonymous_pull=True)
    assert server.request("GET", "/v2/x/tags/list").status == 404  # reached the handler: NAME_UNKNOWN
    assert server.request("POST", "/v2/x/blobs/uploads/").status == 401


def test_token_issuer_rejects_tampering() -> None:
    issuer = TokenIssuer(b"k" * 32, "iss", "svc", ttl=60)
    token = issuer.issue("alice", [Grant("repository", "a", ("pull",))], now=1000)
    assert issuer.verify(token, now=1010) == ("alice", [Grant("repository", "a", ("pull",))])
    with pytest.raises(TokenError, match="expired"):
        issuer.verify(token, now=2000)
    with pytest.raises(TokenError, match="audience"):
        TokenIssuer(b"k" * 32, "iss", "other").verify(token, now=1010)
    with pytest.raises(TokenError, match="signature"):
        TokenIssuer(b"z" * 32, "iss", "svc").verify(token, now=1010)
    _header, claims, _ = token.split(".")
    none_alg = base64.urlsafe_b64encode(json.dumps({"alg": "none"}).encode()).rstrip(b"=").decode()
    with pytest.raises(TokenError, match="algorithm"):
        issuer.verify(f"{none_alg}.{claims}.", now=1010)


def test_scope_parsing() -> None:
    s = parse_scope("repository:a/b:pull,push")
    assert s is not None and s.name == "a/b" and s.actions == ("pull", "push")
    assert parse_scope("registry:catalog:*") is not None
    assert parse_scope("junk") is None


def test_tls(tmp_path: Path) -> None:
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    self_signed_cert(cert, key)
    from ketch.registry.server.run import ssl_context

    config = RegistryConfig(root=str(tmp_path / "root"), access_log=False)
    server = ServerThread(config, ssl_context=ssl_context(str(cert), str(key))).start()
    try:
        client = ssl.create_default_context(cafile=str(cert))
        conn = http.client.HTTPSConnection("127.0.0.1", server.port, context=client, timeout=10)
        conn.request("GET", "/v2/")
        resp = conn.getresponse()
        assert resp.status == 200 and resp.getheader("Docker-Distribution-API-Version") == "registry/2.0"
        conn.close()
        with pytest.raises(ssl.SSLError):
            c2 = http.client.HTTPSConnection(
                "127.0.0.1", server.port, context=ssl.create_default_context(), timeout=10
            )
            c2.request("GET", "/v2/")
    finally:
        server.stop()


def test_htpasswd_reload_forgets_remembered_passwords(tmp_path: Path) -> None:
    import os

    from ketch.registry.server.auth import Htpasswd

    path = tmp_path / "htpasswd"
    _htpasswd(path, carol="old")
    users = Htpasswd(str(path))
    assert users.verify("carol", "old") and users.verify("carol", "old")  # second from memory
    assert not users.verify("carol", "new")
    _htpasswd(path, carol="new")
    st = path.stat()
    os.utime(path, (st.st_atime, st.st_mtime + 5))
    assert not users.verify("carol", "old")
    assert users.verify("carol", "new")
    path.write_text("dave:{SHA}abc\n")
    os.utime(path, (st.st_atime, st.st_mtime + 10))
    assert not users.verify("dave", "x")  # non-bcrypt files are refused, not half-read
