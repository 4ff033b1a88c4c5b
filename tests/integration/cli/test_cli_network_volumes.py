"""Bridge networks and published ports (reached only from network namespaces these tests create), DNS and
hosts files, named volumes, bind mounts, and ``ketch cp`` against symlinks pointing out of the container."""

from __future__ import annotations

import ipaddress
import json
import socket
from pathlib import Path
from typing import Any as Ketch

import pytest

from ketch.testing.net import free_port

pytestmark = [pytest.mark.root, pytest.mark.slow]




def test_published_port_reachable_from_another_namespace(kt: Ketch) -> None:
    port = free_port()
    kt.ok("run", "-d", "--name", "web", "--network", kt.network, "-p", f"{port}:80", "testbox",
          "httpd", "-f", "-p", "80", "-h", "/www")  # fmt: skip
    try:
        assert kt.ok("port", "web") == f"80/tcp -> 0.0.0.0:{port}\n"
        ip = kt.ok("container", "inspect", "--format", "{{.ip}}", "web").strip()
        assert ipaddress.ip_address(ip) in ipaddress.ip_network(kt.subnet)
        gateway = str(next(ipaddress.ip_network(kt.subnet).hosts()))
        # a client in its own namespace on the same network, through the host port (DNAT by portmap)
        out = kt.ok("run", "--rm", "--network", kt.network, "testbox", "wget", "-q", "-O-",
                    f"http://{gateway}:{port}/index.html")  # fmt: skip
        assert out == "hello from the container\n"
        # and directly, by the container's address
        direct = kt.ok("run", "--rm", "--network", kt.network, "testbox", "wget", "-q", "-O-", f"http://{ip}/")
        assert direct == "hello from the container\n"
    finally:
        kt.ok("rm", "-f", "web")


def test_port_in_use_is_refused_with_a_hint(kt: Ketch) -> None:
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        s.listen()
        port = s.getsockname()[1]
        proc = kt("run", "--rm", "--network", kt.network, "-p", f"{port}:80", "testbox", "true")
    assert proc.returncode == 125
    assert f"host port {port}/tcp is already in use" in proc.stderr
    assert "hint:" in proc.stderr
    assert kt.ok("ps", "-aq") == ""  # nothing left behind


def test_hosts_resolv_and_dns(kt: Ketch) -> None:
    out = kt.ok("run", "--rm", "--name", "named1", "--network", kt.network, "--dns", "10.66.1.53", "testbox",
                "sh", "-c", "cat /etc/hosts /etc/resolv.conf")  # fmt: skip
    assert "named1" in out
    assert "nameserver 10.66.1.53" in out


def test_network_none_and_host(kt: Ketch) -> None:
    none = kt.ok("run", "--rm", "--network", "none", "testbox", "cat", "/proc/net/dev")
    assert "eth0" not in none

    def links(text: str) -> set[str]:
        return {line.split(":")[0].strip() for line in text.split("\n")[2:] if line}

    # other containers' veth ends may come and go meanwhile: compare with the host before and after
    before = links(Path("/proc/net/dev").read_text())
    inside = links(kt.ok("run", "--rm", "--network", "host", "testbox", "cat", "/proc/net/dev"))
    after = links(Path("/proc/net/dev").read_text())
    assert before & after <= inside <= before | after
    assert "lo" in inside


def test_named_networks(kt: Ketch) -> None:
    listed = kt.ok("network", "ls")
    assert kt.network in listed and kt.subnet in listed
    overlap = kt("network", "create", "--subnet", kt.subnet, "other")
    assert overlap.returncode == 1 and "overlaps" in overlap.stderr
    missing = kt("run", "--rm", "--network", "nosuchnet", "testbox", "true")
    assert missing.returncode == 125 and "no such network: nosuchnet" in missing.stderr
    kt.ok("run", "-d", "--name", "user", "--network", kt.network, "testbox", "sleep", "60")
    try:
        busy = kt("network", "rm", kt.network)
        assert busy.returncode == 1 and "in use by container user" in busy.stderr
    finally:
        kt.ok("rm", "-f", "user")


def test_named_volume_persists_across_containers(kt: Ketch) -> None:
    kt.ok("volume", "create", "kvol")
    kt.ok("run", "--rm", "--network", "none", "-v", "kvol:/data", "testbox", "sh", "-c", "echo kept > /data/f")
    assert kt.ok("run", "--rm", "--network", "none", "-v", "kvol:/data:ro", "testbox", "cat", "/data/f") == "kept\n"
    ro = kt("run", "--rm", "--network", "none", "-v", "kvol:/data:ro", "testbox", "touch", "/data/g")
    assert ro.returncode != 0 and "Read-only" in ro.stderr
    info = json.loads(kt.ok("volume", "inspect", "kvol"))
    assert Path(info["mountpoint"], "f").read_text() == "kept\n"
    assert "kvol" in kt.ok("volume", "ls")
    kt.ok("run", "--name", "holder", "--network", "none", "-v", "kvol:/data", "testbox", "true")
    busy = kt("volume", "rm", "kvol")
    assert busy.returncode == 1 and "in use by container holder" in busy.stderr
    kt.ok("rm", "holder")
    kt.ok("volume", "rm", "kvol")
    assert kt("volume", "inspect", "kvol").returncode == 1


def test_bind_mount(kt: Ketch, tmp_path: Path) -> None:
    (tmp_path / "in.txt").write_text("from host\n")
    out = kt.ok("run", "--rm", "--network", "none", "-v", f"{tmp_path}:/mnt", "testbox", "sh", "-c",
                "cat /mnt/in.txt; echo back > /mnt/out.txt")  # fmt: skip
    assert out == "from host\n"
    assert (tmp_path / "out.txt").read_text() == "back\n"


def test_cp_stays_inside_the_container(kt: Ketch, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("host secret\n")
    kt.ok("run", "-d", "--name", "cpbox", "--network", "none", "testbox", "sleep", "60")
    try:
        # symlinks that would point at the host's files if followed outside the container's root
        kt.ok("exec", "cpbox", "sh", "-c",
              f"ln -s {outside} /abs; ln -s ../../../../../../..{outside} /rel; mkdir /d; echo inner > /d/file; "
              "ln -s /etc/passwd /d/link")  # fmt: skip
        for link in ("/abs/secret", "/rel/secret"):
            proc = kt("cp", f"cpbox:{link}", str(tmp_path / "got"))
            assert proc.returncode == 1 and "does not exist in the container" in proc.stderr
            assert not (tmp_path / "got").exists()
        kt.ok("cp", "cpbox:/d", str(tmp_path / "copied"))
        assert (tmp_path / "copied" / "file").read_text() == "inner\n"
        assert (tmp_path / "copied" / "link").is_symlink()  # copied as a link, not followed
        (tmp_path / "new.txt").write_text("pushed\n")
        pushed = kt("cp", str(tmp_path / "new.txt"), "cpbox:/abs/new.txt")
        assert pushed.returncode == 1 and "/abs does not exist in the container" in pushed.stderr
        assert not (outside / "new.txt").exists()
        kt.ok("cp", str(tmp_path / "new.txt"), "cpbox:/d")
        assert kt.ok("exec", "cpbox", "cat", "/d/new.txt") == "pushed\n"
    finally:
        kt.ok("rm", "-f", "cpbox")
