"""The ketchd command line: version, and configuration errors reported before anything starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from ketch.cli.daemon import main


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("ketchd version ")


def test_bad_config_is_reported_and_nothing_listens(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "ketchd.toml"
    cfg.write_text('[runtime]\ndefault_handler = "nope"\n')
    sock = tmp_path / "k.sock"
    code = main(["--listen", f"unix://{sock}", "--root", str(tmp_path / "r"), "--state", str(tmp_path / "s"),
                 "--config", str(cfg)])
    assert code == 2
    assert "default runtime handler 'nope' is not configured" in capsys.readouterr().err
    assert not sock.exists()


def test_listen_must_be_a_unix_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--listen", "tcp://127.0.0.1:1", "--root", str(tmp_path / "r"), "--state", str(tmp_path / "s")])
    assert code == 2
    assert "unix:///ABSOLUTE/PATH" in capsys.readouterr().err
