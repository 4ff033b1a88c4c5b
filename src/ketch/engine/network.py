"""Networks: ``none`` (an empty namespace), ``host``, and bridge networks set up by CNI plugins.

A bridge network is a CNI conflist kept in ``<root>/networks/<name>.json`` (plugins: bridge with host-local
IPAM, portmap, firewall-free). A container on it gets a persistent network namespace bind-mounted at
``<run_root>/netns/<id>`` which the runtime joins (runtime-spec config-linux.md: namespaces[].path). The
plugins are executed directly as CNI's SPEC.md describes (CNI_COMMAND etc. in the environment, the network
config on stdin, a result on stdout), each later plugin given the previous one's result.
"""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
from typing import Any

from ketch._common.atomicio import FileLock, write_atomic
from ketch._common.jsonio import dumps_pretty
from ketch.engine.errors import Conflict, NetworkError, NotFound, UsageError
from ketch.engine.records import PortMapping
from ketch.linux.mount import MNT_DETACH, MS_BIND, MS_PRIVATE, MS_REC, mount, umount2

__all__ = ["DEFAULT_NETWORK", "NetworkStore", "create_netns", "remove_netns"]

DEFAULT_NETWORK = "bridge"
CNI_VERSION = "1.0.0"


def _conflist(name: str, subnet: str, bridge: str) -> dict[str, Any]:
    net = ipaddress.ip_network(subnet)
    gateway = str(next(net.hosts()))
    return {
        "cniVersion": CNI_VERSION,
        "name": name,
        "plugins": [
            {
                "type": "bridge",
                "bridge": bridge,
                "isGateway": True,
                "ipMasq": False,  # traffic stays on this host: no NAT to the outside
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": str(net), "gateway": gateway}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }


class NetworkStore:
    def __init__(self, root: str, run_root: str, plugin_dir: str, default_subnet: str) -> None:
        self.dir = os.path.join(root, "networks")
        self.cni_data = os.path.join(run_root, "cni")
        self.plugin_dir = plugin_dir
        self.default_subnet = default_subnet
        os.makedirs(self.dir, 0o700, exist_ok=True)

    def _path(self, name: str) -> str:
        if name in ("none", "host") or not name.replace("-", "").replace("_", "").isalnum():
            raise UsageError(f"invalid network name {name!r}")
        return os.path.join(self.dir, name + ".json")

    def get(self, name: str) -> dict[str, Any]:
        if name == DEFAULT_NETWORK and not os.path.exists(self._path(name)):
            return self.create(name, self.default_subnet, exist_ok=True)
        try:
            with open(self._path(name), "rb") as f:
                data: dict[str, Any] = json.load(f)
        except FileNotFoundError:
            raise NotFound(f"no such network: {name}", hint="'ketch network ls' lists networks") from None
        return data

    def names(self) -> list[str]:
        return sorted(n[:-5] for n in os.listdir(self.dir) if n.endswith(".json"))

    def create(self, name: str, subnet: str | None, *, exist_ok: bool = False) -> dict[str, Any]:
        path = self._path(name)
        with FileLock(os.path.join(self.dir, ".lock")):
            if os.path.exists(path):
                if exist_ok:
                    with open(path, "rb") as f:
                        existing: dict[str, Any] = json.load(f)
                    return existing
                raise Conflict(f"network {name!r} already exists")
            taken = [self._subnet_of(n) for n in self.names()]
            if subnet is None:
                subnet = self._free_subnet(taken)
            try:
                net = ipaddress.ip_network(subnet)
            except ValueError:
                raise UsageError(f"--subnet {subnet!r} is not a network (e.g. 10.67.0.0/24)") from None
            for other in taken:
                if net.overlaps(ipaddress.ip_network(other)):
                    raise Conflict(f"subnet {net} overlaps {other}, used by another network")
            bridge = "ketch0" if name == DEFAULT_NETWORK else f"ketch-{len(taken)}-{os.urandom(2).hex()}"
            conf = _conflist(name, str(net), bridge)
            write_atomic(path, dumps_pretty(conf))
            return conf

    def _subnet_of(self, name: str) -> str:
        conf = self.get(name)
        return str(conf["plugins"][0]["ipam"]["ranges"][0][0]["subnet"])

    def _free_subnet(self, taken: list[str]) -> str:
        nets = [ipaddress.ip_network(t) for t in taken]
        for i in range(67, 120):
            cand = ipaddress.ip_network(f"10.{i}.0.0/16")
            if not any(cand.overlaps(n) for n in nets):
                return str(cand)
        raise NetworkError("no free 10.x.0.0/16 subnet for a new network", hint="give --subnet")

    def remove(self, name: str, users: list[str]) -> None:
        if name == DEFAULT_NETWORK:
            raise UsageError(f"network {name!r} is the default network and cannot be removed")
        self.get(name)
        if users:
            raise Conflict(f"network {name!r} is in use by container {users[0]}", hint="remove it first")
        conf = self.get(name)
        bridge = conf["plugins"][0]["bridge"]
        os.unlink(self._path(name))
        subprocess.run(["ip", "link", "del", bridge], capture_output=True)

    # -- plugins ---------------------------------------------------------------------------------------

    def _exec(self, plugin: dict[str, Any], conf: dict[str, Any], command: str, cid: str, netns: str,
              prev: dict[str, Any] | None, ports: list[PortMapping]) -> dict[str, Any] | None:  # fmt: skip
        ptype = plugin["type"]
        binary = os.path.join(self.plugin_dir, ptype)
        if not os.access(binary, os.X_OK):
            raise NetworkError(
                f"CNI plugin {ptype!r} not found in {self.plugin_dir}",
                hint="install Debian's containernetworking-plugins",
            )
        net = dict(plugin, cniVersion=conf["cniVersion"], name=conf["name"])
        if ptype == "bridge":
            net["ipam"] = dict(net["ipam"], dataDir=self.cni_data)
        if prev is not None:
            net["prevResult"] = prev
        if plugin.get("capabilities", {}).get("portMappings"):
            net["runtimeConfig"] = {
                "portMappings": [
                    {"hostPort": p.host_port, "containerPort": p.container_port, "protocol": p.protocol,
                     **({"hostIP": p.host_ip} if p.host_ip else {})}
                    for p in ports
                ]
            }
        env = {
            "CNI_COMMAND": command,
            "CNI_CONTAINERID": cid,
            "CNI_NETNS": netns,
            "CNI_IFNAME": "eth0",
            "CNI_PATH": self.plugin_dir,
            "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
        }
        proc = subprocess.run([binary], input=json.dumps(net).encode(), env=env, capture_output=True, timeout=60)
        if proc.returncode != 0:
            try:
                err = json.loads(proc.stdout)
                message = f"{err.get('msg', '')} {err.get('details', '')}".strip()
            except json.JSONDecodeError:
                message = (proc.stdout + proc.stderr).decode(errors="replace").strip()
            raise NetworkError(f"CNI {command} with plugin {ptype} on network {conf['name']!r}: {message}")
        if command != "ADD":
            return None
        result: dict[str, Any] = json.loads(proc.stdout)
        return result

    def add(self, name: str, cid: str, netns: str, ports: list[PortMapping]) -> str:
        """Attach namespace ``netns`` to network ``name``; returns the container's IPv4 address."""
        conf = self.get(name)
        os.makedirs(self.cni_data, 0o700, exist_ok=True)
        if ports:
            self._check_ports(ports)
        prev: dict[str, Any] | None = None
        done = []
        try:
            for plugin in conf["plugins"]:
                prev = self._exec(plugin, conf, "ADD", cid, netns, prev, ports)
                done.append(plugin)
        except BaseException:
            self.delete(name, cid, netns, ports, plugins=done)
            raise
        assert prev is not None
        for ip in prev.get("ips", []):
            addr = str(ip.get("address", ""))
            if ":" not in addr:
                return addr.partition("/")[0]
        raise NetworkError(f"network {name!r} gave no IPv4 address to {cid[:12]}")

    def _check_ports(self, ports: list[PortMapping]) -> None:
        """Refuse host ports some host process listens on (the DNAT would silently shadow it)."""
        import socket

        for p in ports:
            kind = socket.SOCK_STREAM if p.protocol == "tcp" else socket.SOCK_DGRAM
            with socket.socket(socket.AF_INET, kind) as s:
                try:
                    s.bind((p.host_ip or "0.0.0.0", p.host_port))
                except OSError:
                    raise Conflict(
                        f"host port {p.host_port}/{p.protocol} is already in use",
                        hint="choose another host port with -p HOST:CONTAINER",
                    ) from None

    def delete(self, name: str, cid: str, netns: str, ports: list[PortMapping],
               plugins: list[dict[str, Any]] | None = None) -> None:  # fmt: skip
        try:
            conf = self.get(name)
        except NotFound:
            return
        errors = []
        for plugin in reversed(plugins if plugins is not None else conf["plugins"]):
            try:
                self._exec(plugin, conf, "DEL", cid, netns, None, ports)
            except NetworkError as e:
                errors.append(e)
        if errors:
            raise errors[0]


def _ensure_private_dir(path: str) -> None:
    """Bind namespaces only on a private mount (as ip-netns does), or they would propagate and pin."""
    os.makedirs(path, 0o755, exist_ok=True)
    with open("/proc/self/mountinfo") as f:
        mounted = any(line.split()[4] == path for line in f)
    if not mounted:
        mount(path, path, None, MS_BIND | MS_REC)
    mount("none", path, None, MS_PRIVATE | MS_REC)


def create_netns(netns_dir: str, cid: str) -> str:
    _ensure_private_dir(netns_dir)
    path = os.path.join(netns_dir, cid)
    with open(path, "x"):
        pass
    proc = subprocess.run(
        ["unshare", f"--net={path}", "ip", "link", "set", "lo", "up"], capture_output=True, text=True
    )
    if proc.returncode != 0:
        os.unlink(path)
        raise NetworkError(f"creating network namespace {path}: {proc.stderr.strip()}")
    return path


def remove_netns(path: str) -> None:
    try:
        umount2(path, MNT_DETACH)
    except OSError:
        pass
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
