"""Token auth with scope refresh, Basic auth, mirrors with a dead first mirror, and the failures a user meets
(connection refused, 404, 401) as clean errors, through the API and the CLI."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

import bcrypt
import pytest
from client_helpers import build_image, repository, session
from registry_helpers import ServerThread

from ketch.cli.distribution import run_command
from ketch.cli.main import GlobalOptions
from ketch.image.blobs import read_verified
from ketch.image.platform import select_manifest
from ketch.image.store import ImageStore
from ketch.registry.client import AuthError, ConnectError, CredentialStore, Repository, pull, push
from ketch.registry.server.config import AccessRule, AuthConfig


def _select(read, target):  # type: ignore[no-untyped-def]
    return select_manifest(read, target).descriptor


def _htpasswd(path: Path, **users: str) -> str:
    path.write_text(
        "".join(
            f"{u}:{bcrypt.hashpw(p.encode(), bcrypt.gensalt(rounds=4)).decode()}\n" for u, p in users.items()
        )
    )
    return str(path)


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again: nothing listens there


def _token_server(make_server: Callable[..., ServerThread], tmp_path: Path, **kw: object) -> ServerThread:
    secret = tmp_path / "secret"
    secret.write_bytes(b"k" * 32)
    auth = AuthConfig(
        mode="token",
        htpasswd=_htpasswd(tmp_path / "htpasswd", alice="pw", bob="pw"),
        secret_file=str(secret),
        **kw,  # type: ignore[arg-type]
    )
    return make_server(auth=auth)


def test_bearer_tokens_per_scope_cached_and_refreshed(
    make_server: Callable[..., ServerThread], tmp_path: Path
) -> None:
    server = _token_server(make_server, tmp_path)
    domain = f"127.0.0.1:{server.port}"
    auth_file = tmp_path / "auth.json"
    CredentialStore(str(auth_file), docker_config="").login(domain, "alice", "pw")
    store = ImageStore(str(tmp_path / "s"), durable=False)
    root = build_image(store, tmp_path, [{"a": b"1"}, {"b": b"2"}])
    s = session(domain, tmp_path, auth_file=auth_file)
    read = lambda d: read_verified(store.content, d)  # noqa: E731
    push(Repository(s, "alice/app"), "v1", store.content, root, read)
    after_push = s.authorizer.token_requests
    assert after_push >= 1
    # the same scope again: the cached token serves (no new token request)
    push(Repository(s, "alice/app"), "v2", store.content, root, read)
    assert s.authorizer.token_requests == after_push
    # another repository needs another scope: a new token
    pull(
        Repository(s, "alice/app"),
        "v1",
        ImageStore(str(tmp_path / "d"), durable=False).content,
        select=_select,
    )
    assert s.authorizer.token_requests > after_push
    # a token the registry no longer accepts (expired, revoked) is replaced once on the 401
    before = s.authorizer.token_requests
    for token in s.authorizer._tokens.values():
        token.value = token.value[:-6] + "AAAAAA"
    assert Repository(s, "alice/app").tags() == ["v1", "v2"]
    assert s.authorizer.token_requests == before + 1
    # a mount needs pull on the source as well as push on the target: one token covering both scopes
    result = push(
        Repository(s, "alice/copy"), "v1", store.content, root, read, mount_from=lambda d: ["alice/app"]
    )
    assert len(result.mounted) == 3 and result.uploaded == []


def test_wrong_or_missing_credentials_are_auth_errors(
    make_server: Callable[..., ServerThread], tmp_path: Path
) -> None:
    server = _token_server(make_server, tmp_path, access=[AccessRule("bob", "bob/*", ("pull",))])
    domain = f"127.0.0.1:{server.port}"
    with pytest.raises(AuthError, match=r"access denied|authentication required"):
        repository(domain, "alice/app", tmp_path).tags()
    auth_file = tmp_path / "auth.json"
    CredentialStore(str(auth_file), docker_config="").login(domain, "alice", "wrong")
    with pytest.raises(AuthError, match="alice"):
        repository(domain, "alice/app", tmp_path, auth_file=auth_file).tags()
    # bob may pull bob/* but not push there: the token lacks push, the registry says 401/403
    CredentialStore(str(auth_file), docker_config="").login(domain, "bob", "pw")
    store = ImageStore(str(tmp_path / "s"), durable=False)
    root = build_image(store, tmp_path, [{"x": b"x"}])
    with pytest.raises(AuthError):
        push(
            repository(domain, "bob/app", tmp_path, auth_file=auth_file),
            "v1",
            store.content,
            root,
            lambda d: read_verified(store.content, d),
        )


def test_basic_auth(make_server: Callable[..., ServerThread], tmp_path: Path) -> None:
    server = make_server(auth=AuthConfig(mode="htpasswd", htpasswd=_htpasswd(tmp_path / "h", carol="pw")))
    domain = f"127.0.0.1:{server.port}"
    auth_file = tmp_path / "auth.json"
    CredentialStore(str(auth_file), docker_config="").login(domain, "carol", "pw")
    store = ImageStore(str(tmp_path / "s"), durable=False)
    root = build_image(store, tmp_path, [{"x": b"x"}])
    push(
        repository(domain, "c/app", tmp_path, auth_file=auth_file),
        "v1",
        store.content,
        root,
        lambda d: read_verified(store.content, d),
    )
    assert repository(domain, "c/app", tmp_path, auth_file=auth_file).tags() == ["v1"]


def test_mirrors_dead_first_then_working_then_upstream(
    make_server: Callable[..., ServerThread], tmp_path: Path
) -> None:
    mirror = make_server()
    upstream = make_server()
    store = ImageStore(str(tmp_path / "s"), durable=False)
    read = lambda d: read_verified(store.content, d)  # noqa: E731
    cached = build_image(store, tmp_path, [{"m": b"on the mirror"}])
    only_upstream = build_image(store, tmp_path, [{"u": b"upstream only"}])
    upstream_domain = f"127.0.0.1:{upstream.port}"
    push(repository(f"127.0.0.1:{mirror.port}", "lib/app", tmp_path), "v1", store.content, cached, read)
    push(repository(upstream_domain, "lib/app", tmp_path), "v2", store.content, only_upstream, read)
    hosts = tmp_path / "certs.d"
    (hosts / upstream_domain).mkdir(parents=True)
    (hosts / upstream_domain / "hosts.toml").write_text(
        f"""
