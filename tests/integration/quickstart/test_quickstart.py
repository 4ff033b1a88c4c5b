"""The README's first command (after set-up): image -> registry -> pull -> bundle -> container, twice."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = [pytest.mark.root, pytest.mark.slow]


def test_quickstart_runs_end_to_end_and_can_run_again() -> None:
    for _ in range(2):
        proc = subprocess.run([sys.executable, "-m", "ketch.testing.quickstart"], capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        out = proc.stdout
        for step in (
            "importing it as an image",
            "pushing the image",
            "pulling it back",
            "running it with ketch-runtime",
            "running it with ketch run",
            "running the image as a pod",
        ):
            assert step in out
        assert "| hello from a ketch container" in out
        assert "| pid: 1" in out
        assert "| hello from ketch run" in out
        assert " stdout F hello from a ketchd pod" in out  # the CRI log line of the pod's container
        assert out.rstrip().splitlines()[-1].startswith("quickstart: ok")
