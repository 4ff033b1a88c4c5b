"""``ketch registry`` command line: gc over a store, and configuration errors."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from registry_helpers import sha256

from ketch._common.digest import Digest
from ketch.cli.registry import main
from ketch.registry.storage import RegistryStore
from ketch.registry.storage.driver import FilesystemDriver


def test_gc_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = RegistryStore(FilesystemDriver(str(tmp_path)))
    store.put_blob("r", b"orphan", Digest(sha256(b"orphan")))
    old = time.time() - 7200
    for p in (tmp_path / "v2" / "blobs").rglob("data"):
        os.utime(p, (old, old))
    assert main(["gc", "--root", str(tmp_path), "--grace", "3600"]) == 0
    assert "deleted 1 blobs (6 bytes)" in capsys.readouterr().out
    assert not store.blobs.exists(Digest(sha256(b"orphan")))


def test_bad_config_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("nonsense = 1\n")
    assert main(["serve", "--config", str(cfg)]) == 2
    assert "unknown config key(s): nonsense" in capsys.readouterr().err
    assert main(["serve", "--addr", "nowhere", "--root", str(tmp_path)]) == 2


def test_storage_config(tmp_path: Path) -> None:
    from ketch.registry.server import ConfigError, load_config

    cfg = tmp_path / "c.toml"
    cfg.write_text('[storage]\ndriver = "s3"\nendpoint = "http://127.0.0.1:15999"\nbucket = "b"\n')
    assert load_config(str(cfg)).storage.bucket == "b"
    cfg.write_text('[storage]\ndriver = "s3"\n')
    with pytest.raises(ConfigError, match=r"storage\.endpoint"):
        load_config(str(cfg))
    cfg.write_text('[storage]\ndriver = "floppy"\n')
    with pytest.raises(ConfigError, match="floppy"):
        load_config(str(cfg))