server = "http://{upstream_domain}"
[host."http://127.0.0.1:{_dead_port()}"]
  capabilities = ["pull", "resolve"]
[host."http://127.0.0.1:{mirror.port}"]
  capabilities = ["pull", "resolve"]
"""
    )
    repo = repository(upstream_domain, "lib/app", tmp_path, hosts_dir=hosts, retries=1)
    dst = ImageStore(str(tmp_path / "d"), durable=False)
    assert pull(repo, "v1", dst.content, select=_select).target.digest == cached.digest  # from the mirror
    assert pull(repo, "v2", dst.content, select=_select).target.digest == only_upstream.digest  # mirror 404s
    # pushes go to the upstream only (the mirrors lack the push capability)
    push(repo, "v3", store.content, cached, read)
    assert repository(upstream_domain, "lib/app", tmp_path).tags() == ["v2", "v3"]


def test_connection_refused_is_one_clean_error(tmp_path: Path) -> None:
    repo = repository(f"127.0.0.1:{_dead_port()}", "x/y", tmp_path, retries=1)
    with pytest.raises(ConnectError, match="connection refused"):
        repo.tags()


def _cli(capsys: pytest.CaptureFixture[str], root: Path, *args: str) -> tuple[int, str, str]:
    rc = run_command(args[0], list(args[1:]), GlobalOptions(str(root)))
    out, err = capsys.readouterr()
    return rc, out, err


def test_cli_errors_are_one_line(
    server: ServerThread, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KETCH_HOSTS_DIR", str(tmp_path / "none"))
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(tmp_path / "auth.json"))
    root = tmp_path / "root"
    rc, _, err = _cli(capsys, root, "pull", f"127.0.0.1:{_dead_port()}/a/b:1")
    assert rc == 1 and err.count("\n") == 1 and "connection refused" in err and "Traceback" not in err
    rc, _, err = _cli(capsys, root, "pull", f"127.0.0.1:{server.port}/no/such:tag")
    assert rc == 1 and err.count("\n") == 1 and "not found" in err
    rc, _, err = _cli(capsys, root, "pull", "UPPER/case:x")
    assert rc == 1 and err.count("\n") == 1 and "invalid reference" in err
    rc, _, err = _cli(capsys, root, "pull", "a/b:bad tag")
    assert rc == 1 and "invalid" in err


def test_cli_pull_push_tag_images_rmi(
    server: ServerThread, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KETCH_HOSTS_DIR", str(tmp_path / "none"))
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(tmp_path / "auth.json"))
    root = tmp_path / "root"
    store = ImageStore(str(root))
    domain = f"127.0.0.1:{server.port}"
    digest = build_image(store, tmp_path, [{"f": b"1"}, {"g": b"2"}], name=f"{domain}/cli/app:v1").digest
    rc, out, err = _cli(capsys, root, "push", "-q", f"{domain}/cli/app:v1")
    assert rc == 0 and out.strip() == digest and err == ""
    rc, out, _ = _cli(capsys, root, "tags", f"{domain}/cli/app")
    assert out.split() == ["v1"]
    rc, out, _ = _cli(capsys, root, "inspect", "--raw", f"{domain}/cli/app:v1")
    assert rc == 0 and out.encode() == read_verified(store.content, store.get(f"{domain}/cli/app:v1").target)
    other = tmp_path / "other"
    rc, out, err = _cli(capsys, other, "pull", "--no-unpack", f"{domain}/cli/app:v1")
    assert (rc == 0 and out.strip() == digest and "2 blobs fetched" in err) or "3 blobs fetched" in err
    rc, _, _ = _cli(capsys, other, "tag", f"{domain}/cli/app:v1", f"{domain}/cli/copy:v9")
    rc, out, _ = _cli(capsys, other, "images")
    assert "cli/copy" in out and "cli/app" in out
    rc, _, _ = _cli(capsys, other, "push", "-q", f"{domain}/cli/copy:v9")
    assert rc == 0
    rc, out, _ = _cli(capsys, other, "rmi", f"{domain}/cli/copy:v9")
    assert rc == 0 and "Untagged" in out
    # the copy was mounted from cli/app (recorded when it was pulled)
    from ketch.registry.server.context import CTX

    assert server.app is not None
    assert (
        sum(n for (m, _r, s), n in server.app[CTX].metrics.requests.items() if m == "POST" and s == 201) >= 3
    )


def test_cli_login_logout(
    make_server: Callable[..., ServerThread],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = _token_server(make_server, tmp_path)
    domain = f"127.0.0.1:{server.port}"
    auth_file = tmp_path / "run" / "containers" / "auth.json"
    monkeypatch.setenv("KETCH_HOSTS_DIR", str(tmp_path / "none"))
    monkeypatch.delenv("REGISTRY_AUTH_FILE", raising=False)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO("nope\n"))
    rc, out, err = _cli(capsys, tmp_path, "login", "-u", "alice", "--password-stdin", domain)
    assert rc == 1 and "alice" in err and "nope" not in err and not auth_file.exists()
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO("pw\n"))
    rc, out, err = _cli(capsys, tmp_path, "login", "-u", "alice", "--password-stdin", domain)
    assert rc == 0 and "Succeeded" in out and "pw" not in out + err
    assert CredentialStore(str(auth_file), docker_config="").lookup(domain) is not None
    rc, out, _ = _cli(capsys, tmp_path, "logout", domain)
    assert rc == 0 and CredentialStore(str(auth_file), docker_config="").lookup(domain) is None
    # credentials that stopped working (expired, password changed) give one line naming the user
    CredentialStore(str(auth_file), docker_config="").login(domain, "alice", "old-password")
    rc, out, err = _cli(capsys, tmp_path, "pull", "-q", f"{domain}/alice/app:v1")
    assert rc == 1 and err.count("\n") == 1 and "refused user 'alice'" in err and "old-password" not in err
