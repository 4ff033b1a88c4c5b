"""The bash completion script completes commands and options (zsh's is checked for syntax when zsh exists)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

COMPLETION = Path(__file__).resolve().parents[3] / "contrib" / "completion"


def _complete(words: list[str]) -> list[str]:
    script = (
        f"source {COMPLETION / 'ketch.bash'}\n"
        f"COMP_WORDS=({' '.join(words)}); COMP_CWORD={len(words) - 1}\n"
        "_init_completion() { return 1; }\n_ketch\nprintf '%s\\n' \"${COMPREPLY[@]}\"\n"
    )
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True)
    return out.stdout.split()


def test_bash_completes_commands_and_options() -> None:
    assert {"run", "rm", "restart"} <= set(_complete(["ketch", "r"]))
    assert "--rm" in _complete(["ketch", "run", "--r"])
    assert _complete(["ketch", "run", "--network", "ho"]) == ["host"]
    assert _complete(["ketch", "--root", "/tmp", "volume", "c"]) == ["create"]
    assert _complete(["ketch", "--de"]) == ["--debug"]


def test_zsh_script_parses() -> None:
    if shutil.which("zsh") is None:
        pytest.skip("needs zsh")
    subprocess.run(["zsh", "-n", str(COMPLETION / "_ketch")], check=True)
