"""The gRPC surface, in process on a unix socket: every RPC of runtime.v1 answers, errors carry the right
status codes, and the image service works on a real image store (none of this needs root)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from cri_api.v1 import api_pb2 as pb
from cri_api.v1 import api_pb2_grpc as pbg

from ketch.cri.config import Config, Handler
from ketch.cri.images import PullAuth
from ketch.cri.service import CriService
from ketch.cri.servicers import ImageServicer, RuntimeServicer, register
from ketch.image.build import image_from_dir
from ketch.image.store import ImageStore
from ketch.spec.image import ContainerConfig
from ketch.testing import make_rootfs

IMAGE = "localhost/unit/busybox:1"

# The RPCs of the released CRI (kubernetes/cri-api pkg/apis/runtime/v1/api.proto).
RUNTIME_RPCS = {
    "Version", "RunPodSandbox", "StopPodSandbox", "RemovePodSandbox", "PodSandboxStatus", "ListPodSandbox",
    "CreateContainer", "StartContainer", "StopContainer", "RemoveContainer", "ListContainers", "ContainerStatus",
    "UpdateContainerResources", "ReopenContainerLog", "ExecSync", "Exec", "Attach", "PortForward",
    "ContainerStats", "ListContainerStats", "PodSandboxStats", "ListPodSandboxStats", "UpdateRuntimeConfig",
    "Status", "CheckpointContainer", "GetContainerEvents", "ListMetricDescriptors", "ListPodSandboxMetrics",
    "RuntimeConfig", "UpdatePodSandboxResources",
}
IMAGE_RPCS = {"ListImages", "ImageStatus", "PullImage", "RemoveImage", "ImageFsInfo"}


def test_generated_stubs_are_runtime_v1_with_every_rpc() -> None:
    assert pb.DESCRIPTOR.package == "runtime.v1"
    services = pb.DESCRIPTOR.services_by_name
    assert {m.name for m in services["RuntimeService"].methods} == RUNTIME_RPCS
    assert {m.name for m in services["ImageService"].methods} == IMAGE_RPCS


def test_every_rpc_is_implemented_by_the_servicers() -> None:
    for cls, base, names in ((RuntimeServicer, pbg.RuntimeServiceServicer, RUNTIME_RPCS),
                             (ImageServicer, pbg.ImageServiceServicer, IMAGE_RPCS)):
        for n in names:
            assert getattr(cls, n) is not getattr(base, n), f"{cls.__name__}.{n} falls back to UNIMPLEMENTED"


class LayoutPuller:
    """Pulls by copying from a second local store: the puller interface without a network."""

    def __init__(self, source: ImageStore) -> None:
        self.source = source
        self.auths: list[PullAuth | None] = []

    def pull(self, store: ImageStore, reference: str, auth: PullAuth | None) -> str:
        from ketch.image.errors import ImageNotFound
        from ketch.image.layout import copy_image

        self.auths.append(auth)
        try:
            rec = self.source.get(reference)
        except ImageNotFound:
            from ketch.cri.errors import NotFound

            raise NotFound(f"{reference} not found in the registry") from None
        copy_image(self.source.content, store.content, rec.target)
        store.put(reference, rec.target)
        return reference


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    base = tmp_path_factory.mktemp("imgs")
    rootfs = make_rootfs(str(base / "rootfs"))
    local = str(base / "local")
    remote = str(base / "remote")
    image_from_dir(ImageStore(local), rootfs, IMAGE, config=ContainerConfig(cmd=["sh"], user="1000"))
    image_from_dir(ImageStore(remote), rootfs, "localhost/remote/app:2", config=ContainerConfig(cmd=["sh"]))
    yield local, remote


@pytest.fixture
def server(tmp_path: Path, images: tuple[str, str]) -> Iterator[tuple[str, CriService, LayoutPuller]]:
    import shutil

    local, remote = images
    image_root = str(tmp_path / "image")
    shutil.copytree(local, image_root)
    cfg = Config(root=str(tmp_path / "root"), state=str(tmp_path / "state"),
                 handlers={"runc": Handler("runc", "/bin/true")}, default_handler="runc",
                 conmon="/bin/true", image_root=image_root, cni_bin_dirs=[str(tmp_path / "nobin")])
    puller = LayoutPuller(ImageStore(remote))
    sock = str(tmp_path / "k.sock")
    ready: asyncio.Queue[CriService] = asyncio.Queue()
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    async def main() -> None:
        svc = CriService(cfg, puller=puller)
        await svc.start()
        srv = grpc.aio.server()
        register(srv, svc)
        srv.add_insecure_port("unix://" + sock)
        await srv.start()
        await ready.put(svc)
        await stop.wait()
        await srv.stop(0)
        await svc.close()

    import threading

    holder: list[CriService] = []

    def run() -> None:
        async def go() -> None:
            t = asyncio.create_task(main())
            holder.append(await ready.get())
            await t
        loop.run_until_complete(go())

    th = threading.Thread(target=run, daemon=True)
    th.start()
    while not holder:
        th.join(0.01)
    yield sock, holder[0], puller
    loop.call_soon_threadsafe(stop.set)
    th.join(10)


@pytest.fixture
def stubs(server: tuple[str, CriService, LayoutPuller]) -> Iterator[tuple[pbg.RuntimeServiceStub, pbg.ImageServiceStub]]:
    ch = grpc.insecure_channel("unix://" + server[0])
    yield pbg.RuntimeServiceStub(ch), pbg.ImageServiceStub(ch)
    ch.close()


def _code(fn, req) -> grpc.StatusCode:  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.RpcError) as e:
        fn(req, timeout=10)
    return e.value.code()  # type: ignore[no-any-return]


def test_version_status_and_runtime_config(stubs, server) -> None:  # type: ignore[no-untyped-def]
    rt, _ = stubs
    v = rt.Version(pb.VersionRequest(), timeout=10)
    assert (v.runtime_name, v.runtime_api_version) == ("ketch", "v1")
    st = rt.Status(pb.StatusRequest(verbose=True), timeout=10)
    conds = {c.type: c for c in st.status.conditions}
    assert conds["RuntimeReady"].status
    assert not conds["NetworkReady"].status and "not found" in conds["NetworkReady"].message  # no plugins here
    info = json.loads(st.info["config"])
    assert info["config"]["cgroupDriver"] == "cgroupfs" and info["config"]["handlers"] == {"runc": "/bin/true"}
    assert rt.RuntimeConfig(pb.RuntimeConfigRequest(), timeout=10).linux.cgroup_driver == pb.CGROUPFS
    rt.UpdateRuntimeConfig(pb.UpdateRuntimeConfigRequest(runtime_config=pb.RuntimeConfig(
        network_config=pb.NetworkConfig(pod_cidr="10.77.32.0/20"))), timeout=10)
    svc = server[1]
    assert svc.cni.network().plugins[0]["ipam"]["ranges"] == [[{"subnet": "10.77.32.0/20"}]]
    assert _code(rt.UpdateRuntimeConfig, pb.UpdateRuntimeConfigRequest(runtime_config=pb.RuntimeConfig(
        network_config=pb.NetworkConfig(pod_cidr="nope")))) == grpc.StatusCode.INVALID_ARGUMENT


def test_errors_map_to_status_codes(stubs) -> None:  # type: ignore[no-untyped-def]
    rt, _ = stubs
    missing = "f" * 64
    assert _code(rt.ContainerStatus, pb.ContainerStatusRequest(container_id=missing)) == grpc.StatusCode.NOT_FOUND
    assert _code(rt.PodSandboxStatus, pb.PodSandboxStatusRequest(pod_sandbox_id=missing)) == grpc.StatusCode.NOT_FOUND
    assert _code(rt.ContainerStatus, pb.ContainerStatusRequest()) == grpc.StatusCode.INVALID_ARGUMENT
    assert _code(rt.Exec, pb.ExecRequest(container_id=missing, cmd=["sh"])) == grpc.StatusCode.NOT_FOUND
    assert _code(rt.PortForward, pb.PortForwardRequest(pod_sandbox_id=missing)) == grpc.StatusCode.NOT_FOUND
    assert _code(rt.CreateContainer, pb.CreateContainerRequest(pod_sandbox_id=missing)) == grpc.StatusCode.NOT_FOUND
    assert _code(rt.CheckpointContainer, pb.CheckpointContainerRequest(container_id=missing)) == \
        grpc.StatusCode.UNIMPLEMENTED
    rt.StopContainer(pb.StopContainerRequest(container_id=missing), timeout=10)
    rt.RemoveContainer(pb.RemoveContainerRequest(container_id=missing), timeout=10)
    rt.StopPodSandbox(pb.StopPodSandboxRequest(pod_sandbox_id=missing), timeout=10)
    rt.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=missing), timeout=10)
    bad = pb.PodSandboxConfig(metadata=pb.PodSandboxMetadata(name="a/b", namespace="ns", uid="u"))
    assert _code(rt.RunPodSandbox, pb.RunPodSandboxRequest(config=bad)) == grpc.StatusCode.INVALID_ARGUMENT
    good = pb.PodSandboxConfig(metadata=pb.PodSandboxMetadata(name="a", namespace="ns", uid="u"))
    assert _code(rt.RunPodSandbox, pb.RunPodSandboxRequest(config=good, runtime_handler="nope")) == \
        grpc.StatusCode.INVALID_ARGUMENT
    assert rt.ListPodSandbox(pb.ListPodSandboxRequest(), timeout=10).items == []
    assert rt.ListContainers(pb.ListContainersRequest(), timeout=10).containers == []
    assert len(rt.ListMetricDescriptors(pb.ListMetricDescriptorsRequest(), timeout=10).descriptors) == 3
    assert rt.ListPodSandboxMetrics(pb.ListPodSandboxMetricsRequest(), timeout=10).pod_metrics == []
    assert rt.ListContainerStats(pb.ListContainerStatsRequest(), timeout=10).stats == []
    assert rt.ListPodSandboxStats(pb.ListPodSandboxStatsRequest(), timeout=10).stats == []


def test_image_service(stubs, server) -> None:  # type: ignore[no-untyped-def]
    _, im = stubs
    _sock, _svc, puller = server
    listed = im.ListImages(pb.ListImagesRequest(), timeout=10).images
    assert [i.repo_tags for i in listed] == [[IMAGE]]
    img = listed[0]
    assert img.id.startswith("sha256:") and img.uid.value == 1000 and img.size > 100_000
    assert img.repo_digests[0].startswith("localhost/unit/busybox@sha256:")
    for ref in (IMAGE, img.id, img.id.split(":")[1][:12], img.repo_digests[0]):
        got = im.ImageStatus(pb.ImageStatusRequest(image=pb.ImageSpec(image=ref)), timeout=10)
        assert got.image.id == img.id, ref
    verbose = im.ImageStatus(pb.ImageStatusRequest(image=pb.ImageSpec(image=IMAGE), verbose=True), timeout=10)
    assert json.loads(verbose.info["info"])["config"]["config"]["User"] == "1000"
    fs = im.ImageFsInfo(pb.ImageFsInfoRequest(), timeout=10).image_filesystems[0]
    assert fs.used_bytes.value > 100_000 and fs.inodes_used.value >= 3
    # Pull through the puller, with the request's credentials handed over.
    ref = im.PullImage(pb.PullImageRequest(image=pb.ImageSpec(image="localhost/remote/app:2"),
                                           auth=pb.AuthConfig(username="u", password="p")), timeout=10).image_ref
    assert ref.startswith("sha256:")
    assert puller.auths == [PullAuth(username="u", password="p")]
    assert _code(im.PullImage, pb.PullImageRequest(image=pb.ImageSpec(image="localhost/remote/absent:1"))) == \
        grpc.StatusCode.NOT_FOUND
    assert _code(im.PullImage, pb.PullImageRequest(image=pb.ImageSpec(image="Bad//Ref"))) == \
        grpc.StatusCode.INVALID_ARGUMENT
    assert len(im.ListImages(pb.ListImagesRequest(), timeout=10).images) == 2
    only = im.ListImages(pb.ListImagesRequest(filter=pb.ImageFilter(image=pb.ImageSpec(image=IMAGE))), timeout=10)
    assert [i.id for i in only.images] == [img.id]
    im.RemoveImage(pb.RemoveImageRequest(image=pb.ImageSpec(image=img.id)), timeout=10)
    im.RemoveImage(pb.RemoveImageRequest(image=pb.ImageSpec(image=img.id)), timeout=10)  # already gone: fine
    assert not im.ImageStatus(pb.ImageStatusRequest(image=pb.ImageSpec(image=IMAGE)), timeout=10).HasField("image")


