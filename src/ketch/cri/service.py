"""The CRI service without gRPC: configuration, managers, recovery at start and background tasks.

Servicers (servicers.py) translate protobuf to calls on this object's managers; tests drive the managers
directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable
from typing import Any, Protocol

from ketch.cri import cgstats
from ketch.cri.cni import CniManager
from ketch.cri.config import Config
from ketch.cri.containers import ContainerManager
from ketch.cri.errors import FailedPrecondition, Unavailable
from ketch.cri.events import EventBus
from ketch.cri.images import ImageManager, Puller
from ketch.cri.names import NameRegistry
from ketch.cri.sandboxes import SandboxManager
from ketch.cri.store import ContainerRecord, SandboxRecord

__all__ = ["RUNTIME_API_VERSION", "RUNTIME_NAME", "CriService", "StreamRegistry"]

log = logging.getLogger("ketchd")

RUNTIME_NAME = "ketch"
RUNTIME_API_VERSION = "v1"


class StreamRegistry(Protocol):
    def url_for(self, kind: str, request: Any) -> str: ...


class CriService:
    def __init__(self, config: Config, *, puller: Puller | None = None,
                 runtime_default_seccomp: Callable[[list[str]], dict[str, Any]] | None = None) -> None:
        self.config = config
        os.makedirs(config.root, mode=0o711, exist_ok=True)
        os.makedirs(config.state, mode=0o711, exist_ok=True)
        self.names = NameRegistry()
        self.events = EventBus()
        self.cni = CniManager(config.cni_conf_dir, config.cni_bin_dirs, subnet=config.cni_subnet,
                              bridge=config.cni_bridge, ipam_dir=os.path.join(config.root, "cni", "ipam"))
        self.images = ImageManager(config.image_root, config.snapshotter, puller)
        self.sandboxes = SandboxManager(config, self.cni, self.names)
        self.containers = ContainerManager(config, self.images, self.sandboxes, self.names, self.events,
                                           runtime_default_seccomp=runtime_default_seccomp)
        self.pod_cidr = ""
        self.stream_url = ""  # set by the streaming server when it listens
        self.streams: StreamRegistry | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.started_at = time.time_ns()

    async def start(self) -> None:
        self.cni.ensure_default()
        for msg in self.sandboxes.recover() + self.containers.recover():
            log.warning("state record skipped: %s", msg)
        self._tasks.append(asyncio.create_task(self.containers.watch_exits()))

    async def close(self) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        self._tasks.clear()

    # -- Version / Status / RuntimeConfig --------------------------------------------------------------------

    def version(self) -> dict[str, str]:
        return {"version": "0.1.0", "runtime_name": RUNTIME_NAME, "runtime_version": _ketch_version(),
                "runtime_api_version": RUNTIME_API_VERSION}

    def conditions(self) -> list[tuple[str, bool, str, str]]:
        rt_ok, rt_msg = True, ""
        for h in self.config.handlers.values():
            if h.name == self.config.default_handler and not _executable(h.path):
                rt_ok, rt_msg = False, f"default runtime {h.path} is not executable"
        if not _executable(self.config.conmon):
            rt_ok, rt_msg = False, f"conmon {self.config.conmon} is not executable"
        net_ok, net_msg = self.cni.ready()
        return [
            ("RuntimeReady", rt_ok, "" if rt_ok else "RuntimeNotReady", rt_msg),
            ("NetworkReady", net_ok, "" if net_ok else "NetworkPluginNotReady", net_msg),
        ]

    def status_info(self) -> dict[str, Any]:
        return {
            "config": {
                "root": self.config.root, "state": self.config.state,
                "handlers": {n: h.path for n, h in self.config.handlers.items()},
                "defaultHandler": self.config.default_handler, "cgroupDriver": "cgroupfs",
                "cgroupRoot": self.config.cgroup_root, "cniConfDir": self.config.cni_conf_dir,
                "cniBinDirs": self.config.cni_bin_dirs, "snapshotter": self.config.snapshotter,
                "restrictOomScoreAdj": self.config.restrict_oom_score_adj,
            },
            "podCIDR": self.pod_cidr,
            "streamURL": self.stream_url,
            "sandboxes": len(self.sandboxes.sandboxes),
            "containers": len(self.containers.containers),
        }

    def update_pod_cidr(self, cidr: str) -> None:
        if not cidr:
            return
        self.cni.update_pod_cidr(cidr)
        self.pod_cidr = cidr

    def stream_request(self, kind: str, request: Any) -> str:
        """A one-time URL of the streaming server for an Exec, Attach or PortForward request."""
        if kind in ("exec", "attach"):
            rec = self.containers.get(request.container_id)
            if rec.state != "running":
                raise FailedPrecondition(f"container {rec.id} is not running")
        else:
            sb = self.sandboxes.get(request.pod_sandbox_id)
            if sb.state != "ready" or not sb.namespaces.get("net"):
                raise FailedPrecondition(f"pod sandbox {sb.id} has no network namespace to forward into")
        if self.streams is None:
            raise Unavailable("ketchd's streaming server is not running")
        return self.streams.url_for(kind, request)

    # -- stats helpers ---------------------------------------------------------------------------------------

    def container_usage(self, rec: ContainerRecord) -> tuple[cgstats.CgroupUsage, tuple[int, int]]:
        return cgstats.read_usage(rec.cgroups_path), self.images.snapshot_usage(rec.snapshot)

    def sandbox_usage(self, rec: SandboxRecord) -> cgstats.CgroupUsage:
        return cgstats.read_usage(rec.cgroup_parent)


def _ketch_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("ketch")
    except metadata.PackageNotFoundError:
        return "unknown"


def _executable(path: str) -> bool:
    import shutil

    return shutil.which(path) is not None
