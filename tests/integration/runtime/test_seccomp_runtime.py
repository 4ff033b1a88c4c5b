"""seccomp through the whole runtime: config.json's linux.seccomp applied to the container's program."""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path
from typing import Any

import pytest

from ketch.runtime.seccomp import runtime_default_profile
from ketch.spec.runtime_defaults import DEFAULT_CAPABILITIES

pytestmark = [pytest.mark.root]


def _errno_profile(nnp: bool) -> Any:
    def edit(cfg: dict[str, Any]) -> None:
        cfg["process"]["noNewPrivileges"] = nnp
        cfg["mounts"].append({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"})
        cfg["linux"]["seccomp"] = {
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_AARCH64"],
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}],
        }

    return edit


@pytest.mark.parametrize("nnp", [True, False])
def test_errno_rule_reaches_the_program(any_runtime: Any, bundle: Any, cid: str, nnp: bool) -> None:
    b = bundle(["sh", "-c", "mkdir /tmp/d; echo rc=$?; touch /tmp/f && echo touched"], edit=_errno_profile(nnp))
    proc = any_runtime("run", "--bundle", str(b), cid, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "Function not implemented" in proc.stderr
    assert proc.stdout.split() == ["rc=1", "touched"]


def test_kill_process_action(any_runtime: Any, bundle: Any, cid: str) -> None:
    def edit(cfg: dict[str, Any]) -> None:
        cfg["linux"]["seccomp"] = {
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_KILL_PROCESS"}],
        }

    proc = any_runtime("run", "--bundle", str(bundle(["sh", "-c", "echo $PPID"], edit=edit)), cid, check=False)
    assert proc.returncode == 128 + 31, proc.stderr  # SIGSYS


def test_runtime_default_profile(any_runtime: Any, bundle: Any, cid: str) -> None:
    def edit(cfg: dict[str, Any]) -> None:
        cfg["linux"]["seccomp"] = runtime_default_profile(DEFAULT_CAPABILITIES)

    script = "ls / >/dev/null && echo ls-ok; unshare -U true 2>/dev/null && echo unshare-ok || echo unshare-denied"
    proc = any_runtime("run", "--bundle", str(bundle(["sh", "-c", script], edit=edit)), cid, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["ls-ok", "unshare-denied"]


def test_bad_profiles_are_refused_and_leave_nothing(ketch: Any, bundle: Any, cid: str) -> None:
    cases = [
        ({"defaultAction": "SCMP_ACT_FOO"}, "linux.seccomp.defaultAction"),
        ({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_NOPE"]}, "linux.seccomp.architectures[0]"),
        ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_BOGUS"}]},
         "linux.seccomp.syscalls[0].action"),
        ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read", "raed"], "action": "SCMP_ACT_ERRNO"}]},
         "linux.seccomp.syscalls[0].names: unknown system call 'raed'"),
    ]
    for profile, field in cases:
        def edit(cfg: dict[str, Any], profile: dict[str, Any] = profile) -> None:
            cfg["linux"]["seccomp"] = profile

        proc = ketch("create", "--bundle", str(bundle(["true"], edit=edit)), cid, check=False)
        assert proc.returncode != 0
        assert field in proc.stderr, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1
        assert not (ketch.root / cid).exists()


def test_notify_listener_receives_the_fd(ketch: Any, bundle: Any, cid: str, short_tmp: Path) -> None:
    from ketch.runtime.seccomp.notify import receive_notify_fd

    path = str(short_tmp / "agent.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)
    got: dict[str, Any] = {}

    def agent() -> None:
        conn, _ = server.accept()
        with conn:
            fd, msg = receive_notify_fd(conn)
            got["msg"] = msg
            got["fd_kind"] = os.readlink(f"/proc/self/fd/{fd}")
            os.close(fd)  # closing the listener makes the notified syscall fail with ENOSYS

    thread = threading.Thread(target=agent, daemon=True)
    thread.start()

    def edit(cfg: dict[str, Any]) -> None:
        cfg["linux"]["seccomp"] = {
            "defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": path,
            "listenerMetadata": "hello-agent",
            "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_NOTIFY"}],
        }

    ketch("create", "--bundle", str(bundle(["true"], edit=edit)), cid)
    thread.join(10)
    server.close()
    msg = got["msg"]
    assert msg["fds"] == ["seccompFd"]
    assert msg["metadata"] == "hello-agent"
    assert msg["state"]["id"] == cid and msg["state"]["status"] == "creating"
    assert msg["pid"] == ketch.state(cid)["pid"]
    assert "seccomp" in got["fd_kind"]
    ketch("delete", "--force", cid)


def test_a_profile_denying_execve_fails_clearly(ketch: Any, bundle: Any, cid: str) -> None:
    def edit(cfg: dict[str, Any]) -> None:
        cfg["linux"]["seccomp"] = {
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["execve", "execveat"], "action": "SCMP_ACT_ERRNO"}],
        }

    proc = ketch("run", "--bundle", str(bundle(["true"], edit=edit)), cid, check=False)
    assert proc.returncode != 0
    assert "execve" in proc.stderr and "Operation not permitted" in proc.stderr
