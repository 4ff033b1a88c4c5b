"""Configuration loading: TOML, overrides, and errors that name the bad key."""

from __future__ import annotations

from pathlib import Path

import pytest

from ketch.registry.server import ConfigError, load_config


def test_toml_and_overrides(tmp_path: Path) -> None:
    cfg_file = tmp_path / "r.toml"
    cfg_file.write_text(
        'addr = "127.0.0.1:15099"\nroot = "/srv/r"\ndelete_enabled = false\nmax_manifest_bytes = 1000\n'
        '[auth]\nmode = "token"\nhtpasswd = "/h"\n[[auth.access]]\nuser = "a"\nrepository = "a/*"\n'
        'actions = ["pull"]\n[gc]\ninterval = 60\n[tls]\ncert = "c"\nkey = "k"\n'
    )
    cfg = load_config(str(cfg_file), root="/override")
    assert cfg.addr == "127.0.0.1:15099" and cfg.root == "/override"
    assert not cfg.delete_enabled and cfg.max_manifest_bytes == 1000
    assert cfg.auth.mode == "token" and cfg.auth.access[0].actions == ("pull",)
    assert cfg.gc.interval == 60 and cfg.tls_cert == "c"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("bogus = 1\n", "unknown config key"),
        ("addr = 5\n", "addr has the wrong type"),
        ('addr = "nope"\n', "not HOST:PORT"),
        ('[auth]\nmode = "magic"\n', "auth.mode"),
        ('[auth]\nmode = "htpasswd"\n', "needs auth.htpasswd"),
        ('[tls]\ncert = "c"\n', "both cert and key"),
        ("[gc]\nspeed = 1\n", "gc.speed"),
        ("max_manifest_bytes = true\n", "must be a number"),
        ("= broken", "not valid TOML"),
    ],
)
def test_bad_config(tmp_path: Path, text: str, message: str) -> None:
    f = tmp_path / "bad.toml"
    f.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(str(f))


def test_missing_file() -> None:
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config("/nonexistent/registry.toml")
