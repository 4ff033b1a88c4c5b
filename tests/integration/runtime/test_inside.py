"""Each Linux feature of config.json, observed from inside the container (and the same under runc/crun)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.root]


def _run(rt: Any, b: Path, cid: str) -> str:
    proc = rt("run", "--bundle", str(b), cid, check=False)
    assert proc.returncode == 0, f"{rt.name}: {proc.stderr}"
    return str(proc.stdout)


def _status(text: str, key: str) -> str:
    for line in text.splitlines():
        if line.startswith(key + ":"):
            return line.split(":", 1)[1].strip()
    raise AssertionError(f"{key} not in {text!r}")


def test_identity_hostname_and_capabilities(any_runtime: Any, bundle: Any, cid: str) -> None:
    def edit(cfg: dict[str, Any]) -> None:
        cfg["hostname"] = "box1"
        cfg["process"]["user"] = {"uid": 1000, "gid": 1000, "additionalGids": [10, 20]}
        caps = ["CAP_CHOWN", "CAP_NET_BIND_SERVICE"]
        sets = ("bounding", "effective", "permitted", "inheritable", "ambient")
        cfg["process"]["capabilities"] = {k: list(caps) for k in sets}

    b = bundle(["sh", "-c", "hostname; id -u; id -g; id -G; cat /proc/self/status"], edit=edit)
    out = _run(any_runtime, b, cid).splitlines()
    assert out[0] == "box1"
    assert out[1:3] == ["1000", "1000"]
    assert sorted(out[3].split()) == ["10", "1000", "20"]
    status = "\n".join(out[4:])
    # CAP_CHOWN (0) and CAP_NET_BIND_SERVICE (10)
    assert _status(status, "CapBnd") == "0000000000000401"
    assert _status(status, "CapEff") == "0000000000000401"  # ambient: kept across exec by a non-root user
    assert _status(status, "CapAmb") == "0000000000000401"
    assert _status(status, "NoNewPrivs") == "1"


def test_namespaces_are_new(any_runtime: Any, bundle: Any, cid: str) -> None:
    kinds = ["pid", "net", "ipc", "uts", "mnt", "cgroup"]
    b = bundle(["sh", "-c", " ".join(f"readlink /proc/self/ns/{k};" for k in kinds) + " echo pid=$$"])
    out = _run(any_runtime, b, cid).splitlines()
    for kind, inside in zip(kinds, out, strict=False):
        assert inside != os.readlink(f"/proc/self/ns/{kind}"), f"{kind} namespace is the host's"
    assert out[-1] == "pid=1"


def test_masked_and_readonly_paths_and_readonly_root(any_runtime: Any, bundle: Any, cid: str) -> None:
    script = (
        "cat /proc/kcore >/dev/null 2>&1 && echo kcore-readable || echo kcore-masked;"
        "ls /sys/firmware | wc -l;"
        "echo 1 > /proc/sys/kernel/domainname 2>/dev/null && echo sys-writable || echo sys-ro;"
        "touch /rootfile 2>/dev/null && echo root-writable || echo root-ro;"
        "touch /tmp/x 2>/dev/null && echo tmp-writable || echo tmp-ro"
    )

    def edit(cfg: dict[str, Any]) -> None:
        cfg["mounts"].append({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid"]})

    out = _run(any_runtime, bundle(["sh", "-c", script], edit=edit), cid).split()
    assert out == ["kcore-masked", "0", "sys-ro", "root-ro", "tmp-writable"]


def test_devices_and_dev_links(any_runtime: Any, bundle: Any, cid: str) -> None:
    def edit(cfg: dict[str, Any]) -> None:
        cfg["linux"]["devices"] = [{"path": "/dev/mydev", "type": "c", "major": 1, "minor": 5, "fileMode": 0o640}]
        cfg["linux"]["resources"]["devices"].append({"allow": True, "type": "c", "major": 1, "minor": 5, "access": "rwm"})

    script = (
        "for d in null zero full random urandom tty; do [ -c /dev/$d ] && echo $d; done;"
        "stat -c '%t,%T %a' /dev/mydev; head -c 3 /dev/mydev | od -An -tx1 | tr -d ' ';"
        "readlink /dev/fd; readlink /dev/stdin; readlink /dev/ptmx"
    )
    out = _run(any_runtime, bundle(["sh", "-c", script], edit=edit), cid).split()
    assert out[:6] == ["null", "zero", "full", "random", "urandom", "tty"]
    assert out[6:9] == ["1,5", "640", "000000"]
    assert out[9:] == ["/proc/self/fd", "/proc/self/fd/0", "pts/ptmx"]


def test_mounts_bind_readonly_and_tmpfs_options(any_runtime: Any, bundle: Any, cid: str, tmp_path: Path) -> None:
    host = tmp_path / "data"
    host.mkdir()
    (host / "f").write_text("hostdata")

    def edit(cfg: dict[str, Any]) -> None:
        cfg["mounts"] += [
            {"destination": "/data", "type": "bind", "source": str(host), "options": ["rbind", "ro"]},
            {"destination": "/scratch/deep", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m", "mode=700"]},
        ]

    script = "cat /data/f; echo; touch /data/g 2>/dev/null || echo data-ro; stat -c %a /scratch/deep; grep /scratch/deep /proc/mounts | cut -d' ' -f4"
    out = _run(any_runtime, bundle(["sh", "-c", script], edit=edit), cid).split()
    assert out[:3] == ["hostdata", "data-ro", "700"]
    assert "size=1024k" in out[3]
    assert not (host / "g").exists()


def test_env_cwd_rlimits_and_umask(any_runtime: Any, bundle: Any, cid: str) -> None:
    def edit(cfg: dict[str, Any]) -> None:
        cfg["process"]["env"].append("GREETING=hi there")
        cfg["process"]["cwd"] = "/work/here"
        cfg["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 123, "hard": 456}]
        cfg["process"]["user"]["umask"] = 0o027

    out = _run(any_runtime, bundle(["sh", "-c", 'echo "$GREETING"; pwd; ulimit -n; ulimit -Hn; umask'], edit=edit), cid)
    assert out.splitlines() == ["hi there", "/work/here", "123", "456", "0027"]


def test_sysctl_and_domainname(any_runtime: Any, bundle: Any, cid: str) -> None:
    def edit(cfg: dict[str, Any]) -> None:
        cfg["domainname"] = "example.test"
        cfg["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1", "kernel.shmmni": "1234"}

    out = _run(any_runtime, bundle(["sh", "-c", "cat /proc/sys/kernel/domainname /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmni"], edit=edit), cid)
    words = out.split()
    assert words[1:] == ["1", "1234"]
    # Debian 12's runc (1.1) predates runtime-spec's domainname and leaves it unset
    assert words[0] == ("(none)" if any_runtime.name == "runc" else "example.test")


def test_joins_an_existing_network_namespace(any_runtime: Any, bundle: Any, cid: str) -> None:
    import subprocess

    name = f"kt{cid[-8:]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        inode = os.stat(f"/var/run/netns/{name}").st_ino

        def edit(cfg: dict[str, Any]) -> None:
            cfg["linux"]["namespaces"] = [
                n if n["type"] != "network" else {"type": "network", "path": f"/var/run/netns/{name}"}
                for n in cfg["linux"]["namespaces"]
            ]

        out = _run(any_runtime, bundle(["readlink", "/proc/self/ns/net"], edit=edit), cid)
        assert out.strip() == f"net:[{inode}]"
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def test_user_namespace_mappings(any_runtime: Any, bundle: Any, cid: str) -> None:
    def edit(cfg: dict[str, Any]) -> None:
        cfg["linux"]["namespaces"].append({"type": "user"})
        cfg["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
        cfg["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
        # the rootfs belongs to host root, which is unmapped; keep it read-only and give /tmp a tmpfs
        cfg["mounts"].append({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"})

    b = bundle(["sh", "-c", "cat /proc/self/uid_map; id -u"], edit=edit)
    # the mapped root (host uid 100000) must be able to reach the bundle
    for parent in [b, *b.parents]:
        if str(parent) == "/":
            break
        os.chmod(parent, os.stat(parent).st_mode | 0o011)
    out = _run(any_runtime, b, cid).split()
    assert out == ["0", "100000", "65536", "0"]


def test_user_namespace_init_needs_no_access_to_ketchs_files(bundle: Any, cid: str, tmp_path: Path) -> None:
    """The init runs as host uid 100000 once in its user namespace: ketch installed in a 0700 directory (a
    checkout made with mktemp -d) is out of its reach, so everything it runs must be imported before."""
    import shutil
    import subprocess
    import sys

    import ketch
    from ketch.testing.runtimes import Runtime

    private = tmp_path / "private"
    shutil.copytree(Path(ketch.__file__).parent, private / "src" / "ketch")
    os.chmod(private, 0o700)
    (tmp_path / "bin").mkdir()
    # a launcher for the copy, written by the copy (install() puts its own package's directory on sys.path)
    code = f"import sys; sys.path.insert(0, {str(private / 'src')!r}); from ketch.cli.launcher import install; " \
           f"print(install({str(tmp_path / 'bin')!r}, sys.executable))"
    launcher = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert str(private / "src") in Path(launcher).read_text()

    def edit(cfg: dict[str, Any]) -> None:
        cfg["linux"]["namespaces"].append({"type": "user"})
        cfg["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
        cfg["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
        cfg["mounts"].append({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"})
        assert any(m["type"] == "cgroup" for m in cfg["mounts"])  # the mount whose code once loaded late

    b = bundle(["id", "-u"], edit=edit)
    for parent in [b, *b.parents]:
        if str(parent) == "/":
            break
        os.chmod(parent, os.stat(parent).st_mode | 0o011)
    rt = Runtime(launcher, tmp_path / "state")
    try:
        assert _run(rt, b, cid).split() == ["0"]
    finally:
        rt.cleanup()


def test_scheduler_io_priority_and_personality(ketch: Any, bundle: Any, cid: str) -> None:
    """runtime-spec 1.1+ (Debian 12's runc predates them, so ketch-runtime only)."""

    def edit(cfg: dict[str, Any]) -> None:
        cfg["process"]["scheduler"] = {"policy": "SCHED_BATCH", "nice": 7}
        cfg["process"]["ioPriority"] = {"class": "IOPRIO_CLASS_IDLE", "priority": 0}
        cfg["linux"]["personality"] = {"domain": "LINUX32"}

    script = "uname -m; ionice -p $$; set -- $(cat /proc/$$/stat); echo nice=${19} policy=${41}"
    out = _run(ketch, bundle(["sh", "-c", script], edit=edit), cid).splitlines()
    assert out[0] in ("i686", "armv8l", "armv7l")
    assert out[1].startswith("idle")
    assert out[2] == "nice=7 policy=3"


def test_bad_scheduler_fields_are_named(ketch: Any, bundle: Any, cid: str) -> None:
    def edit(cfg: dict[str, Any]) -> None:
        cfg["process"]["scheduler"] = {"policy": "SCHED_TURBO"}

    proc = ketch("create", "--bundle", str(bundle(["true"], edit=edit)), cid, check=False)
    assert proc.returncode != 0 and "process.scheduler.policy" in proc.stderr


def test_no_pivot_and_time_namespace_offsets(any_runtime: Any, bundle: Any, cid: str) -> None:
    def edit(cfg: dict[str, Any]) -> None:
        cfg["linux"]["namespaces"].append({"type": "time"})
        cfg["linux"]["timeOffsets"] = {"boottime": {"secs": 86400 * 365, "nanosecs": 0}}

    b = bundle(["sh", "-c", "cut -d. -f1 /proc/uptime; ls /"], edit=edit)
    proc = any_runtime("run", "--no-pivot", "--bundle", str(b), cid, check=False)
    if any_runtime.name != "ketch-runtime" and proc.returncode != 0:
        # Debian 12's runc (1.1) has no time namespaces; its crun (1.8) fails creating one here
        pytest.skip(f"{any_runtime.name} here cannot make a time namespace: {proc.stderr.strip()}")
    assert proc.returncode == 0, proc.stderr
    uptime, *listing = proc.stdout.split()
    assert int(uptime) >= 86400 * 365
    assert "bin" in listing and "proc" in listing


def test_rootfs_propagation_private_keeps_host_mounts_out(any_runtime: Any, bundle: Any, cid: str, tmp_path: Path) -> None:
    import subprocess

    shared = tmp_path / "shared"
    shared.mkdir()

    def edit(cfg: dict[str, Any]) -> None:
        cfg["linux"]["rootfsPropagation"] = "rprivate"
        cfg["mounts"].append({"destination": "/shared", "type": "bind", "source": str(shared), "options": ["rbind"]})

    any_runtime("run", "-d", "--bundle", str(bundle(["sleep", "30"], edit=edit)), cid)
    pid = any_runtime.state(cid)["pid"]
    sub = shared / "late"
    sub.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "late", str(sub)], check=True)
    try:
        inside = Path(f"/proc/{pid}/mountinfo").read_text()
        assert " /shared/late " not in inside  # a private root: later host mounts do not propagate in
    finally:
        subprocess.run(["umount", str(sub)], check=False)


def test_delete_removes_the_cgroup(ketch: Any, bundle: Any, cid: str) -> None:
    ketch("run", "-d", "--bundle", str(bundle(["sleep", "30"])), cid)
    pid = ketch.state(cid)["pid"]
    dirs = [line.split(":", 2) for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines()]
    paths = [Path(f"/sys/fs/cgroup/{c}{p}") for _, c, p in dirs if c in ("pids", "memory")]
    assert paths and all(p.is_dir() and p.name == cid for p in paths)
    ketch("delete", "--force", cid)
    assert not any(p.exists() for p in paths)
