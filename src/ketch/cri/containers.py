"""Containers: image -> snapshot -> bundle -> conmon + OCI runtime, their lifecycle, exits and stats.

Exits are learnt from conmon's exit files (polled; see oci.py), so a ketchd that was down while a
container ended still learns its exit code, time and OOM kill at start.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import secrets
import shutil
import signal
import stat
import time
from collections.abc import Callable
from typing import Any

from cri_api.v1 import api_pb2 as pb

from ketch._common.atomicio import write_atomic
from ketch._common.jsonio import dumps_pretty
from ketch.cri import specgen
from ketch.cri.cgstats import oom_killed
from ketch.cri.config import Config
from ketch.cri.errors import CriError, FailedPrecondition, InvalidArgument, NotFound
from ketch.cri.events import CREATED, DELETED, STARTED, STOPPED, Event, EventBus
from ketch.cri.images import ImageManager
from ketch.cri.labels import match_id, match_labels
from ketch.cri.names import NameRegistry, check_metadata_name
from ketch.cri.oci import ExecResult, OciRuntime
from ketch.cri.sandboxes import SandboxManager, decode_config
from ketch.cri.store import ContainerRecord, RecordStore, SandboxRecord
from ketch.image.convert import runtime_config
from ketch.image.errors import ImageError
from ketch.image.userdb import resolve_user
from ketch.linux.mount import MNT_DETACH, umount2

__all__ = ["ContainerManager", "decode_container_config", "parse_signal"]

# kubelet receives at most 16 MiB per message (its maxMsgSize): both streams together must fit, so each is
# cut at a little under half of it.
EXEC_OUTPUT_LIMIT = 8 * 1024 * 1024 - 64 * 1024
_STATE = {"created": pb.CONTAINER_CREATED, "running": pb.CONTAINER_RUNNING, "exited": pb.CONTAINER_EXITED}


def decode_container_config(rec: ContainerRecord) -> pb.ContainerConfig:
    cfg = pb.ContainerConfig()
    cfg.ParseFromString(base64.b64decode(rec.config))
    return cfg


def parse_signal(value: str) -> int:
    """``SIGTERM``, ``TERM``, ``15``, ``SIGRTMIN+3`` -> number (the image's StopSignal forms)."""
    v = value.strip().upper()
    if v.isdigit():
        return int(v)
    if not v.startswith("SIG"):
        v = "SIG" + v
    if v.startswith("SIGRTMIN+"):
        return int(signal.SIGRTMIN) + int(v[len("SIGRTMIN+"):])
    if v.startswith("SIGRTMAX-"):
        return int(signal.SIGRTMAX) - int(v[len("SIGRTMAX-"):])
    try:
        return int(signal.Signals[v])
    except KeyError:
        raise InvalidArgument(f"unknown stop signal {value!r}") from None


def _cri_signal_name(sig: int) -> str:
    if sig == pb.RUNTIME_DEFAULT:
        return ""
    name = pb.Signal.Name(sig)  # type: ignore[arg-type]
    return name.replace("SIGRTMINPLUS", "SIGRTMIN+").replace("SIGRTMAXMINUS", "SIGRTMAX-")


def _own_oom_score_adj() -> int:
    try:
        with open("/proc/self/oom_score_adj") as f:
            return int(f.read())
    except (OSError, ValueError):
        return 0


def _is_mountpoint(path: str) -> bool:
    try:
        return os.stat(path).st_dev != os.stat(os.path.dirname(path)).st_dev
    except OSError:
        return False


class ContainerManager:
    def __init__(self, config: Config, images: ImageManager, sandboxes: SandboxManager, names: NameRegistry,
                 events: EventBus, *,
                 runtime_default_seccomp: Callable[[list[str]], dict[str, Any]] | None = None) -> None:
        self.config = config
        self.images = images
        self.sandboxes = sandboxes
        self.names = names
        self.events = events
        self.runtime_default_seccomp = runtime_default_seccomp
        self.store: RecordStore[ContainerRecord] = RecordStore(
            os.path.join(config.state, "containers"), ContainerRecord, "container", durable=False)
        self.dir = os.path.join(config.state, "bundles")
        self.tmp = os.path.join(config.state, "tmp")
        self.exits = os.path.join(config.state, "exits")
        for d in (self.dir, self.tmp, self.exits):
            os.makedirs(d, exist_ok=True)
        self.containers: dict[str, ContainerRecord] = {}
        self._runtimes: dict[str, OciRuntime] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self.oom_floor = _own_oom_score_adj() if config.restrict_oom_score_adj else None
        sandboxes.stop_containers = self.stop_pod
        sandboxes.remove_containers = self.remove_pod

    def runtime(self, handler: str) -> OciRuntime:
        rt = self._runtimes.get(handler)
        if rt is None:
            h = self.config.handler(handler)
            rt = OciRuntime(h.name, h.path, self.config.runtime_root(h), conmon=self.config.conmon,
                            exits_dir=self.exits)
            self._runtimes[handler] = rt
        return rt

    def lock(self, cid: str) -> asyncio.Lock:
        return self._locks.setdefault(cid, asyncio.Lock())

    def recover(self) -> list[str]:
        recs, bad = self.store.load_all()
        for rec in recs:
            self.containers[rec.id] = rec
            self.names.reserve(rec.name, rec.id)
            if not self.poll_exit(rec) and rec.state == "running" and not self._monitor_alive(rec):
                # conmon died (killed, or the host rebooted) without writing an exit status: the container
                # cannot be running any more, and its exit code is unknown.
                rec.state, rec.exit_code, rec.finished_at = "exited", 255, time.time_ns()
                rec.reason, rec.message = "Error", "container monitor exited without recording a status"
                self.store.save(rec)
        return bad

    @staticmethod
    def _monitor_alive(rec: ContainerRecord) -> bool:
        try:
            with open(os.path.join(rec.bundle, "persist", "conmon.pid")) as f:
                pid = int(f.read().strip())
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                return os.path.basename(f.read().split(b"\0")[0]) == b"conmon"
        except (OSError, ValueError):
            return False

    # -- lookups ----------------------------------------------------------------------------------------

    def get(self, cid: str) -> ContainerRecord:
        if not cid:
            raise InvalidArgument("container id is empty")
        rec = self.containers.get(cid)
        if rec is None:
            hits = [k for k in self.containers if k.startswith(cid)]
            if len(hits) == 1:
                return self.containers[hits[0]]
            raise NotFound(f"container {cid!r} not found")
        self.poll_exit(rec)
        return rec

    def find(self, cid: str) -> ContainerRecord | None:
        try:
            return self.get(cid)
        except (NotFound, InvalidArgument):
            return None

    def query(self, *, id: str = "", sandbox_id: str = "", state: int | None = None,
             labels: dict[str, str] | None = None) -> list[ContainerRecord]:
        out = []
        for rec in self.containers.values():
            if not match_id(id, rec.id) or not match_id(sandbox_id, rec.sandbox_id):
                continue
            self.poll_exit(rec)
            if state is not None and _STATE[rec.state] != state:
                continue
            if labels and not match_labels(labels, rec.labels):
                continue
            out.append(rec)
        return sorted(out, key=lambda r: r.created_at)

    @staticmethod
    def runtime_spec(rec: ContainerRecord) -> dict[str, Any] | None:
        """The config.json the container runs with (``crictl inspect`` shows it), None if unreadable."""
        try:
            with open(os.path.join(rec.bundle, "config.json"), "rb") as f:
                spec = json.load(f)
        except (OSError, ValueError):
            return None
        return spec if isinstance(spec, dict) else None

    def cri_state(self, rec: ContainerRecord) -> int:
        return _STATE[rec.state]

    # -- exits ----------------------------------------------------------------------------------------

    def poll_exit(self, rec: ContainerRecord) -> bool:
        """Move a running container to exited if conmon has written its exit file; True when it did."""
        if rec.state != "running":
            return False
        st = self.runtime(rec.runtime_handler).exit_status(rec.id)
        if st is None:
            return False
        code, when = st
        rec.state = "exited"
        rec.exit_code = code
        rec.finished_at = when
        oom = os.path.exists(os.path.join(rec.bundle, "persist", "oom"))
        if not oom and rec.cgroups_path:
            with contextlib.suppress(ValueError):
                oom = oom_killed(rec.cgroups_path)
        rec.reason = "OOMKilled" if oom else ("Completed" if code == 0 else "Error")
        self.store.save(rec)
        self.events.publish(Event(rec.id, rec.sandbox_id, STOPPED, time.time_ns()))
        return True

    async def watch_exits(self, interval: float = 0.1) -> None:
        """Background task: notice exits of running containers (and publish STOPPED events)."""
        while True:
            for rec in list(self.containers.values()):
                if rec.state == "running":
                    self.poll_exit(rec)
            await asyncio.sleep(interval)

    # -- create -----------------------------------------------------------------------------------------

    async def create(self, sandbox_id: str, cfg: pb.ContainerConfig) -> str:
        sb = self.sandboxes.get(sandbox_id)
        if sb.state != "ready":
            raise FailedPrecondition(f"pod sandbox {sb.id} is not ready")
        check_metadata_name(cfg.metadata.name, "container metadata.name")
        if not cfg.image.image:
            raise InvalidArgument(f"container {cfg.metadata.name!r}: image is empty")
        try:
            info, img, _rec = self.images.find(cfg.image.image)
        except NotFound:
            raise NotFound(f"image {cfg.image.image!r} not found: pull it first") from None
        md = sb.metadata
        name = f"{cfg.metadata.name}_{md['name']}_{md['namespace']}_{md['uid']}_{cfg.metadata.attempt}"
        cid = secrets.token_hex(32)
        self.names.reserve(name, cid)
        bundle = os.path.join(self.dir, cid)
        log_path = ""
        if sb.log_directory and cfg.log_path:
            log_path = os.path.normpath(os.path.join(sb.log_directory, cfg.log_path))
            if not log_path.startswith(os.path.normpath(sb.log_directory) + "/"):
                self.names.release(name)
                raise InvalidArgument(f"log_path {cfg.log_path!r} escapes the pod's log directory")
        image_cfg = img.config.config
        stop = _cri_signal_name(cfg.stop_signal) or (image_cfg.stop_signal if image_cfg else None) or "SIGTERM"
        rec = ContainerRecord(
            id=cid, sandbox_id=sb.id, name=name,
            metadata={"name": cfg.metadata.name, "attempt": cfg.metadata.attempt},
            config=base64.b64encode(cfg.SerializeToString()).decode(),
            image=cfg.image.image, image_ref=(info.repo_digests or info.repo_tags or [info.id])[0],
            image_id=info.id, runtime_handler=sb.runtime_handler, bundle=bundle, snapshot=cid,
            log_path=log_path or os.path.join(bundle, "container.log"), created_at=time.time_ns(),
            labels=dict(cfg.labels), annotations=dict(cfg.annotations), stop_signal=stop,
            mounts=[{"container_path": m.container_path, "host_path": m.host_path, "readonly": m.readonly,
                     "propagation": m.propagation} for m in cfg.mounts],
            cgroups_path=f"{sb.cgroup_parent.rstrip('/')}/ketch-{cid[:16]}",
        )
        parse_signal(stop)
        try:
            async with self.lock(cid):
                self.containers[cid] = rec
                os.makedirs(bundle, mode=0o700)
                self.store.save(rec)
                spec = await asyncio.to_thread(self._bundle, rec, sb, cfg, img)
                rec.user = dict(spec["process"]["user"])
                rec.resources = spec["linux"].get("resources", {})
                if rec.log_path:
                    os.makedirs(os.path.dirname(rec.log_path), exist_ok=True)
                rt = self.runtime(rec.runtime_handler)
                rec.pid = await rt.create(cid, bundle, log_path=rec.log_path,
                                          persist_dir=os.path.join(bundle, "persist"), tty=cfg.tty,
                                          stdin=cfg.stdin)
                self.store.save(rec)
        except BaseException:
            with contextlib.suppress(Exception):
                await self._destroy(rec)
            raise
        self.events.publish(Event(cid, sb.id, CREATED, time.time_ns()))
        return cid

    def _bundle(self, rec: ContainerRecord, sb: SandboxRecord, cfg: pb.ContainerConfig, img: Any) -> dict[str, Any]:
        rootfs = os.path.join(rec.bundle, "rootfs")
        try:
            self.images.prepare_rootfs(rec.snapshot, img, rootfs)
        except ImageError as e:
            raise FailedPrecondition(f"container {cfg.metadata.name!r}: root filesystem: {e}") from None
        sc = cfg.linux.security_context
        try:
            # the final argv is specgen's (Kubernetes rules); passing the config's own words here only keeps
            # an image with neither Entrypoint nor Cmd from being refused when the config names a command
            given = [*cfg.command, *cfg.args] or None
            base = runtime_config(img.config, rootfs, terminal=cfg.tty, volumes="none", args=given)
            user = self._user(rootfs, sc, img)
        except ImageError as e:
            raise InvalidArgument(f"container {cfg.metadata.name!r}: {e}") from None
        target_ns = ""
        if sc.namespace_options.pid == pb.TARGET:
            target = self.find(sc.namespace_options.target_id)
            if target is None or target.sandbox_id != sb.id or target.state != "running" or not target.pid:
                raise InvalidArgument(f"target_id {sc.namespace_options.target_id!r} is not a running container "
                                      "of this pod")
            target_ns = f"/proc/{target.pid}/ns/pid"
        ic = img.config.config
        pod = specgen.PodContext(
            sandbox_id=sb.id, pod_name=sb.metadata["name"], pod_namespace=sb.metadata["namespace"],
            pod_uid=sb.metadata["uid"], namespaces=dict(sb.namespaces), ns_modes=dict(sb.ns_modes),
            cgroup_parent=sb.cgroup_parent, etc_files=self.sandboxes.etc_files(sb),
            # host IPC: the host's /dev/shm too (POSIX shared memory lives there), as containerd does
            shm=sb.shm or ("/dev/shm" if sb.ns_modes.get("ipc") == pb.NODE else ""),
            privileged=_pod_privileged(sb),
        )
        for m in cfg.mounts:
            if m.host_path.startswith("/") and not os.path.exists(m.host_path):
                os.makedirs(m.host_path, exist_ok=True)  # containerd's behaviour for a missing host dir
        spec = specgen.generate(
            base, cfg, pod, container_id=rec.id,
            image_entrypoint=list(ic.entrypoint or []) if ic else [],
            image_cmd=list(ic.cmd or []) if ic else [],
            user=user, devices=_devices(cfg), cgroups_path=rec.cgroups_path, oom_floor=self.oom_floor,
            target_pid_ns=target_ns, runtime_default_seccomp=self.runtime_default_seccomp,
            localhost_seccomp=_load_localhost_profile,
        )
        write_atomic(os.path.join(rec.bundle, "config.json"), dumps_pretty(spec), 0o600, durable=False)
        return spec

    @staticmethod
    def _user(rootfs: str, sc: pb.LinuxContainerSecurityContext, img: Any) -> specgen.ResolvedUser:
        if sc.HasField("run_as_user"):
            spec = str(sc.run_as_user.value)
        elif sc.run_as_username:
            spec = sc.run_as_username
        else:
            ic = img.config.config
            spec = (ic.user if ic else None) or ""
        if sc.HasField("run_as_group"):
            spec = (spec.partition(":")[0] or "0") + ":" + str(sc.run_as_group.value)
        u = resolve_user(rootfs, spec or None)
        return specgen.ResolvedUser(u.uid, u.gid, tuple(u.additional_gids or ()))

    # -- start / stop -------------------------------------------------------------------------------------

    async def start(self, cid: str) -> None:
        rec = self.get(cid)
        sb = self.sandboxes.find(rec.sandbox_id)
        if sb is None or sb.state != "ready":
            raise FailedPrecondition(f"container {rec.id}: its pod sandbox {rec.sandbox_id} is not ready")
        async with self.lock(rec.id):
            if rec.state != "created":
                raise FailedPrecondition(f"container {rec.id} is {rec.state}, not created")
            try:
                await self.runtime(rec.runtime_handler).start(rec.id)
            except CriError as e:
                rec.state, rec.reason, rec.message = "exited", "StartError", str(e)
                rec.exit_code, rec.finished_at = 128, time.time_ns()
                self.store.save(rec)
                raise
            rec.state = "running"
            rec.started_at = time.time_ns()
            self.store.save(rec)
        self.events.publish(Event(rec.id, rec.sandbox_id, STARTED, time.time_ns()))
        self.poll_exit(rec)

    async def stop(self, cid: str, timeout: int) -> None:
        rec = self.find(cid)
        if rec is None:
            return  # api.proto: StopContainer on a removed container must not fail
        async with self.lock(rec.id):
            await self._stop(rec, timeout)

    async def _stop(self, rec: ContainerRecord, timeout: int) -> None:
        rt = self.runtime(rec.runtime_handler)
        if rec.state == "exited":
            return
        if rec.state == "created":
            # Never started: kill the waiting init, and record it as exited without having run.
            await rt.kill(rec.id, signal.SIGKILL)
            rec.state, rec.exit_code, rec.finished_at, rec.reason = "exited", 137, time.time_ns(), "Error"
            self.store.save(rec)
            self.events.publish(Event(rec.id, rec.sandbox_id, STOPPED, time.time_ns()))
            return
        # In a shared PID namespace the container's init is not the namespace's init: its children would
        # survive it, so SIGKILL goes to every process of the container (runc kill --all).
        shared_pid = self._shares_pid_ns(rec)
        if timeout > 0:
            await rt.kill(rec.id, parse_signal(rec.stop_signal))
            if await self._wait_exit(rec, float(timeout)):
                return
        await rt.kill(rec.id, signal.SIGKILL, all_procs=shared_pid)
        if not await self._wait_exit(rec, 30.0):
            st = await rt.state(rec.id)
            if st is None or st.get("status") == "stopped":
                # conmon is gone (killed by someone) and wrote nothing: the process is dead all the same.
                rec.state, rec.exit_code, rec.finished_at = "exited", 137, time.time_ns()
                rec.reason, rec.message = "Error", "exit status not recorded (monitor gone)"
                self.store.save(rec)
                return
            raise FailedPrecondition(f"container {rec.id} did not exit after SIGKILL")

    def _shares_pid_ns(self, rec: ContainerRecord) -> bool:
        sb = self.sandboxes.find(rec.sandbox_id)
        return sb is not None and sb.ns_modes.get("pid") in (pb.POD, pb.NODE)

    async def _wait_exit(self, rec: ContainerRecord, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        delay = 0.005
        while True:
            if rec.state == "exited" or self.poll_exit(rec):
                return True
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.05)

    # -- remove ---------------------------------------------------------------------------------------------

    async def remove(self, cid: str) -> None:
        rec = self.find(cid)
        if rec is None:
            return
        async with self.lock(rec.id):
            if rec.state in ("running", "created"):
                await self._stop(rec, 0)
            await self._destroy(rec)
        self.events.publish(Event(rec.id, rec.sandbox_id, DELETED, time.time_ns()))

    async def _destroy(self, rec: ContainerRecord) -> None:
        rt = self.runtime(rec.runtime_handler)
        await rt.delete(rec.id)
        rootfs = os.path.join(rec.bundle, "rootfs")
        while _is_mountpoint(rootfs):
            try:
                umount2(rootfs, MNT_DETACH)
            except OSError as e:
                raise FailedPrecondition(f"container {rec.id}: cannot unmount {rootfs}: {e}") from None
        self.images.remove_snapshot(rec.snapshot)
        shutil.rmtree(rec.bundle, ignore_errors=True)
        rt.forget_exit(rec.id)
        self.store.delete(rec.id)
        self.containers.pop(rec.id, None)
        self._locks.pop(rec.id, None)
        if self.names.owner(rec.name) == rec.id:
            self.names.release(rec.name)

    async def stop_pod(self, sandbox_id: str) -> None:
        recs = [r for r in self.containers.values() if r.sandbox_id == sandbox_id]
        await asyncio.gather(*(self.stop(r.id, 0) for r in recs))

    async def remove_pod(self, sandbox_id: str) -> None:
        recs = [r for r in self.containers.values() if r.sandbox_id == sandbox_id]
        await asyncio.gather(*(self.remove(r.id) for r in recs))

    # -- the rest ----------------------------------------------------------------------------------------

    async def update_resources(self, cid: str, resources: pb.LinuxContainerResources) -> None:
        rec = self.get(cid)
        if rec.state == "exited":
            raise FailedPrecondition(f"container {rec.id} has exited")
        res, adj = specgen.linux_resources(resources, oom_floor=self.oom_floor)
        async with self.lock(rec.id):
            await self.runtime(rec.runtime_handler).update(rec.id, res, self.tmp)
            rec.resources = {**rec.resources, **res}
            self.store.save(rec)
        del adj  # oom_score_adj cannot be changed on a running process through the runtime

    def reopen_log(self, cid: str) -> None:
        rec = self.get(cid)
        if rec.state != "running":
            raise FailedPrecondition(f"container {rec.id} is not running")
        OciRuntime.reopen_log(rec.bundle)

    async def exec_sync(self, cid: str, cmd: list[str], timeout: int) -> ExecResult:
        rec = self.get(cid)
        if rec.state != "running":
            raise FailedPrecondition(f"container {rec.id} is not running")
        if not cmd:
            raise InvalidArgument("exec command is empty")
        with open(os.path.join(rec.bundle, "config.json"), "rb") as f:
            process = json.load(f)["process"]
        process["args"] = list(cmd)
        process["terminal"] = False
        process.pop("oomScoreAdj", None)
        return await self.runtime(rec.runtime_handler).exec_sync(
            rec.id, process, self.tmp, float(timeout) if timeout > 0 else None, EXEC_OUTPUT_LIMIT)


def _pod_privileged(sb: SandboxRecord) -> bool:
    return bool(decode_config(sb).linux.security_context.privileged)


def _devices(cfg: pb.ContainerConfig) -> list[dict[str, Any]]:
    out = []
    for i, d in enumerate(cfg.devices):
        if not d.host_path.startswith("/") or not d.container_path.startswith("/"):
            raise InvalidArgument(f"devices[{i}]: paths must be absolute")
        try:
            st = os.stat(d.host_path)
        except FileNotFoundError:
            raise InvalidArgument(f"devices[{i}]: host device {d.host_path} does not exist") from None
        if stat.S_ISCHR(st.st_mode):
            kind = "c"
        elif stat.S_ISBLK(st.st_mode):
            kind = "b"
        else:
            raise InvalidArgument(f"devices[{i}]: {d.host_path} is not a device")
        perms = d.permissions or "rwm"
        if not set(perms) <= set("rwm"):
            raise InvalidArgument(f"devices[{i}]: permissions {perms!r} must be letters of 'rwm'")
        out.append({"path": d.container_path, "type": kind, "major": os.major(st.st_rdev),
                    "minor": os.minor(st.st_rdev), "fileMode": stat.S_IMODE(st.st_mode), "uid": st.st_uid,
                    "gid": st.st_gid, "_access": perms})
    return out


def _load_localhost_profile(path: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            doc = json.load(f)
    except FileNotFoundError:
        raise InvalidArgument(f"seccomp profile {path} does not exist") from None
    except ValueError as e:
        raise InvalidArgument(f"seccomp profile {path}: {e}") from None
    if not isinstance(doc, dict) or "defaultAction" not in doc:
        raise InvalidArgument(f"seccomp profile {path} has no defaultAction")
    return doc
