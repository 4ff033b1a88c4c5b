"""Every registry command is in ketch's command table and resolves to a module with ``run``."""

from __future__ import annotations

import subprocess
import sys

from ketch.cli.distribution import COMMANDS as DISTRIBUTION_COMMANDS
from ketch.cli.main import COMMANDS


def test_each_command_is_registered_and_importable_in_a_fresh_interpreter() -> None:
    for name in DISTRIBUTION_COMMANDS:
        # `ketch inspect` shows a container, and falls through to the registry's manifest inspect otherwise
        owner = "containers" if name == "inspect" else "distribution"
        assert COMMANDS[name][0] == f"ketch.cli.{owner}.{name}"
    code = (
        "import importlib, sys\n"
        "from ketch.cli.main import COMMANDS\n"
        f"names = {list(DISTRIBUTION_COMMANDS)!r}\n"
        "mods = [importlib.import_module(COMMANDS[n][0]) for n in names]\n"
        "print(all(callable(m.run) for m in mods))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "True"
