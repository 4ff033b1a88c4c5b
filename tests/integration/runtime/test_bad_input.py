"""Bad input: one clear line naming what is wrong, a non-zero exit, and no trace left behind."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.root]


def _no_trace(ketch: Any, cid: str) -> None:
    assert not (ketch.root / cid).exists(), "state directory left behind"
    for ctrl in ("memory", "pids", "cpu"):
        assert not Path(f"/sys/fs/cgroup/{ctrl}/{cid}").exists(), f"{ctrl} cgroup left behind"
    assert cid not in ketch("list", "--quiet").stdout


def _refused(ketch: Any, b: Path, cid: str, *words: str) -> str:
    proc = ketch("create", "--bundle", str(b), cid, check=False)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    for word in words:
        assert word in lines[0], lines[0]
    _no_trace(ketch, cid)
    return lines[0]


def _edit_config(b: Path, edit: Any) -> Path:
    path = b / "config.json"
    cfg = json.loads(path.read_text())
    edit(cfg)
    path.write_text(json.dumps(cfg))
    return b


def test_missing_and_malformed_config(ketch: Any, bundle: Any, cid: str, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    _refused(ketch, empty, cid, "config.json", "not found")
    _refused(ketch, tmp_path / "nowhere", cid, "no such directory")
    b = bundle(["true"])
    (b / "config.json").write_text('{"ociVersion": "1.0.0", "root": ')
    _refused(ketch, b, cid, "config.json", "invalid JSON")


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (lambda c: c.update(ociVersion="2.0.0"), ["ociVersion", "2.0.0"]),
        (lambda c: c.pop("ociVersion"), ["ociVersion", "required"]),
        (lambda c: c["mounts"].append({"destination": "relative/dir", "type": "tmpfs", "source": "tmpfs"}),
         ["mounts[7].destination", "absolute"]),
        (lambda c: c["mounts"].append({"destination": "/a/../../etc", "type": "tmpfs", "source": "tmpfs"}),
         ["mounts[7].destination", ".."]),
        (lambda c: c["process"].update(rlimits=[{"type": "RLIMIT_NOFILE", "soft": 10, "hard": 5}]),
         ["process.rlimits[0].soft", "above"]),
        (lambda c: c["process"].update(rlimits=[{"type": "RLIMIT_NOFILE", "soft": 1, "hard": 1 << 40}]),
         ["process.rlimits[0]", "RLIMIT_NOFILE", "CAP_SYS_RESOURCE"]),
        (lambda c: c["process"].update(rlimits=[{"type": "RLIMIT_BOGUS", "soft": 1, "hard": 1}]),
         ["process.rlimits[0].type", "RLIMIT_BOGUS"]),
        (lambda c: c["process"].update(oomScoreAdj=-500), ["process.oomScoreAdj", "CAP_SYS_RESOURCE"]),
        (lambda c: c["process"].update(args=[]), ["process.args"]),
        (lambda c: c["process"]["capabilities"]["bounding"].append("CAP_NOPE"), ["capabilities.bounding[3]", "CAP_NOPE"]),
        (lambda c: c["linux"]["namespaces"].append({"type": "pid"}), ["linux.namespaces[6].type", "twice"]),
        (lambda c: c["linux"].update(devices=[{"path": "/dev/x", "type": "q", "major": 1, "minor": 1}]),
         ["linux.devices[0].type"]),
        (lambda c: c["linux"].update(sysctl={"kernel.panic": "1"}), ["linux.sysctl.kernel.panic"]),
        (lambda c: c["linux"]["resources"].update(memory={"limit": 4096}), ["linux.resources.memory"]),
        (lambda c: c["process"].update(args=["/no/such/program"]), ["/no/such/program"]),
        (lambda c: c["process"].update(args=["nosuchprogram"]), ["nosuchprogram", "$PATH"]),
        (lambda c: c["root"].update(path="missing-rootfs"), ["root.path"]),
        (lambda c: c["process"].update(apparmorProfile="docker-default"), ["process.apparmorProfile", "AppArmor"]),
        (lambda c: c["linux"]["resources"]["devices"].append({"allow": True, "type": "x", "access": "rwm"}),
         ["linux.resources.devices[1].type"]),
    ],
)
def test_bad_config_fields(ketch: Any, bundle: Any, cid: str, edit: Any, words: list[str]) -> None:
    if "CAP_SYS_RESOURCE" in words and _has_sys_resource():
        pytest.skip("this machine grants CAP_SYS_RESOURCE")
    b = _edit_config(bundle(["true"]), edit)
    _refused(ketch, b, cid, *words)


def _has_sys_resource() -> bool:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("CapEff:"):
            return bool(int(line.split()[1], 16) & (1 << 24))
    return False


def test_duplicate_id_keeps_the_first(ketch: Any, bundle: Any, cid: str) -> None:
    ketch("create", "--bundle", str(bundle(["sleep", "30"])), cid)
    pid = ketch.state(cid)["pid"]
    proc = ketch("create", "--bundle", str(bundle(["true"])), cid, check=False)
    assert proc.returncode != 0 and f'container "{cid}" already exists' in proc.stderr
    state = ketch.state(cid)
    assert state["status"] == "created" and state["pid"] == pid
    ketch("delete", cid)  # a created container can be deleted, as with runc
    _no_trace(ketch, cid)


@pytest.mark.parametrize("bad", ["../escape", "a/b", ".", "with space", ""])
def test_invalid_container_ids(ketch: Any, bundle: Any, bad: str) -> None:
    proc = ketch("create", "--bundle", str(bundle(["true"])), bad, check=False)
    assert proc.returncode != 0
    assert "container id" in proc.stderr
    assert not os.path.exists(os.path.join(os.path.dirname(ketch.root), "escape"))


def test_unknown_container_and_usage_errors(ketch: Any) -> None:
    for args in (["state", "nope"], ["start", "nope"], ["kill", "nope"], ["delete", "nope"]):
        proc = ketch(*args, check=False)
        assert proc.returncode != 0 and 'container "nope" does not exist' in proc.stderr
    assert ketch("delete", "--force", "nope", check=False).returncode == 0  # as runc: force ignores missing
    assert ketch("frobnicate", check=False).returncode == 2
    assert ketch("create", check=False).returncode == 2
