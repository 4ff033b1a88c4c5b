"""``ketch run`` in the foreground with each group of flags, checked from inside the container."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any as Ketch

import pytest

pytestmark = [pytest.mark.root, pytest.mark.slow]


def test_output_and_exit_code_come_back(kt: Ketch) -> None:
    proc = kt("run", "--rm", "--network", "none", "testbox", "sh", "-c", "echo out; echo err >&2; exit 7")
    assert proc.returncode == 7
    assert proc.stdout == "out\n"
    assert "err\n" in proc.stderr
    assert kt.ok("ps", "-aq") == ""  # --rm removed it


def test_environment_workdir_user_hostname(kt: Ketch, tmp_path: Path) -> None:
    env_file = tmp_path / "env"
    env_file.write_text("# comment\nFROM_FILE=yes\n")
    out = kt.ok(
        "run", "--rm", "--network", "none", "-e", "A=1", "--env-file", str(env_file), "-w", "/tmp",
        "-u", "1000:1001", "--hostname", "boxy", "testbox",
        "sh", "-c", 'echo "$A $FROM_FILE $(pwd) $(id -u):$(id -g) $(hostname) $(cat /etc/hostname)"',
    )  # fmt: skip
    assert out == "1 yes /tmp 1000:1001 boxy boxy\n"


def test_entrypoint_replaces_the_image_command(kt: Ketch) -> None:
    assert kt.ok("run", "--rm", "--network", "none", "--entrypoint", "echo", "testbox", "a", "b") == "a b\n"


def _cap_eff(text: str) -> int:
    line = next(x for x in text.splitlines() if x.startswith("CapEff:"))
    return int(line.split()[1], 16)


def test_capabilities_and_privileged(kt: Ketch) -> None:
    status = ["testbox", "cat", "/proc/self/status"]
    assert _cap_eff(kt.ok("run", "--rm", "--network", "none", "--cap-drop", "ALL", *status)) == 0
    added = _cap_eff(kt.ok("run", "--rm", "--network", "none", "--cap-drop", "ALL", "--cap-add", "NET_ADMIN", *status))
    assert added == 1 << 12  # CAP_NET_ADMIN
    default = _cap_eff(kt.ok("run", "--rm", "--network", "none", *status))
    assert default & (1 << 0) and not default & (1 << 21)  # CAP_CHOWN yes, CAP_SYS_ADMIN no
    assert _cap_eff(kt.ok("run", "--rm", "--network", "none", "--privileged", *status)) & (1 << 21)


def test_read_only_root_keeps_tmp_writable(kt: Ketch) -> None:
    proc = kt("run", "--rm", "--network", "none", "--read-only", "testbox", "sh", "-c",
              "touch /tmp/ok && echo tmp-ok; touch /nope")  # fmt: skip
    assert proc.returncode != 0
    assert "tmp-ok" in proc.stdout
    assert "Read-only file system" in proc.stderr


def test_seccomp_profile_from_security_opt(kt: Ketch, tmp_path: Path) -> None:
    profile = tmp_path / "deny-mkdir.json"
    profile.write_text(json.dumps({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}],
    }))  # fmt: skip
    proc = kt("run", "--rm", "--network", "none", "--security-opt", f"seccomp={profile}", "testbox", "mkdir", "/x")
    assert proc.returncode != 0
    assert kt.ok("run", "--rm", "--network", "none", "--security-opt", "seccomp=unconfined", "testbox",
                 "sh", "-c", "mkdir /x && echo made") == "made\n"  # fmt: skip


def test_resource_limits_reach_the_cgroup(kt: Ketch) -> None:
    cid = kt.ok("run", "-d", "--network", "none", "--memory", "64m", "--cpus", "0.5", "--pids-limit", "33",
                "testbox", "sleep", "60").strip()  # fmt: skip
    try:
        base = Path("/sys/fs/cgroup")
        if (base / "memory").is_dir():
            assert (base / "memory/ketch-engine" / cid / "memory.limit_in_bytes").read_text().strip() == str(64 << 20)
            assert (base / "cpu/ketch-engine" / cid / "cpu.cfs_quota_us").read_text().strip() == "50000"
            assert (base / "pids/ketch-engine" / cid / "pids.max").read_text().strip() == "33"
        stats = json.loads(kt.ok("stats", "--format", "json", cid))
        assert stats[0]["pids"] == 1 and stats[0]["memory_limit"] == 64 << 20
    finally:
        kt.ok("rm", "-f", cid)


def test_tmpfs_mount(kt: Ketch) -> None:
    out = kt.ok("run", "--rm", "--network", "none", "--tmpfs", "/scratch", "testbox", "grep", " /scratch ", "/proc/mounts")
    assert out.split()[2] == "tmpfs"


@pytest.mark.peer
@pytest.mark.parametrize("runtime", ["runc", "crun"])
def test_other_runtimes(kt: Ketch, runtime: str) -> None:
    if shutil.which(runtime) is None:
        pytest.skip(f"needs {runtime}")
    if runtime == "crun":
        from ketch.testing.peers import ensure_crun_hugetlb

        ensure_crun_hugetlb()
    proc = kt("run", "--rm", "--network", "none", "--runtime", runtime, "testbox", "sh", "-c", "echo via; exit 3")
    assert (proc.returncode, proc.stdout) == (3, "via\n"), proc.stderr


def test_default_seccomp_profile_denies_keyrings_and_privileged_lifts_it(kt: Ketch) -> None:
    # mount needs CAP_SYS_ADMIN; the default profile answers EPERM for keyctl whatever the capabilities
    status = kt.ok("run", "--rm", "--network", "none", "testbox", "grep", "Seccomp:", "/proc/self/status")
    assert status.split()[1] == "2"  # filter mode
    privileged = kt.ok("run", "--rm", "--network", "none", "--privileged", "testbox", "grep", "Seccomp:", "/proc/self/status")
    assert privileged.split()[1] == "0"
    unconfined = kt.ok("run", "--rm", "--network", "none", "--security-opt", "seccomp=unconfined", "testbox",
                       "grep", "Seccomp:", "/proc/self/status")  # fmt: skip
    assert unconfined.split()[1] == "0"


def test_interactive_stdin_and_platform(kt: Ketch) -> None:
    from ketch.image.platform import host_platform

    here = f"linux/{host_platform().architecture}"
    proc = kt("run", "--rm", "-i", "--network", "none", "--platform", here, "testbox", "tr", "a-z", "A-Z",
              input="piped in\n")  # fmt: skip
    assert (proc.returncode, proc.stdout) == (0, "PIPED IN\n"), proc.stderr
    closed = kt("run", "--rm", "--network", "none", "testbox", "cat", input="not passed without -i\n")
    assert (closed.returncode, closed.stdout) == (0, "")
    other = kt("run", "--rm", "--network", "none", "--pull", "never", "--platform", "linux/s390x", "testbox", "true")
    assert other.returncode == 125 and f"testbox:latest is {here}, not linux/s390x" in other.stderr
    # without --pull never too: the image is here, so nothing is pulled
    again = kt("run", "--rm", "--network", "none", "--platform", "linux/s390x", "testbox", "true")
    assert again.returncode == 125 and "not linux/s390x" in again.stderr and "ketch pull:" not in again.stderr
