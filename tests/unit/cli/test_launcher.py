"""The -IS launchers written by ``python -m ketch.cli.launcher``: they run each program without site or
the environment's PYTHONPATH, and ``ketch``/``ketchd`` still find their installed libraries."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from ketch.cli.launcher import PROGRAMS, install_all


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PYTHONPATH"] = "/nonexistent"  # ignored under -I: the launcher sets sys.path itself
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60, check=False)


def test_launchers_run_each_program(tmp_path: Path) -> None:
    paths = install_all(str(tmp_path), sys.executable)
    assert sorted(os.path.basename(p) for p in paths) == sorted(PROGRAMS)
    for path in paths:
        first = Path(path).read_text().splitlines()[0]
        assert first == f"#!{sys.executable} -IS"
        assert os.access(path, os.X_OK)
    assert _run([str(tmp_path / "ketch"), "--version"]).stdout.startswith("ketch version ")
    assert _run([str(tmp_path / "ketch-runtime"), "--version"]).stdout.startswith("ketch-runtime version ")


def test_ketch_launcher_reaches_site_packages(tmp_path: Path) -> None:
    install_all(str(tmp_path), sys.executable)
    script = (tmp_path / "ketch").read_text().replace("from ketch.cli.main import main\nsys.exit(main())\n", "")
    probe = tmp_path / "probe.py"
    probe.write_text(script + "import aiohttp, grpc, zstandard\nprint('ok')\n")
    proc = _run([sys.executable, "-IS", str(probe)])
    assert proc.stdout.strip() == "ok", proc.stderr
    # the runtime's launcher keeps to the standard library
    runtime = (tmp_path / "ketch-runtime").read_text()
    assert "site-packages" not in runtime
