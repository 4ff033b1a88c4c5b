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


def test_one_ketchd_per_state_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import os
    import subprocess
    import sys
    import time

    src = str(Path(__file__).resolve().parents[3] / "src")
    root, state, sock = tmp_path / "r", tmp_path / "s", tmp_path / "k.sock"
    cfg = tmp_path / "k.toml"
    cfg.write_text('[runtime]\ndefault_handler = "t"\n[runtime.handlers.t]\npath = "/bin/true"\n'
                   f'[image]\nroot = "{tmp_path / "images"}"\n')
    args = ["--listen", f"unix://{sock}", "--root", str(root), "--state", str(state), "--config", str(cfg)]
    first = subprocess.Popen([sys.executable, "-m", "ketch.cli.daemon", *args],
                             env=dict(os.environ, PYTHONPATH=src), stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not sock.exists():
            assert first.poll() is None, first.stderr.read() if first.stderr else b""
            assert time.monotonic() < deadline
            time.sleep(0.05)
        other = str(tmp_path / "other.sock")
        assert main(["--listen", f"unix://{other}", *args[2:]]) == 2
        assert f"another ketchd is running on state directory {state}" in capsys.readouterr().err
        assert sock.exists()  # the first one is untouched
    finally:
        first.terminate()
        assert first.wait(30) == 0
    assert not sock.exists()  # a clean stop removes its socket
