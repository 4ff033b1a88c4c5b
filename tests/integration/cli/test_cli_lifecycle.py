"""Detached containers: logs, ps, exec, stop/kill/rm semantics, wait, restart, prune, inspect, top, port."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any as Ketch

import pytest

pytestmark = [pytest.mark.root, pytest.mark.slow]


def _wait_for(predicate: Any, what: str, tries: int = 200) -> None:  # noqa: F821
    for _ in range(tries):
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"gave up waiting for {what}")


def test_detach_then_logs(kt: Ketch) -> None:
    cid = kt.ok("run", "-d", "--name", "logger", "--network", "none", "testbox", "sh", "-c",
                "for i in 1 2 3 4 5; do echo line$i; done; echo oops >&2; sleep 30").strip()  # fmt: skip
    try:
        assert len(cid) == 64
        _wait_for(lambda: "oops" in kt("logs", "logger").stderr, "the container's output")
        logs = kt("logs", "logger")
        assert logs.stdout == "line1\nline2\nline3\nline4\nline5\n"
        assert logs.stderr == "oops\n"
        tail = kt("logs", "--tail", "2", "logger")  # the last two entries of both streams
        assert (tail.stdout, tail.stderr) == ("line5\n", "oops\n")
        assert kt.ok("logs", "--since", "2000-01-01T00:00:00Z", "logger").startswith("line1\n")
        assert kt.ok("logs", "--since", "1s", "--tail", "0", "logger") == ""
        ps = json.loads(kt.ok("ps", "--format", "json"))
        assert [(c["name"], c["state"]) for c in ps if c["id"] == cid] == [("logger", "running")]
        assert "logger" in kt.ok("ps")
    finally:
        kt.ok("rm", "-f", "logger")
    assert "logger" not in kt.ok("ps", "-a")


def test_logs_follow_ends_when_the_container_exits(kt: Ketch) -> None:
    kt.ok("run", "-d", "--name", "follow", "--network", "none", "testbox", "sh", "-c",
          "echo a; sleep 1; echo b; exit 4")  # fmt: skip
    try:
        assert kt.ok("logs", "-f", "follow", timeout=30) == "a\nb\n"
        assert kt.ok("wait", "follow") == "4\n"
        assert kt.ok("container", "inspect", "--format", "{{.state}} {{.exit_code}}", "follow") == "exited 4\n"
    finally:
        kt.ok("rm", "-f", "follow")


def test_exec_env_user_workdir_and_exit_code(kt: Ketch) -> None:
    kt.ok("run", "-d", "--name", "ex", "--network", "none", "testbox", "sleep", "60")
    try:
        out = kt.ok("exec", "-e", "X=42", "-u", "1000", "-w", "/tmp", "ex", "sh", "-c", 'echo "$X $(id -u) $(pwd)"')
        assert out == "42 1000 /tmp\n"
        assert kt("exec", "ex", "sh", "-c", "exit 5").returncode == 5
        top = kt.ok("top", "ex")
        assert "sleep 60" in top
    finally:
        kt.ok("rm", "-f", "ex")


def test_stop_kill_rm_semantics(kt: Ketch) -> None:
    # sh as pid 1 ignores SIGTERM without a handler: stop escalates to SIGKILL after -t
    kt.ok("run", "-d", "--name", "stubborn", "--network", "none", "testbox", "sleep", "60")
    refused = kt("rm", "stubborn")
    assert refused.returncode == 1
    assert "is running" in refused.stderr and "ketch rm -f" in refused.stderr
    kt.ok("stop", "-t", "1", "stubborn")
    assert kt.ok("container", "inspect", "--format", "{{.state}} {{.exit_code}}", "stubborn") == "exited 137\n"
    # a trapping process exits on the stop signal with its own status
    kt.ok("start", "stubborn")
    assert kt.ok("container", "inspect", "--format", "{{.state}}", "stubborn") == "running\n"
    kt.ok("kill", "-s", "KILL", "stubborn")
    assert kt.ok("wait", "stubborn") == "137\n"
    cid = kt.ok("container", "inspect", "--format", "{{.id}}", "stubborn").strip()
    kt.ok("rm", "stubborn")
    assert not list(Path("/sys/fs/cgroup").glob(f"*/ketch-engine/{cid}"))  # no cgroup left behind
    assert kt("container", "inspect", "--type", "container", "stubborn").returncode == 1

    kt.ok("run", "-d", "--name", "polite", "--network", "none", "testbox", "sh", "-c",
          "trap 'exit 3' TERM; while true; do sleep 0.1; done")  # fmt: skip
    kt.ok("stop", "polite")
    assert kt.ok("wait", "polite") == "3\n"
    kt.ok("restart", "polite")
    assert kt.ok("container", "inspect", "--format", "{{.state}}", "polite") == "running\n"
    kt.ok("rm", "-f", "polite")


def test_rm_after_detached_rm(kt: Ketch) -> None:
    cid = kt.ok("run", "-d", "--rm", "--network", "none", "testbox", "true").strip()
    _wait_for(lambda: cid[:12] not in kt.ok("ps", "-aq"), "--rm to remove the container")


def test_prune_removes_stopped_containers_only(kt: Ketch) -> None:
    kt.ok("run", "--name", "done1", "--network", "none", "testbox", "true")
    kt.ok("run", "-d", "--name", "alive", "--network", "none", "testbox", "sleep", "60")
    try:
        out = kt.ok("prune")
        assert out.startswith("removed ")
        names = kt.ok("ps", "-a")
        assert "done1" not in names and "alive" in names
    finally:
        kt.ok("rm", "-f", "alive")


def test_commit_makes_an_image_of_the_changes(kt: Ketch) -> None:
    kt.ok("run", "--name", "changer", "--network", "none", "testbox", "sh", "-c", "echo changed > /marker")
    try:
        digest = kt.ok("commit", "changer", "committed:v1").strip()
        assert digest.startswith("sha256:")
        assert kt.ok("run", "--rm", "--network", "none", "committed:v1", "cat", "/marker") == "changed\n"
    finally:
        kt.ok("rm", "changer")
        kt("image", "rm", "committed:v1")


def test_info_shows_the_configuration_in_effect(kt: Ketch) -> None:
    info = json.loads(kt.ok("info", "--format", "json"))
    assert info["config"]["config_file"] == str(kt.config)
    assert info["config"]["storage"]["root"] == f"{kt.base}/root"
    assert info["runtimes"]["ketch-runtime"].startswith(str(kt.base))
    assert info["cgroup"]
    text = kt.ok("info")
    assert f"Storage root:     {kt.base}/root" in text
    assert kt.ok("version").startswith("ketch version")
