"""``ketch login``, push and pull against ``ketch registry serve`` in token mode, then ``ketch logout``."""

from __future__ import annotations

import io
from pathlib import Path

import bcrypt
import pytest
from client_registries import Registry

from ketch.cli.main import main
from ketch.image.store import ImageStore

pytestmark = [pytest.mark.slow]


def test_login_push_pull_logout(
    store: ImageStore,
    busybox: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_text(f"alice:{bcrypt.hashpw(b'pw', bcrypt.gensalt(rounds=4)).decode()}\n")
    secret = tmp_path / "secret"
    secret.write_bytes(b"s" * 32)
    registry = Registry(
        "ketch",
        tmp_path / "registry",
        f'[auth]\nmode = "token"\nhtpasswd = "{htpasswd}"\nsecret_file = "{secret}"\n',
    ).start()
    try:
        name = f"{registry.domain}/alice/busybox:v1"
        assert main(["--root", store.root, "push", "-q", busybox, name]) == 1
        err = capfd.readouterr().err
        assert err.count("\n") == 1 and f"ketch login {registry.domain}" in err
        monkeypatch.setattr("sys.stdin", io.StringIO("pw\n"))
        assert main(["login", "-u", "alice", "--password-stdin", registry.domain]) == 0
        assert main(["--root", store.root, "push", "-q", busybox, name]) == 0
        assert main(["--root", str(tmp_path / "other"), "pull", "-q", "--no-unpack", name]) == 0
        capfd.readouterr()
        assert main(["logout", registry.domain]) == 0
        assert main(["--root", str(tmp_path / "third"), "pull", "-q", "--no-unpack", name]) == 1
        err = capfd.readouterr().err
        assert (
            err.count("\n") == 1 and "Traceback" not in err and ("denied" in err or "authentication" in err)
        )
        log = registry.log_text()
        assert '"user":"alice"' in log  # the registry saw the pushes and pulls as alice
    finally:
        registry.stop()
