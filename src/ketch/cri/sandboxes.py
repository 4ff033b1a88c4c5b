"""Pod sandboxes: namespaces, network, per-pod files and cgroup parent, kept as records on disk.

A sandbox is not a container here: its net/ipc/uts namespaces are pinned by bind mounts (see nsholder),
its /dev/shm is a tmpfs shared by its containers, its /etc/hosts, /etc/resolv.conf and /etc/hostname are
files bind-mounted into each container. Every step of RunPodSandbox is undone when a later one fails, and
StopPodSandbox / RemovePodSandbox may be repeated (api.proto: "must be idempotent").
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import secrets
import shutil
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any

from cri_api.v1 import api_pb2 as pb

from ketch._common.atomicio import write_atomic
from ketch.cri import nsholder
from ketch.cri.cgstats import remove_cgroup
from ketch.cri.cni import CniManager, NetworkList, PortMapping, pod_ips
from ketch.cri.config import Config
from ketch.cri.errors import CriError, FailedPrecondition, InvalidArgument, NotFound
from ketch.cri.labels import match_id, match_labels
from ketch.cri.names import NameRegistry, check_metadata_name
from ketch.cri.podcgroup import apply_pod_limits
from ketch.cri.store import RecordStore, SandboxRecord
from ketch.linux.mount import MNT_DETACH, MS_NODEV, MS_NOEXEC, MS_NOSUID, mount, umount2

__all__ = ["SandboxManager", "decode_config", "pod_ports"]

_PROTO = {pb.TCP: "tcp", pb.UDP: "udp", pb.SCTP: "sctp"}


def decode_config(rec: SandboxRecord) -> pb.PodSandboxConfig:
    cfg = pb.PodSandboxConfig()
    cfg.ParseFromString(base64.b64decode(rec.config))
    return cfg


def pod_ports(cfg: pb.PodSandboxConfig) -> list[PortMapping]:
    out = []
    for i, p in enumerate(cfg.port_mappings):
        if p.host_port <= 0:
            continue  # no host port: nothing to map (kubelet sends container-only ports too)
        if not 0 < p.container_port < 65536 or p.host_port > 65535:
            raise InvalidArgument(f"port_mappings[{i}]: ports {p.container_port}->{p.host_port} out of range")
        out.append(PortMapping(p.host_port, p.container_port, _PROTO.get(p.protocol, "tcp"), p.host_ip))
    return out


def _is_mountpoint(path: str) -> bool:
    try:
        return os.stat(path).st_dev != os.stat(os.path.dirname(path)).st_dev
    except OSError:
        return False


class SandboxManager:
    def __init__(self, config: Config, cni: CniManager, names: NameRegistry) -> None:
        self.config = config
        self.cni = cni
        self.names = names
        self.store: RecordStore[SandboxRecord] = RecordStore(
            os.path.join(config.state, "sandboxes"), SandboxRecord, "sandbox", durable=False)
        self.pods_dir = os.path.join(config.state, "pods")
        os.makedirs(self.pods_dir, exist_ok=True)
        self.sandboxes: dict[str, SandboxRecord] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        # Set by the owner: stop / remove every container of a pod (ContainerManager).
        self.stop_containers: Callable[[str], Awaitable[None]] | None = None
        self.remove_containers: Callable[[str], Awaitable[None]] | None = None

    def lock(self, sid: str) -> asyncio.Lock:
        return self._locks.setdefault(sid, asyncio.Lock())

    def recover(self) -> list[str]:
        recs, bad = self.store.load_all()
        for rec in recs:
            self.sandboxes[rec.id] = rec
            self.names.reserve(rec.name, rec.id)
            if rec.state == "ready" and rec.namespaces.get("net") and not nsholder.is_pinned(rec.namespaces["net"]):
                rec.state = "notready"  # the host rebooted: the namespaces are gone
        return bad

    # -- lookups ------------------------------------------------------------------------------------------

    def get(self, sid: str) -> SandboxRecord:
        if not sid:
            raise InvalidArgument("pod sandbox id is empty")
        rec = self.sandboxes.get(sid)
        if rec is None:
            hits = [k for k in self.sandboxes if k.startswith(sid)]
            if len(hits) == 1:
                return self.sandboxes[hits[0]]
            raise NotFound(f"pod sandbox {sid!r} not found")
        return rec

    def find(self, sid: str) -> SandboxRecord | None:
        try:
            return self.get(sid)
        except (NotFound, InvalidArgument):
            return None

    def query(self, *, id: str = "", state: int | None = None, labels: dict[str, str] | None = None
             ) -> list[SandboxRecord]:
        out = []
        for rec in self.sandboxes.values():
            if not match_id(id, rec.id):
                continue
            if state is not None and (pb.SANDBOX_READY if rec.state == "ready" else pb.SANDBOX_NOTREADY) != state:
                continue
            if labels and not match_labels(labels, rec.labels):
                continue
            out.append(rec)
        return sorted(out, key=lambda r: r.created_at)

    # -- run ----------------------------------------------------------------------------------------------

    async def run(self, cfg: pb.PodSandboxConfig, handler: str) -> str:
        md = cfg.metadata
        check_metadata_name(md.name, "pod sandbox metadata.name")
        check_metadata_name(md.namespace, "pod sandbox metadata.namespace")
        check_metadata_name(md.uid, "pod sandbox metadata.uid")
        h = self.config.handler(handler)
        ports = pod_ports(cfg)
        sc = cfg.linux.security_context
        modes: dict[str, int] = {"network": int(sc.namespace_options.network), "pid": int(sc.namespace_options.pid),
                                 "ipc": int(sc.namespace_options.ipc)}
        if modes["pid"] == pb.TARGET:
            raise InvalidArgument("pod sandbox namespace_options.pid TARGET is only valid for containers")
        if (sc.namespace_options.HasField("userns_options")
                and sc.namespace_options.userns_options.mode != pb.NODE):
            raise InvalidArgument("user namespaces for pods are not supported by ketchd")
        sysctls = dict(cfg.linux.sysctls)
        for key in sysctls:
            if not key.replace(".", "").replace("_", "").replace("-", "").replace("/", "").isalnum():
                raise InvalidArgument(f"sysctl name {key!r} is not valid")
        name = f"{md.name}_{md.namespace}_{md.uid}_{md.attempt}"
        sid = secrets.token_hex(32)
        self.names.reserve(name, sid)
        pod_dir = os.path.join(self.pods_dir, sid)
        hostname = cfg.hostname or md.name
        if modes["network"] == pb.NODE:
            hostname = os.uname().nodename
        own_cgroup = not cfg.linux.cgroup_parent
        cgroup_parent = cfg.linux.cgroup_parent or f"{self.config.cgroup_root.rstrip('/')}/pod-{sid[:16]}"
        if not cgroup_parent.startswith("/") or ".." in cgroup_parent.split("/"):
            self.names.release(name)
            raise InvalidArgument(f"cgroup_parent {cgroup_parent!r} must be an absolute cgroupfs path")
        rec = SandboxRecord(
            id=sid, name=name,
            metadata={"name": md.name, "uid": md.uid, "namespace": md.namespace, "attempt": md.attempt},
            config=base64.b64encode(cfg.SerializeToString()).decode(), runtime_handler=h.name,
            created_at=time.time_ns(), labels=dict(cfg.labels), annotations=dict(cfg.annotations),
            hostname=hostname, log_directory=cfg.log_directory, cgroup_parent=cgroup_parent,
            own_cgroup=own_cgroup, ns_modes=modes, dir=pod_dir,
        )
        self.sandboxes[sid] = rec
        try:
            async with self.lock(sid):
                os.makedirs(pod_dir, mode=0o711)
                self.store.save(rec)  # first, so a crash from here on leaves a record to clean up from
                await self._setup(rec, cfg, ports, sysctls)
                rec.state = "ready"
                self.store.save(rec)
        except BaseException:
            with contextlib.suppress(Exception):
                await self._teardown(rec)
            with contextlib.suppress(Exception):
                self._forget(rec)
            raise
        return sid

    async def _setup(self, rec: SandboxRecord, cfg: pb.PodSandboxConfig, ports: list[PortMapping],
                     sysctls: dict[str, str]) -> None:
        modes = rec.ns_modes
        if cfg.log_directory:
            os.makedirs(cfg.log_directory, mode=0o755, exist_ok=True)
        kinds = []
        if modes["network"] != pb.NODE:
            kinds += ["net", "uts"]  # host network implies the host's UTS namespace (kubelet's contract)
        if modes["ipc"] != pb.NODE:
            kinds.append("ipc")
        ns_dir = os.path.join(rec.dir, "ns")
        rec.namespaces = {k: os.path.join(ns_dir, k) for k in kinds}
        self.store.save(rec)
        rec.namespaces = await nsholder.pin(ns_dir, kinds)
        if modes["pid"] == pb.POD:
            path, pid = await nsholder.start_pid_holder(ns_dir)
            rec.namespaces["pid"], rec.pid_holder = path, pid
        self.store.save(rec)
        if "uts" in rec.namespaces:
            await nsholder.set_hostname(rec.namespaces["uts"], rec.hostname)
        if sysctls:
            await nsholder.set_sysctls(rec.namespaces, sysctls)
        if "ipc" in rec.namespaces:
            shm = os.path.join(rec.dir, "shm")
            os.makedirs(shm, exist_ok=True)
            size = 64 * 1024 * 1024
            mount("shm", shm, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, f"mode=1777,size={size}")
            rec.shm = shm
            self.store.save(rec)
        if "net" in rec.namespaces:
            rec.network = "pending"
            self.store.save(rec)
            net, result = await self.cni.add(container_id=rec.id, netns=rec.namespaces["net"],
                                             args=self._cni_args(rec), ports=ports)
            write_atomic(os.path.join(rec.dir, "cni-result.json"),
                         json.dumps({"network": asdict(net), "result": result}).encode(), 0o600, durable=False)
            rec.network = net.name
            ips = pod_ips(result)
            rec.ip = ips[0] if ips else ""
            rec.additional_ips = ips[1:]
        self._write_etc(rec, cfg)
        self.store.save(rec)

    def _cni_args(self, rec: SandboxRecord) -> str:
        md = rec.metadata
        return (f"IgnoreUnknown=1;K8S_POD_NAMESPACE={md['namespace']};K8S_POD_NAME={md['name']};"
                f"K8S_POD_INFRA_CONTAINER_ID={rec.id};K8S_POD_UID={md['uid']}")

    def _write_etc(self, rec: SandboxRecord, cfg: pb.PodSandboxConfig) -> None:
        d = rec.dir
        write_atomic(os.path.join(d, "hostname"), (rec.hostname + "\n").encode(), durable=False)
        if rec.ns_modes["network"] == pb.NODE:
            shutil.copyfile("/etc/hosts", os.path.join(d, "hosts"))
        else:
            hosts = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
            if rec.ip:
                hosts += f"{rec.ip}\t{rec.hostname}\n"
            write_atomic(os.path.join(d, "hosts"), hosts.encode(), durable=False)
        dns = cfg.dns_config
        if dns.servers or dns.searches or dns.options:
            lines = [f"nameserver {s}" for s in dns.servers]
            if dns.searches:
                lines.append("search " + " ".join(dns.searches))
            if dns.options:
                lines.append("options " + " ".join(dns.options))
            body = ("\n".join(lines) + "\n").encode()
        else:
            try:
                with open("/etc/resolv.conf", "rb") as f:
                    body = f.read()
            except FileNotFoundError:
                body = b""
        write_atomic(os.path.join(d, "resolv.conf"), body, durable=False)

    async def update_resources(self, sid: str, resources: pb.LinuxContainerResources) -> None:
        """UpdatePodSandboxResources: the pod-level limits kubelet computes (sum of containers + overhead)."""
        rec = self.get(sid)
        if rec.state != "ready":
            raise FailedPrecondition(f"pod sandbox {rec.id} is not ready")
        async with self.lock(rec.id):
            apply_pod_limits(rec.cgroup_parent, memory=resources.memory_limit_in_bytes,
                             cpu_shares=resources.cpu_shares, cpu_quota=resources.cpu_quota,
                             cpu_period=resources.cpu_period)

    def etc_files(self, rec: SandboxRecord) -> dict[str, str]:
        return {f"/etc/{n}": os.path.join(rec.dir, n) for n in ("hostname", "hosts", "resolv.conf")
                if os.path.exists(os.path.join(rec.dir, n))}

    # -- stop / remove ------------------------------------------------------------------------------------

    async def stop(self, sid: str) -> None:
        rec = self.find(sid)
        if rec is None:
            return  # api.proto: StopPodSandbox on a removed sandbox must not fail
        async with self.lock(rec.id):
            if self.stop_containers is not None:
                await self.stop_containers(rec.id)
            await self._teardown(rec)
            rec.state = "notready"
            self.store.save(rec)

    async def _teardown(self, rec: SandboxRecord) -> None:
        """Undo the network, namespaces and shm; every step skips what is already gone."""
        errors: list[str] = []
        if rec.network:
            try:
                await self._cni_del(rec)
                rec.network = ""
                self.store.save(rec)
            except CriError as e:
                errors.append(str(e))
        if rec.pid_holder or rec.namespaces.get("pid"):
            nsholder.stop_pid_holder(rec.pid_holder, rec.namespaces.get("pid", ""))
            rec.pid_holder = 0
        nsholder.unpin(rec.namespaces)
        if rec.shm:
            while _is_mountpoint(rec.shm):
                try:
                    umount2(rec.shm, MNT_DETACH)
                except OSError as e:
                    errors.append(f"unmount {rec.shm}: {e}")
                    break
        if errors:
            raise FailedPrecondition(f"pod sandbox {rec.id}: " + "; ".join(errors))

    async def _cni_del(self, rec: SandboxRecord) -> None:
        path = os.path.join(rec.dir, "cni-result.json")
        try:
            with open(path, "rb") as f:
                doc = json.load(f)
            net = NetworkList(**doc["network"])
            result: dict[str, Any] | None = doc["result"]
        except (OSError, ValueError, KeyError, TypeError):
            # ADD did not finish (or crashed before recording): DEL with the current config, no prevResult.
            try:
                net = self.cni.network()
            except InvalidArgument:
                return
            result = None
        netns = rec.namespaces.get("net", "")
        if netns and not nsholder.is_pinned(netns):
            netns = ""  # SPEC.md: DEL with an empty CNI_NETNS when the namespace is gone
        await self.cni.delete(network=net, result=result, container_id=rec.id, netns=netns,
                              args=self._cni_args(rec), ports=pod_ports(decode_config(rec)))
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)

    async def remove(self, sid: str) -> None:
        rec = self.find(sid)
        if rec is None:
            return
        async with self.lock(rec.id):
            if self.stop_containers is not None:
                await self.stop_containers(rec.id)
            if self.remove_containers is not None:
                await self.remove_containers(rec.id)
            await self._teardown(rec)
            if rec.own_cgroup:
                left = remove_cgroup(rec.cgroup_parent)
                if left:
                    raise FailedPrecondition(f"pod sandbox {rec.id}: cgroups still in use: {left}")
            self._forget(rec)

    def _forget(self, rec: SandboxRecord) -> None:
        shutil.rmtree(rec.dir, ignore_errors=True)
        self.store.delete(rec.id)
        self.sandboxes.pop(rec.id, None)
        self._locks.pop(rec.id, None)
        if self.names.owner(rec.name) == rec.id:
            self.names.release(rec.name)
