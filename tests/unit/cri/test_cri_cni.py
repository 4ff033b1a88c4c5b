"""CNI network lists driven against small recording plugins (real programs in a temp bin dir)."""

from __future__ import annotations

import asyncio
import json
import os
import stat
from pathlib import Path

import pytest

from ketch.cri.cni import DEFAULT_CONFLIST, CniManager, PortMapping, pod_ips
from ketch.cri.errors import ExternalError, InvalidArgument

# A plugin that appends its environment and stdin to calls.jsonl and prints a result naming itself.
_PLUGIN = """#!/bin/sh
conf=$(cat)
printf '{"cmd":"%s","ifname":"%s","netns":"%s","args":"%s","type":"%s","conf":%s}\\n' \
  "$CNI_COMMAND" "$CNI_IFNAME" "$CNI_NETNS" "$CNI_ARGS" "$(basename $0)" "$conf" >> "$(dirname $0)/calls.jsonl"
if [ "$(basename $0)" = failing ] && [ "$CNI_COMMAND" = ADD ]; then
  echo '{"code": 11, "msg": "no addresses left", "details": "range full"}'; exit 1
fi
if [ "$CNI_COMMAND" = ADD ]; then
  echo '{"cniVersion":"1.0.0","interfaces":[{"name":"eth0"}],"ips":[{"address":"10.77.9.4/24"},{"address":"fd00::4/64"}],"by":"'$(basename $0)'"}'
fi
"""


@pytest.fixture
def env(tmp_path: Path) -> tuple[CniManager, Path]:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for name in ("loopback", "first", "second", "failing"):
        p = bindir / name
        p.write_text(_PLUGIN)
        p.chmod(p.stat().st_mode | stat.S_IXUSR)
    conf = tmp_path / "net.d"
    mgr = CniManager(str(conf), [str(bindir)], subnet="10.77.9.0/24", bridge="t0", ipam_dir=str(tmp_path / "ipam"))
    return mgr, bindir


def _calls(bindir: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in (bindir / "calls.jsonl").read_text().splitlines()]


def _write(mgr: CniManager, plugins: list[dict[str, object]]) -> None:
    os.makedirs(mgr.conf_dir, exist_ok=True)
    with open(os.path.join(mgr.conf_dir, "05-test.conflist"), "w") as f:
        json.dump({"cniVersion": "1.0.0", "name": "testnet", "plugins": plugins}, f)


def test_default_network_is_written_once_and_follows_the_pod_cidr(env: tuple[CniManager, Path]) -> None:
    mgr, _ = env
    mgr.ensure_default()
    net = mgr.network()
    assert net.name == "ketch" and [p["type"] for p in net.plugins] == ["bridge", "portmap"]
    assert net.plugins[0]["ipam"]["ranges"] == [[{"subnet": "10.77.9.0/24"}]]
    assert mgr.update_pod_cidr("10.77.64.0/18")
    assert mgr.network().plugins[0]["ipam"]["ranges"] == [[{"subnet": "10.77.64.0/18"}]]
    with pytest.raises(InvalidArgument, match="pod CIDR"):
        mgr.update_pod_cidr("not-a-cidr")
    # A network someone else wrote is never rewritten.
    path = os.path.join(mgr.conf_dir, DEFAULT_CONFLIST)
    with open(path) as f:
        doc = json.load(f)
    doc.pop("ketch-generated")
    with open(path, "w") as f:
        json.dump(doc, f)
    assert not mgr.update_pod_cidr("10.77.128.0/18")


def test_add_chains_prev_result_and_capabilities_then_del_reverses(env: tuple[CniManager, Path]) -> None:
    mgr, bindir = env
    _write(mgr, [{"type": "first"}, {"type": "second", "capabilities": {"portMappings": True}}])
    ports = [PortMapping(8080, 80, "tcp")]
    net, result = asyncio.run(mgr.add(container_id="pod1", netns="/run/ns/net", args="K8S_POD_NAME=p",
                                      ports=ports))
    assert result["by"] == "second"
    assert pod_ips(result) == ["10.77.9.4", "fd00::4"]
    calls = _calls(bindir)
    assert [(c["type"], c["cmd"], c["ifname"]) for c in calls] == [
        ("loopback", "ADD", "lo"), ("first", "ADD", "eth0"), ("second", "ADD", "eth0")]
    first, second = calls[1]["conf"], calls[2]["conf"]
    assert isinstance(first, dict) and isinstance(second, dict)
    assert "prevResult" not in first and "runtimeConfig" not in first
    assert second["prevResult"]["by"] == "first"
    assert second["runtimeConfig"] == {"portMappings": [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}]}
    assert "capabilities" not in second and second["name"] == "testnet" and second["cniVersion"] == "1.0.0"
    (bindir / "calls.jsonl").unlink()
    asyncio.run(mgr.delete(network=net, result=result, container_id="pod1", netns="", args="", ports=ports))
    dels = _calls(bindir)
    assert [(c["type"], c["cmd"]) for c in dels] == [("second", "DEL"), ("first", "DEL")]


def test_failed_add_undoes_the_plugins_that_ran(env: tuple[CniManager, Path]) -> None:
    mgr, bindir = env
    _write(mgr, [{"type": "first"}, {"type": "failing"}])
    with pytest.raises(ExternalError, match="no addresses left range full"):
        asyncio.run(mgr.add(container_id="pod1", netns="/n", args="", ports=[]))
    cmds = [(c["type"], c["cmd"]) for c in _calls(bindir)]
    assert cmds[-1] == ("first", "DEL")


def test_plugin_types_are_names_not_paths(env: tuple[CniManager, Path]) -> None:
    mgr, _ = env
    for bad in ("../../bin/sh", "/bin/sh", ""):
        with pytest.raises(InvalidArgument):
            mgr.find_plugin(bad)
    with pytest.raises(InvalidArgument, match="not found"):
        mgr.find_plugin("nonexistent")


def test_readiness(env: tuple[CniManager, Path]) -> None:
    mgr, _ = env
    ok, msg = mgr.ready()
    assert not ok and "no CNI network configuration" in msg
    _write(mgr, [{"type": "first"}, {"type": "absent"}])
    ok, msg = mgr.ready()
    assert not ok and "'absent' not found" in msg
    _write(mgr, [{"type": "first"}])
    assert mgr.ready() == (True, "")


def test_malformed_lists(env: tuple[CniManager, Path]) -> None:
    mgr, _ = env
    os.makedirs(mgr.conf_dir)
    p = os.path.join(mgr.conf_dir, "00-bad.conflist")
    for body, msg in [("{", "CNI config"), ('{"cniVersion":"1.0.0","plugins":[{"type":"x"}]}', '"name"'),
                      ('{"name":"n","cniVersion":"1.0.0","plugins":[]}', "non-empty")]:
        with open(p, "w") as f:
            f.write(body)
        with pytest.raises(InvalidArgument, match=msg):
            mgr.network()
