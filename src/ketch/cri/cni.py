"""CNI (containernetworking/cni SPEC.md): network configuration lists run plugin by plugin.

ADD runs the plugins of the list in order, each given the previous one's result as ``prevResult``; DEL
runs them in reverse with the result of the ADD (cached by the caller) and must succeed when the network
is already gone (SPEC.md "DEL: remove container from network": "plugins should generally complete a DEL
action without error even if some resources are missing"). Loopback is brought up as its own network, as
containerd and CRI-O do.
"""

from __future__ import annotations

import ipaddress
import json
import os
from dataclasses import dataclass, field
from typing import Any

from ketch._common.atomicio import write_atomic
from ketch._common.jsonio import dumps_pretty
from ketch.cri.errors import ExternalError, InvalidArgument
from ketch.cri.proc import run

__all__ = ["DEFAULT_CONFLIST", "Attachment", "CniManager", "NetworkList", "PortMapping", "pod_ips"]

DEFAULT_CONFLIST = "10-ketch-default.conflist"
_GENERATED = "ketch-generated"  # marks a conflist ketchd wrote (and may rewrite for a new pod CIDR)
LOOPBACK = {"cniVersion": "1.0.0", "name": "cni-loopback", "type": "loopback"}


@dataclass(frozen=True)
class PortMapping:
    host_port: int
    container_port: int
    protocol: str  # "tcp" | "udp" | "sctp"
    host_ip: str = ""

    def to_cni(self) -> dict[str, Any]:
        d: dict[str, Any] = {"hostPort": self.host_port, "containerPort": self.container_port,
                             "protocol": self.protocol}
        if self.host_ip:
            d["hostIP"] = self.host_ip
        return d


@dataclass(frozen=True)
class NetworkList:
    name: str
    cni_version: str
    plugins: list[dict[str, Any]]
    path: str


@dataclass
class Attachment:
    """What ADD did: the network's name, the final result, and what DEL needs to undo it."""

    network: str
    result: dict[str, Any] = field(default_factory=dict)


def pod_ips(result: dict[str, Any]) -> list[str]:
    """Addresses of the result's ``ips`` (v1.0.0 form: "10.77.0.5/16"), IPv4 first."""
    ips = [str(ipaddress.ip_interface(i["address"]).ip) for i in result.get("ips", []) if "address" in i]
    return sorted(ips, key=lambda a: ipaddress.ip_address(a).version)


def _check_list(doc: Any, path: str) -> NetworkList:
    if not isinstance(doc, dict):
        raise InvalidArgument(f"CNI config {path} is not a JSON object")
    if "plugins" not in doc:  # a single-plugin .conf: wrap it as a list (libcni ConfListFromConf)
        doc = {"cniVersion": doc.get("cniVersion", "0.3.1"), "name": doc.get("name", ""), "plugins": [doc]}
    name, version, plugins = doc.get("name"), doc.get("cniVersion"), doc.get("plugins")
    if not isinstance(name, str) or not name:
        raise InvalidArgument(f"CNI config {path}: \"name\" is missing")
    if not isinstance(version, str):
        raise InvalidArgument(f"CNI config {path}: \"cniVersion\" is missing")
    if not isinstance(plugins, list) or not plugins or not all(isinstance(p, dict) and "type" in p
                                                                 for p in plugins):
        raise InvalidArgument(f"CNI config {path}: \"plugins\" must be a non-empty list of objects with a type")
    return NetworkList(name, version, plugins, path)


