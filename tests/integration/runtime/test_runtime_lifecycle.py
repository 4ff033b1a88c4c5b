"""The runtime-spec lifecycle through the runc command line, checked from outside and inside."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.root]


def test_run_prints_output_and_returns_exit_code(ketch: Any, bundle: Any, cid: str) -> None:
    b = bundle(["sh", "-c", "echo hello from $(hostname); exit 7"])
    proc = ketch("run", "--bundle", str(b), cid, check=False)
    assert proc.returncode == 7, proc.stderr
    assert proc.stdout == "hello from ketch\n"
    assert not (ketch.root / cid).exists()  # run deletes the container afterwards


def test_create_waits_for_start(ketch: Any, bundle: Any, cid: str, tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()

    def edit(cfg: dict[str, Any]) -> None:
        cfg["mounts"].append({"destination": "/shared", "type": "bind", "source": str(shared), "options": ["rbind"]})

    b = bundle(["sh", "-c", "touch /shared/ran; sleep 30"], edit=edit)
    pid_file = tmp_path / "pid"
    ketch("create", "--bundle", str(b), "--pid-file", str(pid_file), cid)
    state = ketch.state(cid)
    assert state["status"] == "created"
    assert state["pid"] == int(pid_file.read_text())
    assert state["bundle"] == str(b)
    time.sleep(0.2)
    assert not (shared / "ran").exists(), "the program ran before start"
    ketch("start", cid)
    deadline = time.time() + 5
    while not (shared / "ran").exists() and time.time() < deadline:
        time.sleep(0.02)
    assert (shared / "ran").exists()
    assert ketch.state(cid)["status"] == "running"
    again = ketch("start", cid, check=False)
    assert again.returncode != 0 and "not created" in again.stderr
    refused = ketch("delete", cid, check=False)
    assert refused.returncode != 0 and "running" in refused.stderr
    ketch("kill", cid, "KILL")
    deadline = time.time() + 5
    while ketch.state(cid)["status"] != "stopped" and time.time() < deadline:
        time.sleep(0.02)
    assert ketch.state(cid)["status"] == "stopped"
    ketch("delete", cid)
    assert ketch("state", cid, check=False).returncode != 0
    assert not (ketch.root / cid).exists()


def test_kill_signal_names_and_list(ketch: Any, bundle: Any, cid: str) -> None:
    b = bundle(["sh", "-c", "trap 'exit 3' USR1; while :; do sleep 0.05; done"])
    ketch("run", "--detach", "--bundle", str(b), cid)
    listed = json.loads(ketch("list", "--format", "json").stdout)
    assert [c["id"] for c in listed] == [cid]
    assert listed[0]["status"] == "running"
    table = ketch("list").stdout.splitlines()
    assert table[0].split()[:3] == ["ID", "PID", "STATUS"] and table[1].split()[0] == cid
    assert ketch("kill", cid, "NOPE", check=False).returncode != 0
    time.sleep(0.2)  # let the trap be installed
    ketch("kill", cid, "SIGUSR1")
    deadline = time.time() + 5
    while ketch.state(cid)["status"] != "stopped" and time.time() < deadline:
        time.sleep(0.02)
    assert ketch.state(cid)["status"] == "stopped"
    assert ketch("kill", cid, "KILL", check=False).returncode != 0
    ketch("delete", cid)


def test_delete_force_kills_a_running_container(ketch: Any, bundle: Any, cid: str) -> None:
    b = bundle(["sleep", "60"])
    ketch("run", "-d", "--bundle", str(b), cid)
    pid = ketch.state(cid)["pid"]
    ketch("delete", "--force", cid)
    assert not os.path.exists(f"/proc/{pid}") or Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    assert not (ketch.root / cid).exists()


def test_spec_and_features(ketch: Any, tmp_path: Path) -> None:
    ketch("spec", "--bundle", str(tmp_path))
    cfg = json.loads((tmp_path / "config.json").read_text())
    assert cfg["process"]["args"] == ["sh"] and cfg["root"]["path"] == "rootfs"
    assert ketch("spec", "--bundle", str(tmp_path), check=False).returncode != 0  # exists already
    feats = json.loads(ketch("features").stdout)
    assert "pid" in feats["linux"]["namespaces"]
    assert "rbind" in feats["mountOptions"]
    assert feats["hooks"][0] == "prestart"
