"""A small synchronous CRI client (grpcio) for tests, benchmarks and scripts: the same calls work against
ketchd and any other CRI runtime (containerd, CRI-O)."""

from __future__ import annotations

import time
from typing import Any

import grpc
from cri_api.v1 import api_pb2 as pb
from cri_api.v1 import api_pb2_grpc as pbg

__all__ = ["CriClient", "pb"]


class CriClient:
    def __init__(self, address: str, timeout: float = 120.0) -> None:
        target = address if address.startswith("unix://") else "unix://" + address
        # kubelet's message limit (16 MiB), not grpcio's default 4 MiB: ExecSync output can be that large.
        self.channel = grpc.insecure_channel(target, options=[("grpc.max_receive_message_length", 16 << 20)])
        self.runtime = pbg.RuntimeServiceStub(self.channel)  # type: ignore[no-untyped-call]
        self.images = pbg.ImageServiceStub(self.channel)  # type: ignore[no-untyped-call]
        self.timeout = timeout

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> CriClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def call(self, name: str, request: Any, *, image: bool = False) -> Any:
        stub = self.images if image else self.runtime
        return getattr(stub, name)(request, timeout=self.timeout)

    def wait_ready(self, deadline: float = 30.0) -> None:
        end = time.monotonic() + deadline
        while True:
            try:
                self.runtime.Version(pb.VersionRequest(), timeout=2)
                return
            except grpc.RpcError:
                if time.monotonic() > end:
                    raise
                time.sleep(0.05)

    # -- pods and containers ---------------------------------------------------------------------------

    @staticmethod
    def pod_config(name: str, *, namespace: str = "default", uid: str = "", log_dir: str = "",
                   hostname: str = "", labels: dict[str, str] | None = None, pid: int = pb.CONTAINER,
                   **linux: Any) -> pb.PodSandboxConfig:
        cfg = pb.PodSandboxConfig(
            metadata=pb.PodSandboxMetadata(name=name, namespace=namespace, uid=uid or f"uid-{name}"),
            hostname=hostname or name, log_directory=log_dir, labels=labels or {},
        )
        cfg.linux.security_context.namespace_options.pid = pid  # type: ignore[assignment]
        for k, v in linux.items():
            setattr(cfg.linux, k, v)
        return cfg

    @staticmethod
    def container_config(name: str, image: str, command: list[str] | None = None, *, log_path: str = "",
                         args: list[str] | None = None, env: dict[str, str] | None = None,
                         labels: dict[str, str] | None = None, memory: int = 0, tty: bool = False,
                         stdin: bool = False) -> pb.ContainerConfig:
        cfg = pb.ContainerConfig(
            metadata=pb.ContainerMetadata(name=name), image=pb.ImageSpec(image=image), command=command or [],
            args=args or [], log_path=log_path or f"{name}.log", labels=labels or {}, tty=tty, stdin=stdin,
            envs=[pb.KeyValue(key=k, value=v) for k, v in (env or {}).items()],
        )
        if memory:
            cfg.linux.resources.memory_limit_in_bytes = memory
        cfg.linux.security_context.namespace_options.pid = pb.CONTAINER
        return cfg

    def run_pod(self, cfg: pb.PodSandboxConfig, handler: str = "") -> str:
        resp = self.call("RunPodSandbox", pb.RunPodSandboxRequest(config=cfg, runtime_handler=handler))
        return str(resp.pod_sandbox_id)

    def create(self, pod: str, cfg: pb.ContainerConfig, pod_cfg: pb.PodSandboxConfig) -> str:
        resp = self.call("CreateContainer", pb.CreateContainerRequest(pod_sandbox_id=pod, config=cfg,
                                                                      sandbox_config=pod_cfg))
        return str(resp.container_id)

    def start(self, cid: str) -> None:
        self.call("StartContainer", pb.StartContainerRequest(container_id=cid))

    def stop(self, cid: str, timeout: int = 0) -> None:
        self.call("StopContainer", pb.StopContainerRequest(container_id=cid, timeout=timeout))

    def remove(self, cid: str) -> None:
        self.call("RemoveContainer", pb.RemoveContainerRequest(container_id=cid))

    def stop_pod(self, pod: str) -> None:
        self.call("StopPodSandbox", pb.StopPodSandboxRequest(pod_sandbox_id=pod))

    def remove_pod(self, pod: str) -> None:
        self.call("RemovePodSandbox", pb.RemovePodSandboxRequest(pod_sandbox_id=pod))

    def status(self, cid: str, verbose: bool = False) -> Any:
        return self.call("ContainerStatus", pb.ContainerStatusRequest(container_id=cid, verbose=verbose)).status

    def pod_status(self, pod: str, verbose: bool = False) -> Any:
        return self.call("PodSandboxStatus", pb.PodSandboxStatusRequest(pod_sandbox_id=pod, verbose=verbose))

    def exec_sync(self, cid: str, cmd: list[str], timeout: int = 10) -> Any:
        return self.call("ExecSync", pb.ExecSyncRequest(container_id=cid, cmd=cmd, timeout=timeout))

    def wait_state(self, cid: str, state: int, deadline: float = 30.0) -> Any:
        end = time.monotonic() + deadline
        while True:
            st = self.status(cid)
            if st.state == state:
                return st
            if time.monotonic() > end:
                raise TimeoutError(f"container {cid} stayed {pb.ContainerState.Name(st.state)}")
            time.sleep(0.05)

    def pods(self) -> list[Any]:
        return list(self.call("ListPodSandbox", pb.ListPodSandboxRequest()).items)

    def containers(self) -> list[Any]:
        return list(self.call("ListContainers", pb.ListContainersRequest()).containers)