class CniManager:
    def __init__(self, conf_dir: str, bin_dirs: list[str], *, subnet: str, bridge: str, ipam_dir: str) -> None:
        self.conf_dir = conf_dir
        self.bin_dirs = bin_dirs
        self.subnet = subnet
        self.bridge = bridge
        self.ipam_dir = ipam_dir

    # -- configuration ------------------------------------------------------------------------------------

    def ensure_default(self) -> None:
        """Write the default bridge network when the config dir holds no network list."""
        os.makedirs(self.conf_dir, exist_ok=True)
        if any(n.endswith((".conflist", ".conf", ".json")) for n in os.listdir(self.conf_dir)):
            return
        self.write_default(self.subnet)

    def write_default(self, subnet: str) -> None:
        ipaddress.ip_network(subnet)  # ValueError names a bad CIDR before anything is written
        doc = {
            "cniVersion": "1.0.0",
            "name": "ketch",
            _GENERATED: True,
            "plugins": [
                {
                    "type": "bridge",
                    "bridge": self.bridge,
                    "isGateway": True,
                    "ipMasq": False,
                    "hairpinMode": True,
                    "ipam": {
                        "type": "host-local",
                        "ranges": [[{"subnet": subnet}]],
                        "routes": [{"dst": "0.0.0.0/0"}],
                        "dataDir": self.ipam_dir,
                    },
                },
                {"type": "portmap", "capabilities": {"portMappings": True}},
            ],
        }
        os.makedirs(self.conf_dir, exist_ok=True)
        write_atomic(os.path.join(self.conf_dir, DEFAULT_CONFLIST), dumps_pretty(doc))

    def update_pod_cidr(self, cidr: str) -> bool:
        """Follow a new pod CIDR in the network ketchd generated (a network written by others is kept)."""
        try:
            ipaddress.ip_network(cidr)
        except ValueError as e:
            raise InvalidArgument(f"pod CIDR {cidr!r}: {e}") from None
        path = os.path.join(self.conf_dir, DEFAULT_CONFLIST)
        try:
            with open(path, "rb") as f:
                generated = json.load(f).get(_GENERATED, False)
        except (OSError, ValueError):
            generated = not os.path.exists(path)
        if not generated:
            return False
        self.write_default(cidr)
        return True

    def network(self) -> NetworkList:
        """The first network list of the config dir in lexical order (the libcni convention)."""
        try:
            names = sorted(n for n in os.listdir(self.conf_dir) if n.endswith((".conflist", ".conf", ".json")))
        except FileNotFoundError:
            names = []
        if not names:
            raise InvalidArgument(f"no CNI network configuration in {self.conf_dir}")
        path = os.path.join(self.conf_dir, names[0])
        try:
            with open(path, "rb") as f:
                doc = json.load(f)
        except ValueError as e:
            raise InvalidArgument(f"CNI config {path}: {e}") from None
        return _check_list(doc, path)

    def find_plugin(self, kind: str) -> str:
        if "/" in kind or kind in ("", ".", ".."):
            # A plugin type is a file name in the bin dirs, never a path (path traversal via a config).
            raise InvalidArgument(f"CNI plugin type {kind!r} is not a plain name")
        for d in self.bin_dirs:
            p = os.path.join(d, kind)
            if os.access(p, os.X_OK):
                return p
        raise InvalidArgument(f"CNI plugin {kind!r} not found in {':'.join(self.bin_dirs)}")

    def ready(self) -> tuple[bool, str]:
        try:
            net = self.network()
            for p in net.plugins:
                self.find_plugin(p["type"])
            self.find_plugin("loopback")
        except InvalidArgument as e:
            return False, str(e)
        return True, ""

    # -- plugin calls ---------------------------------------------------------------------------------------

    async def _exec(
        self, command: str, conf: dict[str, Any], *, container_id: str, netns: str, ifname: str, args: str
    ) -> dict[str, Any]:
        plugin = self.find_plugin(conf["type"])
        env = {
            "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
            "CNI_COMMAND": command,
            "CNI_CONTAINERID": container_id,
            "CNI_NETNS": netns,
            "CNI_IFNAME": ifname,
            "CNI_PATH": ":".join(self.bin_dirs),
            "CNI_ARGS": args,
        }
        res = await run([plugin], stdin=json.dumps(conf).encode(), env=env, timeout=60)
        if res.returncode != 0:
            # SPEC.md "Error": the plugin prints {"code", "msg", "details"} on stdout.
            try:
                err = json.loads(res.stdout)
                msg = f"{err.get('msg', '')} {err.get('details', '')}".strip()
            except ValueError:
                msg = (res.stderr or res.stdout).decode(errors="replace").strip()
            raise ExternalError(f"CNI plugin {conf['type']} {command} failed: {msg}")
        if command != "ADD" or not res.stdout.strip():
            return {}
        try:
            out = json.loads(res.stdout)
        except ValueError:
            raise ExternalError(f"CNI plugin {conf['type']} ADD printed no JSON result") from None
        return out if isinstance(out, dict) else {}

    @staticmethod
    def _plugin_conf(net: NetworkList, plugin: dict[str, Any], prev: dict[str, Any] | None,
                     runtime_config: dict[str, Any]) -> dict[str, Any]:
        conf = dict(plugin)
        conf["cniVersion"] = net.cni_version
        conf["name"] = net.name
        conf.pop("capabilities", None)
        caps = plugin.get("capabilities") or {}
        rc = {k: v for k, v in runtime_config.items() if caps.get(k)}
        if rc:
            conf["runtimeConfig"] = rc
        if prev is not None:
            conf["prevResult"] = prev
        return conf

    async def add(
        self, *, container_id: str, netns: str, args: str, ports: list[PortMapping]
    ) -> tuple[NetworkList, dict[str, Any]]:
        """Attach the pod: loopback, then the network list (eth0); returns the list and its result."""
        net = self.network()
        await self._exec("ADD", LOOPBACK, container_id=container_id, netns=netns, ifname="lo", args=args)
        rc = {"portMappings": [p.to_cni() for p in ports]} if ports else {}
        prev: dict[str, Any] | None = None
        done: list[dict[str, Any]] = []
        try:
            for plugin in net.plugins:
                conf = self._plugin_conf(net, plugin, prev, rc)
                prev = await self._exec("ADD", conf, container_id=container_id, netns=netns, ifname="eth0",
                                        args=args) or prev
                done.append(plugin)
        except BaseException:
            # Undo what was added, so a failed RunPodSandbox leaves no address or rule behind.
            await self._del_plugins(net, done, prev, rc, container_id, netns, args)
            raise
        return net, prev or {}

    async def delete(
        self, *, network: NetworkList, result: dict[str, Any] | None, container_id: str, netns: str, args: str,
        ports: list[PortMapping],
    ) -> None:
        rc = {"portMappings": [p.to_cni() for p in ports]} if ports else {}
        await self._del_plugins(network, network.plugins, result, rc, container_id, netns, args)

    async def _del_plugins(
        self, net: NetworkList, plugins: list[dict[str, Any]], prev: dict[str, Any] | None,
        rc: dict[str, Any], container_id: str, netns: str, args: str,
    ) -> None:
        errors: list[str] = []
        for plugin in reversed(plugins):
            conf = self._plugin_conf(net, plugin, prev, rc)
            try:
                await self._exec("DEL", conf, container_id=container_id, netns=netns, ifname="eth0", args=args)
            except ExternalError as e:
                errors.append(str(e))
        if errors:
            raise ExternalError("; ".join(errors))
