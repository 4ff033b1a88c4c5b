"""gRPC servicers of runtime.v1 RuntimeService and ImageService: protobuf in, a manager call, protobuf out.

Errors: each CriError subclass becomes its gRPC status (errors.py); anything else is INTERNAL with the
exception's text, logged with its traceback.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import grpc
from cri_api.v1 import api_pb2 as pb
from cri_api.v1 import api_pb2_grpc as pbg

from ketch.cri import errors as E
from ketch.cri.cgstats import CgroupUsage, interface_usage
from ketch.cri.containers import decode_container_config
from ketch.cri.images import ImageInfo, PullAuth
from ketch.cri.service import CriService
from ketch.cri.store import ContainerRecord, SandboxRecord

__all__ = ["ImageServicer", "RuntimeServicer", "register"]

log = logging.getLogger("ketchd")

_CODES: list[tuple[type[E.CriError], grpc.StatusCode]] = [
    (E.NotFound, grpc.StatusCode.NOT_FOUND),
    (E.InvalidArgument, grpc.StatusCode.INVALID_ARGUMENT),
    (E.AlreadyExists, grpc.StatusCode.ALREADY_EXISTS),
    (E.FailedPrecondition, grpc.StatusCode.FAILED_PRECONDITION),
    (E.PermissionDenied, grpc.StatusCode.PERMISSION_DENIED),
    (E.Unavailable, grpc.StatusCode.UNAVAILABLE),
    (E.DeadlineExceeded, grpc.StatusCode.DEADLINE_EXCEEDED),
    (E.ExternalError, grpc.StatusCode.INTERNAL),
]

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])


def status_code(err: E.CriError) -> grpc.StatusCode:
    for kind, code in _CODES:
        if isinstance(err, kind):
            return code
    return grpc.StatusCode.UNKNOWN


def rpc(fn: F) -> F:
    @functools.wraps(fn)
    async def wrapper(self: Any, request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        try:
            return await fn(self, request, context)
        except E.CriError as e:
            await context.abort(status_code(e), str(e))
        except OSError as e:
            log.exception("%s failed", fn.__name__)
            await context.abort(grpc.StatusCode.INTERNAL, f"{e.strerror or e}: {e.filename or ''}".strip(": "))
        except (grpc.aio.AbortError, asyncio.CancelledError):
            raise
        except Exception as e:
            log.exception("%s failed", fn.__name__)
            await context.abort(grpc.StatusCode.INTERNAL, f"{type(e).__name__}: {e}")

    return wrapper  # type: ignore[return-value]


# -- records -> protobuf ---------------------------------------------------------------------------------


def _e(value: int) -> Any:
    """An int as a protobuf enum value (the stubs type enums as NewTypes of int)."""
    return value


def _sb_metadata(rec: SandboxRecord) -> pb.PodSandboxMetadata:
    m = rec.metadata
    return pb.PodSandboxMetadata(name=m["name"], uid=m["uid"], namespace=m["namespace"], attempt=m["attempt"])


def _sb_state(rec: SandboxRecord) -> int:
    return pb.SANDBOX_READY if rec.state == "ready" else pb.SANDBOX_NOTREADY


def sandbox_status(rec: SandboxRecord) -> pb.PodSandboxStatus:
    ns = pb.NamespaceOption(network=_e(rec.ns_modes.get("network", 0)), pid=_e(rec.ns_modes.get("pid", 0)),
                            ipc=_e(rec.ns_modes.get("ipc", 0)))
    return pb.PodSandboxStatus(
        id=rec.id, metadata=_sb_metadata(rec), state=_e(_sb_state(rec)), created_at=rec.created_at,
        network=pb.PodSandboxNetworkStatus(ip=rec.ip, additional_ips=[pb.PodIP(ip=i) for i in rec.additional_ips]),
        linux=pb.LinuxPodSandboxStatus(namespaces=pb.Namespace(options=ns)),
        labels=rec.labels, annotations=rec.annotations, runtime_handler=rec.runtime_handler,
    )


def _ct_metadata(rec: ContainerRecord) -> pb.ContainerMetadata:
    return pb.ContainerMetadata(name=rec.metadata["name"], attempt=rec.metadata["attempt"])


def container_status(svc: CriService, rec: ContainerRecord) -> pb.ContainerStatus:
    cfg = decode_container_config(rec)
    r = rec.resources
    mem, cpu = r.get("memory", {}), r.get("cpu", {})
    res = pb.ContainerResources(linux=pb.LinuxContainerResources(
        memory_limit_in_bytes=mem.get("limit", 0), memory_swap_limit_in_bytes=mem.get("swap", 0),
        cpu_shares=cpu.get("shares", 0), cpu_quota=cpu.get("quota", 0), cpu_period=cpu.get("period", 0),
        cpuset_cpus=cpu.get("cpus", ""), cpuset_mems=cpu.get("mems", ""),
    ))
    user = pb.ContainerUser(linux=pb.LinuxContainerUser(
        uid=rec.user.get("uid", 0), gid=rec.user.get("gid", 0),
        supplemental_groups=rec.user.get("additionalGids", [])))
    return pb.ContainerStatus(
        id=rec.id, metadata=_ct_metadata(rec), state=_e(svc.containers.cri_state(rec)), created_at=rec.created_at,
        started_at=rec.started_at, finished_at=rec.finished_at, exit_code=rec.exit_code,
        image=pb.ImageSpec(image=rec.image), image_ref=rec.image_ref, image_id=rec.image_id,
        reason=rec.reason, message=rec.message, labels=rec.labels, annotations=rec.annotations,
        mounts=[pb.Mount(container_path=m["container_path"], host_path=m["host_path"], readonly=m["readonly"],
                         propagation=m["propagation"]) for m in rec.mounts],
        log_path=rec.log_path, resources=res, user=user, stop_signal=cfg.stop_signal,
    )


def _container(rec: ContainerRecord, state: int) -> pb.Container:
    return pb.Container(id=rec.id, pod_sandbox_id=rec.sandbox_id, metadata=_ct_metadata(rec),
                        image=pb.ImageSpec(image=rec.image), image_ref=rec.image_ref, image_id=rec.image_id,
                        state=_e(state), created_at=rec.created_at, labels=rec.labels, annotations=rec.annotations)


def _u64(v: int | None) -> pb.UInt64Value | None:
    return None if v is None else pb.UInt64Value(value=max(0, v))


def _cpu(u: CgroupUsage) -> pb.CpuUsage:
    return pb.CpuUsage(timestamp=u.timestamp, usage_core_nano_seconds=_u64(u.cpu_ns))


def _memory(u: CgroupUsage) -> pb.MemoryUsage:
    avail = None
    if u.memory_limit is not None and u.working_set is not None and u.memory_limit < 1 << 62:
        avail = u.memory_limit - u.working_set
    return pb.MemoryUsage(timestamp=u.timestamp, working_set_bytes=_u64(u.working_set),
                          usage_bytes=_u64(u.memory_usage), rss_bytes=_u64(u.rss), page_faults=_u64(u.page_faults),
                          major_page_faults=_u64(u.major_page_faults), available_bytes=_u64(avail))


def container_stats(svc: CriService, rec: ContainerRecord) -> pb.ContainerStats:
    u, (used, inodes) = svc.container_usage(rec)
    return pb.ContainerStats(
        attributes=pb.ContainerAttributes(id=rec.id, metadata=_ct_metadata(rec), labels=rec.labels,
                                          annotations=rec.annotations),
        cpu=_cpu(u), memory=_memory(u),
        writable_layer=pb.FilesystemUsage(timestamp=u.timestamp,
                                          fs_id=pb.FilesystemIdentifier(mountpoint=svc.images.root),
                                          used_bytes=pb.UInt64Value(value=used),
                                          inodes_used=pb.UInt64Value(value=inodes)),
    )


def _network(svc: CriService, rec: SandboxRecord, running: list[ContainerRecord], ts: int) -> pb.NetworkUsage | None:
    if not rec.namespaces.get("net") or not running:
        return None  # host network (the node's own counters) or nothing running to read them through
    ifaces = [pb.NetworkInterfaceUsage(name=i.name, rx_bytes=_u64(i.rx_bytes), rx_errors=_u64(i.rx_errors),
                                       tx_bytes=_u64(i.tx_bytes), tx_errors=_u64(i.tx_errors))
              for i in interface_usage(running[0].pid)]
    default = next((i for i in ifaces if i.name == "eth0"), ifaces[0] if ifaces else None)
    return pb.NetworkUsage(timestamp=ts, default_interface=default, interfaces=ifaces)


def sandbox_stats(svc: CriService, rec: SandboxRecord) -> pb.PodSandboxStats:
    u = svc.sandbox_usage(rec)
    running = [c for c in svc.containers.query(sandbox_id=rec.id) if c.state == "running"]
    cts = [container_stats(svc, c) for c in running]
    return pb.PodSandboxStats(
        attributes=pb.PodSandboxAttributes(id=rec.id, metadata=_sb_metadata(rec), labels=rec.labels,
                                           annotations=rec.annotations),
        linux=pb.LinuxPodSandboxStats(cpu=_cpu(u), memory=_memory(u), containers=cts,
                                      network=_network(svc, rec, running, u.timestamp),
                                      process=pb.ProcessUsage(timestamp=u.timestamp, process_count=_u64(u.pids))),
    )


def image_message(info: ImageInfo) -> pb.Image:
    img = pb.Image(id=info.id, repo_tags=info.repo_tags, repo_digests=info.repo_digests, size=info.size,
                   username=info.username, spec=pb.ImageSpec(image=info.id))
    if info.uid is not None:
        img.uid.value = info.uid
    return img


_METRICS = [
    ("container_cpu_usage_seconds_total", "Cumulative cpu time consumed by the container in core-seconds", 0),
    ("container_memory_usage_bytes", "Current memory usage in bytes, including all memory", 1),
    ("container_memory_working_set_bytes", "Current working set in bytes", 1),
]


# -- servicers ---------------------------------------------------------------------------------------------


class RuntimeServicer(pbg.RuntimeServiceServicer):
    def __init__(self, svc: CriService) -> None:
        self.svc = svc

    @rpc
    async def Version(self, request: pb.VersionRequest, context: Any) -> pb.VersionResponse:
        return pb.VersionResponse(**self.svc.version())

    @rpc
    async def Status(self, request: pb.StatusRequest, context: Any) -> pb.StatusResponse:
        conds = [pb.RuntimeCondition(type=t, status=s, reason=r, message=m) for t, s, r, m in self.svc.conditions()]
        info = {"config": json.dumps(self.svc.status_info())} if request.verbose else {}
        handlers = [pb.RuntimeHandler(name=n, features=pb.RuntimeHandlerFeatures())
                    for n in sorted(self.svc.config.handlers)]
        return pb.StatusResponse(status=pb.RuntimeStatus(conditions=conds), info=info, runtime_handlers=handlers,
                                 features=pb.RuntimeFeatures(supplemental_groups_policy=False))

    @rpc
    async def RuntimeConfig(self, request: pb.RuntimeConfigRequest, context: Any) -> pb.RuntimeConfigResponse:
        return pb.RuntimeConfigResponse(linux=pb.LinuxRuntimeConfiguration(cgroup_driver=pb.CGROUPFS))

    @rpc
    async def UpdateRuntimeConfig(self, request: pb.UpdateRuntimeConfigRequest, context: Any
                                  ) -> pb.UpdateRuntimeConfigResponse:
        self.svc.update_pod_cidr(request.runtime_config.network_config.pod_cidr)
        return pb.UpdateRuntimeConfigResponse()

    # pod sandboxes

    @rpc
    async def RunPodSandbox(self, request: pb.RunPodSandboxRequest, context: Any) -> pb.RunPodSandboxResponse:
        sid = await self.svc.sandboxes.run(request.config, request.runtime_handler)
        return pb.RunPodSandboxResponse(pod_sandbox_id=sid)

    @rpc
    async def StopPodSandbox(self, request: pb.StopPodSandboxRequest, context: Any) -> pb.StopPodSandboxResponse:
        await self.svc.sandboxes.stop(request.pod_sandbox_id)
        return pb.StopPodSandboxResponse()

    @rpc
    async def RemovePodSandbox(self, request: pb.RemovePodSandboxRequest, context: Any
                               ) -> pb.RemovePodSandboxResponse:
        await self.svc.sandboxes.remove(request.pod_sandbox_id)
        return pb.RemovePodSandboxResponse()

    @rpc
    async def PodSandboxStatus(self, request: pb.PodSandboxStatusRequest, context: Any
                               ) -> pb.PodSandboxStatusResponse:
        rec = self.svc.sandboxes.get(request.pod_sandbox_id)
        info = {"info": json.dumps({"namespaces": rec.namespaces, "cgroupParent": rec.cgroup_parent,
                                    "network": rec.network, "dir": rec.dir})} if request.verbose else {}
        cts = [container_status(self.svc, c) for c in self.svc.containers.query(sandbox_id=rec.id)]
        return pb.PodSandboxStatusResponse(status=sandbox_status(rec), info=info, containers_statuses=cts,
                                           timestamp=time.time_ns())

    @rpc
    async def ListPodSandbox(self, request: pb.ListPodSandboxRequest, context: Any) -> pb.ListPodSandboxResponse:
        f = request.filter
        recs = self.svc.sandboxes.query(id=f.id, state=f.state.state if f.HasField("state") else None,
                                       labels=dict(f.label_selector))
        return pb.ListPodSandboxResponse(items=[pb.PodSandbox(
            id=r.id, metadata=_sb_metadata(r), state=_e(_sb_state(r)), created_at=r.created_at, labels=r.labels,
            annotations=r.annotations, runtime_handler=r.runtime_handler) for r in recs])

    @rpc
    async def PodSandboxStats(self, request: pb.PodSandboxStatsRequest, context: Any) -> pb.PodSandboxStatsResponse:
        rec = self.svc.sandboxes.get(request.pod_sandbox_id)
        return pb.PodSandboxStatsResponse(stats=sandbox_stats(self.svc, rec))

    @rpc
    async def ListPodSandboxStats(self, request: pb.ListPodSandboxStatsRequest, context: Any
                                  ) -> pb.ListPodSandboxStatsResponse:
        f = request.filter
        recs = self.svc.sandboxes.query(id=f.id, labels=dict(f.label_selector), state=pb.SANDBOX_READY)
        return pb.ListPodSandboxStatsResponse(stats=[sandbox_stats(self.svc, r) for r in recs])

    @rpc
    async def UpdatePodSandboxResources(self, request: pb.UpdatePodSandboxResourcesRequest, context: Any
                                        ) -> pb.UpdatePodSandboxResourcesResponse:
        res = request.resources if request.HasField("resources") else request.overhead
        await self.svc.sandboxes.update_resources(request.pod_sandbox_id, res)
        return pb.UpdatePodSandboxResourcesResponse()

    # containers

    @rpc
    async def CreateContainer(self, request: pb.CreateContainerRequest, context: Any) -> pb.CreateContainerResponse:
        cid = await self.svc.containers.create(request.pod_sandbox_id, request.config)
        return pb.CreateContainerResponse(container_id=cid)

    @rpc
    async def StartContainer(self, request: pb.StartContainerRequest, context: Any) -> pb.StartContainerResponse:
        await self.svc.containers.start(request.container_id)
        return pb.StartContainerResponse()

    @rpc
    async def StopContainer(self, request: pb.StopContainerRequest, context: Any) -> pb.StopContainerResponse:
        await self.svc.containers.stop(request.container_id, int(request.timeout))
        return pb.StopContainerResponse()

    @rpc
    async def RemoveContainer(self, request: pb.RemoveContainerRequest, context: Any) -> pb.RemoveContainerResponse:
        await self.svc.containers.remove(request.container_id)
        return pb.RemoveContainerResponse()

    @rpc
    async def ListContainers(self, request: pb.ListContainersRequest, context: Any) -> pb.ListContainersResponse:
        f = request.filter
        recs = self.svc.containers.query(id=f.id, sandbox_id=f.pod_sandbox_id,
                                        state=f.state.state if f.HasField("state") else None,
                                        labels=dict(f.label_selector))
        return pb.ListContainersResponse(
            containers=[_container(r, self.svc.containers.cri_state(r)) for r in recs])

    @rpc
    async def ContainerStatus(self, request: pb.ContainerStatusRequest, context: Any) -> pb.ContainerStatusResponse:
        rec = self.svc.containers.get(request.container_id)
        info = {"info": json.dumps({"pid": rec.pid, "bundle": rec.bundle, "runtimeHandler": rec.runtime_handler,
                                    "cgroupsPath": rec.cgroups_path, "sandboxID": rec.sandbox_id,
                                    "runtimeSpec": self.svc.containers.runtime_spec(rec)})
                } if request.verbose else {}
        return pb.ContainerStatusResponse(status=container_status(self.svc, rec), info=info)

    @rpc
    async def UpdateContainerResources(self, request: pb.UpdateContainerResourcesRequest, context: Any
                                       ) -> pb.UpdateContainerResourcesResponse:
        await self.svc.containers.update_resources(request.container_id, request.linux)
        return pb.UpdateContainerResourcesResponse()

    @rpc
    async def ReopenContainerLog(self, request: pb.ReopenContainerLogRequest, context: Any
                                 ) -> pb.ReopenContainerLogResponse:
        self.svc.containers.reopen_log(request.container_id)
        return pb.ReopenContainerLogResponse()

    @rpc
    async def ExecSync(self, request: pb.ExecSyncRequest, context: Any) -> pb.ExecSyncResponse:
        res = await self.svc.containers.exec_sync(request.container_id, list(request.cmd), int(request.timeout))
        return pb.ExecSyncResponse(stdout=res.stdout, stderr=res.stderr, exit_code=res.exit_code)

    @rpc
    async def Exec(self, request: pb.ExecRequest, context: Any) -> pb.ExecResponse:
        return pb.ExecResponse(url=self.svc.stream_request("exec", request))

    @rpc
    async def Attach(self, request: pb.AttachRequest, context: Any) -> pb.AttachResponse:
        return pb.AttachResponse(url=self.svc.stream_request("attach", request))

    @rpc
    async def PortForward(self, request: pb.PortForwardRequest, context: Any) -> pb.PortForwardResponse:
        return pb.PortForwardResponse(url=self.svc.stream_request("portforward", request))

    @rpc
    async def ContainerStats(self, request: pb.ContainerStatsRequest, context: Any) -> pb.ContainerStatsResponse:
        rec = self.svc.containers.get(request.container_id)
        return pb.ContainerStatsResponse(stats=container_stats(self.svc, rec))

    @rpc
    async def ListContainerStats(self, request: pb.ListContainerStatsRequest, context: Any
                                 ) -> pb.ListContainerStatsResponse:
        f = request.filter
        recs = self.svc.containers.query(id=f.id, sandbox_id=f.pod_sandbox_id, labels=dict(f.label_selector),
                                        state=pb.CONTAINER_RUNNING)
        return pb.ListContainerStatsResponse(stats=[container_stats(self.svc, r) for r in recs])

    async def CheckpointContainer(self, request: pb.CheckpointContainerRequest, context: Any
                                  ) -> pb.CheckpointContainerResponse:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "CheckpointContainer is not supported by ketchd")
        raise AssertionError("unreachable")

    async def GetContainerEvents(self, request: pb.GetEventsRequest, context: Any
                                 ) -> AsyncIterator[pb.ContainerEventResponse]:
        q = self.svc.events.subscribe()
        try:
            while True:
                ev = await q.get()
                resp = pb.ContainerEventResponse(container_id=ev.container_id, container_event_type=_e(ev.kind),
                                                 created_at=ev.created_at)
                sb = self.svc.sandboxes.find(ev.sandbox_id)
                if sb is not None:
                    resp.pod_sandbox_status.CopyFrom(sandbox_status(sb))
                    resp.containers_statuses.extend(
                        container_status(self.svc, c) for c in self.svc.containers.query(sandbox_id=sb.id))
                yield resp
        finally:
            self.svc.events.unsubscribe(q)

    @rpc
    async def ListMetricDescriptors(self, request: pb.ListMetricDescriptorsRequest, context: Any
                                    ) -> pb.ListMetricDescriptorsResponse:
        return pb.ListMetricDescriptorsResponse(descriptors=[
            pb.MetricDescriptor(name=n, help=h, label_keys=["id", "name", "image"]) for n, h, _ in _METRICS])

    @rpc
    async def ListPodSandboxMetrics(self, request: pb.ListPodSandboxMetricsRequest, context: Any
                                    ) -> pb.ListPodSandboxMetricsResponse:
        out = []
        for sb in self.svc.sandboxes.query(state=pb.SANDBOX_READY):
            cms = []
            for c in self.svc.containers.query(sandbox_id=sb.id, state=pb.CONTAINER_RUNNING):
                u, _ = self.svc.container_usage(c)
                labels = [c.id, c.metadata["name"], c.image]
                vals = {"container_cpu_usage_seconds_total": (u.cpu_ns or 0) // 1_000_000_000,
                        "container_memory_usage_bytes": u.memory_usage or 0,
                        "container_memory_working_set_bytes": u.working_set or 0}
                cms.append(pb.ContainerMetrics(container_id=c.id, metrics=[
                    pb.Metric(name=n, timestamp=u.timestamp, metric_type=_e(t), label_values=labels,
                              value=pb.UInt64Value(value=vals[n])) for n, _h, t in _METRICS]))
            out.append(pb.PodSandboxMetrics(pod_sandbox_id=sb.id, container_metrics=cms))
        return pb.ListPodSandboxMetricsResponse(pod_metrics=out)


def _auth(a: pb.AuthConfig) -> PullAuth | None:
    if not (a.username or a.password or a.auth or a.identity_token or a.registry_token):
        return None
    return PullAuth(a.username, a.password, a.auth, a.server_address, a.identity_token, a.registry_token)


class ImageServicer(pbg.ImageServiceServicer):
    def __init__(self, svc: CriService) -> None:
        self.svc = svc

    @rpc
    async def ListImages(self, request: pb.ListImagesRequest, context: Any) -> pb.ListImagesResponse:
        want = request.filter.image.image
        infos = await asyncio.to_thread(self.svc.images.list)
        if want:
            hit = await asyncio.to_thread(self.svc.images.status, want)
            infos = [i for i in infos if hit is not None and i.id == hit.id]
        return pb.ListImagesResponse(images=[image_message(i) for i in infos])

    @rpc
    async def ImageStatus(self, request: pb.ImageStatusRequest, context: Any) -> pb.ImageStatusResponse:
        info = await asyncio.to_thread(self.svc.images.status, request.image.image)
        if info is None:
            return pb.ImageStatusResponse()  # api.proto: "image is nil" when the image is not present
        extra = {}
        if request.verbose:
            _i, img, rec = await asyncio.to_thread(self.svc.images.find, request.image.image)
            extra = {"info": json.dumps({"name": rec.name, "target": rec.target.to_json(),
                                         "config": img.config.to_json()})}
        return pb.ImageStatusResponse(image=image_message(info), info=extra)

    @rpc
    async def PullImage(self, request: pb.PullImageRequest, context: Any) -> pb.PullImageResponse:
        ref = await self.svc.images.pull(request.image.image, _auth(request.auth))
        return pb.PullImageResponse(image_ref=ref)

    @rpc
    async def RemoveImage(self, request: pb.RemoveImageRequest, context: Any) -> pb.RemoveImageResponse:
        await asyncio.to_thread(self.svc.images.remove, request.image.image)
        return pb.RemoveImageResponse()

    @rpc
    async def ImageFsInfo(self, request: pb.ImageFsInfoRequest, context: Any) -> pb.ImageFsInfoResponse:
        ts, used, inodes, mnt = await asyncio.to_thread(self.svc.images.fs_usage)
        fs = pb.FilesystemUsage(timestamp=ts, fs_id=pb.FilesystemIdentifier(mountpoint=mnt),
                                used_bytes=pb.UInt64Value(value=used), inodes_used=pb.UInt64Value(value=inodes))
        return pb.ImageFsInfoResponse(image_filesystems=[fs], container_filesystems=[fs])


def register(server: grpc.aio.Server, svc: CriService) -> None:
    pbg.add_RuntimeServiceServicer_to_server(RuntimeServicer(svc), server)  # type: ignore[no-untyped-call]
    pbg.add_ImageServiceServicer_to_server(ImageServicer(svc), server)  # type: ignore[no-untyped-call]
