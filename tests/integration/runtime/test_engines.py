"""containerd (ctr) and podman drive ketch-runtime exactly as they drive runc."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from ketch.testing.peers import ketch_tool, needs

pytestmark = [pytest.mark.root, pytest.mark.peer]


@pytest.fixture
def containerd(short_tmp: Path) -> Iterator[str]:
    from ketch.testing.peers import containerd as own_containerd

    with own_containerd(str(short_tmp)) as address:
        yield address


@needs("containerd", "ctr", "containerd-shim-runc-v2")
def test_ctr_runs_a_container_through_ketch_runtime(containerd: str, busybox_rootfs: str) -> None:
    ns = "kt" + uuid.uuid4().hex[:8]
    runtime = ketch_tool("ketch-runtime")
    ctr = ["ctr", "-a", containerd, "-n", ns]
    base = [*ctr, "run", "--runc-binary", runtime]  # then flags, then --rootfs (a switch) ROOTFS ID CMD
    proc = subprocess.run([*base, "--rm", "--rootfs", busybox_rootfs, "c1", "sh", "-c", "echo hi from ctr; exit 5"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 5, proc.stderr
    assert proc.stdout.strip() == "hi from ctr"
    # a detached one, looked at with ketch-runtime itself: proof that the shim really ran ketch-runtime
    subprocess.run([*base, "-d", "--rootfs", busybox_rootfs, "c2", "sleep", "60"], check=True, capture_output=True, timeout=60)
    try:
        state = subprocess.run(
            [runtime, "--root", f"/run/containerd/runc/{ns}", "state", "c2"], capture_output=True, text=True, check=True
        )
        assert '"status": "running"' in state.stdout
    finally:
        subprocess.run([*ctr, "task", "kill", "-s", "KILL", "c2"], capture_output=True)
        for _ in range(100):
            if subprocess.run([*ctr, "task", "rm", "c2"], capture_output=True).returncode == 0:
                break
            time.sleep(0.05)
        subprocess.run([*ctr, "container", "rm", "c2"], capture_output=True)
    assert not os.path.exists(f"/run/containerd/runc/{ns}/c2")


@needs("podman", "conmon")
def test_podman_runs_a_container_through_ketch_runtime(short_tmp: Path, busybox_rootfs: str) -> None:
    runtime = ketch_tool("ketch-runtime")
    podman = [
        "podman", "--root", str(short_tmp / "root"), "--runroot", str(short_tmp / "run"),
        "--runtime", runtime, "--cgroup-manager", "cgroupfs", "--events-backend", "file",
    ]  # fmt: skip
    run = [*podman, "run", "--network", "none", "--ulimit", "nofile=20000:20000", "--ulimit", "nproc=32768:32768"]
    try:
        proc = subprocess.run(
            [*run, "--rm", "--rootfs", busybox_rootfs, "sh", "-c", "echo hi from podman; hostname; exit 4"],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert proc.returncode == 4, proc.stderr
        lines = proc.stdout.split()
        assert lines[:3] == ["hi", "from", "podman"]
        # detached, then stopped by podman (kill + delete through the runtime)
        cid = subprocess.run(
            [*run, "-d", "--rootfs", busybox_rootfs, "sleep", "60"], capture_output=True, text=True, check=True, timeout=120
        ).stdout.strip()
        listed = subprocess.run([*podman, "ps", "-q", "--no-trunc"], capture_output=True, text=True, check=True)
        assert cid in listed.stdout
        subprocess.run([*podman, "rm", "-f", "-t", "0", cid], capture_output=True, check=True, timeout=60)
    finally:
        subprocess.run([*podman, "rm", "-af", "-t", "0"], capture_output=True, timeout=120)
        shutil.rmtree(short_tmp / "root", ignore_errors=True)


@needs("conmon")
def test_conmon_drives_ketch_runtime(ketch: object, bundle: object, cid: str, short_tmp: Path) -> None:
    """conmon (as CRI-O runs it) creates the container through ketch-runtime, keeps its stdio in a CRI log
    and writes its exit code to the exit directory."""
    runtime = ketch_tool("ketch-runtime")
    root = short_tmp / "runtime"
    exits = short_tmp / "exits"
    exits.mkdir()
    (short_tmp / "socks").mkdir()
    b = bundle(["sh", "-c", "echo line one; echo err line >&2; sleep 0.2; echo line two; exit 3"])  # type: ignore[operator]
    log = short_tmp / "ctr.log"
    pid_file = short_tmp / "pid"
    subprocess.run(
        [
            "conmon", "--api-version", "1", "-c", cid, "-u", cid, "-n", cid, "-r", runtime,
            "--runtime-arg", f"--root={root}", "-b", str(b), "-p", str(pid_file),
            "-P", str(short_tmp / "conmon.pid"), "-l", f"k8s-file:{log}", "--exit-dir", str(exits),
            "--socket-dir-path", str(short_tmp / "socks"), "--log-level", "error",
        ],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60,
    )  # fmt: skip
    deadline = time.time() + 20
    while not pid_file.exists() and time.time() < deadline:
        time.sleep(0.05)
    assert pid_file.exists(), "conmon's create through ketch-runtime did not finish"
    subprocess.run([runtime, "--root", str(root), "start", cid], check=True, capture_output=True)
    exit_file = exits / cid
    while not exit_file.exists() and time.time() < deadline:
        time.sleep(0.05)
    assert exit_file.read_text() == "3"
    lines = log.read_text().splitlines()
    # CRI log format: <RFC3339Nano> <stream> <P|F> <message>
    parsed = [line.split(" ", 3)[1:] for line in lines]
    assert parsed == [["stdout", "F", "line one"], ["stderr", "F", "err line"], ["stdout", "F", "line two"]]
    subprocess.run([runtime, "--root", str(root), "delete", cid], check=True, capture_output=True)
