"""Each bad input: one line naming what is wrong, a hint where one helps, no traceback, nothing left behind."""

from __future__ import annotations

from typing import Any as Ketch

import pytest

pytestmark = [pytest.mark.root]

NONE = ["--network", "none"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "--rm", *NONE, "--pull", "never", "nosuchimage"], "image 'nosuchimage' not found locally (looked for docker.io/library/nosuchimage:latest)"),
        (["run", "--rm", *NONE, "-p", "99999:80", "testbox", "true"], "port '99999' is not a number from 1 to 65535"),
        (["run", "--rm", *NONE, "-p", "80:80/sctp", "testbox", "true"], "protocol 'sctp' is not tcp or udp"),
        (["run", "--rm", *NONE, "--memory", "12q", "testbox", "true"], "--memory: '12q' is not a size"),
        (["run", "--rm", *NONE, "--cpus", "lots", "testbox", "true"], "--cpus: 'lots' is not a number"),
        (["run", "--rm", *NONE, "-v", "/no/such/dir:/x", "testbox", "true"], "host path /no/such/dir does not exist"),
        (["run", "--rm", *NONE, "-v", "relative", "testbox", "true"], "expected SOURCE:DESTINATION"),
        (["run", "--rm", *NONE, "--cap-add", "FLY", "testbox", "true"], "unknown capability 'FLY'"),
        (["run", "--rm", *NONE, "--runtime", "nosuchruntime", "testbox", "true"], "--runtime 'nosuchruntime' is not known"),
        (["run", "--rm", *NONE, "--security-opt", "apparmor=x", "testbox", "true"], "only seccomp=PROFILE.json"),
        (["run", "--rm", *NONE, "-w", "relative", "testbox", "true"], "must be an absolute path"),
        (["run", "--rm", *NONE, "--name", "bad/name", "testbox", "true"], "invalid container name 'bad/name'"),
        (["run", "--rm", "--network", "none", "-p", "8080:80", "testbox", "true"], "-p needs a bridge network"),
    ],
)  # fmt: skip
def test_run_refuses_bad_options(kt: Ketch, args: list[str], message: str) -> None:
    proc = kt(*args)
    assert proc.returncode == 125, proc.stderr
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
    assert kt.ok("ps", "-aq") == ""


def test_image_not_found_hints_at_pull(kt: Ketch) -> None:
    proc = kt("run", "--rm", *NONE, "--pull", "never", "nosuchimage")
    assert "hint: pull it with 'ketch pull'" in proc.stderr


def test_name_in_use(kt: Ketch) -> None:
    kt.ok("create", "--name", "twice", *NONE, "testbox", "true")
    try:
        proc = kt("run", "--name", "twice", *NONE, "testbox", "true")
        assert proc.returncode == 125
        assert "container name 'twice' is already in use" in proc.stderr
        assert "hint: remove it with 'ketch rm twice'" in proc.stderr
    finally:
        kt.ok("rm", "twice")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["rm", "ghost"], "no such container: ghost"),
        (["stop", "ghost"], "no such container: ghost"),
        (["logs", "ghost"], "no such container: ghost"),
        (["exec", "ghost", "true"], "no such container: ghost"),
        (["volume", "inspect", "ghost"], "no such volume: ghost"),
        (["volume", "create", "bad/name"], "invalid volume name 'bad/name'"),
        (["logs", "--since", "yesterday", "ghost"], "no such container: ghost"),
    ],
)
def test_other_commands_name_the_missing_object(kt: Ketch, args: list[str], message: str) -> None:
    proc = kt(*args)
    assert proc.returncode in (1, 2)
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr


def test_exec_in_a_stopped_container(kt: Ketch) -> None:
    kt.ok("run", "--name", "stopped", *NONE, "testbox", "true")
    try:
        proc = kt("exec", "stopped", "true")
        assert proc.returncode == 1
        assert "container stopped is not running" in proc.stderr and "ketch start stopped" in proc.stderr
    finally:
        kt.ok("rm", "stopped")


def test_debug_shows_the_traceback(kt: Ketch) -> None:
    proc = kt("--debug", "run", "--rm", *NONE, "--pull", "never", "nosuchimage")
    assert "Traceback" in proc.stderr


def test_bad_config_file(kt: Ketch, tmp_path: object) -> None:
    import pathlib

    bad = pathlib.Path(str(tmp_path)) / "bad.toml"
    bad.write_text("[storage]\nroute = '/x'\n")
    proc = kt("--config", str(bad), "ps")
    assert proc.returncode == 2
    assert "unknown key 'route' in [storage]" in proc.stderr
    missing = kt("--config", str(bad) + ".missing", "ps")
    assert "does not exist" in missing.stderr


def test_help_has_examples(kt: Ketch) -> None:
    for command in ("run", "ps", "logs", "exec", "rm", "cp", "volume", "network", "info"):
        out = kt.ok(command, "--help")
        assert "examples:" in out and f"ketch {command}" in out
