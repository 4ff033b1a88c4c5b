"""Regressions for the container-escape CVEs that shaped runc; each test names its CVE."""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.root]


def _sha(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_cve_2019_5736_proc_self_exe_is_a_sealed_memfd(ketch: Any, bundle: Any, cid: str) -> None:
    """CVE-2019-5736: a container overwrote runc's binary through /proc/self/exe by making the runtime exec a
    "#!/proc/self/exe" script. Here the runtime's last exec is a sealed in-memory stub: a container whose
    program is such a script only ever runs that stub, and a second container in its pid namespace, with
    CAP_SYS_PTRACE, finds a memfd behind /proc/1/exe that refuses writes. The host interpreter is untouched."""
    interpreter = os.path.realpath(sys.executable)
    before = _sha(interpreter)
    victim = bundle(["/evil"])
    (victim / "rootfs" / "evil").write_text("#!/proc/self/exe\n")
    os.chmod(victim / "rootfs" / "evil", 0o755)
    ketch("run", "--detach", "--bundle", str(victim), cid)
    pid = ketch.state(cid)["pid"]
    try:
        def edit(cfg: dict[str, Any]) -> None:
            cfg["linux"]["namespaces"] = [
                n if n["type"] != "pid" else {"type": "pid", "path": f"/proc/{pid}/ns/pid"} for n in cfg["linux"]["namespaces"]
            ]
            caps = ["CAP_SYS_PTRACE", "CAP_DAC_OVERRIDE"]
            cfg["process"]["capabilities"] = {k: caps for k in ("bounding", "effective", "permitted")}

        script = (
            "readlink /proc/1/exe;"
            "echo pwned > /proc/1/exe 2>/dev/null && echo overwrite-ok || echo overwrite-refused;"
            "echo pwned >> /proc/1/exe 2>/dev/null && echo append-ok || echo append-refused"
        )
        proc = ketch("run", "--bundle", str(bundle(["sh", "-c", script], edit=edit)), cid + "x", check=False)
        lines = proc.stdout.splitlines()
        assert lines[0].startswith("/memfd:ketch-exec"), proc.stdout + proc.stderr
        assert lines[1:] == ["overwrite-refused", "append-refused"]
    finally:
        ketch("delete", "--force", cid)
    assert _sha(interpreter) == before


def test_cve_2024_21626_no_host_fds_leak_into_the_container(ketch: Any, bundle: Any, cid: str, tmp_path: Path) -> None:
    """CVE-2024-21626: runc leaked a host directory fd into the container. Fds the caller holds (beyond
    stdio and --preserve-fds) must all be closed by the time the program runs."""
    secret = tmp_path / "hostdir"
    secret.mkdir()
    fd = os.open(secret, os.O_RDONLY | os.O_DIRECTORY)
    try:
        b = bundle(["sh", "-c", "ls /proc/self/fd"])
        proc = ketch("run", "--bundle", str(b), cid, check=False, pass_fds=(fd,))
    finally:
        os.close(fd)
    assert proc.returncode == 0, proc.stderr
    assert sorted(proc.stdout.split()) == ["0", "1", "2", "3"]  # 3 is ls's own directory fd


def test_cve_2024_21626_cwd_through_a_leaked_fd_is_refused(ketch: Any, bundle: Any, cid: str, tmp_path: Path) -> None:
    """CVE-2024-21626: process.cwd = /proc/self/fd/N, N a leaked host directory, put the container's cwd on
    the host. The runtime must refuse it."""
    secret = tmp_path / "hostdir"
    secret.mkdir()
    (secret / "host-file").write_text("host")
    fd = os.open(secret, os.O_RDONLY | os.O_DIRECTORY)
    try:
        b = bundle(["ls"], cwd=f"/proc/self/fd/{fd}")
        proc = ketch("run", "--bundle", str(b), cid, check=False, pass_fds=(fd,))
    finally:
        os.close(fd)
    assert proc.returncode != 0
    assert "host-file" not in proc.stdout
    assert "process.cwd" in proc.stderr
    assert not (ketch.root / cid).exists()


def test_preserve_fds_passes_exactly_those(ketch: Any, bundle: Any, cid: str, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.write_text("through fd 3")
    fd = os.open(data, os.O_RDONLY)
    try:
        os.dup2(fd, 3) if fd != 3 else None
        b = bundle(["sh", "-c", "cat <&3; echo; ls /proc/self/fd | wc -l"])
        proc = ketch("run", "--preserve-fds", "1", "--bundle", str(b), cid, check=False, pass_fds=(3,))
    finally:
        os.close(fd)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\n")[0] == "through fd 3"


@pytest.mark.parametrize("target", ["/evil-abs", "/evil-rel"])
def test_cve_2021_30465_mount_target_symlinks_stay_inside(ketch: Any, bundle: Any, cid: str, tmp_path: Path, target: str) -> None:
    """CVE-2021-30465 class: a mount destination that is (or passes through) a symlink in the image must
    resolve inside the rootfs, never onto the host."""
    host = tmp_path / "host-target"
    host.mkdir()

    def edit(cfg: dict[str, Any]) -> None:
        cfg["mounts"].append({"destination": f"{target}/sub", "type": "tmpfs", "source": "tmpfs"})

    b = bundle(["sh", "-c", f"touch {target}/sub/inside && echo wrote"], edit=edit)
    rootfs = b / "rootfs"
    os.symlink(str(host), rootfs / "evil-abs")  # absolute: /tmp/.../host-target
    os.symlink("../../../../../../../../" + str(host).lstrip("/"), rootfs / "evil-rel")
    proc = ketch("run", "--bundle", str(b), cid, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split()[0] == "wrote"
    assert list(host.iterdir()) == [], "the mount escaped onto the host"
    mounts = Path("/proc/self/mountinfo").read_text()
    assert str(host) not in mounts
    inside = rootfs / str(host).lstrip("/")
    assert (inside / "sub").is_dir()  # created inside the rootfs instead
