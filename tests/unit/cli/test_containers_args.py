"""Every container command has a parser (with examples for --help) and a function doing it."""

from __future__ import annotations

import pytest

from ketch.cli import containers
from ketch.cli.containers_args import EXIT_ENGINE, parser_for


def test_each_command_has_a_parser_and_a_handler() -> None:
    assert sorted(containers._HANDLERS) == sorted(containers.COMMANDS)
    for name in containers.COMMANDS:
        p = parser_for(name)
        assert p.prog == f"ketch {name}"
        assert "examples:" in (p.epilog or "")


def test_usage_errors_exit_125_with_a_hint(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        parser_for("run").parse_args(["--pull", "sometimes", "busybox"])
    assert e.value.code == EXIT_ENGINE
    err = capsys.readouterr().err
    assert "ketch run: argument --pull" in err and "hint: see 'ketch run --help'" in err
